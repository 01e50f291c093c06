//! `storage`: where and how durably the records are kept.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use super::walk::{string, Fields, Problems};
use super::Secret;

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub path: PathBuf,
    /// The server secret keying every stored hash; generated into the data directory if absent.
    pub secret: Option<Secret>,
    /// sled's page cache, in bytes.
    pub cache_bytes: u64,
    /// `strict`: what an answer depends on (attempt tallies, send counts, enrolments) is on
    /// disk before the answer; `periodic`: within 200 ms.
    pub strict_durability: bool,
    /// The most bytes of an upstream login answer (the grant) a pending session holds: a
    /// bigger one is an upstream failure, so a login cannot make a session arbitrarily large.
    pub max_grant_bytes: usize,
    /// The most entries the attempts log keeps: the oldest go first (see [`crate::store`]).
    pub attempts_log_max_entries: usize,
}

/// `storage.max_grant_bytes` when not set: a Pryv login answer is a few hundred bytes.
pub const DEFAULT_MAX_GRANT_BYTES: usize = 16 * 1024;
/// `storage.attempts_log_max_entries` when not set (records of a few hundred bytes each).
pub const DEFAULT_ATTEMPTS_LOG_MAX_ENTRIES: usize = 100_000;

pub(super) fn parse_storage(v: &Value, base_dir: &Path, p: &mut Problems) -> Option<StorageConfig> {
    let mut f = Fields::of(p, "storage", v)?;
    if let Some(v) = f.get("backend") {
        let path = f.path_of("backend");
        if let Some(s) = string(p, &path, v) {
            if s != "sled" {
                p.push(&path, format!("unknown backend '{s}' (expected: sled)"));
            }
        }
    }
    let path = f
        .require(p, "path")
        .and_then(|v| string(p, "storage.path", v))
        .map(|s| {
            let path = PathBuf::from(s);
            if path.is_absolute() {
                path
            } else {
                base_dir.join(path)
            }
        });
    let secret = f.get("secret").and_then(|v| {
        let s = string(p, "storage.secret", v)?;
        if s.len() < 32 {
            p.push(
                "storage.secret",
                "too short: use at least 32 characters of random text",
            );
            return None;
        }
        Some(Secret::new(s))
    });
    let cache_bytes = f.integer(p, "cache_mb", 1..=65_536).unwrap_or(2) * 1024 * 1024;
    let strict_durability = match f.get("durability") {
        None => true,
        Some(v) => match string(p, "storage.durability", v).as_deref() {
            Some("strict") => true,
            Some("periodic") => false,
            Some(other) => {
                p.push(
                    "storage.durability",
                    format!("unknown durability '{other}' (expected: strict or periodic)"),
                );
                true
            }
            None => true,
        },
    };
    let max_grant_bytes = f
        .integer(p, "max_grant_bytes", 256..=1024 * 1024)
        .map_or(DEFAULT_MAX_GRANT_BYTES, |n| n as usize);
    let attempts_log_max_entries = f
        .integer(p, "attempts_log_max_entries", 10..=100_000_000)
        .map_or(DEFAULT_ATTEMPTS_LOG_MAX_ENTRIES, |n| n as usize);
    f.finish(p);
    Some(StorageConfig {
        cache_bytes,
        strict_durability,
        max_grant_bytes,
        attempts_log_max_entries,
        path: path?,
        secret,
    })
}

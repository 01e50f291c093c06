//! `storage`: where and how durably the records are kept: in sled (one process, the data
//! directory) or in PostgreSQL (several instances on one database).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde_yaml::Value;

use super::walk::{string, Fields, Problems};
use super::Secret;
use crate::store::SecretSetting;

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The engine the records are kept in.
    pub backend: Backend,
    /// The data directory: sled's database and the server secret it generates with sled; the
    /// local files (the development outbox) with either engine.
    pub path: PathBuf,
    /// The server secret keying every stored hash and sealing every stored personal value:
    /// `storage.secret` (text) or `storage.secret_file` (the key itself); when neither is set
    /// (sled only), generated into the data directory.
    pub secret: Option<SecretSetting>,
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

/// Where the records are kept (`storage.backend`).
#[derive(Debug, Clone)]
pub enum Backend {
    /// sled, embedded, in `storage.path`: one process at a time.
    Sled,
    /// A PostgreSQL database shared by every instance.
    Postgres(PostgresConfig),
}

impl Backend {
    /// Its name as configured (`sled`, `postgres`), as `/api/status` shows it.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sled => "sled",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// `storage.*` with `backend: postgres`.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `storage.url`: `postgres://user:password@host:port/database?sslmode=...`; a secret (it
    /// may hold the password). TLS is what its `sslmode` and `sslrootcert` say.
    pub url: Secret,
    /// The most connections this instance holds open.
    pub pool_size: u32,
    /// How long a connection (new, or from the pool) may take before the store is unavailable.
    pub connect_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every connection: a statement that waits longer
    /// (on a lock, on a slow server) is cancelled.
    pub statement_timeout: Duration,
}

/// `storage.pool_size` when not set.
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// `storage.connect_timeout_ms` when not set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// `storage.statement_timeout_ms` when not set.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);

/// `storage.max_grant_bytes` when not set: a Pryv login answer is a few hundred bytes.
pub const DEFAULT_MAX_GRANT_BYTES: usize = 16 * 1024;
/// `storage.attempts_log_max_entries` when not set (records of a few hundred bytes each).
pub const DEFAULT_ATTEMPTS_LOG_MAX_ENTRIES: usize = 100_000;

pub(super) fn parse_storage(v: &Value, base_dir: &Path, p: &mut Problems) -> Option<StorageConfig> {
    let mut f = Fields::of(p, "storage", v)?;
    let postgres = match f.get("backend") {
        None => false,
        Some(v) => match string(p, "storage.backend", v).as_deref() {
            Some("sled") | None => false,
            Some("postgres") => true,
            Some(other) => {
                p.push(
                    "storage.backend",
                    format!("unknown backend '{other}' (expected: sled or postgres)"),
                );
                false
            }
        },
    };
    // With PostgreSQL the data directory only holds local files: `./data` beside the
    // configuration unless said otherwise.
    let path = match f.get("path") {
        None if postgres => Some(PathBuf::from("data")),
        None => {
            p.push("storage.path", "missing");
            None
        }
        Some(v) => string(p, "storage.path", v).map(PathBuf::from),
    }
    .map(|path| {
        if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        }
    });
    let text = f.get("secret").and_then(|v| {
        let s = string(p, "storage.secret", v)?;
        if s.len() < 32 {
            p.push(
                "storage.secret",
                "too short: use at least 32 characters of random text",
            );
            return None;
        }
        Some(SecretSetting::Text(Secret::new(s)))
    });
    let key_file = f.get("secret_file").and_then(|v| {
        let s = string(p, "storage.secret_file", v)?;
        let path = PathBuf::from(s);
        Some(SecretSetting::KeyFile(if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        }))
    });
    let secret = match (text, key_file) {
        (Some(_), Some(_)) => {
            p.push(
                "storage.secret_file",
                "give storage.secret or storage.secret_file, not both",
            );
            None
        }
        (text, key_file) => text.or(key_file),
    };
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
    let backend = if postgres {
        if secret.is_none() && f.get("secret").is_none() && f.get("secret_file").is_none() {
            p.push(
                "storage.secret",
                "required with backend: postgres (every instance must use the same one; \
                 at least 32 characters of random text, e.g. ${MFA_BRIDGE_SECRET}; or \
                 storage.secret_file, the key file of a sled data directory moved here)",
            );
        }
        parse_postgres(&mut f, p).map(Backend::Postgres)
    } else {
        for key in [
            "url",
            "pool_size",
            "connect_timeout_ms",
            "statement_timeout_ms",
        ] {
            if f.get(key).is_some() {
                p.push(
                    &f.path_of(key),
                    "only with backend: postgres (the backend is sled)",
                );
            }
        }
        Some(Backend::Sled)
    };
    f.finish(p);
    Some(StorageConfig {
        backend: backend?,
        cache_bytes,
        strict_durability,
        max_grant_bytes,
        attempts_log_max_entries,
        path: path?,
        secret,
    })
}

/// The PostgreSQL settings of `storage`: the URL is parsed as the driver will read it, so a
/// bad one is told now, not at the first connection.
fn parse_postgres(f: &mut Fields<'_>, p: &mut Problems) -> Option<PostgresConfig> {
    let url = f
        .require(p, "url")
        .and_then(|v| string(p, "storage.url", v));
    let url = url.and_then(|url| {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            p.push(
                "storage.url",
                "must be a postgres:// URL (postgres://user:password@host:5432/database)",
            );
            return None;
        }
        match sqlx::postgres::PgConnectOptions::from_str(&url) {
            Ok(_) => Some(Secret::new(url)),
            Err(e) => {
                // The driver's message may quote the URL, password included: not repeated.
                let what = match e {
                    sqlx::Error::Configuration(_) => "not a valid PostgreSQL URL",
                    _ => "cannot be read",
                };
                p.push(
                    "storage.url",
                    format!("{what} (sslmode: disable, prefer, require, verify-ca or verify-full)"),
                );
                None
            }
        }
    });
    let pool_size = f
        .integer(p, "pool_size", 1..=1000)
        .map_or(DEFAULT_POOL_SIZE, |n| n as u32);
    let connect_timeout = f
        .integer(p, "connect_timeout_ms", 100..=600_000)
        .map_or(DEFAULT_CONNECT_TIMEOUT, Duration::from_millis);
    let statement_timeout = f
        .integer(p, "statement_timeout_ms", 100..=3_600_000)
        .map_or(DEFAULT_STATEMENT_TIMEOUT, Duration::from_millis);
    Some(PostgresConfig {
        url: url?,
        pool_size,
        connect_timeout,
        statement_timeout,
    })
}

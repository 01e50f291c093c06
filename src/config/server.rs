//! `server` (the public listener and the username pattern) and `admin` (the admin listener).

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde_yaml::Value;

use super::walk::{integer, string, Fields, Problems};

pub const DEFAULT_USERNAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub username_pattern: Regex,
    /// How long a peer has to send a whole request head (and how long a kept-alive connection
    /// may stay idle): a peer that stalls, or sends its head byte by byte, is disconnected.
    pub header_timeout: Duration,
    /// The most connections a listener serves at once (public and admin alike); more wait in
    /// the listen backlog until one closes.
    pub max_connections: usize,
}

/// `server.header_timeout_ms` when not set.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// `server.max_connections` when not set.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// `admin.max_template_bytes` when not set.
pub const DEFAULT_MAX_TEMPLATE_BYTES: usize = 256 * 1024;
/// `admin.config_backups` when not set.
pub const DEFAULT_CONFIG_BACKUPS: usize = 10;

#[derive(Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token_sha256: [u8; 32],
    /// How long the attempts log keeps an entry.
    pub attempts_log_days: u64,
    /// The largest template file the admin API reads or writes.
    pub max_template_bytes: usize,
    /// How many previous versions of platform.yml a write through the admin API keeps beside
    /// it (0: none).
    pub config_backups: usize,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("attempts_log_days", &self.attempts_log_days)
            .field("max_template_bytes", &self.max_template_bytes)
            .field("config_backups", &self.config_backups)
            .finish_non_exhaustive()
    }
}

pub(super) fn parse_server(value: Option<&Value>, p: &mut Problems) -> Option<ServerConfig> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 7000));
    let mut pattern = DEFAULT_USERNAME_PATTERN.to_string();
    let mut header_timeout = DEFAULT_HEADER_TIMEOUT;
    let mut max_connections = DEFAULT_MAX_CONNECTIONS;
    if let Some(v) = value {
        let mut f = Fields::of(p, "server", v)?;
        if let Some(v) = f.get("listen") {
            let path = f.path_of("listen");
            if let Some(s) = string(p, &path, v) {
                match s.parse() {
                    Ok(a) => listen = a,
                    Err(_) => p.push(
                        &path,
                        format!("'{s}' is not an address such as 127.0.0.1:7000"),
                    ),
                }
            }
        }
        if let Some(v) = f.get("username_pattern") {
            if let Some(s) = string(p, &f.path_of("username_pattern"), v) {
                pattern = s;
            }
        }
        if let Some(n) = f.integer(p, "header_timeout_ms", 100..=600_000) {
            header_timeout = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "max_connections", 1..=1_000_000) {
            max_connections = n as usize;
        }
        f.finish(p);
    }
    match username_regex(&anchor(&pattern)) {
        Ok(username_pattern) => Some(ServerConfig {
            listen,
            username_pattern,
            header_timeout,
            max_connections,
        }),
        Err(e) => {
            p.push(
                "server.username_pattern",
                format!("not a valid regular expression: {e}"),
            );
            None
        }
    }
}

/// A username pattern always matches the whole name, whether or not it was written anchored.
/// The username pattern, compiled. The default is compiled once per process: its `{0,99}`
/// made compiling it a fifth of a configuration load (start, reload, admin check).
fn username_regex(anchored: &str) -> Result<Regex, regex::Error> {
    static DEFAULT: OnceLock<Option<(String, Regex)>> = OnceLock::new();
    let default = DEFAULT.get_or_init(|| {
        let anchored = anchor(DEFAULT_USERNAME_PATTERN);
        Regex::new(&anchored).ok().map(|re| (anchored, re))
    });
    match default {
        Some((pattern, re)) if pattern == anchored => Ok(re.clone()),
        _ => Regex::new(anchored),
    }
}

pub(super) fn anchor(pattern: &str) -> String {
    let inner = pattern.strip_prefix('^').unwrap_or(pattern);
    let inner = inner.strip_suffix('$').unwrap_or(inner);
    format!("^(?:{inner})$")
}

pub(super) fn parse_admin(v: &Value, p: &mut Problems) -> Option<AdminConfig> {
    let mut f = Fields::of(p, "admin", v)?;
    let listen = match f.get("listen") {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 7001))),
        Some(v) => string(p, "admin.listen", v).and_then(|s| match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                p.push(
                    "admin.listen",
                    format!("'{s}' is not an address such as 127.0.0.1:7001"),
                );
                None
            }
        }),
    };
    let token = f
        .require(p, "token_sha256")
        .and_then(|v| string(p, "admin.token_sha256", v))
        .and_then(|s| {
            let mut out = [0u8; 32];
            match hex::decode_to_slice(s.trim(), &mut out) {
                Ok(()) => Some(out),
                Err(_) => {
                    p.push(
                        "admin.token_sha256",
                        "must be 64 hexadecimal characters (printf %s TOKEN | sha256sum)",
                    );
                    None
                }
            }
        });
    let days = match f.get("attempts_log_days") {
        None => Some(7),
        Some(v) => integer(p, "admin.attempts_log_days", v, 1..=365),
    };
    let max_template_bytes = f
        .integer(p, "max_template_bytes", 1024..=16 * 1024 * 1024)
        .map_or(DEFAULT_MAX_TEMPLATE_BYTES, |n| n as usize);
    let config_backups = f
        .integer(p, "config_backups", 0..=1000)
        .map_or(DEFAULT_CONFIG_BACKUPS, |n| n as usize);
    f.finish(p);
    Some(AdminConfig {
        listen: listen?,
        token_sha256: token?,
        attempts_log_days: days?,
        max_template_bytes,
        config_backups,
    })
}

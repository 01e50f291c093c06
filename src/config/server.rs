//! `server` (the public listener and the username pattern) and `admin` (the admin listener).

use std::fmt;
use std::net::SocketAddr;

use regex::Regex;
use serde_yaml::Value;

use super::walk::{integer, string, Fields, Problems};

pub const DEFAULT_USERNAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$";

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub username_pattern: Regex,
}

#[derive(Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token_sha256: [u8; 32],
    /// How long the attempts log keeps an entry.
    pub attempts_log_days: u64,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("attempts_log_days", &self.attempts_log_days)
            .finish_non_exhaustive()
    }
}

pub(super) fn parse_server(value: Option<&Value>, p: &mut Problems) -> Option<ServerConfig> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 7000));
    let mut pattern = DEFAULT_USERNAME_PATTERN.to_string();
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
        f.finish(p);
    }
    let anchored = anchor(&pattern);
    match Regex::new(&anchored) {
        Ok(username_pattern) => Some(ServerConfig {
            listen,
            username_pattern,
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
    f.finish(p);
    Some(AdminConfig {
        listen: listen?,
        token_sha256: token?,
        attempts_log_days: days?,
    })
}

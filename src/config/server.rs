//! `server` (the public listener and the username pattern) and `admin` (the admin listener).

use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde_yaml::Value;

use super::walk::{integer, kind, string, Fields, Problems};

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
    /// `server.public_url`: the https address the public listener is reached at from outside
    /// (no trailing `/`), for the urls providers call back (`{{ status_callback }}`); `None`
    /// when unset.
    pub public_url: Option<String>,
}

impl ServerConfig {
    /// The url a provider is told to post its delivery receipts to
    /// (`{public_url}/receipts/{provider}`), empty when `server.public_url` is unset.
    pub fn status_callback(&self, provider: &str) -> String {
        match &self.public_url {
            Some(base) => format!("{base}/receipts/{provider}"),
            None => String::new(),
        }
    }
}

/// `server.public_url`: an absolute https URL without query or fragment, answered without a
/// trailing `/`.
fn parse_public_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text.trim())
        .map_err(|e| format!("'{text}' is not a URL ({e}): give e.g. https://mfa.example.org"))?;
    if url.scheme() != "https" {
        return Err(format!(
            "must be an https URL (providers post receipts to it), not {}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("needs a host, e.g. https://mfa.example.org".into());
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err("must not hold a query, a fragment or credentials".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
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
    /// The admin tokens, each with the name the attempts log records for its actions; at
    /// least one. `admin.token_sha256` is the token named `admin`.
    pub tokens: Vec<AdminToken>,
    /// How long the attempts log keeps an entry.
    pub attempts_log_days: u64,
    /// The largest template file the admin API reads or writes.
    pub max_template_bytes: usize,
    /// How many previous versions of platform.yml a write through the admin API keeps beside
    /// it (0: none).
    pub config_backups: usize,
}

/// One admin token: its name and the SHA-256 of the token. Its `Debug` shows the name only.
#[derive(Clone)]
pub struct AdminToken {
    pub name: String,
    pub token_sha256: [u8; 32],
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminToken({})", self.name)
    }
}

/// The name `admin.token_sha256` stands for.
pub const DEFAULT_ADMIN_TOKEN_NAME: &str = "admin";

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("tokens", &self.tokens)
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
    let mut public_url = None;
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
        if let Some(v) = f.get("public_url") {
            let path = f.path_of("public_url");
            if let Some(s) = string(p, &path, v) {
                match parse_public_url(&s) {
                    Ok(u) => public_url = Some(u),
                    Err(message) => p.push(&path, message),
                }
            }
        }
        f.finish(p);
    }
    match username_regex(&anchor(&pattern)) {
        Ok(username_pattern) => Some(ServerConfig {
            listen,
            username_pattern,
            header_timeout,
            max_connections,
            public_url,
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
    let tokens = parse_admin_tokens(&mut f, p);
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
        tokens: tokens?,
        attempts_log_days: days?,
        max_template_bytes,
        config_backups,
    })
}

/// `admin.token_sha256` (the token named `admin`) and `admin.tokens` (`[{name, token_sha256}]`):
/// at least one token, names unique. `None` (with problems recorded) when they are not usable.
fn parse_admin_tokens(f: &mut Fields<'_>, p: &mut Problems) -> Option<Vec<AdminToken>> {
    let mut tokens = Vec::new();
    let mut broken = false;
    if let Some(v) = f.get("token_sha256") {
        match token_hash(p, "admin.token_sha256", v) {
            Some(token_sha256) => tokens.push(AdminToken {
                name: DEFAULT_ADMIN_TOKEN_NAME.to_string(),
                token_sha256,
            }),
            None => broken = true,
        }
    }
    if let Some(v) = f.get("tokens") {
        let Value::Sequence(items) = v else {
            p.push("admin.tokens", format!("must be a list, found {}", kind(v)));
            return None;
        };
        for (i, item) in items.iter().enumerate() {
            let path = format!("admin.tokens[{i}]");
            let Some(mut t) = Fields::of(p, &path, item) else {
                broken = true;
                continue;
            };
            let name = t
                .require(p, "name")
                .and_then(|v| string(p, &format!("{path}.name"), v))
                .and_then(|name| admin_token_name(p, &format!("{path}.name"), name));
            let hash = t
                .require(p, "token_sha256")
                .and_then(|v| token_hash(p, &format!("{path}.token_sha256"), v));
            t.finish(p);
            let (Some(name), Some(token_sha256)) = (name, hash) else {
                broken = true;
                continue;
            };
            if tokens.iter().any(|t| t.name == name) {
                p.push(
                    &format!("{path}.name"),
                    format!(
                        "duplicate admin token name '{name}' (admin.token_sha256 is the token named '{DEFAULT_ADMIN_TOKEN_NAME}')"
                    ),
                );
                broken = true;
                continue;
            }
            tokens.push(AdminToken { name, token_sha256 });
        }
    }
    if tokens.is_empty() && !broken {
        p.push(
            "admin.token_sha256",
            "missing: give admin.token_sha256 or admin.tokens (a list of {name, token_sha256})",
        );
    }
    (!broken && !tokens.is_empty()).then_some(tokens)
}

/// An admin token's name: what the attempts log records, 1 to 64 printable characters.
fn admin_token_name(p: &mut Problems, path: &str, name: String) -> Option<String> {
    let fine = !name.trim().is_empty()
        && name.chars().count() <= 64
        && !name.chars().any(char::is_control);
    if fine {
        Some(name)
    } else {
        p.push(path, "must be 1 to 64 printable characters");
        None
    }
}

fn token_hash(p: &mut Problems, path: &str, v: &Value) -> Option<[u8; 32]> {
    let s = string(p, path, v)?;
    let mut out = [0u8; 32];
    match hex::decode_to_slice(s.trim(), &mut out) {
        Ok(()) => Some(out),
        Err(_) => {
            p.push(
                path,
                "must be 64 hexadecimal characters (printf %s TOKEN | sha256sum)",
            );
            None
        }
    }
}

#[cfg(test)]
mod admin_tests {
    use super::*;

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    fn admin(yaml: &str) -> (Option<AdminConfig>, Vec<String>) {
        let value: Value = serde_yaml::from_str(&yaml.replace("HASH", HASH)).unwrap();
        let mut p = Problems::default();
        let config = parse_admin(&value, &mut p);
        (config, p.0.iter().map(|x| x.to_string()).collect())
    }

    fn names(config: Option<AdminConfig>) -> Vec<String> {
        config.unwrap().tokens.into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn token_sha256_is_the_token_named_admin_and_tokens_add_named_ones() {
        assert_eq!(names(admin("token_sha256: HASH").0), ["admin"]);
        let (config, problems) =
            admin("{ token_sha256: HASH, tokens: [ { name: helpdesk, token_sha256: HASH } ] }");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(names(config), ["admin", "helpdesk"]);
        assert_eq!(
            names(admin("tokens: [ { name: ops, token_sha256: HASH } ]").0),
            ["ops"]
        );
    }

    #[test]
    fn admin_tokens_are_refused_missing_duplicate_or_malformed_with_their_path() {
        let (config, problems) = admin("listen: 127.0.0.1:7001");
        assert!(config.is_none());
        assert_eq!(
            problems,
            ["admin.token_sha256: missing: give admin.token_sha256 or admin.tokens (a list of {name, token_sha256})"]
        );
        let (_, problems) =
            admin("{ token_sha256: HASH, tokens: [ { name: admin, token_sha256: HASH } ] }");
        assert_eq!(
            problems,
            ["admin.tokens[0].name: duplicate admin token name 'admin' (admin.token_sha256 is the token named 'admin')"]
        );
        let (config, problems) =
            admin("tokens: [ { name: ops, token_sha256: xyz }, { token_sha256: HASH, role: x } ]");
        assert!(config.is_none());
        assert_eq!(
            problems,
            [
                "admin.tokens[0].token_sha256: must be 64 hexadecimal characters (printf %s TOKEN | sha256sum)",
                "admin.tokens[1].name: missing",
                "admin.tokens[1].role: unknown key (expected one of: name, token_sha256)",
            ]
        );
        let (_, problems) = admin("tokens: { ops: HASH }");
        assert_eq!(problems, ["admin.tokens: must be a list, found a mapping"]);
    }
}

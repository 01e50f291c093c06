//! `platform.yml`: its schema, validated as a whole into a typed [`Config`].
//!
//! Parsing never stops at the first problem: every problem is collected with the dotted path
//! of the value it concerns (`mfa.endpoints.verify.url: missing`). Templates are checked by
//! [`crate::template`], which adds its own problems to the same list (see
//! [`crate::snapshot::Snapshot`]).

mod env;
mod library;
mod preset;
mod walk;

pub use crate::domain::names::RESERVED_VARIABLES;
pub use crate::domain::{Channel, Secret, Secrets};
pub use library::{Library, LibraryFile};
pub use preset::{MessagePart, MessageText, MessagesConfig, PresetUse};

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use serde_json_path::JsonPath;
use serde_yaml::Value;

use walk::{integer, string, string_list, string_map, Fields, Problems};

/// One thing wrong with the configuration, named by the path of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What [`Config::parse`] could read: the whole configuration when it is valid, and the
/// sections it could read either way.
#[derive(Debug)]
pub struct Parsed {
    pub config: Option<Config>,
    pub mfa: Option<MfaConfig>,
    pub upstream: Option<UpstreamConfig>,
    pub problems: Vec<Problem>,
}

/// Every problem found in a configuration.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<Problem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub const DEFAULT_USERNAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub outbound: OutboundConfig,
    /// Present: proxy mode (the first factor is checked by the operator's login API).
    pub upstream: Option<UpstreamConfig>,
    /// Standalone mode: the integrator's backend authenticates with one of these.
    pub api_keys: Vec<ApiKey>,
    pub mfa: MfaConfig,
    /// The admin listener (API, panel, health, metrics); absent: none.
    pub admin: Option<AdminConfig>,
    /// Values that came from `${ENV}` references: masked wherever a request is shown.
    pub secrets: Secrets,
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

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub username_pattern: Regex,
}

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
}

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub login: EndpointSpec,
    pub access_check: EndpointSpec,
}

#[derive(Clone)]
pub struct ApiKey {
    pub name: String,
    pub key_sha256: [u8; 32],
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Single,
    ChallengeVerify,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::ChallengeVerify => "challenge-verify",
        }
    }

    fn parse(p: &mut Problems, path: &str, value: &Value) -> Option<Mode> {
        match string(p, path, value)?.as_str() {
            "single" => Some(Mode::Single),
            "challenge-verify" => Some(Mode::ChallengeVerify),
            other => {
                p.push(
                    path,
                    format!("unknown mode '{other}' (expected: single or challenge-verify)"),
                );
                None
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub mode: Mode,
    /// What the single endpoint delivers: which message texts fill `{{ message }}`.
    pub channel: Channel,
    /// The provider preset the endpoints come from, if any.
    pub preset: Option<PresetUse>,
    pub messages: MessagesConfig,
    /// More channels (`mfa.channels`): each with the endpoints of its own method.
    pub channels: Vec<ChannelEndpoints>,
    pub totp: TotpConfig,
    pub code: CodeConfig,
    pub session_ttl: Duration,
    pub user_data: UserDataRules,
    pub endpoints: Endpoints,
    pub attempts: AttemptPolicy,
    pub send_limits: SendLimits,
    pub destinations: DestinationRules,
}

/// Wrong codes: a ceiling per session, and growing waits per user across sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptPolicy {
    /// Wrong codes after which a session is deleted.
    pub per_session: u32,
    /// Failures per user before waits start.
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub base_seconds: u64,
    pub max_seconds: u64,
    /// A tally with no attempt for this long starts over.
    pub window_seconds: u64,
}

impl Default for AttemptPolicy {
    fn default() -> Self {
        AttemptPolicy {
            per_session: 5,
            free_failures: 3,
            base_seconds: 1,
            max_seconds: 900,
            window_seconds: 86_400,
        }
    }
}

/// How often codes may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    pub min_interval_seconds: u64,
    pub per_user_per_hour: u32,
    pub per_destination_per_day: u32,
}

impl Default for SendLimits {
    fn default() -> Self {
        SendLimits {
            min_interval_seconds: 30,
            per_user_per_hour: 5,
            per_destination_per_day: 10,
        }
    }
}

/// E.164 prefixes that phone numbers must (allow) or must not (deny) start with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationRules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CodeConfig {
    pub length: u32,
    pub ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct UserDataRules {
    pub required: Vec<String>,
    /// Always includes `required`.
    pub allowed: BTreeSet<String>,
    pub phone_fields: BTreeSet<String>,
    /// Fields that must be an email address.
    pub email_fields: BTreeSet<String>,
    pub max_length: usize,
}

#[derive(Debug, Clone)]
pub enum Endpoints {
    Single(Box<EndpointSpec>),
    ChallengeVerify {
        challenge: Box<EndpointSpec>,
        verify: Box<EndpointSpec>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One outbound request as the operator wrote it: every string is a template.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// Dotted path in `platform.yml`, used to name problems (`mfa.endpoints.single`).
    pub path: String,
    pub url: String,
    pub method: HttpMethod,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// `basic_auth: { username, password }`, templates: sent as `Authorization: Basic`.
    pub basic_auth: Option<(String, String)>,
    /// When the answer counts as success (`success`, or `accept` for the access check).
    pub predicate: Option<Predicate>,
    /// Challenge only: values read from the JSON answer, kept for the verify endpoint.
    pub capture: Vec<Capture>,
}

/// The endpoints of one more channel (`mfa.channels.CHANNEL`).
#[derive(Debug, Clone)]
pub struct ChannelEndpoints {
    pub channel: Channel,
    pub mode: Mode,
    pub endpoints: Endpoints,
    pub preset: Option<PresetUse>,
}

/// Authenticator apps (`mfa.totp`): SHA-1, 6 digits, 30 s steps, as every app supports.
#[derive(Debug, Clone)]
pub struct TotpConfig {
    pub enabled: bool,
    /// The issuer shown in the app; `mfa.messages.app_name` when absent.
    pub issuer: Option<String>,
    /// Steps accepted either side of the current one.
    pub drift: u64,
}

impl MfaConfig {
    /// The method name of the primary channel (`mfa.endpoints`).
    pub fn primary_method(&self) -> &'static str {
        self.channel.name()
    }

    /// This configuration as seen by one channel: the primary one, or one of `mfa.channels`.
    pub fn for_channel(&self, channel: Channel) -> Option<MfaConfig> {
        if channel == self.channel {
            return Some(self.clone());
        }
        let extra = self.channels.iter().find(|c| c.channel == channel)?;
        let mut cfg = self.clone();
        cfg.channel = extra.channel;
        cfg.mode = extra.mode;
        cfg.endpoints = extra.endpoints.clone();
        cfg.preset = extra.preset.clone();
        cfg.channels = Vec::new();
        Some(cfg)
    }
}

/// `capture: { NAME: JSONPATH }` on a challenge endpoint.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub json_path: String,
    pub parsed: JsonPath,
}

/// A test on a provider's or upstream's answer: every part given must hold.
#[derive(Debug, Clone)]
pub struct Predicate {
    /// Accepted statuses; absent: any 2xx.
    pub status: Option<Vec<u16>>,
    /// A JSONPath into the JSON body (`status` is short for `$.status`) and the value it must
    /// equal.
    pub json: Option<(String, JsonPath, serde_json::Value)>,
}

impl Config {
    /// Validates a configuration text, reading `${ENV}` references from the process
    /// environment.
    pub fn from_yaml_str(yaml: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
        Config::from_yaml_with_env(yaml, base_dir, &|name| std::env::var(name).ok())
    }

    pub fn from_yaml_with_env(
        yaml: &str,
        base_dir: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let parsed = Config::parse(yaml, base_dir, lookup);
        match parsed.config {
            Some(c) if parsed.problems.is_empty() => Ok(c),
            _ => Err(ConfigErrors(parsed.problems)),
        }
    }

    /// Everything that could be read from a configuration text, even when some of it is
    /// wrong: so that the endpoint templates of a file with other problems are still checked.
    pub fn parse(yaml: &str, base_dir: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Parsed {
        let mut problems = Problems::default();
        let library = Library::load(&base_dir.join("templates"), &mut problems);
        Config::parse_with_library(yaml, base_dir, lookup, &library, problems.0)
    }

    /// [`Config::parse`] with the template library given (the admin API checks a template
    /// file's new text this way before writing it).
    pub fn parse_with_library(
        yaml: &str,
        base_dir: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
        library: &Library,
        earlier: Vec<Problem>,
    ) -> Parsed {
        let mut problems = Problems(earlier);
        let mut root: Value = match serde_yaml::from_str(yaml) {
            Ok(v) => v,
            Err(e) => {
                let path = match e.location() {
                    Some(l) => format!("line {} column {}", l.line(), l.column()),
                    None => "platform.yml".to_string(),
                };
                problems.push(&path, format!("not valid YAML: {e}"));
                return Parsed {
                    config: None,
                    mfa: None,
                    upstream: None,
                    problems: problems.0,
                };
            }
        };
        let secrets = env::substitute(&mut root, "", lookup, &mut problems);
        let (config, mfa, upstream) = parse_root(&root, base_dir, secrets, library, &mut problems);
        if config.is_none() && problems.0.is_empty() {
            problems.push("platform.yml", "invalid configuration");
        }
        Parsed {
            config,
            mfa,
            upstream,
            problems: problems.0,
        }
    }

    pub fn is_proxy(&self) -> bool {
        self.upstream.is_some()
    }
}

fn parse_root(
    root: &Value,
    base_dir: &Path,
    secrets: Vec<String>,
    library: &Library,
    p: &mut Problems,
) -> (Option<Config>, Option<MfaConfig>, Option<UpstreamConfig>) {
    let Some(mut f) = Fields::of(p, "", root) else {
        return (None, None, None);
    };
    let server = parse_server(f.get("server"), p);
    let storage = f
        .require(p, "storage")
        .and_then(|v| parse_storage(v, base_dir, p));
    let outbound = parse_outbound(f.get("outbound"), p);
    let upstream = f.get("upstream").and_then(|v| parse_upstream(v, p));
    let api_keys = f.get("api_keys").map(|v| parse_api_keys(v, p));
    let mfa = f.require(p, "mfa").and_then(|v| parse_mfa(v, library, p));
    let admin = f.get("admin").and_then(|v| parse_admin(v, p));
    f.finish(p);

    let api_keys = api_keys.unwrap_or_default();
    if root.get("upstream").is_none() && api_keys.is_empty() && root.get("api_keys").is_none() {
        p.push(
            "api_keys",
            "missing: standalone mode (no upstream) needs at least one api key",
        );
    }
    let config = match (server, storage, outbound, mfa.clone()) {
        (Some(server), Some(storage), Some(outbound), Some(mfa)) => Some(Config {
            server,
            storage,
            outbound,
            upstream: upstream.clone(),
            api_keys,
            mfa,
            admin,
            secrets: Secrets::new(secrets),
        }),
        _ => None,
    };
    (config, mfa, upstream)
}

fn parse_admin(v: &Value, p: &mut Problems) -> Option<AdminConfig> {
    let mut f = Fields::of(p, "admin", v)?;
    let listen = match f.get("listen") {
        None => Some("127.0.0.1:7001".parse().expect("static address")),
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

fn parse_server(value: Option<&Value>, p: &mut Problems) -> Option<ServerConfig> {
    let mut listen: SocketAddr = "127.0.0.1:7000".parse().expect("static address");
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
fn anchor(pattern: &str) -> String {
    let inner = pattern.strip_prefix('^').unwrap_or(pattern);
    let inner = inner.strip_suffix('$').unwrap_or(inner);
    format!("^(?:{inner})$")
}

fn parse_storage(v: &Value, base_dir: &Path, p: &mut Problems) -> Option<StorageConfig> {
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
    f.finish(p);
    Some(StorageConfig {
        cache_bytes,
        strict_durability,
        path: path?,
        secret,
    })
}

fn parse_outbound(value: Option<&Value>, p: &mut Problems) -> Option<OutboundConfig> {
    let mut cfg = OutboundConfig {
        connect_timeout: Duration::from_millis(3000),
        timeout: Duration::from_millis(10_000),
    };
    if let Some(v) = value {
        let mut f = Fields::of(p, "outbound", v)?;
        if let Some(n) = f.integer(p, "connect_timeout_ms", 1..=60_000) {
            cfg.connect_timeout = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "timeout_ms", 1..=120_000) {
            cfg.timeout = Duration::from_millis(n);
        }
        f.finish(p);
    }
    Some(cfg)
}

fn parse_upstream(v: &Value, p: &mut Problems) -> Option<UpstreamConfig> {
    let mut f = Fields::of(p, "upstream", v)?;
    let login = f
        .require(p, "login")
        .and_then(|v| parse_endpoint(v, "upstream.login", EndpointKind::UpstreamLogin, p));
    let access_check = f
        .require(p, "access_check")
        .and_then(|v| parse_endpoint(v, "upstream.access_check", EndpointKind::AccessCheck, p));
    f.finish(p);
    Some(UpstreamConfig {
        login: login?,
        access_check: access_check?,
    })
}

fn parse_api_keys(v: &Value, p: &mut Problems) -> Vec<ApiKey> {
    let Value::Sequence(items) = v else {
        p.push(
            "api_keys",
            format!("must be a list, found {}", walk::kind(v)),
        );
        return Vec::new();
    };
    let mut keys = Vec::new();
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("api_keys[{i}]");
        let Some(mut f) = Fields::of(p, &path, item) else {
            continue;
        };
        let name = f
            .require(p, "name")
            .and_then(|v| string(p, &format!("{path}.name"), v));
        let hash = f
            .require(p, "key_sha256")
            .and_then(|v| string(p, &format!("{path}.key_sha256"), v))
            .and_then(|s| {
                let mut out = [0u8; 32];
                match hex::decode_to_slice(s.trim(), &mut out) {
                    Ok(()) => Some(out),
                    Err(_) => {
                        p.push(
                            &format!("{path}.key_sha256"),
                            "must be 64 hexadecimal characters (the SHA-256 of the key: printf %s KEY | sha256sum)",
                        );
                        None
                    }
                }
            });
        f.finish(p);
        if let (Some(name), Some(key_sha256)) = (name, hash) {
            if !names.insert(name.clone()) {
                p.push(
                    &format!("{path}.name"),
                    format!("duplicate api key name '{name}'"),
                );
            }
            keys.push(ApiKey { name, key_sha256 });
        }
    }
    keys
}

fn parse_mfa(v: &Value, library: &Library, p: &mut Problems) -> Option<MfaConfig> {
    let mut f = Fields::of(p, "mfa", v)?;
    let mode = f.get("mode").and_then(|v| Mode::parse(p, "mfa.mode", v));
    let mode_given = v.get("mode").is_some();

    let mut code = CodeConfig {
        length: 6,
        ttl: Duration::from_secs(300),
    };
    if let Some(v) = f.get("code") {
        if let Some(mut c) = Fields::of(p, "mfa.code", v) {
            if let Some(n) = c.integer(p, "length", 4..=12) {
                code.length = n as u32;
            }
            if let Some(n) = c.integer(p, "ttl_seconds", 1..=86_400) {
                code.ttl = Duration::from_secs(n);
            }
            c.finish(p);
        }
    }

    let mut session_ttl = Duration::from_secs(1800);
    if let Some(v) = f.get("sessions") {
        if let Some(mut s) = Fields::of(p, "mfa.sessions", v) {
            if let Some(n) = s.integer(p, "ttl_seconds", 1..=86_400) {
                session_ttl = Duration::from_secs(n);
            }
            s.finish(p);
        }
    }

    let user_data = parse_user_data(f.get("user_data"), p);
    let endpoints = f
        .require(p, "endpoints")
        .and_then(|v| parse_endpoints(v, mode, mode_given, library, p));
    let attempts = parse_attempts(f.get("attempts"), p);
    let send_limits = parse_send_limits(f.get("send_limits"), p);
    let destinations = parse_destinations(f.get("destinations"), p);
    let messages = preset::parse_messages(f.get("messages"), library, p);
    let channels = f
        .get("channels")
        .map(|v| parse_channels(v, library, p))
        .unwrap_or_default();
    let totp = parse_totp(f.get("totp"), p);
    f.finish(p);
    let (mode, channel, endpoints, preset) = endpoints?;
    for extra in &channels {
        if extra.channel == channel {
            p.push(
                &format!("mfa.channels.{}", channel.name()),
                "this is the channel of mfa.endpoints already",
            );
        }
    }
    if let Some(preset) = &preset {
        for name in preset.vars.keys() {
            if user_data.allowed.contains(name) {
                p.push(
                    &format!("mfa.endpoints.vars.{name}"),
                    format!("preset {} has a var named like the user data field '{name}' (mfa.user_data.allowed): rename one", preset.name),
                );
            }
        }
    }
    Some(MfaConfig {
        mode,
        channel,
        preset,
        messages,
        channels,
        totp,
        code,
        session_ttl,
        user_data,
        endpoints,
        attempts,
        send_limits,
        destinations,
    })
}

fn parse_attempts(value: Option<&Value>, p: &mut Problems) -> AttemptPolicy {
    let mut a = AttemptPolicy::default();
    let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.attempts", v)) else {
        return a;
    };
    if let Some(n) = f.integer(p, "per_session", 1..=100) {
        a.per_session = n as u32;
    }
    if let Some(n) = f.integer(p, "free_failures", 0..=1000) {
        a.free_failures = n as u32;
    }
    if let Some(n) = f.integer(p, "base_seconds", 1..=86_400) {
        a.base_seconds = n;
    }
    if let Some(n) = f.integer(p, "max_seconds", 1..=604_800) {
        a.max_seconds = n;
    }
    if let Some(n) = f.integer(p, "window_seconds", 1..=2_592_000) {
        a.window_seconds = n;
    }
    f.finish(p);
    if a.max_seconds < a.base_seconds {
        p.push("mfa.attempts.max_seconds", "must be at least base_seconds");
    }
    if a.window_seconds < a.max_seconds {
        p.push(
            "mfa.attempts.window_seconds",
            "must be at least max_seconds, or a tally would lapse during its own wait",
        );
    }
    a
}

fn parse_send_limits(value: Option<&Value>, p: &mut Problems) -> SendLimits {
    let mut l = SendLimits::default();
    let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.send_limits", v)) else {
        return l;
    };
    if let Some(n) = f.integer(p, "min_interval_seconds", 0..=3600) {
        l.min_interval_seconds = n;
    }
    if let Some(n) = f.integer(p, "per_user_per_hour", 1..=10_000) {
        l.per_user_per_hour = n as u32;
    }
    if let Some(n) = f.integer(p, "per_destination_per_day", 1..=100_000) {
        l.per_destination_per_day = n as u32;
    }
    f.finish(p);
    l
}

fn parse_destinations(value: Option<&Value>, p: &mut Problems) -> DestinationRules {
    let mut rules = DestinationRules::default();
    let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.destinations", v)) else {
        return rules;
    };
    let prefix = Regex::new(r"^\+[0-9]{1,15}$").expect("static regex");
    for (key, list) in [("allow", &mut rules.allow), ("deny", &mut rules.deny)] {
        if let Some(v) = f.get(key) {
            let path = format!("mfa.destinations.{key}");
            for (i, item) in string_list(p, &path, v).into_iter().enumerate() {
                if prefix.is_match(&item) {
                    list.push(item);
                } else {
                    p.push(
                        &format!("{path}[{i}]"),
                        format!("'{item}' is not an E.164 prefix such as +41 or +1242"),
                    );
                }
            }
        }
    }
    f.finish(p);
    rules
}

fn parse_user_data(value: Option<&Value>, p: &mut Problems) -> UserDataRules {
    let mut rules = UserDataRules {
        required: vec!["phone".to_string()],
        allowed: ["phone", "language", "message"]
            .into_iter()
            .map(String::from)
            .collect(),
        phone_fields: ["phone"].into_iter().map(String::from).collect(),
        email_fields: ["email"].into_iter().map(String::from).collect(),
        max_length: 256,
    };
    let Some(v) = value else {
        return rules;
    };
    let Some(mut f) = Fields::of(p, "mfa.user_data", v) else {
        return rules;
    };
    let required = f
        .get("required")
        .map(|v| string_list(p, "mfa.user_data.required", v));
    let allowed = f
        .get("allowed")
        .map(|v| string_list(p, "mfa.user_data.allowed", v));
    let phones = f
        .get("phone_fields")
        .map(|v| string_list(p, "mfa.user_data.phone_fields", v));
    let emails = f
        .get("email_fields")
        .map(|v| string_list(p, "mfa.user_data.email_fields", v));
    if let Some(n) = f.integer(p, "max_length", 1..=4096) {
        rules.max_length = n as usize;
    }
    f.finish(p);
    // Without an explicit `allowed`, a given `required` list is also what is allowed.
    match (allowed, required) {
        (Some(allowed), required) => {
            rules.allowed = allowed.into_iter().collect();
            if let Some(required) = required {
                rules.required = required;
            }
        }
        (None, Some(required)) => {
            rules.allowed = required.iter().cloned().collect();
            rules.required = required;
        }
        (None, None) => {}
    }
    rules.allowed.extend(rules.required.iter().cloned());
    if let Some(phones) = phones {
        rules.phone_fields = phones.into_iter().collect();
    } else {
        rules.phone_fields.retain(|f| rules.allowed.contains(f));
    }
    if let Some(emails) = emails {
        rules.email_fields = emails.into_iter().collect();
    } else {
        rules.email_fields.retain(|f| rules.allowed.contains(f));
    }
    for (list, names) in [
        ("required", rules.required.iter().collect::<Vec<_>>()),
        ("allowed", rules.allowed.iter().collect()),
        ("phone_fields", rules.phone_fields.iter().collect()),
        ("email_fields", rules.email_fields.iter().collect()),
    ] {
        for name in names {
            let path = format!("mfa.user_data.{list}");
            if !crate::domain::names::is_variable_name(name) {
                p.push(&path, format!("'{name}' is not a valid field name (letters, digits and _, not starting with a digit)"));
            } else if RESERVED_VARIABLES.contains(&name.as_str()) {
                p.push(
                    &path,
                    format!("'{name}' is reserved: the daemon fills it itself"),
                );
            }
        }
    }
    for (list, fields) in [
        ("phone_fields", &rules.phone_fields),
        ("email_fields", &rules.email_fields),
    ] {
        for name in fields {
            if !rules.allowed.contains(name) {
                p.push(
                    &format!("mfa.user_data.{list}"),
                    format!("'{name}' is not an allowed user data field"),
                );
            }
        }
    }
    for name in rules.phone_fields.intersection(&rules.email_fields) {
        p.push(
            "mfa.user_data.email_fields",
            format!("'{name}' cannot be both a phone number and an email address"),
        );
    }
    for name in &rules.phone_fields {
        let digits = format!("{name}_digits");
        if rules.allowed.contains(&digits) {
            p.push(
                "mfa.user_data.allowed",
                format!("'{digits}' is filled by the daemon (the digits of {name})"),
            );
        }
    }
    rules
}

type EndpointsOf = (Mode, Channel, Endpoints, Option<PresetUse>);

fn parse_totp(value: Option<&Value>, p: &mut Problems) -> TotpConfig {
    let mut t = TotpConfig {
        enabled: true,
        issuer: None,
        drift: 1,
    };
    let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.totp", v)) else {
        return t;
    };
    if let Some(v) = f.get("enabled") {
        match v.as_bool() {
            Some(b) => t.enabled = b,
            None => p.push("mfa.totp.enabled", "must be true or false"),
        }
    }
    if let Some(v) = f.get("issuer") {
        if let Some(s) = string(p, "mfa.totp.issuer", v) {
            if s.trim().is_empty() || s.contains(':') || s.chars().any(char::is_control) {
                p.push(
                    "mfa.totp.issuer",
                    "must be a non-empty name without ':' (it labels the account in the app)",
                );
            } else {
                t.issuer = Some(s);
            }
        }
    }
    if let Some(n) = f.integer(p, "drift", 0..=10) {
        t.drift = n;
    }
    f.finish(p);
    t
}

/// `mfa.channels: { CHANNEL: ENDPOINTS }`, each written like `mfa.endpoints` (with a `mode` of
/// its own when hand-written, single by default).
fn parse_channels(v: &Value, library: &Library, p: &mut Problems) -> Vec<ChannelEndpoints> {
    let mut out = Vec::new();
    let Some(f) = Fields::of(p, "mfa.channels", v) else {
        return out;
    };
    for (name, value) in f.entries(p) {
        let path = format!("mfa.channels.{name}");
        let channel = match name.as_str() {
            "sms" => Channel::Sms,
            "email" => Channel::Email,
            other => {
                p.push(
                    &path,
                    format!("unknown channel '{other}' (expected: sms or email)"),
                );
                continue;
            }
        };
        let parsed = if value.get("preset").is_some() {
            preset::parse_preset_at(value, &path, library, p)
                .map(|(mode, ch, endpoints, preset)| (mode, ch, endpoints, Some(preset)))
        } else {
            // The mode is the channel's own; the rest is read like mfa.endpoints.
            let mut endpoints = value.clone();
            let mode = match endpoints.as_mapping_mut().and_then(|m| m.remove("mode")) {
                Some(m) => Mode::parse(p, &format!("{path}.mode"), &m),
                None => Some(Mode::Single),
            };
            if let Some(m) = endpoints.as_mapping_mut() {
                m.insert(Value::from("channel"), Value::from(name.as_str()));
            }
            mode.and_then(|mode| parse_endpoints_at(&endpoints, &path, mode, p))
        };
        let Some((mode, ch, endpoints, preset)) = parsed else {
            continue;
        };
        if ch != channel {
            p.push(
                &path,
                format!("preset delivers by {}, not {name}", ch.name()),
            );
            continue;
        }
        out.push(ChannelEndpoints {
            channel,
            mode,
            endpoints,
            preset,
        });
    }
    out
}

fn parse_endpoints(
    v: &Value,
    mode: Option<Mode>,
    mode_given: bool,
    library: &Library,
    p: &mut Problems,
) -> Option<EndpointsOf> {
    if v.get("preset").is_some() {
        let (preset_mode, channel, endpoints, preset) =
            preset::parse_preset_at(v, "mfa.endpoints", library, p)?;
        if mode_given && mode != Some(preset_mode) {
            let name = preset_mode.name();
            p.push(
                "mfa.mode",
                format!(
                    "preset {} works in {name} mode: remove mfa.mode or set it to {name}",
                    preset.name
                ),
            );
            return None;
        }
        return Some((preset_mode, channel, endpoints, Some(preset)));
    }
    let Some(mode) = mode else {
        if !mode_given {
            p.push(
                "mfa.mode",
                "missing: single or challenge-verify (or use a preset, which has its own)",
            );
        }
        return None;
    };
    parse_endpoints_at(v, "mfa.endpoints", mode, p)
}

/// Hand-written endpoints (`single`, or `challenge` and `verify`) and their `channel`.
fn parse_endpoints_at(v: &Value, path: &str, mode: Mode, p: &mut Problems) -> Option<EndpointsOf> {
    let mut f = Fields::of(p, path, v)?;
    let channel = match f.get("channel") {
        Some(c) => preset::parse_channel(p, &format!("{path}.channel"), c),
        None => Some(Channel::Sms),
    };
    let out = match mode {
        Mode::Single => {
            let single = f.require(p, "single").and_then(|v| {
                parse_endpoint(v, &format!("{path}.single"), EndpointKind::Single, p)
            });
            single.map(|s| Endpoints::Single(Box::new(s)))
        }
        Mode::ChallengeVerify => {
            let challenge = f.require(p, "challenge").and_then(|v| {
                parse_endpoint(v, &format!("{path}.challenge"), EndpointKind::Challenge, p)
            });
            let verify = f.require(p, "verify").and_then(|v| {
                parse_endpoint(v, &format!("{path}.verify"), EndpointKind::Verify, p)
            });
            match (challenge, verify) {
                (Some(challenge), Some(verify)) => Some(Endpoints::ChallengeVerify {
                    challenge: Box::new(challenge),
                    verify: Box::new(verify),
                }),
                _ => None,
            }
        }
    };
    f.finish(p);
    Some((mode, channel?, out?, None))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EndpointKind {
    Single,
    Challenge,
    Verify,
    UpstreamLogin,
    AccessCheck,
}

fn parse_endpoint(
    v: &Value,
    path: &str,
    kind: EndpointKind,
    p: &mut Problems,
) -> Option<EndpointSpec> {
    let mut f = Fields::of(p, path, v)?;
    let url = f
        .require(p, "url")
        .and_then(|v| string(p, &format!("{path}.url"), v));
    let method = f.require(p, "method").and_then(|v| {
        let mp = format!("{path}.method");
        let s = string(p, &mp, v)?;
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            "PATCH" => Some(HttpMethod::Patch),
            "DELETE" => Some(HttpMethod::Delete),
            _ => {
                p.push(
                    &mp,
                    format!("unsupported method '{s}' (expected GET, POST, PUT, PATCH or DELETE)"),
                );
                None
            }
        }
    });
    let body = if kind == EndpointKind::UpstreamLogin {
        // The login body is the client's, forwarded as received.
        None
    } else {
        f.get("body")
            .and_then(|v| string(p, &format!("{path}.body"), v))
    };
    let headers = f
        .get("headers")
        .map(|v| string_map(p, &format!("{path}.headers"), v))
        .unwrap_or_default();
    let predicate_key = match kind {
        EndpointKind::AccessCheck => Some("accept"),
        EndpointKind::UpstreamLogin => None,
        _ => Some("success"),
    };
    let predicate = predicate_key.and_then(|key| {
        f.get(key)
            .and_then(|v| parse_predicate(v, &format!("{path}.{key}"), p))
    });
    let basic_auth = if kind == EndpointKind::UpstreamLogin {
        None
    } else {
        f.get("basic_auth")
            .and_then(|v| parse_basic_auth(v, &format!("{path}.basic_auth"), p))
    };
    let capture = if kind == EndpointKind::Challenge {
        f.get("capture")
            .map(|v| parse_capture(v, &format!("{path}.capture"), p))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    f.finish(p);
    if basic_auth.is_some()
        && headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        p.push(
            &format!("{path}.basic_auth"),
            "give basic_auth or an authorization header, not both",
        );
    }
    if kind == EndpointKind::AccessCheck && predicate.is_none() && v.get("accept").is_none() {
        p.push(
            &format!("{path}.accept"),
            "missing: say which answers mean a personal token, e.g. { json_path: type, equals: personal }",
        );
    }
    if let Some(u) = &url {
        if kind == EndpointKind::Verify && u.trim_start().starts_with("outbox:") {
            p.push(
                &format!("{path}.url"),
                "the development outbox cannot verify codes: use it for sends only",
            );
        }
        if matches!(
            kind,
            EndpointKind::UpstreamLogin | EndpointKind::AccessCheck
        ) && u.trim_start().starts_with("outbox:")
        {
            p.push(
                &format!("{path}.url"),
                "the development outbox is for provider sends only",
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (name, _) in &headers {
        if !seen.insert(name.to_ascii_lowercase()) {
            p.push(
                &format!("{path}.headers.{name}"),
                "duplicate header (names are case-insensitive)",
            );
        }
    }
    Some(EndpointSpec {
        path: path.to_string(),
        url: url?,
        method: method?,
        body,
        headers,
        basic_auth,
        predicate,
        capture,
    })
}

fn parse_basic_auth(v: &Value, path: &str, p: &mut Problems) -> Option<(String, String)> {
    let mut f = Fields::of(p, path, v)?;
    let username = f
        .require(p, "username")
        .and_then(|v| string(p, &format!("{path}.username"), v));
    let password = f
        .require(p, "password")
        .and_then(|v| string(p, &format!("{path}.password"), v));
    f.finish(p);
    Some((username?, password?))
}

fn parse_capture(v: &Value, path: &str, p: &mut Problems) -> Vec<Capture> {
    let mut out = Vec::new();
    let Some(f) = Fields::of(p, path, v) else {
        return out;
    };
    for (name, value) in f.entries(p) {
        let cp = format!("{path}.{name}");
        if !crate::domain::names::is_variable_name(&name)
            || RESERVED_VARIABLES.contains(&name.as_str())
        {
            p.push(&cp, "not a name the verify endpoint can use (letters, digits and _, not a reserved name)");
            continue;
        }
        let Some(raw) = string(p, &cp, value) else {
            continue;
        };
        let full = if raw.starts_with('$') {
            raw.clone()
        } else {
            format!("$.{raw}")
        };
        match JsonPath::parse(&full) {
            Ok(parsed) => out.push(Capture {
                name,
                json_path: raw,
                parsed,
            }),
            Err(e) => p.push(&cp, format!("not a valid JSONPath: {e}")),
        }
    }
    out
}

fn parse_predicate(v: &Value, path: &str, p: &mut Problems) -> Option<Predicate> {
    let mut f = Fields::of(p, path, v)?;
    let status = f.get("status").map(|v| {
        let sp = format!("{path}.status");
        let items: Vec<Value> = match v {
            Value::Sequence(items) => items.clone(),
            single => vec![single.clone()],
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| integer(p, &format!("{sp}[{i}]"), v, 100..=599).map(|n| n as u16))
            .collect::<Vec<_>>()
    });
    let json_path = f.get("json_path").and_then(|v| {
        let jp = format!("{path}.json_path");
        let raw = string(p, &jp, v)?;
        let full = if raw.starts_with('$') {
            raw.clone()
        } else {
            format!("$.{raw}")
        };
        match JsonPath::parse(&full) {
            Ok(parsed) => Some((raw, parsed)),
            Err(e) => {
                p.push(&jp, format!("not a valid JSONPath: {e}"));
                None
            }
        }
    });
    let equals = f.get("equals").map(|v| match serde_json::to_value(v) {
        Ok(j) => j,
        Err(_) => serde_json::Value::Null,
    });
    f.finish(p);
    let json = match (json_path, equals) {
        (Some((raw, parsed)), Some(eq)) => Some((raw, parsed, eq)),
        (None, None) => None,
        (Some(_), None) => {
            p.push(
                &format!("{path}.equals"),
                "missing: json_path needs the value it must equal",
            );
            None
        }
        (None, Some(_)) => {
            p.push(
                &format!("{path}.json_path"),
                "missing: equals needs a json_path",
            );
            None
        }
    };
    if status.is_none()
        && json.is_none()
        && v.get("json_path").is_none()
        && v.get("equals").is_none()
    {
        p.push(path, "empty: give status, or json_path with equals");
    }
    Some(Predicate { status, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(yaml: &str) -> Vec<String> {
        match Config::from_yaml_with_env(yaml, Path::new("/tmp"), &|_| None) {
            Ok(_) => Vec::new(),
            Err(e) => e.0.iter().map(|p| p.to_string()).collect(),
        }
    }

    const MINIMAL: &str = r#"
storage: { path: ./data }
api_keys: [ { name: local, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  mode: single
  endpoints:
    single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }
"#;

    #[test]
    fn a_minimal_standalone_configuration_loads_with_defaults() {
        let c = Config::from_yaml_with_env(MINIMAL, Path::new("/etc/mfa"), &|_| None).unwrap();
        assert_eq!(c.storage.path, PathBuf::from("/etc/mfa/./data"));
        assert_eq!(c.mfa.code.length, 6);
        assert_eq!(c.mfa.code.ttl, Duration::from_secs(300));
        assert!(c.mfa.user_data.allowed.contains("phone"));
        assert!(!c.is_proxy());
        assert!(c.storage.strict_durability);
        assert_eq!(c.storage.cache_bytes, 2 * 1024 * 1024);
    }

    #[test]
    fn storage_durability_and_cache_are_read_and_checked() {
        let yaml = MINIMAL.replace(
            "storage: { path: ./data }",
            "storage: { path: ./data, durability: periodic, cache_mb: 16 }",
        );
        let c = Config::from_yaml_with_env(&yaml, Path::new("/"), &|_| None).unwrap();
        assert!(!c.storage.strict_durability);
        assert_eq!(c.storage.cache_bytes, 16 * 1024 * 1024);
        let p = problems(&MINIMAL.replace(
            "storage: { path: ./data }",
            "storage: { path: ./data, durability: sometimes, cache_mb: 0 }",
        ));
        assert!(
            p.iter()
                .any(|l| l.starts_with("storage.durability:") && l.contains("strict or periodic")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.starts_with("storage.cache_mb:")),
            "{p:?}"
        );
    }

    #[test]
    fn every_problem_is_named_by_its_path() {
        let yaml = r#"
storage: { path: ./data, colour: blue }
api_keys: [ { name: local, key_sha256: "xyz" } ]
mfa:
  mode: challenge-verify
  code: { length: 2 }
  endpoints:
    challenge: { url: 'http://x/', method: FETCH }
    verify: { method: POST, bogus: 1 }
"#;
        let found = problems(yaml);
        let expect = [
            "storage.colour: unknown key",
            "api_keys[0].key_sha256: must be 64 hexadecimal",
            "mfa.code.length: 2 is out of range",
            "mfa.endpoints.challenge.method: unsupported method 'FETCH'",
            "mfa.endpoints.verify.url: missing",
            "mfa.endpoints.verify.bogus: unknown key",
        ];
        for e in expect {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "expected a problem starting with {e:?} in {found:#?}"
            );
        }
    }

    #[test]
    fn standalone_mode_without_api_keys_is_refused() {
        let yaml = MINIMAL.replace(
            "api_keys: [ { name: local, key_sha256: \"0000000000000000000000000000000000000000000000000000000000000000\" } ]\n",
            "",
        );
        let found = problems(&yaml);
        assert!(
            found.iter().any(|f| f.starts_with("api_keys: missing")),
            "{found:?}"
        );
    }

    #[test]
    fn reserved_names_cannot_be_user_data() {
        let yaml = format!("{MINIMAL}  user_data: {{ required: [code] }}\n");
        let found = problems(&yaml);
        assert!(
            found.iter().any(|f| f.contains("'code' is reserved")),
            "{found:?}"
        );
    }

    #[test]
    fn a_username_pattern_matches_whole_names_whether_anchored_or_not() {
        for pattern in [DEFAULT_USERNAME_PATTERN, "[a-z]+", "^[a-z]+", "[a-z]+$"] {
            let re = Regex::new(&anchor(pattern)).unwrap();
            assert!(re.is_match("alice"), "{pattern}");
            for bad in ["-alice", "alice!", "a/../admin", "bad~user"] {
                assert!(!re.is_match(bad), "{pattern} accepted {bad}");
            }
        }
    }
}

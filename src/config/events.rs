//! `events`: the operator's webhook endpoints, which events each one gets, and how long the
//! daemon keeps trying to deliver one (README, "Events (webhooks)"). Absent: no events are
//! queued at all.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_yaml::Value;

use super::walk::{kind, string, string_list, Fields, Problems};

/// Every event type the daemon emits, as `types` names them.
pub const EVENT_TYPES: &[&str] = &[
    "mfa.enrolled",
    "mfa.deactivated",
    "mfa.verified",
    "mfa.refused",
    "mfa.wait_started",
    "send.sent",
    "send.failed",
    "send.delivered",
    "send.undelivered",
];

/// The signing key of an endpoint: the bytes of its `whsec_…` secret, base64-decoded.
/// `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookKey(Vec<u8>);

impl WebhookKey {
    /// The key of a Standard Webhooks secret: `whsec_` (optional) then base64 of 24 to 64
    /// bytes.
    pub fn parse(secret: &str) -> Result<WebhookKey, String> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| "must be whsec_ followed by base64 (a Standard Webhooks secret)")?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the key is {} bytes: a Standard Webhooks secret holds 24 to 64",
                key.len()
            ));
        }
        Ok(WebhookKey(key))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookKey(***)")
    }
}

/// One receiver of events.
#[derive(Debug, Clone)]
pub struct WebhookEndpoint {
    /// `[a-z0-9-]`, 1 to 40 characters; `endpoint-N` (N from 1) when not given. The queue
    /// keeps deliveries under it.
    pub name: String,
    pub url: reqwest::Url,
    pub key: WebhookKey,
    /// The event types it gets (`mfa.*` for a family); empty: all of them.
    pub types: Vec<String>,
    /// How long one attempt may take, answer included.
    pub timeout: Duration,
}

impl WebhookEndpoint {
    /// Whether this endpoint gets events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.types.is_empty()
            || self.types.iter().any(|t| match t.strip_suffix(".*") {
                Some(family) => event_type
                    .strip_prefix(family)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => t == event_type,
            })
    }
}

#[derive(Debug, Clone)]
pub struct EventsConfig {
    pub endpoints: Vec<WebhookEndpoint>,
    /// Attempts of one delivery before it is given up.
    pub max_attempts: u32,
    /// Age (s) after which a delivery is given up, whatever its attempts.
    pub max_age_seconds: u64,
    /// How long (s) delivered and given-up deliveries stay for `GET /api/events`.
    pub keep_seconds: u64,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            endpoints: Vec::new(),
            max_attempts: 20,
            max_age_seconds: 86_400,
            keep_seconds: 7 * 86_400,
        }
    }
}

impl EventsConfig {
    pub fn endpoint(&self, name: &str) -> Option<&WebhookEndpoint> {
        self.endpoints.iter().find(|e| e.name == name)
    }
}

pub(super) fn parse_events(value: Option<&Value>, p: &mut Problems) -> EventsConfig {
    let mut cfg = EventsConfig::default();
    let Some(v) = value else {
        return cfg;
    };
    let Some(mut f) = Fields::of(p, "events", v) else {
        return cfg;
    };
    if let Some(n) = f.integer(p, "max_attempts", 1..=100) {
        cfg.max_attempts = n as u32;
    }
    if let Some(n) = f.integer(p, "max_age_seconds", 60..=30 * 86_400) {
        cfg.max_age_seconds = n;
    }
    if let Some(n) = f.integer(p, "keep_seconds", 60..=365 * 86_400) {
        cfg.keep_seconds = n;
    }
    match f.get("endpoints") {
        Some(Value::Sequence(items)) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(e) = parse_endpoint(item, &format!("events.endpoints[{i}]"), i, p) {
                    if cfg.endpoints.iter().any(|o| o.name == e.name) {
                        p.push(
                            &format!("events.endpoints[{i}].name"),
                            format!("{:?} names another endpoint too: names are unique", e.name),
                        );
                    }
                    cfg.endpoints.push(e);
                }
            }
        }
        Some(other) => p.push(
            "events.endpoints",
            format!("must be a list, found {}", kind(other)),
        ),
        None => {}
    }
    f.finish(p);
    cfg
}

fn parse_endpoint(
    value: &Value,
    path: &str,
    index: usize,
    p: &mut Problems,
) -> Option<WebhookEndpoint> {
    let mut f = Fields::of(p, path, value)?;
    let name = match f.get("name") {
        Some(v) => {
            let name = string(p, &f.path_of("name"), v)?;
            if !is_endpoint_name(&name) {
                p.push(
                    &f.path_of("name"),
                    format!("{name:?}: 1 to 40 characters among a-z, 0-9 and -"),
                );
            }
            name
        }
        None => format!("endpoint-{}", index + 1),
    };
    let url = f.require(p, "url").and_then(|v| {
        let text = string(p, &f.path_of("url"), v)?;
        match reqwest::Url::parse(&text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Some(url),
            Ok(_) => {
                p.push(&f.path_of("url"), "must be an http or https URL");
                None
            }
            Err(e) => {
                p.push(&f.path_of("url"), format!("not a URL: {e}"));
                None
            }
        }
    });
    let key = f.require(p, "secret").and_then(|v| {
        let text = string(p, &f.path_of("secret"), v)?;
        WebhookKey::parse(&text)
            .map_err(|e| p.push(&f.path_of("secret"), e))
            .ok()
    });
    let types = f
        .get("types")
        .map(|v| string_list(p, &f.path_of("types"), v))
        .unwrap_or_default();
    for (i, t) in types.iter().enumerate() {
        let family = t.strip_suffix(".*");
        let known = match family {
            Some(family) => EVENT_TYPES
                .iter()
                .any(|e| e.split('.').next() == Some(family)),
            None => EVENT_TYPES.contains(&t.as_str()),
        };
        if !known {
            p.push(
                &format!("{}[{i}]", f.path_of("types")),
                format!(
                    "unknown event type {t:?} (expected one of: {}, or a family as mfa.*)",
                    EVENT_TYPES.join(", ")
                ),
            );
        }
    }
    let timeout = f
        .integer(p, "timeout_ms", 100..=60_000)
        .map_or(Duration::from_secs(5), Duration::from_millis);
    f.finish(p);
    Some(WebhookEndpoint {
        name,
        url: url?,
        key: key?,
        types,
        timeout,
    })
}

/// `[a-z0-9-]`, 1 to 40 characters (as the names of providers).
fn is_endpoint_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (EventsConfig, Vec<String>) {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let mut p = Problems::default();
        let cfg = parse_events(Some(&value), &mut p);
        let problems = p.0.iter().map(|x| format!("{}: {}", x.path, x.message));
        (cfg, problems.collect())
    }

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn an_endpoint_reads_with_its_defaults() {
        let (cfg, problems) = parse(&format!(
            "endpoints:\n  - url: https://hooks.example.org/mfa\n    secret: {SECRET}\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let e = &cfg.endpoints[0];
        assert_eq!(e.name, "endpoint-1");
        assert_eq!(e.timeout, Duration::from_secs(5));
        assert_eq!(e.key.expose().len(), 24);
        assert!(e.wants("mfa.verified") && e.wants("send.delivered"));
        assert_eq!((cfg.max_attempts, cfg.max_age_seconds), (20, 86_400));
        assert_eq!(format!("{:?}", e.key), "WebhookKey(***)");
    }

    #[test]
    fn types_filter_by_name_or_by_family() {
        let (cfg, problems) = parse(&format!(
            "endpoints:\n  - name: audit\n    url: http://127.0.0.1:9/x\n    secret: {SECRET}\n    types: [mfa.verified, send.*]\n"
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let e = cfg.endpoint("audit").unwrap();
        assert!(e.wants("mfa.verified") && e.wants("send.sent") && e.wants("send.undelivered"));
        assert!(!e.wants("mfa.refused") && !e.wants("sender.x"));
    }

    #[test]
    fn every_wrong_value_is_named_by_its_field() {
        let (_, problems) = parse(
            "max_attempts: 0\nretries: 3\nendpoints:\n  - name: Audit_1\n    url: ftp://x\n    secret: whsec_bm90LWJhc2U2NA\n    types: [mfa.nope, x.*]\n    timeout_ms: 10\n  - {}\n",
        );
        for expected in [
            "events.max_attempts: 0 is out of range",
            "events.retries: unknown key",
            "events.endpoints[0].name: \"Audit_1\": 1 to 40 characters",
            "events.endpoints[0].url: must be an http or https URL",
            "events.endpoints[0].secret: ",
            "events.endpoints[0].types[0]: unknown event type \"mfa.nope\"",
            "events.endpoints[0].types[1]: unknown event type \"x.*\"",
            "events.endpoints[0].timeout_ms: 10 is out of range",
            "events.endpoints[1].url: missing",
            "events.endpoints[1].secret: missing",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} not in {problems:#?}"
            );
        }
    }

    #[test]
    fn two_endpoints_cannot_share_a_name() {
        let (_, problems) = parse(&format!(
            "endpoints:\n  - {{name: a, url: 'http://h/1', secret: '{SECRET}'}}\n  - {{name: a, url: 'http://h/2', secret: '{SECRET}'}}\n"
        ));
        assert_eq!(
            problems,
            vec!["events.endpoints[1].name: \"a\" names another endpoint too: names are unique"]
        );
    }

    #[test]
    fn a_secret_must_be_a_standard_webhooks_one() {
        assert!(WebhookKey::parse(SECRET).is_ok());
        assert!(WebhookKey::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD").is_ok());
        assert!(WebhookKey::parse("whsec_short").is_err());
        assert!(
            WebhookKey::parse("whsec_c2hvcnQ=").is_err(),
            "5 bytes is too short"
        );
    }
}

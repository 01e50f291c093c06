//! `mfa`: the code, sessions, attempts and send limits, authenticator apps, and the endpoints
//! and channels that deliver codes.

use std::time::Duration;

use serde_yaml::Value;

use super::channel::{parse_channels, parse_endpoints, ChannelEndpoints};
use super::endpoint::Endpoints;
use super::library::Library;
use super::messages::{parse_messages, MessagesConfig};
use super::preset::PresetUse;
use super::provider::{name_providers, ProviderConfig};
use super::user_data::{parse_user_data, UserDataRules};
use super::walk::{string, string_list, Fields, Problems};
use super::Channel;

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

    pub(super) fn parse(p: &mut Problems, path: &str, value: &Value) -> Option<Mode> {
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
    /// The name of the provider whose endpoints these are (`[a-z0-9-]`, unique in the
    /// configuration): given, else the preset's name, else `provider-N`.
    pub provider: String,
    pub messages: MessagesConfig,
    /// More channels (`mfa.channels`): each with the endpoints of its own method.
    pub channels: Vec<ChannelEndpoints>,
    /// Every provider of this channel as written (`mfa.endpoints` as a list), the first one
    /// (whose are `endpoints`, `preset` and `provider`) included.
    pub providers: Vec<ProviderConfig>,
    pub totp: TotpConfig,
    pub code: CodeConfig,
    pub session_ttl: Duration,
    pub user_data: UserDataRules,
    pub endpoints: Endpoints,
    pub attempts: AttemptPolicy,
    pub send_limits: SendLimits,
    pub destinations: DestinationRules,
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
        cfg.provider = extra.name.clone();
        cfg.providers = extra.providers.clone();
        cfg.channels = Vec::new();
        Some(cfg)
    }

    /// This (channel's) configuration as seen by one of its providers: its mode, endpoints,
    /// preset and name.
    pub fn for_provider(&self, provider: &ProviderConfig) -> MfaConfig {
        let mut cfg = self.clone();
        cfg.mode = provider.mode;
        cfg.channel = provider.channel;
        cfg.endpoints = provider.endpoints.clone();
        cfg.preset = provider.preset.clone();
        cfg.provider = provider.name.clone();
        cfg
    }
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

/// Authenticator apps (`mfa.totp`): SHA-1, 6 digits, 30 s steps, as every app supports.
#[derive(Debug, Clone)]
pub struct TotpConfig {
    pub enabled: bool,
    /// The issuer shown in the app; `mfa.messages.app_name` when absent.
    pub issuer: Option<String>,
    /// Steps accepted either side of the current one.
    pub drift: u64,
}

pub(super) fn parse_mfa(v: &Value, library: &Library, p: &mut Problems) -> Option<MfaConfig> {
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
    let mut providers = f
        .require(p, "endpoints")
        .map(|v| parse_endpoints(v, mode, mode_given, library, p))
        .unwrap_or_default();
    let attempts = parse_attempts(f.get("attempts"), p);
    let send_limits = parse_send_limits(f.get("send_limits"), p);
    let destinations = parse_destinations(f.get("destinations"), p);
    let messages = parse_messages(f.get("messages"), library, p);
    let mut channels = f
        .get("channels")
        .map(|v| parse_channels(v, library, p))
        .unwrap_or_default();
    let totp = parse_totp(f.get("totp"), p);
    f.finish(p);
    {
        let mut lists: Vec<(String, &mut Vec<ProviderConfig>)> =
            vec![("mfa.endpoints".to_string(), &mut providers)];
        for extra in channels.iter_mut() {
            lists.push((
                format!("mfa.channels.{}", extra.channel.name()),
                &mut extra.providers,
            ));
        }
        name_providers(&mut lists, p);
    }
    for extra in channels.iter_mut() {
        if let Some(first) = extra.providers.first() {
            extra.name = first.name.clone();
        }
    }
    let first = providers.first()?;
    let (mode, channel, endpoints, preset) = (
        first.mode,
        first.channel,
        first.endpoints.clone(),
        first.preset.clone(),
    );
    let provider = first.name.clone();
    for extra in &channels {
        if extra.channel == channel {
            p.push(
                &format!("mfa.channels.{}", channel.name()),
                "this is the channel of mfa.endpoints already",
            );
        }
    }
    for preset in providers.iter().filter_map(|pr| pr.preset.as_ref()) {
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
        provider,
        preset,
        messages,
        channels,
        providers,
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

pub(super) fn parse_attempts(value: Option<&Value>, p: &mut Problems) -> AttemptPolicy {
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

pub(super) fn parse_send_limits(value: Option<&Value>, p: &mut Problems) -> SendLimits {
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

/// `+` and 1 to 15 digits.
fn is_e164_prefix(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

pub(super) fn parse_destinations(value: Option<&Value>, p: &mut Problems) -> DestinationRules {
    let mut rules = DestinationRules::default();
    let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.destinations", v)) else {
        return rules;
    };
    for (key, list) in [("allow", &mut rules.allow), ("deny", &mut rules.deny)] {
        if let Some(v) = f.get(key) {
            let path = format!("mfa.destinations.{key}");
            for (i, item) in string_list(p, &path, v).into_iter().enumerate() {
                if is_e164_prefix(&item) {
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

pub(super) fn parse_totp(value: Option<&Value>, p: &mut Problems) -> TotpConfig {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_e164_prefix_is_a_plus_and_one_to_fifteen_digits() {
        for good in ["+1", "+41", "+1242", "+123456789012345"] {
            assert!(is_e164_prefix(good), "{good}");
        }
        for bad in ["", "+", "41", "+41 ", "+4a", "+1234567890123456", "++41"] {
            assert!(!is_e164_prefix(bad), "{bad}");
        }
    }
}

//! The endpoints that deliver each channel: `mfa.endpoints` (the primary channel, hand-written
//! or from a preset) and `mfa.channels` (one more per channel).

use serde_yaml::Value;

use super::endpoint::{parse_endpoint, EndpointKind, Endpoints};
use super::library::Library;
use super::mfa::Mode;
use super::preset::{parse_preset_at, PresetUse};
use super::provider::{parse_providers, EndpointsOf, ProviderConfig};
use super::walk::{string, Fields, Problems};
use super::Channel;

/// The endpoints of one more channel (`mfa.channels.CHANNEL`): its first provider's, and the
/// list of its providers.
#[derive(Debug, Clone)]
pub struct ChannelEndpoints {
    pub channel: Channel,
    /// The name of its first provider.
    pub name: String,
    pub mode: Mode,
    pub endpoints: Endpoints,
    pub preset: Option<PresetUse>,
    /// Every provider of the channel as written, the first one included.
    pub providers: Vec<ProviderConfig>,
}

/// `mfa.channels: { CHANNEL: ENDPOINTS }`, each written like `mfa.endpoints` (with a `mode` of
/// its own when hand-written, single by default): one provider or a list of them. Provider
/// names are filled afterwards ([`super::provider::name_providers`]).
pub(super) fn parse_channels(
    v: &Value,
    library: &Library,
    p: &mut Problems,
) -> Vec<ChannelEndpoints> {
    let mut out = Vec::new();
    let Some(f) = Fields::of(p, "mfa.channels", v) else {
        return out;
    };
    for (name, value) in f.entries(p) {
        let path = format!("mfa.channels.{name}");
        let Some(channel) = Channel::from_name(&name) else {
            p.push(
                &path,
                format!("unknown channel '{name}' (expected: {})", Channel::NAMES),
            );
            continue;
        };
        let providers = parse_providers(value, &path, p, &mut |entry, at, p| {
            let parsed = parse_channel_entry(entry, at, &name, library, p)?;
            if parsed.1 != channel {
                p.push(
                    at,
                    format!("preset delivers by {}, not {name}", parsed.1.name()),
                );
                return None;
            }
            Some(parsed)
        });
        let Some(first) = providers.first() else {
            continue;
        };
        out.push(ChannelEndpoints {
            channel,
            name: first.name.clone(),
            mode: first.mode,
            endpoints: first.endpoints.clone(),
            preset: first.preset.clone(),
            providers,
        });
    }
    out
}

/// One provider of `mfa.channels.NAME` at `path`: a preset, or hand-written endpoints with a
/// `mode` of their own (single by default).
fn parse_channel_entry(
    value: &Value,
    path: &str,
    name: &str,
    library: &Library,
    p: &mut Problems,
) -> Option<EndpointsOf> {
    if value.get("preset").is_some() {
        return parse_preset_at(value, path, library, p)
            .map(|(mode, ch, endpoints, preset)| (mode, ch, endpoints, Some(preset)));
    }
    // The mode is the channel's own; the rest is read like mfa.endpoints.
    let mut endpoints = value.clone();
    let mode = match endpoints.as_mapping_mut().and_then(|m| m.remove("mode")) {
        Some(m) => Mode::parse(p, &format!("{path}.mode"), &m),
        None => Some(Mode::Single),
    };
    if let Some(m) = endpoints.as_mapping_mut() {
        m.insert(Value::from("channel"), Value::from(name));
    }
    mode.and_then(|mode| parse_endpoints_at(&endpoints, path, mode, p))
}

/// `mfa.endpoints`: one provider or a list of them, each a preset (whose mode must be
/// `mfa.mode` when that is given) or hand-written endpoints in `mfa.mode`.
pub(super) fn parse_endpoints(
    v: &Value,
    mode: Option<Mode>,
    mode_given: bool,
    library: &Library,
    p: &mut Problems,
) -> Vec<ProviderConfig> {
    let mut mode_missing_said = false;
    parse_providers(v, "mfa.endpoints", p, &mut |entry, at, p| {
        parse_primary_entry(
            entry,
            at,
            mode,
            mode_given,
            &mut mode_missing_said,
            library,
            p,
        )
    })
}

fn parse_primary_entry(
    v: &Value,
    path: &str,
    mode: Option<Mode>,
    mode_given: bool,
    mode_missing_said: &mut bool,
    library: &Library,
    p: &mut Problems,
) -> Option<EndpointsOf> {
    if v.get("preset").is_some() {
        let (preset_mode, channel, endpoints, preset) = parse_preset_at(v, path, library, p)?;
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
        if !mode_given && !*mode_missing_said {
            *mode_missing_said = true;
            p.push(
                "mfa.mode",
                "missing: single or challenge-verify (or use a preset, which has its own)",
            );
        }
        return None;
    };
    parse_endpoints_at(v, path, mode, p)
}

/// Hand-written endpoints (`single`, or `challenge` and `verify`) and their `channel`.
pub(super) fn parse_endpoints_at(
    v: &Value,
    path: &str,
    mode: Mode,
    p: &mut Problems,
) -> Option<EndpointsOf> {
    let mut f = Fields::of(p, path, v)?;
    let channel = match f.get("channel") {
        Some(c) => parse_channel(p, &format!("{path}.channel"), c),
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

/// A channel name (`sms`, `email`, `voice`, `whatsapp`) at `path`.
pub(super) fn parse_channel(problems: &mut Problems, path: &str, value: &Value) -> Option<Channel> {
    let name = string(problems, path, value)?;
    let channel = Channel::from_name(&name);
    if channel.is_none() {
        problems.push(
            path,
            format!("unknown channel '{name}' (expected: {})", Channel::NAMES),
        );
    }
    channel
}

//! `mfa.fallback: { CHANNEL: CHANNEL }`: the channel a challenge goes by when every provider of
//! its own failed (`sms: email`: the same code by email). Both channels must be configured
//! and in single mode: the daemon's own code is what can travel by another channel (a
//! provider's code in challenge-verify mode cannot).

use serde_yaml::Value;

use super::channel::ChannelEndpoints;
use super::mfa::Mode;
use super::walk::{string, Fields, Problems};
use super::Channel;

/// Reads `mfa.fallback` against the channels configured: the primary one (`primary`, in
/// `primary_mode`) and `channels`.
pub(super) fn parse_fallback(
    value: Option<&Value>,
    primary: (Channel, Mode),
    channels: &[ChannelEndpoints],
    p: &mut Problems,
) -> Vec<(Channel, Channel)> {
    let mut out = Vec::new();
    let Some(f) = value.and_then(|v| Fields::of(p, "mfa.fallback", v)) else {
        return out;
    };
    let mode_of = |c: Channel| {
        if c == primary.0 {
            Some(primary.1)
        } else {
            channels.iter().find(|e| e.channel == c).map(|e| e.mode)
        }
    };
    for (from, to) in f.entries(p) {
        let path = format!("mfa.fallback.{from}");
        let Some(from_channel) = Channel::from_name(&from) else {
            p.push(
                &path,
                format!("unknown channel '{from}' (expected: {})", Channel::NAMES),
            );
            continue;
        };
        let Some(to_name) = string(p, &path, to) else {
            continue;
        };
        let Some(to_channel) = Channel::from_name(&to_name) else {
            p.push(
                &path,
                format!("unknown channel '{to_name}' (expected: {})", Channel::NAMES),
            );
            continue;
        };
        if to_channel == from_channel {
            p.push(&path, "a channel cannot fall back on itself");
            continue;
        }
        let problem = match (mode_of(from_channel), mode_of(to_channel)) {
            (None, _) => Some(format!("{from} is not a configured channel")),
            (_, None) => Some(format!(
                "{to_name} is not a configured channel (add it under mfa.channels)"
            )),
            (Some(Mode::Single), Some(Mode::Single)) => None,
            _ => Some(
                "both channels must be in single mode: only the daemon's own code can go by another channel"
                    .to_string(),
            ),
        };
        match problem {
            Some(m) => p.push(&path, m),
            None => out.push((from_channel, to_channel)),
        }
    }
    out
}

//! The providers of a channel: `mfa.endpoints` and `mfa.channels.CHANNEL` are one provider (a
//! preset or hand-written endpoints, as always) or a list of them, each with a `name`, a
//! `priority` and a `weight`. A send tries them in order of priority (lower first; by default
//! the order they are written in), drawing by weight among equal priorities.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::endpoint::Endpoints;
use super::mfa::Mode;
use super::preset::PresetUse;
use super::walk::{integer, string, Problems};
use super::Channel;

/// One provider of a channel.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// `[a-z0-9-]`, 1 to 40 characters, unique in the configuration: given, else the preset's
    /// name, else `provider-N` (N counting the providers of the whole configuration, those of
    /// `mfa.endpoints` first). Names it in metrics, `/api/status`, the message log, receipts.
    pub name: String,
    /// Lower goes first; by default its position in the list (1, 2, ...).
    pub priority: u32,
    /// Among providers of one priority, each send draws the first in proportion to its
    /// weight (default 1).
    pub weight: u32,
    pub mode: Mode,
    pub channel: Channel,
    pub endpoints: Endpoints,
    pub preset: Option<PresetUse>,
}

/// What one entry is read into: its mode, channel, endpoints and preset.
pub(super) type EndpointsOf = (Mode, Channel, Endpoints, Option<PresetUse>);

/// The keys of an entry that are the provider's, not its endpoints'.
const PROVIDER_KEYS: [&str; 3] = ["name", "priority", "weight"];

/// Reads `v` at `path`: one provider (a mapping) or a list of them, each entry read by
/// `parse_one` once `name`, `priority` and `weight` are taken out. Every entry must work in
/// the first one's mode and deliver by its channel. The names are left empty when not given
/// ([`name_providers`] fills them).
pub(super) fn parse_providers(
    v: &Value,
    path: &str,
    p: &mut Problems,
    parse_one: &mut dyn FnMut(&Value, &str, &mut Problems) -> Option<EndpointsOf>,
) -> Vec<ProviderConfig> {
    let entries: Vec<(String, &Value)> = match v {
        Value::Sequence(items) if items.is_empty() => {
            p.push(path, "empty: give at least one provider");
            return Vec::new();
        }
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (format!("{path}[{i}]"), item))
            .collect(),
        single => vec![(path.to_string(), single)],
    };
    let mut out: Vec<ProviderConfig> = Vec::new();
    for (i, (entry_path, entry)) in entries.into_iter().enumerate() {
        let mut endpoints = entry.clone();
        let mut taken = Vec::new();
        if let Some(m) = endpoints.as_mapping_mut() {
            for key in PROVIDER_KEYS {
                if let Some(value) = m.remove(key) {
                    taken.push((key, value));
                }
            }
        }
        let mut name = String::new();
        let mut priority = i as u32 + 1;
        let mut weight = 1;
        for (key, value) in &taken {
            let at = format!("{entry_path}.{key}");
            match *key {
                "name" => {
                    if let Some(s) = string(p, &at, value) {
                        match check_name(&s) {
                            Ok(()) => name = s,
                            Err(m) => p.push(&at, m),
                        }
                    }
                }
                "priority" => {
                    if let Some(n) = integer(p, &at, value, 0..=1000) {
                        priority = n as u32;
                    }
                }
                _ => {
                    if let Some(n) = integer(p, &at, value, 1..=1000) {
                        weight = n as u32;
                    }
                }
            }
        }
        let Some((mode, channel, endpoints, preset)) = parse_one(&endpoints, &entry_path, p) else {
            continue;
        };
        if let Some(first) = out.first() {
            if mode != first.mode {
                p.push(
                    &entry_path,
                    format!(
                        "works in {} mode, the channel's first provider in {}: all providers of a channel work in one mode",
                        mode.name(),
                        first.mode.name()
                    ),
                );
                continue;
            }
            if channel != first.channel {
                p.push(
                    &entry_path,
                    format!(
                        "delivers by {}, the channel's first provider by {}: all providers of a channel deliver by it",
                        channel.name(),
                        first.channel.name()
                    ),
                );
                continue;
            }
        }
        out.push(ProviderConfig {
            name,
            priority,
            weight,
            mode,
            channel,
            endpoints,
            preset,
        });
    }
    out
}

/// A provider's name: `[a-z0-9-]`, 1 to 40 characters.
fn check_name(name: &str) -> Result<(), String> {
    let ok = (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a provider name: 1 to 40 of a-z, 0-9 and -"
        ))
    }
}

/// Names the providers that have none (the preset's name, else `provider-N`, N counting every
/// provider in order), then checks that no two share a name. `lists` are the providers of
/// each channel with the path of their section, `mfa.endpoints` first.
pub(super) fn name_providers(lists: &mut [(String, &mut Vec<ProviderConfig>)], p: &mut Problems) {
    let mut n = 0;
    let mut seen = BTreeSet::new();
    for (path, providers) in lists.iter_mut() {
        let many = providers.len() > 1;
        for (i, provider) in providers.iter_mut().enumerate() {
            n += 1;
            if provider.name.is_empty() {
                provider.name = match &provider.preset {
                    Some(preset) => preset.name.clone(),
                    None => format!("provider-{n}"),
                };
            }
            if !seen.insert(provider.name.clone()) {
                let at = if many {
                    format!("{path}[{i}].name")
                } else {
                    format!("{path}.name")
                };
                p.push(
                    &at,
                    format!(
                        "another provider is named '{}' already: give each a name of its own",
                        provider.name
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_name_is_short_lowercase_letters_digits_and_dashes() {
        for good in ["twilio-sms", "a", "sms-2", &"x".repeat(40)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Twilio", "a_b", "a b", "é", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}

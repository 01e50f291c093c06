//! `/api/channels`: every channel the configuration delivers on (the primary one, under
//! `mfa.endpoints`, then those of `mfa.channels`), each with its shape (hand-written endpoints
//! or a preset) and the request each of its endpoints sends for sample data.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Map, Value as Json_};
use serde_yaml::Value;

use super::error::AdminError;
use super::presets::preset_view;
use super::preview::rendered;
use super::AdminState;
use crate::config::{Channel, Endpoints, MfaConfig, UserDataRules};
use crate::domain::Destination;
use crate::snapshot::Snapshot;
use crate::template::{EndpointId, Templates};

/// Where a channel is written in `platform.yml`.
#[derive(Debug, Clone)]
pub(super) struct ChannelAt {
    pub(super) channel: Channel,
    /// `mfa.endpoints` for the primary channel, else under `mfa.channels`.
    pub(super) primary: bool,
}

impl ChannelAt {
    /// The channel named in a route: the primary one, one of `mfa.channels`, or (with
    /// `or_new`, for a write that adds it) a channel `mfa.channels` does not hold yet.
    pub(super) fn named(snapshot: &Snapshot, name: &str, or_new: bool) -> Result<Self, AdminError> {
        let channel = match (snapshot.channel_named(Some(name)), Channel::from_name(name)) {
            (Ok((cfg, _)), _) => cfg.channel,
            (Err(_), Some(channel)) if or_new => channel,
            (Err(message), _) => return Err(AdminError::NotFound(message)),
        };
        Ok(ChannelAt {
            channel,
            primary: channel == snapshot.config.mfa.channel,
        })
    }

    /// The dotted path of its node: `mfa.endpoints` or `mfa.channels.CHANNEL`.
    pub(super) fn path(&self) -> String {
        if self.primary {
            "mfa.endpoints".into()
        } else {
            format!("mfa.channels.{}", self.channel.name())
        }
    }

    /// Its node in a raw configuration, as written.
    pub(super) fn written<'a>(&self, raw: &'a Value) -> Option<&'a Value> {
        let mfa = raw.get("mfa")?;
        if self.primary {
            mfa.get("endpoints")
        } else {
            mfa.get("channels")?.get(self.channel.name())
        }
    }

    /// Replaces its node in a raw configuration (creating `mfa.channels` if need be).
    pub(super) fn set_written(&self, raw: &mut Value, node: Value) -> Result<(), AdminError> {
        let cannot = || AdminError::Internal(format!("{} could not be edited", self.path()));
        if self.written(raw).is_some_and(Value::is_sequence) {
            return Err(AdminError::BadRequest(
                super::config_file::PROVIDER_LIST.into(),
            ));
        }
        let mfa = raw
            .as_mapping_mut()
            .and_then(|root| root.get_mut("mfa"))
            .and_then(Value::as_mapping_mut)
            .ok_or_else(cannot)?;
        if self.primary {
            mfa.insert("endpoints".into(), node);
            return Ok(());
        }
        let channels = mfa
            .entry("channels".into())
            .or_insert_with(|| Value::Mapping(Default::default()));
        if !channels.is_mapping() {
            *channels = Value::Mapping(Default::default());
        }
        channels
            .as_mapping_mut()
            .ok_or_else(cannot)?
            .insert(self.channel.name().into(), node);
        Ok(())
    }
}

/// Whether a written endpoints node names a preset.
pub(super) fn is_preset(node: Option<&Value>) -> bool {
    node.and_then(|n| n.get("preset")).is_some()
}

/// The configuration the running daemon was built from, as written.
pub(super) fn running_raw(snapshot: &Snapshot) -> Value {
    serde_yaml::from_str(&snapshot.source).unwrap_or(Value::Null)
}

/// The user-data fields a send by `channel` goes to: the phone fields (SMS, voice, WhatsApp)
/// or the email fields (email).
pub(super) fn destination_fields(rules: &UserDataRules, channel: Channel) -> Vec<String> {
    match channel.destination() {
        Destination::Phone => rules.phone_fields.iter().cloned().collect(),
        Destination::Email => rules.email_fields.iter().cloned().collect(),
    }
}

/// Sample data for a channel: a made-up destination in its first destination field.
fn sample_data(rules: &UserDataRules, channel: Channel) -> Map<String, Json_> {
    let mut data = Map::new();
    if let Some(field) = destination_fields(rules, channel).first() {
        let sample = match channel.destination() {
            Destination::Phone => "+41791231212",
            Destination::Email => "user@example.com",
        };
        data.insert(field.clone(), json!(sample));
    }
    data
}

/// The endpoints a channel's mode sends through.
pub(super) fn endpoint_ids(cfg: &MfaConfig) -> Vec<EndpointId> {
    match cfg.endpoints {
        Endpoints::Single(_) => vec![EndpointId::Single],
        Endpoints::ChallengeVerify { .. } => vec![EndpointId::Challenge, EndpointId::Verify],
    }
}

/// Each endpoint of a channel rendered for its sample data, by name.
pub(super) fn requests_of(
    snapshot: &Snapshot,
    cfg: &MfaConfig,
    templates: &Templates,
    at: &ChannelAt,
) -> Json_ {
    let data = sample_data(&snapshot.config.mfa.user_data, cfg.channel);
    let requests: Map<String, Json_> = endpoint_ids(cfg)
        .into_iter()
        .map(|id| {
            let path = format!("{}.{}", at.path(), id.name());
            let shown = rendered(templates, &snapshot.config.secrets, id, &data, &path);
            (id.name().to_string(), shown)
        })
        .collect();
    json!({ "data": data, "requests": requests })
}

/// One channel in short: name, where it is written, mode, preset name, endpoints.
fn summary(snapshot: &Snapshot, cfg: &MfaConfig, at: &ChannelAt) -> Json_ {
    json!({
        "channel": cfg.channel.name(),
        "primary": at.primary,
        "path": at.path(),
        "mode": cfg.mode.name(),
        "preset": cfg.preset.as_ref().map(|p| p.name.clone()),
        "endpoints": endpoint_ids(cfg).iter().map(|id| id.name()).collect::<Vec<_>>(),
        "destination": destination_fields(&snapshot.config.mfa.user_data, cfg.channel),
    })
}

pub(super) async fn list_channels(State(state): State<AdminState>) -> Json<Json_> {
    let snapshot = state.app.snapshot();
    let channels: Vec<Json_> = snapshot
        .channel_list()
        .into_iter()
        .filter_map(|channel| {
            let at = ChannelAt::named(&snapshot, channel.name(), false).ok()?;
            let (cfg, _) = snapshot.channel(channel)?;
            Some(summary(&snapshot, cfg, &at))
        })
        .collect();
    Json(json!({ "channels": channels }))
}

pub(super) async fn get_channel(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    let snapshot = state.app.snapshot();
    let at = ChannelAt::named(&snapshot, &name, false)?;
    let (cfg, templates) = snapshot
        .channel(at.channel)
        .ok_or_else(|| AdminError::NotFound(format!("Channel '{name}' is not configured.")))?;
    let raw = running_raw(&snapshot);
    let written = at.written(&raw);
    let mut shown = summary(&snapshot, cfg, &at);
    shown["preset"] = if is_preset(written) {
        preset_view(written, cfg.preset.as_ref(), &snapshot.config.secrets)
    } else {
        Json_::Null
    };
    shown["written"] = if is_preset(written) {
        Json_::Null
    } else {
        written
            .and_then(|w| serde_json::to_value(w).ok())
            .unwrap_or(Json_::Null)
    };
    let rendered = requests_of(&snapshot, cfg, templates, &at);
    shown["data"] = rendered["data"].clone();
    shown["requests"] = rendered["requests"].clone();
    Ok(Json(shown))
}

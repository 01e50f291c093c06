//! `/api/channels/{channel}/preset`: a channel whose endpoints come from a provider preset
//! (`{ preset, base_url, vars }`), shown as a preset (name, base_url, vars as written, the
//! values in force with `${ENV}` secrets masked) with each of its endpoints rendered for sample
//! data, and changed (PUT replaces it, PATCH merges into it), validated as a reload, written
//! with `${ENV}` references kept as written, and applied.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};
use serde_yaml::{Mapping, Value};

use super::channels::{is_preset, requests_of, running_raw, ChannelAt};
use super::config_file::{read_raw, reloader, write_config};
use super::endpoints::merge_patch;
use super::error::{blocking, json_body, AdminError};
use super::AdminState;
use crate::config::PresetUse;
use crate::domain::Secrets;

/// A preset as the API shows it. `vars` are as written in `platform.yml` (`${ENV}` references
/// unresolved); `values` are every var in force, the preset's defaults included, with `${ENV}`
/// secrets masked. `running` is the preset the daemon runs on: absent (no description, no
/// values) when the file names a preset that a refused reload left unapplied.
pub(super) fn preset_view(
    written: Option<&Value>,
    running: Option<&PresetUse>,
    secrets: &Secrets,
) -> Json_ {
    let field = |key: &str| {
        written
            .and_then(|w| w.get(key))
            .and_then(|v| serde_json::to_value(v).ok())
            .unwrap_or(Json_::Null)
    };
    let name = match field("preset") {
        Json_::String(name) => name,
        _ => running.map(|p| p.name.clone()).unwrap_or_default(),
    };
    // The running preset describes this one only if it is the same.
    let running = running.filter(|p| p.name == name);
    let vars = match field("vars") {
        Json_::Null => json!({}),
        v => v,
    };
    let values: Map<String, Json_> = running
        .map(|p| {
            p.vars
                .iter()
                .map(|(k, v)| (k.clone(), json!(secrets.mask(v))))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": name,
        "description": running.map(|p| p.description.clone()).unwrap_or_default(),
        "reference": running.map(|p| p.reference.clone()).unwrap_or_default(),
        "base_url": field("base_url"),
        "vars": vars,
        "values": values,
    })
}

/// What a write gives: the preset's name, and optionally another origin and its vars.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PresetRequest {
    name: String,
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    vars: Option<Map<String, Json_>>,
}

fn not_a_preset(at: &ChannelAt) -> AdminError {
    AdminError::NotFound(format!(
        "{} does not name a preset: its endpoints are written out.",
        at.path()
    ))
}

/// The channel's preset as the running configuration has it, with its rendered requests.
fn shown(state: &AdminState, name: &str) -> Result<Json_, AdminError> {
    let snapshot = state.app.snapshot();
    let at = ChannelAt::named(&snapshot, name, false)?;
    let raw = running_raw(&snapshot);
    let written = at.written(&raw);
    let (cfg, templates) = snapshot
        .channel(at.channel)
        .ok_or_else(|| not_a_preset(&at))?;
    if !is_preset(written) {
        return Err(not_a_preset(&at));
    }
    let mut out = json!({
        "channel": at.channel.name(),
        "path": at.path(),
        "mode": cfg.mode.name(),
        "preset": preset_view(written, cfg.preset.as_ref(), &snapshot.config.secrets),
    });
    let rendered = requests_of(&snapshot, cfg, templates, &at);
    out["data"] = rendered["data"].clone();
    out["requests"] = rendered["requests"].clone();
    Ok(out)
}

pub(super) async fn get_preset(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    shown(&state, &name).map(Json)
}

/// The node of a preset write: the one written, changed in place (so that its keys keep their
/// order), or a new one.
fn preset_node(current: Option<&Value>, req: PresetRequest) -> Result<Value, AdminError> {
    let mut node = match current {
        Some(Value::Mapping(m)) if m.contains_key("preset") => m.clone(),
        _ => Mapping::new(),
    };
    node.insert("preset".into(), Value::from(req.name));
    match req.base_url {
        Some(url) => {
            node.insert("base_url".into(), Value::from(url));
        }
        None => {
            node.remove("base_url");
        }
    }
    match req.vars {
        Some(vars) if !vars.is_empty() => {
            let vars = serde_yaml::to_value(&vars)
                .map_err(|e| AdminError::BadRequest(format!("vars: {e}")))?;
            node.insert("vars".into(), vars);
        }
        _ => {
            node.remove("vars");
        }
    }
    Ok(Value::Mapping(node))
}

fn parse_request(body: Json_) -> Result<PresetRequest, AdminError> {
    serde_json::from_value(body).map_err(|e| {
        AdminError::BadRequest(format!(
            "The body must be a preset: {{\"name\", \"base_url\"?, \"vars\"?}} ({e})."
        ))
    })
}

/// Reads the file, changes the channel's node with `change`, validates, writes, applies.
async fn write_preset(
    state: AdminState,
    name: String,
    change: impl FnOnce(&ChannelAt, Option<&Value>) -> Result<Value, AdminError> + Send + 'static,
) -> Result<Json<Json_>, AdminError> {
    reloader(&state)?;
    let at = ChannelAt::named(&state.app.snapshot(), &name, true)?;
    let state_for_write = state.clone();
    blocking(move || {
        let state = state_for_write;
        let reloader = reloader(&state)?;
        let _writing = reloader.lock();
        let mut raw = read_raw(reloader.path())?;
        let node = change(&at, at.written(&raw))?;
        at.set_written(&mut raw, node)?;
        write_config(&state, &raw)
    })
    .await?;
    shown(&state, &name).map(Json)
}

pub(super) async fn put_preset(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req = parse_request(json_body(&body)?)?;
    write_preset(state, name, move |_, current| preset_node(current, req)).await
}

pub(super) async fn patch_preset(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let patch: Json_ = json_body(&body)?;
    write_preset(state, name, move |at, current| {
        let Some(current) = current.filter(|c| is_preset(Some(c))) else {
            return Err(not_a_preset(at));
        };
        let field = |key: &str| current.get(key).and_then(|v| serde_json::to_value(v).ok());
        let mut merged = json!({ "name": field("preset") });
        if let Some(url) = field("base_url") {
            merged["base_url"] = url;
        }
        if let Some(vars) = field("vars") {
            merged["vars"] = vars;
        }
        merge_patch(&mut merged, &patch);
        preset_node(Some(current), parse_request(merged)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(base_url: Option<&str>, vars: Json_) -> PresetRequest {
        PresetRequest {
            name: "plivo-sms".into(),
            base_url: base_url.map(String::from),
            vars: vars.as_object().cloned(),
        }
    }

    #[test]
    fn a_preset_write_changes_the_node_in_place_and_drops_what_is_not_given() {
        let current: Value = serde_yaml::from_str(
            "preset: twilio-sms\nvars: { from: x }\nbase_url: http://a.example\n",
        )
        .unwrap();

        let Ok(node) = preset_node(Some(&current), request(None, json!({"src": "1"}))) else {
            panic!("a valid request")
        };

        assert_eq!(
            serde_yaml::to_string(&node).unwrap(),
            "preset: plivo-sms\nvars:\n  src: '1'\n",
            "the keys keep their order; base_url, not given, is gone"
        );
        let Ok(fresh) = preset_node(None, request(Some("http://b.example"), json!({}))) else {
            panic!("a valid request")
        };
        assert_eq!(
            serde_yaml::to_string(&fresh).unwrap(),
            "preset: plivo-sms\nbase_url: http://b.example\n"
        );
    }
}

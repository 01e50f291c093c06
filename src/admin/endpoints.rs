//! `/api/endpoints`: the provider endpoints under `mfa.endpoints`, read as written in
//! `platform.yml` and changed there (PUT, RFC 7386 PATCH, DELETE), each change validated whole,
//! written atomically and applied. When `mfa.endpoints` names a preset, its endpoints are the
//! preset's: they are shown rendered for sample data, with the preset, and not changed here
//! (the preset's name, base_url and vars are, at `/api/channels/{channel}/preset`).

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::channels::{endpoint_ids, is_preset, requests_of, ChannelAt};
use super::config_file::{endpoints_of, read_raw, reloader, set_endpoint, write_config};
use super::error::{blocking, json_body, AdminError};
use super::presets::preset_view;
use super::AdminState;
use crate::snapshot::Snapshot;
use crate::template::EndpointId;

/// The endpoints an operator edits, under `mfa.endpoints`.
const EDITABLE: [&str; 3] = ["single", "challenge", "verify"];

/// `Ok` for an endpoint name the API edits, else an unknown resource naming the others.
pub(super) fn editable(name: &str) -> Result<(), AdminError> {
    if EDITABLE.contains(&name) {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!(
            "Unknown endpoint '{name}' (expected one of: {}).",
            EDITABLE.join(", ")
        )))
    }
}

fn to_json(v: &serde_yaml::Value) -> Json_ {
    serde_json::to_value(v).unwrap_or(Json_::Null)
}

fn not_configured(name: &str) -> AdminError {
    AdminError::NotFound(format!("Endpoint '{name}' is not configured."))
}

/// Where the primary channel is written, and whether `raw` makes it a preset.
fn primary(snapshot: &Snapshot, raw: &serde_yaml::Value) -> Result<(ChannelAt, bool), AdminError> {
    let at = ChannelAt::named(snapshot, snapshot.config.mfa.channel.name(), false)?;
    let preset = is_preset(at.written(raw));
    Ok((at, preset))
}

/// `mfa.endpoints` names a preset: its endpoints are not written out to change.
fn preset_refusal(raw: &serde_yaml::Value, at: &ChannelAt) -> AdminError {
    let name = at
        .written(raw)
        .and_then(|w| w.get("preset"))
        .and_then(|p| p.as_str())
        .unwrap_or("?");
    AdminError::BadRequest(format!(
        "{} names preset {name}: its endpoints are those of templates/providers/{name}.yml; \
         change its name, base_url or vars with PUT or PATCH /api/channels/{}/preset.",
        at.path(),
        at.channel.name()
    ))
}

pub(super) async fn list_endpoints(
    State(state): State<AdminState>,
) -> Result<Json<Json_>, AdminError> {
    let path = reloader(&state)?.path().to_path_buf();
    let raw = blocking(move || read_raw(&path)).await?;
    let snapshot = state.app.snapshot();
    let (at, preset) = primary(&snapshot, &raw)?;
    if !preset {
        let endpoints = to_json(&serde_yaml::Value::Mapping(endpoints_of(&raw)));
        return Ok(Json(json!({ "endpoints": endpoints })));
    }
    let cfg = &snapshot.config.mfa;
    let shown = preset_view(
        at.written(&raw),
        cfg.preset.as_ref(),
        &snapshot.config.secrets,
    );
    let rendered = requests_of(&snapshot, cfg, &snapshot.templates, &at);
    Ok(Json(json!({
        "preset": shown,
        "channel": at.channel.name(),
        "data": rendered["data"],
        "requests": rendered["requests"],
    })))
}

pub(super) async fn get_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let path = reloader(&state)?.path().to_path_buf();
    let raw = blocking(move || read_raw(&path)).await?;
    let snapshot = state.app.snapshot();
    let (at, preset) = primary(&snapshot, &raw)?;
    if !preset {
        return endpoints_of(&raw)
            .get(name.as_str())
            .map(|e| Json(to_json(e)))
            .ok_or_else(|| not_configured(&name));
    }
    let cfg = &snapshot.config.mfa;
    let configured = EndpointId::from_name(&name).filter(|id| endpoint_ids(cfg).contains(id));
    if configured.is_none() {
        return Err(not_configured(&name));
    }
    let rendered = requests_of(&snapshot, cfg, &snapshot.templates, &at);
    let mut shown = rendered["requests"][name.as_str()].clone();
    shown["preset"] = json!(cfg.preset.as_ref().map(|p| p.name.clone()));
    shown["data"] = rendered["data"].clone();
    Ok(Json(shown))
}

/// Refuses a change of an endpoint when `mfa.endpoints` names a preset. The caller holds the
/// configuration lock.
fn refuse_preset(state: &AdminState, raw: &serde_yaml::Value) -> Result<(), AdminError> {
    let (at, preset) = primary(&state.app.snapshot(), raw)?;
    if preset {
        return Err(preset_refusal(raw, &at));
    }
    Ok(())
}

pub(super) async fn put_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let endpoint: Json_ = json_body(&body)?;
    if !endpoint.is_object() {
        return Err(AdminError::BadRequest(
            "The body must be an endpoint object: {url, method, body, headers, success}.".into(),
        ));
    }
    reloader(&state)?;
    blocking(move || {
        let reloader = reloader(&state)?;
        let _writing = reloader.lock();
        let mut raw = read_raw(reloader.path())?;
        refuse_preset(&state, &raw)?;
        let value =
            serde_yaml::to_value(&endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
        set_endpoint(&mut raw, &name, Some(value))?;
        write_config(&state, &raw)?;
        Ok(Json(json!({ "endpoint": endpoint })))
    })
    .await
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes a key.
pub(super) fn merge_patch(target: &mut Json_, patch: &Json_) {
    let Json_::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Some(map) = target.as_object_mut() else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Json_::Null), value);
        }
    }
}

pub(super) async fn patch_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let patch: Json_ = json_body(&body)?;
    reloader(&state)?;
    blocking(move || {
        let reloader = reloader(&state)?;
        let _writing = reloader.lock();
        let mut raw = read_raw(reloader.path())?;
        refuse_preset(&state, &raw)?;
        let mut endpoint = endpoints_of(&raw)
            .get(name.as_str())
            .map(to_json)
            .ok_or_else(|| not_configured(&name))?;
        merge_patch(&mut endpoint, &patch);
        let value =
            serde_yaml::to_value(&endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
        set_endpoint(&mut raw, &name, Some(value))?;
        write_config(&state, &raw)?;
        Ok(Json(json!({ "endpoint": endpoint })))
    })
    .await
}

pub(super) async fn delete_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    reloader(&state)?;
    blocking(move || {
        let reloader = reloader(&state)?;
        let _writing = reloader.lock();
        let mut raw = read_raw(reloader.path())?;
        refuse_preset(&state, &raw)?;
        if !endpoints_of(&raw).contains_key(name.as_str()) {
            return Err(not_configured(&name));
        }
        set_endpoint(&mut raw, &name, None)?;
        write_config(&state, &raw)?;
        Ok(Json(json!({ "deleted": name })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_merges_objects_and_removes_nulls() {
        let mut target = json!({"url": "a", "headers": {"x": "1", "y": "2"}, "body": "b"});
        merge_patch(
            &mut target,
            &json!({"url": "c", "headers": {"y": null, "z": "3"}, "body": null}),
        );
        assert_eq!(target, json!({"url": "c", "headers": {"x": "1", "z": "3"}}));
    }
}

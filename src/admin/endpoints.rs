//! `/api/endpoints`: the provider endpoints under `mfa.endpoints`, read as written in
//! `platform.yml` and changed there (PUT, RFC 7386 PATCH, DELETE), each change validated whole,
//! written atomically and applied.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::config_file::{endpoints_of, read_raw, reloader, set_endpoint, write_config};
use super::error::{blocking, json_body, AdminError};
use super::AdminState;

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

pub(super) async fn list_endpoints(
    State(state): State<AdminState>,
) -> Result<Json<Json_>, AdminError> {
    let path = reloader(&state)?.path().to_path_buf();
    let raw = blocking(move || read_raw(&path)).await?;
    let endpoints = to_json(&serde_yaml::Value::Mapping(endpoints_of(&raw)));
    Ok(Json(json!({ "endpoints": endpoints })))
}

pub(super) async fn get_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let path = reloader(&state)?.path().to_path_buf();
    let raw = blocking(move || read_raw(&path)).await?;
    endpoints_of(&raw)
        .get(name.as_str())
        .map(|e| Json(to_json(e)))
        .ok_or_else(|| not_configured(&name))
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
        let value =
            serde_yaml::to_value(&endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
        set_endpoint(&mut raw, &name, Some(value))?;
        write_config(&state, &raw)?;
        Ok(Json(json!({ "endpoint": endpoint })))
    })
    .await
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` removes a key.
fn merge_patch(target: &mut Json_, patch: &Json_) {
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

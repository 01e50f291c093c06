//! `/api/preview` (the request an endpoint of a channel would send for sample data, saved or
//! edited, never sent) and `/api/test-send` (one real send through a configured channel).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use super::channels::{endpoint_ids, is_preset, running_raw, ChannelAt};
use super::destination::check_destination;
use super::endpoints::editable;
use super::error::{blocking, json_body, AdminError};
use super::AdminState;
use crate::config::{Mode, Source};
use crate::domain::Secrets;
use crate::snapshot::reload::ProblemView;
use crate::snapshot::Snapshot;
use crate::template::{self, EndpointId, Templates};

/// An endpoint rendered for sample data, as the preview answers it: the request (secrets
/// masked) with its warnings, and for a single endpoint the message and its SMS cost; or no
/// request and the problem, named at `path`.
pub(super) fn rendered(
    templates: &Templates,
    secrets: &Secrets,
    id: EndpointId,
    data: &Map<String, Json_>,
    path: &str,
) -> Json_ {
    match template::preview(templates, secrets, id, data) {
        Ok(preview) => json!({
            "request": preview.request,
            "problems": [],
            "warnings": preview.warnings,
            "message": preview.message,
            "sms": preview.sms,
        }),
        Err(e) => json!({
            "request": null,
            "problems": [{ "path": path, "message": e.to_string() }],
        }),
    }
}

#[derive(Deserialize)]
struct PreviewRequest {
    endpoint: Json_,
    #[serde(default)]
    name: Option<String>,
    /// `sms` or `email`: the primary channel when absent.
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Map<String, Json_>,
}

pub(super) async fn preview(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req: PreviewRequest = json_body(&body)?;
    let current = state.app.snapshot();
    let at = match &req.channel {
        Some(name) => ChannelAt::named(&current, name, false)?,
        None => ChannelAt::named(&current, current.config.mfa.channel.name(), false)?,
    };
    let (name, snapshot) = match &req.endpoint {
        Json_::String(name) => {
            editable(name)?;
            (name.clone(), current)
        }
        Json_::Object(_) => {
            let (cfg, _) = current
                .channel(at.channel)
                .ok_or_else(|| AdminError::NotFound(at.path()))?;
            let default_name = match cfg.mode {
                Mode::Single => "single",
                Mode::ChallengeVerify => "challenge",
            };
            let name = req.name.clone().unwrap_or_else(|| default_name.to_string());
            editable(&name)?;
            match edited(&state, &current, &at, &name, &req.endpoint).await? {
                Ok(s) => (name, s),
                Err(problems) => return Ok(Json(json!({ "request": null, "problems": problems }))),
            }
        }
        _ => {
            return Err(AdminError::BadRequest(
                "endpoint must be a name or an endpoint object.".into(),
            ))
        }
    };
    let (cfg, templates) = snapshot
        .channel(at.channel)
        .ok_or_else(|| AdminError::NotFound(at.path()))?;
    let id = EndpointId::from_name(&name).ok_or_else(|| AdminError::NotFound(name.clone()))?;
    if !endpoint_ids(cfg).contains(&id) {
        return Err(AdminError::NotFound(format!(
            "Endpoint '{name}' is not configured for {} ({} mode).",
            at.path(),
            cfg.mode.name()
        )));
    }
    let path = format!("{}.{name}", at.path());
    Ok(Json(rendered(
        templates,
        &snapshot.config.secrets,
        id,
        &req.data,
        &path,
    )))
}

/// The running configuration with one endpoint of a channel replaced by `endpoint`, loaded
/// (not applied), or its problems.
async fn edited(
    state: &AdminState,
    current: &Snapshot,
    at: &ChannelAt,
    name: &str,
    endpoint: &Json_,
) -> Result<Result<Arc<Snapshot>, Vec<ProblemView>>, AdminError> {
    let mut raw = running_raw(current);
    let written = at.written(&raw);
    if is_preset(written) {
        return Err(AdminError::BadRequest(format!(
            "{} names a preset: its endpoints are in the preset's file, not edited here.",
            at.path()
        )));
    }
    let mut node = written.cloned().unwrap_or(serde_yaml::Value::Null);
    if !node.is_mapping() {
        node = serde_yaml::Value::Mapping(Default::default());
    }
    let value =
        serde_yaml::to_value(endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    if let Some(m) = node.as_mapping_mut() {
        m.insert(name.into(), value);
    }
    at.set_written(&mut raw, node)?;
    let text = serde_yaml::to_string(&raw).map_err(|e| AdminError::Internal(e.to_string()))?;
    let base = state
        .reloader
        .as_ref()
        .and_then(|r| r.path().parent().map(FsPath::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let env = Arc::clone(&state.env);
    // Reads `templates/`: off the runtime.
    let loaded = blocking(move || Ok(Snapshot::load(&Source::text(text, &base), &*env))).await?;
    Ok(loaded
        .map(Arc::new)
        .map_err(|errors| errors.0.iter().map(ProblemView::from).collect()))
}

#[derive(Deserialize)]
struct TestSendRequest {
    /// `sms` or `email`: the primary channel when absent.
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    data: Map<String, Json_>,
}

pub(super) async fn test_send(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req: TestSendRequest = json_body(&body)?;
    let snapshot = state.app.snapshot();
    let (cfg, templates) = snapshot
        .channel_named(req.channel.as_deref())
        .map_err(AdminError::NotFound)?;
    let channel = cfg.channel;
    let endpoint = endpoint_ids(cfg)
        .first()
        .copied()
        .unwrap_or(EndpointId::Single);
    check_destination(
        &snapshot.config.mfa.user_data,
        channel,
        templates,
        endpoint,
        &req.data,
    )?;
    let user_data =
        crate::mfa::user_data::parse(&req.data.into(), &snapshot.config.mfa.user_data, true)?;
    let (reply, request) = state
        .app
        .mfa
        .test_send(&snapshot, channel, &user_data)
        .await?;
    crate::mfa::accepted(templates, &request, &reply)?;
    Ok(Json(json!({
        "sent": true,
        "channel": channel.name(),
        "status": reply.status,
        "request": request.describe(&snapshot.config.secrets),
    })))
}

//! `/api/preview` (the request an endpoint would send for sample data, saved or edited, never
//! sent) and `/api/test-send` (one real send through the configured provider).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value as Json_};

use super::config_file::set_endpoint;
use super::endpoints::editable;
use super::error::{blocking, json_body, AdminError};
use super::AdminState;
use crate::config::{Mode, Source};
use crate::snapshot::reload::ProblemView;
use crate::snapshot::Snapshot;
use crate::template::{self, EndpointId};

#[derive(Deserialize)]
struct PreviewRequest {
    endpoint: Json_,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: serde_json::Map<String, Json_>,
}

pub(super) async fn preview(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req: PreviewRequest = json_body(&body)?;
    let current = state.app.snapshot();
    let default_name = match current.config.mfa.mode {
        Mode::Single => "single",
        Mode::ChallengeVerify => "challenge",
    };
    let (name, snapshot) = match &req.endpoint {
        Json_::String(name) => {
            editable(name)?;
            (name.clone(), current)
        }
        Json_::Object(_) => {
            let name = req.name.clone().unwrap_or_else(|| default_name.to_string());
            editable(&name)?;
            let mut raw: serde_yaml::Value = serde_yaml::from_str(&current.source)
                .map_err(|e| AdminError::Internal(e.to_string()))?;
            let value = serde_yaml::to_value(&req.endpoint)
                .map_err(|e| AdminError::BadRequest(e.to_string()))?;
            set_endpoint(&mut raw, &name, Some(value))?;
            let text =
                serde_yaml::to_string(&raw).map_err(|e| AdminError::Internal(e.to_string()))?;
            let base = state
                .reloader
                .as_ref()
                .and_then(|r| r.path().parent().map(FsPath::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            let env = Arc::clone(&state.env);
            // Reads `templates/`: off the runtime.
            let loaded =
                blocking(move || Ok(Snapshot::load(&Source::text(text, &base), &*env))).await?;
            match loaded {
                Ok(s) => (name, Arc::new(s)),
                Err(errors) => {
                    let problems: Vec<ProblemView> =
                        errors.0.iter().map(ProblemView::from).collect();
                    return Ok(Json(json!({ "request": null, "problems": problems })));
                }
            }
        }
        _ => {
            return Err(AdminError::BadRequest(
                "endpoint must be a name or an endpoint object.".into(),
            ))
        }
    };
    let id = EndpointId::from_name(&name).ok_or_else(|| AdminError::NotFound(name.clone()))?;
    match template::preview(&snapshot.templates, &snapshot.config.secrets, id, &req.data) {
        Ok(preview) => Ok(Json(json!({
            "request": preview.request,
            "problems": [],
            "warnings": preview.warnings,
            "message": preview.message,
            "sms": preview.sms,
        }))),
        Err(e) => Ok(Json(json!({
            "request": null,
            "problems": [{ "path": format!("mfa.endpoints.{name}"), "message": e.to_string() }],
        }))),
    }
}

#[derive(Deserialize)]
struct TestSendRequest {
    #[serde(default)]
    data: serde_json::Map<String, Json_>,
}

pub(super) async fn test_send(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req: TestSendRequest = json_body(&body)?;
    let snapshot = state.app.snapshot();
    let body = req.data;
    let user_data =
        crate::mfa::user_data::parse(&body.into(), &snapshot.config.mfa.user_data, true)?;
    let (reply, request) = state.app.mfa.test_send(&snapshot, &user_data).await?;
    crate::mfa::accepted(&snapshot.templates, &request, &reply)?;
    Ok(Json(json!({
        "sent": true,
        "status": reply.status,
        "request": request.describe(&snapshot.config.secrets),
    })))
}

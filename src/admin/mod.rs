//! The admin listener: API (status, endpoints, templates, preview, test send, attempts log),
//! the web panel, `/health` and `/metrics`. Off the public port.
//!
//! Every write is validated exactly as a reload is, written to disk atomically (temporary file,
//! fsync, rename) with `${ENV}` references kept as written, then applied. An invalid write
//! answers 400 with every problem and changes nothing.

mod files;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value as Json_};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{EnvLookup, Mode, Problem, Source};
use crate::http::AppState;
use crate::mfa::FlowError;
use crate::snapshot::reload::{ProblemView, Reloader};
use crate::snapshot::Snapshot;
use crate::template::{self, EndpointId};

const INDEX_HTML: &str = include_str!("panel/index.html");
const PANEL_JS: &str = include_str!("panel/panel.js");
const PANEL_CSS: &str = include_str!("panel/panel.css");

/// The endpoints an operator edits, under `mfa.endpoints`.
const EDITABLE: [&str; 3] = ["single", "challenge", "verify"];

#[derive(Clone)]
pub struct AdminState {
    pub app: AppState,
    /// Absent when the daemon runs on a configuration that is not a file.
    pub reloader: Option<Arc<Reloader>>,
    pub started: Instant,
    /// How `${NAME}` references are resolved: as at start.
    pub env: Arc<EnvLookup>,
}

enum AdminError {
    Unauthorized,
    NotFound(String),
    BadRequest(String),
    NoFile,
    Invalid(Vec<Problem>),
    Flow(FlowError),
    Internal(String),
}

impl From<FlowError> for AdminError {
    fn from(e: FlowError) -> Self {
        AdminError::Flow(e)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, id, message, problems) = match self {
            AdminError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Give the admin token: Authorization: Bearer <token>.".to_string(),
                None,
            ),
            AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "unknown-resource", m, None),
            AdminError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "invalid-parameters-format",
                m,
                None,
            ),
            AdminError::NoFile => (
                StatusCode::CONFLICT,
                "no-configuration-file",
                "The daemon runs on a configuration that is not a file: nothing to edit."
                    .to_string(),
                None,
            ),
            AdminError::Invalid(problems) => (
                StatusCode::BAD_REQUEST,
                "invalid-configuration",
                format!(
                    "The change was refused: {} problem(s); nothing was changed.",
                    problems.len()
                ),
                Some(problems),
            ),
            AdminError::Flow(e) => return crate::http::ApiError::Flow(e).into_response(),
            AdminError::Internal(m) => {
                tracing::error!(reason = %m, "admin error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unexpected-error",
                    "Unexpected error.".to_string(),
                    None,
                )
            }
        };
        let mut error = json!({ "id": id, "message": message });
        if let Some(p) = problems {
            error["problems"] = json!(p.iter().map(ProblemView::from).collect::<Vec<_>>());
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}

pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/endpoints", get(list_endpoints))
        .route(
            "/api/endpoints/{name}",
            get(get_endpoint)
                .put(put_endpoint)
                .patch(patch_endpoint)
                .delete(delete_endpoint),
        )
        .route("/api/templates", get(list_templates))
        .route(
            "/api/templates/{*path}",
            get(get_template).put(put_template),
        )
        .route("/api/preview", post(preview))
        .route("/api/test-send", post(test_send))
        .route("/api/attempts", get(list_attempts))
        .route("/api/attempts/{id}", get(get_attempt))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(api)
        .route("/health", get(health))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/panel.js",
            get(|| async { asset("text/javascript; charset=utf-8", PANEL_JS) }),
        )
        .route(
            "/panel.css",
            get(|| async { asset("text/css; charset=utf-8", PANEL_CSS) }),
        )
        .fallback(|| async { AdminError::NotFound("Resource not found.".into()) })
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// A JSON body, or a 400 in the admin error shape.
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| AdminError::BadRequest(format!("The body must be JSON: {e}.")))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'",
            ),
        ],
        body,
    )
        .into_response()
}

/// Every API route needs the admin token of the configuration in force.
async fn require_token(
    State(state): State<AdminState>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let snapshot = state.app.snapshot();
    let expected = snapshot.config.admin.as_ref().map(|a| a.token_sha256);
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| -> [u8; 32] { Sha256::digest(t.trim().as_bytes()).into() });
    match (expected, given) {
        (Some(expected), Some(given)) if bool::from(expected.ct_eq(&given)) => {
            next.run(request).await
        }
        _ => AdminError::Unauthorized.into_response(),
    }
}

async fn health(State(state): State<AdminState>) -> Response {
    match state.app.mfa.store().attempts(1).await {
        Ok(_) => Json(json!({ "status": "ok", "storage": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "failing", "storage": "failing" })),
            )
                .into_response()
        }
    }
}

async fn metrics(State(state): State<AdminState>) -> Response {
    let metrics = &state.app.metrics;
    metrics
        .pending_sessions
        .set(state.app.mfa.store().pending_sessions() as i64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics.render(),
    )
        .into_response()
}

async fn status(State(state): State<AdminState>) -> Json<Json_> {
    let snapshot = state.app.snapshot();
    let c = &snapshot.config;
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptimeSeconds": state.started.elapsed().as_secs(),
        "configHash": snapshot.source_hash,
        "configPath": state.reloader.as_ref().map(|r| r.path().display().to_string()),
        "mode": if c.is_proxy() { "proxy" } else { "standalone" },
        "smsMode": c.mfa.mode.name(),
        "lastReload": state.reloader.as_ref().and_then(|r| r.status()),
    }))
}

// --- endpoints ------------------------------------------------------------------------------

fn reloader(state: &AdminState) -> Result<&Arc<Reloader>, AdminError> {
    state.reloader.as_ref().ok_or(AdminError::NoFile)
}

/// The configuration file as written (`${ENV}` references unresolved).
fn read_raw(path: &FsPath) -> Result<serde_yaml::Value, AdminError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AdminError::Internal(format!("cannot read {}: {e}", path.display())))?;
    serde_yaml::from_str(&text).map_err(|e| {
        AdminError::Invalid(vec![Problem {
            path: "platform.yml".into(),
            message: format!("not valid YAML: {e}"),
        }])
    })
}

fn endpoints_of(raw: &serde_yaml::Value) -> serde_yaml::Mapping {
    raw.get("mfa")
        .and_then(|m| m.get("endpoints"))
        .and_then(|e| e.as_mapping())
        .cloned()
        .unwrap_or_default()
}

fn to_json(v: &serde_yaml::Value) -> Json_ {
    serde_json::to_value(v).unwrap_or(Json_::Null)
}

fn editable(name: &str) -> Result<(), AdminError> {
    if EDITABLE.contains(&name) {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!(
            "Unknown endpoint '{name}' (expected one of: {}).",
            EDITABLE.join(", ")
        )))
    }
}

/// Sets (or with `None` removes) `mfa.endpoints.{name}` in a raw configuration.
fn set_endpoint(raw: &mut serde_yaml::Value, name: &str, endpoint: Option<serde_yaml::Value>) {
    let root = match raw {
        serde_yaml::Value::Mapping(m) => m,
        other => {
            *other = serde_yaml::Value::Mapping(Default::default());
            other.as_mapping_mut().expect("just made a mapping")
        }
    };
    let mfa = root
        .entry("mfa".into())
        .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
    if !mfa.is_mapping() {
        *mfa = serde_yaml::Value::Mapping(Default::default());
    }
    let endpoints = mfa
        .as_mapping_mut()
        .expect("a mapping")
        .entry("endpoints".into())
        .or_insert_with(|| serde_yaml::Value::Mapping(Default::default()));
    if !endpoints.is_mapping() {
        *endpoints = serde_yaml::Value::Mapping(Default::default());
    }
    let endpoints = endpoints.as_mapping_mut().expect("a mapping");
    match endpoint {
        Some(e) => {
            endpoints.insert(name.into(), e);
        }
        None => {
            endpoints.remove(name);
        }
    }
}

/// Validates a whole new configuration as a reload would, writes it atomically, applies it.
/// The caller holds the configuration lock since it read the file.
fn write_config(state: &AdminState, raw: &serde_yaml::Value) -> Result<(), AdminError> {
    let reloader = reloader(state)?;
    let text = serde_yaml::to_string(raw).map_err(|e| AdminError::Internal(e.to_string()))?;
    let base = reloader.path().parent().unwrap_or_else(|| FsPath::new("."));
    let snapshot = Snapshot::load(&Source::text(text.clone(), base), &*state.env)
        .map_err(|errors| AdminError::Invalid(errors.0))?;
    files::write_atomically(reloader.path(), text.as_bytes())
        .map_err(|e| AdminError::Internal(format!("writing the configuration failed: {e}")))?;
    reloader.apply(snapshot, state.app.mfa.now());
    Ok(())
}

async fn list_endpoints(State(state): State<AdminState>) -> Result<Json<Json_>, AdminError> {
    let raw = read_raw(reloader(&state)?.path())?;
    let endpoints = to_json(&serde_yaml::Value::Mapping(endpoints_of(&raw)));
    Ok(Json(json!({ "endpoints": endpoints })))
}

async fn get_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let raw = read_raw(reloader(&state)?.path())?;
    endpoints_of(&raw)
        .get(name.as_str())
        .map(|e| Json(to_json(e)))
        .ok_or_else(|| AdminError::NotFound(format!("Endpoint '{name}' is not configured.")))
}

async fn put_endpoint(
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
    let reloader = reloader(&state)?;
    let _writing = reloader.lock();
    let mut raw = read_raw(reloader.path())?;
    let value =
        serde_yaml::to_value(&endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    set_endpoint(&mut raw, &name, Some(value));
    write_config(&state, &raw)?;
    Ok(Json(json!({ "endpoint": endpoint })))
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
    let map = target.as_object_mut().expect("an object");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Json_::Null), value);
        }
    }
}

async fn patch_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let patch: Json_ = json_body(&body)?;
    let reloader = reloader(&state)?;
    let _writing = reloader.lock();
    let mut raw = read_raw(reloader.path())?;
    let mut endpoint = endpoints_of(&raw)
        .get(name.as_str())
        .map(to_json)
        .ok_or_else(|| AdminError::NotFound(format!("Endpoint '{name}' is not configured.")))?;
    merge_patch(&mut endpoint, &patch);
    let value =
        serde_yaml::to_value(&endpoint).map_err(|e| AdminError::BadRequest(e.to_string()))?;
    set_endpoint(&mut raw, &name, Some(value));
    write_config(&state, &raw)?;
    Ok(Json(json!({ "endpoint": endpoint })))
}

async fn delete_endpoint(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    editable(&name)?;
    let reloader = reloader(&state)?;
    let _writing = reloader.lock();
    let mut raw = read_raw(reloader.path())?;
    if !endpoints_of(&raw).contains_key(name.as_str()) {
        return Err(AdminError::NotFound(format!(
            "Endpoint '{name}' is not configured."
        )));
    }
    set_endpoint(&mut raw, &name, None);
    write_config(&state, &raw)?;
    Ok(Json(json!({ "deleted": name })))
}

// --- templates ------------------------------------------------------------------------------

async fn list_templates(State(state): State<AdminState>) -> Result<Json<Json_>, AdminError> {
    let dir = reloader(&state)?.templates_dir();
    let list = files::list(&dir).map_err(|e| AdminError::Internal(e.to_string()))?;
    // The compiled-in presets and messages: readable here, and replaced by a file written
    // under the same path.
    let builtin: Vec<&str> = crate::config::Library::builtin_paths().collect();
    Ok(Json(json!({ "templates": list, "builtin": builtin })))
}

fn template_path(state: &AdminState, path: &str) -> Result<PathBuf, AdminError> {
    let dir = reloader(state)?.templates_dir();
    files::resolve(&dir, path).ok_or_else(|| {
        AdminError::BadRequest(
            "Invalid template path: it must name a file under templates/.".into(),
        )
    })
}

async fn get_template(
    State(state): State<AdminState>,
    Path(path): Path<String>,
) -> Result<Response, AdminError> {
    let file = template_path(&state, &path)?;
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match crate::config::Library::builtin().get(&path) {
                Some(f) => Ok((
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    f.text.clone(),
                )
                    .into_response()),
                None => Err(AdminError::NotFound(format!("No template file '{path}'."))),
            }
        }
        Err(e) => Err(AdminError::Internal(e.to_string())),
    }
}

async fn put_template(
    State(state): State<AdminState>,
    Path(path): Path<String>,
    body: String,
) -> Result<Json<Json_>, AdminError> {
    let file = template_path(&state, &path)?;
    // Checked before anything is written: a refused template changes nothing.
    if let Err(e) = handlebars::template::Template::compile(&body) {
        return Err(AdminError::Invalid(vec![Problem {
            path: format!("templates/{path}"),
            message: template::describe_parse_error(&e),
        }]));
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| AdminError::Internal(e.to_string()))?;
    }
    let reloader = reloader(&state)?;
    {
        let _writing = reloader.lock();
        // A preset or message the configuration uses is checked with it: a change that the
        // reload would refuse is refused here, and nothing is written.
        let current = state.app.snapshot();
        let base = reloader.path().parent().unwrap_or(FsPath::new("."));
        let mut source = Source::text(current.source.clone(), base);
        source
            .library
            .insert(&path, format!("templates/{path}"), body.clone());
        if let Err(errors) = Snapshot::load(&source, &*state.env) {
            return Err(AdminError::Invalid(errors.0));
        }
        files::write_atomically(&file, body.as_bytes())
            .map_err(|e| AdminError::Internal(e.to_string()))?;
    }
    reloader.reload(state.app.mfa.now(), false);
    Ok(Json(json!({ "path": path })))
}

// --- preview and test send ------------------------------------------------------------------

#[derive(Deserialize)]
struct PreviewRequest {
    endpoint: Json_,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    data: serde_json::Map<String, Json_>,
}

async fn preview(
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
            set_endpoint(&mut raw, &name, Some(value));
            let text =
                serde_yaml::to_string(&raw).map_err(|e| AdminError::Internal(e.to_string()))?;
            let base = state
                .reloader
                .as_ref()
                .and_then(|r| r.path().parent().map(FsPath::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            match Snapshot::load(&Source::text(text, &base), &*state.env) {
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

async fn test_send(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<Json<Json_>, AdminError> {
    let req: TestSendRequest = json_body(&body)?;
    let snapshot = state.app.snapshot();
    let body = req.data;
    let user_data = crate::mfa::user_data::parse(&body, &snapshot.config.mfa.user_data, true)?;
    let (reply, request) = state.app.mfa.test_send(&snapshot, &user_data).await?;
    crate::mfa::accepted(&snapshot.templates, &request, &reply)?;
    Ok(Json(json!({
        "sent": true,
        "status": reply.status,
        "request": request.describe(&snapshot.config.secrets),
    })))
}

// --- attempts log ---------------------------------------------------------------------------

async fn list_attempts(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Json_>, AdminError> {
    let limit = match query.as_deref().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "limit")
            .map(|(_, v)| v.into_owned())
    }) {
        None => 100,
        Some(v) => v.parse::<usize>().map_err(|_| {
            AdminError::BadRequest("limit must be a whole number from 1 to 1000.".into())
        })?,
    }
    .clamp(1, 1000);
    let attempts = state
        .app
        .mfa
        .store()
        .attempts(limit)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    let summary: Vec<Json_> = attempts
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "time": a.time, "username": a.username, "route": a.route,
                "outcome": a.outcome, "reason": a.reason,
            })
        })
        .collect();
    Ok(Json(json!({ "attempts": summary })))
}

async fn get_attempt(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    state
        .app
        .mfa
        .store()
        .attempt(&id)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
        .map(|a| Json(json!(a)))
        .ok_or_else(|| AdminError::NotFound(format!("No attempt '{id}'.")))
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

//! The admin listener: API (status, endpoints, channels and presets, templates, preview, test
//! send, attempts log, users), the web panel, `/health` and `/metrics`. Off the public port.
//!
//! Every write is validated exactly as a reload is, written to disk atomically (temporary file,
//! fsync, rename) with `${ENV}` references kept as written, then applied. An invalid write
//! answers 400 with every problem and changes nothing.

mod attempts;
mod author;
pub mod backup;
mod channels;
mod config_backup;
mod config_file;
mod config_versions;
mod destination;
mod endpoints;
mod error;
mod events;
mod files;
mod list_query;
mod messages;
mod openapi;
mod presets;
mod preview;
mod templates;
mod users;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value as Json_};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::EnvLookup;
use crate::http::{AppState, StorageState};
use crate::snapshot::reload::Reloader;
use attempts::{get_attempt, list_attempts};
use channels::{get_channel, list_channels};
use endpoints::{delete_endpoint, get_endpoint, list_endpoints, patch_endpoint, put_endpoint};
use error::AdminError;
use presets::{get_preset, patch_preset, put_preset};
use preview::{preview, test_send};
use templates::{get_template, list_templates, put_template};

const INDEX_HTML: &str = include_str!("panel/index.html");
const PANEL_JS: &str = include_str!("panel/panel.js");
const PANEL_CSS: &str = include_str!("panel/panel.css");
const USERS_JS: &str = include_str!("panel/users.js");
const MESSAGES_JS: &str = include_str!("panel/messages.js");
const EVENTS_JS: &str = include_str!("panel/events.js");

/// What every admin handler reads: the running application, the file it came from, the
/// `${NAME}` lookup of its configuration.
#[derive(Clone)]
pub struct AdminState {
    pub app: AppState,
    /// Absent when the daemon runs on a configuration that is not a file.
    pub reloader: Option<Arc<Reloader>>,
    pub started: Instant,
    /// How `${NAME}` references are resolved: as at start.
    pub env: Arc<EnvLookup>,
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
        .route("/api/channels", get(list_channels))
        .route("/api/channels/{channel}", get(get_channel))
        .route(
            "/api/channels/{channel}/preset",
            get(get_preset).put(put_preset).patch(patch_preset),
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
        .route("/api/messages", get(messages::list_messages))
        .route("/api/messages/{id}", get(messages::get_message))
        .route("/api/events", get(events::list_events))
        .route("/api/users/{username}", get(users::lookup))
        .route("/api/users/{username}/reset", post(users::reset))
        .route("/api/users/{username}/clear-wait", post(users::clear_wait))
        .route(
            "/api/users/{username}/enrolment-code",
            post(users::enrolment_code),
        )
        .route("/api/backup", post(backup::backup))
        .route("/api/config/versions", get(config_versions::list_versions))
        .route(
            "/api/config/versions/{n}",
            get(config_versions::get_version),
        )
        .route(
            "/api/config/versions/{n}/rollback",
            post(config_versions::rollback),
        )
        .route("/metrics", get(metrics))
        // Inside the token check: an action is recorded with the token's name.
        .route_layer(middleware::from_fn_with_state(state.clone(), users::record))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .merge(api)
        .route("/health", get(health))
        .route("/openapi.json", get(openapi::openapi))
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
            "/users.js",
            get(|| async { asset("text/javascript; charset=utf-8", USERS_JS) }),
        )
        .route(
            "/messages.js",
            get(|| async { asset("text/javascript; charset=utf-8", MESSAGES_JS) }),
        )
        .route(
            "/events.js",
            get(|| async { asset("text/javascript; charset=utf-8", EVENTS_JS) }),
        )
        .route(
            "/panel.css",
            get(|| async { asset("text/css; charset=utf-8", PANEL_CSS) }),
        )
        .fallback(|| async { AdminError::NotFound("Resource not found.".into()) })
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
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

/// The name of the admin token a request came with (`admin.tokens`): what the attempts log
/// records for an admin action. Put in the request's extensions by [`require_token`].
#[derive(Debug, Clone)]
struct AdminName(String);

/// Every API route needs one of the admin tokens of the configuration in force; the request
/// goes on with the token's name ([`AdminName`]).
async fn require_token(
    State(state): State<AdminState>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Response {
    let action = format!("{} {}", request.method(), request.uri().path());
    let snapshot = state.app.snapshot();
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| -> [u8; 32] { Sha256::digest(t.trim().as_bytes()).into() });
    let (Some(admin), Some(given)) = (snapshot.config.admin.as_ref(), given) else {
        return AdminError::Unauthorized.into_response();
    };
    // Every token is compared, in constant time, whichever matches.
    let mut matched = None;
    for token in &admin.tokens {
        if bool::from(token.token_sha256.ct_eq(&given)) && matched.is_none() {
            matched = Some(token.name.clone());
        }
    }
    match matched {
        Some(name) => {
            request.extensions_mut().insert(AdminName(name.clone()));
            author::scope(author::Author { name, action }, next.run(request)).await
        }
        None => AdminError::Unauthorized.into_response(),
    }
}

/// `GET /health`: the process is alive (a liveness probe: 200 whatever the database does, for
/// restarting an instance does not bring a database back), with what storage does. 503 only
/// when the store itself fails (not a database out of reach): a restart may then help.
async fn health(State(state): State<AdminState>) -> Response {
    let storage = storage_state(&state).await;
    match storage {
        StorageState::Ok | StorageState::Unavailable => {
            Json(json!({ "status": "ok", "storage": storage.name() })).into_response()
        }
        StorageState::Failing => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "failing", "storage": storage.name() })),
        )
            .into_response(),
    }
}

/// What storage does now, as the public `/ready` sees it (the same probe, shared).
async fn storage_state(state: &AdminState) -> StorageState {
    let app = &state.app;
    app.readiness
        .storage(app.mfa.store().as_ref(), &app.metrics)
        .await
}

async fn metrics(State(state): State<AdminState>) -> Response {
    // Sets the readiness gauge, from a probe at most a quarter second old.
    storage_state(&state).await;
    let metrics = &state.app.metrics;
    metrics
        .pending_sessions
        .set(state.app.mfa.store().pending_sessions() as i64);
    state
        .app
        .mfa
        .publish_breakers(&state.app.snapshot(), metrics);
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
        "storage": storage_state(&state).await.name(),
        "configHash": snapshot.source_hash,
        "configPath": state.reloader.as_ref().map(|r| r.path().display().to_string()),
        "mode": if c.is_proxy() { "proxy" } else { "standalone" },
        "smsMode": c.mfa.mode.name(),
        "storageBackend": c.storage.backend.name(),
        "lastReload": state.reloader.as_ref().and_then(|r| r.status()),
        // The shared configuration's version this instance runs (postgres only).
        "configVersion": config_versions::shared_config(&state).and_then(|s| s.running()),
        // Every provider with its circuit breaker (this instance's).
        "providers": state.app.mfa.provider_status(&snapshot),
    }))
}

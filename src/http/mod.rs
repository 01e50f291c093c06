//! The public listener: Pryv-compatible routes over [`crate::mfa`].

mod auth;
mod error;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;

use crate::domain::{AccessToken, Username};
use crate::metrics::Metrics;
use crate::mfa::{LoginOutcome, Mfa, Verified};
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::store::AttemptRecord;
use crate::upstream::ClientHeaders;

pub use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub snapshot: SharedSnapshot,
    pub mfa: Mfa,
    pub metrics: Metrics,
}

impl AppState {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.current()
    }
}

const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/{username}/login", post(login))
        .route("/{username}/mfa/activate", post(activate))
        .route("/{username}/mfa/confirm", post(confirm))
        .route("/{username}/mfa/challenge", post(challenge))
        .route("/{username}/mfa/verify", post(verify))
        .route("/{username}/mfa/deactivate", post(deactivate))
        .route("/{username}/mfa/recover", post(recover))
        .route("/{username}/mfa", get(status))
        .route("/{username}/mfa/recovery-codes", post(recovery_codes))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// One log line per request (method, route pattern, status, milliseconds; never the query
/// string, which may hold a token, nor the body), its metrics, and, for a route that names a
/// user, an entry in the attempts log.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let username = route
        .as_deref()
        .filter(|r| r.starts_with("/{username}"))
        .and_then(|_| request.uri().path().split('/').nth(1))
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(Username::MAX_LEN)
                .collect::<String>()
        });
    let route = route.unwrap_or_else(|| "(no route)".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    tracing::info!(
        method = %method,
        route = %route,
        status,
        ms = format!("{ms:.1}"),
        "request"
    );
    let outcome = response.extensions().get::<error::Outcome>().cloned();
    let outcome_id = outcome.as_ref().map_or("ok", |o| o.id.as_str());
    state
        .metrics
        .requests
        .with_label_values(&[route.as_str(), &status.to_string()])
        .inc();
    if route.ends_with("/mfa/verify") || route.ends_with("/mfa/confirm") {
        state
            .metrics
            .verifies
            .with_label_values(&[outcome_id])
            .inc();
    }
    if let Some(username) = username {
        let record = AttemptRecord {
            id: String::new(),
            time: state.mfa.now(),
            username,
            method: method.to_string(),
            route,
            status,
            outcome: outcome_id.to_string(),
            reason: outcome.map(|o| o.message).unwrap_or_default(),
            duration_ms: (ms * 10.0).round() / 10.0,
        };
        if let Err(e) = state.mfa.store().log_attempt(record).await {
            tracing::error!(error = %e, "writing the attempts log failed");
        }
    }
    response
}

/// What every route reads from a request.
struct Call {
    snapshot: Arc<Snapshot>,
    username: Username,
    token: Option<AccessToken>,
    client: ClientHeaders,
}

impl FromRequestParts<AppState> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Call, ApiError> {
        let Path(raw_username) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::InvalidUsername)?;
        let snapshot = state.snapshot();
        let username = Username::parse(&raw_username, &snapshot.config.server.username_pattern)
            .ok_or(ApiError::InvalidUsername)?;
        let auth = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "auth")
                .map(|(_, v)| v.into_owned())
        });
        let headers = &parts.headers;
        let header_text = |name: header::HeaderName| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        Ok(Call {
            username,
            token: auth::token(headers, auth.as_deref()),
            client: ClientHeaders {
                origin: header_text(header::ORIGIN),
                referer: header_text(header::REFERER),
                content_type: header_text(header::CONTENT_TYPE),
            },
            snapshot,
        })
    }
}

/// A JSON object body; an empty body is an empty object.
fn object(body: &Bytes) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(ApiError::InvalidBody),
    }
}

/// The `code` of a confirm or verify body (a string, or a number as some clients send it).
fn code_of(body: &Bytes) -> Result<Option<String>, ApiError> {
    Ok(match object(body)?.remove("code") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(_) => Some(String::new()),
    })
}

fn found(mfa_token: String) -> Response {
    (StatusCode::FOUND, Json(json!({ "mfaToken": mfa_token }))).into_response()
}

fn deactivated() -> Response {
    (
        StatusCode::OK,
        Json(json!({ "message": "MFA deactivated." })),
    )
        .into_response()
}

async fn login(State(state): State<AppState>, c: Call, body: Bytes) -> Result<Response, ApiError> {
    let outcome = state
        .mfa
        .login(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok(match outcome {
        LoginOutcome::MfaRequired { mfa_token, methods } => (
            StatusCode::FOUND,
            Json(json!({ "mfaToken": mfa_token, "methods": methods })),
        )
            .into_response(),
        LoginOutcome::Passed(reply) => error::passthrough(reply),
        LoginOutcome::Inactive => {
            (StatusCode::OK, Json(json!({ "mfa": "inactive" }))).into_response()
        }
    })
}

async fn activate(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = object(&body)?;
    let activation = state
        .mfa
        .activate(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok(match activation.totp {
        None => found(activation.mfa_token),
        // What an authenticator app needs: the secret, the otpauth:// URI and its QR code.
        Some(t) => (
            StatusCode::FOUND,
            Json(json!({
                "mfaToken": activation.mfa_token,
                "secret": t.secret_base32,
                "uri": t.uri,
                "qr": t.qr,
            })),
        )
            .into_response(),
    })
}

async fn confirm(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let code = code_of(&body)?;
    let (codes, methods) = state
        .mfa
        .confirm(&c.snapshot, &c.username, c.token.as_ref(), code)
        .await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "recoveryCodes": codes, "methods": methods })),
    )
        .into_response())
}

async fn challenge(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Pryv's challenge takes no body: one that is not a JSON object is ignored as Pryv did.
    let method = match object(&body).ok().and_then(|mut b| b.remove("method")) {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(m)) => Some(m),
        Some(_) => return Err(ApiError::InvalidBody),
    };
    let method = state
        .mfa
        .challenge(&c.snapshot, &c.username, c.token.as_ref(), method)
        .await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "message": "Please verify the MFA challenge.", "method": method })),
    )
        .into_response())
}

async fn verify(State(state): State<AppState>, c: Call, body: Bytes) -> Result<Response, ApiError> {
    let code = code_of(&body)?;
    let verified = state
        .mfa
        .verify(&c.snapshot, &c.username, c.token.as_ref(), code)
        .await?;
    Ok(match verified {
        Verified::Grant(reply) => error::passthrough(reply),
        Verified::User(user) => (
            StatusCode::OK,
            Json(json!({ "verified": true, "username": user.as_str() })),
        )
            .into_response(),
    })
}

async fn deactivate(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = object(&body)?;
    let left = state
        .mfa
        .deactivate(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok(match left {
        Some(methods) if !methods.is_empty() => (
            StatusCode::OK,
            Json(json!({ "message": "MFA method removed.", "methods": methods })),
        )
            .into_response(),
        _ => deactivated(),
    })
}

async fn status(State(state): State<AppState>, c: Call) -> Result<Response, ApiError> {
    let status = state
        .mfa
        .status(&c.snapshot, &c.username, c.token.as_ref(), &c.client)
        .await?;
    Ok((StatusCode::OK, Json(status)).into_response())
}

async fn recovery_codes(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = object(&body)?;
    let codes = state
        .mfa
        .new_recovery_codes(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok((StatusCode::OK, Json(json!({ "recoveryCodes": codes }))).into_response())
}

async fn recover(
    State(state): State<AppState>,
    c: Call,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = object(&body)?;
    state
        .mfa
        .recover(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok(deactivated())
}

//! The public listener: Pryv-compatible routes over [`crate::mfa`].

mod auth;
mod error;
mod observe;
mod routes;
mod wire;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::domain::{AccessToken, Username};
use crate::metrics::Metrics;
use crate::mfa::Mfa;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::upstream::ClientHeaders;

use routes::{
    activate, challenge, confirm, deactivate, login, recover, recovery_codes, status, verify,
};

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
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
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

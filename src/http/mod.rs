//! The public listener: Pryv-compatible routes over [`crate::mfa`].

mod auth;
mod body;
mod challenge_state;
mod error;
mod observe;
mod readiness;
mod receipts;
mod routes;
mod unwind;
mod wire;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
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

use error::Unreadable;
pub use error::{ApiError, Outcome, STORAGE_RETRY_AFTER_SECONDS};
pub use readiness::{Readiness, StorageState};

#[derive(Clone)]
pub struct AppState {
    pub snapshot: SharedSnapshot,
    pub mfa: Mfa,
    pub metrics: Metrics,
    /// Whether storage answers (`/ready`, and `/health` and `/api/status` on the admin port).
    pub readiness: Readiness,
}

impl AppState {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.current()
    }
}

/// The largest request body a route reads (bytes): more is `413 request-too-large`.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The public routes, and `/ready` ([`readiness`]). Whatever refuses a request answers a Pryv-style error with its
/// [`error::Outcome`]: a route's own checks, the body extractors ([`body`]), the fallbacks
/// for an unknown route and for a known route with another method, and a handler's panic.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/{username}/login", post(login))
        .route("/{username}/mfa/activate", post(activate))
        .route("/{username}/mfa/confirm", post(confirm))
        .route(
            "/{username}/mfa/challenge",
            post(challenge).get(challenge_state::challenge_state),
        )
        .route(
            "/receipts/{provider}",
            post(receipts::receive).get(receipts::receive),
        )
        .route("/{username}/mfa/verify", post(verify))
        .route("/{username}/mfa/deactivate", post(deactivate))
        .route("/{username}/mfa/recover", post(recover))
        .route("/{username}/mfa", get(status))
        .route("/{username}/mfa/recovery-codes", post(recovery_codes))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(observe::ObserveLayer::new(state.clone()))
        // After the layers: a probe polled every second is neither logged nor counted.
        .route(
            "/ready",
            get(readiness::ready).fallback(|| async { ApiError::MethodNotAllowed }),
        )
        .with_state(state)
}

/// A header the server reads (and may forward to the upstream): absent, or printable ASCII;
/// anything else is refused, never silently dropped.
fn readable(
    headers: &header::HeaderMap,
    name: header::HeaderName,
    said: &'static str,
) -> Result<Option<String>, Unreadable> {
    headers
        .get(name)
        .map(|v| v.to_str().map(String::from))
        .transpose()
        .map_err(|_| Unreadable::Header(said))
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
        let headers = &parts.headers;
        Ok(Call {
            username,
            token: auth::token(headers, parts.uri.query())?,
            client: ClientHeaders {
                origin: readable(headers, header::ORIGIN, "Origin")?,
                referer: readable(headers, header::REFERER, "Referer")?,
                content_type: readable(headers, header::CONTENT_TYPE, "Content-Type")?,
            },
            snapshot,
        })
    }
}

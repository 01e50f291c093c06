//! The admin API's errors and their one mapping to answers: `{"error": {id, message,
//! problems?}}`, except flow errors, which answer as on the public port.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::config::Problem;
use crate::http::Outcome;
use crate::mfa::FlowError;
use crate::snapshot::reload::ProblemView;

/// Why an admin request was not done.
pub(super) enum AdminError {
    Unauthorized,
    NotFound(String),
    /// Nothing is known of the user an admin route names (404 `unknown-user`).
    UnknownUser(String),
    /// The user has no MFA enrolment for the action to change (409 `mfa-not-active`).
    NotEnrolled(String),
    BadRequest(String),
    /// A body (or a file asked for) over its size limit.
    TooLarge(String),
    /// The daemon runs on a configuration that is not a file.
    NoFile,
    /// The change would make an invalid configuration: every problem.
    Invalid(Vec<Problem>),
    Flow(FlowError),
    /// The change was made on a configuration another instance changed meanwhile (409
    /// `config-changed`): read it again and retry.
    ConfigChanged(String),
    /// The configuration is not shared (no `storage.backend: postgres`): no versions to show.
    NotShared,
    /// The configuration database did not answer (503 `storage-unavailable`, `Retry-After`).
    Unavailable(String),
    /// Logged with its reason; the answer says no more than "unexpected".
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
            AdminError::UnknownUser(m) => (StatusCode::NOT_FOUND, "unknown-user", m, None),
            AdminError::NotEnrolled(m) => (StatusCode::CONFLICT, "mfa-not-active", m, None),
            AdminError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "invalid-parameters-format",
                m,
                None,
            ),
            AdminError::TooLarge(m) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "request-too-large", m, None)
            }
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
            AdminError::ConfigChanged(m) => (StatusCode::CONFLICT, "config-changed", m, None),
            AdminError::NotShared => (
                StatusCode::CONFLICT,
                "no-shared-configuration",
                "The configuration is not shared between instances (storage.backend is not \
                 postgres): it has no versions."
                    .to_string(),
                None,
            ),
            AdminError::Unavailable(m) => {
                tracing::error!(reason = %m, "admin: the configuration database is unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage-unavailable",
                    "The configuration database is unavailable; nothing was changed. Retry."
                        .to_string(),
                    None,
                )
            }
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
        let outcome = Outcome {
            id: id.to_string(),
            message: message.clone(),
        };
        let mut error = json!({ "id": id, "message": message });
        if let Some(p) = problems {
            error["problems"] = json!(p.iter().map(ProblemView::from).collect::<Vec<_>>());
        }
        let mut response = (status, Json(json!({ "error": error }))).into_response();
        // For the attempts log of admin actions, as the public port's errors carry it.
        response.extensions_mut().insert(outcome);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read: the connection cannot carry another request.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A JSON body, or a 400 in the admin error shape.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AdminError> {
    serde_json::from_slice(body)
        .map_err(|e| AdminError::BadRequest(format!("The body must be JSON: {e}.")))
}

/// Runs blocking work (file reads and writes, a whole configuration load) on the blocking
/// pool, off the runtime's threads.
pub(super) async fn blocking<T, F>(work: F) -> Result<T, AdminError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AdminError> + Send + 'static,
{
    // Who asked goes along: a configuration change published there is recorded with it.
    let author = super::author::current();
    tokio::task::spawn_blocking(move || super::author::within(author, work))
        .await
        .map_err(|e| AdminError::Internal(format!("admin task failed: {e}")))?
}

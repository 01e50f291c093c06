//! The one place where errors become HTTP answers: `{"error": {"id", "message"}}`, Pryv's ids.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::mfa::FlowError;
use crate::provider::Reply;

#[derive(Debug)]
pub enum ApiError {
    Flow(FlowError),
    InvalidUsername,
    InvalidBody,
    NotFound,
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> Self {
        ApiError::Flow(e)
    }
}

/// How a request ended, for the attempts log and metrics: set on every error response.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub message: String,
}

fn tagged(mut response: Response, id: &str, message: &str) -> Response {
    response.extensions_mut().insert(Outcome {
        id: id.to_string(),
        message: message.to_string(),
    });
    response
}

fn error(status: StatusCode, id: &str, message: &str) -> Response {
    tagged(
        (
            status,
            axum::Json(json!({ "error": { "id": id, "message": message } })),
        )
            .into_response(),
        id,
        message,
    )
}

/// The upstream's own answer, passed through as it came.
pub fn passthrough(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, reply.body).into_response();
    if let Some(ct) = reply
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let flow = match self {
            ApiError::InvalidUsername => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-parameters-format",
                    "Invalid username.",
                )
            }
            ApiError::InvalidBody => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-request-structure",
                    "The request body must be a JSON object.",
                )
            }
            ApiError::NotFound => {
                return error(
                    StatusCode::NOT_FOUND,
                    "unknown-resource",
                    "Resource not found.",
                )
            }
            ApiError::Flow(f) => f,
        };
        match flow {
            FlowError::MissingToken => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Missing 'Authorization' header or 'auth' query parameter.",
            ),
            FlowError::InvalidSession => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Invalid MFA session token.",
            ),
            FlowError::SessionLocked => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Too many wrong codes. Please log in again.",
            ),
            FlowError::StepUpRequired(hint) => error(
                StatusCode::BAD_REQUEST,
                "step-up-required",
                &format!("This operation needs a step-up: {hint}."),
            ),
            FlowError::TooManyAttempts { remaining } => {
                let remaining = remaining.max(1);
                let message = format!("Too many attempts: try again in {remaining} seconds.");
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    axum::Json(json!({ "error": {
                        "id": "too-many-attempts",
                        "message": message,
                        "remainingDelay": remaining,
                    }})),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(remaining));
                tagged(response, "too-many-attempts", &message)
            }
            FlowError::InvalidApiKey => {
                error(StatusCode::FORBIDDEN, "forbidden", "Invalid access token.")
            }
            FlowError::NotPersonal => error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "You cannot access this resource using the given access token.",
            ),
            FlowError::MissingParameter(name) => error(
                StatusCode::BAD_REQUEST,
                "invalid-request-structure",
                &format!("Missing parameter: {name}."),
            ),
            FlowError::InvalidParameter(message) => error(
                StatusCode::BAD_REQUEST,
                "invalid-parameters-format",
                &message,
            ),
            FlowError::InvalidCode => error(
                StatusCode::BAD_REQUEST,
                "invalid-code",
                "The provided code is invalid.",
            ),
            FlowError::InvalidRecoveryCode => error(
                StatusCode::BAD_REQUEST,
                "invalid-parameters-format",
                "Invalid recovery code.",
            ),
            FlowError::Messaging(reason) => error(
                StatusCode::BAD_REQUEST,
                "messaging-server-error",
                &format!("Error from messaging service: {reason}."),
            ),
            FlowError::UpstreamRefused(reply) => {
                let message = format!("The upstream answered {}.", reply.status);
                tagged(passthrough(reply), "upstream-refused", &message)
            }
            FlowError::UpstreamUnavailable(reason) => {
                tracing::error!(%reason, "upstream unavailable");
                error(
                    StatusCode::BAD_GATEWAY,
                    "upstream-unavailable",
                    "The login service could not be reached.",
                )
            }
            FlowError::Internal(reason) => {
                tracing::error!(%reason, "internal error");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "unexpected-error",
                    "Unexpected error.",
                )
            }
        }
    }
}

//! The one place where errors become HTTP answers: `{"error": {"id", "message"}}`, Pryv's ids,
//! and every sentence a client reads about its mistake (the flows carry data, not words).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::mfa::{FlowError, Invalid, Messaging, StepUpNeeded};
use crate::provider::Reply;

/// A refusal of the HTTP layer, or a flow's error: each variant is one answer.
#[derive(Debug)]
pub enum ApiError {
    Flow(FlowError),
    /// The username segment is not UTF-8 once decoded, or does not match the pattern.
    InvalidUsername,
    /// The body is JSON, but not an object.
    InvalidBody,
    /// The body is not JSON: where the parser stopped.
    MalformedJson {
        line: usize,
        column: usize,
    },
    /// The body is over the size limit (bytes).
    TooLarge {
        limit: usize,
    },
    /// The body declares a content type that is not JSON, on a route that reads JSON.
    UnsupportedMediaType,
    /// The body could not be read to its end (the client broke it off, or a bad chunk).
    UnreadableBody,
    /// A header or parameter the server reads is there but cannot be read.
    Unreadable(Unreadable),
    /// A known route, another method (the `Allow` header lists the methods it takes).
    MethodNotAllowed,
    NotFound,
}

/// What the server reads of a request and cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// A header that is not printable ASCII (its name, as the answer says it).
    Header(&'static str),
    /// `Authorization: Basic` with credentials that are not base64 of UTF-8 text.
    BasicCredentials,
    /// An `auth` query parameter that is not UTF-8 once percent-decoded.
    AuthQuery,
}

impl From<Unreadable> for ApiError {
    fn from(u: Unreadable) -> Self {
        ApiError::Unreadable(u)
    }
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

/// `{"error": {"id", "message"}}` with `status`, tagged with its [`Outcome`] for the log
/// and the metrics.
pub(super) fn error(status: StatusCode, id: &str, message: &str) -> Response {
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

/// What `Retry-After` says to a request refused because storage is unavailable (seconds):
/// long enough that a client's retry does not add to a database restart's load, short enough
/// that a failover (seconds) costs a user one retry.
pub const STORAGE_RETRY_AFTER_SECONDS: u64 = 2;

/// 503 `storage-unavailable` with `Retry-After`: the answer of every request that needs
/// storage while it cannot be reached, and of `/ready` then.
pub fn storage_unavailable() -> Response {
    let mut response = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "storage-unavailable",
        &format!("The storage is unavailable: try again in {STORAGE_RETRY_AFTER_SECONDS} seconds."),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(STORAGE_RETRY_AFTER_SECONDS),
    );
    response
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
            ApiError::MalformedJson { line, column } => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-request-structure",
                    &format!("The request body is not valid JSON (line {line}, column {column})."),
                )
            }
            ApiError::TooLarge { limit } => {
                let mut response = error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request-too-large",
                    &format!("The request body is larger than {limit} bytes."),
                );
                // The rest of the body is never read, so the connection cannot carry another
                // request: say so, or a client reuses it and its next request fails.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
            ApiError::UnsupportedMediaType => {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "The request body must be JSON (Content-Type: application/json).",
                )
            }
            ApiError::UnreadableBody => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-request-structure",
                    "The request body could not be read.",
                )
            }
            ApiError::Unreadable(what) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid-request-structure",
                    &unreadable_sentence(what),
                )
            }
            ApiError::MethodNotAllowed => {
                return error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    "This route does not take this method: the Allow header lists those it takes.",
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
                &format!("This operation needs a step-up: {}.", step_up_hint(hint)),
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
            FlowError::InvalidParameter(invalid) => error(
                StatusCode::BAD_REQUEST,
                "invalid-parameters-format",
                &invalid_sentence(&invalid),
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
                &format!(
                    "Error from messaging service: {}.",
                    messaging_reason(&reason)
                ),
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
            FlowError::StorageUnavailable(reason) => {
                tracing::warn!(%reason, "storage unavailable");
                storage_unavailable()
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

/// The sentence for what cannot be read: what it is and what it must be, never its value.
fn unreadable_sentence(what: Unreadable) -> String {
    match what {
        Unreadable::Header(name) => {
            format!("The {name} header cannot be read: it must be printable ASCII.")
        }
        Unreadable::BasicCredentials => "The Authorization header cannot be read: Basic credentials must be base64-encoded UTF-8.".to_string(),
        Unreadable::AuthQuery => "The 'auth' query parameter cannot be read: it must be UTF-8 once percent-decoded.".to_string(),
    }
}

/// What a step-up would have accepted, as the answer says it.
fn step_up_hint(needed: StepUpNeeded) -> &'static str {
    match needed {
        StepUpNeeded::AnyProof => "give the password, a recovery code or an authenticator code",
        StepUpNeeded::NotAPassword => "without an upstream, give a recovery code",
    }
}

/// How the messaging service failed, as the answer says it.
fn messaging_reason(reason: &Messaging) -> String {
    match reason {
        Messaging::Refused { status } => format!("the messaging service answered {status}"),
        Messaging::ChallengeNotJson => {
            "the messaging service's challenge answer is not JSON".to_string()
        }
        Messaging::CaptureMissing { name, json_path } => {
            format!("the messaging service's challenge answer has no {name} ({json_path})")
        }
        Messaging::Render(reason) | Messaging::Send(reason) => reason.clone(),
    }
}

/// The sentence for a parameter that breaks a rule: the field and the rule, never the value.
fn invalid_sentence(invalid: &Invalid) -> String {
    let names = |methods: &[crate::domain::Method]| {
        methods
            .iter()
            .map(|m| m.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match invalid {
        Invalid::UnknownParameter { key, allowed } => {
            format!("Unknown parameter: {key}. Allowed: {}.", allowed.join(", "))
        }
        Invalid::NotAString { field } => format!("Invalid parameter: {field}: must be a string."),
        Invalid::TooLong { field, max } => {
            format!("Invalid parameter: {field}: must be at most {max} characters.")
        }
        Invalid::ContainsNul { field } => {
            format!("Invalid parameter: {field}: must not contain a NUL character.")
        }
        Invalid::NotE164 { field } => format!(
            "Invalid parameter: {field}: must be an E.164 phone number such as +41791231212."
        ),
        Invalid::NotEmail { field } => format!(
            "Invalid parameter: {field}: must be an email address such as alice@example.com."
        ),
        Invalid::Missing { fields } => format!("Missing parameter: {}.", fields.join(" or ")),
        Invalid::DestinationDenied { field, prefix } => format!(
            "Invalid parameter: {field}: this destination is refused by mfa.destinations.deny ({prefix})."
        ),
        Invalid::DestinationNotAllowed { field, allowed } => format!(
            "Invalid parameter: {field}: this destination is not in mfa.destinations.allow ({}).",
            allowed.join(", ")
        ),
        Invalid::ChannelNotConfigured { channel } => format!(
            "Invalid parameter: method: {} is not configured (mfa.channels).",
            channel.name()
        ),
        Invalid::MethodNotEnrolled { method, enrolled } => format!(
            "Invalid parameter: method: {} is not enrolled for this user (enrolled: {}).",
            method.name(),
            names(enrolled)
        ),
        Invalid::UnknownMethod { name } => format!(
            "Invalid parameter: method: '{name}' is not a method ({}).",
            crate::domain::Method::NAMES
        ),
        Invalid::TotpNotEnabled => {
            "Invalid parameter: method: totp is not enabled (mfa.totp.enabled).".to_string()
        }
        Invalid::DualNeedsSingleMode { channel, mode } => format!(
            "Invalid parameter: method: sms+email sends one code on both channels, so both must be in single mode ({} is {}).",
            channel.name(),
            mode.name()
        ),
        Invalid::NotForHeader { variable, header } => format!(
            "Invalid parameter: {variable}: cannot be sent in the {header} header (printable ASCII only, no space at either end)."
        ),
        Invalid::NotForPath { variable } => format!(
            "Invalid parameter: {variable}: cannot be sent as a URL path segment (it must not be empty, '.' or '..')."
        ),
        Invalid::MfaNotActive => "MFA is not active for this user.".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Channel, Mode};
    use crate::domain::Method;

    async fn sentence(e: FlowError) -> String {
        let body = axum::body::to_bytes(ApiError::Flow(e).into_response().into_body(), 4096)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v["error"]["message"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn the_sentences_are_written_here_from_the_data() {
        let cases = [
            (
                Invalid::MethodNotEnrolled {
                    method: Method::Dual,
                    enrolled: vec![Method::Channel(Channel::Sms), Method::Totp],
                },
                "Invalid parameter: method: sms+email is not enrolled for this user (enrolled: sms, totp).",
            ),
            (
                Invalid::UnknownMethod { name: "fax".into() },
                "Invalid parameter: method: 'fax' is not a method (sms, email, voice, whatsapp, sms+email or totp).",
            ),
            (
                Invalid::DualNeedsSingleMode {
                    channel: Channel::Email,
                    mode: Mode::ChallengeVerify,
                },
                "Invalid parameter: method: sms+email sends one code on both channels, so both must be in single mode (email is challenge-verify).",
            ),
            (
                Invalid::Missing {
                    fields: vec!["phone".into(), "mobile".into()],
                },
                "Missing parameter: phone or mobile.",
            ),
            (
                Invalid::NotAString {
                    field: "method".into(),
                },
                "Invalid parameter: method: must be a string.",
            ),
        ];
        for (invalid, expected) in cases {
            assert_eq!(
                sentence(FlowError::InvalidParameter(invalid)).await,
                expected
            );
        }
        assert_eq!(
            sentence(FlowError::StepUpRequired(StepUpNeeded::NotAPassword)).await,
            "This operation needs a step-up: without an upstream, give a recovery code."
        );
        assert_eq!(
            sentence(FlowError::Messaging(Messaging::Refused { status: 503 })).await,
            "Error from messaging service: the messaging service answered 503."
        );
    }

    #[tokio::test]
    async fn storage_unavailable_is_503_with_retry_after_and_never_says_why() {
        let response = ApiError::Flow(FlowError::StorageUnavailable(
            "db.example:5432 refused".into(),
        ))
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            STORAGE_RETRY_AFTER_SECONDS.to_string().as_str()
        );
        assert_eq!(
            response
                .extensions()
                .get::<Outcome>()
                .map(|o| o.id.as_str()),
            Some("storage-unavailable")
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["id"], "storage-unavailable");
        assert_eq!(
            v["error"]["message"],
            "The storage is unavailable: try again in 2 seconds."
        );
        assert!(!String::from_utf8_lossy(&body).contains("db.example"));
    }
}

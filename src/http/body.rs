//! Request bodies as the routes take them: bounded in size, and for a route that reads JSON,
//! refused when they declare another content type. Every refusal is an [`ApiError`].
//!
//! The JSON rule is Pryv's clients' as they are: no `Content-Type` at all is read as JSON (as
//! this daemon always did), `application/json` with parameters (`; charset=utf-8`) and any
//! `+json` type are JSON; an empty body is no body, whatever it declares.

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;

use super::error::{ApiError, Unreadable};
use super::MAX_BODY_BYTES;

/// The body of a route that reads it as JSON: at most [`MAX_BODY_BYTES`], and JSON, or no
/// content type, or empty.
pub struct JsonBody(pub Bytes);

/// A body taken as it came, whatever its type (login forwards it to the upstream as it came):
/// only its size is bounded.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<JsonBody, ApiError> {
        let declared = declared_type(request.headers())?;
        let body = bounded(request, state).await?;
        match declared {
            Some(media_type) if !is_blank(&body) && !is_json(&media_type) => {
                Err(ApiError::UnsupportedMediaType)
            }
            _ => Ok(JsonBody(body)),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<RawBody, ApiError> {
        Ok(RawBody(bounded(request, state).await?))
    }
}

/// The whole body, refused before it is read when its declared length is over the limit,
/// and as soon as it goes over while it is read.
async fn bounded<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let too_large = ApiError::TooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared_length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large,
            _ => ApiError::UnreadableBody,
        })
}

/// The declared content type, `None` when there is none (or it is empty).
fn declared_type(headers: &HeaderMap) -> Result<Option<String>, Unreadable> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().map_err(|_| Unreadable::Header("Content-Type"))?;
            Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
        }
    }
}

/// `application/json` or `type/anything+json`, parameters aside, in any case.
fn is_json(media_type: &str) -> bool {
    let essence = media_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    !kind.is_empty() && (essence == "application/json" || subtype.ends_with("+json"))
}

/// A body of whitespace alone is no body (it reads as an empty object).
pub fn is_blank(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_application_json_with_any_parameters_or_a_json_suffix() {
        for json in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            " application/json ",
            "application/vnd.api+json",
            "application/merge-patch+json; charset=utf-8",
        ] {
            assert!(is_json(json), "{json}");
        }
        for other in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "application/json-seq",
            "text/json+xml",
            "json",
            "/+json",
            "*/*",
        ] {
            assert!(!is_json(other), "{other}");
        }
    }
}

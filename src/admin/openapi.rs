//! `/openapi.json`: the OpenAPI 3.1 description of both listeners (the public Pryv-compatible
//! API and the admin API), written by hand in `docs/openapi.yaml` and compiled into the binary.
//! `tests/api/openapi.rs` checks it against the routers, the error ids and live answers.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::AdminError;

/// The description as written (YAML: comments and anchors are allowed, and it reads better by
/// hand than JSON).
const OPENAPI_YAML: &str = include_str!("../../docs/openapi.yaml");

/// The description as JSON: what `/openapi.json` serves.
fn description() -> Result<Value, serde_yaml::Error> {
    serde_yaml::from_str(OPENAPI_YAML)
}

pub(super) async fn openapi() -> Response {
    match description() {
        Ok(value) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            value.to_string(),
        )
            .into_response(),
        Err(e) => {
            AdminError::Internal(format!("docs/openapi.yaml does not parse: {e}")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_parses_as_openapi_3_1() {
        let d = description().unwrap();
        assert_eq!(d["openapi"], "3.1.0");
        assert!(d["paths"].as_object().is_some_and(|p| !p.is_empty()));
    }
}

//! `/api/attempts`: the attempts log (one entry per request to a flow, never a code or a
//! token), newest first, and one entry by id.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::error::AdminError;
use super::AdminState;

pub(super) async fn list_attempts(
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

pub(super) async fn get_attempt(
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

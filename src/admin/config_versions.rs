//! `/api/config/versions`: the history of the configuration shared by the instances on one
//! PostgreSQL database (newest first: who, when, what, digest), one version's text, and a
//! rollback, which makes a new version equal to an old one, published and applied as an edit
//! is. Without a shared configuration (sled), 409 `no-shared-configuration`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use super::author;
use super::error::{blocking, AdminError};
use super::AdminState;
use crate::snapshot::shared::{SharedConfig, SharedError};

/// The most versions one listing shows.
const MAX_LISTED: i64 = 1_000;

impl From<SharedError> for AdminError {
    fn from(e: SharedError) -> Self {
        match e {
            SharedError::Changed { .. } => AdminError::ConfigChanged(e.to_string()),
            SharedError::NotFound(n) => {
                AdminError::NotFound(format!("No configuration version {n}."))
            }
            SharedError::Unavailable(m) => AdminError::Unavailable(m),
            SharedError::Invalid(errors) => AdminError::Invalid(errors.0),
            SharedError::Files(m) => AdminError::Internal(m),
        }
    }
}

/// The shared configuration of this instance, if it has one.
pub(super) fn shared_config(state: &AdminState) -> Option<Arc<SharedConfig>> {
    state.reloader.as_ref().and_then(|r| r.shared_config())
}

fn required(state: &AdminState) -> Result<Arc<SharedConfig>, AdminError> {
    shared_config(state).ok_or(AdminError::NotShared)
}

/// The query's `limit` (100 when absent or empty), refused as a JSON error when it is not a
/// whole number; others keys are ignored.
fn limit_of(query: Option<&str>) -> Result<i64, AdminError> {
    let mut limit = 100;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if key == "limit" && !value.trim().is_empty() {
            limit = value.trim().parse::<i64>().map_err(|_| {
                AdminError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LISTED}."
                ))
            })?;
        }
    }
    Ok(limit.clamp(1, MAX_LISTED))
}

/// A version number of the path, refused as a JSON error when it is not one.
fn number_of(raw: &str) -> Result<i64, AdminError> {
    raw.parse::<i64>().map_err(|_| {
        AdminError::BadRequest("A configuration version is a whole number (1, 2, ...).".into())
    })
}

pub(super) async fn list_versions(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Json_>, AdminError> {
    let limit = limit_of(query.as_deref())?;
    let shared = required(&state)?;
    let versions = shared.versions(limit).await?;
    Ok(Json(json!({
        "running": shared.running().map(|v| v.version),
        "versions": versions,
    })))
}

pub(super) async fn get_version(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    let number = number_of(&raw)?;
    let version = required(&state)?.version(number).await?;
    Ok(Json(json!(version)))
}

pub(super) async fn rollback(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    let number = number_of(&raw)?;
    let shared = required(&state)?;
    let version = blocking(move || Ok(shared.rollback(number, &author::name())?)).await?;
    Ok(Json(json!(version)))
}

#[cfg(test)]
mod tests;

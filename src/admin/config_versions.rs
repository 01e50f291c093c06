//! `/api/config/versions`: the history of the configuration shared by the instances on one
//! PostgreSQL database (newest first: who, when, what, digest), one version's text, and a
//! rollback, which makes a new version equal to an old one, published and applied as an edit
//! is. Without a shared configuration (sled), 409 `no-shared-configuration`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
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

#[derive(Debug, Deserialize)]
pub(super) struct Listing {
    limit: Option<i64>,
}

pub(super) async fn list_versions(
    State(state): State<AdminState>,
    Query(listing): Query<Listing>,
) -> Result<Json<Json_>, AdminError> {
    let shared = required(&state)?;
    let limit = listing.limit.unwrap_or(100).clamp(1, MAX_LISTED);
    let versions = shared.versions(limit).await?;
    Ok(Json(json!({
        "running": shared.running().map(|v| v.version),
        "versions": versions,
    })))
}

pub(super) async fn get_version(
    State(state): State<AdminState>,
    Path(number): Path<i64>,
) -> Result<Json<Json_>, AdminError> {
    let version = required(&state)?.version(number).await?;
    Ok(Json(json!(version)))
}

pub(super) async fn rollback(
    State(state): State<AdminState>,
    Path(number): Path<i64>,
) -> Result<Json<Json_>, AdminError> {
    let shared = required(&state)?;
    let version = blocking(move || Ok(shared.rollback(number, &author::name())?)).await?;
    Ok(Json(json!(version)))
}

#[cfg(test)]
mod tests;

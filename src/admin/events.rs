//! `/api/events`: the events queue as an operator follows it: the newest deliveries (one per
//! event and webhook endpoint) with their status, attempts and last error, filtered by status
//! and user, and how many are pending.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use crate::events::rfc3339;
use crate::store::{DeliveryStatus, EventDelivery};

use super::error::AdminError;
use super::list_query::{read_list_query, MAX_LIMIT};
use super::AdminState;

/// The query: `limit`, and the filters `status` and `user`. An empty value is no filter.
struct Query {
    limit: usize,
    status: Option<DeliveryStatus>,
    user: Option<String>,
}

fn parse_query(query: Option<&str>) -> Result<Query, AdminError> {
    let mut status = None;
    let mut user = None;
    let limit = read_list_query(query, |key, value| {
        match key {
            "status" => {
                status = Some(DeliveryStatus::parse(&value).ok_or_else(|| {
                    AdminError::BadRequest(
                        "status must be one of pending, delivered, given_up.".into(),
                    )
                })?)
            }
            "user" => user = Some(value),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Query {
        limit,
        status,
        user,
    })
}

/// A delivery as the list shows it: its event's body as `event`.
fn summary(d: &EventDelivery) -> Value {
    json!({
        "seq": d.seq,
        "id": d.id,
        "endpoint": d.endpoint,
        "type": d.event_type,
        "username": d.username,
        "status": d.status.as_str(),
        "attempts": d.attempts,
        "createdAt": rfc3339(d.created_at),
        "updatedAt": rfc3339(d.updated_at),
        "nextAt": (d.status == DeliveryStatus::Pending).then(|| rfc3339(d.next_at)),
        "lastError": d.last_error,
        "event": serde_json::from_str::<Value>(&d.payload).unwrap_or(Value::Null),
    })
}

pub(super) async fn list_events(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let q = parse_query(query.as_deref())?;
    let store = state.app.mfa.store();
    let filtered = q.status.is_some() || q.user.is_some();
    // A filtered list looks through the newest MAX_LIMIT deliveries (the README says so).
    let scan = if filtered { MAX_LIMIT } else { q.limit };
    let recent = store
        .recent_events(scan)
        .await
        .map_err(|e| AdminError::Flow(e.into()))?;
    let pending = store
        .pending_events()
        .await
        .map_err(|e| AdminError::Flow(e.into()))?;
    let events: Vec<Value> = recent
        .iter()
        .filter(|d| q.status.is_none_or(|s| d.status == s))
        .filter(|d| q.user.as_ref().is_none_or(|u| &d.username == u))
        .take(q.limit)
        .map(summary)
        .collect();
    Ok(Json(json!({ "pending": pending, "events": events })))
}

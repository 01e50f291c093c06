//! `/api/events`: the events queue as an operator follows it: the newest deliveries (one per
//! event and webhook endpoint) with their status, attempts and last error, filtered by status
//! and user, and how many are pending.

use axum::extract::{RawQuery, State};
use axum::Json;
use serde_json::{json, Value};

use crate::events::rfc3339;
use crate::store::{DeliveryStatus, EventDelivery};

use super::error::AdminError;
use super::AdminState;

/// How many deliveries a list holds when the query does not say.
const DEFAULT_LIMIT: usize = 100;
/// The most deliveries a list holds, and the most a filtered list looks through.
const MAX_LIMIT: usize = 1000;

/// The query: `limit`, and the filters `status` and `user`. An empty value is no filter.
struct Query {
    limit: usize,
    status: Option<DeliveryStatus>,
    user: Option<String>,
}

fn parse_query(query: Option<&str>) -> Result<Query, AdminError> {
    let mut q = Query {
        limit: DEFAULT_LIMIT,
        status: None,
        user: None,
    };
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        match key.as_ref() {
            "limit" => {
                q.limit = value.parse::<usize>().map_err(|_| {
                    AdminError::BadRequest("limit must be a whole number from 1 to 1000.".into())
                })?
            }
            "status" => {
                q.status = Some(DeliveryStatus::parse(&value).ok_or_else(|| {
                    AdminError::BadRequest(
                        "status must be one of pending, delivered, given_up.".into(),
                    )
                })?)
            }
            "user" => q.user = Some(value),
            _ => {}
        }
    }
    q.limit = q.limit.clamp(1, MAX_LIMIT);
    Ok(q)
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

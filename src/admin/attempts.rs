//! `/api/attempts`: the attempts log (one entry per request to a flow, and one per admin
//! action on a user; never a code or a token), newest first, filtered by user, outcome, route
//! and time range; and one entry by id.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use crate::store::{AttemptFilter, AttemptRecord};

use super::error::AdminError;
use super::list_query::read_list_query;
use super::AdminState;

/// An entry as lists show it (the detail adds method, status and duration).
pub(super) fn attempt_summary(a: &AttemptRecord) -> Json_ {
    let mut summary = json!({
        "id": a.id, "time": a.time, "username": a.username, "route": a.route,
        "outcome": a.outcome, "reason": a.reason,
    });
    if let Some(admin) = &a.admin {
        summary["admin"] = json!(admin);
    }
    summary
}

/// The query: `limit`, and the filters `user`, `outcome`, `route` (a part of it), `from` and
/// `to` (seconds since the epoch, both included). An empty value is no filter.
fn parse_query(query: Option<&str>) -> Result<(AttemptFilter, usize), AdminError> {
    let mut filter = AttemptFilter::all();
    let limit = read_list_query(query, |key, value| {
        let time = |name: &str| {
            value.parse::<u64>().map_err(|_| {
                AdminError::BadRequest(format!(
                    "{name} must be a time in whole seconds since 1970 (UTC)."
                ))
            })
        };
        match key {
            "user" => filter.username = Some(value),
            "outcome" => filter.outcome = Some(value),
            "route" => filter.route = Some(value),
            "from" => filter.from = Some(time("from")?),
            "to" => filter.to = Some(time("to")?),
            _ => {}
        }
        Ok(())
    })?;
    Ok((filter, limit))
}

pub(super) async fn list_attempts(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Json_>, AdminError> {
    let (filter, limit) = parse_query(query.as_deref())?;
    let attempts = state
        .app
        .mfa
        .store()
        .find_attempts(&filter, limit)
        .await
        .map_err(|e| AdminError::Flow(e.into()))?;
    let summary: Vec<Json_> = attempts.iter().map(attempt_summary).collect();
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
        .map_err(|e| AdminError::Flow(e.into()))?
        .map(|a| Json(json!(a)))
        .ok_or_else(|| AdminError::NotFound(format!("No attempt '{id}'.")))
}

#[cfg(test)]
mod tests {
    use super::super::list_query::MAX_LIMIT;
    use super::*;

    #[test]
    fn a_query_gives_every_filter_and_empty_values_filter_nothing() {
        let (f, limit) = parse_query(Some(
            "user=alice&outcome=invalid-code&route=verify&from=10&to=20&limit=5",
        ))
        .ok()
        .unwrap();
        assert_eq!(limit, 5);
        assert_eq!(f.username.as_deref(), Some("alice"));
        assert_eq!(f.outcome.as_deref(), Some("invalid-code"));
        assert_eq!(f.route.as_deref(), Some("verify"));
        assert_eq!((f.from, f.to), (Some(10), Some(20)));
        let (f, limit) = parse_query(Some("user=&from=&limit=5000")).ok().unwrap();
        assert_eq!((f, limit), (AttemptFilter::all(), MAX_LIMIT));
        assert!(parse_query(Some("from=yesterday")).is_err());
    }
}

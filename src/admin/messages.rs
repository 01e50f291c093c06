//! `/api/messages`: the message log (one record per attempt to hand a code to a provider),
//! newest first, filtered by user, status, channel, provider and challenge; and one record by
//! id. A record shows the provider, the attempt, the status, the latency, the error class, the
//! masked destination and the provider's message id: never the code nor the whole
//! destination, which the log does not hold.

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::{json, Value as Json_};

use crate::store::{SendFilter, SendRecord, SendStatus};

use super::error::AdminError;
use super::list_query::read_list_query;
use super::AdminState;

/// A record as the API shows it.
pub(super) fn message(r: &SendRecord) -> Json_ {
    json!({
        "id": r.id, "sendId": r.send_id, "attempt": r.attempt, "at": r.at,
        "updatedAt": r.updated_at, "username": r.username, "challenge": r.challenge,
        "channel": r.channel, "provider": r.provider, "status": r.status.as_str(),
        "providerMessageId": r.provider_message_id, "httpStatus": r.http_status,
        "latencyMs": r.latency_ms, "error": r.error, "destination": r.destination,
    })
}

/// The query: `limit`, and the filters `user`, `status`, `channel`, `provider`, `challenge`.
/// An empty value is no filter.
fn parse_query(query: Option<&str>) -> Result<(SendFilter, usize), AdminError> {
    let mut filter = SendFilter::default();
    let limit = read_list_query(query, |key, value| {
        match key {
            "user" => filter.username = Some(value),
            "status" => {
                filter.status = Some(SendStatus::parse(&value).ok_or_else(|| {
                    AdminError::BadRequest(
                        "status must be one of queued, sent, failed, delivered, undelivered."
                            .into(),
                    )
                })?)
            }
            "channel" => filter.channel = Some(value),
            "provider" => filter.provider = Some(value),
            "challenge" => filter.challenge = Some(value.to_ascii_lowercase()),
            _ => {}
        }
        Ok(())
    })?;
    Ok((filter, limit))
}

pub(super) async fn list_messages(
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Json_>, AdminError> {
    let (filter, limit) = parse_query(query.as_deref())?;
    let sends = state
        .app
        .mfa
        .store()
        .find_sends(&filter, limit)
        .await
        .map_err(|e| AdminError::Flow(e.into()))?;
    let messages: Vec<Json_> = sends.iter().map(message).collect();
    Ok(Json(json!({ "messages": messages })))
}

pub(super) async fn get_message(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    state
        .app
        .mfa
        .store()
        .send(&id)
        .await
        .map_err(|e| AdminError::Flow(e.into()))?
        .map(|r| Json(message(&r)))
        .ok_or_else(|| AdminError::NotFound(format!("No message '{id}'.")))
}

#[cfg(test)]
mod tests {
    use super::super::list_query::MAX_LIMIT;
    use super::*;

    #[test]
    fn a_query_gives_every_filter_and_a_wrong_status_is_refused() {
        let (f, limit) = parse_query(Some(
            "user=alice&status=undelivered&channel=sms&provider=twilio&challenge=ABCD&limit=5",
        ))
        .ok()
        .unwrap();
        assert_eq!(limit, 5);
        assert_eq!(f.username.as_deref(), Some("alice"));
        assert_eq!(f.status, Some(SendStatus::Undelivered));
        assert_eq!(f.channel.as_deref(), Some("sms"));
        assert_eq!(f.provider.as_deref(), Some("twilio"));
        assert_eq!(f.challenge.as_deref(), Some("abcd"));
        let (f, limit) = parse_query(Some("user=&limit=5000")).ok().unwrap();
        assert_eq!((f, limit), (SendFilter::default(), MAX_LIMIT));
        assert!(parse_query(Some("status=lost")).is_err());
        assert!(parse_query(Some("limit=many")).is_err());
    }
}

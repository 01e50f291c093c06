//! Events: signed webhooks (Standard Webhooks) to the operator's endpoints (`events:`), on
//! enrolment changes, verifies, refused attempts, waits, sends and receipts.
//!
//! On the request path an event is only queued ([`emit`]: one store write, as durable as the
//! answer's own records); the [`worker`] delivers it in the background, so a slow or dead
//! receiver never slows a login. Deliveries of one user reach an endpoint in order; each is
//! retried with backoff ([`retry`]) until `max_attempts` or `max_age_seconds`, with the same
//! `webhook-id` every time (receivers dedupe by it); several instances on one database share
//! the queue, one deliverer per event at a time (`store::event_queue`).
//!
//! `event` (what is sent), `signature` (how it is signed), `retry` (what an attempt leaves),
//! `worker` (the background deliverer).

mod event;
pub mod retry;
pub mod signature;
pub mod worker;

use rand::RngCore;

use crate::config::EventsConfig;
use crate::store::{DeliveryStatus, EventDelivery, Store};

pub use event::{rfc3339, Event, EventType};

/// Queues `event` (at `now`) for every endpoint of `config` that wants its type: the one way
/// to emit an event, from any flow. Nothing is written when no endpoint wants it. A store
/// that fails is logged, never the caller's failure: what the event tells has happened.
pub async fn emit(store: &dyn Store, config: &EventsConfig, now: u64, event: Event) {
    let deliveries = deliveries(config, now, &event);
    if deliveries.is_empty() {
        return;
    }
    if let Err(e) = store.enqueue_events(deliveries).await {
        tracing::error!(
            error = %e,
            event = event.kind.name(),
            user = %event.username,
            "an event could not be queued: its webhooks will not be sent"
        );
    }
}

/// The deliveries of `event` at `now`: one per endpoint that wants it, all with one id and
/// one body.
pub fn deliveries(config: &EventsConfig, now: u64, event: &Event) -> Vec<EventDelivery> {
    let name = event.kind.name();
    let wanting: Vec<&str> = config
        .endpoints
        .iter()
        .filter(|e| e.wants(name))
        .map(|e| e.name.as_str())
        .collect();
    if wanting.is_empty() {
        return Vec::new();
    }
    let mut random = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let id = format!("evt_{}", hex::encode(random));
    let payload = event.payload(now);
    wanting
        .into_iter()
        .map(|endpoint| EventDelivery {
            seq: 0,
            id: id.clone(),
            endpoint: endpoint.to_string(),
            username: event.username.clone(),
            event_type: name.to_string(),
            payload: payload.clone(),
            created_at: now,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_at: now,
            lease_until: 0,
            last_error: None,
            updated_at: now,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{WebhookEndpoint, WebhookKey};
    use crate::store::{EventQueue, MemoryStore};

    fn endpoint(name: &str, types: &[&str]) -> WebhookEndpoint {
        WebhookEndpoint {
            name: name.into(),
            url: reqwest::Url::parse("http://127.0.0.1:9/hook").unwrap(),
            key: WebhookKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap(),
            types: types.iter().map(|t| t.to_string()).collect(),
            timeout: std::time::Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn an_event_is_queued_once_for_each_endpoint_that_wants_it() {
        let config = EventsConfig {
            endpoints: vec![
                endpoint("all", &[]),
                endpoint("sends", &["send.*"]),
                endpoint("verifies", &["mfa.verified"]),
            ],
            ..EventsConfig::default()
        };
        let store = MemoryStore::new();
        emit(
            &store,
            &config,
            50,
            Event::new(EventType::Verified, "alice"),
        )
        .await;
        let queued = store.recent_events(10).await.unwrap();
        let mut endpoints: Vec<&str> = queued.iter().map(|d| d.endpoint.as_str()).collect();
        endpoints.sort();
        assert_eq!(endpoints, vec!["all", "verifies"]);
        assert_eq!(queued[0].id, queued[1].id, "one event, one id");
        assert_eq!(queued[0].payload, queued[1].payload);
        assert!(queued[0].id.starts_with("evt_") && queued[0].id.len() == 36);
        assert_eq!((queued[0].next_at, queued[0].created_at), (50, 50));
    }

    #[tokio::test]
    async fn nothing_is_written_when_no_endpoint_wants_an_event() {
        let store = MemoryStore::new();
        let none = EventsConfig::default();
        emit(&store, &none, 50, Event::new(EventType::Verified, "a")).await;
        let other = EventsConfig {
            endpoints: vec![endpoint("sends", &["send.*"])],
            ..EventsConfig::default()
        };
        emit(&store, &other, 50, Event::new(EventType::Refused, "a")).await;
        assert!(store.recent_events(10).await.unwrap().is_empty());
    }

    #[test]
    fn two_events_have_two_ids() {
        let config = EventsConfig {
            endpoints: vec![endpoint("all", &[])],
            ..EventsConfig::default()
        };
        let event = Event::new(EventType::Verified, "alice");
        assert_ne!(
            deliveries(&config, 1, &event)[0].id,
            deliveries(&config, 1, &event)[0].id
        );
    }
}

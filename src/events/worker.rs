//! The background deliverer of events: claims the deliveries that are due from the store's
//! queue (leased, so no other instance delivers them meanwhile), posts each signed to its
//! endpoint in a task of its own (a hanging endpoint holds one slot, not the others), and
//! settles the outcome ([`super::retry`]). It also keeps the queue-depth gauge and sweeps
//! finished deliveries after `events.keep_seconds`.
//!
//! A worker stopped mid-delivery (a shutdown, a crash) leaves the lease to end by itself: the
//! delivery is then made again, with the same `webhook-id`. Delivery is at least once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, USER_AGENT};
use tokio::task::{JoinHandle, JoinSet};

use super::retry::{after_attempt, Attempt};
use super::signature;
use crate::clock::Clock;
use crate::config::{EventsConfig, OutboundConfig, WebhookEndpoint};
use crate::metrics::Metrics;
use crate::snapshot::SharedSnapshot;
use crate::store::{DeliveryStatus, EventDelivery, Store};

/// Deliveries under way at once (one task each).
const MAX_IN_FLIGHT: usize = 32;
/// How often the queue is looked at when no delivery finished meanwhile.
const POLL: Duration = Duration::from_millis(500);
/// How often the queue-depth gauge is read again.
const GAUGE_EVERY: Duration = Duration::from_secs(5);
/// How often finished deliveries are swept (s, on the service's clock).
const SWEEP_EVERY_SECONDS: u64 = 600;
/// What a lease adds to the longest endpoint time-out (s): room for the settle to be written.
const LEASE_MARGIN_SECONDS: u64 = 15;

/// What the worker runs on.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    snapshot: SharedSnapshot,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
    client: reqwest::Client,
}

impl Worker {
    /// A worker with its own HTTP client (no redirects; `outbound.connect_timeout`, each
    /// endpoint's `timeout_ms` for a whole attempt).
    pub fn new(
        store: Arc<dyn Store>,
        snapshot: SharedSnapshot,
        clock: Arc<dyn Clock>,
        metrics: Metrics,
        outbound: &OutboundConfig,
    ) -> Result<Worker, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(outbound.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("the events client: {e}"))?;
        Ok(Worker {
            store,
            snapshot,
            clock,
            metrics,
            client,
        })
    }

    /// Runs until the handle is aborted (its deliveries under way with it).
    pub fn start(self) -> JoinHandle<()> {
        tokio::spawn(self.run())
    }

    async fn run(self) {
        let mut in_flight = JoinSet::new();
        let mut gauge_read: Option<Instant> = None;
        let mut next_sweep = 0;
        let mut failing = false;
        loop {
            let snap = self.snapshot.current();
            let config = &snap.config.events;
            let now = self.clock.now();
            if !config.endpoints.is_empty() {
                let room = MAX_IN_FLIGHT.saturating_sub(in_flight.len());
                let lease_until = now.saturating_add(lease_seconds(config));
                let claimed = match room {
                    0 => Ok(Vec::new()),
                    _ => self.store.claim_events(now, lease_until, room).await,
                };
                match claimed {
                    Ok(claimed) => {
                        failing = false;
                        for delivery in claimed {
                            in_flight.spawn(self.clone().deliver(delivery));
                        }
                    }
                    // Said once per outage, not at every poll.
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %e, "reading the events queue failed");
                    }
                    Err(_) => {}
                }
                if gauge_read.is_none_or(|at| at.elapsed() >= GAUGE_EVERY) {
                    gauge_read = Some(Instant::now());
                    if let Ok(n) = self.store.pending_events().await {
                        self.metrics
                            .events_pending
                            .set(i64::try_from(n).unwrap_or(i64::MAX));
                    }
                }
            }
            if now >= next_sweep {
                next_sweep = now.saturating_add(SWEEP_EVERY_SECONDS);
                let before = now.saturating_sub(config.keep_seconds);
                if let Err(e) = self.store.sweep_events(before).await {
                    tracing::error!(error = %e, "sweeping delivered events failed");
                }
            }
            drop(snap);
            tokio::select! {
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// One attempt of `delivery` under the configuration in force now, settled in the store.
    async fn deliver(self, delivery: EventDelivery) {
        let snap = self.snapshot.current();
        let config = &snap.config.events;
        let attempt = match config.endpoint(&delivery.endpoint) {
            Some(endpoint) => self.post(endpoint, &delivery).await,
            None => Attempt::Unroutable,
        };
        let settled = after_attempt(&delivery, &attempt, self.clock.now(), config);
        let outcome = match (&attempt, settled.status) {
            (_, DeliveryStatus::Delivered) => "delivered",
            (_, DeliveryStatus::GivenUp) => "given_up",
            (_, DeliveryStatus::Pending) => "failed",
        };
        self.metrics
            .event_deliveries
            .with_label_values(&[delivery.endpoint.as_str(), outcome])
            .inc();
        match (&attempt, settled.status) {
            (_, DeliveryStatus::Delivered) => tracing::debug!(
                id = %delivery.id, endpoint = %delivery.endpoint, event = %delivery.event_type,
                "event delivered"
            ),
            (_, DeliveryStatus::GivenUp) => tracing::warn!(
                id = %delivery.id, endpoint = %delivery.endpoint, event = %delivery.event_type,
                attempts = settled.attempts, error = settled.last_error.as_deref().unwrap_or(""),
                "event given up"
            ),
            (_, DeliveryStatus::Pending) => tracing::info!(
                id = %delivery.id, endpoint = %delivery.endpoint, event = %delivery.event_type,
                attempts = settled.attempts, error = settled.last_error.as_deref().unwrap_or(""),
                next_at = settled.next_at, "event delivery failed: tried again later"
            ),
        }
        // Not written: the lease ends by itself and the delivery is made again.
        if let Err(e) = self.store.settle_event(&settled).await {
            tracing::error!(error = %e, id = %delivery.id, "recording an event delivery failed");
        }
    }

    /// Posts `delivery` to `endpoint`, signed for this attempt's time.
    async fn post(&self, endpoint: &WebhookEndpoint, delivery: &EventDelivery) -> Attempt {
        let timestamp = self.clock.now();
        let mut request = self
            .client
            .post(endpoint.url.clone())
            .timeout(endpoint.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("mfa-bridge/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in
            signature::headers(&endpoint.key, &delivery.id, timestamp, &delivery.payload)
        {
            request = request.header(name, value);
        }
        // The answer's body is not read: its status is all that counts.
        match request.body(delivery.payload.clone()).send().await {
            Ok(answer) if answer.status().is_success() => Attempt::Delivered,
            Ok(answer) => Attempt::Failed(format!("status {}", answer.status().as_u16())),
            Err(e) if e.is_timeout() => Attempt::Failed("timeout".into()),
            Err(e) if e.is_connect() => Attempt::Failed("unreachable".into()),
            Err(_) => Attempt::Failed("reset".into()),
        }
    }
}

/// How long a claimed delivery is kept from other claims: the longest attempt, and a margin.
fn lease_seconds(config: &EventsConfig) -> u64 {
    let longest = config
        .endpoints
        .iter()
        .map(|e| e.timeout.as_millis().div_ceil(1000))
        .max()
        .unwrap_or(0);
    u64::try_from(longest)
        .unwrap_or(u64::MAX)
        .saturating_add(LEASE_MARGIN_SECONDS)
}

//! Prometheus metrics, served as text on the admin listener.

use std::ops::Deref;
use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The daemon's metrics. Cloning shares them: one reference count, since every request's state
/// holds a copy (a clone of each of the fifteen metrics' own handles was a measured per-request
/// cost). Reads go through [`MetricSet`].
#[derive(Clone)]
pub struct Metrics(Arc<MetricSet>);

impl Deref for Metrics {
    type Target = MetricSet;

    fn deref(&self) -> &MetricSet {
        &self.0
    }
}

/// Every metric the daemon keeps ([`Metrics`] shares one set).
pub struct MetricSet {
    registry: Registry,
    pub requests: IntCounterVec,
    pub sends: IntCounterVec,
    pub provider_latency: HistogramVec,
    pub verifies: IntCounterVec,
    pub reloads: IntCounterVec,
    /// Delivery receipts by provider and outcome (applied, refused, …).
    pub receipts: IntCounterVec,
    pub pending_sessions: IntGauge,
    /// Public requests refused with 503 `storage-unavailable`.
    pub storage_unavailable: IntCounter,
    /// 1 when the last readiness probe reached storage, 0 when it did not.
    pub storage_ready: IntGauge,
    /// Event deliveries waiting for their webhook endpoint (`events:`).
    pub events_pending: IntGauge,
    /// Attempts to deliver an event, by endpoint and outcome (`delivered`, `failed`,
    /// `given_up`).
    pub event_deliveries: IntCounterVec,
    /// Each provider's circuit breaker: 0 closed, 1 open, 2 half-open.
    pub breaker_state: IntGaugeVec,
    /// Breaker changes by provider and the state entered.
    pub breaker_transitions: IntCounterVec,
    /// Tries of provider sends by provider and outcome (`sent`, `refused`, or the error
    /// class), retries and fail-overs included.
    pub delivery_attempts: IntCounterVec,
}

impl Metrics {
    /// Registers every metric. Fails only on a metric named twice or an invalid name (the unit
    /// tests build it, so such a mistake never ships).
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_requests_total",
                "Public requests by route and status.",
            ),
            &["route", "status"],
        )?;
        let sends = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_sends_total",
                "Outbound requests (providers and upstream) by endpoint and outcome.",
            ),
            &["endpoint", "outcome"],
        )?;
        let provider_latency = HistogramVec::new(
            HistogramOpts::new(
                "mfa_bridge_provider_latency_seconds",
                "Time until a provider or the upstream answered.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["endpoint"],
        )?;
        let verifies = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_verify_total",
                "Code checks (confirm and verify) by outcome.",
            ),
            &["outcome"],
        )?;
        let reloads = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_reloads_total",
                "Configuration reloads by result (applied or refused).",
            ),
            &["result"],
        )?;
        let receipts = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_receipts_total",
                "Delivery receipts by provider and outcome (applied, refused, unknown-message, ...).",
            ),
            &["provider", "outcome"],
        )?;
        let pending_sessions = IntGauge::new(
            "mfa_bridge_pending_sessions",
            "MFA sessions waiting for a code.",
        )?;
        let storage_unavailable = IntCounter::new(
            "mfa_bridge_storage_unavailable_total",
            "Public requests refused because storage could not be reached (503).",
        )?;
        let storage_ready = IntGauge::new(
            "mfa_bridge_storage_ready",
            "1 when the last readiness probe reached storage, else 0.",
        )?;
        let events_pending = IntGauge::new(
            "mfa_bridge_events_pending",
            "Event deliveries waiting for their webhook endpoint.",
        )?;
        let event_deliveries = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_event_deliveries_total",
                "Attempts to deliver an event to a webhook endpoint, by endpoint and outcome.",
            ),
            &["endpoint", "outcome"],
        )?;
        registry.register(Box::new(events_pending.clone()))?;
        registry.register(Box::new(event_deliveries.clone()))?;
        let breaker_state = IntGaugeVec::new(
            Opts::new(
                "mfa_bridge_provider_breaker_state",
                "Each provider's circuit breaker: 0 closed, 1 open, 2 half-open.",
            ),
            &["provider"],
        )?;
        let breaker_transitions = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_provider_breaker_transitions_total",
                "Circuit breaker changes by provider and the state entered.",
            ),
            &["provider", "state"],
        )?;
        let delivery_attempts = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_delivery_attempts_total",
                "Tries of provider sends (retries and fail-overs included) by provider and outcome.",
            ),
            &["provider", "outcome"],
        )?;
        registry.register(Box::new(breaker_state.clone()))?;
        for c in [
            &requests,
            &sends,
            &verifies,
            &reloads,
            &breaker_transitions,
            &delivery_attempts,
            &receipts,
        ] {
            registry.register(Box::new(c.clone()))?;
        }
        registry.register(Box::new(provider_latency.clone()))?;
        registry.register(Box::new(pending_sessions.clone()))?;
        registry.register(Box::new(storage_unavailable.clone()))?;
        registry.register(Box::new(storage_ready.clone()))?;
        Ok(Metrics(Arc::new(MetricSet {
            registry,
            requests,
            sends,
            provider_latency,
            verifies,
            reloads,
            receipts,
            pending_sessions,
            storage_unavailable,
            storage_ready,
            events_pending,
            event_deliveries,
            breaker_state,
            breaker_transitions,
            delivery_attempts,
        })))
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_registers_and_renders() {
        let metrics = Metrics::new().unwrap();
        metrics.requests.with_label_values(&["/x", "200"]).inc();
        metrics.pending_sessions.set(3);
        metrics.storage_unavailable.inc();
        metrics.storage_ready.set(1);
        let text = metrics.render();
        assert!(text.contains("mfa_bridge_storage_unavailable_total 1"));
        assert!(text.contains("mfa_bridge_storage_ready 1"));
        assert!(text.contains("mfa_bridge_requests_total{route=\"/x\",status=\"200\"} 1"));
        assert!(text.contains("mfa_bridge_pending_sessions 3"));
    }
}

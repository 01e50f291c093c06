//! Prometheus metrics, served as text on the admin listener.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The daemon's metrics. Cloning shares them.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub sends: IntCounterVec,
    pub provider_latency: HistogramVec,
    pub verifies: IntCounterVec,
    pub reloads: IntCounterVec,
    pub pending_sessions: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_requests_total",
                "Public requests by route and status.",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let sends = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_sends_total",
                "Outbound requests (providers and upstream) by endpoint and outcome.",
            ),
            &["endpoint", "outcome"],
        )
        .expect("valid metric");
        let provider_latency = HistogramVec::new(
            HistogramOpts::new(
                "mfa_bridge_provider_latency_seconds",
                "Time until a provider or the upstream answered.",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["endpoint"],
        )
        .expect("valid metric");
        let verifies = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_verify_total",
                "Code checks (confirm and verify) by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let reloads = IntCounterVec::new(
            Opts::new(
                "mfa_bridge_reloads_total",
                "Configuration reloads by result (applied or refused).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let pending_sessions = IntGauge::new(
            "mfa_bridge_pending_sessions",
            "MFA sessions waiting for a code.",
        )
        .expect("valid metric");
        for c in [&requests, &sends, &verifies, &reloads] {
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
        }
        registry
            .register(Box::new(provider_latency.clone()))
            .expect("metric registered once");
        registry
            .register(Box::new(pending_sessions.clone()))
            .expect("metric registered once");
        Metrics {
            registry,
            requests,
            sends,
            provider_latency,
            verifies,
            reloads,
            pending_sessions,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

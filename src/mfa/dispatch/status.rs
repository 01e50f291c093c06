//! The providers as `/api/status` and the panel show them: each channel's providers in the
//! order of their priority, with their circuit breaker (this instance's).

use serde::Serialize;

use crate::metrics::Metrics;
use crate::provider::BreakerState;
use crate::snapshot::Snapshot;

use super::super::Mfa;

/// One provider and its breaker.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    pub name: String,
    pub channel: &'static str,
    pub mode: &'static str,
    /// The preset it comes from, if any.
    pub preset: Option<String>,
    pub priority: u32,
    pub weight: u32,
    pub breaker: BreakerState,
    /// Failures in a row (reset by a success).
    pub consecutive_failures: u32,
    /// Until when an open breaker keeps the provider out (seconds since the epoch).
    pub open_until: Option<u64>,
}

impl Mfa {
    /// Every configured provider with its breaker.
    pub fn provider_status(&self, snap: &Snapshot) -> Vec<ProviderStatus> {
        let breakers = self.sender.breakers().snapshot();
        snap.providers
            .iter()
            .map(|p| {
                let b = breakers
                    .get(&p.config.provider)
                    .cloned()
                    .unwrap_or_default();
                ProviderStatus {
                    name: p.config.provider.clone(),
                    channel: p.config.channel.name(),
                    mode: p.config.mode.name(),
                    preset: p.config.preset.as_ref().map(|s| s.name.clone()),
                    priority: p.priority,
                    weight: p.weight,
                    breaker: b.state,
                    consecutive_failures: b.consecutive_failures,
                    open_until: b.open_until,
                }
            })
            .collect()
    }

    /// Sets `mfa_bridge_provider_breaker_state` for every configured provider, so that a
    /// scrape shows each of them (closed until its first failure), not only those a send has
    /// moved.
    pub fn publish_breakers(&self, snap: &Snapshot, metrics: &Metrics) {
        for p in self.provider_status(snap) {
            metrics
                .breaker_state
                .with_label_values(&[p.name.as_str()])
                .set(p.breaker.gauge());
        }
    }
}

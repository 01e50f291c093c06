//! A circuit breaker per provider, in memory and per instance: after `breaker_failures`
//! consecutive failures it opens for `breaker_cooldown_seconds` (the provider is skipped),
//! then lets one probe send through (half-open), whose outcome closes it or opens it again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use crate::metrics::Metrics;

/// Where a breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }

    /// The value of the `mfa_bridge_provider_breaker_state` gauge: 0 closed, 1 open, 2
    /// half-open.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// What a breaker is set to (from `outbound`).
#[derive(Debug, Clone, Copy)]
pub struct BreakerPolicy {
    pub failures: u32,
    pub cooldown_seconds: u64,
}

/// One provider's breaker.
#[derive(Debug, Clone, Serialize)]
pub struct Breaker {
    pub state: BreakerState,
    /// Failures in a row (closed), reset by a success.
    pub consecutive_failures: u32,
    /// When it last opened (seconds since the epoch).
    pub opened_at: Option<u64>,
    /// Until when it stays open.
    pub open_until: Option<u64>,
    /// Whether the half-open probe is out (no other send passes meanwhile).
    #[serde(skip)]
    probing: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            opened_at: None,
            open_until: None,
            probing: false,
        }
    }
}

/// The breakers of every provider this instance has sent to, by provider name.
#[derive(Clone)]
pub struct Breakers {
    inner: Arc<Mutex<BTreeMap<String, Breaker>>>,
    metrics: Metrics,
}

impl Breakers {
    pub fn new(metrics: Metrics) -> Breakers {
        Breakers {
            inner: Default::default(),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Breaker>> {
        // A breaker is a few plain fields: a panic elsewhere cannot leave one half-written.
        match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether a send may go to `provider` now: always when closed; when open, not before its
    /// cool-down is over, then once (the probe: the breaker turns half-open); when half-open,
    /// not while the probe is out.
    pub fn admit(&self, provider: &str, now: u64) -> bool {
        let mut all = self.lock();
        let b = all.entry(provider.to_string()).or_default();
        match b.state {
            BreakerState::Closed => true,
            BreakerState::Open if b.open_until.is_some_and(|until| now >= until) => {
                b.probing = true;
                self.moved(provider, b, BreakerState::HalfOpen);
                true
            }
            BreakerState::Open => false,
            BreakerState::HalfOpen if !b.probing => {
                b.probing = true;
                true
            }
            BreakerState::HalfOpen => false,
        }
    }

    /// A send to `provider` that does not wait for its breaker (every provider's is open: the
    /// one opened least recently is tried anyway).
    pub fn force(&self, provider: &str) {
        let mut all = self.lock();
        let b = all.entry(provider.to_string()).or_default();
        if b.state == BreakerState::Open {
            b.probing = true;
            self.moved(provider, b, BreakerState::HalfOpen);
        }
    }

    /// Of `providers`, the one whose breaker opened least recently.
    pub fn least_recently_opened<'a>(&self, providers: &[&'a str]) -> Option<&'a str> {
        let all = self.lock();
        providers
            .iter()
            .min_by_key(|name| all.get(**name).and_then(|b| b.opened_at).unwrap_or(0))
            .copied()
    }

    /// The provider answered (any answer that is not a failure of its own).
    pub fn success(&self, provider: &str) {
        let mut all = self.lock();
        let b = all.entry(provider.to_string()).or_default();
        b.consecutive_failures = 0;
        b.probing = false;
        if b.state != BreakerState::Closed {
            b.open_until = None;
            self.moved(provider, b, BreakerState::Closed);
        }
    }

    /// The provider failed (no answer, 5xx, 429): a half-open breaker opens again, a closed
    /// one opens at `policy.failures` in a row.
    pub fn failure(&self, provider: &str, now: u64, policy: BreakerPolicy) {
        let mut all = self.lock();
        let b = all.entry(provider.to_string()).or_default();
        b.consecutive_failures = b.consecutive_failures.saturating_add(1);
        b.probing = false;
        let opens = match b.state {
            BreakerState::HalfOpen => true,
            BreakerState::Closed => b.consecutive_failures >= policy.failures,
            // A forced send while open: the cool-down starts over.
            BreakerState::Open => true,
        };
        if opens {
            b.opened_at = Some(now);
            b.open_until = Some(now.saturating_add(policy.cooldown_seconds));
            if b.state != BreakerState::Open {
                self.moved(provider, b, BreakerState::Open);
            }
        }
    }

    /// Every known breaker, by provider name.
    pub fn snapshot(&self) -> BTreeMap<String, Breaker> {
        self.lock().clone()
    }

    fn moved(&self, provider: &str, b: &mut Breaker, to: BreakerState) {
        b.state = to;
        self.metrics
            .breaker_state
            .with_label_values(&[provider])
            .set(to.gauge());
        self.metrics
            .breaker_transitions
            .with_label_values(&[provider, to.as_str()])
            .inc();
        tracing::warn!(provider, state = to.as_str(), "provider circuit breaker");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BreakerPolicy = BreakerPolicy {
        failures: 2,
        cooldown_seconds: 30,
    };

    fn breakers() -> Breakers {
        Breakers::new(Metrics::new().unwrap())
    }

    fn state(b: &Breakers, name: &str) -> BreakerState {
        b.snapshot()[name].state
    }

    #[test]
    fn it_opens_after_the_failures_in_a_row_and_a_success_resets_the_count() {
        let b = breakers();
        assert!(b.admit("p", 0));
        b.failure("p", 0, POLICY);
        b.success("p");
        b.failure("p", 0, POLICY);
        assert_eq!(state(&b, "p"), BreakerState::Closed);
        b.failure("p", 0, POLICY);
        assert_eq!(state(&b, "p"), BreakerState::Open);
        assert!(!b.admit("p", 29));
    }

    #[test]
    fn after_the_cool_down_one_probe_passes_and_closes_or_reopens_it() {
        let b = breakers();
        b.failure("p", 100, POLICY);
        b.failure("p", 100, POLICY);
        assert!(b.admit("p", 130), "the probe");
        assert_eq!(state(&b, "p"), BreakerState::HalfOpen);
        assert!(!b.admit("p", 130), "one probe at a time");
        b.failure("p", 131, POLICY);
        assert_eq!(state(&b, "p"), BreakerState::Open);
        assert!(!b.admit("p", 160));
        assert!(b.admit("p", 161));
        b.success("p");
        assert_eq!(state(&b, "p"), BreakerState::Closed);
        assert!(b.admit("p", 161));
    }

    #[test]
    fn the_least_recently_opened_is_chosen_when_all_are_open() {
        let b = breakers();
        for (name, at) in [("a", 50), ("b", 10), ("c", 30)] {
            b.failure(name, at, POLICY);
            b.failure(name, at, POLICY);
        }
        assert_eq!(b.least_recently_opened(&["a", "b", "c"]), Some("b"));
    }
}

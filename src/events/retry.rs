//! What becomes of a delivery after an attempt: delivered, tried again later (backing off
//! exponentially, with a jitter so that deliveries failed together do not come back together),
//! or given up once `events.max_attempts` or `events.max_age_seconds` is reached. Pure: the
//! time is given.

use sha2::{Digest, Sha256};

use crate::config::EventsConfig;
use crate::store::{DeliveryStatus, EventDelivery};

/// The longest wait between two attempts (s).
pub const MAX_BACKOFF_SECONDS: u64 = 3600;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx.
    Delivered,
    /// Anything else, by class: `status 500`, `timeout`, `unreachable`, `endpoint-removed`.
    Failed(String),
    /// The endpoint is no longer configured: nothing can deliver it.
    Unroutable,
}

/// The wait before the attempt that follows the `failures`-th failure (failures >= 1): 1 s,
/// 2 s, 4 s, … up to an hour, plus up to a quarter more, the same for one event and count.
pub fn backoff_seconds(id: &str, failures: u32) -> u64 {
    let base = 1u64
        .checked_shl(failures.saturating_sub(1).min(40))
        .unwrap_or(MAX_BACKOFF_SECONDS)
        .min(MAX_BACKOFF_SECONDS);
    let digest = Sha256::digest(format!("{id}/{failures}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    base + u64::from_be_bytes(first) % (base / 4 + 1)
}

/// `delivery` after `attempt` ended at `now`, under `config`.
pub fn after_attempt(
    delivery: &EventDelivery,
    attempt: &Attempt,
    now: u64,
    config: &EventsConfig,
) -> EventDelivery {
    let mut d = delivery.clone();
    d.attempts = d.attempts.saturating_add(1);
    d.updated_at = now;
    d.lease_until = 0;
    match attempt {
        Attempt::Delivered => {
            d.status = DeliveryStatus::Delivered;
            d.last_error = None;
        }
        Attempt::Unroutable => {
            d.status = DeliveryStatus::GivenUp;
            d.last_error = Some("endpoint-removed".into());
        }
        Attempt::Failed(error) => {
            d.last_error = Some(error.clone());
            let next_at = now.saturating_add(backoff_seconds(&d.id, d.attempts));
            let too_old = next_at > d.created_at.saturating_add(config.max_age_seconds);
            if d.attempts >= config.max_attempts || too_old {
                d.status = DeliveryStatus::GivenUp;
            } else {
                d.next_at = next_at;
            }
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DeliveryStatus::{Delivered, GivenUp, Pending};

    fn delivery() -> EventDelivery {
        EventDelivery {
            seq: 1,
            id: "evt_1".into(),
            endpoint: "hook".into(),
            username: "alice".into(),
            event_type: "mfa.verified".into(),
            payload: "{}".into(),
            created_at: 1000,
            status: Pending,
            attempts: 0,
            next_at: 1000,
            lease_until: 1010,
            last_error: None,
            updated_at: 1000,
        }
    }

    fn config(max_attempts: u32, max_age_seconds: u64) -> EventsConfig {
        EventsConfig {
            max_attempts,
            max_age_seconds,
            ..EventsConfig::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_an_hour_with_a_bounded_stable_jitter() {
        for failures in 1..=20u32 {
            let base = (1u64 << (failures - 1).min(40)).min(MAX_BACKOFF_SECONDS);
            let wait = backoff_seconds("evt_1", failures);
            assert!(
                (base..=base + base / 4).contains(&wait),
                "{failures}: {wait}"
            );
            assert_eq!(wait, backoff_seconds("evt_1", failures));
        }
        assert_eq!(backoff_seconds("evt_1", 1), 1);
        let spread: std::collections::HashSet<u64> = (0..50)
            .map(|i| backoff_seconds(&format!("evt_{i}"), 12))
            .collect();
        assert!(spread.len() > 10, "deliveries failed together spread out");
    }

    #[test]
    fn a_delivered_event_is_done_and_its_lease_released() {
        let d = after_attempt(&delivery(), &Attempt::Delivered, 1005, &config(3, 3600));
        assert_eq!((d.status, d.attempts, d.lease_until), (Delivered, 1, 0));
        assert_eq!(d.updated_at, 1005);
    }

    #[test]
    fn a_failure_is_tried_again_later_until_the_attempts_run_out() {
        let failed = Attempt::Failed("status 500".into());
        let cfg = config(3, 3600);
        let first = after_attempt(&delivery(), &failed, 1005, &cfg);
        assert_eq!((first.status, first.attempts), (Pending, 1));
        assert_eq!(first.next_at, 1005 + backoff_seconds("evt_1", 1));
        assert_eq!(first.last_error.as_deref(), Some("status 500"));
        let second = after_attempt(&first, &failed, 1010, &cfg);
        assert_eq!((second.status, second.attempts), (Pending, 2));
        let third = after_attempt(&second, &failed, 1020, &cfg);
        assert_eq!((third.status, third.attempts), (GivenUp, 3));
    }

    #[test]
    fn a_failure_whose_next_attempt_would_come_too_late_is_given_up() {
        let mut d = delivery();
        d.attempts = 10;
        let failed = Attempt::Failed("timeout".into());
        let kept = after_attempt(&d, &failed, 1000, &config(100, 3600));
        assert_eq!(kept.status, Pending, "{kept:?}");
        let late = after_attempt(&d, &failed, 4000, &config(100, 3600));
        assert_eq!(late.status, GivenUp);
        assert_eq!(late.last_error.as_deref(), Some("timeout"));
    }

    #[test]
    fn an_event_for_an_endpoint_no_longer_configured_is_given_up_at_once() {
        let d = after_attempt(&delivery(), &Attempt::Unroutable, 1001, &config(3, 3600));
        assert_eq!(d.status, GivenUp);
        assert_eq!(d.last_error.as_deref(), Some("endpoint-removed"));
    }
}

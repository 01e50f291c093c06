//! Attempt tallies and send logs: pure rules over stored counters, with time passed in.
//!
//! Every attempt is counted before it is checked, including those refused during a wait, so
//! that concurrent guesses cannot slip between a read and a write. Waits follow Extra Horizon's
//! model: after `free_failures`, each failure doubles the wait, up to `max_seconds`.

use serde::{Deserialize, Serialize};

use crate::config::AttemptPolicy;
use crate::store::{decode, encode};

/// What the `counters` tree holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
enum StoredCounter {
    #[serde(rename = "1")]
    V1(Counter),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Counter {
    Tally(Tally),
    Sends(SendLog),
}

/// A user's wrong attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub failures: u32,
    pub last_at: u64,
    /// Attempts before this instant are refused unchecked.
    pub locked_until: u64,
    /// When the tally lapses (no attempt for a window).
    pub expires_at: u64,
}

/// The recent sends of a user or a destination, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendLog {
    pub sent_at: Vec<u64>,
    pub expires_at: u64,
}

pub(crate) fn tally_key(username: &str) -> Vec<u8> {
    [b"t:".as_slice(), username.as_bytes()].concat()
}

pub(crate) fn user_sends_key(username: &str) -> Vec<u8> {
    [b"u:".as_slice(), username.as_bytes()].concat()
}

pub(crate) fn destination_sends_key(destination_hash: &str) -> Vec<u8> {
    [b"d:".as_slice(), destination_hash.as_bytes()].concat()
}

pub(crate) fn read_tally(raw: Option<&[u8]>) -> Option<Tally> {
    match decode::<StoredCounter>(raw?) {
        Ok(StoredCounter::V1(Counter::Tally(t))) => Some(t),
        _ => None,
    }
}

pub(crate) fn read_sends(raw: Option<&[u8]>) -> Option<SendLog> {
    match decode::<StoredCounter>(raw?) {
        Ok(StoredCounter::V1(Counter::Sends(s))) => Some(s),
        _ => None,
    }
}

pub(crate) fn write_tally(t: Tally) -> Option<Vec<u8>> {
    encode(&StoredCounter::V1(Counter::Tally(t))).ok()
}

pub(crate) fn write_sends(s: SendLog) -> Option<Vec<u8>> {
    if s.sent_at.is_empty() {
        return None;
    }
    encode(&StoredCounter::V1(Counter::Sends(s))).ok()
}

/// For the sweeper: a counter whose window is over (or that cannot be read).
pub(crate) fn counter_expired(raw: &[u8], now: u64) -> bool {
    match decode::<StoredCounter>(raw) {
        Ok(StoredCounter::V1(Counter::Tally(t))) => t.expires_at <= now,
        Ok(StoredCounter::V1(Counter::Sends(s))) => s.expires_at <= now,
        Err(_) => true,
    }
}

/// The wait after the `k`-th failure beyond the free ones (k >= 1).
pub fn wait_seconds(policy: &AttemptPolicy, k: u32) -> u64 {
    let doublings = (k.saturating_sub(1)).min(63);
    policy
        .base_seconds
        .saturating_mul(1u64 << doublings)
        .min(policy.max_seconds)
}

/// Counts one attempt at `now`. Returns the new tally and, when the attempt falls in a wait,
/// the seconds left (the attempt must then be refused unchecked).
pub fn count_attempt(old: Option<Tally>, now: u64, policy: &AttemptPolicy) -> (Tally, Option<u64>) {
    let mut t = match old {
        Some(t) if now < t.last_at.saturating_add(policy.window_seconds) => t,
        _ => Tally {
            failures: 0,
            last_at: now,
            locked_until: 0,
            expires_at: 0,
        },
    };
    let in_wait = t.locked_until > now;
    t.failures = t.failures.saturating_add(1);
    t.last_at = now;
    if t.failures > policy.free_failures {
        let wait = wait_seconds(policy, t.failures - policy.free_failures);
        t.locked_until = t.locked_until.max(now.saturating_add(wait));
    }
    t.expires_at = now
        .saturating_add(policy.window_seconds)
        .max(t.locked_until);
    // A refused attempt counts too, so the wait it is told is the one it extended.
    let refused = in_wait.then(|| t.locked_until - now);
    (t, refused)
}

/// Reserves one send at `now` in a sliding window. `Err(seconds)` when the window is full:
/// the seconds until its oldest send leaves it.
pub fn reserve_send(
    old: Option<SendLog>,
    now: u64,
    window: u64,
    limit: u32,
) -> (SendLog, Result<(), u64>) {
    let mut log = old.unwrap_or(SendLog {
        sent_at: Vec::new(),
        expires_at: 0,
    });
    log.sent_at.retain(|&t| t.saturating_add(window) > now);
    let outcome = if log.sent_at.len() >= limit as usize {
        let oldest = log.sent_at[0];
        Err((oldest + window - now).max(1))
    } else {
        log.sent_at.push(now);
        Ok(())
    };
    log.expires_at = log.sent_at.last().map_or(now, |&t| t + window);
    (log, outcome)
}

/// Gives back a reservation made at `at` (the request never reached the provider).
pub fn release_send(old: Option<SendLog>, at: u64) -> Option<SendLog> {
    let mut log = old?;
    if let Some(i) = log.sent_at.iter().rposition(|&t| t == at) {
        log.sent_at.remove(i);
    }
    Some(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> AttemptPolicy {
        AttemptPolicy {
            per_session: 5,
            free_failures: 3,
            base_seconds: 1,
            max_seconds: 900,
            window_seconds: 86_400,
        }
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double_up_to_the_maximum() {
        let p = policy();
        let waits: Vec<u64> = (1..=12).map(|k| wait_seconds(&p, k)).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        assert_eq!(wait_seconds(&p, 500), 900);
    }

    #[test]
    fn the_fourth_failure_sets_the_first_wait_and_attempts_during_it_are_refused() {
        let p = policy();
        let mut t = None;
        for _ in 0..3 {
            let (next, refused) = count_attempt(t, 100, &p);
            assert_eq!(refused, None);
            assert_eq!(next.locked_until, 0);
            t = Some(next);
        }
        let (next, refused) = count_attempt(t, 100, &p);
        assert_eq!((refused, next.locked_until), (None, 101));
        let (next, refused) = count_attempt(Some(next), 100, &p);
        assert_eq!(
            refused,
            Some(2),
            "a refused attempt is told the wait it extended"
        );
        assert_eq!(next.locked_until, 102, "a refused attempt counts too");
        let (_, refused) = count_attempt(Some(next), 102, &p);
        assert_eq!(refused, None);
    }

    #[test]
    fn fifty_attempts_at_once_count_fifty_and_reach_the_maximum_wait() {
        let p = policy();
        let mut t = None;
        let mut refused = 0;
        for _ in 0..50 {
            let (next, r) = count_attempt(t, 1000, &p);
            refused += usize::from(r.is_some());
            t = Some(next);
        }
        let t = t.unwrap();
        assert_eq!((t.failures, refused), (50, 46));
        assert_eq!(t.locked_until, 1900);
    }

    #[test]
    fn a_tally_lapses_after_its_window() {
        let p = policy();
        let old = Tally {
            failures: 40,
            last_at: 0,
            locked_until: 900,
            expires_at: 86_400,
        };
        let (t, refused) = count_attempt(Some(old), 86_400, &p);
        assert_eq!((t.failures, refused), (1, None));
    }

    #[test]
    fn a_full_send_window_refuses_until_its_oldest_send_leaves() {
        let (log, r) = reserve_send(None, 10, 3600, 2);
        assert!(r.is_ok());
        let (log, r) = reserve_send(Some(log), 20, 3600, 2);
        assert!(r.is_ok());
        let (log, r) = reserve_send(Some(log), 30, 3600, 2);
        assert_eq!(r, Err(3580));
        assert_eq!(log.sent_at, vec![10, 20]);
        let (log, r) = reserve_send(Some(log), 3610, 3600, 2);
        assert!(r.is_ok());
        assert_eq!(log.sent_at, vec![20, 3610]);
        let log = release_send(Some(log), 3610).unwrap();
        assert_eq!(log.sent_at, vec![20]);
    }

    #[test]
    fn counters_expire_with_their_window() {
        let (t, _) = count_attempt(None, 0, &policy());
        let raw = write_tally(t).unwrap();
        assert!(!counter_expired(&raw, 86_399));
        assert!(counter_expired(&raw, 86_400));
        assert_eq!(read_tally(Some(&raw)), Some(t));
    }
}

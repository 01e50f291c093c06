//! What a provider's answer (or its absence) means for a send: accepted, refused for good
//! (the request is wrong: not retried), or a failure of the provider that a retry or another
//! provider may overcome; and how long to wait before the retry (jittered exponential backoff,
//! at least what `Retry-After` asks).

use std::time::Duration;

use rand::Rng;

use super::{Reply, SendError};

/// How one try of a send ended.
#[derive(Debug)]
pub enum TryOutcome {
    /// The provider answered 2xx (its `success` predicate is checked by the caller).
    Answered,
    /// The provider answered that the request is wrong (a 4xx other than 408 and 429, or a
    /// 3xx): another try would be refused alike.
    Refused,
    /// The provider failed: no answer, a 5xx, a 408 or a 429.
    Failed(Failure),
}

/// A failure of the provider, retried or failed over.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The error class the message log records: `timeout`, `unreachable`, `reset`, `5xx`,
    /// `429`, `too-large`.
    pub class: &'static str,
    /// Whether the provider may have received the request (a time-out or a reset after the
    /// request was written, any answer): a retry then goes to the same provider with the same
    /// send id first, so that one honouring the id sends once.
    pub ambiguous: bool,
    /// What the provider's `Retry-After` asked.
    pub retry_after: Option<Duration>,
    /// Whether the request left at all (a connect failure: it did not; the send limits give
    /// such a send back).
    pub reached: bool,
}

/// The outcome of one try.
pub fn classify(result: &Result<Reply, SendError>) -> TryOutcome {
    match result {
        Ok(r) if (200..300).contains(&r.status) => TryOutcome::Answered,
        Ok(r) if r.status == 429 || r.status == 408 || r.status >= 500 => {
            TryOutcome::Failed(Failure {
                class: if r.status == 429 { "429" } else { "5xx" },
                ambiguous: true,
                retry_after: r.retry_after,
                reached: true,
            })
        }
        Ok(_) => TryOutcome::Refused,
        Err(e) => TryOutcome::Failed(match e {
            SendError::Connect => Failure {
                class: "unreachable",
                ambiguous: false,
                retry_after: None,
                reached: false,
            },
            SendError::Timeout => Failure {
                class: "timeout",
                ambiguous: true,
                retry_after: None,
                reached: true,
            },
            SendError::TooLarge { .. } => Failure {
                class: "too-large",
                ambiguous: true,
                retry_after: None,
                reached: true,
            },
            SendError::Outbox(_) => Failure {
                class: "unreachable",
                ambiguous: false,
                retry_after: None,
                reached: false,
            },
            SendError::Other(_) => Failure {
                class: "reset",
                ambiguous: true,
                retry_after: None,
                reached: true,
            },
        }),
    }
}

/// The wait before retry `n` (1 for the first retry): `base` doubled `n - 1` times, capped at
/// `max`, drawn at random between half and all of it, and never less than `retry_after`.
pub fn backoff(n: u32, base: Duration, max: Duration, retry_after: Option<Duration>) -> Duration {
    let doubled = base.saturating_mul(1u32 << n.saturating_sub(1).min(16));
    let full = doubled.min(max);
    let half = full / 2;
    let jitter = rand::thread_rng().gen_range(0..=(full - half).as_millis() as u64);
    let wait = half + Duration::from_millis(jitter);
    wait.max(retry_after.unwrap_or_default())
}

/// `Retry-After` in seconds (an HTTP date is not honoured: the backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn reply(status: u16) -> Result<Reply, SendError> {
        Ok(Reply {
            status,
            content_type: None,
            body: Bytes::new(),
            retry_after: Some(Duration::from_secs(2)),
        })
    }

    #[test]
    fn a_wrong_request_is_refused_and_a_provider_failure_is_retried() {
        assert!(matches!(classify(&reply(200)), TryOutcome::Answered));
        assert!(matches!(classify(&reply(400)), TryOutcome::Refused));
        assert!(matches!(classify(&reply(404)), TryOutcome::Refused));
        for status in [429, 500, 503, 408] {
            let TryOutcome::Failed(f) = classify(&reply(status)) else {
                panic!("{status} is a provider failure");
            };
            assert_eq!(f.retry_after, Some(Duration::from_secs(2)));
            assert!(f.ambiguous && f.reached);
        }
        let TryOutcome::Failed(f) = classify(&Err(SendError::Connect)) else {
            panic!("a connect failure is a provider failure");
        };
        assert!(!f.reached && !f.ambiguous);
        let TryOutcome::Failed(f) = classify(&Err(SendError::Timeout)) else {
            panic!("a time-out is a provider failure");
        };
        assert!(f.ambiguous, "the request may have arrived");
    }

    #[test]
    fn the_backoff_doubles_within_its_bounds_and_honours_retry_after() {
        let (base, max) = (Duration::from_millis(100), Duration::from_millis(350));
        for _ in 0..50 {
            let first = backoff(1, base, max, None);
            assert!((50..=100).contains(&first.as_millis()), "{first:?}");
            let third = backoff(3, base, max, None);
            assert!((175..=350).contains(&third.as_millis()), "{third:?}");
        }
        let asked = backoff(1, base, max, Some(Duration::from_secs(3)));
        assert_eq!(asked, Duration::from_secs(3));
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}

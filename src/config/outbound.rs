//! `outbound`: the time-outs of every request the daemon sends (providers and upstream), how
//! much of an answer it reads, and how a send to the providers is retried, failed over and
//! kept within its deadline (circuit breakers included).

use std::time::Duration;

use serde_yaml::Value;

use super::walk::{Fields, Problems};

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// The most bytes of an answer's body that are read: a longer answer is a failure of the
    /// provider or upstream, read no further (a peer cannot make the daemon hold a huge body).
    pub max_answer_bytes: usize,
    /// The whole time a send may take across its retries and providers: every wait and every
    /// request's time-out fits in it, so the client gets its answer in bounded time.
    pub send_deadline: Duration,
    /// Tries of one provider after its first one failed (connect failure, time-out, 5xx,
    /// 429), before the send falls over to the next provider.
    pub retries: u32,
    /// The first wait before a retry; each further one doubles it (up to `backoff_max`), and
    /// each is drawn at random between half and all of it (jitter).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failures after which a provider's circuit breaker opens.
    pub breaker_failures: u32,
    /// How long an open breaker keeps its provider out before one probe send is let through.
    pub breaker_cooldown_seconds: u64,
}

/// `outbound.send_deadline_ms` when not set: above `timeout_ms`'s default, so that one
/// provider answering slowly still has its whole time-out.
pub const DEFAULT_SEND_DEADLINE: Duration = Duration::from_millis(15_000);

/// `outbound.max_answer_bytes` when not set: far above what a provider or a login API answers.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(super) fn parse_outbound(value: Option<&Value>, p: &mut Problems) -> Option<OutboundConfig> {
    let mut cfg = OutboundConfig {
        connect_timeout: Duration::from_millis(3000),
        timeout: Duration::from_millis(10_000),
        max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
        send_deadline: DEFAULT_SEND_DEADLINE,
        retries: 0,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_millis(2000),
        breaker_failures: 5,
        breaker_cooldown_seconds: 30,
    };
    if let Some(v) = value {
        let mut f = Fields::of(p, "outbound", v)?;
        if let Some(n) = f.integer(p, "connect_timeout_ms", 1..=60_000) {
            cfg.connect_timeout = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "timeout_ms", 1..=120_000) {
            cfg.timeout = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "max_answer_bytes", 1024..=16 * 1024 * 1024) {
            cfg.max_answer_bytes = n as usize;
        }
        if let Some(n) = f.integer(p, "send_deadline_ms", 100..=300_000) {
            cfg.send_deadline = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "retries", 0..=10) {
            cfg.retries = n as u32;
        }
        if let Some(n) = f.integer(p, "backoff_ms", 1..=60_000) {
            cfg.backoff_base = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "backoff_max_ms", 1..=300_000) {
            cfg.backoff_max = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "breaker_failures", 1..=1000) {
            cfg.breaker_failures = n as u32;
        }
        if let Some(n) = f.integer(p, "breaker_cooldown_seconds", 1..=86_400) {
            cfg.breaker_cooldown_seconds = n;
        }
        f.finish(p);
        if cfg.backoff_max < cfg.backoff_base {
            p.push("outbound.backoff_max_ms", "must be at least backoff_ms");
        }
    }
    Some(cfg)
}

//! `outbound`: the time-outs of every request the daemon sends (providers and upstream), and
//! how much of an answer it reads.

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
}

/// `outbound.max_answer_bytes` when not set: far above what a provider or a login API answers.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(super) fn parse_outbound(value: Option<&Value>, p: &mut Problems) -> Option<OutboundConfig> {
    let mut cfg = OutboundConfig {
        connect_timeout: Duration::from_millis(3000),
        timeout: Duration::from_millis(10_000),
        max_answer_bytes: DEFAULT_MAX_ANSWER_BYTES,
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
        f.finish(p);
    }
    Some(cfg)
}

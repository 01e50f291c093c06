//! `outbound`: the time-outs of every request the daemon sends (providers and upstream).

use std::time::Duration;

use serde_yaml::Value;

use super::walk::{Fields, Problems};

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

pub(super) fn parse_outbound(value: Option<&Value>, p: &mut Problems) -> Option<OutboundConfig> {
    let mut cfg = OutboundConfig {
        connect_timeout: Duration::from_millis(3000),
        timeout: Duration::from_millis(10_000),
    };
    if let Some(v) = value {
        let mut f = Fields::of(p, "outbound", v)?;
        if let Some(n) = f.integer(p, "connect_timeout_ms", 1..=60_000) {
            cfg.connect_timeout = Duration::from_millis(n);
        }
        if let Some(n) = f.integer(p, "timeout_ms", 1..=120_000) {
            cfg.timeout = Duration::from_millis(n);
        }
        f.finish(p);
    }
    Some(cfg)
}

//! What one suite gathers (every report of every run, the memory and reload runs, the cold
//! starts, the disk's fsync times) and the accessors the tables and the targets read it with.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fsync::Fsync;
use crate::peer::PeerResults;
use crate::{
    daemon::Deployment,
    report::{Latency, Report, Spread},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum What {
    Ceiling,
    Login,
    /// The full flow on a daemon with the default, strict durability.
    Flow,
    /// The full flow on a daemon with `storage.durability: periodic`.
    FlowPeriodic,
}

/// The concurrency of the flow measured with `durability: periodic` (the p99 target's).
pub const PERIODIC_C: usize = 64;

/// The deployments measured with `durability: periodic`.
pub const PERIODIC: [Deployment; 2] = [Deployment::StandaloneSingle, Deployment::ProxySingle];

#[derive(Default, Serialize)]
pub struct PendingRun {
    pub sessions: u64,
    pub report: Option<Report>,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub dir_apparent_bytes: u64,
    pub dir_allocated_bytes: u64,
    /// Wall seconds of the whole measurement (enrolment and the settling wait included).
    pub seconds: f64,
}

#[derive(Default, Serialize)]
pub struct ReloadRun {
    pub report: Option<Report>,
    pub rewrites: u32,
    pub last_revision_seen: bool,
}

#[derive(Default, Serialize)]
pub struct Results {
    /// (what, deployment name or "-", concurrency) -> one report per run.
    pub throughput: BTreeMap<String, Vec<Report>>,
    pub pending: Vec<PendingRun>,
    /// The large pending measurement (`--pending-large`), one run.
    pub pending_large: Option<PendingRun>,
    pub reload: Vec<ReloadRun>,
    /// Per run, every cold start in milliseconds.
    pub cold_start_ms: Vec<Vec<f64>>,
    /// Per run, the fsync times of the data directory's file system.
    pub fsync: Vec<Fsync>,
    /// The file system type of the data directory.
    pub file_system: String,
    pub fakes_served: u64,
    pub fakes_cpu_seconds: f64,
    /// Pryv's service-mfa measured in the same run, when it was.
    pub peer: Option<PeerResults>,
    /// Wall seconds of the whole suite.
    pub seconds: f64,
}

pub fn key(what: What, deployment: Option<Deployment>, c: usize) -> String {
    format!(
        "{:?}|{}|{c}",
        what,
        deployment.map(|d| d.name()).unwrap_or("-")
    )
}

impl Results {
    /// The reports of one measurement, one per run (empty when not measured).
    pub fn get(&self, what: What, deployment: Option<Deployment>, c: usize) -> &[Report] {
        self.throughput
            .get(&key(what, deployment, c))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub fn push(&mut self, what: What, deployment: Option<Deployment>, c: usize, report: Report) {
        self.throughput
            .entry(key(what, deployment, c))
            .or_default()
            .push(report);
    }

    /// Per run, `ours` ÷ (ceiling ÷ `exchanges`) with the ceiling of the same run and
    /// concurrency.
    pub fn ceiling_ratio(&self, what: What, d: Deployment, c: usize, exchanges: u32) -> Spread {
        let ceiling = self.get(What::Ceiling, None, c);
        let ours = self.get(what, Some(d), c);
        let v: Vec<f64> = ceiling
            .iter()
            .zip(ours)
            .map(|(ce, o)| o.per_second / (ce.per_second / exchanges as f64))
            .collect();
        Spread::of(&v)
    }

    /// The fsync percentiles over the runs.
    pub fn fsync_spread(&self, f: fn(&Fsync) -> f64) -> Spread {
        Spread::of(&self.fsync.iter().map(f).collect::<Vec<_>>())
    }
}

pub fn spread_of<'a>(
    reports: impl IntoIterator<Item = &'a Report>,
    f: impl Fn(&Report) -> f64,
) -> Spread {
    let values: Vec<f64> = reports.into_iter().map(f).collect();
    Spread::of(&values)
}

/// CPU µs per operation of `who` (NaN when not measured).
pub fn cpu_us(who: &'static str) -> impl Fn(&Report) -> f64 {
    move |r: &Report| r.cpu_us_per_op.get(who).copied().unwrap_or(f64::NAN)
}

/// Cores used by `who` over the window (NaN when not measured).
pub fn cores(who: &'static str) -> impl Fn(&Report) -> f64 {
    move |r: &Report| r.cpu_cores.get(who).copied().unwrap_or(f64::NAN)
}

/// A latency figure of `route` (NaN when the route was not measured).
pub fn lat(route: &'static str, p: fn(&Latency) -> f64) -> impl Fn(&Report) -> f64 {
    move |r: &Report| r.latency.get(route).map(p).unwrap_or(f64::NAN)
}

pub fn failed(reports: &[Report]) -> u64 {
    reports.iter().map(|r| r.failed).sum()
}

/// A median that was measured (`None` when no run gave a figure).
pub fn median(s: Spread) -> Option<f64> {
    (s.n > 0).then_some(s.median)
}

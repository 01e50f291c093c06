//! The peer: Pryv's service-mfa (Node), the service mfa-bridge replaces, measured by `mfa-bench
//! suite --peer DIR` in the same runs as the daemon. DIR is the runnable copy that
//! `scripts/peer-service-mfa prepare` makes from checkouts of its public repository and of
//! `@pryv/boiler` (never copied into ours). Each run starts a fresh peer against the suite's
//! fakes (its core is the fake upstream, its SMS endpoint the fake provider), enrols users
//! through it and measures the login and the full flow at every concurrency, with the scenarios
//! of the proxy single deployment (the peer is a proxy, single-mode service). The peer's CPU is
//! its node process's, from /proc/PID/stat like the daemon's.

mod process;
mod section;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    client::Target,
    cpu,
    fakes::Fakes,
    report::{Report, Spread},
    scenarios::{self, FirstFactor, Probe, RunConfig, Scenario, SmsMode, Stop},
};

pub use section::section;

/// The probe's name for the peer's process.
pub const PEER: &str = "peer";

/// What `scripts/peer-service-mfa prepare` wrote in DIR/peer.json.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct PeerInfo {
    pub service_mfa_commit: String,
    #[serde(default)]
    pub service_mfa_version: String,
    pub boiler_commit: String,
    pub node: String,
}

/// The two measurements, as in the proxy deployments' rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Measure {
    Login,
    Flow,
}

impl Measure {
    pub const ALL: [Measure; 2] = [Measure::Login, Measure::Flow];

    fn scenario(self) -> Scenario {
        match self {
            Measure::Login => Scenario::Login,
            Measure::Flow => Scenario::Flow,
        }
    }

    /// The latency route of the whole operation.
    pub fn route(self) -> &'static str {
        match self {
            Measure::Login => "login",
            Measure::Flow => "flow",
        }
    }
}

fn key(measure: Measure, c: usize) -> String {
    format!("{}|{c}", measure.route())
}

/// The peer's measurements of a suite: kept in the suite's results (`Results::peer`).
#[derive(Debug, Serialize)]
pub struct PeerResults {
    #[serde(skip)]
    prepared: PathBuf,
    pub info: PeerInfo,
    /// "login|c" or "flow|c" -> one report per run, in run order.
    pub throughput: BTreeMap<String, Vec<Report>>,
}

/// What one run's measurement needs from the suite.
pub struct Setup<'a> {
    pub fakes: &'a Fakes,
    pub provider: &'a Target,
    /// The suite's temporary folder (the peer's log goes in a folder of it).
    pub tmp: &'a Path,
    pub run: usize,
    pub concurrency: &'a [usize],
    pub duration: Duration,
    pub warmup: Duration,
    pub users: usize,
}

impl PeerResults {
    /// Results to come for the copy prepared in `prepared`; refused when it is not prepared.
    pub fn prepared(prepared: &Path) -> Result<PeerResults, String> {
        let manifest = prepared.join("peer.json");
        let text = std::fs::read_to_string(&manifest).map_err(|e| {
            format!(
                "--peer {}: {e} (prepare it first: {} prepare --service-mfa DIR --boiler DIR --out {})",
                manifest.display(),
                process::script().display(),
                prepared.display()
            )
        })?;
        let info =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest.display()))?;
        let prepared = prepared
            .canonicalize()
            .map_err(|e| format!("{}: {e}", prepared.display()))?;
        Ok(PeerResults {
            prepared,
            info,
            throughput: BTreeMap::new(),
        })
    }

    /// One report per run of `measure` at concurrency `c`.
    pub fn reports(&self, measure: Measure, c: usize) -> &[Report] {
        self.throughput
            .get(&key(measure, c))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// The peer's full flows per core at concurrency `c` (flows/s ÷ the cores its process
    /// used), median of the runs; `None` when not measured at `c`.
    pub fn flows_per_core(&self, c: usize) -> Option<f64> {
        flows_per_core(self.reports(Measure::Flow, c), PEER)
    }

    /// Starts a fresh peer, enrols `setup.users` users through it and measures the login and
    /// the flow at each concurrency; the reports join the earlier runs'.
    pub async fn measure_run(&mut self, setup: &Setup<'_>) -> Result<(), String> {
        let peer = process::PeerProcess::start(
            &self.prepared,
            &setup.tmp.join(format!("r{}-peer", setup.run)),
            &setup.fakes.upstream_url,
            &setup.fakes.provider_url,
        )
        .await?;
        let target = Target::parse(&peer.url())?;
        let users = Arc::new(scenarios::users(&crate::fresh_prefix(), setup.users));
        scenarios::enrol(
            &target,
            &FirstFactor::Proxy,
            SmsMode::Single,
            Some(setup.provider),
            &users,
            16,
        )
        .await
        .map_err(|e| format!("the peer: {e}; its log:\n{}", peer.log()))?;
        for &c in setup.concurrency {
            for measure in Measure::ALL {
                let report = scenarios::run(RunConfig {
                    target: target.clone(),
                    spread: Vec::new(),
                    scenario: measure.scenario(),
                    concurrency: c,
                    stop: Stop::Duration(setup.duration),
                    warmup: setup.warmup,
                    first_factor: FirstFactor::Proxy,
                    mode: SmsMode::Single,
                    provider: Some(setup.provider.clone()),
                    users: users.clone(),
                    timeout: Duration::from_secs(10),
                    probe: Some(probe(peer.pid)),
                })
                .await;
                eprint!("[peer] {}", report.text());
                self.throughput
                    .entry(key(measure, c))
                    .or_default()
                    .push(report);
            }
        }
        peer.stop().await;
        Ok(())
    }
}

/// Operations per second per core of `who` in one report (its rate ÷ the cores `who` used).
pub fn per_core(report: &Report, who: &str) -> Option<f64> {
    let cores = report.cpu_cores.get(who).copied()?;
    (cores > 0.0 && report.per_second.is_finite()).then(|| report.per_second / cores)
}

/// Median over the runs of [`per_core`]; `None` when no run has the figure.
pub fn flows_per_core(reports: &[Report], who: &str) -> Option<f64> {
    let values: Vec<f64> = reports.iter().filter_map(|r| per_core(r, who)).collect();
    let spread = Spread::of(&values);
    (spread.n > 0).then_some(spread.median)
}

fn probe(pid: u32) -> Probe {
    cpu::process_probe(PEER, pid)
}

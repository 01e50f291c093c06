//! Issue 16's targets, each read from the suite's results and judged: daemon CPU per flow and
//! per login, the flow against the loopback ceiling, the peer per core, the flow p99 under both
//! durabilities, memory with many pending sessions, cold start.

use super::{
    results::{cores, cpu_us, lat, median, spread_of, Results, What, PERIODIC, PERIODIC_C},
    verdict::{self, Goal, Row, SEE_ANALYSIS},
};
use crate::{daemon::Deployment, report::Spread};

/// The concurrency of the CPU and ceiling targets.
pub const TARGET_C: usize = 16;

/// The concurrency of the p99 targets.
pub const P99_C: usize = 64;

fn not_at(c: usize) -> String {
    format!("c={c} was not in `--concurrency`")
}

/// A row judged from a spread of figures shown with `decimals` and `unit`.
fn row(target: String, c: usize, s: Spread, decimals: usize, unit: &str, goal: Goal) -> Row {
    let measured = if unit.is_empty() || s.n == 0 {
        s.show(decimals).replace("n/a", "–")
    } else {
        format!("{} {unit}", s.show(decimals))
    };
    let row = Row::judged(target, Some(c), median(s), measured, goal, goal.text(unit));
    if s.n == 0 {
        row.because(not_at(c))
    } else {
        row
    }
}

pub fn rows(results: &Results) -> Vec<Row> {
    let c = TARGET_C;
    let mut rows = Vec::new();
    let proxy = results.get(What::Flow, Some(Deployment::ProxySingle), c);
    let proxy_cpu = spread_of(proxy, cpu_us("daemon"));
    for (goal, label) in [(200.0, ""), (150.0, " (stretch)")] {
        rows.push(row(
            format!("daemon CPU per flow, proxy single{label}"),
            c,
            proxy_cpu,
            1,
            "µs",
            Goal::AtMost(goal),
        ));
    }
    let login = results.get(What::Login, Some(Deployment::StandaloneSingle), c);
    rows.push(row(
        "daemon CPU per login, standalone single".into(),
        c,
        spread_of(login, cpu_us("daemon")),
        1,
        "µs",
        Goal::AtMost(40.0),
    ));
    for d in Deployment::ALL {
        let s = results.ceiling_ratio(What::Flow, d, c, d.flow_exchanges());
        let rs = results.get(What::Flow, Some(d), c);
        let share = |who| spread_of(rs, cores(who)).median;
        let r = row(
            format!(
                "flow, {}: flows/s ÷ (ceiling ÷ {})",
                d.name(),
                d.flow_exchanges()
            ),
            c,
            s,
            2,
            "",
            Goal::AtLeast(0.35),
        );
        rows.push(if s.n == 0 {
            r
        } else {
            r.because(format!(
                "daemon {:.0} µs of CPU per flow; the machine was busy {:.2} cores: daemon {:.2}, client {:.2}, fakes {:.2}; {SEE_ANALYSIS}",
                spread_of(rs, cpu_us("daemon")).median,
                share("machine"),
                share("daemon"),
                share("client"),
                share("fakes"),
            ))
        });
    }
    rows.push(peer_row(results, proxy_cpu));
    let fsync = format!(
        "this disk's fsync p99 {} ms (p50 {} ms; {} writes of 4 KiB per run, this run)",
        results.fsync_spread(|f| f.p99_ms).show(2),
        results.fsync_spread(|f| f.p50_ms).show(2),
        super::fsync::WRITES,
    );
    for d in PERIODIC {
        let s = spread_of(
            results.get(What::FlowPeriodic, Some(d), PERIODIC_C),
            lat("flow", |l| l.p99_ms),
        );
        rows.push(row(
            format!("flow p99, {}, `durability: periodic`", d.name()),
            PERIODIC_C,
            s,
            2,
            "ms",
            Goal::AtMost(10.0),
        ));
    }
    for d in PERIODIC {
        let s = spread_of(
            results.get(What::Flow, Some(d), P99_C),
            lat("flow", |l| l.p99_ms),
        );
        let r = row(
            format!("flow p99, {}, strict durability", d.name()),
            P99_C,
            s,
            2,
            "ms",
            Goal::Shown,
        );
        rows.push(if s.n == 0 {
            r
        } else {
            r.because(fsync.clone())
        });
    }
    rows.push(rss_row(results.pending.iter().collect(), 100_000, 48.0));
    rows.push(rss_row(
        results.pending_large.iter().collect(),
        1_000_000,
        96.0,
    ));
    let cold = Spread::of(
        &results
            .cold_start_ms
            .iter()
            .map(|v| Spread::of(v).median)
            .collect::<Vec<_>>(),
    );
    let mut cold_row = row(
        "cold start to the first answer".into(),
        0,
        cold,
        1,
        "ms",
        Goal::AtMost(50.0),
    );
    cold_row.c = None;
    rows.push(cold_row);
    rows
}

/// Flows per daemon core (10⁶ ÷ its CPU µs per flow) ÷ the peer's flows per core.
fn peer_row(results: &Results, daemon_cpu: Spread) -> Row {
    let c = TARGET_C;
    let target = "flows per daemon core ÷ the peer's, proxy single";
    let peer = results.peer.as_ref().and_then(|p| p.flows_per_core(c));
    let ours = (daemon_cpu.n > 0).then(|| 1e6 / daemon_cpu.median);
    let ratio = ours.zip(peer).map(|(o, p)| o / p);
    let measured = match (ours, peer, ratio) {
        (Some(o), Some(p), Some(r)) => format!("{r:.1}× ({o:.0} ÷ {p:.0} flows per core)"),
        (Some(o), None, _) => format!("ours {o:.0} flows per core; the peer's –"),
        _ => "–".into(),
    };
    let row = Row::judged(
        target,
        Some(c),
        ratio,
        measured,
        Goal::AtLeast(10.0),
        "≥ 10×".into(),
    );
    match (ours, peer) {
        (_, None) => row.because(
            "the peer was not measured: `PEER_SERVICE_MFA=… PEER_BOILER=… scripts/bench` \
             (checkouts of pryv/service-mfa and pryv/pryv-boiler)",
        ),
        (None, _) => row.because(not_at(c)),
        _ => row,
    }
}

fn rss_row(runs: Vec<&super::results::PendingRun>, nominal: u64, goal_mib: f64) -> Row {
    let sessions = runs.first().map(|p| p.sessions).unwrap_or(nominal);
    let s = Spread::of(
        &runs
            .iter()
            .map(|p| p.rss_after_kib as f64 / 1024.0)
            .collect::<Vec<_>>(),
    );
    let r = row(
        format!("RSS with {sessions} pending sessions (on disk)"),
        64,
        s,
        1,
        "MiB",
        Goal::AtMost(goal_mib),
    );
    if s.n == 0 {
        r.because(format!(
            "run with `--pending-large {nominal}` (`scripts/bench` does)"
        ))
    } else {
        r
    }
}

/// The targets section of BENCHMARKS.md.
pub fn markdown(results: &Results) -> String {
    let mut md = String::from("\n## Targets (issue 16)\n\n");
    md.push_str(
        "An operation's *HTTP exchanges* count every request/answer pair on the loopback, the \
         daemon's calls to the fakes included: standalone login 1; proxy login 2 (client → \
         daemon, daemon → upstream); challenge 2 (client → daemon, daemon → provider); the code \
         fetch 1 (client → fake provider, single mode); verify 1 (single) or 2 (challenge-verify: \
         the provider checks the code). So a whole flow is 5 exchanges in standalone single, 6 in \
         proxy single and 6 in proxy challenge-verify. A ratio is computed per run against the \
         ceiling measured in the same run at the same concurrency. Every figure is the median \
         (min–max) of the runs; PASS means the median meets the goal. A row that fails says the \
         measured reason or points to the analysis at the end of this file; the strict-durability \
         p99 has no goal of its own: it is shown beside this disk's fsync p99, measured in the \
         same run, which every strict answer waits for at least once.\n\n",
    );
    md.push_str(&verdict::table(&rows(results)));
    md
}

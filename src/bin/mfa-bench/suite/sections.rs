//! The sections of BENCHMARKS.md after the throughput tables: errors, pending sessions, hot
//! reload, cold start, the fakes' own cost.

use std::collections::BTreeMap;

use super::{
    results::{spread_of, PendingRun, Results},
    SuiteArgs,
};
use crate::report::{Report, Spread};

pub fn errors(results: &Results) -> String {
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for (k, rs) in &results.throughput {
        for r in rs {
            for (kind, n) in &r.errors {
                *errors
                    .entry(format!("{} — {kind}", k.replace('|', " ")))
                    .or_default() += n;
            }
        }
    }
    let mut md = String::from("\nErrors over all throughput runs: ");
    if errors.is_empty() {
        md.push_str("none.\n");
    } else {
        md.push('\n');
        for (k, n) in &errors {
            md.push_str(&format!("- {k}: {n}\n"));
        }
    }
    md
}

/// One row of the pending table from the runs of one size.
fn pending_row(runs: &[&PendingRun]) -> String {
    let reports: Vec<&Report> = runs.iter().filter_map(|p| p.report.as_ref()).collect();
    let of =
        |f: &dyn Fn(&PendingRun) -> f64| Spread::of(&runs.iter().map(|p| f(p)).collect::<Vec<_>>());
    let mib = |kib: u64| kib as f64 / 1024.0;
    let bytes_mib = |b: u64| b as f64 / 1048576.0;
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        runs.first().map(|p| p.sessions).unwrap_or(0),
        runs.len(),
        spread_of(reports.iter().copied(), |r| r.per_second).show(0),
        reports.iter().map(|r| r.failed).sum::<u64>(),
        of(&|p| mib(p.rss_before_kib)).show(1),
        of(&|p| mib(p.rss_after_kib)).show(1),
        of(&|p| bytes_mib(p.dir_apparent_bytes)).show(1),
        of(&|p| bytes_mib(p.dir_allocated_bytes)).show(1),
        of(&|p| p.seconds).show(0),
    )
}

pub fn pending(results: &Results) -> String {
    let mut md = String::from(
        "\n## Pending sessions (logins never completed; standalone single, c=64, up to 1024 users)\n\n\
         | sessions | runs | logins/s | failed | RSS before MiB | RSS after MiB | data dir MiB (apparent) | data dir MiB (allocated) | seconds (with enrolment) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    let runs: Vec<&PendingRun> = results.pending.iter().collect();
    md.push_str(&pending_row(&runs));
    match &results.pending_large {
        Some(large) => md.push_str(&pending_row(&[large])),
        None => md.push_str(
            "\nThe large measurement (`--pending-large 1000000`) was not made in this run.\n",
        ),
    }
    md.push_str(
        "\nRSS is VmRSS from /proc/PID/status, read after enrolment and 1 s after the last login \
         (login sessions are flushed every 200 ms); the sessions are in the data directory, the \
         RSS is what the daemon keeps in memory besides. The large measurement is made once per \
         suite, on a daemon of its own, after the runs (it is the longest single measurement).\n",
    );
    md
}

pub fn reload(args: &SuiteArgs, results: &Results) -> String {
    let reports: Vec<&Report> = results
        .reload
        .iter()
        .filter_map(|p| p.report.as_ref())
        .collect();
    let mut md = format!(
        "\n## Hot reload under load\n\nFlow load at c=16 (standalone single) while `platform.yml`'s single endpoint text is rewritten {} times, every 150 ms (write to a temporary file, rename over).\n\n",
        args.rewrites
    );
    md.push_str("| flows/s | flows ok | failed flows | errors | last text in use after the rewrites |\n|---|---|---|---|---|\n");
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reports {
        for (k, n) in &r.errors {
            *errors.entry(k.clone()).or_default() += n;
        }
    }
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} of {} runs |\n",
        spread_of(reports.iter().copied(), |r| r.per_second).show(0),
        spread_of(reports.iter().copied(), |r| r.ok as f64).show(0),
        reports.iter().map(|r| r.failed).sum::<u64>(),
        if errors.is_empty() {
            "none".to_string()
        } else {
            format!("{errors:?}")
        },
        results
            .reload
            .iter()
            .filter(|r| r.last_revision_seen)
            .count(),
        results.reload.len()
    ));
    md
}

pub fn cold_start(args: &SuiteArgs, results: &Results) -> String {
    let per_run: Vec<f64> = results
        .cold_start_ms
        .iter()
        .map(|v| Spread::of(v).median)
        .collect();
    let all: Vec<f64> = results.cold_start_ms.iter().flatten().copied().collect();
    format!(
        "\n## Cold start\n\nSpawn of `mfa-bridge serve` (standalone single, empty data directory: the server secret and the database are created) to its first HTTP answer (`GET /`, any status), polled every 200 µs. {} starts per run; the run's figure is their median.\n\n| median of the runs, ms | every start: min–max ms |\n|---|---|\n| {} | {:.1}–{:.1} |\n",
        args.cold_starts.max(1),
        Spread::of(&per_run).show(1),
        Spread::of(&all).min,
        Spread::of(&all).max,
    )
}

pub fn fakes(results: &Results) -> String {
    format!(
        "\n## The fakes are not the bottleneck\n\nOver the whole suite the fake upstream and provider served {} requests with {:.2} CPU s: **{:.1} µs of CPU per request** (their threads only, from /proc/self/task/*/stat). The per-measurement \"fakes cores\" columns above show the share of the machine they took.\n",
        results.fakes_served,
        results.fakes_cpu_seconds,
        results.fakes_cpu_seconds / results.fakes_served.max(1) as f64 * 1e6
    )
}

//! BENCHMARKS.md: the machine and the command, the ceiling, login and flow tables (strict and
//! periodic durability), then the other sections, the targets and the hand-written analysis.

use super::{
    results::{cores, cpu_us, failed, lat, spread_of, Results, What, PERIODIC, PERIODIC_C},
    sections, targets, SuiteArgs,
};
use crate::daemon::Deployment;

/// BENCHMARKS.md: the machine and the command, the tables, the targets, how to read them, and
/// the hand-written analysis (docs/benchmarks-analysis.md) appended as it is.
pub fn markdown(
    args: &SuiteArgs,
    machine: &[(String, String)],
    binary: &str,
    command: &str,
    results: &Results,
    on_postgres: &str,
) -> String {
    let mut md = String::new();
    let runs = args.runs.max(1);
    let get = |what: What, d: Option<Deployment>, c: usize| results.get(what, d, c);

    md.push_str("# Benchmarks\n\n");
    md.push_str(
        "Written by `mfa-bench suite` (src/bin/mfa-bench/). Every figure is the **median (min–max) of \
         the runs**; throughputs are measured over a fixed window after a warm-up, at fixed \
         concurrency (c workers, one keep-alive connection each), on one machine where the load \
         client, the fakes and the daemon share the CPU cores.\n\n",
    );
    md.push_str("## Machine and command\n\n| | |\n|---|---|\n");
    for (k, v) in machine {
        md.push_str(&format!("| {k} | {v} |\n"));
    }
    md.push_str(&format!("| daemon binary | {binary} |\n"));
    md.push_str(&format!(
        "| fsync of 4 KiB writes in the data directory's file system ({}) | p50 {} ms, p99 {} ms, max {} ms ({} writes per run, each followed by fsync) |\n",
        results.file_system,
        results.fsync_spread(|f| f.p50_ms).show(2),
        results.fsync_spread(|f| f.p99_ms).show(2),
        results.fsync_spread(|f| f.max_ms).show(1),
        super::fsync::WRITES,
    ));
    md.push_str(&format!(
        "\nRuns: {runs}; window {} s after {} s of warm-up; concurrency {:?}; {} users per daemon. \
         The whole suite took {:.1} minutes.\n\n",
        args.duration,
        args.warmup,
        args.concurrency,
        args.users,
        results.seconds / 60.0
    ));
    md.push_str(&format!(
        "Regenerate it with `scripts/bench` (it builds the release binaries with `cargo build --release --bins --locked`, then runs the suite with the standard parameters). This file came from:\n\n```sh\n{command}\n```\n\n"
    ));
    md.push_str(
        "The daemon runs with `RUST_LOG=warn` (no per-request log line), from a temporary \
         `platform.yml` whose storage is in the same temporary folder, with send limits \
         (`min_interval_seconds: 0, per_user_per_hour: 10000, per_destination_per_day: 100000`) \
         and attempt limits raised so that no load is refused. Each run starts fresh daemons. \
         The fake upstream and provider (one process with the client, their own 2-thread \
         runtime) and the ceiling server (its own 2-thread runtime) answer on 127.0.0.1.\n\n",
    );

    // Ceiling.
    md.push_str("## Ceiling: one loopback HTTP exchange\n\n`GET /` → `200 {\"ok\":true}` from a minimal hyper server, driven by the same client.\n\n");
    md.push_str("| c | requests/s | p50 ms | p99 ms | client CPU µs/req | server CPU µs/req | client cores | server cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|\n");
    for &c in &args.concurrency {
        let rs = get(What::Ceiling, None, c);
        md.push_str(&format!(
            "| {c} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            spread_of(rs, |r| r.per_second).show(0),
            spread_of(rs, lat("get", |l| l.p50_ms)).show(3),
            spread_of(rs, lat("get", |l| l.p99_ms)).show(3),
            spread_of(rs, cpu_us("client")).show(1),
            spread_of(rs, cpu_us("ceiling")).show(1),
            spread_of(rs, cores("client")).show(2),
            spread_of(rs, cores("ceiling")).show(2),
            spread_of(rs, cores("machine")).show(2),
        ));
    }

    md.push_str("\n## Login (`POST /{username}/login`, MFA on → 302)\n\n");
    md.push_str("| deployment | c | requests/s | p50 ms | p90 ms | p99 ms | max ms | failed | daemon CPU µs/req | daemon cores | client cores | fakes cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    throughput_rows(
        &mut md,
        results,
        What::Login,
        "login",
        &Deployment::ALL,
        &args.concurrency,
    );
    md.push_str(
        "\n## Full flow (login → challenge → [code read from the fake provider] → verify)\n\n",
    );
    md.push_str(FLOW_HEADER);
    throughput_rows(
        &mut md,
        results,
        What::Flow,
        "flow",
        &Deployment::ALL,
        &args.concurrency,
    );
    if let Some(&c) = args.concurrency.iter().max() {
        md.push_str(&format!("\nPer step of the flow at c={c} (p50 / p99 ms):\n\n| deployment | login | challenge | code fetch | verify |\n|---|---|---|---|---|\n"));
        for d in Deployment::ALL {
            let rs = get(What::Flow, Some(d), c);
            let step = |route: &'static str| {
                if rs.iter().all(|r| !r.latency.contains_key(route)) {
                    return "–".to_string();
                }
                format!(
                    "{} / {}",
                    spread_of(rs, lat(route, |l| l.p50_ms)).show(3),
                    spread_of(rs, lat(route, |l| l.p99_ms)).show(3)
                )
            };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                d.name(),
                step("login"),
                step("challenge"),
                step("code"),
                step("verify")
            ));
        }
    }

    md.push_str(&format!(
        "\n## Full flow with `storage.durability: periodic` (c={PERIODIC_C})\n\n\
         Fresh daemons with attempt tallies, send counts and enrolments flushed within 200 ms \
         instead of before the answer; the flow p99 target is measured here.\n\n"
    ));
    md.push_str(FLOW_HEADER);
    throughput_rows(
        &mut md,
        results,
        What::FlowPeriodic,
        "flow",
        &PERIODIC,
        &[PERIODIC_C],
    );
    md.push_str(&crate::peer::section(
        results.peer.as_ref(),
        &args.concurrency,
        |m, c| match m {
            crate::peer::Measure::Login => get(What::Login, Some(Deployment::ProxySingle), c),
            crate::peer::Measure::Flow => get(What::Flow, Some(Deployment::ProxySingle), c),
        },
    ));
    md.push_str(on_postgres);

    md.push_str(&sections::errors(results));
    md.push_str(&sections::pending(results));
    md.push_str(&sections::reload(args, results));
    md.push_str(&sections::cold_start(args, results));
    md.push_str(&sections::fakes(results));
    md.push_str(&targets::markdown(results));
    md.push_str(
        "\n## How to read this\n\n\
         - **Everything shares the machine.** The load client, the fakes, the ceiling server and \
         the daemon run on the same cores. The \"cores\" columns (CPU seconds ÷ wall seconds over \
         the measured window, from /proc) show who used the CPU: when daemon + client + fakes \
         add up to about the number of cores, the machine is saturated and the daemon's share is \
         what it could get, not what it could do alone. \"CPU µs/req\" (or /flow) is the daemon's \
         own cost per operation, the figure that carries to another machine.\n\
         - **The ceiling** is the cost of one loopback HTTP exchange with this client on this \
         machine (a server that does nothing). A daemon operation that makes k exchanges cannot \
         go faster than ceiling ÷ k; the targets ask for 0.35 of that (the load client and the \
         fakes share the two cores and alone cap any daemon near 0.6).\n\
         - **c=1** measures latency (one request at a time, so requests/s ≈ 1 ÷ latency); **c=64** \
         measures throughput under saturation, where latency is mostly queueing.\n\
         - **Latency** percentiles are exact (every sample kept and sorted, nearest rank), per \
         route and for the whole flow (client side, including the code fetch). Warm-up requests \
         are excluded.\n\
         - **Machine busy cores** is the whole machine's busy time (/proc/stat) over the \
         window: anything else running (a compiler, another benchmark) shows up there as the \
         gap between it and daemon + client + fakes.\n\
         - **Spread** is min–max over the runs; a wide spread means a noisy machine (other load, \
         CPU frequency), not a property of the daemon.\n\
         - **Pending sessions** are logins that got their 302 and were never challenged; the \
         RSS after them is the daemon's whole resident memory, the allocator's retained pages \
         included.\n\
         - The raw reports of every measurement are printed on stderr while the suite runs, and \
         written as JSON with `--json FILE`.\n",
    );
    // The profile and what it says about the targets: written by hand, kept beside the tool so
    // that a new run of the suite keeps it.
    if let Ok(notes) = std::fs::read_to_string("docs/benchmarks-analysis.md") {
        md.push('\n');
        md.push_str(&notes);
    }
    md
}

const FLOW_HEADER: &str = "| deployment | c | flows/s | p50 ms | p90 ms | p99 ms | max ms | failed | daemon CPU µs/flow | daemon cores | client cores | fakes cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// One row per deployment and concurrency of a login or flow measurement.
fn throughput_rows(
    md: &mut String,
    results: &Results,
    what: What,
    route: &'static str,
    deployments: &[Deployment],
    concurrency: &[usize],
) {
    for &d in deployments {
        for &c in concurrency {
            let rs = results.get(what, Some(d), c);
            md.push_str(&format!(
                "| {} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                d.name(),
                spread_of(rs, |r| r.per_second).show(0),
                spread_of(rs, lat(route, |l| l.p50_ms)).show(3),
                spread_of(rs, lat(route, |l| l.p90_ms)).show(3),
                spread_of(rs, lat(route, |l| l.p99_ms)).show(3),
                spread_of(rs, lat(route, |l| l.max_ms)).show(2),
                failed(rs),
                spread_of(rs, cpu_us("daemon")).show(1),
                spread_of(rs, cores("daemon")).show(2),
                spread_of(rs, cores("client")).show(2),
                spread_of(rs, cores("fakes")).show(2),
                spread_of(rs, cores("machine")).show(2),
            ));
        }
    }
}

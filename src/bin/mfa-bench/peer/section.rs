//! The peer's section of BENCHMARKS.md: its rows beside ours, and us ÷ peer per measure and
//! per core; or one line saying it was not measured and how to measure it.

use super::{flows_per_core, per_core, Measure, PeerResults, PEER};
use crate::report::{Report, Spread};

/// The section, `ours(measure, c)` giving our proxy single reports (one per run, in run order,
/// as the peer's).
pub fn section<'r>(
    peer: Option<&PeerResults>,
    concurrency: &[usize],
    ours: impl Fn(Measure, usize) -> &'r [Report],
) -> String {
    let Some(peer) = peer else {
        return not_measured();
    };
    let info = &peer.info;
    let mut md = String::from("\n## The peer: Pryv's service-mfa\n\n");
    md.push_str(&format!(
        "Pryv's own MFA service, the one mfa-bridge replaces: [service-mfa](https://github.com/pryv/service-mfa) \
         at commit `{}`{} with [@pryv/boiler](https://github.com/pryv/pryv-boiler) at `{}`, on \
         Node {}, one process as Pryv runs it; prepared outside our sources by \
         `scripts/peer-service-mfa prepare` and started fresh in each run by the suite \
         (`--peer DIR`). It runs against the same fakes: its core is the fake upstream (login, \
         access-info, and the private profile where it keeps its MFA data), its SMS endpoint \
         the fake provider's `/sms` (single mode); its log at `warn`. It is measured in the \
         same runs, with the same scenarios and the same number of enrolled users as our \
         **proxy single** deployment. A flow costs it 7 HTTP exchanges against our 6: its \
         login also reads the user's profile from the core. \"peer CPU\" is its node \
         process's (utime + stime from /proc/PID/stat), as the daemon's.\n\n",
        short(&info.service_mfa_commit),
        if info.service_mfa_version.is_empty() {
            String::new()
        } else {
            format!(" (version {})", info.service_mfa_version)
        },
        short(&info.boiler_commit),
        info.node,
    ));
    md.push_str("| measure | c | per s | p50 ms | p90 ms | p99 ms | max ms | failed | peer CPU µs/op | peer cores | client cores | fakes cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for measure in Measure::ALL {
        for &c in concurrency {
            let rs = peer.reports(measure, c);
            let lat = |p: fn(&crate::report::Latency) -> f64| {
                spread(rs, |r| {
                    r.latency.get(measure.route()).map(p).unwrap_or(f64::NAN)
                })
            };
            md.push_str(&format!(
                "| {} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                match measure {
                    Measure::Login => "login (requests)",
                    Measure::Flow => "full flow (flows)",
                },
                spread(rs, |r| r.per_second).show(0),
                lat(|l| l.p50_ms).show(3),
                lat(|l| l.p90_ms).show(3),
                lat(|l| l.p99_ms).show(3),
                lat(|l| l.max_ms).show(2),
                rs.iter().map(|r| r.failed).sum::<u64>(),
                spread(rs, |r| figure(&r.cpu_us_per_op, PEER)).show(1),
                spread(rs, |r| figure(&r.cpu_cores, PEER)).show(2),
                spread(rs, |r| figure(&r.cpu_cores, "client")).show(2),
                spread(rs, |r| figure(&r.cpu_cores, "fakes")).show(2),
                spread(rs, |r| figure(&r.cpu_cores, "machine")).show(2),
            ));
        }
    }
    md.push_str(
        "\n### Us ÷ peer\n\nOur proxy single deployment divided by the peer, run by run (both \
         measured in the same run at the same concurrency), median (min–max). Rates above 1: \
         we do more; CPU per flow below 1: we spend less. *Per core* is flows/s ÷ the cores \
         the process used (the daemon's, the peer's), median of the runs: flows per daemon core ÷ \
         flows per peer core, what the machine's CPU buys from each.\n\n",
    );
    md.push_str("| c | login requests/s | flows/s | CPU µs per flow | flows per daemon core | flows per peer core | per core: us ÷ peer |\n|---|---|---|---|---|---|---|\n");
    for &c in concurrency {
        let (our_login, their_login) = (ours(Measure::Login, c), peer.reports(Measure::Login, c));
        let (our_flow, their_flow) = (ours(Measure::Flow, c), peer.reports(Measure::Flow, c));
        md.push_str(&format!(
            "| {c} | {} | {} | {} | {} | {} | {} |\n",
            ratio(our_login, their_login, |o, t| o.per_second / t.per_second).show(2),
            ratio(our_flow, their_flow, |o, t| o.per_second / t.per_second).show(2),
            ratio(our_flow, their_flow, |o, t| figure(
                &o.cpu_us_per_op,
                "daemon"
            ) / figure(
                &t.cpu_us_per_op,
                PEER
            ))
            .show(2),
            median(flows_per_core(our_flow, "daemon")),
            median(peer.flows_per_core(c)),
            ratio(our_flow, their_flow, |o, t| {
                per_core(o, "daemon").unwrap_or(f64::NAN) / per_core(t, PEER).unwrap_or(f64::NAN)
            })
            .show(2),
        ));
    }
    md
}

/// The line written when the suite ran without `--peer`.
pub fn not_measured() -> String {
    "\n## The peer: Pryv's service-mfa\n\nNot measured in this run. To measure it beside the \
     daemon: `scripts/peer-service-mfa prepare --service-mfa DIR --boiler DIR` (checkouts of \
     github.com/pryv/service-mfa and github.com/pryv/pryv-boiler; it prepares target/peer), \
     then the suite with `--peer target/peer`.\n"
        .to_string()
}

fn median(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}"))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

fn figure(map: &std::collections::BTreeMap<String, f64>, who: &str) -> f64 {
    map.get(who).copied().unwrap_or(f64::NAN)
}

fn spread(reports: &[Report], f: impl Fn(&Report) -> f64) -> Spread {
    Spread::of(&reports.iter().map(f).collect::<Vec<_>>())
}

/// `f(ours, theirs)` run by run (the i-th report of each was measured in run i).
fn ratio(ours: &[Report], theirs: &[Report], f: impl Fn(&Report, &Report) -> f64) -> Spread {
    Spread::of(
        &ours
            .iter()
            .zip(theirs)
            .map(|(o, t)| f(o, t))
            .collect::<Vec<_>>(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::peer::PeerInfo;

    fn report(per_second: f64, who: &str, us_per_op: f64, cores: f64) -> Report {
        Report {
            scenario: "flow".into(),
            target: "http://127.0.0.1:1".into(),
            concurrency: 16,
            unit: "flows".into(),
            ok: per_second as u64,
            failed: 0,
            seconds: 1.0,
            warmup_seconds: 0.0,
            per_second,
            latency: BTreeMap::new(),
            errors: BTreeMap::new(),
            cpu_us_per_op: BTreeMap::from([(who.to_string(), us_per_op)]),
            cpu_cores: BTreeMap::from([(who.to_string(), cores)]),
        }
    }

    fn peer() -> PeerResults {
        let mut peer = PeerResults {
            prepared: "target/peer".into(),
            info: PeerInfo {
                service_mfa_commit: "a1e1cad138b738ed512486aa2ff20e43641347a1".into(),
                service_mfa_version: "1.1.9".into(),
                boiler_commit: "9a3a58df9a41c78254c67323491f8e53b28ffb3d".into(),
                node: "v20.20.2".into(),
            },
            throughput: BTreeMap::new(),
        };
        for (measure, rate) in [(Measure::Login, 1000.0), (Measure::Flow, 250.0)] {
            peer.throughput.insert(
                super::super::key(measure, 16),
                vec![report(rate, PEER, 2000.0, 0.5)],
            );
        }
        peer
    }

    #[test]
    fn without_the_peer_the_section_says_how_to_measure_it() {
        let md = section(None, &[16], |_, _| &[]);
        assert!(md.contains("## The peer: Pryv's service-mfa"));
        assert!(md.contains("Not measured"));
        assert!(md.contains("--peer target/peer"));
    }

    #[test]
    fn the_peers_flows_per_core_is_its_rate_over_its_cores() {
        let peer = peer();
        assert_eq!(peer.flows_per_core(16), Some(500.0));
        assert_eq!(peer.flows_per_core(64), None);
    }

    #[test]
    fn the_section_divides_ours_by_the_peers_run_by_run() {
        let peer = peer();
        let login = [report(3000.0, "daemon", 100.0, 0.3)];
        let flow = [report(1000.0, "daemon", 400.0, 0.4)];
        let md = section(Some(&peer), &[16], |m, _| match m {
            Measure::Login => &login,
            Measure::Flow => &flow,
        });
        assert!(md.contains("commit `a1e1cad138b7`"), "{md}");
        assert!(md.contains("at `9a3a58df9a41`"), "{md}");
        // login 3000 ÷ 1000, flows 1000 ÷ 250, CPU 400 ÷ 2000, per core 2500 ÷ 500.
        assert!(
            md.contains("| 16 | 3.00 | 4.00 | 0.20 | 2500 | 500 | 5.00 |"),
            "{md}"
        );
    }
}

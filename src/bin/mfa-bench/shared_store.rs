//! The PostgreSQL deployment of the suite (`--postgres`): standalone single mode with its
//! storage on one database of a PostgreSQL server of the suite's own, with one and with two
//! daemons behind the load (each worker keeps to one daemon, as behind a load balancer with
//! keep-alive), next to one daemon on sled measured in the same session. Flows/s, the daemons'
//! CPU per flow (all of them) and the database's CPU per flow (the postmaster and its
//! backends, from /proc).

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use serde_json::json;

use crate::{
    client::Target,
    cpu,
    daemon::{Daemon, Deployment},
    fakes::{Fakes, FAKES_THREADS},
    postgres::PgServer,
    report::{Report, Spread},
    scenarios::{self, Probe, RunConfig, Scenario, Stop},
    CLIENT_THREADS,
};

/// The `storage.secret` of the PostgreSQL daemons (one secret for every instance).
const SECRET: &str = "mfa-bench-shared-secret-of-32-characters-or-more";

/// The deployments measured: (label, PostgreSQL?, daemons).
const SHAPES: [(&str, bool, usize); 3] = [
    ("sled, 1 daemon", false, 1),
    ("postgres, 1 daemon", true, 1),
    ("postgres, 2 daemons", true, 2),
];

/// What the measurement needs from the suite.
pub struct Setup<'a> {
    pub binary: &'a Path,
    pub tmp: &'a Path,
    pub fakes: &'a Fakes,
    pub provider: &'a Target,
    pub runs: usize,
    pub concurrency: &'a [usize],
    pub duration: Duration,
    pub warmup: Duration,
    pub users: usize,
}

/// (label, c) -> one report per run.
pub type Measured = BTreeMap<(String, usize), Vec<Report>>;

pub async fn measure(setup: &Setup<'_>) -> Result<Measured, String> {
    let server = Arc::new(PgServer::start(&setup.tmp.join("postgres"))?);
    let mut measured = Measured::new();
    for run in 0..setup.runs {
        for (label, postgres, count) in SHAPES {
            let storage = if postgres {
                let url = server
                    .database(&format!("bench_r{run}_n{count}_{}", crate::fresh_prefix()))
                    .await?;
                Some(json!({"backend": "postgres", "url": url, "secret": SECRET}))
            } else {
                None
            };
            let mut daemons = Vec::new();
            for n in 0..count {
                let dir = setup.tmp.join(format!("pg-r{run}-{count}-{postgres}-{n}"));
                daemons.push(
                    Daemon::start_with_storage(
                        setup.binary,
                        &dir,
                        Deployment::StandaloneSingle,
                        &setup.fakes.provider_url,
                        &setup.fakes.upstream_url,
                        storage.as_ref(),
                    )
                    .await?,
                );
            }
            let targets = daemons
                .iter()
                .map(|d| Target::parse(&d.url()))
                .collect::<Result<Vec<_>, _>>()?;
            let deployment = Deployment::StandaloneSingle;
            let users = scenarios::users(&crate::fresh_prefix(), setup.users);
            scenarios::enrol(
                &targets[0],
                &deployment.first_factor(),
                deployment.mode(),
                Some(setup.provider),
                &users,
                16,
            )
            .await?;
            let users = Arc::new(users);
            let pids: Vec<u32> = daemons.iter().map(|d| d.pid).collect();
            for &c in setup.concurrency {
                let report = scenarios::run(RunConfig {
                    target: targets[0].clone(),
                    spread: targets.clone(),
                    scenario: Scenario::Flow,
                    concurrency: c,
                    stop: Stop::Duration(setup.duration),
                    warmup: setup.warmup,
                    first_factor: deployment.first_factor(),
                    mode: deployment.mode(),
                    provider: Some(setup.provider.clone()),
                    users: users.clone(),
                    timeout: Duration::from_secs(10),
                    probe: Some(probe(pids.clone(), postgres.then(|| server.clone()))),
                })
                .await;
                eprint!("[{label}] {}", report.text());
                measured
                    .entry((label.to_string(), c))
                    .or_default()
                    .push(report);
            }
            for d in daemons {
                d.stop().await;
            }
        }
    }
    Ok(measured)
}

/// CPU seconds so far of the machine, the client, the fakes, the daemons (summed) and the
/// database server.
fn probe(pids: Vec<u32>, server: Option<Arc<PgServer>>) -> Probe {
    Arc::new(move || {
        let (busy, steal) = cpu::machine_cpu_seconds();
        let daemons = pids
            .iter()
            .map(|p| cpu::process_cpu_seconds(&p.to_string()))
            .sum();
        let mut seconds = BTreeMap::from([
            ("machine".to_string(), busy),
            ("steal".to_string(), steal),
            (
                "client".to_string(),
                cpu::threads_cpu_seconds(CLIENT_THREADS),
            ),
            ("fakes".to_string(), cpu::threads_cpu_seconds(FAKES_THREADS)),
            ("daemon".to_string(), daemons),
        ]);
        if let Some(server) = &server {
            seconds.insert("database".to_string(), server.cpu_seconds());
        }
        seconds
    })
}

/// The section of BENCHMARKS.md.
pub fn markdown(measured: &Measured, concurrency: &[usize]) -> String {
    let mut md = String::from(
        "\n## Several instances on PostgreSQL (full flow, standalone single)\n\n\
         The same flow as above, with `storage.backend: postgres` on a PostgreSQL server started by \
         the suite on this machine (Debian's package, default settings but `max_connections`; \
         `storage.pool_size` 10 per daemon, strict durability: every decision committed before \
         the answer), next to one daemon on sled measured in the same session. With two daemons \
         each worker keeps to one of them. Daemon CPU is the sum over the daemons; database CPU \
         is the postmaster and its backends (a backend that exits during the window takes its \
         CPU with it: none does here, the pools keep their connections).\n\n\
         | deployment | c | flows/s | p50 ms | p99 ms | failed | daemon CPU µs/flow | database CPU µs/flow | daemon cores | database cores | machine busy cores |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let of = |rs: &[Report], f: &dyn Fn(&Report) -> f64| {
        Spread::of(&rs.iter().map(f).collect::<Vec<_>>())
    };
    let get = |r: &Report, map: &str, who: &str| {
        let m = if map == "us" {
            &r.cpu_us_per_op
        } else {
            &r.cpu_cores
        };
        m.get(who).copied().unwrap_or(f64::NAN)
    };
    for (label, _, _) in SHAPES {
        for &c in concurrency {
            let rs = measured
                .get(&(label.to_string(), c))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let flow = |r: &Report, p: fn(&crate::report::Latency) -> f64| {
                r.latency.get("flow").map(p).unwrap_or(f64::NAN)
            };
            md.push_str(&format!(
                "| {label} | {c} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                of(rs, &|r| r.per_second).show(0),
                of(rs, &|r| flow(r, |l| l.p50_ms)).show(3),
                of(rs, &|r| flow(r, |l| l.p99_ms)).show(3),
                rs.iter().map(|r| r.failed).sum::<u64>(),
                of(rs, &|r| get(r, "us", "daemon")).show(1),
                of(rs, &|r| get(r, "us", "database")).show(1),
                of(rs, &|r| get(r, "cores", "daemon")).show(2),
                of(rs, &|r| get(r, "cores", "database")).show(2),
                of(rs, &|r| get(r, "cores", "machine")).show(2),
            ));
        }
    }
    md
}

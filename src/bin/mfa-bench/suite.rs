//! The whole suite on this machine: the fakes and the ceiling in process, the daemon spawned in
//! three deployments, every figure as the median and spread of several runs; writes
//! BENCHMARKS.md (and the raw reports as JSON when asked).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde::Serialize;
use sha2::Digest;

use crate::{
    client::Target,
    cpu,
    daemon::{config_yaml, write_atomically, Daemon, Deployment, TempDir},
    fakes::{Ceiling, Fakes, CEILING_THREADS, FAKES_THREADS},
    peer::{Measure, PeerResults},
    report::{Report, Spread},
    scenarios::{self, Probe, RunConfig, Scenario, Stop, User},
    shared_store, CLIENT_THREADS,
};

#[derive(clap::Args)]
pub struct SuiteArgs {
    /// Runs of every measurement; each figure is the median and spread of these.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured seconds of each throughput measurement.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Warm-up seconds before each throughput measurement (excluded).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The daemon binary (a release build).
    #[arg(long, default_value = "target/release/mfa-bridge")]
    daemon: PathBuf,
    /// Accept a binary that looks like a debug build (the figures then mean little).
    #[arg(long)]
    allow_debug: bool,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Users enrolled in each daemon for the login and flow measurements.
    #[arg(long, default_value_t = 256)]
    users: usize,
    /// Pending sessions created for the memory measurement.
    #[arg(long, default_value_t = 100_000)]
    pending: u64,
    /// Rewrites of platform.yml under flow load.
    #[arg(long, default_value_t = 20)]
    rewrites: u32,
    /// Cold starts per run (the run's figure is their median).
    #[arg(long, default_value_t = 5)]
    cold_starts: usize,
    /// Also write every report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also measure the flow with storage on PostgreSQL, one and two daemons (a server of the
    /// suite's own, from Debian's postgresql package).
    #[arg(long)]
    postgres: bool,
    /// Measure only that: the file written holds the machine and that section.
    #[arg(long)]
    postgres_only: bool,
    /// Also measure Pryv's service-mfa (the peer) in each run: DIR is the copy prepared by
    /// `scripts/peer-service-mfa prepare` (e.g. target/peer).
    #[arg(long, value_name = "DIR")]
    peer: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
enum What {
    Ceiling,
    Login,
    Flow,
}

#[derive(Default, Serialize)]
struct PendingRun {
    report: Option<Report>,
    rss_before_kib: u64,
    rss_after_kib: u64,
    dir_apparent_bytes: u64,
    dir_allocated_bytes: u64,
}

#[derive(Default, Serialize)]
struct ReloadRun {
    report: Option<Report>,
    rewrites: u32,
    last_revision_seen: bool,
}

#[derive(Default, Serialize)]
struct Results {
    /// (what, deployment name or "-", concurrency) -> one report per run.
    throughput: BTreeMap<String, Vec<Report>>,
    pending: Vec<PendingRun>,
    reload: Vec<ReloadRun>,
    /// Per run, every cold start in milliseconds.
    cold_start_ms: Vec<Vec<f64>>,
    fakes_served: u64,
    fakes_cpu_seconds: f64,
    /// The peer's measurements (`--peer`), `None` when not measured.
    peer: Option<PeerResults>,
}

fn key(what: What, deployment: Option<Deployment>, c: usize) -> String {
    format!(
        "{:?}|{}|{c}",
        what,
        deployment.map(|d| d.name()).unwrap_or("-")
    )
}

fn ceiling_probe() -> Probe {
    Arc::new(|| {
        let (busy, steal) = cpu::machine_cpu_seconds();
        BTreeMap::from([
            ("machine".to_string(), busy),
            ("steal".to_string(), steal),
            (
                "client".to_string(),
                cpu::threads_cpu_seconds(CLIENT_THREADS),
            ),
            (
                "ceiling".to_string(),
                cpu::threads_cpu_seconds(CEILING_THREADS),
            ),
        ])
    })
}

fn daemon_probe(pid: u32) -> Probe {
    Arc::new(move || {
        let (busy, steal) = cpu::machine_cpu_seconds();
        BTreeMap::from([
            ("machine".to_string(), busy),
            ("steal".to_string(), steal),
            (
                "client".to_string(),
                cpu::threads_cpu_seconds(CLIENT_THREADS),
            ),
            ("fakes".to_string(), cpu::threads_cpu_seconds(FAKES_THREADS)),
            (
                "daemon".to_string(),
                cpu::process_cpu_seconds(&pid.to_string()),
            ),
        ])
    })
}

/// Refuses a binary that does not look like a release build.
fn check_binary(path: &Path, allow_debug: bool) -> Result<PathBuf, String> {
    let path = path.canonicalize().map_err(|e| {
        format!(
            "{}: {e} (build it first: cargo build --release --bins)",
            path.display()
        )
    })?;
    let looks_debug = path.components().any(|c| c.as_os_str() == "debug");
    if looks_debug && !allow_debug {
        return Err(format!(
            "{} looks like a debug build; build and pass a release one (cargo build --release --bins), or add --allow-debug",
            path.display()
        ));
    }
    if looks_debug {
        eprintln!(
            "warning: {} is a debug build: the figures mean little",
            path.display()
        );
    }
    Ok(path)
}

struct Ctx {
    binary: PathBuf,
    fakes: Fakes,
    tmp: TempDir,
    provider: Target,
}

impl Ctx {
    async fn daemon(&self, label: &str, deployment: Deployment) -> Result<Daemon, String> {
        Daemon::start(
            &self.binary,
            &self.tmp.path().join(label),
            deployment,
            &self.fakes.provider_url,
            &self.fakes.upstream_url,
        )
        .await
    }

    async fn enrolled(
        &self,
        label: &str,
        deployment: Deployment,
        users: usize,
    ) -> Result<(Daemon, Arc<Vec<User>>), String> {
        let daemon = self.daemon(label, deployment).await?;
        let users = scenarios::users(&crate::fresh_prefix(), users);
        scenarios::enrol(
            &Target::parse(&daemon.url())?,
            &deployment.first_factor(),
            deployment.mode(),
            Some(&self.provider),
            &users,
            16,
        )
        .await?;
        Ok((daemon, Arc::new(users)))
    }

    fn config(
        &self,
        daemon: &Daemon,
        scenario: Scenario,
        concurrency: usize,
        stop: Stop,
        warmup: Duration,
        users: Arc<Vec<User>>,
    ) -> Result<RunConfig, String> {
        let deployment = daemon.deployment;
        Ok(RunConfig {
            target: Target::parse(&daemon.url())?,
            spread: Vec::new(),
            scenario,
            concurrency,
            stop,
            warmup,
            first_factor: deployment.first_factor(),
            mode: deployment.mode(),
            provider: Some(self.provider.clone()),
            users,
            timeout: Duration::from_secs(10),
            probe: Some(daemon_probe(daemon.pid)),
        })
    }
}

pub async fn suite(args: SuiteArgs) -> Result<(), String> {
    let original = check_binary(&args.daemon, args.allow_debug)?;
    let machine = machine();
    let runs = args.runs.max(1);
    let tmp = TempDir::new("suite").map_err(|e| e.to_string())?;
    // A private copy, so that a rebuild of target/release during the suite cannot mix binaries.
    let binary = tmp.path().join("mfa-bridge");
    std::fs::copy(&original, &binary).map_err(|e| format!("copy {}: {e}", original.display()))?;
    let digest = std::fs::read(&binary)
        .map(|bytes| hex::encode(sha2::Sha256::digest(&bytes)))
        .map_err(|e| e.to_string())?;
    let binary_line = format!(
        "`{}` (release build; copied at the start, SHA-256 {})",
        original.display(),
        &digest[..16]
    );
    let fakes = Fakes::start("127.0.0.1:0", "127.0.0.1:0", 2);
    let ceiling = Ceiling::start("127.0.0.1:0", 2);
    let provider = Target::parse(&fakes.provider_url)?;
    let ctx = Ctx {
        binary: binary.clone(),
        fakes,
        tmp,
        provider,
    };
    eprintln!(
        "fakes: provider {}, upstream {}; ceiling {}; daemon {}; temporary files in {}",
        ctx.fakes.provider_url,
        ctx.fakes.upstream_url,
        ceiling.url,
        binary.display(),
        ctx.tmp.path().display()
    );
    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    let mut results = Results {
        peer: args
            .peer
            .as_deref()
            .map(PeerResults::prepared)
            .transpose()?,
        ..Results::default()
    };
    let fakes_cpu_before = cpu::threads_cpu_seconds(FAKES_THREADS);
    let fakes_served_before = ctx.fakes.served();

    for run in (0..runs).filter(|_| !args.postgres_only) {
        eprintln!("== run {}/{runs}", run + 1);
        // Fresh daemons for each run, so that runs are independent (logins leave sessions).
        let mut daemons = Vec::new();
        for deployment in Deployment::ALL {
            let label = format!("r{run}-{}", deployment.name().replace(' ', "-"));
            daemons.push((
                deployment,
                ctx.enrolled(&label, deployment, args.users).await?,
            ));
        }
        for &c in &args.concurrency {
            let report = scenarios::run(RunConfig {
                target: Target::parse(&ceiling.url)?,
                spread: Vec::new(),
                scenario: Scenario::Ceiling,
                concurrency: c,
                stop: Stop::Duration(duration),
                warmup,
                first_factor: scenarios::FirstFactor::Proxy,
                mode: scenarios::SmsMode::Single,
                provider: None,
                users: Arc::new(Vec::new()),
                timeout: Duration::from_secs(10),
                probe: Some(ceiling_probe()),
            })
            .await;
            eprint!("{}", report.text());
            results
                .throughput
                .entry(key(What::Ceiling, None, c))
                .or_default()
                .push(report);
            for (deployment, (daemon, users)) in &daemons {
                for (what, scenario) in
                    [(What::Login, Scenario::Login), (What::Flow, Scenario::Flow)]
                {
                    let config = ctx.config(
                        daemon,
                        scenario,
                        c,
                        Stop::Duration(duration),
                        warmup,
                        users.clone(),
                    )?;
                    let report = scenarios::run(config).await;
                    eprint!("[{}] {}", deployment.name(), report.text());
                    results
                        .throughput
                        .entry(key(what, Some(*deployment), c))
                        .or_default()
                        .push(report);
                }
            }
        }
        for (_, (daemon, _)) in daemons {
            daemon.stop().await;
        }
        if let Some(peer) = results.peer.as_mut() {
            peer.measure_run(&crate::peer::Setup {
                fakes: &ctx.fakes,
                provider: &ctx.provider,
                tmp: ctx.tmp.path(),
                run,
                concurrency: &args.concurrency,
                duration,
                warmup,
                users: args.users,
            })
            .await?;
        }

        results
            .pending
            .push(pending(&ctx, run, args.pending).await?);
        results
            .reload
            .push(reload(&ctx, run, args.rewrites, warmup).await?);
        let mut starts = Vec::new();
        for k in 0..args.cold_starts.max(1) {
            let daemon = ctx
                .daemon(&format!("r{run}-cold{k}"), Deployment::StandaloneSingle)
                .await?;
            starts.push(daemon.cold_start.as_secs_f64() * 1e3);
            daemon.stop().await;
        }
        eprintln!("cold starts (ms): {starts:?}");
        results.cold_start_ms.push(starts);
    }
    let on_postgres = if args.postgres || args.postgres_only {
        eprintln!("== PostgreSQL");
        let measured = shared_store::measure(&shared_store::Setup {
            binary: &ctx.binary,
            tmp: ctx.tmp.path(),
            fakes: &ctx.fakes,
            provider: &ctx.provider,
            runs,
            concurrency: &args.concurrency,
            duration,
            warmup,
            users: args.users,
        })
        .await?;
        shared_store::markdown(&measured, &args.concurrency)
    } else {
        String::new()
    };
    results.fakes_served = ctx.fakes.served() - fakes_served_before;
    results.fakes_cpu_seconds = cpu::threads_cpu_seconds(FAKES_THREADS) - fakes_cpu_before;

    let markdown = if args.postgres_only {
        let mut md = String::from("## Machine and command\n\n| | |\n|---|---|\n");
        for (k, v) in &machine {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str(&format!("| daemon binary | {binary_line} |\n"));
        md.push_str(&format!(
            "\nRuns: {runs}; window {} s after {} s of warm-up; concurrency {:?}; {} users.\n",
            args.duration, args.warmup, args.concurrency, args.users
        ));
        md + &on_postgres
    } else {
        markdown(&args, &machine, &binary_line, &results, &on_postgres)
    };
    std::fs::write(&args.out, &markdown).map_err(|e| format!("{}: {e}", args.out.display()))?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).expect("results serialise");
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{markdown}");
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// 100 000 logins never completed, against a fresh standalone daemon: RSS before and after,
/// and the data directory.
async fn pending(ctx: &Ctx, run: usize, count: u64) -> Result<PendingRun, String> {
    let deployment = Deployment::StandaloneSingle;
    let (daemon, users) = ctx
        .enrolled(&format!("r{run}-pending"), deployment, 1024)
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before_kib = cpu::rss_kib(daemon.pid).unwrap_or(0);
    let config = ctx.config(
        &daemon,
        Scenario::Pending,
        64,
        Stop::Count(count),
        Duration::ZERO,
        users,
    )?;
    let report = scenarios::run(config).await;
    eprint!("[pending] {}", report.text());
    // Login sessions are flushed every 200 ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_after_kib = cpu::rss_kib(daemon.pid).unwrap_or(0);
    let (dir_apparent_bytes, dir_allocated_bytes) = cpu::dir_size(&daemon.storage);
    eprintln!(
        "[pending] RSS {rss_before_kib} KiB -> {rss_after_kib} KiB; data dir {dir_apparent_bytes} bytes ({dir_allocated_bytes} allocated)"
    );
    daemon.stop().await;
    Ok(PendingRun {
        report: Some(report),
        rss_before_kib,
        rss_after_kib,
        dir_apparent_bytes,
        dir_allocated_bytes,
    })
}

/// Flow load (c=16) on a fresh standalone daemon while platform.yml's single endpoint text is
/// rewritten `rewrites` times (atomic rename; the daemon hot-reloads). Then one more flow checks
/// that the last text is the one in use.
async fn reload(
    ctx: &Ctx,
    run: usize,
    rewrites: u32,
    warmup: Duration,
) -> Result<ReloadRun, String> {
    let deployment = Deployment::StandaloneSingle;
    let (daemon, users) = ctx
        .enrolled(&format!("r{run}-reload"), deployment, 64)
        .await?;
    let every = Duration::from_millis(150);
    let load = Duration::from_millis(150) * (rewrites + 4);
    let config = ctx.config(
        &daemon,
        Scenario::Flow,
        16,
        Stop::Duration(load),
        warmup,
        users.clone(),
    )?;
    let yaml_path = daemon.config_path.clone();
    let storage = daemon.storage.clone();
    let port = daemon.port;
    let provider_url = ctx.fakes.provider_url.clone();
    let upstream_url = ctx.fakes.upstream_url.clone();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(warmup + every).await;
        for n in 1..=rewrites {
            let yaml = config_yaml(
                deployment,
                port,
                &storage,
                &provider_url,
                &upstream_url,
                Some(n),
            );
            write_atomically(&yaml_path, &yaml).map_err(|e| e.to_string())?;
            tokio::time::sleep(every).await;
        }
        Ok::<(), String>(())
    });
    let report = scenarios::run(config).await;
    writer.await.map_err(|e| e.to_string())??;
    eprint!("[reload] {}", report.text());
    // One more flow with the last text in place.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let user = &users[0];
    let check = ctx.config(
        &daemon,
        Scenario::Flow,
        1,
        Stop::Count(1),
        Duration::ZERO,
        Arc::new(vec![user.clone()]),
    )?;
    let after = scenarios::run(check).await;
    let text = ctx
        .fakes
        .provider
        .last_text(&user.phone)
        .unwrap_or_default();
    let last_revision_seen = after.ok == 1 && text.starts_with(&format!("rev {rewrites}:"));
    eprintln!("[reload] last text {text:?}; last revision in use: {last_revision_seen}");
    daemon.stop().await;
    Ok(ReloadRun {
        report: Some(report),
        rewrites,
        last_revision_seen,
    })
}

fn spread_of<'a>(
    reports: impl IntoIterator<Item = &'a Report>,
    f: impl Fn(&Report) -> f64,
) -> Spread {
    let values: Vec<f64> = reports.into_iter().map(f).collect();
    Spread::of(&values)
}

fn sh(command: &str, args: &[&str]) -> String {
    std::process::Command::new(command)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
        .unwrap_or_default();
    let commit = sh("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = !sh(
        "git",
        &[
            "status",
            "--porcelain",
            "--",
            "src",
            ":!src/bin/mfa-bench",
            "Cargo.toml",
            "Cargo.lock",
        ],
    )
    .is_empty();
    vec![
        ("CPU".into(), model),
        (
            "cores (available to this process)".into(),
            cores.to_string(),
        ),
        ("memory".into(), memory),
        ("kernel".into(), kernel),
        ("rustc".into(), sh("rustc", &["--version"])),
        (
            "commit".into(),
            format!(
                "{commit}{}",
                if dirty {
                    " (with uncommitted changes to the daemon)"
                } else {
                    ""
                }
            ),
        ),
        ("date (UTC)".into(), sh("date", &["-u", "+%Y-%m-%d %H:%M"])),
    ]
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "**PASS**"
    } else {
        "**FAIL**"
    }
}

fn markdown(
    args: &SuiteArgs,
    machine: &[(String, String)],
    binary: &str,
    results: &Results,
    on_postgres: &str,
) -> String {
    let mut md = String::new();
    let runs = args.runs.max(1);
    let get = |what: What, d: Option<Deployment>, c: usize| -> &[Report] {
        results
            .throughput
            .get(&key(what, d, c))
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    };
    let cpu_us =
        |who: &'static str| move |r: &Report| r.cpu_us_per_op.get(who).copied().unwrap_or(f64::NAN);
    let cores =
        |who: &'static str| move |r: &Report| r.cpu_cores.get(who).copied().unwrap_or(f64::NAN);
    let lat = |route: &'static str, p: fn(&crate::report::Latency) -> f64| {
        move |r: &Report| r.latency.get(route).map(p).unwrap_or(f64::NAN)
    };
    let failed = |rs: &[Report]| rs.iter().map(|r| r.failed).sum::<u64>();

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
        "\nRuns: {runs}; window {} s after {} s of warm-up; concurrency {:?}; {} users per daemon.\n\n",
        args.duration, args.warmup, args.concurrency, args.users
    ));
    md.push_str(&format!(
        "```sh\ncargo build --release --bins\ntarget/release/mfa-bench suite --runs {} --duration {} --warmup {} --out {}\n```\n\n",
        runs, args.duration, args.warmup, args.out.display()
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

    // Login and flow: one row per deployment and concurrency.
    let throughput_rows = |md: &mut String, what: What, route: &'static str| {
        for d in Deployment::ALL {
            for &c in &args.concurrency {
                let rs = get(what, Some(d), c);
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
    };
    md.push_str("\n## Login (`POST /{username}/login`, MFA on → 302)\n\n");
    md.push_str("| deployment | c | requests/s | p50 ms | p90 ms | p99 ms | max ms | failed | daemon CPU µs/req | daemon cores | client cores | fakes cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    throughput_rows(&mut md, What::Login, "login");
    md.push_str(
        "\n## Full flow (login → challenge → [code read from the fake provider] → verify)\n\n",
    );
    md.push_str("| deployment | c | flows/s | p50 ms | p90 ms | p99 ms | max ms | failed | daemon CPU µs/flow | daemon cores | client cores | fakes cores | machine busy cores |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    throughput_rows(&mut md, What::Flow, "flow");
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

    md.push_str(&crate::peer::section(
        results.peer.as_ref(),
        &args.concurrency,
        |m, c| match m {
            Measure::Login => get(What::Login, Some(Deployment::ProxySingle), c),
            Measure::Flow => get(What::Flow, Some(Deployment::ProxySingle), c),
        },
    ));
    md.push_str(on_postgres);

    // Errors, if any.
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
    md.push_str("\nErrors over all throughput runs: ");
    if errors.is_empty() {
        md.push_str("none.\n");
    } else {
        md.push('\n');
        for (k, n) in &errors {
            md.push_str(&format!("- {k}: {n}\n"));
        }
    }

    // Pending.
    let pending_reports: Vec<&Report> = results
        .pending
        .iter()
        .filter_map(|p| p.report.as_ref())
        .collect();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let pend = |f: &dyn Fn(&PendingRun) -> f64| {
        Spread::of(&results.pending.iter().map(f).collect::<Vec<_>>())
    };
    md.push_str(&format!(
        "\n## {} pending sessions (logins never completed; standalone single, c=64, 1024 users)\n\n",
        args.pending
    ));
    md.push_str("| logins/s | failed | RSS before MiB | RSS after MiB | data dir MiB (apparent) | data dir MiB (allocated) |\n|---|---|---|---|---|---|\n");
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} |\n",
        spread_of(pending_reports.iter().copied(), |r| r.per_second).show(0),
        pending_reports.iter().map(|r| r.failed).sum::<u64>(),
        pend(&|p| mib(p.rss_before_kib)).show(1),
        pend(&|p| mib(p.rss_after_kib)).show(1),
        pend(&|p| p.dir_apparent_bytes as f64 / 1048576.0).show(1),
        pend(&|p| p.dir_allocated_bytes as f64 / 1048576.0).show(1),
    ));
    md.push_str("\nRSS is VmRSS from /proc/PID/status, read after enrolment and 1 s after the last login (login sessions are flushed every 200 ms).\n");

    // Reload.
    let reload_reports: Vec<&Report> = results
        .reload
        .iter()
        .filter_map(|p| p.report.as_ref())
        .collect();
    md.push_str(&format!(
        "\n## Hot reload under load\n\nFlow load at c=16 (standalone single) while `platform.yml`'s single endpoint text is rewritten {} times, every 150 ms (write to a temporary file, rename over).\n\n",
        args.rewrites
    ));
    md.push_str("| flows/s | flows ok | failed flows | errors | last text in use after the rewrites |\n|---|---|---|---|---|\n");
    let mut reload_errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in &reload_reports {
        for (k, n) in &r.errors {
            *reload_errors.entry(k.clone()).or_default() += n;
        }
    }
    md.push_str(&format!(
        "| {} | {} | {} | {} | {} of {} runs |\n",
        spread_of(reload_reports.iter().copied(), |r| r.per_second).show(0),
        spread_of(reload_reports.iter().copied(), |r| r.ok as f64).show(0),
        reload_reports.iter().map(|r| r.failed).sum::<u64>(),
        if reload_errors.is_empty() {
            "none".to_string()
        } else {
            format!("{reload_errors:?}")
        },
        results
            .reload
            .iter()
            .filter(|r| r.last_revision_seen)
            .count(),
        results.reload.len()
    ));

    // Cold start.
    let per_run: Vec<f64> = results
        .cold_start_ms
        .iter()
        .map(|v| Spread::of(v).median)
        .collect();
    let all: Vec<f64> = results.cold_start_ms.iter().flatten().copied().collect();
    let cold = Spread::of(&per_run);
    md.push_str(&format!(
        "\n## Cold start\n\nSpawn of `mfa-bridge serve` (standalone single, empty data directory: the server secret and the database are created) to its first HTTP answer (`GET /`, any status), polled every 200 µs. {} starts per run; the run's figure is their median.\n\n| median of the runs, ms | every start: min–max ms |\n|---|---|\n| {} | {:.1}–{:.1} |\n",
        args.cold_starts.max(1),
        cold.show(1),
        Spread::of(&all).min,
        Spread::of(&all).max,
    ));

    // Fakes.
    md.push_str(&format!(
        "\n## The fakes are not the bottleneck\n\nOver the whole suite the fake upstream and provider served {} requests with {:.2} CPU s: **{:.1} µs of CPU per request** (their threads only, from /proc/self/task/*/stat). The per-measurement \"fakes cores\" columns above show the share of the machine they took.\n",
        results.fakes_served,
        results.fakes_cpu_seconds,
        results.fakes_cpu_seconds / results.fakes_served.max(1) as f64 * 1e6
    ));

    // Targets.
    md.push_str("\n## Targets (the issue's)\n\n");
    md.push_str(
        "An operation's *HTTP exchanges* count every request/answer pair on the loopback, the \
         daemon's calls to the fakes included: standalone login 1; proxy login 2 (client → \
         daemon, daemon → upstream); challenge 2 (client → daemon, daemon → provider); the code \
         fetch 1 (client → fake provider, single mode); verify 1 (single) or 2 (challenge-verify: \
         the provider checks the code). So a whole flow is 5 exchanges in standalone single, 6 in \
         proxy single and 6 in proxy challenge-verify. A ratio is computed per run against the \
         ceiling measured in the same run at the same concurrency; the table shows its median \
         (min–max); PASS means the median meets the target.\n\n",
    );
    md.push_str("| target | c | measured | goal | result |\n|---|---|---|---|---|\n");
    let ratio = |what: What, d: Deployment, c: usize, exchanges: u32| -> Spread {
        let ceil = get(What::Ceiling, None, c);
        let ours = get(what, Some(d), c);
        let v: Vec<f64> = ceil
            .iter()
            .zip(ours)
            .map(|(ce, o)| o.per_second / (ce.per_second / exchanges as f64))
            .collect();
        Spread::of(&v)
    };
    let mut summary = Vec::new();
    for &c in &args.concurrency {
        let s = ratio(What::Login, Deployment::StandaloneSingle, c, 1);
        md.push_str(&format!(
            "| login, standalone: requests/s ÷ ceiling | {c} | {} | ≥ 0.50 | {} |\n",
            s.show(2),
            pass(s.median >= 0.5)
        ));
        summary.push(s.median >= 0.5);
    }
    for d in [Deployment::ProxySingle, Deployment::ProxyChallengeVerify] {
        for &c in &args.concurrency {
            let s = ratio(What::Login, d, c, d.login_exchanges());
            md.push_str(&format!(
                "| login, {}: requests/s ÷ (ceiling ÷ {}) | {c} | {} | ≥ 0.50 | {} |\n",
                d.name(),
                d.login_exchanges(),
                s.show(2),
                pass(s.median >= 0.5)
            ));
            summary.push(s.median >= 0.5);
        }
    }
    for d in Deployment::ALL {
        for &c in &args.concurrency {
            let s = ratio(What::Flow, d, c, d.flow_exchanges());
            md.push_str(&format!(
                "| flow, {}: flows/s ÷ (ceiling ÷ {}) | {c} | {} | ≥ 0.50 | {} |\n",
                d.name(),
                d.flow_exchanges(),
                s.show(2),
                pass(s.median >= 0.5)
            ));
            summary.push(s.median >= 0.5);
        }
    }
    if let Some(&c) = args.concurrency.iter().max() {
        for d in Deployment::ALL {
            let s = spread_of(get(What::Flow, Some(d), c), lat("flow", |l| l.p99_ms));
            md.push_str(&format!(
                "| flow p99, {} | {c} | {} ms | ≤ 10 ms | {} |\n",
                d.name(),
                s.show(2),
                pass(s.median <= 10.0)
            ));
            summary.push(s.median <= 10.0);
        }
    }
    let rss = pend(&|p| mib(p.rss_after_kib));
    md.push_str(&format!(
        "| RSS with {} pending sessions | 64 | {} MiB | ≤ 48 MiB | {} |\n",
        args.pending,
        rss.show(1),
        pass(rss.median <= 48.0)
    ));
    summary.push(rss.median <= 48.0);
    md.push_str(&format!(
        "| cold start to the first answer | – | {} ms | ≤ 50 ms | {} |\n",
        cold.show(1),
        pass(cold.median <= 50.0)
    ));
    summary.push(cold.median <= 50.0);
    md.push_str(&format!(
        "\n{} of {} targets pass.\n",
        summary.iter().filter(|p| **p).count(),
        summary.len()
    ));

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
         go faster than ceiling ÷ k; the targets ask for half of that.\n\
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

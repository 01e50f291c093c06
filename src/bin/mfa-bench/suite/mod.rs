//! The whole suite on this machine: the fakes and the ceiling in process, the daemon spawned in
//! three deployments (and with `durability: periodic`), the disk's fsync times, PostgreSQL when
//! asked, every figure as the median and spread of several runs, judged against issue 16's
//! targets; writes BENCHMARKS.md (and the raw results as JSON when asked).

mod ctx;
pub mod fsync;
mod machine;
mod markdown;
mod measure;
mod results;
mod sections;
mod targets;
mod verdict;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use sha2::Digest;

use self::{
    ctx::{ceiling_probe, Ctx},
    machine::{check_binary, machine},
    results::{Results, What},
};
use crate::{
    client::Target,
    cpu,
    daemon::{Deployment, TempDir},
    fakes::{Ceiling, Fakes, FAKES_THREADS},
    scenarios::{self, RunConfig, Scenario, Stop},
    shared_store,
};

#[derive(clap::Args)]
pub struct SuiteArgs {
    /// Runs of every measurement; each figure is the median and spread of these.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Measured seconds of each throughput measurement.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Warm-up seconds before each throughput measurement (excluded).
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
    /// The daemon binary (a release build).
    #[arg(long, default_value = "target/release/mfa-bridge")]
    pub daemon: PathBuf,
    /// Accept a binary that looks like a debug build (the figures then mean little).
    #[arg(long)]
    pub allow_debug: bool,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub concurrency: Vec<usize>,
    /// Users enrolled in each daemon for the login and flow measurements.
    #[arg(long, default_value_t = 256)]
    pub users: usize,
    /// Pending sessions created for the memory measurement.
    #[arg(long, default_value_t = 100_000)]
    pub pending: u64,
    /// Pending sessions created once (after the runs, on a daemon of its own) for the large
    /// memory measurement; 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    pub pending_large: u64,
    /// Rewrites of platform.yml under flow load.
    #[arg(long, default_value_t = 20)]
    pub rewrites: u32,
    /// Cold starts per run (the run's figure is their median).
    #[arg(long, default_value_t = 5)]
    pub cold_starts: usize,
    /// Also write every report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also measure the flow with storage on PostgreSQL, one and two daemons (a server of the
    /// suite's own, from Debian's postgresql package), in the same file.
    #[arg(long)]
    pub postgres: bool,
    /// Measure only that: the file written holds the machine and that section.
    #[arg(long)]
    pub postgres_only: bool,
    /// Also measure Pryv's service-mfa (the peer) in each run: DIR is the copy prepared by
    /// `scripts/peer-service-mfa prepare` (e.g. target/peer).
    #[arg(long, value_name = "DIR")]
    pub peer: Option<PathBuf>,
}

pub async fn suite(args: SuiteArgs) -> Result<(), String> {
    let started = Instant::now();
    let original = check_binary(&args.daemon, args.allow_debug)?;
    if args.postgres || args.postgres_only {
        crate::postgres::installed()?;
    }
    let machine = machine();
    let runs = args.runs.max(1);
    let tmp = TempDir::new("suite").map_err(|e| e.to_string())?;
    // A private copy, so that a rebuild of target/release during the suite cannot mix binaries.
    let binary = tmp.path().join("mfa-bridge");
    std::fs::copy(&original, &binary).map_err(|e| format!("copy {}: {e}", original.display()))?;
    let digest = std::fs::read(&binary)
        .map(|bytes| hex::encode(sha2::Sha256::digest(&bytes)))
        .map_err(|e| e.to_string())?;
    let build = if args.allow_debug && original.components().any(|c| c.as_os_str() == "debug") {
        "a debug build: the figures mean little"
    } else {
        "release build"
    };
    let binary_line = format!(
        "`{}` ({build}; copied at the start, SHA-256 {})",
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
        file_system: fsync::file_system(ctx.tmp.path()),
        peer: args
            .peer
            .as_deref()
            .map(crate::peer::PeerResults::prepared)
            .transpose()?,
        ..Results::default()
    };
    let fakes_cpu_before = cpu::threads_cpu_seconds(FAKES_THREADS);
    let fakes_served_before = ctx.fakes.served();

    for run in (0..runs).filter(|_| !args.postgres_only) {
        eprintln!("== run {}/{runs}", run + 1);
        results.fsync.push(measure::fsync(&ctx).await?);
        throughput(&args, &ctx, &ceiling.url, run, &mut results).await?;
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
        measure::periodic(&ctx, run, args.users, duration, warmup, &mut results).await?;
        let pending = measure::pending(&ctx, &format!("r{run}-pending"), args.pending).await?;
        results.pending.push(pending);
        results
            .reload
            .push(measure::reload(&ctx, run, args.rewrites, warmup).await?);
        let starts = measure::cold_starts(&ctx, run, args.cold_starts).await?;
        results.cold_start_ms.push(starts);
    }
    if args.pending_large > 0 && !args.postgres_only {
        eprintln!("== {} pending sessions (once)", args.pending_large);
        let large = measure::pending(&ctx, "pending-large", args.pending_large).await?;
        results.pending_large = Some(large);
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
        "\n## Several instances on PostgreSQL\n\nNot measured in this run (`--postgres`; \
         `scripts/bench` passes it).\n"
            .to_string()
    };
    results.fakes_served = ctx.fakes.served() - fakes_served_before;
    results.fakes_cpu_seconds = cpu::threads_cpu_seconds(FAKES_THREADS) - fakes_cpu_before;
    results.seconds = started.elapsed().as_secs_f64();

    let command = std::env::args().collect::<Vec<_>>().join(" ");
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
        markdown::markdown(
            &args,
            &machine,
            &binary_line,
            &command,
            &results,
            &on_postgres,
        )
    };
    std::fs::write(&args.out, &markdown).map_err(|e| format!("{}: {e}", args.out.display()))?;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!("{markdown}");
    eprintln!(
        "wrote {} ({:.1} minutes)",
        args.out.display(),
        results.seconds / 60.0
    );
    Ok(())
}

/// The ceiling, and login and flow in every deployment, at every concurrency, on fresh daemons
/// with the default (strict) durability.
async fn throughput(
    args: &SuiteArgs,
    ctx: &Ctx,
    ceiling_url: &str,
    run: usize,
    results: &mut Results,
) -> Result<(), String> {
    let duration = Duration::from_secs_f64(args.duration);
    let warmup = Duration::from_secs_f64(args.warmup);
    // Fresh daemons for each run, so that runs are independent (logins leave sessions).
    let mut daemons = Vec::new();
    for deployment in Deployment::ALL {
        let label = format!("r{run}-{}", deployment.name().replace(' ', "-"));
        daemons.push((
            deployment,
            ctx.enrolled(&label, deployment, args.users, None).await?,
        ));
    }
    for &c in &args.concurrency {
        let report = scenarios::run(RunConfig {
            target: Target::parse(ceiling_url)?,
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
        results.push(What::Ceiling, None, c, report);
        for (deployment, (daemon, users)) in &daemons {
            for (what, scenario) in [(What::Login, Scenario::Login), (What::Flow, Scenario::Flow)] {
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
                results.push(what, Some(*deployment), c, report);
            }
        }
    }
    for (_, (daemon, _)) in daemons {
        daemon.stop().await;
    }
    Ok(())
}

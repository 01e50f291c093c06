//! mfa-bench: a load tool for Pryv-style MFA services, with fast fakes (upstream, provider), a
//! loopback ceiling, a whole benchmark suite that writes BENCHMARKS.md, a smoke run, and the
//! disk's fsync times.

mod client;
mod cpu;
mod daemon;
mod fake_core;
mod fakes;
mod peer;
mod postgres;
mod report;
mod scenarios;
mod shared_store;
mod smoke;
mod suite;

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{Parser, Subcommand};

use crate::{
    client::Target,
    scenarios::{FirstFactor, Scenario, SmsMode, Stop},
};

/// The name of the load client's threads (to tell their CPU time from the fakes').
pub const CLIENT_THREADS: &str = "bench-client";

#[derive(Parser)]
#[command(name = "mfa-bench", about = "Load tool for Pryv-style MFA services")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the fake upstream and the fake provider until SIGINT/SIGTERM.
    Fakes {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen_provider: String,
        #[arg(long, default_value = "127.0.0.1:0")]
        listen_upstream: String,
    },
    /// Serve `{"ok":true}` to any request until SIGINT/SIGTERM.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
    /// Drive one scenario against a running service.
    Run(RunArgs),
    /// Run the whole suite on this machine and write BENCHMARKS.md.
    Suite(suite::SuiteArgs),
    /// How long this disk takes to make a small write durable: writes of 4 KiB appended to a
    /// file in DIR, each followed by fsync (what strict durability waits for).
    Fsync {
        /// A directory on the file system to measure (e.g. the daemon's storage folder).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        #[arg(long, default_value_t = suite::fsync::WRITES)]
        writes: usize,
    },
    /// A few hundred flows against the fakes and a daemon it spawns; exits 1 on any error.
    Smoke {
        /// The mfa-bridge binary.
        #[arg(long)]
        daemon: PathBuf,
        /// Flows per deployment.
        #[arg(long, default_value_t = 200)]
        flows: u64,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Base URL of the MFA service (or of the ceiling server), e.g. http://127.0.0.1:7000
    #[arg(long)]
    target: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, conflicts_with = "count")]
    duration: Option<f64>,
    /// Measured operations (after the warm-up); `pending` defaults to 100000.
    #[arg(long)]
    count: Option<u64>,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Standalone mode: login and activate with `Authorization: Bearer <api key>`.
    #[arg(long, requires = "api_key", conflicts_with = "proxy")]
    standalone: bool,
    #[arg(long)]
    api_key: Option<String>,
    /// Proxy mode (the default): login forwards `{"username","password","appId"}`.
    #[arg(long)]
    proxy: bool,
    #[arg(long, value_enum, default_value = "single")]
    mode: SmsMode,
    /// The fake provider's base URL (single mode reads codes from its /codes/{phone}).
    #[arg(long)]
    provider: Option<String>,
    /// Users to enrol before the run (at least the concurrency).
    #[arg(long, default_value_t = 64)]
    users: usize,
    /// Prefix of the user names (a fresh one by default, so that a service can be reused).
    #[arg(long)]
    user_prefix: Option<String>,
    /// Per-request time-out, seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Also write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CLIENT_THREADS)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Fakes {
                listen_provider,
                listen_upstream,
            } => serve_fakes(&listen_provider, &listen_upstream).await,
            Command::Ceiling { listen } => serve_ceiling(&listen).await,
            Command::Run(args) => run(args).await,
            Command::Suite(args) => suite::suite(args).await,
            Command::Fsync { dir, writes } => fsync(&dir, writes),
            Command::Smoke { daemon, flows } => smoke::smoke(&daemon, flows).await,
        }
    });
    runtime.shutdown_background();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mfa-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Waits for SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn serve_fakes(listen_provider: &str, listen_upstream: &str) -> Result<(), String> {
    let fakes = fakes::Fakes::start(listen_provider, listen_upstream, 2);
    println!("provider {}", fakes.provider_url);
    println!("upstream {}", fakes.upstream_url);
    stopped().await;
    let served = fakes.served();
    let cpu = cpu::process_cpu_seconds("self");
    println!(
        "served {served} requests; CPU {cpu:.2} s (the whole process), {:.1} us per request",
        cpu / served.max(1) as f64 * 1e6
    );
    Ok(())
}

fn fsync(dir: &std::path::Path, writes: usize) -> Result<(), String> {
    let measured =
        suite::fsync::measure(dir, writes).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "fsync in {} ({}): {}",
        dir.display(),
        suite::fsync::file_system(dir),
        measured.text()
    );
    Ok(())
}

async fn serve_ceiling(listen: &str) -> Result<(), String> {
    let ceiling = fakes::Ceiling::start(listen, 2);
    println!("ceiling {}", ceiling.url);
    stopped().await;
    let served = ceiling.served.load(std::sync::atomic::Ordering::Relaxed);
    let cpu = cpu::process_cpu_seconds("self");
    println!(
        "served {served} requests; CPU {cpu:.2} s, {:.1} us per request",
        cpu / served.max(1) as f64 * 1e6
    );
    Ok(())
}

async fn run(args: RunArgs) -> Result<(), String> {
    let target = Target::parse(&args.target)?;
    let provider = args.provider.as_deref().map(Target::parse).transpose()?;
    let first_factor = if args.standalone {
        FirstFactor::Standalone {
            api_key: args.api_key.clone().unwrap_or_default(),
        }
    } else {
        FirstFactor::Proxy
    };
    let stop = match (args.duration, args.count, args.scenario) {
        (Some(d), _, _) => Stop::Duration(Duration::from_secs_f64(d)),
        (None, Some(n), _) => Stop::Count(n),
        (None, None, Scenario::Pending) => Stop::Count(100_000),
        (None, None, _) => Stop::Duration(Duration::from_secs(5)),
    };
    let concurrency = args.concurrency.max(1);
    let users = if args.scenario == Scenario::Ceiling {
        Vec::new()
    } else {
        let prefix = args.user_prefix.clone().unwrap_or_else(fresh_prefix);
        let users = scenarios::users(&prefix, args.users.max(concurrency));
        if args.mode == SmsMode::Single && args.scenario == Scenario::Flow && provider.is_none() {
            return Err(
                "--scenario flow in single mode needs --provider (the fake provider)".into(),
            );
        }
        eprintln!("enrolling {} users...", users.len());
        scenarios::enrol(
            &target,
            &first_factor,
            args.mode,
            provider.as_ref(),
            &users,
            16,
        )
        .await?;
        users
    };
    let probe: scenarios::Probe = Arc::new(|| {
        [(
            "mfa-bench client".to_string(),
            cpu::threads_cpu_seconds(CLIENT_THREADS),
        )]
        .into_iter()
        .collect()
    });
    let report = scenarios::run(scenarios::RunConfig {
        target,
        spread: Vec::new(),
        scenario: args.scenario,
        concurrency,
        stop,
        warmup: Duration::from_secs_f64(args.warmup),
        first_factor,
        mode: args.mode,
        provider,
        users: Arc::new(users),
        timeout: Duration::from_secs_f64(args.timeout),
        probe: Some(probe),
    })
    .await;
    print!("{}", report.text());
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&report).expect("a report serialises");
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// A user-name prefix of its own for each run: `b` and 8 hex digits.
pub fn fresh_prefix() -> String {
    format!("b{:08x}", rand::random::<u32>())
}

//! The `mfa-bridge` command: serve, check, render.

/// With `--features mimalloc`: about a third more logins per second under load (glibc's
/// allocator is the largest single cost there), at the price of some 40 MB more resident memory
/// from the start. BENCHMARKS.md has both.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use mfa_bridge::config::{process_env, Source};
use mfa_bridge::snapshot::Snapshot;
use mfa_bridge::startup::{Application, Settings};
use mfa_bridge::template::{self, EndpointId};

/// The configuration shipped with the binary: standalone mode, single mode, development outbox.
const EMBEDDED_CONFIG: &str = include_str!("../platform.yml");

#[derive(Parser)]
#[command(
    name = "mfa-bridge",
    version,
    about = "A second factor in front of any login"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon.
    Serve {
        /// platform.yml to use; without it, ./platform.yml, else the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration: prints every problem, exits 1 if there is one.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print the exact request an endpoint would send for sample data, secrets masked.
    Render {
        #[arg(long)]
        config: Option<PathBuf>,
        /// single, challenge, verify, login or access_check.
        #[arg(long)]
        endpoint: String,
        /// Sample variables as a JSON object, e.g. '{"phone": "+41791231212"}'.
        #[arg(long, default_value = "{}")]
        data: String,
        /// sms or email: the channel whose endpoint to render (the primary one by default).
        #[arg(long)]
        channel: Option<String>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(config.as_deref()),
        Command::Check { config } => check(config.as_deref()),
        Command::Render {
            config,
            endpoint,
            data,
            channel,
        } => render(config.as_deref(), &endpoint, &data, channel.as_deref()),
    }
}

/// The given file, else ./platform.yml, else the embedded default (which is not watched).
fn config_path(path: Option<&Path>) -> Option<PathBuf> {
    let default = Path::new("platform.yml");
    match path {
        Some(p) => Some(p.to_path_buf()),
        None if default.exists() => Some(default.to_path_buf()),
        None => None,
    }
}

/// The configuration of [`config_path`], `${NAME}` references read from the environment.
fn load(path: Option<&Path>) -> Result<Snapshot, String> {
    let source = match config_path(path) {
        Some(p) => Source::read(&p),
        None => {
            tracing::info!("no platform.yml here: using the embedded default configuration");
            Ok(Source::text(EMBEDDED_CONFIG, Path::new(".")))
        }
    };
    source
        .and_then(|source| Snapshot::load(&source, &process_env))
        .map_err(|e| e.to_string())
}

fn serve(path: Option<&Path>) -> ExitCode {
    let snapshot = match load(path) {
        Ok(s) => s,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let settings = Settings {
            config_path: config_path(path),
            clock: Arc::new(mfa_bridge::clock::SystemClock),
            env: Arc::new(process_env),
        };
        let app = match Application::build(snapshot, settings).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

fn check(path: Option<&Path>) -> ExitCode {
    match load(path) {
        Ok(s) => {
            let mode = if s.config.is_proxy() {
                "proxy"
            } else {
                "standalone"
            };
            let mfa = &s.config.mfa;
            let sms_mode = mfa.mode.name();
            let preset = match &mfa.preset {
                Some(p) => format!(", preset {}", p.name),
                None => String::new(),
            };
            let mut methods = vec![mfa.channel.name()];
            methods.extend(mfa.channels.iter().map(|c| c.channel.name()));
            if mfa.totp.enabled {
                methods.push("totp");
            }
            println!(
                "configuration is valid ({mode} mode, {sms_mode} code mode, {} channel{preset}; methods: {})",
                mfa.channel.name(),
                methods.join(", ")
            );
            for w in s.templates.warnings() {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            println!("{problems}");
            ExitCode::FAILURE
        }
    }
}

fn render(path: Option<&Path>, endpoint: &str, data: &str, channel: Option<&str>) -> ExitCode {
    let snapshot = match load(path) {
        Ok(s) => s,
        Err(problems) => {
            eprintln!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    let Some(id) = EndpointId::from_name(endpoint) else {
        let names: Vec<&str> = EndpointId::ALL.iter().map(|e| e.name()).collect();
        eprintln!(
            "unknown endpoint '{endpoint}' (expected one of: {})",
            names.join(", ")
        );
        return ExitCode::FAILURE;
    };
    let data = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(data) {
        Ok(map) => map,
        Err(e) => {
            eprintln!("--data must be a JSON object: {e}");
            return ExitCode::FAILURE;
        }
    };
    let templates = match snapshot.channel_named(channel) {
        Ok((_, templates)) => templates,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match template::preview(templates, &snapshot.config.secrets, id, &data) {
        Ok(preview) => {
            for w in &preview.warnings {
                eprintln!("warning: {w}");
            }
            let mut shown = serde_json::json!({ "request": preview.request });
            if let Some(message) = preview.message {
                shown["message"] = message;
            }
            if let Some(sms) = preview.sms {
                shown["sms"] = serde_json::to_value(sms).unwrap_or_default();
            }
            shown["warnings"] = serde_json::json!(preview.warnings);
            println!(
                "{}",
                serde_json::to_string_pretty(&shown).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

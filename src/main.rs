//! The `mfa-bridge` command: serve, check, render, backup, restore, migrate, migrate-store.

/// With `--features mimalloc`: 15–20 % less CPU per flow (glibc's allocator is the largest
/// user-space cost), and with `MIMALLOC_ARENA_EAGER_COMMIT=0 MIMALLOC_EAGER_COMMIT=0
/// MIMALLOC_PURGE_DELAY=0` in the environment about glibc's memory; without them some 40 MB more
/// from the start (docs/benchmarks-analysis.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use mfa_bridge::config::{process_env, Source};
use mfa_bridge::snapshot::Snapshot;
use mfa_bridge::startup::logger::Logger;
use mfa_bridge::startup::{backups, Application, Settings};
use mfa_bridge::template::{self, EndpointId};

/// The configuration shipped with the binary: standalone mode, single mode, development outbox,
/// and an api key and admin token printed in the README. Run only when asked for (`--dev`).
const EMBEDDED_CONFIG: &str = include_str!("../platform.yml");

/// Exit code of a command that found no configuration to run on.
const NO_CONFIGURATION: u8 = 2;

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
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Validate a configuration: prints which file and every problem, exits 1 if there is one.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the exact request an endpoint would send for sample data, secrets masked.
    Render {
        #[command(flatten)]
        config: ConfigArgs,
        /// single, challenge, verify, login or access_check.
        #[arg(long)]
        endpoint: String,
        /// Sample variables as a JSON object, e.g. '{"phone": "+41791231212"}'.
        #[arg(long, default_value = "{}")]
        data: String,
        /// sms, email, voice or whatsapp: the channel whose endpoint to render (the primary one by
        /// default).
        #[arg(long)]
        channel: Option<String>,
    },
    /// Copy every stored record of the running daemon (through its admin API) into DIR.
    Backup {
        #[command(flatten)]
        config: ConfigArgs,
        /// Where to write mfa-bridge-backup.jsonl (created when missing).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// The admin API's URL; without it, from the configuration's admin.listen.
        #[arg(long, value_name = "URL")]
        admin: Option<String>,
    },
    /// Write a backup into the configuration's empty data directory (daemon stopped).
    Restore {
        #[command(flatten)]
        config: ConfigArgs,
        /// The folder holding mfa-bridge-backup.jsonl.
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
    /// Apply the database schema's new versions (storage.backend: postgres); the daemon also
    /// applies them at start.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Copy a sled data directory (its daemon stopped) into the configuration's empty
    /// PostgreSQL database, under the same server secret.
    MigrateStore {
        #[command(flatten)]
        config: ConfigArgs,
        /// sled:PATH, the storage.path of the sled daemon.
        #[arg(long, value_name = "sled:PATH")]
        from: String,
    },
}

/// Where a command's configuration comes from.
#[derive(clap::Args)]
struct ConfigArgs {
    /// platform.yml to use; without it, ./platform.yml (there is no other default).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Run the development configuration embedded in the binary instead of a platform.yml: its
    /// api key and admin token are public, codes go to data/outbox.jsonl. Never in production.
    #[arg(long, conflicts_with = "config")]
    dev: bool,
}

fn main() -> ExitCode {
    let logger = Logger::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => serve(&config, &logger),
        Command::Check { config } => check(&config),
        Command::Render {
            config,
            endpoint,
            data,
            channel,
        } => render(&config, &endpoint, &data, channel.as_deref()),
        Command::Backup { config, to, admin } => {
            // The admin URL given: no configuration is needed.
            let snapshot = match admin {
                Some(_) => None,
                None => match config.load() {
                    Ok(s) => Some(s),
                    Err(problems) => return refused(&config, &problems),
                },
            };
            let token = std::env::var(backups::ADMIN_TOKEN_VAR).ok();
            run(backups::backup(
                snapshot.as_ref().map(|s| &s.config),
                admin.as_deref(),
                token.as_deref(),
                &to,
            ))
        }
        Command::Restore { config, from } => match config.load() {
            Ok(snapshot) => run(backups::restore(&snapshot.config, &from)),
            Err(problems) => refused(&config, &problems),
        },
        Command::Migrate { config } => match config.load() {
            Ok(snapshot) => run(mfa_bridge::startup::store::migrate(&snapshot.config)),
            Err(problems) => refused(&config, &problems),
        },
        Command::MigrateStore { config, from } => match config.load() {
            Ok(snapshot) => run(mfa_bridge::startup::migrate_store::migrate_store(
                &snapshot.config,
                &from,
            )),
            Err(problems) => refused(&config, &problems),
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

/// Runs a command on a runtime of its own; prints what it answers.
fn run(command: impl std::future::Future<Output = Result<String, String>>) -> ExitCode {
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
        .and_then(|runtime| runtime.block_on(command));
    match outcome {
        Ok(done) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// The given file, else ./platform.yml; `None` when neither is given nor there.
fn config_path(path: Option<&Path>) -> Option<PathBuf> {
    let default = Path::new("platform.yml");
    match path {
        Some(p) => Some(p.to_path_buf()),
        None if default.exists() => Some(default.to_path_buf()),
        None => None,
    }
}

/// The configuration of [`config_path`], `${NAME}` references read from the environment.
/// Without a file, the refusal says where it looked and what to do ([`no_configuration`]).
fn load(path: Option<&Path>) -> Result<Snapshot, String> {
    let Some(file) = config_path(path) else {
        return Err(no_configuration());
    };
    // Absolute, as the reloads read it: relative paths in it (storage.path) then resolve the
    // same at start and at each reload.
    let file = std::path::absolute(&file).unwrap_or(file);
    Source::read(&file)
        .and_then(|source| Snapshot::load(&source, &process_env))
        .map_err(|e| e.to_string())
}

impl ConfigArgs {
    /// What the configuration is called in messages: the file as given (the absolute path of
    /// ./platform.yml when none was), or the embedded one.
    fn name(&self) -> String {
        match (self.dev, config_path(self.config.as_deref())) {
            (true, _) => "the embedded development configuration".to_string(),
            (false, Some(p)) if self.config.is_none() => {
                std::path::absolute(&p).unwrap_or(p).display().to_string()
            }
            (false, Some(p)) => p.display().to_string(),
            (false, None) => "no configuration".to_string(),
        }
    }

    /// The file, or the embedded configuration with `--dev`.
    fn load(&self) -> Result<Snapshot, String> {
        if self.dev {
            return Snapshot::load(&Source::text(EMBEDDED_CONFIG, Path::new(".")), &process_env)
                .map_err(|e| e.to_string());
        }
        load(self.config.as_deref())
    }

    /// The start-up warning of `serve --dev`, repeated at each start.
    fn warn_dev(&self) {
        if !self.dev {
            return;
        }
        tracing::warn!(
            "--dev: running the DEVELOPMENT configuration embedded in the binary: its api key \
             and admin token are the public ones of the README, codes go to data/outbox.jsonl \
             instead of phones, data is stored in ./data. Never in production: give a \
             platform.yml (--config FILE)."
        );
        if Path::new("platform.yml").exists() {
            tracing::warn!("--dev: ./platform.yml is not read");
        }
    }
}

/// The warning for a configuration that accepts the credentials of the embedded development
/// configuration (the shipped platform.yml's, printed in the README: anyone can use them).
fn public_credentials(snapshot: &Snapshot) -> Option<String> {
    let dev = Snapshot::load(&Source::text(EMBEDDED_CONFIG, Path::new(".")), &process_env).ok()?;
    let mut found: Vec<String> = snapshot
        .config
        .api_keys
        .iter()
        .enumerate()
        .filter(|(_, k)| {
            dev.config
                .api_keys
                .iter()
                .any(|d| d.key_sha256 == k.key_sha256)
        })
        .map(|(i, k)| format!("api_keys[{i}] ({})", k.name))
        .collect();
    if let (Some(admin), Some(dev_admin)) = (&snapshot.config.admin, &dev.config.admin) {
        found.extend(
            admin
                .tokens
                .iter()
                .filter(|t| {
                    dev_admin
                        .tokens
                        .iter()
                        .any(|d| d.token_sha256 == t.token_sha256)
                })
                .map(|t| format!("admin token '{}'", t.name)),
        );
    }
    (!found.is_empty()).then(|| {
        format!(
            "{} accept the public development credentials of the README: replace them before \
             anyone else can reach the daemon (store only the SHA-256 of a new secret: printf %s \
             SECRET | sha256sum)",
            found.join(" and ")
        )
    })
}

/// Why a command without `--config` and without ./platform.yml does not run.
fn no_configuration() -> String {
    let here = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| ".".to_string());
    format!(
        "no configuration: no --config given and no platform.yml in {here}\n\
         Give the file (--config /path/to/platform.yml), run from the folder that holds it, or \
         add --dev to run the development configuration embedded in the binary (its api key and \
         admin token are public: never in production)."
    )
}

/// Why the configuration does not load, with the file named, and the exit code: 2 when there
/// was no configuration, 1 when it is invalid or cannot be read.
fn refusal(args: &ConfigArgs, problems: &str) -> (String, ExitCode) {
    match config_path(args.config.as_deref()) {
        None if !args.dev => (problems.to_string(), ExitCode::from(NO_CONFIGURATION)),
        // "cannot read" names the file already.
        Some(p) if !args.dev && !p.is_file() => (problems.to_string(), ExitCode::FAILURE),
        _ => (
            format!("{}: configuration is invalid:\n{problems}", args.name()),
            ExitCode::FAILURE,
        ),
    }
}

/// Prints [`refusal`] on stderr.
fn refused(args: &ConfigArgs, problems: &str) -> ExitCode {
    let (text, code) = refusal(args, problems);
    eprintln!("{text}");
    code
}

fn serve(args: &ConfigArgs, logger: &Logger) -> ExitCode {
    let snapshot = match args.load() {
        Ok(s) => s,
        Err(problems) => return refused(args, &problems),
    };
    logger.set_format(snapshot.config.log.format);
    args.warn_dev();
    if let Some(w) = public_credentials(&snapshot).filter(|_| !args.dev) {
        tracing::warn!("{w}");
    }
    tracing::info!(configuration = %args.name(), "starting");
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
            // The embedded configuration is not a file: nothing to watch or edit.
            config_path: if args.dev {
                None
            } else {
                config_path(args.config.as_deref())
            },
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

fn check(args: &ConfigArgs) -> ExitCode {
    let name = args.name();
    match args.load() {
        Ok(s) => {
            let mode = if s.config.is_proxy() {
                "proxy"
            } else {
                "standalone"
            };
            let mfa = &s.config.mfa;
            let sms_mode = mfa.mode.name();
            // One provider: its preset, as always; several: each by name (and preset).
            let primary = s.providers_of(mfa.channel);
            let preset = match (primary.as_slice(), &mfa.preset) {
                ([_], Some(p)) => format!(", preset {}", p.name),
                ([_], None) | ([], _) => String::new(),
                (several, _) => {
                    let names: Vec<String> = several
                        .iter()
                        .map(|p| match &p.config.preset {
                            Some(preset) => format!("{} ({})", p.config.provider, preset.name),
                            None => p.config.provider.clone(),
                        })
                        .collect();
                    format!(", providers {}", names.join(", "))
                }
            };
            let mut methods = vec![mfa.channel.name()];
            methods.extend(mfa.channels.iter().map(|c| c.channel.name()));
            if mfa.totp.enabled {
                methods.push("totp");
            }
            println!(
                "{name}: configuration is valid ({mode} mode, {sms_mode} code mode, {} channel{preset}; methods: {})",
                mfa.channel.name(),
                methods.join(", ")
            );
            // Each provider has its own templates, so its own warnings (an SMS text in two
            // segments, ...); the same text is said once.
            let mut said = std::collections::BTreeSet::new();
            for w in s.providers.iter().flat_map(|p| p.templates.warnings()) {
                if said.insert(w) {
                    println!("warning: {w}");
                }
            }
            if let Some(w) = public_credentials(&s) {
                println!("warning: {w}");
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            let (text, code) = refusal(args, &problems);
            println!("{text}");
            code
        }
    }
}

fn render(args: &ConfigArgs, endpoint: &str, data: &str, channel: Option<&str>) -> ExitCode {
    let snapshot = match args.load() {
        Ok(s) => s,
        Err(problems) => return refused(args, &problems),
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
            eprintln!("rendered with {}", args.name());
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
            print_out(&serde_json::to_string_pretty(&shown).unwrap_or_default())
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints `text` and a newline on standard output. A reader that went away (`render … | head`)
/// ends the command quietly instead of the panic `println!` gives on a closed pipe.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

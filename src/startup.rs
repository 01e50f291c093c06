//! Builds the application from a loaded configuration, binds the listeners and reports the
//! real ports, so that tests use the same start-up path as production: `main` and the tests'
//! `spawn_app` both load through [`Snapshot::load`], then call [`Application::build`].

pub mod backups;
mod faults;
pub mod logger;
pub mod migrate_store;
mod open_files;
mod resends;
mod serve;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;

use crate::admin::{self, AdminState};
use crate::clock::Clock;
use crate::config::EnvLookup;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::mfa::secrets::Keys;
use crate::mfa::Mfa;
use crate::provider::Sender;
use crate::snapshot::reload::Reloader;
use crate::snapshot::{SharedSnapshot, Snapshot};
use open_files::raise_open_files_limit;
use serve::{serve, ConnectionLimits};

/// Why the application could not be built (the configuration itself is valid by then).
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Client(String),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("shared configuration: {0}")]
    SharedConfig(#[from] crate::snapshot::shared::SharedError),
}

/// What the application is built with besides its configuration.
pub struct Settings {
    /// The `platform.yml` the configuration was read from: watched for changes, and what the
    /// admin API edits. `None` for a configuration that is not a file (the embedded default).
    pub config_path: Option<PathBuf>,
    /// The clock that expiry is measured on.
    pub clock: Arc<dyn Clock>,
    /// How `${NAME}` references are resolved, at start and at every reload or admin change.
    pub env: Arc<EnvLookup>,
}

/// The daemon, built and listening, not yet serving.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    admin: Option<(TcpListener, SocketAddr)>,
    state: AppState,
    reloader: Option<Arc<Reloader>>,
    clock: Arc<dyn Clock>,
    env: Arc<EnvLookup>,
    /// What each listener lets peers hold (`server.header_timeout_ms`, `max_connections`).
    limits: ConnectionLimits,
    /// With PostgreSQL, the task that follows the configuration versions other instances
    /// publish ([`crate::snapshot::shared`]); stopped at shutdown.
    shared_config: Option<tokio::task::JoinHandle<()>>,
}

/// How often expired sessions, counters and attempts are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartupError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| StartupError::Listen { addr, source })?;
    Ok((listener, local))
}

impl Application {
    /// Opens storage and binds the listeners (the admin one when `admin:` is configured) for
    /// a loaded configuration.
    pub async fn build(
        snapshot: Snapshot,
        settings: Settings,
    ) -> Result<Application, StartupError> {
        let Settings {
            config_path,
            clock,
            env,
        } = settings;
        for w in snapshot.templates.warnings() {
            tracing::warn!("{w}");
        }
        let config = &snapshot.config;
        // Before anything is opened: the store's files and the connections count on it.
        let listeners = if config.admin.is_some() { 2 } else { 1 };
        raise_open_files_limit(config.server.max_connections.saturating_mul(listeners));
        let data_dir = config.storage.path.clone();
        let store::OpenedStore {
            store,
            secret,
            pool,
        } = store::open_store(config).await?;
        let metrics = Metrics::new()?;
        let sender = Sender::new(
            &config.outbound,
            &data_dir,
            metrics.clone(),
            Arc::clone(&clock),
        )
        .map_err(StartupError::Client)?;
        let limits = ConnectionLimits {
            header_timeout: config.server.header_timeout,
            max_connections: config.server.max_connections,
        };
        let (listener, address) = bind(config.server.listen).await?;
        let admin = match &config.admin {
            Some(a) => Some(bind(a.listen).await?),
            None => None,
        };
        let mfa = Mfa::new(store, sender, Keys::new(secret), Arc::clone(&clock));
        let shared = SharedSnapshot::new(snapshot);
        let reloader = config_path.map(|p| {
            // Absolute, but links not resolved: a linked file's target may be swapped.
            let absolute = std::path::absolute(&p).unwrap_or(p);
            Arc::new(Reloader::new(
                absolute,
                shared.clone(),
                metrics.clone(),
                Arc::clone(&env),
            ))
        });
        // Several instances on one database share the configuration's versions: the newest
        // is in force before the first request, and every later one within a second.
        let shared_config = match (pool, &reloader) {
            (Some(pool), Some(reloader)) => Some(
                crate::snapshot::shared::start(
                    pool,
                    Arc::clone(reloader),
                    Arc::clone(&env),
                    Arc::clone(&clock),
                )
                .await?
                .1,
            ),
            (Some(_), None) => {
                tracing::warn!(
                    "the configuration is not a file: it is not shared with other instances"
                );
                None
            }
            (None, _) => None,
        };
        let state = AppState {
            snapshot: shared,
            mfa,
            metrics,
            readiness: http::Readiness::default(),
        };
        Ok(Application {
            listener,
            address,
            admin,
            state,
            reloader,
            clock,
            env,
            limits,
            shared_config,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The admin listener's port, when `admin:` is configured.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(_, a)| a.port())
    }

    /// Serves until the process gets SIGINT or SIGTERM, then finishes the requests under way
    /// and flushes storage. Each listener is bounded by [`ConnectionLimits`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mfa = self.state.mfa.clone();
        let sweeper = tokio::spawn({
            let state = self.state.clone();
            async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    match state.mfa.sweep().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(swept = n, "expired records removed"),
                        Err(e) => tracing::error!(error = %e, "sweeping expired records failed"),
                    }
                    let keep_days = state
                        .snapshot()
                        .config
                        .admin
                        .as_ref()
                        .map_or(7, |a| a.attempts_log_days);
                    let before = state.mfa.now().saturating_sub(keep_days * 86_400);
                    if let Err(e) = state.mfa.store().sweep_attempts(before).await {
                        tracing::error!(error = %e, "sweeping the attempts log failed");
                    }
                    let keep_days = (state.snapshot().config.admin.as_ref())
                        .map_or(14, |a| a.messages_log_days);
                    let before = state.mfa.now().saturating_sub(keep_days * 86_400);
                    if let Err(e) = state.mfa.store().sweep_sends(before).await {
                        tracing::error!(error = %e, "sweeping the message log failed");
                    }
                }
            }
        });
        let resends = resends::start(self.state.clone());
        // Events reach their webhooks from a queue in the store, off the requests' path.
        let events = crate::events::worker::Worker::new(
            Arc::clone(self.state.mfa.store()),
            self.state.snapshot.clone(),
            Arc::clone(&self.clock),
            self.state.metrics.clone(),
            &self.state.snapshot().config.outbound,
        )
        .map(crate::events::worker::Worker::start)
        .map_err(|e| tracing::error!(error = %e, "events will not be delivered"))
        .ok();
        let _watch = match &self.reloader {
            Some(reloader) => {
                let clock = Arc::clone(&self.clock);
                match reloader.watch(move || clock.now()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::error!(error = %e, "hot reload is off");
                        None
                    }
                }
            }
            None => {
                // Without a file there is nothing to reload, but SIGHUP must not end the daemon.
                tokio::spawn(async {
                    let Ok(mut hup) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                    else {
                        return;
                    };
                    while hup.recv().await.is_some() {
                        tracing::warn!(
                            "SIGHUP: no configuration file to reload (embedded default)"
                        );
                    }
                });
                None
            }
        };
        // One signal stops both listeners (and is logged once).
        let (stopping, mut stopped) = tokio::sync::watch::channel(());
        let signal = shutdown_signal();
        let public_shutdown = async move {
            signal.await;
            let _ = stopping.send(());
        };
        let admin_server = self.admin.map(|(listener, address)| {
            let admin_shutdown = async move {
                let _ = stopped.changed().await;
            };
            tracing::info!("admin listening on http://{address}");
            let app = admin::router(AdminState {
                app: self.state.clone(),
                reloader: self.reloader.clone(),
                started: Instant::now(),
                env: self.env,
            });
            let limits = self.limits;
            tokio::spawn(async move { serve(listener, app, limits, admin_shutdown).await })
        });
        tracing::info!("listening on http://{}", self.address);
        let app = http::router(self.state);
        let served = serve(self.listener, app, self.limits, public_shutdown).await;
        sweeper.abort();
        resends.abort();
        if let Some(events) = events {
            events.abort();
        }
        if let Some(follower) = self.shared_config {
            follower.abort();
        }
        if let Some(admin) = admin_server {
            admin.abort();
        }
        if let Err(e) = mfa.store().flush_all().await {
            tracing::error!(error = %e, "flushing storage at shutdown failed");
        }
        tracing::info!("stopped");
        served
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when it is
/// first polled: a signal that arrives once the log says "listening" is never lost.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, Signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async fn wait(signal: Option<Signal>) {
        match signal {
            Some(mut s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    async move {
        tokio::select! {
            _ = wait(interrupt) => {},
            _ = wait(terminate) => {},
        }
        tracing::info!("shutting down");
    }
}

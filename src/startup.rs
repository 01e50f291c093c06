//! Builds the application from a configuration, binds the listener and reports the real port,
//! so that tests use the same start-up path as production.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigErrors};
use crate::http::{self, AppState};
use crate::mfa::secrets::Keys;
use crate::mfa::Mfa;
use crate::provider::Sender;
use crate::snapshot::Snapshot;
use crate::store::{self, SledStore, Store};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] store::StoreError),
    #[error("{0}")]
    Client(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
}

/// How often expired sessions are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        Application::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock that expiry is measured on.
    pub async fn build_with_clock(
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        Application::from_snapshot(Snapshot::new(config)?, clock).await
    }

    pub async fn from_snapshot(
        snapshot: Snapshot,
        clock: Arc<dyn Clock>,
    ) -> Result<Application, StartupError> {
        let config = &snapshot.config;
        let data_dir = config.storage.path.clone();
        let data_err = |source| StartupError::DataDir {
            path: data_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&data_dir).map_err(data_err)?;
        let secret =
            store::server_secret(&data_dir, config.storage.secret.as_ref()).map_err(data_err)?;
        let store: Arc<dyn Store> = Arc::new(SledStore::open(&data_dir)?);
        let sender = Sender::new(&config.outbound, &data_dir).map_err(StartupError::Client)?;
        let listen = config.server.listen;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| StartupError::Listen {
                addr: listen,
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                addr: listen,
                source,
            })?;
        let mfa = Mfa::new(store, sender, Keys::new(secret), clock);
        let state = AppState {
            snapshot: Arc::new(RwLock::new(Arc::new(snapshot))),
            mfa,
        };
        Ok(Application {
            listener,
            address,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the process gets SIGINT or SIGTERM, then finishes the requests under way
    /// and flushes storage.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let mfa = self.state.mfa.clone();
        let sweeper = tokio::spawn({
            let mfa = mfa.clone();
            async move {
                let mut tick = tokio::time::interval(SWEEP_EVERY);
                loop {
                    tick.tick().await;
                    match mfa.sweep().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(swept = n, "expired sessions removed"),
                        Err(e) => tracing::error!(error = %e, "sweeping expired sessions failed"),
                    }
                }
            }
        });
        tracing::info!("listening on http://{}", self.address);
        let app = http::router(self.state);
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await;
        sweeper.abort();
        if let Err(e) = mfa.store().flush().await {
            tracing::error!(error = %e, "flushing storage at shutdown failed");
        }
        tracing::info!("stopped");
        served
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

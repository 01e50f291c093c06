//! Opens the store a configuration names, with the server secret that keys and seals its
//! records: sled in the data directory, or PostgreSQL (migrations applied, the secret's
//! fingerprint checked). Shared by the daemon and the commands that work on its records.

use std::sync::Arc;

use sqlx::PgPool;

use super::StartupError;
use crate::config::{Backend, Config};
use crate::mfa::limits::counter_expired;
use crate::store::{self, PgSettings, PgStore, SledStore, Store};

/// A store as opened for the daemon.
pub struct OpenedStore {
    pub store: Arc<dyn Store>,
    /// The server secret (32 bytes) its hashes are keyed and its values sealed with.
    pub secret: [u8; 32],
    /// With PostgreSQL, the store's pool, for what else lives in the same database (the
    /// shared configuration).
    pub pool: Option<PgPool>,
}

/// The store of `config`, with its secret. The data directory is created when missing (with
/// PostgreSQL it holds the local files only).
pub async fn open_store(config: &Config) -> Result<OpenedStore, StartupError> {
    let storage = &config.storage;
    let data_dir = storage.path.clone();
    let data_err = |source| StartupError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&data_dir).map_err(data_err)?;
    // With PostgreSQL `storage.secret` is required (the configuration says so): never a
    // secret generated into one instance's directory.
    let secret = store::server_secret(&data_dir, storage.secret.as_ref()).map_err(data_err)?;
    let (store, pool): (Arc<dyn Store>, _) = match &storage.backend {
        Backend::Sled => (
            Arc::new(
                SledStore::open_with_cache(&data_dir, storage.cache_bytes)?
                    .with_seal(store::Seal::new(secret))
                    .with_sync(storage.strict_durability)
                    .with_attempts_log_cap(storage.attempts_log_max_entries),
            ),
            None,
        ),
        Backend::Postgres(pg) => {
            let settings = PgSettings {
                url: pg.url.clone(),
                pool_size: pg.pool_size,
                connect_timeout: pg.connect_timeout,
                statement_timeout: pg.statement_timeout,
                strict_durability: storage.strict_durability,
            };
            let store = PgStore::open(&settings, &secret)
                .await?
                .with_attempts_log_cap(storage.attempts_log_max_entries)
                .with_counter_expiry(counter_expired);
            let pool = store.pool().clone();
            (Arc::new(store), Some(pool))
        }
    };
    Ok(OpenedStore {
        store,
        secret,
        pool,
    })
}

/// `mfa-bridge migrate`: applies the schema versions the configuration's PostgreSQL database
/// lacks. Answers what to print.
pub async fn migrate(config: &Config) -> Result<String, String> {
    let Backend::Postgres(pg) = &config.storage.backend else {
        return Err(
            "storage.backend is sled: it has no schema to migrate (migrations are for \
             backend: postgres)"
                .into(),
        );
    };
    let settings = PgSettings {
        url: pg.url.clone(),
        pool_size: 1,
        connect_timeout: pg.connect_timeout,
        statement_timeout: pg.statement_timeout,
        strict_durability: true,
    };
    let pool = store::postgres::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let applied = store::postgres::migrate(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    if applied.is_empty() {
        return Ok("the database schema is up to date: nothing to apply".into());
    }
    let lines: Vec<String> = applied
        .iter()
        .map(|m| format!("applied {:04} {}", m.version, m.description))
        .collect();
    Ok(lines.join("\n"))
}

//! `mfa-bridge migrate-store --from sled:PATH`: the records of a sled data directory (its
//! daemon stopped) copied into the configuration's PostgreSQL database, which must be empty
//! and run under the secret the sled records were keyed by ([`crate::store::migrate`]).

use crate::config::{Backend, Config};
use crate::store::migrate::{MigrationSource, SledSource};
use crate::store::server_secret_if_any;

/// Copies, and answers what to print: how many records of each kind went where. The source is
/// read and checked before the database is opened.
pub async fn migrate_store(config: &Config, from: &str) -> Result<String, String> {
    let MigrationSource::Sled(dir) = from.parse::<MigrationSource>().map_err(|e| e.to_string())?;
    if !matches!(config.storage.backend, Backend::Postgres(_)) {
        return Err(
            "migrate-store copies into PostgreSQL, and this configuration's storage.backend is \
             sled: give the configuration of the instances to come (backend: postgres, url, \
             secret)"
                .into(),
        );
    }
    let secret = server_secret_if_any(&config.storage.path, config.storage.secret.as_ref())
        .ok()
        .flatten()
        .ok_or("storage.secret (or storage.secret_file) is required with backend: postgres")?;
    let source = SledSource::read(&dir, &secret)
        .await
        .map_err(|e| e.to_string())?;
    let target = super::store::open_store(config)
        .await
        .map_err(|e| e.to_string())?;
    let copied = source
        .copy_into(target.store.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "copied {copied} from sled:{} into PostgreSQL",
        dir.display()
    ))
}

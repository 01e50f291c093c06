//! The schema's versions: the SQL files of `migrations/`, compiled into the binary and applied
//! at start (and by `mfa-bridge migrate`) under PostgreSQL's advisory lock, so that instances
//! starting together take turns and each version is applied once.

use std::collections::HashSet;

use sqlx::migrate::Migrator;
use sqlx::PgPool;

use super::error::store_error;
use crate::store::StoreError;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A version of the schema, as `mfa-bridge migrate` tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub description: String,
}

/// Applies the versions the database lacks; returns those that were not applied before this
/// call (another instance may have applied one of them meanwhile: either way it is there).
pub async fn migrate(pool: &PgPool) -> Result<Vec<Migration>, StoreError> {
    let before = applied(pool).await?;
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(e) => store_error(e),
        other => StoreError::Backend(format!("migrating the database: {other}")),
    })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !before.contains(&m.version))
        .map(|m| Migration {
            version: m.version,
            description: m.description.to_string(),
        })
        .collect())
}

/// The versions applied so far (none on a new database).
async fn applied(pool: &PgPool) -> Result<HashSet<i64>, StoreError> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await
        .map_err(store_error)?;
    if !exists {
        return Ok(HashSet::new());
    }
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .map_err(store_error)?;
    Ok(versions.into_iter().collect())
}

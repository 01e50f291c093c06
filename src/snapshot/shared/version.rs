//! The `config_versions` table (migration `0002_config_versions.sql`): one row per version of
//! the shared configuration, the newest being what every instance runs. Inserting a version and
//! announcing it (`NOTIFY mfa_config`) is one transaction, so a listener never hears of a version
//! it cannot read, and no version is committed unannounced.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::{PgPool, Row};

/// The channel every instance listens on; the payload is the new version's number.
pub const CHANNEL: &str = "mfa_config";

/// One version as the history lists it (its text aside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Version {
    pub version: i64,
    /// The admin token's name, or `file on HOST` for an import of a host's `platform.yml`.
    pub author: String,
    /// When it was committed, in seconds since the Unix epoch (the database's clock).
    pub at: i64,
    /// What made it: the admin route, `import`, `rollback to N`.
    pub note: String,
    /// SHA-256 (hex) of the text and of the template files.
    pub source_hash: String,
}

/// A version with its content: `platform.yml` as written and the files of `templates/`.
#[derive(Debug, Clone, Serialize)]
pub struct VersionText {
    #[serde(flatten)]
    pub version: Version,
    pub yaml: String,
    /// Path under `templates/` (`messages/sms.en.hbs`) → text.
    pub library: BTreeMap<String, String>,
}

/// What a new version is checked against before it is inserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    /// The newest version must still be this one (`None`: the table must be empty), or the
    /// insert is refused with [`Refused::Changed`]: an edit made on a stale configuration.
    Is(Option<i64>),
    /// Inserted whatever the newest is (an import of a host's file: last writer wins, both
    /// kept in the history).
    Any,
}

/// Why a version was not inserted.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("the configuration changed meanwhile: version {newest} is the newest")]
    Changed { newest: i64 },
    #[error("{0}")]
    Database(#[from] sqlx::Error),
}

const COLUMNS: &str =
    "version, author, extract(epoch FROM created_at)::bigint AS at, note, source_hash";

fn version_of(row: &sqlx::postgres::PgRow) -> Result<Version, sqlx::Error> {
    Ok(Version {
        version: row.try_get("version")?,
        author: row.try_get("author")?,
        at: row.try_get("at")?,
        note: row.try_get("note")?,
        source_hash: row.try_get("source_hash")?,
    })
}

fn text_of(row: &sqlx::postgres::PgRow) -> Result<VersionText, sqlx::Error> {
    let library: String = row.try_get("library")?;
    Ok(VersionText {
        version: version_of(row)?,
        yaml: row.try_get("yaml")?,
        library: serde_json::from_str(&library).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

/// Inserts a version and announces it, in one transaction. Inserts are serialized by a table
/// lock (reads go on), so the check against `parent` and the insert see the same newest row.
pub async fn insert(
    pool: &PgPool,
    yaml: &str,
    library: &BTreeMap<String, String>,
    source_hash: &str,
    author: &str,
    note: &str,
    parent: Parent,
) -> Result<Version, Refused> {
    let library = serde_json::to_string(library).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE config_versions IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let newest: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM config_versions")
        .fetch_one(&mut *tx)
        .await?;
    if let (Parent::Is(expected), Some(newest)) = (parent, newest) {
        if expected != Some(newest) {
            return Err(Refused::Changed { newest });
        }
    }
    let row = sqlx::query(&format!(
        "INSERT INTO config_versions (yaml, library, source_hash, author, note) \
         VALUES ($1, $2::jsonb, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(yaml)
    .bind(library)
    .bind(source_hash)
    .bind(author)
    .bind(note)
    .fetch_one(&mut *tx)
    .await?;
    let version = version_of(&row)?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(version.version.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(version)
}

/// The newest version's number (`None`: no version yet): what the safety-net poll reads.
pub async fn newest_number(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(version) FROM config_versions")
        .fetch_one(pool)
        .await
}

/// The newest version with its content.
pub async fn newest(pool: &PgPool) -> Result<Option<VersionText>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, yaml, library::text AS library FROM config_versions \
         ORDER BY version DESC LIMIT 1"
    ))
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(text_of).transpose()
}

/// Version `number` with its content.
pub async fn get(pool: &PgPool, number: i64) -> Result<Option<VersionText>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS}, yaml, library::text AS library FROM config_versions WHERE version = $1"
    ))
    .bind(number)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(text_of).transpose()
}

/// The newest `limit` versions, newest first.
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<Version>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM config_versions ORDER BY version DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(version_of).collect()
}

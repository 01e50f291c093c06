//! [`PgStore`]'s message log: the table `sends` (`migrations/0003_sends.sql`), one readable
//! column per field. An update of a row is merged as every engine merges it
//! ([`SendRecord::merged`]) under the row's lock, so that the provider's answer and its
//! receipt, handled by two instances at once, both count.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::bigint;
use super::error::store_error;
use crate::store::{SendFilter, SendRecord, SendStatus, StoreError};

const COLUMNS: &str = "id, send_id, attempt, at, updated_at, username, challenge, channel, \
                       provider, status, provider_message_id, http_status, latency_ms, error, \
                       destination";

/// The record of a row of `sends`.
fn read(row: &PgRow) -> Result<SendRecord, StoreError> {
    let corrupt = |e: sqlx::Error| StoreError::Corrupt(format!("a row of sends: {e}"));
    let status: String = row.try_get("status").map_err(corrupt)?;
    let number = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(SendRecord {
        id: row.try_get("id").map_err(corrupt)?,
        send_id: row.try_get("send_id").map_err(corrupt)?,
        attempt: u32::try_from(row.try_get::<i32, _>("attempt").map_err(corrupt)?).unwrap_or(0),
        at: number(row.try_get("at").map_err(corrupt)?),
        updated_at: number(row.try_get("updated_at").map_err(corrupt)?),
        username: row.try_get("username").map_err(corrupt)?,
        challenge: row.try_get("challenge").map_err(corrupt)?,
        channel: row.try_get("channel").map_err(corrupt)?,
        provider: row.try_get("provider").map_err(corrupt)?,
        status: SendStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("a send's status {status:?}")))?,
        provider_message_id: row.try_get("provider_message_id").map_err(corrupt)?,
        http_status: (row
            .try_get::<Option<i32>, _>("http_status")
            .map_err(corrupt)?)
        .and_then(|n| u16::try_from(n).ok()),
        latency_ms: (row
            .try_get::<Option<i64>, _>("latency_ms")
            .map_err(corrupt)?)
        .map(number),
        error: row.try_get("error").map_err(corrupt)?,
        destination: row.try_get("destination").map_err(corrupt)?,
    })
}

/// Inserts `record`, or merges it into the row of its id (locked meanwhile).
pub(super) async fn put(pool: &PgPool, record: &SendRecord) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(store_error)?;
    let inserted = sqlx::query(&format!(
        "INSERT INTO sends ({COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO NOTHING"
    ))
    .bind(&record.id)
    .bind(&record.send_id)
    .bind(i32::try_from(record.attempt).unwrap_or(i32::MAX))
    .bind(bigint(record.at))
    .bind(bigint(record.updated_at))
    .bind(&record.username)
    .bind(&record.challenge)
    .bind(&record.channel)
    .bind(&record.provider)
    .bind(record.status.as_str())
    .bind(&record.provider_message_id)
    .bind(record.http_status.map(i32::from))
    .bind(record.latency_ms.map(bigint))
    .bind(&record.error)
    .bind(&record.destination)
    .execute(&mut *tx)
    .await
    .map_err(store_error)?
    .rows_affected();
    if inserted == 0 {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sends WHERE id = $1 FOR UPDATE"
        ))
        .bind(&record.id)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        let merged = SendRecord::merged(&read(&row)?, record);
        sqlx::query(
            "UPDATE sends SET updated_at = $2, status = $3, provider_message_id = $4,
                              http_status = $5, latency_ms = $6, error = $7, destination = $8
             WHERE id = $1",
        )
        .bind(&merged.id)
        .bind(bigint(merged.updated_at))
        .bind(merged.status.as_str())
        .bind(&merged.provider_message_id)
        .bind(merged.http_status.map(i32::from))
        .bind(merged.latency_ms.map(bigint))
        .bind(&merged.error)
        .bind(&merged.destination)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
    }
    tx.commit().await.map_err(store_error)
}

pub(super) async fn by_id(pool: &PgPool, id: &str) -> Result<Option<SendRecord>, StoreError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sends WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(store_error)?;
    row.as_ref().map(read).transpose()
}

pub(super) async fn by_provider_message(
    pool: &PgPool,
    provider: &str,
    message_id: &str,
) -> Result<Option<SendRecord>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sends
         WHERE provider = $1 AND provider_message_id = $2
         ORDER BY at DESC LIMIT 1"
    ))
    .bind(provider)
    .bind(message_id)
    .fetch_optional(pool)
    .await
    .map_err(store_error)?;
    row.as_ref().map(read).transpose()
}

/// The newest `limit` rows `filter` keeps; every part of the filter is a condition.
pub(super) async fn find(
    pool: &PgPool,
    filter: &SendFilter,
    limit: usize,
) -> Result<Vec<SendRecord>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sends
         WHERE ($1::text IS NULL OR username = $1)
           AND ($2::text IS NULL OR status = $2)
           AND ($3::text IS NULL OR challenge = $3)
           AND ($4::text IS NULL OR provider = $4)
           AND ($5::text IS NULL OR channel = $5)
           AND ($7::bigint IS NULL OR at >= $7)
           AND ($8::bigint IS NULL OR at < $8)
         ORDER BY at DESC, id DESC
         LIMIT $6"
    ))
    .bind(filter.username.as_deref())
    .bind(filter.status.map(SendStatus::as_str))
    .bind(filter.challenge.as_deref())
    .bind(filter.provider.as_deref())
    .bind(filter.channel.as_deref())
    .bind(bigint(limit as u64))
    .bind(filter.begun_from.map(bigint))
    .bind(filter.begun_before.map(bigint))
    .fetch_all(pool)
    .await
    .map_err(store_error)?;
    rows.iter().map(read).collect()
}

pub(super) async fn sweep(pool: &PgPool, before: u64) -> Result<usize, StoreError> {
    let done = sqlx::query("DELETE FROM sends WHERE at < $1")
        .bind(bigint(before))
        .execute(pool)
        .await
        .map_err(store_error)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

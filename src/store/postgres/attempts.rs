//! [`PgStore`]'s attempts log: one row per request, written in batches off the request path,
//! filtered in SQL, capped as it is written.
//!
//! The cap costs one index range deletion per batch, not a count: ids come from a sequence, so
//! the entry numbered `id` makes every entry numbered `id - cap` or less one too many. A number
//! taken by a write that failed leaves a gap, so the log may hold a few entries fewer than the
//! cap, never more.

use sqlx::PgPool;

use super::error::store_error;
use super::{bigint, encode, json_text, PgStore};
use crate::store::{decode, AttemptFilter, AttemptRecord, StoreError};

/// Writes `entries` in one statement (in their order), then drops what is beyond `cap`
/// (an index range: usually the few oldest rows, nothing when under the cap).
pub(super) async fn insert_batch(
    pool: &PgPool,
    entries: Vec<AttemptRecord>,
    cap: i64,
) -> Result<(), StoreError> {
    let n = entries.len();
    let (mut at, mut username, mut method, mut route) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut status, mut outcome, mut record) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for mut entry in entries {
        // The id is the row's: the stored record leaves it empty.
        entry.id = String::new();
        record.push(json_text(encode(&entry)?)?);
        at.push(bigint(entry.time));
        status.push(i32::from(entry.status));
        username.push(entry.username);
        method.push(entry.method);
        route.push(entry.route);
        outcome.push(entry.outcome);
    }
    // Two statements: a deletion in the same statement would not see the rows it inserts.
    let last: Option<i64> = sqlx::query_scalar(
        "WITH new AS (
             INSERT INTO attempts_log (at, username, method, route, status, outcome, record)
             SELECT at, username, method, route, status, outcome, record::jsonb
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[],
                         $6::text[], $7::text[])
                  WITH ORDINALITY AS e(at, username, method, route, status, outcome, record, n)
             ORDER BY n
             RETURNING id)
         SELECT max(id) FROM new",
    )
    .bind(at)
    .bind(username)
    .bind(method)
    .bind(route)
    .bind(status)
    .bind(outcome)
    .bind(record)
    .fetch_one(pool)
    .await
    .map_err(store_error)?;
    if let Some(last) = last {
        sqlx::query("DELETE FROM attempts_log WHERE id <= $1")
            .bind(last.saturating_sub(cap))
            .execute(pool)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

impl PgStore {
    /// The newest `limit` entries `filter` keeps, newest first; every part of the filter is a
    /// condition of the query (by the time index, or the username one).
    pub(super) async fn select_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let (from, to) = filter.time_range();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, record::text FROM attempts_log
             WHERE at BETWEEN $1 AND $2
               AND ($3::text IS NULL OR username = $3)
               AND ($4::text IS NULL OR outcome = $4)
               AND ($5::text IS NULL OR strpos(lower(route), lower($5)) > 0)
             ORDER BY at DESC, id DESC
             LIMIT $6",
        )
        .bind(bigint(from))
        .bind(bigint(to))
        .bind(filter.username.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(filter.route.as_deref())
        .bind(bigint(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.into_iter()
            .map(|(id, json)| with_id(id, &json))
            .collect()
    }

    pub(super) async fn attempt_by_id(
        &self,
        id: &str,
    ) -> Result<Option<AttemptRecord>, StoreError> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        let json: Option<String> =
            sqlx::query_scalar("SELECT record::text FROM attempts_log WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        json.map(|json| with_id(id, &json)).transpose()
    }
}

/// The entry stored as `json` in row `id`.
fn with_id(id: i64, json: &str) -> Result<AttemptRecord, StoreError> {
    let mut record: AttemptRecord = decode(json.as_bytes())?;
    record.id = id.to_string();
    Ok(record)
}

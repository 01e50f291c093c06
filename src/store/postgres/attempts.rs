//! [`PgStore`]'s attempts log: one row per request, filtered in SQL, capped as it is written.
//!
//! The cap costs one index range deletion per entry, not a count: ids come from a sequence, so
//! the entry numbered `id` makes every entry numbered `id - cap` or less one too many. A number
//! taken by a write that failed leaves a gap, so the log may hold a few entries fewer than the
//! cap, never more.

use super::error::store_error;
use super::{bigint, encode, json_text, PgStore};
use crate::store::{decode, AttemptFilter, AttemptRecord, StoreError};

impl PgStore {
    pub(super) async fn append_attempt(&self, mut record: AttemptRecord) -> Result<(), StoreError> {
        // The id is the row's: the stored record leaves it empty.
        record.id = String::new();
        let json = json_text(encode(&record)?)?;
        sqlx::query(
            "WITH new AS (
                 INSERT INTO attempts_log (at, username, method, route, status, outcome, record)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
                 RETURNING id)
             DELETE FROM attempts_log WHERE id <= (SELECT id FROM new) - $8",
        )
        .bind(bigint(record.time))
        .bind(record.username.as_str())
        .bind(record.method.as_str())
        .bind(record.route.as_str())
        .bind(i32::from(record.status))
        .bind(record.outcome.as_str())
        .bind(json)
        .bind(self.attempts_cap)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

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

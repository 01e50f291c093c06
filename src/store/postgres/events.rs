//! [`PgStore`]'s events queue: the table `events` (`migrations/0004_events.sql`). A claim is
//! one statement: the first pending row of each (endpoint, user), those due and not leased
//! locked with `FOR UPDATE SKIP LOCKED` (rows another instance is claiming are passed over, not
//! waited for) and leased before the statement ends; the lease and status are checked again on
//! the locked row, so a row another instance leased meanwhile is not handed out twice.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::error::store_error;
use super::{bigint, PgStore};
use crate::store::{DeliveryStatus, EventDelivery, EventQueue, StoreError};

const COLUMNS: &str = "seq, id, endpoint, username, event_type, payload, created_at, status, \
                       attempts, next_at, lease_until, last_error, updated_at";

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn delivery(row: &PgRow) -> Result<EventDelivery, StoreError> {
    let get_i64 = |name: &str| -> Result<i64, StoreError> {
        row.try_get::<i64, _>(name)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let text = |name: &str| -> Result<String, StoreError> {
        row.try_get::<String, _>(name)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    };
    let status = text("status")?;
    Ok(EventDelivery {
        seq: unsigned(get_i64("seq")?),
        id: text("id")?,
        endpoint: text("endpoint")?,
        username: text("username")?,
        event_type: text("event_type")?,
        payload: text("payload")?,
        created_at: unsigned(get_i64("created_at")?),
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("event status {status:?}")))?,
        attempts: row
            .try_get::<i32, _>("attempts")
            .map(|n| u32::try_from(n).unwrap_or(0))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        next_at: unsigned(get_i64("next_at")?),
        lease_until: unsigned(get_i64("lease_until")?),
        last_error: row
            .try_get::<Option<String>, _>("last_error")
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        updated_at: unsigned(get_i64("updated_at")?),
    })
}

fn deliveries(rows: Vec<PgRow>) -> Result<Vec<EventDelivery>, StoreError> {
    rows.iter().map(delivery).collect()
}

#[async_trait]
impl EventQueue for PgStore {
    async fn enqueue_events(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let n = deliveries.len();
        let mut columns: [Vec<String>; 6] = Default::default();
        let (mut created_at, mut next_at) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for d in deliveries {
            created_at.push(bigint(d.created_at));
            next_at.push(bigint(d.next_at));
            for (column, value) in columns.iter_mut().zip([
                d.id,
                d.endpoint,
                d.username,
                d.event_type,
                d.payload,
                d.status.as_str().to_string(),
            ]) {
                column.push(value);
            }
        }
        let [id, endpoint, username, event_type, payload, status] = columns;
        sqlx::query(
            "INSERT INTO events (id, endpoint, username, event_type, payload, status,
                                 created_at, next_at, updated_at)
             SELECT id, endpoint, username, event_type, payload, status, created_at, next_at,
                    created_at
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::bigint[], $8::bigint[])
                  WITH ORDINALITY AS e(id, endpoint, username, event_type, payload, status,
                                       created_at, next_at, n)
             ORDER BY n",
        )
        .bind(id)
        .bind(endpoint)
        .bind(username)
        .bind(event_type)
        .bind(payload)
        .bind(status)
        .bind(created_at)
        .bind(next_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn claim_events(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        let rows = sqlx::query(&format!(
            "WITH heads AS (
                 SELECT DISTINCT ON (endpoint, username) seq FROM events
                 WHERE status = 'pending'
                 ORDER BY endpoint, username, seq),
             due AS (
                 SELECT e.seq FROM events e JOIN heads h ON e.seq = h.seq
                 WHERE e.status = 'pending' AND e.next_at <= $1 AND e.lease_until <= $1
                 ORDER BY e.seq
                 LIMIT $3
                 FOR UPDATE OF e SKIP LOCKED)
             UPDATE events SET lease_until = $2 FROM due WHERE events.seq = due.seq
             RETURNING {}",
            COLUMNS
                .split(", ")
                .map(|c| format!("events.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(bigint(now))
        .bind(bigint(lease_until))
        .bind(bigint(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut out = deliveries(rows)?;
        out.sort_by_key(|d| d.seq);
        Ok(out)
    }

    async fn settle_event(&self, delivery: &EventDelivery) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE events SET status = $2, attempts = $3, next_at = $4, last_error = $5,
                               updated_at = $6, lease_until = 0
             WHERE seq = $1",
        )
        .bind(bigint(delivery.seq))
        .bind(delivery.status.as_str())
        .bind(i32::try_from(delivery.attempts).unwrap_or(i32::MAX))
        .bind(bigint(delivery.next_at))
        .bind(delivery.last_error.as_deref())
        .bind(bigint(delivery.updated_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn recent_events(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM events ORDER BY seq DESC LIMIT $1"
        ))
        .bind(bigint(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        deliveries(rows)
    }

    async fn pending_events(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(unsigned(n))
    }

    async fn sweep_events(&self, before: u64) -> Result<usize, StoreError> {
        let done = sqlx::query("DELETE FROM events WHERE status <> 'pending' AND updated_at < $1")
            .bind(bigint(before))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }
}

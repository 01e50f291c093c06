//! [`PgStore`]'s counters (attempt tallies, send logs): a read-modify-write under the row's
//! lock, exact across instances without retries, and their sweep.

use super::error::store_error;
use super::{bigint, PgStore};
use crate::store::{CounterExpired, StoreError};

/// What a counter's update does with the value it finds (see [`crate::store::Store::update_counter`]).
type Update<'u> = dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send + 'u;

/// The latest time [`expiry`] looks at: beyond it a counter is taken as never over.
const FAR_FUTURE: u64 = 1 << 62;

/// The first time at which `expired` says `raw` is over (`None`: never, as far as
/// [`FAR_FUTURE`]). `expired` must be monotonic in time: over once, over ever after.
pub(super) fn expiry(expired: CounterExpired, raw: &[u8]) -> Option<u64> {
    if !expired(raw, FAR_FUTURE) {
        return None;
    }
    let (mut low, mut high) = (0u64, FAR_FUTURE);
    if expired(raw, low) {
        return Some(low);
    }
    // Not over at `low`, over at `high`.
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if expired(raw, middle) {
            high = middle;
        } else {
            low = middle;
        }
    }
    Some(high)
}

impl PgStore {
    pub(super) async fn read_counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let value: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT value FROM counters WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(value.flatten())
    }

    /// In one transaction: the row is created if absent and locked
    /// (`INSERT … ON CONFLICT DO UPDATE` locks it either way, and returns its value), `update`
    /// runs once on what it holds, and the result is written or the row deleted. Every other
    /// update of the key, from any instance, waits for the commit: none is lost, none retried.
    pub(super) async fn update_counter_locked(
        &self,
        key: &[u8],
        update: &mut Update<'_>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // A NULL value is the row just created here: never seen committed by anyone else.
        let current: Option<Vec<u8>> = sqlx::query_scalar(
            "INSERT INTO counters (key) VALUES ($1)
             ON CONFLICT (key) DO UPDATE SET value = counters.value
             RETURNING value",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        match update(current.as_deref()) {
            Some(value) => {
                let expires_at = self
                    .counter_expiry
                    .and_then(|expired| expiry(expired, &value))
                    .map(bigint);
                sqlx::query("UPDATE counters SET value = $2, expires_at = $3 WHERE key = $1")
                    .bind(key)
                    .bind(value)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
            None => {
                sqlx::query("DELETE FROM counters WHERE key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
        }
        tx.commit().await.map_err(store_error)
    }

    /// Deletes the counters over at `now`: by their `expires_at` where it is known, else as
    /// `expired` reads their value. Each deletion re-checks its condition on the row as it is
    /// then, so any number of instances may sweep at once, and a counter updated meanwhile
    /// stays.
    pub(super) async fn sweep_counters(
        &self,
        now: u64,
        expired: CounterExpired,
    ) -> Result<usize, StoreError> {
        let by_index = sqlx::query("DELETE FROM counters WHERE expires_at <= $1")
            .bind(bigint(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        let unknown: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT key, value FROM counters WHERE expires_at IS NULL AND value IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut removed = usize::try_from(by_index).unwrap_or(usize::MAX);
        for (key, value) in unknown {
            if !expired(&value, now) {
                continue;
            }
            let done = sqlx::query("DELETE FROM counters WHERE key = $1 AND value = $2")
                .bind(key)
                .bind(value)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
            removed += usize::try_from(done.rows_affected()).unwrap_or(0);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn over_from_byte(raw: &[u8], now: u64) -> bool {
        raw.first().is_some_and(|&b| now >= u64::from(b))
    }

    #[test]
    fn the_expiry_of_a_counter_is_the_first_time_it_is_over() {
        assert_eq!(expiry(over_from_byte, &[0]), Some(0));
        assert_eq!(expiry(over_from_byte, &[1]), Some(1));
        assert_eq!(expiry(over_from_byte, &[200]), Some(200));
        assert_eq!(expiry(over_from_byte, &[]), None);
        assert_eq!(expiry(|_, _| true, &[]), Some(0));
    }
}

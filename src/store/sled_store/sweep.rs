//! The sweep of expired sessions and counters on sled.

use std::sync::atomic::Ordering;

use super::{backend, expiry_key, SledStore};
use crate::store::{decode, CounterExpired, SessionKey, StoreError, StoredSession};

impl SledStore {
    pub(super) fn sweep_counters(
        &self,
        now: u64,
        expired: CounterExpired,
    ) -> Result<usize, StoreError> {
        let _writing = self.writing();
        let mut removed = 0;
        for entry in self.counters.iter() {
            let (key, raw) = entry.map_err(backend)?;
            if expired(&raw, now)
                && self
                    .counters
                    .compare_and_swap(&key, Some(raw), None::<Vec<u8>>)
                    .map_err(backend)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the sessions whose deadline is past, by the expiry index. An entry whose
    /// session is gone (consumed before its deadline: a verify leaves the entry) is dropped.
    pub(super) fn sweep_blocking(&self, now: u64) -> Result<usize, StoreError> {
        let _writing = self.writing();
        let end = expiry_key(now, &SessionKey([0xff; 32]));
        let mut removed = 0;
        for entry in self.expiry.range(..=end.as_slice()) {
            let (index_key, _) = entry.map_err(backend)?;
            let mut key = [0u8; 32];
            key.copy_from_slice(&index_key[8..40]);
            if let Some(raw) = self.sessions.get(key).map_err(backend)? {
                let still_due = match decode::<StoredSession>(&raw) {
                    Ok(s) => s.expires_at() <= now,
                    Err(_) => true,
                };
                if still_due
                    && self
                        .sessions
                        .compare_and_swap(key, Some(raw), None::<Vec<u8>>)
                        .map_err(backend)?
                        .is_ok()
                {
                    removed += 1;
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                }
            }
            self.expiry.remove(index_key).map_err(backend)?;
        }
        Ok(removed)
    }
}

//! [`SledStore`]'s reading of the attempts log by filter: a walk of the time range, newest
//! first.

use super::{backend, SledStore};
use crate::store::{decode, AttemptFilter, AttemptRecord, StoreError};

impl SledStore {
    pub(super) fn find_attempts_blocking(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        // Keys start with the time (big-endian): the range is walked, not the whole log.
        let (from, to) = filter.time_range();
        let start = [from.to_be_bytes(), [0u8; 8]].concat();
        let end = [to.to_be_bytes(), [0xffu8; 8]].concat();
        let mut out = Vec::new();
        for entry in self.attempts_log.range(start..=end).rev() {
            if out.len() >= limit {
                break;
            }
            let (_, raw) = entry.map_err(backend)?;
            let record: AttemptRecord = decode(&raw)?;
            if filter.matches(&record) {
                out.push(record);
            }
        }
        Ok(out)
    }
}

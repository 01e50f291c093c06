//! [`SledStore`](super::SledStore)'s message log: the records by id, and three indexes that
//! spare every lookup a scan of the log: by time (the admin's newest first, the sweep), by
//! challenge (a client asking how its code is doing) and by (provider, message id) (a
//! delivery receipt finding its send).
//!
//! A record is merged into the one stored by compare-and-swap on its bytes, so concurrent
//! updates of one send (its answer, its receipt) are never lost. The indexes are written
//! after the record, and point at ids: an index entry whose record is gone is skipped.

use sled::Tree;

use super::backend;
use crate::store::{decode, encode, SendFilter, SendRecord, StoreError};

#[derive(Clone)]
pub(super) struct SendTrees {
    /// id -> SendRecord (JSON).
    records: Tree,
    /// (start time big-endian ++ id) -> nothing.
    by_time: Tree,
    /// (challenge ++ 0 ++ start time big-endian ++ id) -> nothing.
    by_challenge: Tree,
    /// (provider ++ 0 ++ provider message id) -> id.
    by_message: Tree,
}

fn time_key(record: &SendRecord) -> Vec<u8> {
    [&record.at.to_be_bytes()[..], record.id.as_bytes()].concat()
}

fn challenge_prefix(challenge: &str) -> Vec<u8> {
    [challenge.as_bytes(), &[0]].concat()
}

fn challenge_key(record: &SendRecord) -> Vec<u8> {
    [
        &challenge_prefix(&record.challenge)[..],
        &record.at.to_be_bytes(),
        record.id.as_bytes(),
    ]
    .concat()
}

fn message_key(provider: &str, message_id: &str) -> Vec<u8> {
    [provider.as_bytes(), &[0], message_id.as_bytes()].concat()
}

impl SendTrees {
    pub(super) fn open(db: &sled::Db) -> Result<SendTrees, StoreError> {
        Ok(SendTrees {
            records: db.open_tree("sends").map_err(backend)?,
            by_time: db.open_tree("sends_by_time").map_err(backend)?,
            by_challenge: db.open_tree("sends_by_challenge").map_err(backend)?,
            by_message: db.open_tree("sends_by_message").map_err(backend)?,
        })
    }

    pub(super) fn put(&self, record: &SendRecord) -> Result<(), StoreError> {
        loop {
            let current = self.records.get(&record.id).map_err(backend)?;
            let merged = match &current {
                Some(raw) => SendRecord::merged(&decode(raw)?, record),
                None => record.clone(),
            };
            let swapped = self
                .records
                .compare_and_swap(&record.id, current.as_ref(), Some(encode(&merged)?))
                .map_err(backend)?;
            if swapped.is_err() {
                continue;
            }
            if current.is_none() {
                self.by_time
                    .insert(time_key(&merged), &[])
                    .map_err(backend)?;
                (self.by_challenge)
                    .insert(challenge_key(&merged), &[])
                    .map_err(backend)?;
            }
            if let Some(message_id) = &merged.provider_message_id {
                (self.by_message)
                    .insert(
                        message_key(&merged.provider, message_id),
                        merged.id.as_bytes(),
                    )
                    .map_err(backend)?;
            }
            return Ok(());
        }
    }

    pub(super) fn get(&self, id: &str) -> Result<Option<SendRecord>, StoreError> {
        match self.records.get(id).map_err(backend)? {
            Some(raw) => Ok(Some(decode(&raw)?)),
            None => Ok(None),
        }
    }

    pub(super) fn by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError> {
        match (self.by_message)
            .get(message_key(provider, message_id))
            .map_err(backend)?
        {
            Some(id) => self.get(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// The newest `limit` records `filter` keeps (off the runtime's threads).
    pub(super) async fn find(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        let (trees, filter) = (self.clone(), filter.clone());
        tokio::task::spawn_blocking(move || trees.find_blocking(&filter, limit))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    /// Deletes the records begun before `before` (off the runtime's threads).
    pub(super) async fn sweep(&self, before: u64) -> Result<usize, StoreError> {
        let trees = self.clone();
        tokio::task::spawn_blocking(move || trees.sweep_blocking(before))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    /// Walks the challenge's index when the filter names one, else the time index (only the
    /// filter's window of it), newest first, until `limit` records match.
    fn find_blocking(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        let (keys, skip) = match &filter.challenge {
            Some(challenge) => {
                let prefix = challenge_prefix(challenge);
                (self.by_challenge.scan_prefix(&prefix), prefix.len() + 8)
            }
            None => {
                let from = filter.begun_from.unwrap_or(0).to_be_bytes().to_vec();
                let before = filter
                    .begun_before
                    .unwrap_or(u64::MAX)
                    .to_be_bytes()
                    .to_vec();
                (self.by_time.range(from..before), 8)
            }
        };
        let mut out = Vec::new();
        for entry in keys.rev() {
            if out.len() >= limit {
                break;
            }
            let (key, _) = entry.map_err(backend)?;
            let Some(id) = key.get(skip..) else { continue };
            if let Some(raw) = self.records.get(id).map_err(backend)? {
                let record: SendRecord = decode(&raw)?;
                if filter.matches(&record) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }

    /// Deletes the records begun before `before`, and their index entries.
    fn sweep_blocking(&self, before: u64) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in self.by_time.range(..before.to_be_bytes().to_vec()) {
            let (key, _) = entry.map_err(backend)?;
            let id = key.get(8..).unwrap_or_default();
            if let Some(raw) = self.records.remove(id).map_err(backend)? {
                removed += 1;
                if let Ok(record) = decode::<SendRecord>(&raw) {
                    (self.by_challenge)
                        .remove(challenge_key(&record))
                        .map_err(backend)?;
                    if let Some(message_id) = &record.provider_message_id {
                        (self.by_message)
                            .remove(message_key(&record.provider, message_id))
                            .map_err(backend)?;
                    }
                }
            }
            self.by_time.remove(key).map_err(backend)?;
        }
        Ok(removed)
    }
}

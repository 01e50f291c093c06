//! [`SledStore`](super::SledStore)'s message log: the records by id, and three indexes that
//! spare every lookup a scan of the log: by time (the admin's newest first, the sweep), by
//! challenge (a client asking how its code is doing) and by (provider, message id) (a
//! delivery receipt finding its send).
//!
//! Records are written off the request path by the log writer thread (`store::worker`), the
//! only writer of these trees: a put queues its record, and every read catches the writer up
//! first (`drain`). Each batch merges a send's puts into the record stored, so concurrent
//! updates of one send (its answer, its receipt) are never lost. The indexes are written
//! after the records, and point at ids: an index entry whose record is gone is skipped.

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

    /// Writes `records` (puts in the order they were made; several may be of one id) as one
    /// batch per tree: each id's puts merged in memory into the record stored
    /// ([`SendRecord::merged`], as if put one by one), so a try's `queued` and its outcome
    /// arriving together cost one write of the record. Run by the log writer thread, the only
    /// writer of these trees (the sweep too), so the stored record read here cannot change
    /// before the batch lands. The indexes are written after the records. A record that
    /// cannot be merged (the one stored does not decode) is left out, the rest written, and
    /// the first error answered.
    pub(in crate::store) fn apply(&self, records: Vec<SendRecord>) -> Result<(), String> {
        let mut first_error = None;
        // (merged record, whether it is new to the log, whether its message id is)
        let mut merged: Vec<(SendRecord, bool, bool)> = Vec::new();
        let mut at: std::collections::HashMap<String, usize> = Default::default();
        for record in records {
            if let Some(&i) = at.get(&record.id) {
                merged[i].0 = SendRecord::merged(&merged[i].0, &record);
                continue;
            }
            let stored = match self.records.get(&record.id) {
                Ok(Some(raw)) => match decode::<SendRecord>(&raw) {
                    Ok(stored) => Some(stored),
                    Err(e) => {
                        first_error.get_or_insert(e.to_string());
                        continue;
                    }
                },
                Ok(None) => None,
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                    continue;
                }
            };
            at.insert(record.id.clone(), merged.len());
            merged.push(match stored {
                Some(stored) => {
                    let indexed = stored.provider_message_id.is_some();
                    (SendRecord::merged(&stored, &record), false, indexed)
                }
                None => (record, true, false),
            });
        }
        let mut batches: [sled::Batch; 4] = Default::default();
        let [records, by_time, by_challenge, by_message] = &mut batches;
        for (record, new, message_indexed) in &merged {
            match encode(record) {
                Ok(raw) => records.insert(record.id.as_bytes(), raw),
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                    continue;
                }
            }
            if *new {
                by_time.insert(time_key(record), &[]);
                by_challenge.insert(challenge_key(record), &[]);
            }
            if let (Some(message_id), false) = (&record.provider_message_id, message_indexed) {
                by_message.insert(
                    message_key(&record.provider, message_id),
                    record.id.as_bytes(),
                );
            }
        }
        let trees = [
            &self.records,
            &self.by_time,
            &self.by_challenge,
            &self.by_message,
        ];
        for (tree, batch) in trees.into_iter().zip(batches) {
            tree.apply_batch(batch).map_err(|e| e.to_string())?;
        }
        first_error.map_or(Ok(()), Err)
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

    /// Deletes the records begun before `before`, and their index entries (by the log writer
    /// thread, after the records queued before it).
    pub(in crate::store) fn sweep(&self, before: u64) -> Result<usize, StoreError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sends::sample;
    use crate::store::SendStatus;

    fn trees() -> (SendTrees, sled::Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        (SendTrees::open(&db).unwrap(), db, dir)
    }

    #[test]
    fn one_batch_merges_a_sends_puts_as_if_put_one_by_one() {
        let (trees, _db, _dir) = trees();
        let queued = sample("s1-1", 10, SendStatus::Queued);
        let sent = SendRecord {
            provider_message_id: Some("SM1".into()),
            http_status: Some(201),
            updated_at: 11,
            ..sample("s1-1", 10, SendStatus::Sent)
        };
        let other = sample("s2-1", 12, SendStatus::Queued);
        trees
            .apply(vec![queued.clone(), other.clone(), sent.clone()])
            .unwrap();

        assert_eq!(trees.get("s1-1").unwrap(), Some(sent.clone()));
        assert_eq!(trees.get("s2-1").unwrap(), Some(other));
        assert_eq!(
            trees.by_provider_message(&sent.provider, "SM1").unwrap(),
            Some(sent.clone())
        );
        assert_eq!((trees.by_time.len(), trees.by_challenge.len()), (2, 2));
        assert_eq!(trees.by_message.len(), 1);

        // A later batch merges into the stored record: a late "queued" takes nothing back,
        // and no index entry is written twice.
        let delivered = SendRecord {
            updated_at: 30,
            ..sample("s1-1", 10, SendStatus::Delivered)
        };
        trees.apply(vec![delivered, queued]).unwrap();
        let now = trees.get("s1-1").unwrap().unwrap();
        assert_eq!(now.status, SendStatus::Delivered);
        assert_eq!(now.provider_message_id.as_deref(), Some("SM1"));
        assert_eq!((now.http_status, now.updated_at), (Some(201), 30));
        assert_eq!((trees.by_time.len(), trees.by_message.len()), (2, 1));
    }

    #[test]
    fn a_stored_record_that_does_not_decode_is_said_and_the_rest_written() {
        let (trees, _db, _dir) = trees();
        trees
            .records
            .insert("s1-1", b"not json".as_slice())
            .unwrap();
        let other = sample("s2-1", 12, SendStatus::Queued);
        let err = trees
            .apply(vec![sample("s1-1", 10, SendStatus::Sent), other.clone()])
            .unwrap_err();
        assert!(!err.is_empty());
        assert_eq!(trees.get("s2-1").unwrap(), Some(other));
    }
}

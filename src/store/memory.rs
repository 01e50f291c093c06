//! The [`Store`] in memory, with sled's semantics (compare-and-swap on the stored bytes,
//! counters updated atomically, the sweep, the attempts log) and nothing on disk: for unit
//! tests of the flows. It counts flushes, and can lose compare-and-swaps on purpose, so that
//! tests see what the flows make durable and how they behave under contention.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{
    decode, encode, AttemptFilter, AttemptRecord, BackupRecord, Collection, CounterExpired,
    Profile, SendFilter, SendRecord, SessionKey, SessionV1, Store, StoreError, StoredProfile,
    StoredSession, Versioned,
};

#[derive(Default)]
struct Tables {
    profiles: HashMap<String, Vec<u8>>,
    sessions: HashMap<[u8; 32], Vec<u8>>,
    counters: HashMap<Vec<u8>, Vec<u8>>,
    attempts_log: BTreeMap<[u8; 16], AttemptRecord>,
    /// The message log by record id.
    sends: HashMap<String, SendRecord>,
}

/// Everything in one map set behind one lock (never held across an `.await`).
#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    ids: AtomicU64,
    flushes: AtomicUsize,
    /// Compare-and-swaps still to lose, as if another writer came first.
    to_lose: AtomicUsize,
    /// The most entries the attempts log keeps (the oldest go first); `None`: no cap.
    attempts_log_cap: Option<usize>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Keeps at most `entries` entries in the attempts log, dropping the oldest (as
    /// [`super::SledStore::with_attempts_log_cap`]).
    pub fn with_attempts_log_cap(mut self, entries: usize) -> MemoryStore {
        self.attempts_log_cap = Some(entries.max(1));
        self
    }

    /// How many flushes happened: calls of [`Store::flush`], and the one every profile swap
    /// makes (as sled's does).
    pub fn flushes(&self) -> usize {
        self.flushes.load(Ordering::SeqCst)
    }

    /// The next `n` compare-and-swaps of profiles and sessions fail, as if the record had
    /// changed meanwhile (the record itself is left as it was).
    pub fn lose_next_swaps(&self, n: usize) {
        self.to_lose.store(n, Ordering::SeqCst);
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        // A panic while the lock was held left no half-written record: every change below is
        // one map operation.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn loses(&self) -> bool {
        self.to_lose
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn read_profile(raw: &[u8]) -> Result<Versioned<Profile>, StoreError> {
    // Nothing is sealed in memory: records are written as version 1.
    let value = decode::<StoredProfile>(raw)?.open("", None)?;
    Ok(Versioned {
        value,
        raw: raw.to_vec(),
    })
}

fn read_session(raw: &[u8]) -> Result<Versioned<SessionV1>, StoreError> {
    let value = decode::<StoredSession>(raw)?.open(None)?;
    Ok(Versioned {
        value,
        raw: raw.to_vec(),
    })
}

/// Puts `new` under `key` if the bytes there are still `expected` (`None`: absent).
fn compare_and_swap<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Vec<u8>>,
    key: K,
    expected: Option<&[u8]>,
    new: Option<Vec<u8>>,
) -> bool {
    if map.get(&key).map(Vec::as_slice) != expected {
        return false;
    }
    match new {
        Some(raw) => map.insert(key, raw),
        None => map.remove(&key),
    };
    true
}

#[async_trait]
impl Store for MemoryStore {
    async fn profile(&self, username: &str) -> Result<Option<Versioned<Profile>>, StoreError> {
        self.tables()
            .profiles
            .get(username)
            .map(|raw| read_profile(raw))
            .transpose()
    }

    async fn swap_profile(
        &self,
        username: &str,
        expected: Option<&Versioned<Profile>>,
        new: Option<&Profile>,
    ) -> Result<bool, StoreError> {
        let new_raw = new
            .map(|p| encode(&StoredProfile::V1(p.clone())))
            .transpose()?;
        if self.loses() {
            return Ok(false);
        }
        let swapped = compare_and_swap(
            &mut self.tables().profiles,
            username.to_string(),
            expected.map(|e| e.raw.as_slice()),
            new_raw,
        );
        if swapped {
            // As sled's: an enrolment is on disk before the answer.
            self.flushes.fetch_add(1, Ordering::SeqCst);
        }
        Ok(swapped)
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<SessionV1>>, StoreError> {
        self.tables()
            .sessions
            .get(&key.0)
            .map(|raw| read_session(raw))
            .transpose()
    }

    async fn insert_session(
        &self,
        key: &SessionKey,
        session: &SessionV1,
    ) -> Result<(), StoreError> {
        let raw = encode(&StoredSession::V1(session.clone()))?;
        self.tables().sessions.insert(key.0, raw);
        Ok(())
    }

    async fn swap_session(
        &self,
        key: &SessionKey,
        expected: &Versioned<SessionV1>,
        new: Option<&SessionV1>,
    ) -> Result<bool, StoreError> {
        let new_raw = new
            .map(|s| encode(&StoredSession::V1(s.clone())))
            .transpose()?;
        if self.loses() {
            return Ok(false);
        }
        Ok(compare_and_swap(
            &mut self.tables().sessions,
            key.0,
            Some(expected.raw.as_slice()),
            new_raw,
        ))
    }

    async fn sessions_of(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError> {
        let tables = self.tables();
        let mut found = Vec::new();
        for (key, raw) in &tables.sessions {
            let session = read_session(raw)?;
            if session.value.username == username {
                found.push((SessionKey(*key), session));
            }
        }
        Ok(found)
    }

    async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables().counters.get(key).cloned())
    }

    async fn update_counter(
        &self,
        key: &[u8],
        update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        match update(tables.counters.get(key).map(Vec::as_slice)) {
            Some(value) => tables.counters.insert(key.to_vec(), value),
            None => tables.counters.remove(key),
        };
        Ok(())
    }

    async fn sweep(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError> {
        let mut tables = self.tables();
        let before = tables.sessions.len() + tables.counters.len();
        tables
            .sessions
            .retain(|_, raw| read_session(raw).is_ok_and(|s| s.value.expires_at > now));
        tables.counters.retain(|_, raw| !expired(raw, now));
        Ok(before - tables.sessions.len() - tables.counters.len())
    }

    async fn log_attempt(&self, mut record: AttemptRecord) -> Result<(), StoreError> {
        let seq = self.ids.fetch_add(1, Ordering::SeqCst);
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&record.time.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        record.id = hex::encode(key);
        let mut tables = self.tables();
        tables.attempts_log.insert(key, record);
        if let Some(cap) = self.attempts_log_cap {
            while tables.attempts_log.len() > cap {
                tables.attempts_log.pop_first();
            }
        }
        Ok(())
    }

    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        Ok(self
            .tables()
            .attempts_log
            .values()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn find_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        Ok(self
            .tables()
            .attempts_log
            .values()
            .rev()
            .filter(|a| filter.matches(a))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        let mut key = [0u8; 16];
        if hex::decode_to_slice(id, &mut key).is_err() {
            return Ok(None);
        }
        Ok(self.tables().attempts_log.get(&key).cloned())
    }

    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError> {
        let mut tables = self.tables();
        let kept = tables.attempts_log.split_off(&{
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&before.to_be_bytes());
            k
        });
        let removed = tables.attempts_log.len();
        tables.attempts_log = kept;
        Ok(removed)
    }

    async fn put_send(&self, record: &SendRecord) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let merged = match tables.sends.get(&record.id) {
            Some(existing) => SendRecord::merged(existing, record),
            None => record.clone(),
        };
        tables.sends.insert(record.id.clone(), merged);
        Ok(())
    }

    async fn send(&self, id: &str) -> Result<Option<SendRecord>, StoreError> {
        Ok(self.tables().sends.get(id).cloned())
    }

    async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError> {
        Ok(self
            .tables()
            .sends
            .values()
            .find(|r| {
                r.provider == provider && r.provider_message_id.as_deref() == Some(message_id)
            })
            .cloned())
    }

    async fn find_sends(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        let mut found: Vec<SendRecord> = (self.tables().sends.values())
            .filter(|r| filter.matches(r))
            .cloned()
            .collect();
        found.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        found.truncate(limit);
        Ok(found)
    }

    async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError> {
        let mut tables = self.tables();
        let count = tables.sends.len();
        tables.sends.retain(|_, r| r.at >= before);
        Ok(count - tables.sends.len())
    }

    fn pending_sessions(&self) -> usize {
        self.tables().sessions.len()
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn export(&self) -> Result<Vec<BackupRecord>, StoreError> {
        let tables = self.tables();
        let record = |collection, key: &[u8], value: &[u8]| BackupRecord {
            collection,
            key: key.to_vec(),
            value: value.to_vec(),
        };
        let mut out: Vec<BackupRecord> = Vec::new();
        out.extend(
            (tables.profiles.iter()).map(|(k, v)| record(Collection::Profiles, k.as_bytes(), v)),
        );
        out.extend((tables.sessions.iter()).map(|(k, v)| record(Collection::Sessions, k, v)));
        out.extend((tables.counters.iter()).map(|(k, v)| record(Collection::Counters, k, v)));
        for (k, v) in &tables.attempts_log {
            out.push(record(Collection::AttemptsLog, k, &encode(v)?));
        }
        // As sled's: in key order within each collection.
        out.sort_by(|a, b| (a.collection as u8, &a.key).cmp(&(b.collection as u8, &b.key)));
        Ok(out)
    }

    async fn import(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for r in records {
            let bad_key = || StoreError::Corrupt(format!("a {:?} key of a backup", r.collection));
            match r.collection {
                Collection::Profiles => {
                    let name = String::from_utf8(r.key.clone()).map_err(|_| bad_key())?;
                    tables.profiles.insert(name, r.value);
                }
                Collection::Sessions => {
                    let key: [u8; 32] = r.key.as_slice().try_into().map_err(|_| bad_key())?;
                    tables.sessions.insert(key, r.value);
                }
                Collection::Counters => {
                    tables.counters.insert(r.key, r.value);
                }
                Collection::AttemptsLog => {
                    let key: [u8; 16] = r.key.as_slice().try_into().map_err(|_| bad_key())?;
                    tables.attempts_log.insert(key, decode(&r.value)?);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::contract_tests::store_contract;
    use super::MemoryStore;

    store_contract!((
        Arc::new(
            MemoryStore::new()
                .with_attempts_log_cap(super::super::contract_tests::ATTEMPTS_LOG_CAP)
        ),
        Box::new(())
    ));
}

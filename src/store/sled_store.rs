//! The [`Store`] on sled, in the data directory.

mod attempts;
mod backup;
mod events;
mod sends;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use async_trait::async_trait;

use super::seal::Seal;
use super::worker::{Flusher, LogWriter};
use super::{
    decode, encode, AttemptFilter, AttemptRecord, BackupRecord, CounterExpired, Profile,
    SendFilter, SendRecord, SessionKey, SessionV1, Store, StoreError, StoredProfile, StoredSession,
    Versioned,
};
use sends::SendTrees;

#[derive(Clone)]
pub struct SledStore {
    profiles: sled::Tree,
    sessions: sled::Tree,
    /// (deadline big-endian ++ session key) -> nothing: lets the sweeper find what expired
    /// without scanning every session.
    expiry: sled::Tree,
    /// Attempt tallies and send logs.
    counters: sled::Tree,
    /// (time big-endian ++ sled id) -> AttemptRecord.
    attempts_log: sled::Tree,
    /// The message log and its indexes (not in a backup: see [`super::backup`]).
    sends: SendTrees,
    ids: sled::Db,
    pending: Arc<AtomicUsize>,
    flusher: Flusher,
    /// Writes the attempts log in batches, off the request path.
    log_writer: LogWriter,
    /// `flush` waits for the disk (strict durability); otherwise writes reach it with the
    /// periodic flush (every 200 ms) and at shutdown.
    sync: bool,
    /// Seals the personal values of profiles and sessions (none: kept in clear, for tests of
    /// the store alone).
    seal: Option<Seal>,
    /// Writes of profiles, sessions and counters hold it shared; an export holds it alone, so
    /// that it copies them all as they were at one moment: what a crash at that moment would
    /// have left, which every flow is written to survive.
    gate: Arc<RwLock<()>>,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Why the database of `dir` does not open. sled locks it for one process at a time and says
/// so only in the text of an I/O error ("could not acquire lock on ..."): that one is told as
/// what it means to the operator.
fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
            let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            StoreError::Backend(format!(
                "the data directory {} is in use: another mfa-bridge (or another process) \
                 holds its lock. Stop it, or give this daemon another storage.path",
                shown.display()
            ))
        }
        _ => backend(e),
    }
}

fn expiry_key(deadline: u64, key: &SessionKey) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&deadline.to_be_bytes());
    k[8..].copy_from_slice(&key.0);
    k
}

impl SledStore {
    /// Opens the database of `dir` with the default cache (2 MiB).
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, 2 * 1024 * 1024)
    }

    /// With `sync` false, [`Store::flush`] returns at once: attempt tallies, send counts and
    /// enrolments reach the disk within 200 ms instead of before the answer.
    pub fn with_sync(mut self, sync: bool) -> SledStore {
        self.sync = sync;
        self
    }

    /// Seals the personal values of the profiles and sessions written from now on (user data,
    /// captured values) with `seal`, and opens those read. The daemon always gives one.
    pub fn with_seal(mut self, seal: Seal) -> SledStore {
        self.seal = Some(seal);
        self
    }

    /// Keeps at most `entries` entries in the attempts log, dropping the oldest (unbounded
    /// until set).
    pub fn with_attempts_log_cap(self, entries: usize) -> SledStore {
        self.log_writer.set_cap(entries);
        self
    }

    /// Opens the database of `dir`; `cache_bytes` bounds sled's page cache (most of the
    /// daemon's memory under many pending sessions, BENCHMARKS.md).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let db = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(200))
            .open()
            .map_err(|e| open_error(dir, e))?;
        let profiles = db.open_tree("profiles").map_err(backend)?;
        let sessions = db.open_tree("sessions").map_err(backend)?;
        let expiry = db.open_tree("session_expiry").map_err(backend)?;
        let counters = db.open_tree("counters").map_err(backend)?;
        let attempts_log = db.open_tree("attempts_log").map_err(backend)?;
        let attempts_log_for_writer = attempts_log.clone();
        let pending = Arc::new(AtomicUsize::new(sessions.len()));
        let flusher = Flusher::start(db.clone())?;
        Ok(SledStore {
            profiles,
            sessions,
            expiry,
            counters,
            attempts_log,
            sends: SendTrees::open(&db)?,
            ids: db.clone(),
            pending,
            flusher,
            log_writer: LogWriter::start(attempts_log_for_writer)?,
            sync: true,
            seal: None,
            gate: Arc::new(RwLock::new(())),
        })
    }

    /// Held while writing a profile, a session or a counter (see `gate`).
    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere left nothing half-written here.
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    fn read_profile(
        &self,
        username: &str,
        raw: sled::IVec,
    ) -> Result<Versioned<Profile>, StoreError> {
        let value = decode::<StoredProfile>(&raw)?.open(username, self.seal.as_ref())?;
        Ok(Versioned {
            value,
            raw: raw.to_vec(),
        })
    }

    fn read_session(&self, raw: sled::IVec) -> Result<Versioned<SessionV1>, StoreError> {
        let value = decode::<StoredSession>(&raw)?.open(self.seal.as_ref())?;
        Ok(Versioned {
            value,
            raw: raw.to_vec(),
        })
    }

    fn sessions_of_blocking(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError> {
        // Only the records that can be the user's are decoded: their JSON names the user so.
        let needle = [b"\"username\":".as_slice(), &encode(&username)?].concat();
        let mut found = Vec::new();
        for entry in self.sessions.iter() {
            let (key, raw) = entry.map_err(backend)?;
            if !raw.windows(needle.len()).any(|w| w == needle.as_slice()) {
                continue;
            }
            let session = self.read_session(raw)?;
            if session.value.username == username && key.len() == 32 {
                let mut k = [0u8; 32];
                k.copy_from_slice(&key);
                found.push((SessionKey(k), session));
            }
        }
        Ok(found)
    }

    fn sweep_counters(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError> {
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

    fn sweep_blocking(&self, now: u64) -> Result<usize, StoreError> {
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

#[async_trait]
impl Store for SledStore {
    async fn profile(&self, username: &str) -> Result<Option<Versioned<Profile>>, StoreError> {
        match self.profiles.get(username.as_bytes()).map_err(backend)? {
            Some(raw) => Ok(Some(self.read_profile(username, raw)?)),
            None => Ok(None),
        }
    }

    async fn swap_profile(
        &self,
        username: &str,
        expected: Option<&Versioned<Profile>>,
        new: Option<&Profile>,
    ) -> Result<bool, StoreError> {
        let new_raw = match new {
            Some(p) => Some(encode(&StoredProfile::sealed(
                p,
                username,
                self.seal.as_ref(),
            )?)?),
            None => None,
        };
        let swapped = {
            let _writing = self.writing();
            self.profiles
                .compare_and_swap(
                    username.as_bytes(),
                    expected.map(|e| e.raw.as_slice()),
                    new_raw,
                )
                .map_err(backend)?
                .is_ok()
        };
        if swapped {
            // Enrolments must survive a crash: on disk before the answer.
            self.flusher.flush().await?;
        }
        Ok(swapped)
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<SessionV1>>, StoreError> {
        match self.sessions.get(key.0).map_err(backend)? {
            Some(raw) => Ok(Some(self.read_session(raw)?)),
            None => Ok(None),
        }
    }

    async fn insert_session(
        &self,
        key: &SessionKey,
        session: &SessionV1,
    ) -> Result<(), StoreError> {
        let raw = encode(&StoredSession::sealed(session, self.seal.as_ref())?)?;
        let _writing = self.writing();
        self.expiry
            .insert(expiry_key(session.expires_at, key), &[])
            .map_err(backend)?;
        if self.sessions.insert(key.0, raw).map_err(backend)?.is_none() {
            self.pending.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn swap_session(
        &self,
        key: &SessionKey,
        expected: &Versioned<SessionV1>,
        new: Option<&SessionV1>,
    ) -> Result<bool, StoreError> {
        let new_raw = match new {
            Some(s) => Some(encode(&StoredSession::sealed(s, self.seal.as_ref())?)?),
            None => None,
        };
        let deleting = new_raw.is_none();
        let _writing = self.writing();
        let swapped = self
            .sessions
            .compare_and_swap(key.0, Some(expected.raw.as_slice()), new_raw)
            .map_err(backend)?
            .is_ok();
        // The session's expiry entry stays: one write less per verify. The sweeper drops an
        // entry whose session is gone when its deadline comes (`sweep_blocking`).
        if swapped && deleting {
            self.pending.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(swapped)
    }

    async fn sessions_of(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError> {
        let store = self.clone();
        let username = username.to_string();
        tokio::task::spawn_blocking(move || store.sessions_of_blocking(&username))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.counters.get(key).map_err(backend)?.map(|v| v.to_vec()))
    }

    async fn update_counter(
        &self,
        key: &[u8],
        update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        let _writing = self.writing();
        // sled's `update_and_fetch` writes even when nothing changes (a removal of a key
        // absent is a log entry too): an update that leaves the value as read writes nothing.
        let mut current = self.counters.get(key).map_err(backend)?;
        loop {
            let next = update(current.as_deref());
            if next.as_deref() == current.as_deref() {
                return Ok(());
            }
            match self
                .counters
                .compare_and_swap(key, current.as_deref(), next)
                .map_err(backend)?
            {
                Ok(()) => return Ok(()),
                Err(e) => current = e.current,
            }
        }
    }

    async fn sweep(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            Ok(store.sweep_blocking(now)? + store.sweep_counters(now, expired)?)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn log_attempt(&self, mut record: AttemptRecord) -> Result<(), StoreError> {
        let seq = self.ids.generate_id().map_err(backend)?;
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&record.time.to_be_bytes());
        key[8..].copy_from_slice(&seq.to_be_bytes());
        record.id = hex::encode(key);
        self.log_writer.write(key, encode(&record)?)
    }

    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        // What was logged before this call is readable: the writer catches up first.
        self.log_writer.drain().await?;
        let mut out = Vec::new();
        for entry in self.attempts_log.iter().rev().take(limit) {
            let (_, raw) = entry.map_err(backend)?;
            out.push(decode(&raw)?);
        }
        Ok(out)
    }

    async fn find_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        self.log_writer.drain().await?;
        let store = self.clone();
        let filter = filter.clone();
        tokio::task::spawn_blocking(move || store.find_attempts_blocking(&filter, limit))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        let mut key = [0u8; 16];
        if hex::decode_to_slice(id, &mut key).is_err() {
            return Ok(None);
        }
        self.log_writer.drain().await?;
        match self.attempts_log.get(key).map_err(backend)? {
            Some(raw) => Ok(Some(decode(&raw)?)),
            None => Ok(None),
        }
    }

    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError> {
        // By the writer thread, which keeps the count of entries the cap is measured on.
        self.log_writer.sweep(before.to_be_bytes().to_vec()).await
    }

    async fn put_send(&self, record: &SendRecord) -> Result<(), StoreError> {
        self.sends.put(record)
    }

    async fn send(&self, id: &str) -> Result<Option<SendRecord>, StoreError> {
        self.sends.get(id)
    }

    async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError> {
        self.sends.by_provider_message(provider, message_id)
    }

    async fn find_sends(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        self.sends.find(filter, limit).await
    }

    async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError> {
        self.sends.sweep(before).await
    }

    fn pending_sessions(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        if !self.sync {
            return Ok(());
        }
        self.flusher.flush().await
    }

    async fn flush_all(&self) -> Result<(), StoreError> {
        self.log_writer.drain().await?;
        self.flusher.flush().await
    }

    async fn export(&self) -> Result<Vec<BackupRecord>, StoreError> {
        // What was logged before this call is in the copy: the writer catches up first.
        self.log_writer.drain().await?;
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.export_blocking())
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }

    async fn import(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.import_blocking(records))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::contract_tests::store_contract;
    use super::*;

    store_contract!({
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path())
            .unwrap()
            .with_seal(Seal::new([9; 32]))
            .with_attempts_log_cap(super::super::contract_tests::ATTEMPTS_LOG_CAP);
        (Arc::new(store), Box::new(dir))
    });

    use super::super::event_contract_tests::event_contract;
    event_contract!({
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        (Arc::new(store), Box::new(dir))
    });

    #[test]
    fn a_data_directory_open_elsewhere_is_named_as_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path()).unwrap();

        let Err(e) = SledStore::open(dir.path()) else {
            panic!("a second open of the same directory succeeded");
        };

        assert_eq!(
            e.to_string(),
            format!(
                "storage failure: the data directory {} is in use: another mfa-bridge (or \
                 another process) holds its lock. Stop it, or give this daemon another \
                 storage.path",
                dir.path().display()
            )
        );
    }

    #[tokio::test]
    async fn a_consumed_session_leaves_its_expiry_entry_to_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path()).unwrap();
        let key = SessionKey([5; 32]);
        let session = super::super::contract_tests::session(10);
        store.insert_session(&key, &session).await.unwrap();
        let read = store.session(&key).await.unwrap().unwrap();
        assert!(store.swap_session(&key, &read, None).await.unwrap());
        // The verify wrote only the session's removal: the index entry waits for its deadline.
        assert_eq!(store.expiry.len(), 1);
        assert_eq!(store.sweep(9, |_, _| false).await.unwrap(), 0);
        assert_eq!(store.expiry.len(), 1);
        // Past it, the sweep drops the stale entry, removing and counting nothing else.
        assert_eq!(store.sweep(10, |_, _| false).await.unwrap(), 0);
        assert_eq!(store.expiry.len(), 0);
        assert_eq!(store.pending_sessions(), 0);
    }

    #[tokio::test]
    async fn profiles_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let profile = Profile {
            user_data: [("phone".to_string(), "+41791231212".to_string())].into(),
            recovery_codes: vec![],
            enrolled_at: 1,
            enrolment: "e1".into(),
            methods: vec![
                crate::domain::Method::Channel(crate::domain::Channel::Sms),
                crate::domain::Method::Totp,
            ],
            totp: Some(super::super::TotpRecord {
                sealed: "sealed".into(),
                last_step: 7,
            }),
        };
        let sealed = |secret| {
            SledStore::open(dir.path())
                .unwrap()
                .with_seal(Seal::new(secret))
        };
        {
            let store = sealed([9; 32]);
            assert!(store
                .swap_profile("alice", None, Some(&profile))
                .await
                .unwrap());
        }
        let store = sealed([9; 32]);
        assert_eq!(
            store.profile("alice").await.unwrap().unwrap().value,
            profile
        );
        drop(store);
        // Under another server secret, the record is refused, saying why.
        let err = sealed([8; 32]).profile("alice").await.unwrap_err();
        assert!(err.to_string().contains("server secret"), "{err}");
    }
}

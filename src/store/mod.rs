//! Storage behind a small trait: profiles (enrolments), pending MFA sessions and their codes.
//!
//! Records are versioned types serialized as JSON (`records.rs`). Secrets are never stored in
//! clear: session keys, codes and recovery codes are keyed hashes computed by [`crate::mfa`].
//! Personal values (user data, captured values) are sealed by the sled store on write and
//! opened on read (`seal.rs`), so the flows see them as they were given.
//! Updates that must happen once (consuming a session, using a code) are compare-and-swap on
//! the stored bytes.

mod attempt_filter;
pub mod backup;
#[cfg(test)]
mod contract_tests;
mod faulty;
mod memory;
pub mod migrate;
pub mod postgres;
mod records;
pub(crate) mod seal;
mod secret;
pub mod sends;
mod sled_store;
mod worker;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use attempt_filter::AttemptFilter;
pub use backup::{BackupRecord, Collection};
pub use faulty::{FaultSwitch, FaultyStore};
pub use memory::MemoryStore;
pub use postgres::{PgSettings, PgStore};
pub use records::{
    AttemptRecord, Profile, SealedProfile, SealedSession, SessionKindV1, SessionV1, StoredCode,
    StoredProfile, StoredRecoveryCode, StoredSession, TotpRecord,
};
pub use seal::{Seal, Sealed};
pub use secret::{server_secret, server_secret_if_any, SecretSetting};
pub use sends::{mask_destination, SendFilter, SendRecord, SendStatus};
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    /// The engine cannot be reached now (a database down or unreachable): the same request
    /// may succeed later, so the web layer answers 503 `storage-unavailable`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
}

/// A record as read, with the bytes it was read from (for compare-and-swap). Its `Debug`
/// shows the record's own (redacted) `Debug`, never the bytes.
#[derive(Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub raw: Vec<u8>,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Versioned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versioned")
            .field("value", &self.value)
            .field("raw", &format_args!("({} bytes)", self.raw.len()))
            .finish()
    }
}

/// Says whether a stored counter is over at a time (for the sweeper).
pub type CounterExpired = for<'a> fn(&'a [u8], u64) -> bool;

/// The key of a session: the keyed hash of its mfaToken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub [u8; 32]);

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn profile(&self, username: &str) -> Result<Option<Versioned<Profile>>, StoreError>;

    /// Replaces the profile if it is still `expected` (`None`: absent), then flushes to disk.
    /// `Ok(false)` when it changed meanwhile.
    async fn swap_profile(
        &self,
        username: &str,
        expected: Option<&Versioned<Profile>>,
        new: Option<&Profile>,
    ) -> Result<bool, StoreError>;

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<SessionV1>>, StoreError>;

    async fn insert_session(&self, key: &SessionKey, session: &SessionV1)
        -> Result<(), StoreError>;

    /// Replaces the session if it is still `expected`; `new: None` deletes it.
    /// `Ok(false)` when it changed meanwhile (another request used it first).
    async fn swap_session(
        &self,
        key: &SessionKey,
        expected: &Versioned<SessionV1>,
        new: Option<&SessionV1>,
    ) -> Result<bool, StoreError>;

    /// Every pending session of `username`, with its key. A scan of all sessions: for the
    /// admin API (a user's lookup and reset), never on a public request's path.
    async fn sessions_of(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError>;

    /// The counter under `key` as stored (`None`: absent).
    async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically replaces the counter under `key` by `update(current)` (`None`: absent or
    /// delete). `update` may be called more than once under contention; the value it returned
    /// last is the one stored. Not flushed: see [`Store::flush`].
    async fn update_counter(
        &self,
        key: &[u8],
        update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
    ) -> Result<(), StoreError>;

    /// Deletes the sessions whose deadline is at or before `now`, and the counters that
    /// `expired(raw, now)` says are over; returns how many records went.
    async fn sweep(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError>;

    /// Appends to the attempts log (its `id` is assigned here). The log is capped
    /// (`storage.attempts_log_max_entries`), the oldest entries going first: that bounds what
    /// requests cost in storage, refused ones for made-up usernames included. A cap was chosen
    /// over aggregating per user and minute (a flood of random usernames has nothing to merge)
    /// and over sampling (it would drop the one entry an operator looks for); every request
    /// still has its line in the process log.
    async fn log_attempt(&self, record: AttemptRecord) -> Result<(), StoreError>;

    /// The newest `limit` entries of the attempts log, newest first.
    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError>;

    /// The newest `limit` entries of the attempts log that `filter` keeps, newest first.
    async fn find_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError>;

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError>;

    /// Deletes attempts logged before `before`; returns how many.
    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError>;

    /// Writes a record of the message log ([`sends`]): inserts it, or updates the record of
    /// that id as [`SendRecord::merged`] says (a status never goes back, a known provider
    /// message id is kept). Indexed by its time, its challenge and its provider message id.
    async fn put_send(&self, record: &SendRecord) -> Result<(), StoreError>;

    /// The record of the message log with this id (`{send_id}-{attempt}`).
    async fn send(&self, id: &str) -> Result<Option<SendRecord>, StoreError>;

    /// The record that `provider` knows by `message_id` (how a delivery receipt finds its
    /// send): an index lookup, never a scan.
    async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError>;

    /// The newest `limit` records of the message log that `filter` keeps, newest first (by
    /// the time the attempt began). With a challenge in the filter, an index lookup.
    async fn find_sends(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError>;

    /// Deletes the records of attempts begun before `before`; returns how many.
    async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError>;

    /// Number of pending sessions.
    fn pending_sessions(&self) -> usize;

    /// What an answer depends on is on disk (with periodic durability, it will be soon).
    async fn flush(&self) -> Result<(), StoreError>;

    /// Every record, as all of them were at one moment while the daemon runs (for
    /// `mfa-bridge backup`, [`backup`]). A store whose own tools do this better (a database
    /// server's dump) answers [`StoreError::Backend`] saying which.
    async fn export(&self) -> Result<Vec<BackupRecord>, StoreError>;

    /// Writes the records of a backup into this store (for `mfa-bridge restore`, into an empty
    /// one); derived indexes are rebuilt, not read.
    async fn import(&self, records: Vec<BackupRecord>) -> Result<(), StoreError>;

    /// Whether the engine answers now, for `/ready` and `/health`: a database store asks its
    /// server ([`StoreError::Unavailable`] when it cannot); an embedded one is always there.
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Everything written so far is on disk, whatever the durability (at shutdown).
    async fn flush_all(&self) -> Result<(), StoreError> {
        self.flush().await
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

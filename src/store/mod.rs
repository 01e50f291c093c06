//! Storage behind a small trait: profiles (enrolments), pending MFA sessions and their codes.
//!
//! Records are versioned types serialized as JSON. Secrets are never stored in clear: session
//! keys, codes and recovery codes are keyed hashes computed by [`crate::mfa`]. Updates that
//! must happen once (consuming a session, using a code) are compare-and-swap on the stored
//! bytes.

mod secret;
mod sled_store;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use secret::server_secret;
pub use sled_store::SledStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage failure: {0}")]
    Backend(String),
    #[error("a stored record cannot be read: {0}")]
    Corrupt(String),
}

/// A record as read, with the bytes it was read from (for compare-and-swap).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub raw: Vec<u8>,
}

/// A user's enrolment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredProfile {
    #[serde(rename = "1")]
    V1(Profile),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// What was given at activate (phone, language, message, ...).
    pub user_data: BTreeMap<String, String>,
    /// Keyed hashes (hex) of the recovery codes.
    pub recovery_codes: Vec<RecoveryCode>,
    pub enrolled_at: u64,
    /// Random id of this enrolment: a new one on every change.
    pub enrolment: String,
    /// The methods enrolled, in enrolment order (`sms`, `email`, `totp`); the first is the
    /// preferred one. Empty in records written before methods existed: the primary channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The authenticator app's secret, if one is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpRecord>,
}

/// An enrolled authenticator: the secret sealed under the server secret, and the last step
/// used (a step is used once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpRecord {
    pub sealed: String,
    pub last_step: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<u64>,
}

/// A pending MFA session, stored under the keyed hash of its mfaToken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredSession {
    #[serde(rename = "1")]
    V1(Session),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub username: String,
    pub kind: SessionKind,
    pub created_at: u64,
    pub expires_at: u64,
    /// The code sent in single mode, as a keyed hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<StoredCode>,
    /// Codes tried on this session, counted before they are checked.
    #[serde(default)]
    pub attempts: u32,
    /// When this session last sent a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<u64>,
    /// What the last challenge's answer held (`capture`), for the verify endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captured: BTreeMap<String, String>,
    /// The method the last challenge went by (`sms`, `email`, `sms+email`); none: the primary
    /// channel (Pryv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenged: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionKind {
    /// After a successful first factor: verify releases the grant.
    Login {
        /// The upstream's login answer (proxy mode), released by a successful verify: a
        /// [`Grant`] sealed with a key derived from the mfaToken, which is never stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_grant: Option<String>,
        /// The enrolment the session was made for.
        enrolment: String,
    },
    /// An enrolment in progress: confirm saves the user data.
    Activate {
        user_data: BTreeMap<String, String>,
        /// The enrolment this one replaces (none: MFA was off). Confirm refuses if the user's
        /// enrolment is no longer that one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
        /// The method being enrolled (`sms`, `email`, `sms+email`, `totp`); none: the primary
        /// channel (Pryv).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<String>,
        /// For `totp`: the new secret, sealed under the server secret.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Base64 of the body.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCode {
    pub hash: String,
    pub expires_at: u64,
}

/// One public request in the attempts log (Kazoo's): who, what, how it ended; never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// Time-ordered: newer ids sort after older ones.
    #[serde(default)]
    pub id: String,
    pub time: u64,
    pub username: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    /// `ok`, or the error id.
    pub outcome: String,
    /// The error message given to the client (empty on success).
    pub reason: String,
    pub duration_ms: f64,
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

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<Session>>, StoreError>;

    async fn insert_session(&self, key: &SessionKey, session: &Session) -> Result<(), StoreError>;

    /// Replaces the session if it is still `expected`; `new: None` deletes it.
    /// `Ok(false)` when it changed meanwhile (another request used it first).
    async fn swap_session(
        &self,
        key: &SessionKey,
        expected: &Versioned<Session>,
        new: Option<&Session>,
    ) -> Result<bool, StoreError>;

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

    /// Appends to the attempts log (its `id` is assigned here).
    async fn log_attempt(&self, record: AttemptRecord) -> Result<(), StoreError>;

    /// The newest `limit` entries of the attempts log, newest first.
    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError>;

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError>;

    /// Deletes attempts logged before `before`; returns how many.
    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError>;

    /// Number of pending sessions.
    fn pending_sessions(&self) -> usize;

    /// What an answer depends on is on disk (with periodic durability, it will be soon).
    async fn flush(&self) -> Result<(), StoreError>;

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

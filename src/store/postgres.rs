//! The [`Store`] on PostgreSQL, shared by several instances of the daemon: one table per kind
//! of record (`migrations/0001_store.sql`), each decision in as few round trips as the engine
//! allows.
//!
//! - A profile or a session is replaced or deleted by a conditional `UPDATE`/`DELETE` on its
//!   `version` column that must touch exactly one row: of several instances spending the same
//!   session, exactly one wins. [`Versioned::raw`] carries the version read (8 bytes).
//! - A counter is read and rewritten in one transaction that holds its row locked
//!   (`INSERT … ON CONFLICT DO UPDATE … RETURNING`): concurrent updates from every instance
//!   queue on the row, none is lost and none has to be retried.
//! - "Strict" durability is PostgreSQL's own: a write has committed before it returns, so
//!   [`Store::flush`] has nothing left to do; "periodic" turns `synchronous_commit` off on this
//!   pool's connections (commits reach the disk within a few hundred milliseconds).
//! - Personal values are sealed exactly as in the sled store (`seal.rs`): the records are the
//!   same bytes of JSON, kept as `jsonb`.

mod attempts;
mod backup;
mod counters;
mod error;
mod fingerprint;
mod log_writer;
mod migrations;
mod sends;
#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::seal::Seal;
use super::{
    decode, encode, AttemptFilter, AttemptRecord, BackupRecord, CounterExpired, Profile,
    SendFilter, SendRecord, SessionKey, SessionV1, Store, StoreError, StoredProfile, StoredSession,
    Versioned,
};
use crate::domain::Secret;
use error::store_error;
use log_writer::LogWriter;
pub use migrations::{migrate, Migration};

/// How to reach the database, and how durably to write.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// `postgres://…`, TLS as its `sslmode` and `sslrootcert` say.
    pub url: Secret,
    pub pool_size: u32,
    /// How long a connection may take (new, or from a busy pool).
    pub connect_timeout: Duration,
    /// `statement_timeout` on every connection.
    pub statement_timeout: Duration,
    /// Off: `synchronous_commit = off` (see the module's documentation).
    pub strict_durability: bool,
}

/// How long [`Store::ping`] waits for the server.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Seals the personal values of profiles and sessions (none: kept in clear, for tests of
    /// the store alone).
    seal: Option<Seal>,
    /// Pending sessions: this instance's own inserts and deletes counted as they happen, the
    /// whole table counted again at every sweep (and at start).
    pending: Arc<AtomicUsize>,
    /// The most entries the attempts log keeps (read by the log's writer).
    attempts_cap: Arc<AtomicI64>,
    /// Writes the attempts log in batches, off the request path.
    log_writer: LogWriter,
    /// Reads when a counter is over, to keep its `expires_at` column (none: the sweep reads
    /// every counter's value instead).
    counter_expiry: Option<CounterExpired>,
}

/// A connection pool on the database of `settings`, its first connection made (so that a
/// wrong address, password or certificate is told at start).
pub async fn connect(settings: &PgSettings) -> Result<PgPool, StoreError> {
    let mut options = PgConnectOptions::from_str(settings.url.expose())
        .map_err(|e| StoreError::Backend(format!("storage.url: {e}")))?
        .application_name("mfa-bridge");
    let statement_timeout = settings.statement_timeout.as_millis().to_string();
    let mut parameters = vec![("statement_timeout", statement_timeout)];
    if !settings.strict_durability {
        parameters.push(("synchronous_commit", "off".to_string()));
    }
    options = options.options(parameters);
    PgPoolOptions::new()
        .max_connections(settings.pool_size)
        .acquire_timeout(settings.connect_timeout)
        .connect_with(options)
        .await
        .map_err(|e| match store_error(e) {
            StoreError::Unavailable(e) => {
                StoreError::Unavailable(format!("cannot reach the database of storage.url: {e}"))
            }
            other => other,
        })
}

/// A version as [`Versioned::raw`] carries it.
fn raw_version(version: i64) -> Vec<u8> {
    version.to_be_bytes().to_vec()
}

/// The version a [`Versioned`] was read at; `None` for one this store did not read.
fn version_of(raw: &[u8]) -> Option<i64> {
    raw.try_into().ok().map(i64::from_be_bytes)
}

/// A time or a count as PostgreSQL's `bigint`; the far future when beyond it.
fn bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The JSON text of a stored record (always UTF-8: it was written by `serde_json`).
fn json_text(raw: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl PgStore {
    /// Connects, applies the migrations (under PostgreSQL's advisory lock, so instances
    /// starting together take turns), then checks that the database was set up with this
    /// `secret` (writing its fingerprint when it is the first instance). Seals with `secret`.
    pub async fn open(settings: &PgSettings, secret: &[u8; 32]) -> Result<PgStore, StoreError> {
        let pool = connect(settings).await?;
        migrate(&pool).await?;
        fingerprint::check(&pool, secret).await?;
        let attempts_cap = Arc::new(AtomicI64::new(i64::MAX));
        let store = PgStore {
            log_writer: LogWriter::start(pool.clone(), Arc::clone(&attempts_cap)),
            pool,
            seal: Some(Seal::new(*secret)),
            pending: Arc::new(AtomicUsize::new(0)),
            attempts_cap,
            counter_expiry: None,
        };
        store.count_pending().await?;
        Ok(store)
    }

    /// Keeps at most `entries` entries in the attempts log, dropping the oldest.
    pub fn with_attempts_log_cap(self, entries: usize) -> PgStore {
        self.attempts_cap
            .store(bigint(entries as u64), Ordering::Relaxed);
        self
    }

    /// Keeps each counter's `expires_at` column, read from its value with `expired` (which
    /// must say "over" from some time on, and ever after): the sweep then deletes them by
    /// index, and an operator sees when each ends.
    pub fn with_counter_expiry(mut self, expired: CounterExpired) -> PgStore {
        self.counter_expiry = Some(expired);
        self
    }

    /// The pool, for what runs beside the store on the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Counts the pending sessions again, from the table.
    async fn count_pending(&self) -> Result<(), StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        self.pending
            .store(usize::try_from(n).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }

    fn read_session(
        &self,
        record: String,
        version: i64,
    ) -> Result<Versioned<SessionV1>, StoreError> {
        let value = decode::<StoredSession>(record.as_bytes())?.open(self.seal.as_ref())?;
        Ok(Versioned {
            value,
            raw: raw_version(version),
        })
    }

    fn session_record(&self, session: &SessionV1) -> Result<String, StoreError> {
        json_text(encode(&StoredSession::sealed(
            session,
            self.seal.as_ref(),
        )?)?)
    }
}

#[async_trait]
impl Store for PgStore {
    async fn profile(&self, username: &str) -> Result<Option<Versioned<Profile>>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT record::text, version FROM profiles WHERE username = $1")
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        let Some((record, version)) = row else {
            return Ok(None);
        };
        let value =
            decode::<StoredProfile>(record.as_bytes())?.open(username, self.seal.as_ref())?;
        Ok(Some(Versioned {
            value,
            raw: raw_version(version),
        }))
    }

    async fn swap_profile(
        &self,
        username: &str,
        expected: Option<&Versioned<Profile>>,
        new: Option<&Profile>,
    ) -> Result<bool, StoreError> {
        let record = match new {
            Some(p) => Some(json_text(encode(&StoredProfile::sealed(
                p,
                username,
                self.seal.as_ref(),
            )?)?)?),
            None => None,
        };
        let expected = match expected {
            Some(e) => match version_of(&e.raw) {
                Some(v) => Some(v),
                None => return Ok(false),
            },
            None => None,
        };
        let enrolled_at = new.map_or(0, |p| bigint(p.enrolled_at));
        let query = match (expected, &record) {
            (None, Some(record)) => sqlx::query(
                "INSERT INTO profiles (username, enrolled_at, record)
                 VALUES ($1, $2, $3::jsonb) ON CONFLICT (username) DO NOTHING",
            )
            .bind(username)
            .bind(enrolled_at)
            .bind(record.as_str()),
            (Some(version), Some(record)) => sqlx::query(
                "UPDATE profiles SET enrolled_at = $2, record = $3::jsonb,
                     version = nextval('record_versions')
                 WHERE username = $1 AND version = $4",
            )
            .bind(username)
            .bind(enrolled_at)
            .bind(record.as_str())
            .bind(version),
            (Some(version), None) => {
                sqlx::query("DELETE FROM profiles WHERE username = $1 AND version = $2")
                    .bind(username)
                    .bind(version)
            }
            (None, None) => {
                // Absent and to stay absent: true when it is.
                let present: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM profiles WHERE username = $1)",
                )
                .bind(username)
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
                return Ok(!present);
            }
        };
        let done = query.execute(&self.pool).await.map_err(store_error)?;
        Ok(done.rows_affected() == 1)
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<SessionV1>>, StoreError> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT record::text, version FROM sessions WHERE key = $1")
                .bind(key.0.as_slice())
                .fetch_optional(&self.pool)
                .await
                .map_err(store_error)?;
        row.map(|(record, version)| self.read_session(record, version))
            .transpose()
    }

    async fn insert_session(
        &self,
        key: &SessionKey,
        session: &SessionV1,
    ) -> Result<(), StoreError> {
        let record = self.session_record(session)?;
        // `xmax = 0`: the row is new (an existing key is overwritten, as in every engine).
        let inserted: bool = sqlx::query_scalar(
            "INSERT INTO sessions (key, username, created_at, expires_at, attempts, record)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb)
             ON CONFLICT (key) DO UPDATE SET username = EXCLUDED.username,
                 created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at,
                 attempts = EXCLUDED.attempts, record = EXCLUDED.record,
                 version = nextval('record_versions')
             RETURNING xmax = 0",
        )
        .bind(key.0.as_slice())
        .bind(session.username.as_str())
        .bind(bigint(session.created_at))
        .bind(bigint(session.expires_at))
        .bind(i32::try_from(session.attempts).unwrap_or(i32::MAX))
        .bind(record)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        if inserted {
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
        let Some(version) = version_of(&expected.raw) else {
            return Ok(false);
        };
        let done = match new {
            Some(session) => sqlx::query(
                "UPDATE sessions SET username = $3, created_at = $4, expires_at = $5,
                     attempts = $6, record = $7::jsonb, version = nextval('record_versions')
                 WHERE key = $1 AND version = $2",
            )
            .bind(key.0.as_slice())
            .bind(version)
            .bind(session.username.as_str())
            .bind(bigint(session.created_at))
            .bind(bigint(session.expires_at))
            .bind(i32::try_from(session.attempts).unwrap_or(i32::MAX))
            .bind(self.session_record(session)?),
            None => sqlx::query("DELETE FROM sessions WHERE key = $1 AND version = $2")
                .bind(key.0.as_slice())
                .bind(version),
        }
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        let swapped = done.rows_affected() == 1;
        if swapped && new.is_none() {
            // Saturating: another instance's sweep may have been counted here meanwhile.
            let _ = self
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
        Ok(swapped)
    }

    async fn sessions_of(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError> {
        let rows: Vec<(Vec<u8>, String, i64)> =
            sqlx::query_as("SELECT key, record::text, version FROM sessions WHERE username = $1")
                .bind(username)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        let mut found = Vec::with_capacity(rows.len());
        for (key, record, version) in rows {
            let key: [u8; 32] = key
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a session key is not 32 bytes".into()))?;
            found.push((SessionKey(key), self.read_session(record, version)?));
        }
        Ok(found)
    }

    async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_counter(key).await
    }

    async fn update_counter(
        &self,
        key: &[u8],
        update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        self.update_counter_locked(key, update).await
    }

    async fn sweep(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError> {
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(bigint(now))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        let counters = self.sweep_counters(now, expired).await?;
        self.count_pending().await?;
        Ok(usize::try_from(sessions).unwrap_or(usize::MAX) + counters)
    }

    async fn log_attempt(&self, record: AttemptRecord) -> Result<(), StoreError> {
        self.log_writer.write(record)
    }

    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        self.find_attempts(&AttemptFilter::all(), limit).await
    }

    async fn find_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        // What was logged before this call is readable: the writer catches up first.
        self.log_writer.drain().await?;
        self.select_attempts(filter, limit).await
    }

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        self.log_writer.drain().await?;
        self.attempt_by_id(id).await
    }

    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError> {
        self.log_writer.drain().await?;
        let done = sqlx::query("DELETE FROM attempts_log WHERE at < $1")
            .bind(bigint(before))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
    }

    async fn put_send(&self, record: &SendRecord) -> Result<(), StoreError> {
        sends::put(&self.pool, record).await
    }

    async fn send(&self, id: &str) -> Result<Option<SendRecord>, StoreError> {
        sends::by_id(&self.pool, id).await
    }

    async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError> {
        sends::by_provider_message(&self.pool, provider, message_id).await
    }

    async fn find_sends(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        sends::find(&self.pool, filter, limit).await
    }

    async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError> {
        sends::sweep(&self.pool, before).await
    }

    fn pending_sessions(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        // Every statement has committed before it returned (see the module's documentation).
        Ok(())
    }

    async fn flush_all(&self) -> Result<(), StoreError> {
        self.log_writer.drain().await
    }

    async fn export(&self) -> Result<Vec<BackupRecord>, StoreError> {
        self.log_writer.drain().await?;
        self.export_all().await
    }

    async fn import(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        self.import_all(records).await?;
        self.count_pending().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(
            PING_TIMEOUT,
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&self.pool),
        )
        .await
        {
            Ok(answer) => answer.map(|_| ()).map_err(store_error),
            Err(_) => Err(StoreError::Unavailable(format!(
                "the database did not answer within {} s",
                PING_TIMEOUT.as_secs()
            ))),
        }
    }
}

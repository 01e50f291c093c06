//! [`PgStore`]'s side of backups and of moving a sled directory into PostgreSQL: the copy of
//! every table at one moment (one `REPEATABLE READ` transaction), and the import that writes
//! records as they are, sealed values still sealed under the same secret.

use super::error::store_error;
use super::{bigint, json_text, PgStore};
use crate::store::{
    decode, AttemptRecord, BackupRecord, Collection, SealedProfile, SealedSession, StoreError,
    StoredProfile, StoredSession,
};

impl PgStore {
    /// Every record as all were at one moment. Attempts-log entries get keys as the sled
    /// store makes them (time, then number, big-endian), so a backup restores into either.
    pub(super) async fn export_all(&self) -> Result<Vec<BackupRecord>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let mut out = Vec::new();
        let profiles: Vec<(String, String)> =
            sqlx::query_as("SELECT username, record::text FROM profiles ORDER BY username")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for (username, record) in profiles {
            out.push(BackupRecord {
                collection: Collection::Profiles,
                key: username.into_bytes(),
                value: record.into_bytes(),
            });
        }
        let sessions: Vec<(Vec<u8>, String)> =
            sqlx::query_as("SELECT key, record::text FROM sessions ORDER BY key")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for (key, record) in sessions {
            out.push(BackupRecord {
                collection: Collection::Sessions,
                key,
                value: record.into_bytes(),
            });
        }
        let counters: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT key, value FROM counters WHERE value IS NOT NULL ORDER BY key")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for (key, value) in counters {
            out.push(BackupRecord {
                collection: Collection::Counters,
                key,
                value,
            });
        }
        let log: Vec<(i64, i64, String)> =
            sqlx::query_as("SELECT id, at, record::text FROM attempts_log ORDER BY at, id")
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for (id, at, record) in log {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&at.to_be_bytes());
            key[8..].copy_from_slice(&id.to_be_bytes());
            let mut entry: AttemptRecord = decode(record.as_bytes())?;
            entry.id = hex::encode(key);
            out.push(BackupRecord {
                collection: Collection::AttemptsLog,
                key: key.to_vec(),
                value: crate::store::encode(&entry)?,
            });
        }
        tx.commit().await.map_err(store_error)?;
        Ok(out)
    }

    /// Writes `records` in one transaction, each replacing what is under its key; the readable
    /// columns (expiry, username, …) are read from the records, which are not opened.
    pub(super) async fn import_all(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        for r in records {
            match r.collection {
                Collection::Profiles => {
                    let username = String::from_utf8(r.key)
                        .map_err(|_| StoreError::Corrupt("a username is not UTF-8".into()))?;
                    let enrolled_at = match decode::<StoredProfile>(&r.value)? {
                        StoredProfile::V1(p)
                        | StoredProfile::V2(SealedProfile { profile: p, .. }) => p.enrolled_at,
                    };
                    sqlx::query(
                        "INSERT INTO profiles (username, enrolled_at, record)
                         VALUES ($1, $2, $3::jsonb)
                         ON CONFLICT (username) DO UPDATE SET enrolled_at = EXCLUDED.enrolled_at,
                             record = EXCLUDED.record, version = nextval('record_versions')",
                    )
                    .bind(username)
                    .bind(bigint(enrolled_at))
                    .bind(json_text(r.value)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
                Collection::Sessions => {
                    if r.key.len() != 32 {
                        return Err(StoreError::Corrupt(
                            "a session key of a backup is not 32 bytes".into(),
                        ));
                    }
                    let s = match decode::<StoredSession>(&r.value)? {
                        StoredSession::V1(s)
                        | StoredSession::V2(SealedSession { session: s, .. }) => s,
                    };
                    sqlx::query(
                        "INSERT INTO sessions
                             (key, username, created_at, expires_at, attempts, record)
                         VALUES ($1, $2, $3, $4, $5, $6::jsonb)
                         ON CONFLICT (key) DO UPDATE SET username = EXCLUDED.username,
                             created_at = EXCLUDED.created_at,
                             expires_at = EXCLUDED.expires_at, attempts = EXCLUDED.attempts,
                             record = EXCLUDED.record, version = nextval('record_versions')",
                    )
                    .bind(r.key)
                    .bind(s.username)
                    .bind(bigint(s.created_at))
                    .bind(bigint(s.expires_at))
                    .bind(i32::try_from(s.attempts).unwrap_or(i32::MAX))
                    .bind(json_text(r.value)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
                Collection::Counters => {
                    let expires_at = self
                        .counter_expiry
                        .and_then(|expired| super::counters::expiry(expired, &r.value))
                        .map(bigint);
                    sqlx::query(
                        "INSERT INTO counters (key, value, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value,
                             expires_at = EXCLUDED.expires_at",
                    )
                    .bind(r.key)
                    .bind(r.value)
                    .bind(expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
                Collection::AttemptsLog => {
                    let mut entry: AttemptRecord = decode(&r.value)?;
                    entry.id = String::new();
                    sqlx::query(
                        "INSERT INTO attempts_log
                             (at, username, method, route, status, outcome, record)
                         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)",
                    )
                    .bind(bigint(entry.time))
                    .bind(entry.username.as_str())
                    .bind(entry.method.as_str())
                    .bind(entry.route.as_str())
                    .bind(i32::from(entry.status))
                    .bind(entry.outcome.as_str())
                    .bind(json_text(crate::store::encode(&entry)?)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                }
            }
        }
        tx.commit().await.map_err(store_error)
    }
}

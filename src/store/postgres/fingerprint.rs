//! The fingerprint of the server secret kept in the database: every instance on one database
//! must key its hashes and seal its values with the same secret, or every lookup silently
//! misses. The first instance writes it; every later one compares and refuses to start on
//! another secret. It is an HMAC of a fixed label under the secret: it tells two secrets
//! apart, and nothing about either.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::PgPool;

use super::error::store_error;
use crate::store::StoreError;

/// What the fingerprint is an HMAC of.
const LABEL: &[u8] = b"mfa-bridge storage secret fingerprint v1";
/// Its key in the `meta` table.
const KEY: &str = "secret_fingerprint";

/// The fingerprint of `secret`, in hexadecimal.
pub(crate) fn fingerprint(secret: &[u8; 32]) -> Result<String, StoreError> {
    // HMAC takes keys of every length (RFC 2104): the error cannot happen.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    mac.update(LABEL);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Writes the fingerprint of `secret` if the database has none; else checks it is the same.
pub(crate) async fn check(pool: &PgPool, secret: &[u8; 32]) -> Result<(), StoreError> {
    let ours = fingerprint(secret)?;
    let stored: String = sqlx::query_scalar(
        "WITH written AS (
             INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO NOTHING
             RETURNING value)
         SELECT value FROM written
         UNION ALL
         SELECT value FROM meta WHERE key = $1
         LIMIT 1",
    )
    .bind(KEY)
    .bind(&ours)
    .fetch_one(pool)
    .await
    .map_err(store_error)?;
    if stored == ours {
        Ok(())
    } else {
        Err(StoreError::Backend(
            "storage.secret is not the one this database was set up with: its table meta \
             holds the fingerprint of another server secret. Every instance on one database \
             must be given the same storage.secret, or the same storage.secret_file (the \
             records are keyed and sealed with it)"
                .into(),
        ))
    }
}

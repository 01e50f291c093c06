//! Backups: every record of a store, copied at one moment, as a file of JSON lines that any
//! store can read back ([`Store::export`], [`Store::import`]).
//!
//! A backup is logical, not a copy of sled's files: sled holds its files locked and changing
//! while the daemon runs, and its format may change between versions, where these lines do not.
//! The server secret is not in it (every stored hash and sealed value is keyed by that secret,
//! which never changes): a backup alone reveals no code, no TOTP secret and, once sealed, no
//! personal data. Its header carries a fingerprint of the secret, so that a restore under
//! another secret is refused instead of leaving every user unable to log in.
//!
//! The file: a header line, one line per record (key and value in base64), an end line with the
//! count, so that a truncated file is refused.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hmac::{digest::KeyInit, Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{server_secret_if_any, SledStore, Store, StoreError};

/// The name of the backup file in the folder given to `backup --to` and `restore --from`.
pub const BACKUP_FILE: &str = "mfa-bridge-backup.jsonl";

/// What the header's `format` says.
const FORMAT: &str = "mfa-bridge backup";
/// The version of the line format this build writes and reads.
pub const BACKUP_VERSION: u32 = 1;

/// The collections of a store, named as in the backup file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    Profiles,
    Sessions,
    Counters,
    AttemptsLog,
}

/// One stored record: its collection, its key and its stored bytes. Its `Debug` shows sizes
/// only (a value may hold personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct BackupRecord {
    pub collection: Collection,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for BackupRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BackupRecord({:?}, {} key bytes, {} value bytes)",
            self.collection,
            self.key.len(),
            self.value.len()
        )
    }
}

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupHeader {
    pub format: String,
    pub version: u32,
    /// Seconds since the epoch, on the daemon's clock.
    pub created_at: u64,
    /// The version of mfa-bridge that made it.
    pub made_by: String,
    /// [`key_fingerprint`] of the server secret the records are keyed by.
    pub key_fingerprint: String,
}

impl BackupHeader {
    pub fn new(created_at: u64, key_fingerprint: String) -> BackupHeader {
        BackupHeader {
            format: FORMAT.to_string(),
            version: BACKUP_VERSION,
            created_at,
            made_by: env!("CARGO_PKG_VERSION").to_string(),
            key_fingerprint,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    c: Collection,
    k: String,
    v: String,
}

#[derive(Serialize, Deserialize)]
struct End {
    end: bool,
    records: usize,
}

/// Why a backup could not be read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{dir} already holds a database: restore writes into an empty data directory (stop the daemon, move {dir} away or point storage.path at a new one)"
    )]
    NotEmpty { dir: String },
    #[error(
        "no server secret for {dir}: the backup's records are keyed by the secret it was made under; copy the file server-secret of the original data directory into {dir}, or set storage.secret as it was"
    )]
    NoSecret { dir: String },
    #[error(
        "the backup was made under another server secret (fingerprint {backup}, this data directory's is {here}): copy the file server-secret of the original data directory, or set storage.secret as it was"
    )]
    OtherSecret { backup: String, here: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A fingerprint of a server secret: 16 hexadecimal characters of a keyed hash of a fixed
/// label, enough to tell two secrets apart and nothing about either.
pub fn key_fingerprint(secret: &[u8; 32]) -> String {
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(secret);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&key.into());
    mac.update(b"mfa-bridge backup key fingerprint");
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// The backup file's bytes: the header, the records, the end line.
pub fn encode_backup(header: &BackupHeader, records: &[BackupRecord]) -> Vec<u8> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(128 + records.len() * 160);
    let mut line = |value: serde_json::Result<Vec<u8>>| {
        // These types always serialize; an empty line would be refused on reading anyway.
        out.extend(value.unwrap_or_default());
        out.push(b'\n');
    };
    line(serde_json::to_vec(header));
    for r in records {
        line(serde_json::to_vec(&Line {
            c: r.collection,
            k: b64.encode(&r.key),
            v: b64.encode(&r.value),
        }));
    }
    line(serde_json::to_vec(&End {
        end: true,
        records: records.len(),
    }));
    out
}

/// Reads a backup file's bytes; refuses another format, a newer version, a bad line and a
/// truncated file.
pub fn decode_backup(bytes: &[u8]) -> Result<(BackupHeader, Vec<BackupRecord>), BackupError> {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let text = std::str::from_utf8(bytes)
        .map_err(|_| BackupError::Invalid("not a backup: not UTF-8 text".into()))?;
    let mut lines = text.lines().enumerate();
    let header: BackupHeader = lines
        .next()
        .and_then(|(_, l)| serde_json::from_str(l).ok())
        .filter(|h: &BackupHeader| h.format == FORMAT)
        .ok_or_else(|| BackupError::Invalid("not an mfa-bridge backup (first line)".into()))?;
    if header.version > BACKUP_VERSION {
        return Err(BackupError::Invalid(format!(
            "backup format version {} is newer than this mfa-bridge reads ({BACKUP_VERSION}): restore it with the version that made it ({})",
            header.version, header.made_by
        )));
    }
    let mut records = Vec::new();
    for (n, line) in lines {
        if let Ok(end) = serde_json::from_str::<End>(line) {
            if !end.end || end.records != records.len() {
                return Err(BackupError::Invalid(format!(
                    "line {}: the backup says {} records, {} were read",
                    n + 1,
                    end.records,
                    records.len()
                )));
            }
            return Ok((header, records));
        }
        let bad = |what: &str| BackupError::Invalid(format!("line {}: {what}", n + 1));
        let l: Line = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        records.push(BackupRecord {
            collection: l.c,
            key: b64.decode(&l.k).map_err(|_| bad("the key is not base64"))?,
            value: b64
                .decode(&l.v)
                .map_err(|_| bad("the value is not base64"))?,
        });
    }
    Err(BackupError::Invalid(
        "the backup is truncated (no end line): it was not written to the end".into(),
    ))
}

/// Writes `bytes` as `dir`/[`BACKUP_FILE`] (mode 0600, `dir` created 0700 when missing),
/// through a temporary file and a rename, so that a backup file is whole or absent.
pub fn write_backup_file(dir: &Path, bytes: &[u8]) -> Result<PathBuf, BackupError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    let path = dir.join(BACKUP_FILE);
    let partial = dir.join(format!("{BACKUP_FILE}.partial"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .map_err(io(&partial))?;
    file.write_all(bytes).map_err(io(&partial))?;
    file.sync_all().map_err(io(&partial))?;
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    Ok(path)
}

/// What a restore wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub header: BackupHeader,
    pub records: usize,
    pub profiles: usize,
}

/// Restores `from`/[`BACKUP_FILE`] into the data directory `data_dir`, which must hold no
/// database (the daemon stopped; a running one holds its database locked). The server secret
/// there (`configured`, else the file `server-secret` in `data_dir`) must be the one the backup
/// was made under.
pub async fn restore(
    from: &Path,
    data_dir: &Path,
    configured: Option<&super::SecretSetting>,
) -> Result<Restored, BackupError> {
    let file = from.join(BACKUP_FILE);
    let bytes = std::fs::read(&file).map_err(io(&file))?;
    let (header, records) = decode_backup(&bytes)?;
    let db = data_dir.join("db");
    let has_db = match std::fs::read_dir(&db) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(&db)(e)),
    };
    if has_db {
        return Err(BackupError::NotEmpty {
            dir: data_dir.display().to_string(),
        });
    }
    let secret = server_secret_if_any(data_dir, configured)
        .map_err(io(data_dir))?
        .ok_or_else(|| BackupError::NoSecret {
            dir: data_dir.display().to_string(),
        })?;
    let here = key_fingerprint(&secret);
    if here != header.key_fingerprint {
        return Err(BackupError::OtherSecret {
            backup: header.key_fingerprint,
            here,
        });
    }
    let profiles = records
        .iter()
        .filter(|r| r.collection == Collection::Profiles)
        .count();
    let count = records.len();
    let store = SledStore::open(data_dir)?;
    store.import(records).await?;
    store.flush_all().await?;
    Ok(Restored {
        header,
        records: count,
        profiles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn records() -> Vec<BackupRecord> {
        vec![
            BackupRecord {
                collection: Collection::Profiles,
                key: b"alice".to_vec(),
                value: br#"{"v":1}"#.to_vec(),
            },
            BackupRecord {
                collection: Collection::Counters,
                key: vec![0, 255, 7],
                value: vec![1, 2, 3],
            },
        ]
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let header = BackupHeader::new(1_700_000_000, key_fingerprint(&[7; 32]));
        let bytes = encode_backup(&header, &records());

        let (read, back) = decode_backup(&bytes).unwrap();

        assert_eq!(read, header);
        assert_eq!(back, records());
    }

    #[test]
    fn a_truncated_backup_is_refused() {
        let bytes = encode_backup(&BackupHeader::new(1, "f".into()), &records());
        let text = String::from_utf8(bytes).unwrap();
        let without_end: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();

        let error = decode_backup(without_end.as_bytes()).unwrap_err();

        assert!(error.to_string().contains("truncated"), "{error}");
    }

    #[test]
    fn a_newer_format_is_refused_with_the_version_that_made_it() {
        let mut header = BackupHeader::new(1, "f".into());
        header.version = BACKUP_VERSION + 1;
        header.made_by = "9.9.9".into();

        let error = decode_backup(&encode_backup(&header, &[])).unwrap_err();

        assert!(error.to_string().contains("9.9.9"), "{error}");
    }

    #[test]
    fn fingerprints_tell_secrets_apart() {
        assert_eq!(key_fingerprint(&[1; 32]), key_fingerprint(&[1; 32]));
        assert_ne!(key_fingerprint(&[1; 32]), key_fingerprint(&[2; 32]));
        assert_eq!(key_fingerprint(&[1; 32]).len(), 16);
    }

    #[tokio::test]
    async fn every_record_of_a_memory_store_goes_into_another() {
        let from = MemoryStore::new();
        from.import(records()).await.unwrap();

        let exported = from.export().await.unwrap();
        let to = MemoryStore::new();
        to.import(exported.clone()).await.unwrap();

        assert_eq!(to.export().await.unwrap(), exported);
        assert_eq!(exported.len(), 2);
    }

    #[tokio::test]
    async fn a_restore_refuses_another_secret_and_a_data_directory_in_use() {
        let source = tempfile::tempdir().unwrap();
        let store = SledStore::open(source.path()).unwrap();
        store.import(records()).await.unwrap();
        let header = BackupHeader::new(1, key_fingerprint(&[3; 32]));
        let backup = tempfile::tempdir().unwrap();
        write_backup_file(
            backup.path(),
            &encode_backup(&header, &store.export().await.unwrap()),
        )
        .unwrap();
        let other = crate::store::SecretSetting::Text(crate::domain::Secret::new(
            "another secret of at least thirty-two characters".into(),
        ));
        let empty = tempfile::tempdir().unwrap();

        let refused = restore(backup.path(), empty.path(), Some(&other)).await;
        assert!(matches!(refused, Err(BackupError::OtherSecret { .. })));
        let refused = restore(backup.path(), empty.path(), None).await;
        assert!(matches!(refused, Err(BackupError::NoSecret { .. })));
        let refused = restore(backup.path(), source.path(), Some(&other)).await;
        assert!(matches!(refused, Err(BackupError::NotEmpty { .. })));
    }
}

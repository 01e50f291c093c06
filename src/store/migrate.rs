//! Moving the records of a sled data directory into another store (PostgreSQL), so that an
//! operator can go from one instance to several: `mfa-bridge migrate-store --from sled:PATH`.
//!
//! The records are copied as they are stored ([`Store::export`], [`Store::import`]): every
//! hash and sealed value in them is keyed by the server secret, so the target must run under
//! the same secret, and that is checked before anything is written (the secret file of the
//! sled directory, and the sealed records opened under the configured secret). The target must
//! be empty: a copy merged into live data could resurrect used sessions and codes.

use std::path::{Path, PathBuf};

use super::backup::{key_fingerprint, Collection};
use super::{server_secret_if_any, Seal, SessionKey, SledStore, Store, StoreError};

/// Where the records come from: `sled:PATH`, the `storage.path` of a sled daemon (stopped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationSource {
    Sled(PathBuf),
}

impl std::str::FromStr for MigrationSource {
    type Err = MigrateError;

    fn from_str(s: &str) -> Result<MigrationSource, MigrateError> {
        match s.split_once(':') {
            Some(("sled", path)) if !path.is_empty() => Ok(MigrationSource::Sled(path.into())),
            _ => Err(MigrateError::Source(s.to_string())),
        }
    }
}

/// Why a migration did not happen (nothing was written then), or failed while writing.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("--from {0}: expected sled:PATH, the storage.path of the sled daemon to copy")]
    Source(String),
    #[error(
        "{dir} holds no sled database (no {dir}/db): give the storage.path of the sled daemon"
    )]
    NoDatabase { dir: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the sled directory {dir} was keyed by another server secret (its file server-secret has fingerprint {sled}, storage.secret gives {configured}): its codes and sealed data would not open under storage.secret; the target must run with the secret the sled daemon ran with"
    )]
    OtherSecretFile {
        dir: String,
        sled: String,
        configured: String,
    },
    #[error(
        "the records of {dir} do not open under storage.secret ({what}): the sled daemon ran with another storage.secret; the target must run with the secret the sled daemon ran with"
    )]
    DoNotOpen { dir: String, what: String },
    #[error(
        "the target store is not empty ({0} records): migrate-store copies into an empty database only (a copy merged into live data could bring used sessions back)"
    )]
    NotEmpty(usize),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// What a migration copied, per collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub profiles: usize,
    pub sessions: usize,
    pub counters: usize,
    pub attempts: usize,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records: {} enrolled users (profiles), {} pending sessions, {} counters \
             (attempt tallies and send logs), {} attempts-log entries",
            self.profiles + self.sessions + self.counters + self.attempts,
            self.profiles,
            self.sessions,
            self.counters,
            self.attempts
        )
    }
}

/// The records of a sled data directory, read and checked against the server secret, ready
/// to be copied: nothing is opened on the target before the source is known to be good.
pub struct SledSource {
    records: Vec<super::BackupRecord>,
}

impl SledSource {
    /// Reads every record of the sled data directory `dir` (its daemon stopped: sled holds it
    /// locked), after checking that `secret` (the server secret of the target's configuration)
    /// is the one they were keyed by.
    pub async fn read(dir: &Path, secret: &[u8; 32]) -> Result<SledSource, MigrateError> {
        let shown = dir.display().to_string();
        let has_db = std::fs::read_dir(dir.join("db"))
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !has_db {
            return Err(MigrateError::NoDatabase { dir: shown });
        }
        let io = |source| MigrateError::Io {
            path: shown.clone(),
            source,
        };
        if let Some(file) = server_secret_if_any(dir, None).map_err(io)? {
            if &file != secret {
                return Err(MigrateError::OtherSecretFile {
                    dir: shown,
                    sled: key_fingerprint(&file),
                    configured: key_fingerprint(secret),
                });
            }
        }
        let sled = SledStore::open(dir)?.with_seal(Seal::new(*secret));
        let records = sled.export().await?;
        opens_under_the_secret(&sled, &records, &shown).await?;
        Ok(SledSource { records })
    }

    /// Writes the records into `target`, which must be empty.
    pub async fn copy_into(self, target: &dyn Store) -> Result<Copied, MigrateError> {
        let already = target.export().await?.len();
        if already > 0 {
            return Err(MigrateError::NotEmpty(already));
        }
        let mut copied = Copied::default();
        for r in &self.records {
            match r.collection {
                Collection::Profiles => copied.profiles += 1,
                Collection::Sessions => copied.sessions += 1,
                Collection::Counters => copied.counters += 1,
                Collection::AttemptsLog => copied.attempts += 1,
            }
        }
        target.import(self.records).await?;
        target.flush_all().await?;
        Ok(copied)
    }
}

/// Every profile and session of `records` read back through `sled`, whose seal is the
/// configured secret's: a sealed value that does not open says the secret is another.
async fn opens_under_the_secret(
    sled: &SledStore,
    records: &[super::BackupRecord],
    dir: &str,
) -> Result<(), MigrateError> {
    let refused = |what: String| MigrateError::DoNotOpen {
        dir: dir.to_string(),
        what,
    };
    for r in records {
        match r.collection {
            Collection::Profiles => {
                let username = String::from_utf8_lossy(&r.key).into_owned();
                if let Err(StoreError::Corrupt(e)) = sled.profile(&username).await {
                    return Err(refused(format!("the profile of {username}: {e}")));
                }
            }
            Collection::Sessions => {
                let Ok(key) = <[u8; 32]>::try_from(r.key.as_slice()) else {
                    continue;
                };
                if let Err(StoreError::Corrupt(e)) = sled.session(&SessionKey(key)).await {
                    return Err(refused(format!("a pending session: {e}")));
                }
            }
            Collection::Counters | Collection::AttemptsLog => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store::{MemoryStore, Profile};

    fn profile() -> Profile {
        Profile {
            user_data: BTreeMap::from([("phone".to_string(), "+41791234567".to_string())]),
            recovery_codes: Vec::new(),
            enrolled_at: 1,
            enrolment: "e1".to_string(),
            methods: Vec::new(),
            totp: None,
        }
    }

    /// A sled directory (closed again) holding one sealed profile under `secret`.
    async fn sled_dir(secret: [u8; 32]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path())
            .unwrap()
            .with_seal(Seal::new(secret));
        assert!(store
            .swap_profile("alice", None, Some(&profile()))
            .await
            .unwrap());
        store.flush_all().await.unwrap();
        dir
    }

    #[test]
    fn the_source_is_sled_and_a_path() {
        assert_eq!(
            "sled:/var/lib/mfa".parse::<MigrationSource>().unwrap(),
            MigrationSource::Sled("/var/lib/mfa".into())
        );
        for bad in ["/var/lib/mfa", "sled:", "postgres:x"] {
            assert!(bad.parse::<MigrationSource>().is_err(), "{bad}");
        }
    }

    async fn copy_sled_into(
        dir: &Path,
        secret: &[u8; 32],
        target: &dyn Store,
    ) -> Result<Copied, MigrateError> {
        SledSource::read(dir, secret).await?.copy_into(target).await
    }

    #[tokio::test]
    async fn the_records_of_a_sled_directory_go_into_an_empty_store_as_they_were() {
        let dir = sled_dir([4; 32]).await;
        let target = MemoryStore::new();

        let copied = copy_sled_into(dir.path(), &[4; 32], &target).await.unwrap();

        assert_eq!(copied.profiles, 1);
        let sled = SledStore::open(dir.path()).unwrap();
        assert_eq!(target.export().await.unwrap(), sled.export().await.unwrap());
    }

    #[tokio::test]
    async fn another_secret_is_refused_before_anything_is_written() {
        let dir = sled_dir([4; 32]).await;
        let target = MemoryStore::new();

        let refused = copy_sled_into(dir.path(), &[5; 32], &target).await;

        assert!(
            matches!(refused, Err(MigrateError::DoNotOpen { .. })),
            "{refused:?}"
        );
        assert!(target.export().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_generated_secret_file_must_be_the_configured_secret() {
        let dir = sled_dir([6; 32]).await;
        std::fs::write(dir.path().join("server-secret"), hex::encode([6u8; 32])).unwrap();
        let target = MemoryStore::new();

        let refused = copy_sled_into(dir.path(), &[7; 32], &target).await;
        assert!(
            matches!(refused, Err(MigrateError::OtherSecretFile { .. })),
            "{refused:?}"
        );
        copy_sled_into(dir.path(), &[6; 32], &target).await.unwrap();
    }

    #[tokio::test]
    async fn a_target_that_holds_records_is_refused() {
        let dir = sled_dir([4; 32]).await;
        let target = MemoryStore::new();
        target
            .swap_profile("bob", None, Some(&profile()))
            .await
            .unwrap();

        let refused = copy_sled_into(dir.path(), &[4; 32], &target).await;

        assert!(
            matches!(refused, Err(MigrateError::NotEmpty(1))),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_folder_without_a_sled_database_is_named() {
        let empty = tempfile::tempdir().unwrap();
        let refused = copy_sled_into(empty.path(), &[4; 32], &MemoryStore::new()).await;
        assert!(
            matches!(refused, Err(MigrateError::NoDatabase { .. })),
            "{refused:?}"
        );
    }
}

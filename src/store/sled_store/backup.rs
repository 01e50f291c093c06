//! [`SledStore`]'s side of backups: the copy of every tree at one moment, and the import that
//! rebuilds the session expiry index instead of reading it.

use std::sync::atomic::Ordering;

use super::{backend, expiry_key, SledStore};
use crate::store::{decode, BackupRecord, Collection, SessionKey, StoreError, StoredSession};

impl SledStore {
    /// Every record: profiles, sessions and counters with no write under way (the gate held
    /// alone while they are copied into memory), then the attempts log, whose entries stand
    /// alone (it is written by its own thread, in batches).
    pub(super) fn export_blocking(&self) -> Result<Vec<BackupRecord>, StoreError> {
        let mut out = Vec::new();
        {
            let _alone = self.gate.write().unwrap_or_else(|e| e.into_inner());
            for (collection, tree) in [
                (Collection::Profiles, &self.profiles),
                (Collection::Sessions, &self.sessions),
                (Collection::Counters, &self.counters),
            ] {
                copy(collection, tree, &mut out)?;
            }
        }
        copy(Collection::AttemptsLog, &self.attempts_log, &mut out)?;
        Ok(out)
    }

    /// Writes `records` as they are; a session also gets its entry in the expiry index (so
    /// that the sweeper finds it) and is counted as pending.
    pub(super) fn import_blocking(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        let _writing = self.writing();
        for r in records {
            let tree = match r.collection {
                Collection::Profiles => &self.profiles,
                Collection::Counters => &self.counters,
                Collection::AttemptsLog => &self.attempts_log,
                Collection::Sessions => {
                    let key: [u8; 32] = r.key.as_slice().try_into().map_err(|_| {
                        StoreError::Corrupt("a session key of a backup is not 32 bytes".into())
                    })?;
                    let expires_at = decode::<StoredSession>(&r.value)?.expires_at();
                    self.expiry
                        .insert(expiry_key(expires_at, &SessionKey(key)), &[])
                        .map_err(backend)?;
                    if self
                        .sessions
                        .insert(key, r.value)
                        .map_err(backend)?
                        .is_none()
                    {
                        self.pending.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            tree.insert(r.key, r.value).map_err(backend)?;
        }
        Ok(())
    }
}

fn copy(
    collection: Collection,
    tree: &sled::Tree,
    out: &mut Vec<BackupRecord>,
) -> Result<(), StoreError> {
    for entry in tree.iter() {
        let (key, value) = entry.map_err(backend)?;
        out.push(BackupRecord {
            collection,
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }
    Ok(())
}

//! The configuration shared by several instances on one PostgreSQL database
//! (`storage.backend: postgres`): each admin edit, on any instance, is a new version in the
//! database ([`version`]), announced by `NOTIFY`; every instance listens ([`listen`]), loads the
//! version, swaps it in through the reloader, and mirrors it into its own `platform.yml` and
//! `templates/` ([`mirror`]), keeping its per-instance keys ([`overlay`]).
//!
//! `platform.yml` stays the bootstrap: at start the first instance imports it as version 1;
//! afterwards the newest version runs, unless the host's file was changed after it (an operator
//! edited it on that host), in which case the file is imported as a new version. A host's file
//! edited while the daemon runs is imported the same way (within [`listen::POLL`]).
//!
//! Everything that changes what runs (an admin write, a rollback, applying a version, importing
//! the host's file) happens under the reloader's lock, on a blocking thread: no two interleave,
//! and what runs is always one version. An admin write is checked against the version it was
//! made on: if another instance published one meanwhile, it is refused (409 `config-changed`),
//! never silently lost.

pub mod listen;
mod mirror;
pub mod overlay;
pub mod version;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::reload::Reloader;
use super::Snapshot;
use crate::clock::Clock;
use crate::config::{ConfigErrors, EnvLookup, Problem, Source};
use version::{Parent, Refused};
pub use version::{Version, VersionText};

/// The longest one database call of a configuration change may take.
const DB_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a shared configuration change was not made.
#[derive(Debug, thiserror::Error)]
pub enum SharedError {
    /// The edit was made on version `running`, but `newest` was published meanwhile.
    #[error(
        "the configuration changed on another instance (version {newest}); read it again and retry"
    )]
    Changed { newest: i64 },
    #[error("no configuration version {0}")]
    NotFound(i64),
    #[error("the configuration database is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(ConfigErrors),
    #[error("{0}")]
    Files(String),
}

impl From<Refused> for SharedError {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Changed { newest } => SharedError::Changed { newest },
            Refused::Database(e) => SharedError::Unavailable(e.to_string()),
        }
    }
}

impl From<sqlx::Error> for SharedError {
    fn from(e: sqlx::Error) -> Self {
        SharedError::Unavailable(e.to_string())
    }
}

/// One instance's side of the shared configuration: the database, the reloader it swaps
/// snapshots through, and the version in force here.
pub struct SharedConfig {
    pool: PgPool,
    reloader: Arc<Reloader>,
    env: Arc<EnvLookup>,
    clock: Arc<dyn Clock>,
    /// This host's name, for the author of an import of its file (`file on HOST`).
    host: String,
    running: Mutex<Running>,
}

/// What this instance runs, and what it last saw of its own files.
#[derive(Debug, Default)]
struct Running {
    version: Option<Version>,
    /// The digest of `platform.yml` and `templates/` as this instance last wrote, published
    /// or refused them: a different digest on disk is an edit made on the host.
    file_hash: Option<String>,
    /// A version that does not load here (a problem is logged once, not at each poll).
    refused: Option<i64>,
}

/// Loads the shared configuration (importing the host's file when the table is empty or the
/// file is newer), makes it the one the admin writes publish to, and listens for new versions.
/// The one call the start-up makes, with the store's pool, once the application is built.
pub async fn start(
    pool: PgPool,
    reloader: Arc<Reloader>,
    env: Arc<EnvLookup>,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<SharedConfig>, JoinHandle<()>), SharedError> {
    let shared = Arc::new(SharedConfig {
        pool,
        reloader: Arc::clone(&reloader),
        env,
        clock,
        host: host_name(),
        running: Mutex::new(Running::default()),
    });
    let bootstrap = Arc::clone(&shared);
    tokio::task::spawn_blocking(move || bootstrap.bootstrap())
        .await
        .map_err(|e| SharedError::Files(format!("start-up task failed: {e}")))??;
    reloader.share(&shared);
    let listener = listen::spawn(Arc::clone(&shared));
    Ok((shared, listener))
}

impl SharedConfig {
    /// The version this instance runs.
    pub fn running(&self) -> Option<Version> {
        self.state().version.clone()
    }

    /// The newest `limit` versions, newest first.
    pub async fn versions(&self, limit: i64) -> Result<Vec<Version>, SharedError> {
        timed(version::list(&self.pool, limit)).await
    }

    /// Version `number`, with its content.
    pub async fn version(&self, number: i64) -> Result<VersionText, SharedError> {
        timed(version::get(&self.pool, number))
            .await?
            .ok_or(SharedError::NotFound(number))
    }

    /// Publishes a validated edit made on this instance (`source`: the whole new configuration)
    /// as a new version, refused if another instance published one since the version this one
    /// runs. The caller holds the reloader's lock, runs on a blocking thread, and applies the
    /// edit itself once this succeeds (its files are then what was published).
    pub fn publish(
        &self,
        source: &Source,
        author: &str,
        note: &str,
    ) -> Result<Version, SharedError> {
        let mut running = self.state();
        let parent = Parent::Is(running.version.as_ref().map(|v| v.version));
        let published = self.insert(source, author, note, parent)?;
        running.version = Some(published.clone());
        running.file_hash = Some(mirror::source_hash(source));
        Ok(published)
    }

    /// Makes a new version equal to version `number` (its text, templates and digest), published
    /// as an edit is, and runs it here (with this host's per-instance keys).
    pub fn rollback(&self, number: i64, author: &str) -> Result<Version, SharedError> {
        let _writing = self.reloader.lock();
        let old = self
            .wait(version::get(&self.pool, number))?
            .ok_or(SharedError::NotFound(number))?;
        let (source, snapshot) = self.load(&old)?;
        let parent = Parent::Is(self.state().version.as_ref().map(|v| v.version));
        let note = format!("rollback to {number}");
        let published = self.insert_text(&old, author, &note, parent)?;
        self.mirror_and_apply(&source, snapshot, Some(published.clone()));
        Ok(published)
    }

    /// Runs the newest version if it is not the one in force, after publishing the host's
    /// files if they were edited: the listener calls it on a notification, on reconnecting, and
    /// every [`listen::POLL`]. Blocking.
    pub fn sync(&self) {
        // Read before taking the lock: a database that does not answer holds no admin write.
        let newest = match self.wait(version::newest_number(&self.pool)) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "reading the shared configuration failed; retrying");
                return;
            }
        };
        let _writing = self.reloader.lock();
        if let Err(e) = self.import_host_edit() {
            tracing::warn!(error = %e, "publishing this host's platform.yml failed; retrying");
        }
        let in_force = self.state().version.as_ref().map(|v| v.version);
        if newest.is_some_and(|n| Some(n) > in_force) {
            if let Err(e) = self.catch_up() {
                tracing::warn!(error = %e, "applying the shared configuration failed; retrying");
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, Running> {
        match self.running.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Waits, on a blocking thread, for one database call (at most [`DB_TIMEOUT`]).
    fn wait<T>(
        &self,
        call: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, SharedError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| SharedError::Unavailable(format!("no runtime: {e}")))?;
        runtime.block_on(timed(call))
    }

    fn insert(
        &self,
        source: &Source,
        author: &str,
        note: &str,
        parent: Parent,
    ) -> Result<Version, SharedError> {
        let files = mirror::local_files(&source.library);
        let hash = mirror::source_hash(source);
        let insert = version::insert(
            &self.pool,
            &source.yaml,
            &files,
            &hash,
            author,
            note,
            parent,
        );
        self.wait_insert(insert)
    }

    /// Inserts a copy of version `v`.
    fn insert_text(
        &self,
        v: &VersionText,
        author: &str,
        note: &str,
        parent: Parent,
    ) -> Result<Version, SharedError> {
        let hash = &v.version.source_hash;
        let insert = version::insert(&self.pool, &v.yaml, &v.library, hash, author, note, parent);
        self.wait_insert(insert)
    }

    fn wait_insert(
        &self,
        insert: impl Future<Output = Result<Version, Refused>>,
    ) -> Result<Version, SharedError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| SharedError::Unavailable(format!("no runtime: {e}")))?;
        match runtime.block_on(tokio::time::timeout(DB_TIMEOUT, insert)) {
            Ok(result) => Ok(result?),
            Err(_) => Err(SharedError::Unavailable("timed out".into())),
        }
    }

    /// A version as it runs on this host: its text with the host's per-instance keys, its
    /// template files; validated and compiled.
    fn load(&self, v: &VersionText) -> Result<(Source, Snapshot), SharedError> {
        let source = self.source_of(v)?;
        let snapshot = Snapshot::load(&source, &*self.env).map_err(SharedError::Invalid)?;
        Ok((source, snapshot))
    }

    /// A version's text with the host's per-instance keys, and its template files.
    fn source_of(&self, v: &VersionText) -> Result<Source, SharedError> {
        let path = self.reloader.path();
        let yaml = match std::fs::read_to_string(path) {
            Ok(local) => overlay::with_local_keys(&v.yaml, &local).map_err(|message| {
                SharedError::Invalid(ConfigErrors(vec![Problem {
                    path: "platform.yml".into(),
                    message,
                }]))
            })?,
            Err(_) => v.yaml.clone(),
        };
        let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
        Ok(Source {
            library: mirror::library_of(&v.library),
            ..Source::text(yaml, base)
        })
    }

    /// Writes the version into the host's files, records `version` as the one in force (when
    /// given), then swaps its snapshot in. Files that cannot be written are logged: the version
    /// runs all the same (what every instance runs matters more than the host's copy).
    fn mirror_and_apply(&self, source: &Source, snapshot: Snapshot, version: Option<Version>) {
        let files = mirror::local_files(&source.library);
        match mirror::write(self.reloader.path(), &source.yaml, &files) {
            Ok(()) => self.state().file_hash = Some(mirror::source_hash(source)),
            Err(e) => {
                tracing::error!(error = %e, "writing the shared configuration to this host's files failed")
            }
        }
        if let Some(version) = version {
            let mut running = self.state();
            running.version = Some(version);
            running.refused = None;
        }
        self.reloader.apply(snapshot, self.clock.now());
    }

    /// Applies the newest version if it is not the one in force. The caller holds the lock.
    fn catch_up(&self) -> Result<(), SharedError> {
        let in_force = self.state().version.as_ref().map(|v| v.version);
        match self.wait(version::newest(&self.pool))? {
            Some(v) if Some(v.version.version) != in_force => self.run(v),
            _ => Ok(()),
        }
    }

    /// Runs version `v` here (the caller holds the lock); one that does not load here is
    /// logged (once) and the one in force stays.
    fn run(&self, v: VersionText) -> Result<(), SharedError> {
        match self.load(&v) {
            Ok((source, snapshot)) => {
                self.mirror_and_apply(&source, snapshot, Some(v.version.clone()));
                tracing::info!(
                    version = v.version.version,
                    author = %v.version.author,
                    "shared configuration applied"
                );
                Ok(())
            }
            Err(SharedError::Invalid(errors)) => {
                let mut running = self.state();
                if running.refused != Some(v.version.version) {
                    running.refused = Some(v.version.version);
                    for p in &errors.0 {
                        tracing::error!(
                            version = v.version.version,
                            problem = %p,
                            "shared configuration refused on this instance: the one in force stays"
                        );
                    }
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Publishes the host's `platform.yml` and `templates/` when they differ from what this
    /// instance last wrote or published (an operator edited them here), if they are valid. The
    /// last writer wins: the edit is made on top of the newest version, both kept in history.
    fn import_host_edit(&self) -> Result<(), SharedError> {
        let Ok(source) = Source::read(self.reloader.path()) else {
            return Ok(());
        };
        let hash = mirror::source_hash(&source);
        if self.state().file_hash.as_deref() == Some(hash.as_str()) {
            return Ok(());
        }
        let snapshot = match Snapshot::load(&source, &*self.env) {
            Ok(s) => s,
            Err(errors) => {
                self.state().file_hash = Some(hash);
                tracing::error!(problems = %errors, "platform.yml on this host is invalid: not published");
                return Ok(());
            }
        };
        // Instances that share one folder: the file may be another one's copy of the newest
        // version, which is then adopted, not published again.
        if let Some(newest) = self.wait(version::newest(&self.pool))? {
            let as_here = self.source_of(&newest).ok();
            if as_here.is_some_and(|here| mirror::source_hash(&here) == hash) {
                let mut running = self.state();
                running.version = Some(newest.version);
                running.file_hash = Some(hash);
                drop(running);
                self.reloader.apply(snapshot, self.clock.now());
                return Ok(());
            }
        }
        let author = format!("file on {}", self.host);
        let published = self.insert(&source, &author, "edited on the host", Parent::Any)?;
        tracing::info!(
            version = published.version,
            "platform.yml of this host published"
        );
        let mut running = self.state();
        running.version = Some(published);
        running.file_hash = Some(hash);
        drop(running);
        self.reloader.apply(snapshot, self.clock.now());
        Ok(())
    }

    /// At start: imports the host's file as version 1 when there is none, or as a new version
    /// when it was changed after the newest one; otherwise runs the newest version.
    fn bootstrap(&self) -> Result<(), SharedError> {
        let _writing = self.reloader.lock();
        let source = Source::read(self.reloader.path()).map_err(SharedError::Invalid)?;
        // The file as it is now is seen: only a later edit of it is published. (Even when the
        // newest version does not load here and the file goes on running.)
        self.state().file_hash = Some(mirror::source_hash(&source));
        let author = format!("file on {}", self.host);
        let Some(newest) = self.wait(version::newest(&self.pool))? else {
            match self.insert(&source, &author, "import", Parent::Is(None)) {
                Ok(v) => {
                    tracing::info!("platform.yml imported as the shared configuration's version 1");
                    let mut running = self.state();
                    running.version = Some(v);
                    running.file_hash = Some(mirror::source_hash(&source));
                    return Ok(());
                }
                // Another instance imported its file at the same moment: that one runs.
                Err(SharedError::Changed { .. }) => {}
                Err(e) => return Err(e),
            }
            let newest = self.wait(version::newest(&self.pool))?;
            return newest.map_or(Ok(()), |v| self.run(v));
        };
        let as_here = self.source_of(&newest).ok();
        if as_here.is_some_and(|here| mirror::source_hash(&here) == mirror::source_hash(&source)) {
            // The file is the newest version: nothing to write.
            let mut running = self.state();
            running.version = Some(newest.version);
            running.file_hash = Some(mirror::source_hash(&source));
            return Ok(());
        }
        if changed_after(self.reloader.path(), newest.version.at) {
            let note = format!(
                "platform.yml changed after version {}",
                newest.version.version
            );
            let v = self.insert(&source, &author, &note, Parent::Any)?;
            tracing::info!(version = v.version, "{note}: imported");
            let mut running = self.state();
            running.version = Some(v);
            running.file_hash = Some(mirror::source_hash(&source));
            return Ok(());
        }
        self.run(newest)
    }
}

/// Runs one database call for at most [`DB_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = Result<T, sqlx::Error>>) -> Result<T, SharedError> {
    match tokio::time::timeout(DB_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(SharedError::Unavailable("timed out".into())),
    }
}

/// This machine's name (the kernel's), for the author of an import of its file.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|n| n.trim().to_string())
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "this host".into())
}

/// Whether `platform.yml` or a file of `templates/` beside it was modified after `at` (seconds
/// since the Unix epoch): the operator edited the host's file after that version was made.
fn changed_after(file: &std::path::Path, at: i64) -> bool {
    let modified = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64)
    };
    let templates = file
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("templates");
    let mut newest = modified(file);
    for folder in ["providers", "messages"] {
        if let Ok(entries) = std::fs::read_dir(templates.join(folder)) {
            for entry in entries.flatten() {
                newest = newest.max(modified(&entry.path()));
            }
        }
    }
    newest > at
}

#[cfg(test)]
pub(crate) mod tests;

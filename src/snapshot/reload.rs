//! Hot reload: `platform.yml` and `templates/` are watched (debounced), SIGHUP reloads too. A
//! new snapshot is built and validated whole, then swapped in; one that fails validation is not
//! applied: the running one stays, and the problems are logged and kept for the admin status.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use notify_debouncer_mini::notify::{self, Event, RecommendedWatcher, RecursiveMode, Watcher as _};
use serde::Serialize;

use watch::Watched;

mod watch;

use super::shared::SharedConfig;
use super::{SharedSnapshot, Snapshot};
use crate::config::{Config, EnvLookup, Problem, Source};
use crate::metrics::Metrics;

/// The outcome of the last reload, as the admin status shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadStatus {
    pub at: u64,
    pub applied: bool,
    pub problems: Vec<ProblemView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProblemView {
    pub path: String,
    pub message: String,
}

impl ReloadStatus {
    fn applied(at: u64) -> ReloadStatus {
        ReloadStatus {
            at,
            applied: true,
            problems: Vec::new(),
        }
    }
}

impl From<&Problem> for ProblemView {
    fn from(p: &Problem) -> Self {
        ProblemView {
            path: p.path.clone(),
            message: p.message.clone(),
        }
    }
}

/// Owns the swap of the shared snapshot.
pub struct Reloader {
    path: PathBuf,
    shared: SharedSnapshot,
    status: Mutex<Option<ReloadStatus>>,
    metrics: Metrics,
    /// Held from reading the file to applying it, by every reload and every admin write, so
    /// that no two of them interleave: what runs is always what the file last said.
    writing: Mutex<()>,
    /// How `${NAME}` references are resolved: as at start.
    env: Arc<EnvLookup>,
    /// The configuration shared with other instances (`storage.backend: postgres`), once
    /// [`super::shared::start`] has run: admin writes publish through it.
    shared_config: OnceLock<Weak<SharedConfig>>,
}

/// Keeps the file watcher alive.
pub struct Watch {
    _watcher: Arc<Mutex<RecommendedWatcher>>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        shared: SharedSnapshot,
        metrics: Metrics,
        env: Arc<EnvLookup>,
    ) -> Reloader {
        Reloader {
            path,
            shared,
            status: Mutex::new(None),
            metrics,
            writing: Mutex::new(()),
            env,
            shared_config: OnceLock::new(),
        }
    }

    /// The configuration shared with other instances, if this one has one.
    pub fn shared_config(&self) -> Option<Arc<SharedConfig>> {
        self.shared_config.get().and_then(Weak::upgrade)
    }

    pub(super) fn share(&self, shared: &Arc<SharedConfig>) {
        let _first_only = self.shared_config.set(Arc::downgrade(shared));
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `templates/` beside `platform.yml`.
    pub fn templates_dir(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join("templates")
    }

    /// The configuration lock: take it before reading the file for a change, keep it until
    /// the change is applied (no `.await` meanwhile).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.writing.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn status(&self) -> Option<ReloadStatus> {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set_status(&self, status: ReloadStatus) {
        match self.status.lock() {
            Ok(mut s) => *s = Some(status),
            Err(poisoned) => *poisoned.into_inner() = Some(status),
        }
    }

    /// Swaps in a validated snapshot.
    pub fn apply(&self, snapshot: Snapshot, now: u64) {
        let current = self.shared.current();
        let waiting = restart_only_changes(&current.config, &snapshot.config);
        if !waiting.is_empty() {
            tracing::warn!(
                settings = waiting.join(", "),
                "these settings change only at the next restart"
            );
        }
        for w in snapshot.templates.warnings() {
            tracing::warn!("{w}");
        }
        self.shared.replace(snapshot);
        self.metrics.reloads.with_label_values(&["applied"]).inc();
        self.set_status(ReloadStatus::applied(now));
        tracing::info!("configuration reloaded");
    }

    /// Reads the file again and applies it if it is valid and changed. `explicit` (SIGHUP)
    /// records the reload in the status even when nothing changed.
    pub fn reload(&self, now: u64, explicit: bool) -> bool {
        let _writing = self.lock();
        match Source::read(&self.path).and_then(|source| Snapshot::load(&source, &*self.env)) {
            Ok(snapshot) => {
                if snapshot.source_hash == self.shared.current().source_hash {
                    // The file is what runs: a refusal shown before is over.
                    let was_refused = self.status().is_some_and(|s| !s.applied);
                    if was_refused {
                        tracing::info!("the configuration on disk is valid again: it is what runs");
                    }
                    if explicit || was_refused {
                        self.set_status(ReloadStatus::applied(now));
                    }
                    return true;
                }
                self.apply(snapshot, now);
                true
            }
            Err(errors) => {
                for p in &errors.0 {
                    tracing::error!(problem = %p, "configuration reload refused");
                }
                self.metrics.reloads.with_label_values(&["refused"]).inc();
                self.set_status(ReloadStatus {
                    at: now,
                    applied: false,
                    problems: errors.0.iter().map(ProblemView::from).collect(),
                });
                false
            }
        }
    }

    /// Watches the file and `templates/` for changes (see [`watch`]), and listens for SIGHUP;
    /// each reloads. Events are debounced: a reload follows [`QUIET`] without a change, or
    /// [`MAX_WAIT`] of changes that do not stop.
    pub fn watch(
        self: &Arc<Self>,
        now: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<Watch, String> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let watched = Watched::new(&self.path, self.templates_dir());
        let filter = watched.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<Event>| match event {
                Ok(event) if filter.is_changed_by(&event) => {
                    let _ = tx.send(());
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "watching the configuration"),
            })
            .map_err(|e| format!("cannot watch the configuration: {e}"))?;
        // The folder, not the file: the file may be renamed over, or be a link whose target
        // folder is swapped (a Kubernetes ConfigMap).
        watcher
            .watch(watched.folder(), RecursiveMode::NonRecursive)
            .map_err(|e| format!("cannot watch {}: {e}", watched.folder().display()))?;
        if watched.templates().is_dir() {
            watcher
                .watch(watched.templates(), RecursiveMode::Recursive)
                .map_err(|e| format!("cannot watch {}: {e}", watched.templates().display()))?;
        }
        let watcher = Arc::new(Mutex::new(watcher));
        let now = Arc::new(now);
        let on_change = Arc::clone(self);
        let clock = Arc::clone(&now);
        let rewatch = Arc::clone(&watcher);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                if !settle(&mut rx).await {
                    return;
                }
                // `templates/` made, replaced or removed since: its watch follows the name.
                // Before the reload, so that no change between the two goes unseen.
                watch_templates(&rewatch, watched.templates());
                let reloader = Arc::clone(&on_change);
                let t = clock();
                let _ = tokio::task::spawn_blocking(move || reloader.reload(t, false)).await;
            }
        });
        let on_hup = Arc::clone(self);
        tokio::spawn(async move {
            let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            else {
                return;
            };
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                let reloader = Arc::clone(&on_hup);
                let t = now();
                let _ = tokio::task::spawn_blocking(move || reloader.reload(t, true)).await;
            }
        });
        Ok(Watch { _watcher: watcher })
    }
}

/// How long the files must stay unchanged before a reload reads them: an editor's save or a
/// `git pull` is several events.
const QUIET: Duration = Duration::from_millis(150);

/// The longest a reload waits for the changes to stop.
const MAX_WAIT: Duration = Duration::from_secs(2);

/// Waits, after a change, until [`QUIET`] passes without another (at most [`MAX_WAIT`]).
/// False when the watcher is gone.
async fn settle(rx: &mut tokio::sync::mpsc::UnboundedReceiver<()>) -> bool {
    let started = Instant::now();
    while started.elapsed() < MAX_WAIT {
        match tokio::time::timeout(QUIET, rx.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) => return false,
            Err(_quiet) => break,
        }
    }
    true
}

/// Watches `templates/` afresh when it is a folder (the watch of a folder that was removed or
/// replaced is gone with it). Walking it opens its folders: reads, which are no change.
fn watch_templates(watcher: &Mutex<RecommendedWatcher>, templates: &Path) {
    let mut watcher = match watcher.lock() {
        Ok(w) => w,
        Err(poisoned) => poisoned.into_inner(),
    };
    let _not_watched = watcher.unwatch(templates);
    if templates.is_dir() {
        if let Err(e) = watcher.watch(templates, RecursiveMode::Recursive) {
            tracing::warn!("cannot watch {}: {e}", templates.display());
        }
    }
}

/// The settings that are read once, when the daemon starts (the store, the listeners, the
/// outbound client), and differ between `old` and `new`: a reload applies the rest.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let admin_listen = |c: &Config| c.admin.as_ref().map(|a| a.listen);
    [
        ("storage.path", old.storage.path != new.storage.path),
        (
            "storage.secret",
            match (&old.storage.secret, &new.storage.secret) {
                (Some(a), Some(b)) => !a.same_as(b),
                (a, b) => a.is_some() != b.is_some(),
            },
        ),
        (
            "storage.cache_mb",
            old.storage.cache_bytes != new.storage.cache_bytes,
        ),
        (
            "storage.durability",
            old.storage.strict_durability != new.storage.strict_durability,
        ),
        (
            "storage.attempts_log_max_entries",
            old.storage.attempts_log_max_entries != new.storage.attempts_log_max_entries,
        ),
        ("server.listen", old.server.listen != new.server.listen),
        (
            "server.header_timeout_ms",
            old.server.header_timeout != new.server.header_timeout,
        ),
        (
            "server.max_connections",
            old.server.max_connections != new.server.max_connections,
        ),
        ("admin.listen", admin_listen(old) != admin_listen(new)),
        ("log.format", old.log.format != new.log.format),
        (
            "outbound.connect_timeout_ms",
            old.outbound.connect_timeout != new.outbound.connect_timeout,
        ),
        (
            "outbound.max_answer_bytes",
            old.outbound.max_answer_bytes != new.outbound.max_answer_bytes,
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::process_env;

    fn config(yaml: &str, dir: &Path) -> Config {
        Snapshot::load(&Source::text(yaml, dir), &process_env)
            .unwrap()
            .config
    }

    #[test]
    fn a_reload_names_exactly_the_settings_that_wait_for_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = include_str!("../../platform.yml");
        let old = config(shipped, dir.path());
        assert!(restart_only_changes(&old, &config(shipped, dir.path())).is_empty());

        let moved = shipped.replace("listen: 127.0.0.1:7000", "listen: 127.0.0.1:7100");
        let new = config(
            &format!("{moved}\noutbound: {{ max_answer_bytes: 1024 }}\n"),
            dir.path(),
        );
        assert_eq!(
            restart_only_changes(&old, &new),
            ["server.listen", "outbound.max_answer_bytes"]
        );
    }
}

//! The threads behind the sled store: the group-commit flusher and the attempts-log writer,
//! each a [`Worker`] fed by a channel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::StoreError;

/// A thread fed by a channel. Dropped (with the last handle), it finishes what was queued,
/// then ends, letting go of what it holds (the database).
struct Worker<M: Send + 'static> {
    queue: Option<std::sync::mpsc::Sender<M>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<M: Send + 'static> Worker<M> {
    fn start(
        name: &str,
        run: impl FnOnce(std::sync::mpsc::Receiver<M>) + Send + 'static,
    ) -> Result<Worker<M>, StoreError> {
        let (queue, incoming) = std::sync::mpsc::channel::<M>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(incoming))
            .map_err(|e| StoreError::Backend(format!("cannot start the {name} thread: {e}")))?;
        Ok(Worker {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    fn send(&self, message: M) -> Result<(), StoreError> {
        self.queue
            .as_ref()
            .and_then(|q| q.send(message).ok())
            .ok_or_else(|| StoreError::Backend("a storage thread is gone".into()))
    }
}

impl<M: Send + 'static> Drop for Worker<M> {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Waits for a worker's answer to a request.
async fn answer(wait: Done) -> Result<(), StoreError> {
    wait.await
        .map_err(|_| StoreError::Backend("a storage thread is gone".into()))?
        .map_err(StoreError::Backend)
}

type DoneSender = tokio::sync::oneshot::Sender<Result<(), String>>;
type Done = tokio::sync::oneshot::Receiver<Result<(), String>>;

/// Group commit: one thread runs `Db::flush`, and one flush serves every request queued while
/// the previous one ran. A blocking flush on the runtime would stall it, and sled 0.34.7's
/// `flush_async` deadlocks: it runs the flush as a task of sled's process-wide I/O pool, where
/// it waits for log-buffer writes queued behind it on that same pool, which grows only while
/// tasks are being queued; a few concurrent calls occupy every pool thread, and then every sled
/// database in the process stops writing (sled issues #1241, #1308, #1357: fixed on sled's main
/// branch after 0.34.7, in no 0.34 release). clippy.toml forbids it.
#[derive(Clone)]
pub(super) struct Flusher(Arc<Worker<DoneSender>>);

impl Flusher {
    pub(super) fn start(db: sled::Db) -> Result<Flusher, StoreError> {
        let worker = Worker::start(
            "mfa-bridge-flush",
            move |queue: std::sync::mpsc::Receiver<DoneSender>| {
                while let Ok(first) = queue.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(queue.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for w in waiting {
                        let _ = w.send(result.clone());
                    }
                }
            },
        )?;
        Ok(Flusher(Arc::new(worker)))
    }

    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.0.send(done)?;
        answer(wait).await
    }
}

/// The attempts log is written by one thread, in batches: a request only queues its record.
/// `drain` waits until everything queued before it is in the tree (readers call it first, so
/// a record is readable once its answer has gone).
///
/// The log is capped: after each batch, the oldest entries beyond the cap are dropped. What a
/// peer can make the daemon store by sending requests (refused ones included, for any username)
/// is bounded by the cap, whatever the rate. The thread is the only one that changes the tree
/// (the sweep too), so its count of entries is exact.
#[derive(Clone)]
pub(super) struct LogWriter {
    worker: Arc<Worker<LogMessage>>,
    cap: Arc<AtomicUsize>,
}

enum LogMessage {
    Record([u8; 16], Vec<u8>),
    Drained(DoneSender),
    /// Deletes the entries whose key is before this one; answers how many went.
    Sweep(Vec<u8>, tokio::sync::oneshot::Sender<Result<usize, String>>),
}

/// The tree and how many entries it holds, as the writer thread keeps them.
struct Log {
    tree: sled::Tree,
    entries: usize,
    cap: Arc<AtomicUsize>,
}

impl Log {
    fn apply(&mut self, batch: sled::Batch, added: usize) -> Result<(), String> {
        self.tree.apply_batch(batch).map_err(|e| e.to_string())?;
        self.entries += added;
        let cap = self.cap.load(Ordering::Relaxed);
        if self.entries > cap {
            let mut oldest = sled::Batch::default();
            let mut dropped = 0;
            for key in self.tree.iter().keys().take(self.entries - cap) {
                oldest.remove(key.map_err(|e| e.to_string())?);
                dropped += 1;
            }
            self.tree.apply_batch(oldest).map_err(|e| e.to_string())?;
            self.entries = self.entries.saturating_sub(dropped);
        }
        Ok(())
    }

    fn sweep(&mut self, before: &[u8]) -> Result<usize, String> {
        let mut batch = sled::Batch::default();
        let mut removed = 0;
        for key in self.tree.range(..before).keys() {
            batch.remove(key.map_err(|e| e.to_string())?);
            removed += 1;
        }
        self.tree.apply_batch(batch).map_err(|e| e.to_string())?;
        self.entries = self.entries.saturating_sub(removed);
        Ok(removed)
    }
}

impl LogWriter {
    pub(super) fn start(tree: sled::Tree) -> Result<LogWriter, StoreError> {
        let cap = Arc::new(AtomicUsize::new(usize::MAX));
        let mut log = Log {
            tree,
            entries: 0,
            cap: Arc::clone(&cap),
        };
        let worker = Worker::start(
            "mfa-bridge-attempts-log",
            move |incoming: std::sync::mpsc::Receiver<LogMessage>| {
                // Counted here, off the start-up path (sled counts by reading every entry).
                log.entries = log.tree.len();
                while let Ok(first) = incoming.recv() {
                    // Records wait a few milliseconds for company: one wake-up and one batch per
                    // burst instead of per request (a reader's drain is served at once).
                    if matches!(first, LogMessage::Record(..)) {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    let mut batch = sled::Batch::default();
                    let mut added = 0;
                    let mut waiting = Vec::new();
                    let mut sweeps = Vec::new();
                    for message in std::iter::once(first).chain(incoming.try_iter()) {
                        match message {
                            LogMessage::Record(key, value) => {
                                batch.insert(&key[..], value);
                                added += 1;
                            }
                            LogMessage::Drained(done) => waiting.push(done),
                            LogMessage::Sweep(before, done) => sweeps.push((before, done)),
                        }
                    }
                    let result = log.apply(batch, added);
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "writing the attempts log failed");
                    }
                    for done in waiting {
                        let _ = done.send(result.clone());
                    }
                    for (before, done) in sweeps {
                        let _ = done.send(log.sweep(&before));
                    }
                }
            },
        )?;
        Ok(LogWriter {
            worker: Arc::new(worker),
            cap,
        })
    }

    /// Keeps at most `entries` entries from the next batch on.
    pub(super) fn set_cap(&self, entries: usize) {
        self.cap.store(entries.max(1), Ordering::Relaxed);
    }

    pub(super) fn write(&self, key: [u8; 16], value: Vec<u8>) -> Result<(), StoreError> {
        self.worker.send(LogMessage::Record(key, value))
    }

    pub(super) async fn drain(&self) -> Result<(), StoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.worker.send(LogMessage::Drained(done))?;
        answer(wait).await
    }

    /// Deletes the entries whose key sorts before `before`, after what was queued so far.
    pub(super) async fn sweep(&self, before: Vec<u8>) -> Result<usize, StoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.worker.send(LogMessage::Sweep(before, done))?;
        wait.await
            .map_err(|_| StoreError::Backend("a storage thread is gone".into()))?
            .map_err(StoreError::Backend)
    }
}

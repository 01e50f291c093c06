//! The threads behind the sled store: the group-commit flusher and the attempts-log writer,
//! each a [`Worker`] fed by a channel.

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
#[derive(Clone)]
pub(super) struct LogWriter(Arc<Worker<LogMessage>>);

enum LogMessage {
    Record([u8; 16], Vec<u8>),
    Drained(DoneSender),
}

impl LogWriter {
    pub(super) fn start(log: sled::Tree) -> Result<LogWriter, StoreError> {
        let worker = Worker::start(
            "mfa-bridge-attempts-log",
            move |incoming: std::sync::mpsc::Receiver<LogMessage>| {
                while let Ok(first) = incoming.recv() {
                    // Records wait a few milliseconds for company: one wake-up and one batch per
                    // burst instead of per request (a reader's drain is served at once).
                    if matches!(first, LogMessage::Record(..)) {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    let mut batch = sled::Batch::default();
                    let mut waiting = Vec::new();
                    for message in std::iter::once(first).chain(incoming.try_iter()) {
                        match message {
                            LogMessage::Record(key, value) => batch.insert(&key[..], value),
                            LogMessage::Drained(done) => waiting.push(done),
                        }
                    }
                    let result = log.apply_batch(batch).map_err(|e| e.to_string());
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "writing the attempts log failed");
                    }
                    for done in waiting {
                        let _ = done.send(result.clone());
                    }
                }
            },
        )?;
        Ok(LogWriter(Arc::new(worker)))
    }

    pub(super) fn write(&self, key: [u8; 16], value: Vec<u8>) -> Result<(), StoreError> {
        self.0.send(LogMessage::Record(key, value))
    }

    pub(super) async fn drain(&self) -> Result<(), StoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.0.send(LogMessage::Drained(done))?;
        answer(wait).await
    }
}

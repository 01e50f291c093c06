//! Writes the attempts log off the request path: entries queue in a channel, and one task
//! writes whatever has queued in one statement (one commit for many requests), as the sled
//! store's writer thread does. Readers wait for the queue to be written first ([`drain`]), so
//! what was logged before a read is in it.
//!
//! [`drain`]: LogWriter::drain

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::attempts::insert_batch;
use crate::store::{AttemptRecord, StoreError};

/// The most entries written by one statement.
const BATCH: usize = 500;

enum Message {
    Entry(AttemptRecord),
    /// Answered once everything queued before it is written (or failed).
    Drain(oneshot::Sender<()>),
}

/// The handle on the writing task (which ends with the last handle).
#[derive(Clone)]
pub(super) struct LogWriter {
    queue: mpsc::UnboundedSender<Message>,
}

fn gone() -> StoreError {
    StoreError::Backend("the attempts-log writer is gone".into())
}

impl LogWriter {
    /// Starts the task on the current runtime; it keeps at most `cap` entries.
    pub(super) fn start(pool: PgPool, cap: Arc<AtomicI64>) -> LogWriter {
        let (queue, incoming) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, cap, incoming));
        LogWriter { queue }
    }

    pub(super) fn write(&self, entry: AttemptRecord) -> Result<(), StoreError> {
        self.queue.send(Message::Entry(entry)).map_err(|_| gone())
    }

    /// Returns once every entry queued before this call is written (or its write failed, which
    /// the task logs).
    pub(super) async fn drain(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        self.queue.send(Message::Drain(done)).map_err(|_| gone())?;
        wait.await.map_err(|_| gone())
    }
}

async fn run(pool: PgPool, cap: Arc<AtomicI64>, mut incoming: mpsc::UnboundedReceiver<Message>) {
    while let Some(first) = incoming.recv().await {
        let mut entries = Vec::new();
        let mut drains = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Entry(entry) => entries.push(entry),
                Message::Drain(done) => drains.push(done),
            }
            if entries.len() < BATCH {
                next = incoming.try_recv().ok();
            }
        }
        if !entries.is_empty() {
            let count = entries.len();
            if let Err(e) = insert_batch(&pool, entries, cap.load(Ordering::Relaxed)).await {
                // Every request also has its line in the process log.
                tracing::error!(error = %e, entries = count, "writing the attempts log failed");
            }
        }
        for done in drains {
            let _ = done.send(());
        }
    }
}

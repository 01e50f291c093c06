//! Each instance keeps one `LISTEN mfa_config` connection: a notification (a new version's
//! number) makes it [`SharedConfig::sync`], so an edit made on any instance runs on every one
//! within a second. A notification missed while the connection was down is caught up when it
//! comes back (the newest version is read then), and the newest version is also read every
//! [`POLL`], as a safety net, which is also when an edit of the host's own files is published.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use super::version::CHANNEL;
use super::SharedConfig;

/// How often the newest version is read even without a notification.
pub const POLL: Duration = Duration::from_secs(2);

/// How long to wait before connecting again after the listening connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Listens until the task is aborted (or the process ends).
pub fn spawn(shared: Arc<SharedConfig>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match PgListener::connect_with(&shared.pool).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => serve(&shared, &mut listener).await,
                    Err(e) => tracing::warn!(error = %e, "LISTEN {CHANNEL} failed"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot listen for configuration changes"),
            }
            tokio::time::sleep(RETRY).await;
            sync(&shared).await;
        }
    })
}

/// Syncs at once (what was missed before listening), then on each notification and each
/// [`POLL`]; returns when the connection fails for good.
async fn serve(shared: &Arc<SharedConfig>, listener: &mut PgListener) {
    sync(shared).await;
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(_)) => sync(shared).await,
                // The connection was lost and will be made again by the next call: what was
                // announced meanwhile is read now.
                Ok(None) => {
                    tracing::warn!("the configuration listener reconnects");
                    sync(shared).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the configuration listener failed");
                    return;
                }
            },
            _ = poll.tick() => sync(shared).await,
        }
    }
}

async fn sync(shared: &Arc<SharedConfig>) {
    let shared = Arc::clone(shared);
    if let Err(e) = tokio::task::spawn_blocking(move || shared.sync()).await {
        tracing::error!(error = %e, "applying the shared configuration failed");
    }
}

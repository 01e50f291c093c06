//! The background check of the resend rule (`receipts.resend_after_seconds`), beside the
//! sweeper: every few seconds, on every instance, the sends no receipt confirmed in time are
//! re-sent ([`crate::mfa::Mfa::resend_overdue`]).

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::http::AppState;

/// How often the check runs.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Starts the check; it runs until aborted. It reads the configuration at each round, so a
/// reload turns it on or off.
pub(super) fn start(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        loop {
            tick.tick().await;
            let snapshot = state.snapshot();
            if snapshot.config.receipts.resend_after_seconds == 0 {
                continue;
            }
            match state.mfa.resend_overdue(&snapshot).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(resent = n, "sends with no receipt in time were re-sent"),
                Err(e) => tracing::error!(error = %e, "checking for sends with no receipt failed"),
            }
        }
    })
}

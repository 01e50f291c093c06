//! The background half of the resend rule (`receipts.resend_after_seconds: N`): a send still
//! `sent` N seconds after a provider took it, with no receipt since, is re-sent as an
//! undelivered one is ([`super::resend`]). Only sends of providers that send receipts (listed
//! under `receipts.providers`) are waited for: for the others no receipt can ever come. Every
//! instance checks; the claim of each re-send makes one of them do it.

use crate::snapshot::Snapshot;
use crate::store::{SendFilter, SendStatus};

use super::super::{FlowError, Mfa};
use super::resend::Resend;

/// The most `sent` records one check reads (newest first, within the window).
const CHECKED_PER_ROUND: usize = 500;

impl Mfa {
    /// Re-sends the sends overdue at the clock's time; answers how many were re-sent.
    pub async fn resend_overdue(&self, snap: &Snapshot) -> Result<usize, FlowError> {
        let receipts = &snap.config.receipts;
        let after = receipts.resend_after_seconds;
        if after == 0 {
            return Ok(0);
        }
        let now = self.clock.now();
        // A send older than a session's life has no pending challenge left to re-send.
        let oldest = now.saturating_sub(snap.config.mfa.session_ttl.as_secs());
        // Only the window where a send can be overdue and still pending is read: begun within
        // a session's life, and at least N seconds ago (its last update is later still).
        let filter = SendFilter {
            status: Some(SendStatus::Sent),
            begun_from: Some(oldest),
            begun_before: Some(now.saturating_sub(after).saturating_add(1)),
            ..SendFilter::default()
        };
        let sent = self.store.find_sends(&filter, CHECKED_PER_ROUND).await?;
        let mut resent = 0;
        for record in sent {
            let overdue = record.updated_at.saturating_add(after) <= now;
            if !overdue || !receipts.providers.contains_key(&record.provider) {
                continue;
            }
            if let Resend::Resent { .. } = self.resend(snap, &record, "no-receipt").await {
                resent += 1;
            }
        }
        Ok(resent)
    }
}

//! The message log's records of one send's tries: `queued` before a try leaves, then `sent`
//! or `failed` with the provider, the attempt number, the latency, the error class and the
//! provider's message id. A record that cannot be written is logged and the send goes on: the
//! log tells what happened, it never stops a code from leaving.

use crate::snapshot::Snapshot;
use crate::store::{mask_destination, SendRecord, SendStatus, SessionKey};

use super::super::send::{destination_of, Prepared};
use super::super::Mfa;

/// The message log's record of a prepared send before its first try (`now`): its user,
/// challenge (never the mfaToken: the first bytes of the session key), channel and masked
/// destination.
pub(in crate::mfa) fn send_record(
    snap: &Snapshot,
    key: &SessionKey,
    p: &Prepared,
    now: u64,
) -> SendRecord {
    SendRecord {
        id: String::new(),
        send_id: p.send_id.clone(),
        attempt: 0,
        at: now,
        updated_at: now,
        username: p.username.as_str().to_string(),
        challenge: key.challenge_id(),
        channel: p.channel.name().to_string(),
        provider: String::new(),
        status: SendStatus::Queued,
        provider_message_id: None,
        http_status: None,
        latency_ms: None,
        error: None,
        destination: mask_destination(&destination_of(snap, p.channel, &p.user_data)),
    }
}

/// What one try's record is made of before its outcome is known.
pub(super) struct TryRecord {
    pub record: SendRecord,
}

impl TryRecord {
    /// The record of try `attempt` of a send, `queued` at `now`.
    pub fn queued(base: &SendRecord, attempt: u32, provider: &str, now: u64) -> TryRecord {
        let mut record = base.clone();
        record.id = format!("{}-{attempt}", base.send_id);
        record.attempt = attempt;
        record.at = now;
        record.updated_at = now;
        record.provider = provider.to_string();
        record.status = SendStatus::Queued;
        TryRecord { record }
    }
}

impl Mfa {
    /// Writes one record of the message log.
    pub(super) async fn log_send(&self, record: &SendRecord) {
        if let Err(e) = self.store.put_send(record).await {
            tracing::warn!(send = %record.id, error = %e, "the message log could not record a send");
        }
    }
}

//! What a client may learn of its code's journey: per channel, where the newest send of the
//! session's challenge stands (`GET /{username}/mfa/challenge`), read from the message log.

use crate::domain::{MfaToken, Username};
use crate::snapshot::Snapshot;
use crate::store::{SendFilter, SendRecord, SendStatus};

use super::{FlowError, Mfa};

/// The most records of one challenge read (retries and re-sends of every channel).
const MAX_SENDS_READ: usize = 100;

/// Where the code of one channel stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelDelivery {
    pub channel: String,
    pub status: SendStatus,
    pub provider: String,
    /// When the attempt shown began (seconds since the epoch).
    pub at: u64,
    /// Attempts made on this channel for this challenge.
    pub attempts: usize,
}

/// Per channel, the newest attempt that reached a provider (not `queued` or `failed`), or
/// else the newest attempt: a failed try followed by a successful one on the next provider
/// reads as the success. `sends` is newest first; channels in the order of their newest send.
pub fn per_channel(sends: &[SendRecord]) -> Vec<ChannelDelivery> {
    let mut out: Vec<ChannelDelivery> = Vec::new();
    for record in sends {
        let reached = !matches!(record.status, SendStatus::Queued | SendStatus::Failed);
        match out.iter_mut().position(|c| c.channel == record.channel) {
            None => out.push(ChannelDelivery {
                channel: record.channel.clone(),
                status: record.status,
                provider: record.provider.clone(),
                at: record.at,
                attempts: 1,
            }),
            Some(i) => {
                let shown = &mut out[i];
                shown.attempts += 1;
                let shown_reached =
                    !matches!(shown.status, SendStatus::Queued | SendStatus::Failed);
                if reached && !shown_reached {
                    shown.status = record.status;
                    shown.provider = record.provider.clone();
                    shown.at = record.at;
                }
            }
        }
    }
    out
}

impl Mfa {
    /// `GET /{username}/mfa/challenge`: the delivery of the session's codes, per channel. The
    /// mfaToken is checked as every route that takes one checks it.
    pub async fn delivery(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&MfaToken>,
    ) -> Result<Vec<ChannelDelivery>, FlowError> {
        let (key, _session) = self.session(snap, username, mfa_token).await?;
        let sends = self
            .store
            .find_sends(
                &SendFilter::of_challenge(&key.challenge_id()),
                MAX_SENDS_READ,
            )
            .await?;
        Ok(per_channel(&sends))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(id: &str, channel: &str, provider: &str, at: u64, status: SendStatus) -> SendRecord {
        SendRecord {
            id: id.into(),
            send_id: "s".into(),
            attempt: 1,
            at,
            updated_at: at,
            username: "alice".into(),
            challenge: "c".into(),
            channel: channel.into(),
            provider: provider.into(),
            status,
            provider_message_id: None,
            http_status: None,
            latency_ms: None,
            error: None,
            destination: String::new(),
        }
    }

    #[test]
    fn each_channel_shows_its_newest_attempt_that_reached_a_provider() {
        let sends = [
            send("e-1", "email", "mailer", 12, SendStatus::Failed),
            send("s-2", "sms", "vonage", 11, SendStatus::Failed),
            send("s-1", "sms", "twilio", 10, SendStatus::Delivered),
        ];
        let shown = per_channel(&sends);
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[0].channel, "email");
        assert_eq!(
            (shown[0].status, shown[0].attempts),
            (SendStatus::Failed, 1)
        );
        assert_eq!(shown[1].channel, "sms");
        assert_eq!(
            (
                shown[1].status,
                shown[1].provider.as_str(),
                shown[1].at,
                shown[1].attempts
            ),
            (SendStatus::Delivered, "twilio", 10, 2)
        );
        assert!(per_channel(&[]).is_empty());
    }
}

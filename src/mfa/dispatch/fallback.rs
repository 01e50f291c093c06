//! The channel fallback (`mfa.fallback: { sms: email }`): when every provider of a channel
//! failed, the same code goes by the fallback channel, if the user has a destination there and
//! the challenge does not go by it already. Both channels are in single mode (the
//! configuration checks it), so the code the user types is the one the session holds, by
//! whichever channel it came. The fallback send is one more send on the send limits, with its
//! own `{{ send_id }}` and its own `outbound.send_deadline_ms`: a client waits at most twice
//! the deadline.

use std::collections::BTreeMap;

use crate::config::Channel;
use crate::domain::Destination;
use crate::snapshot::Snapshot;
use crate::store::SessionKey;

use super::super::secrets;
use super::super::send::Prepared;
use super::super::{FlowError, Mfa};
use super::engine::{Job, Undelivered};
use super::log::send_record;

impl Mfa {
    /// Sends `failed`'s code by its channel's fallback. `None` when no fallback applies (none
    /// configured, no code, the user has no destination there, or the challenge goes by that
    /// channel already); else whether it was delivered.
    pub(in crate::mfa) async fn deliver_fallback(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        failed: &Prepared,
        challenge_channels: &[Channel],
    ) -> Option<Result<(), FlowError>> {
        let to = snap
            .config
            .mfa
            .fallback
            .iter()
            .find(|(from, _)| *from == failed.channel)
            .map(|(_, to)| *to)?;
        let code = failed.code.as_deref()?;
        if challenge_channels.contains(&to) || !has_destination(snap, to, &failed.user_data) {
            return None;
        }
        tracing::warn!(
            user = %failed.username,
            from = failed.channel.name(),
            to = to.name(),
            "every provider failed: the code goes by the fallback channel"
        );
        Some(self.send_by(snap, key, failed, to, code).await)
    }

    async fn send_by(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        failed: &Prepared,
        channel: Channel,
        code: &str,
    ) -> Result<(), FlowError> {
        let reservation = self
            .reserve_sends(
                snap,
                channel,
                &failed.username,
                &failed.user_data,
                self.clock.now(),
            )
            .await?;
        // The send is counted on disk before it leaves.
        self.store.flush().await?;
        let send_id = secrets::new_id();
        let fallback = Prepared {
            channel,
            send_id: send_id.clone(),
            username: failed.username.clone(),
            user_data: failed.user_data.clone(),
            code: Some(code.to_string()),
        };
        let job = Job {
            channel,
            send_id: &send_id,
            username: &failed.username,
            user_data: &failed.user_data,
            code: Some(code),
            base: send_record(snap, key, &fallback, self.clock.now()),
        };
        match self.deliver_job(snap, &job).await {
            Ok(_) => Ok(()),
            Err(Undelivered { error, reached }) => {
                if !reached {
                    self.release_sends(&reservation).await?;
                }
                Err(error)
            }
        }
    }
}

/// Whether the user's data holds a destination for `channel`: one of its phone fields (SMS,
/// voice, WhatsApp) or email fields (email).
pub(super) fn has_destination(
    snap: &Snapshot,
    channel: Channel,
    user_data: &BTreeMap<String, String>,
) -> bool {
    let rules = &snap.config.mfa.user_data;
    let fields = match channel.destination() {
        Destination::Phone => &rules.phone_fields,
        Destination::Email => &rules.email_fields,
    };
    fields
        .iter()
        .any(|f| user_data.get(f).is_some_and(|v| !v.trim().is_empty()))
}

//! The resend rule (`receipts.resend_on_undelivered`, `receipts.resend_after_seconds`): a
//! send that a receipt says will not arrive, or that no receipt confirmed in time, goes again
//! through the next provider of its channel (one not tried yet for this challenge, in the
//! engine's order), or when none is left through the channel's fallback (`mfa.fallback`).
//!
//! - Only the newest send of a pending challenge on its channel is re-sent: a session gone
//!   (verified, expired) or a newer challenge means nothing is re-sent.
//! - In single mode the re-send carries a new code and the previous one stops working, as a
//!   new challenge does (codes are kept only as keyed hashes). In challenge-verify mode it
//!   starts a verification at the next provider, which the session then names for the verify.
//! - It is one more send on `per_user_per_hour` and `per_destination_per_day` (not on
//!   `min_interval_seconds`): refused by them, nothing is re-sent.
//! - One failed send is re-sent once across instances: the first to claim it on a counter of
//!   its own ([`crate::store::Store::update_counter`]) re-sends it, whether a receipt or the
//!   background check came first.
//! - In the message log the re-send continues the send: the same `send_id`, its attempt
//!   numbers following on.

use std::collections::BTreeSet;

use crate::config::{Channel, Mode};
use crate::domain::Username;
use crate::snapshot::{CompiledProvider, Snapshot};
use crate::store::{SendFilter, SendRecord, SessionKey, StoredCode};

use super::super::limits;
use super::super::method::route;
use super::super::secrets;
use super::super::send::Prepared;
use super::super::state::{Outstanding, Session};
use super::super::update::Change;
use super::super::{FlowError, Mfa};
use super::engine::{Job, Undelivered};
use super::fallback::has_destination;
use super::log::send_record;
use super::plan;

/// The most records of one challenge read to decide a re-send.
const CHALLENGE_RECORDS: usize = 1000;

/// How long the claim of a re-send is kept (then swept with the other counters).
const CLAIM_SECONDS: u64 = 86_400;

/// The counter that claims the re-send of the send record `id`.
fn claim_key(id: &str) -> Vec<u8> {
    [b"r:".as_slice(), id.as_bytes()].concat()
}

/// How a re-send ended, as the log says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resend {
    /// Re-sent and accepted by this provider.
    Resent { provider: String },
    /// The challenge is no longer pending (verified, expired, or the enrolment changed).
    SessionGone,
    /// A newer send of the challenge on this channel exists (or a newer challenge).
    Superseded,
    /// No provider of the channel is left, and no fallback applies.
    NothingLeft,
    /// Another instance, or the other trigger, looked at this send first (and re-sent it, or
    /// found nothing to re-send).
    Claimed,
    /// The send limits refuse one more send.
    Refused,
    /// Every provider left failed too.
    Failed,
}

impl Resend {
    pub fn as_str(&self) -> &'static str {
        match self {
            Resend::Resent { .. } => "resent",
            Resend::SessionGone => "session-gone",
            Resend::Superseded => "superseded",
            Resend::NothingLeft => "nothing-left",
            Resend::Claimed => "claimed",
            Resend::Refused => "refused-by-send-limits",
            Resend::Failed => "failed",
        }
    }
}

/// The pending challenge a send belongs to.
struct Pending {
    key: SessionKey,
    session: Session,
    username: Username,
    user_data: std::collections::BTreeMap<String, String>,
}

impl Mfa {
    /// Re-sends the challenge of `failed` (a send a receipt says will not arrive, or that none
    /// confirmed in time: `reason`) by the rule above; logs and answers how it ended.
    pub async fn resend(&self, snap: &Snapshot, failed: &SendRecord, reason: &str) -> Resend {
        let outcome = match self.try_resend(snap, failed).await {
            Ok(outcome) => outcome,
            Err(FlowError::TooManyAttempts { .. }) => Resend::Refused,
            Err(e) => {
                tracing::error!(send = %failed.id, error = %e, "re-sending failed");
                Resend::Failed
            }
        };
        match &outcome {
            Resend::Resent { provider } => tracing::warn!(
                user = %failed.username, send = %failed.id, reason, from = %failed.provider, to = %provider,
                "the code was re-sent through the next provider"
            ),
            other => tracing::info!(
                user = %failed.username, send = %failed.id, reason, outcome = other.as_str(),
                "no re-send"
            ),
        }
        outcome
    }

    async fn try_resend(&self, snap: &Snapshot, failed: &SendRecord) -> Result<Resend, FlowError> {
        // Claimed first: whatever this look decides (re-sent, or nothing to re-send: the
        // session gone, a newer send, no provider left) stays true, so a send is looked at
        // in full once, however often the background check finds it overdue.
        if !self.claim(failed, self.clock.now()).await? {
            return Ok(Resend::Claimed);
        }
        let Some(pending) = self.pending_of(snap, failed).await? else {
            return Ok(Resend::SessionGone);
        };
        let filter = SendFilter {
            challenge: Some(failed.challenge.clone()),
            ..SendFilter::default()
        };
        let records = self.store.find_sends(&filter, CHALLENGE_RECORDS).await?;
        if !is_newest(failed, &records) {
            return Ok(Resend::Superseded);
        }
        let tried: BTreeSet<&str> = records.iter().map(|r| r.provider.as_str()).collect();
        let Some((channel, order)) = next_providers(snap, failed, &pending, &tried) else {
            return Ok(Resend::NothingLeft);
        };
        let now = self.clock.now();
        let (cfg, _) = route(snap, channel)?;
        let code =
            (cfg.mode == Mode::Single).then(|| secrets::new_code(snap.config.mfa.code.length));
        let reservation = self
            .reserve_sends(snap, channel, &pending.username, &pending.user_data, now)
            .await?;
        if let Some(code) = &code {
            let stored = StoredCode {
                hash: self.keys.code_hash(&pending.key, code),
                expires_at: now + snap.config.mfa.code.ttl.as_secs(),
            };
            if !self.replace_code(snap, &pending, stored).await? {
                self.release_sends(&reservation).await?;
                return Ok(Resend::Superseded);
            }
        }
        // The send is counted on disk before it leaves.
        self.store.flush().await?;
        let prepared = Prepared {
            channel,
            send_id: failed.send_id.clone(),
            username: pending.username.clone(),
            user_data: pending.user_data.clone(),
            code,
        };
        let mut base = send_record(snap, &pending.key, &prepared, now);
        base.attempt = records
            .iter()
            .filter(|r| r.send_id == failed.send_id)
            .map(|r| r.attempt)
            .max()
            .unwrap_or(failed.attempt);
        let job = Job {
            channel,
            send_id: &prepared.send_id,
            username: &prepared.username,
            user_data: &prepared.user_data,
            code: prepared.code.as_deref(),
            base,
        };
        match self.deliver_among(snap, &job, order).await {
            Ok(done) => {
                let provider = done.provider.config.provider.clone();
                if done.provider.config.mode == Mode::ChallengeVerify {
                    self.keep_captures(snap, &pending.key, done.captured, &provider)
                        .await?;
                }
                Ok(Resend::Resent { provider })
            }
            Err(Undelivered { reached, .. }) => {
                if !reached {
                    self.release_sends(&reservation).await?;
                }
                Ok(Resend::Failed)
            }
        }
    }

    /// The live session whose challenge `record` belongs to, with the user data it sends to.
    async fn pending_of(
        &self,
        snap: &Snapshot,
        record: &SendRecord,
    ) -> Result<Option<Pending>, FlowError> {
        let Some(username) =
            Username::parse(&record.username, &snap.config.server.username_pattern)
        else {
            return Ok(None);
        };
        let sessions = self.store.sessions_of(username.as_str()).await?;
        let Some((key, stored)) = sessions
            .into_iter()
            .find(|(key, _)| key.challenge_id() == record.challenge)
        else {
            return Ok(None);
        };
        let session = Session::from_v1(stored.value, snap);
        if session.expires_at <= self.clock.now() || session.username != username.as_str() {
            return Ok(None);
        }
        match self.session_data(&username, &session).await {
            Ok(data) => Ok(Some(Pending {
                key,
                session,
                username,
                user_data: data.user_data,
            })),
            Err(FlowError::InvalidSession) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Claims the re-send of `failed`: `true` for the first claimant only, on any instance.
    async fn claim(&self, failed: &SendRecord, now: u64) -> Result<bool, FlowError> {
        let mut won = false;
        self.store
            .update_counter(&claim_key(&failed.id), &mut |old| match old {
                Some(old) => {
                    won = false;
                    Some(old.to_vec())
                }
                None => {
                    won = true;
                    // Kept as long as a send limit's window: no session outlives it.
                    limits::write_sends(limits::SendLog {
                        sent_at: vec![now],
                        expires_at: now + CLAIM_SECONDS,
                    })
                }
            })
            .await?;
        Ok(won)
    }

    /// Puts a new code in the session as read (its previous code stops working); `false` when
    /// the session changed meanwhile (a new challenge, a verify).
    async fn replace_code(
        &self,
        snap: &Snapshot,
        pending: &Pending,
        code: StoredCode,
    ) -> Result<bool, FlowError> {
        let mut updated = pending.session.clone();
        updated.outstanding = Outstanding::OwnCode {
            code,
            method: pending.session.outstanding.method(),
        };
        self.update_session(snap, &pending.key, |current| {
            Ok(match current {
                Some(c) if *c == pending.session => (Change::Put(updated.clone()), true),
                _ => (Change::Keep, false),
            })
        })
        .await
    }
}

/// Whether `failed` is the newest send of its challenge on its channel.
fn is_newest(failed: &SendRecord, records: &[SendRecord]) -> bool {
    records
        .iter()
        .filter(|r| r.channel == failed.channel)
        .all(|r| (r.at, r.attempt) <= (failed.at, failed.attempt) || r.id == failed.id)
}

/// The channel and the providers a re-send of `failed` tries, in order: those of its channel
/// not tried for this challenge, else those of its fallback channel (single mode, the user
/// having a destination there).
fn next_providers<'s>(
    snap: &'s Snapshot,
    failed: &SendRecord,
    pending: &Pending,
    tried: &BTreeSet<&str>,
) -> Option<(Channel, Vec<&'s CompiledProvider>)> {
    let untried = |channel: Channel| -> Vec<&'s CompiledProvider> {
        plan::order(snap.providers_of(channel))
            .into_iter()
            .filter(|p| !tried.contains(p.config.provider.as_str()))
            .collect()
    };
    let channel = Channel::from_name(&failed.channel)?;
    let same = untried(channel);
    if !same.is_empty() {
        return Some((channel, same));
    }
    let to = snap
        .config
        .mfa
        .fallback
        .iter()
        .find(|(from, _)| *from == channel)
        .map(|(_, to)| *to)?;
    let fallback_mode = route(snap, to).ok()?.0.mode;
    if fallback_mode != Mode::Single || !has_destination(snap, to, &pending.user_data) {
        return None;
    }
    let next = untried(to);
    (!next.is_empty()).then_some((to, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SendStatus, Store};

    fn record(id: &str, channel: &str, at: u64, attempt: u32) -> SendRecord {
        SendRecord {
            id: id.into(),
            send_id: "s1".into(),
            attempt,
            at,
            updated_at: at,
            username: "alice".into(),
            challenge: "0011223344556677".into(),
            channel: channel.into(),
            provider: "tw".into(),
            status: SendStatus::Sent,
            provider_message_id: Some("SM1".into()),
            http_status: Some(201),
            latency_ms: Some(50),
            error: None,
            destination: "+41•••••67".into(),
        }
    }

    #[tokio::test]
    async fn a_send_is_claimed_once_and_another_send_apart() {
        let h = crate::mfa::testing::Harness::new();
        let first = record("s1-1", "sms", 10, 1);
        assert!(h.mfa.claim(&first, 10).await.unwrap());
        assert!(!h.mfa.claim(&first, 11).await.unwrap());
        let other = record("s1-2", "sms", 10, 2);
        assert!(h.mfa.claim(&other, 12).await.unwrap());
        // The claim is a counter the sweeper removes a day later.
        let key = claim_key("s1-1");
        let mut kept = None;
        h.store
            .update_counter(&key, &mut |old| {
                kept = old.map(<[u8]>::to_vec);
                old.map(<[u8]>::to_vec)
            })
            .await
            .unwrap();
        let kept = kept.expect("the claim is stored");
        assert!(!limits::counter_expired(&kept, 10 + CLAIM_SECONDS - 1));
        assert!(limits::counter_expired(&kept, 10 + CLAIM_SECONDS));
    }

    #[test]
    fn only_the_newest_send_of_a_channel_is_re_sent() {
        let first = record("s1-1", "sms", 10, 1);
        let second = record("s1-2", "sms", 10, 2);
        let email = record("e1-1", "email", 20, 1);
        let all = [first.clone(), second.clone(), email];
        assert!(!is_newest(&first, &all));
        assert!(is_newest(&second, &all));
        let later = record("s2-1", "sms", 30, 1);
        assert!(!is_newest(&second, &[second.clone(), later]));
    }
}

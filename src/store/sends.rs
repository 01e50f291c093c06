//! The message log: one record per attempt to hand a code to a provider, kept so that an
//! operator (and the user's client, through `GET /{username}/mfa/challenge`) can see what
//! happened to a send: which provider took it, how long it took, what it answered, and what
//! its delivery receipt said later.
//!
//! A record never holds the code, the mfaToken or the full destination: the challenge is named
//! by [`SessionKey::challenge_id`] and the destination is masked ([`mask_destination`]).
//! A record moves forward only (`queued` < `sent` < a final status): a late or repeated
//! update (a receipt retried by its provider, a "sent" arriving after "delivered") cannot
//! take it back, which [`SendRecord::merged`] decides for every engine alike.

use serde::{Deserialize, Serialize};

use super::SessionKey;

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendStatus {
    /// Written before the request to the provider.
    Queued,
    /// The provider accepted it.
    Sent,
    /// The provider refused it, or could not be reached: the send ended here.
    Failed,
    /// A receipt said it reached the handset or the mailbox.
    Delivered,
    /// A receipt said it will not arrive.
    Undelivered,
}

impl SendStatus {
    pub const ALL: [SendStatus; 5] = [
        SendStatus::Queued,
        SendStatus::Sent,
        SendStatus::Failed,
        SendStatus::Delivered,
        SendStatus::Undelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SendStatus::Queued => "queued",
            SendStatus::Sent => "sent",
            SendStatus::Failed => "failed",
            SendStatus::Delivered => "delivered",
            SendStatus::Undelivered => "undelivered",
        }
    }

    /// The status named `name` (as [`SendStatus::as_str`] spells it).
    pub fn parse(name: &str) -> Option<SendStatus> {
        SendStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// How far a send has gone: a record never moves to a lower rank. The three final
    /// statuses share the highest: the first one known stays.
    pub fn rank(self) -> u8 {
        match self {
            SendStatus::Queued => 0,
            SendStatus::Sent => 1,
            SendStatus::Failed | SendStatus::Delivered | SendStatus::Undelivered => 2,
        }
    }

    /// Whether nothing will change this status any more.
    pub fn is_final(self) -> bool {
        self.rank() == 2
    }
}

impl std::fmt::Display for SendStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt of one send: what the message log shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRecord {
    /// `{send_id}-{attempt}`.
    pub id: String,
    /// The stable id of one challenge's send on one channel (what `{{ send_id }}` renders):
    /// the same across its retries and providers.
    pub send_id: String,
    /// 1, 2, … across the retries and providers of one send.
    pub attempt: u32,
    /// When the attempt began (seconds since the epoch).
    pub at: u64,
    /// When the record last changed.
    pub updated_at: u64,
    pub username: String,
    /// [`SessionKey::challenge_id`] of the session the code belongs to (never the mfaToken).
    pub challenge: String,
    pub channel: String,
    /// The provider's name (`mfa.channels.*` entries' `name`).
    pub provider: String,
    pub status: SendStatus,
    /// The provider's id of the message (captured from its answer): how a receipt finds it.
    pub provider_message_id: Option<String>,
    /// The HTTP status the provider answered.
    pub http_status: Option<u16>,
    pub latency_ms: Option<u64>,
    /// The class of error (`timeout`, `unreachable`, `reset`, `5xx`, `429`, `refused`,
    /// `too-large`, `capture-missing`, `breaker-open`, `deadline`), or a receipt's reason.
    pub error: Option<String>,
    /// The destination as [`mask_destination`] shows it.
    pub destination: String,
}

impl SendRecord {
    /// What `existing` becomes when `update` (of the same id) is put: the higher status of the
    /// two (on a tie the existing one: the first final status stays), the time it began kept,
    /// and every value known on either side kept, the update's first when it moved the status.
    pub fn merged(existing: &SendRecord, update: &SendRecord) -> SendRecord {
        let advances = update.status.rank() > existing.status.rank();
        let (first, second) = if advances || update.status == existing.status {
            (update, existing)
        } else {
            (existing, update)
        };
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        SendRecord {
            id: existing.id.clone(),
            send_id: existing.send_id.clone(),
            attempt: existing.attempt,
            at: existing.at,
            updated_at: existing.updated_at.max(update.updated_at),
            username: existing.username.clone(),
            challenge: existing.challenge.clone(),
            channel: existing.channel.clone(),
            provider: existing.provider.clone(),
            status: first.status,
            // A message id once known is kept: receipts find the record by it.
            provider_message_id: pick(&existing.provider_message_id, &update.provider_message_id),
            http_status: first.http_status.or(second.http_status),
            latency_ms: first.latency_ms.or(second.latency_ms),
            error: pick(&first.error, &second.error),
            destination: if existing.destination.is_empty() {
                update.destination.clone()
            } else {
                existing.destination.clone()
            },
        }
    }
}

/// A query over the message log; every part left `None` keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendFilter {
    pub username: Option<String>,
    pub status: Option<SendStatus>,
    /// A [`SessionKey::challenge_id`].
    pub challenge: Option<String>,
    pub provider: Option<String>,
    /// `sms`, `email`, … exactly.
    pub channel: Option<String>,
    /// Only sends begun at or after this time (seconds since the epoch).
    pub begun_from: Option<u64>,
    /// Only sends begun before this time: with `begun_from`, a window the engines read as a
    /// range of their time index, not a walk of the whole log.
    pub begun_before: Option<u64>,
}

impl SendFilter {
    /// Only the sends of one challenge.
    pub fn of_challenge(challenge: &str) -> SendFilter {
        SendFilter {
            challenge: Some(challenge.to_string()),
            ..SendFilter::default()
        }
    }

    pub fn matches(&self, record: &SendRecord) -> bool {
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        same(&self.username, &record.username)
            && self.status.is_none_or(|s| s == record.status)
            && same(&self.challenge, &record.challenge)
            && same(&self.provider, &record.provider)
            && same(&self.channel, &record.channel)
            && self.begun_from.is_none_or(|from| record.at >= from)
            && self.begun_before.is_none_or(|before| record.at < before)
    }
}

impl SessionKey {
    /// The name of this session's challenge in the message log and receipts: the first 8
    /// bytes of the key in hex. The key is a keyed hash of the mfaToken, so this names the
    /// session without being a way back to the token (nor enough of the key to use).
    pub fn challenge_id(&self) -> String {
        hex::encode(&self.0[..8])
    }
}

/// A destination as the message log keeps it: enough to tell two apart for someone who
/// knows them, never the whole. A phone number keeps its first three and last two
/// characters (`+41•••••67`), an address the first character of its local part and its
/// domain (`a•••@example.org`); anything else its first character. Short values are
/// hidden whole. The number of dots is fixed, so the length is not told either.
pub fn mask_destination(destination: &str) -> String {
    let destination = destination.trim();
    if let Some((local, domain)) = destination.rsplit_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}•••@{domain}");
    }
    let chars: Vec<char> = destination.chars().collect();
    let phone_like = chars
        .iter()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
    if phone_like && chars.len() >= 8 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[chars.len() - 2..].iter().collect();
        return format!("{head}•••••{tail}");
    }
    if chars.len() >= 6 {
        return format!("{}•••••", chars[0]);
    }
    if chars.is_empty() {
        String::new()
    } else {
        "•••••".to_string()
    }
}

/// A record of user `alice`'s send by `twilio` (`id` is `{send_id}-{attempt}`), begun at
/// `at`: what the tests of the message log start from.
#[cfg(test)]
pub(crate) fn sample(id: &str, at: u64, status: SendStatus) -> SendRecord {
    let (send_id, attempt) = id.rsplit_once('-').unwrap_or((id, "1"));
    SendRecord {
        id: id.into(),
        send_id: send_id.into(),
        attempt: attempt.parse().unwrap_or(1),
        at,
        updated_at: at,
        username: "alice".into(),
        challenge: "0102030405060708".into(),
        channel: "sms".into(),
        provider: "twilio".into(),
        status,
        provider_message_id: None,
        http_status: None,
        latency_ms: None,
        error: None,
        destination: "+41•••••67".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: SendStatus) -> SendRecord {
        sample("s1-1", 10, status)
    }

    #[test]
    fn statuses_read_back_as_written() {
        for s in SendStatus::ALL {
            assert_eq!(SendStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!(SendStatus::parse("Sent"), None);
    }

    #[test]
    fn a_status_never_goes_back_and_a_message_id_stays() {
        let sent = SendRecord {
            provider_message_id: Some("SM1".into()),
            http_status: Some(201),
            latency_ms: Some(80),
            updated_at: 11,
            ..record(SendStatus::Sent)
        };
        let delivered = SendRecord {
            updated_at: 20,
            ..record(SendStatus::Delivered)
        };
        let moved = SendRecord::merged(&sent, &delivered);
        assert_eq!(moved.status, SendStatus::Delivered);
        assert_eq!(moved.provider_message_id.as_deref(), Some("SM1"));
        assert_eq!((moved.http_status, moved.latency_ms), (Some(201), Some(80)));
        assert_eq!(moved.updated_at, 20);

        // A late "sent" (or "queued") leaves "delivered" as it was.
        let late = SendRecord::merged(&moved, &sent);
        assert_eq!(late.status, SendStatus::Delivered);
        let queued = SendRecord::merged(&moved, &record(SendStatus::Queued));
        assert_eq!(queued.status, SendStatus::Delivered);
        // The first final status stays.
        let undelivered = SendRecord::merged(&moved, &record(SendStatus::Undelivered));
        assert_eq!(undelivered.status, SendStatus::Delivered);
        assert_eq!(undelivered.at, 10);
    }

    #[test]
    fn a_filter_keeps_what_all_its_parts_match() {
        let r = record(SendStatus::Sent);
        assert!(SendFilter::default().matches(&r));
        assert!(SendFilter::of_challenge("0102030405060708").matches(&r));
        assert!(!SendFilter::of_challenge("01020304").matches(&r));
        let f = SendFilter {
            username: Some("alice".into()),
            status: Some(SendStatus::Sent),
            provider: Some("twilio".into()),
            channel: Some("sms".into()),
            ..SendFilter::default()
        };
        assert!(f.matches(&r));
        for other in [
            SendFilter {
                status: Some(SendStatus::Delivered),
                ..f.clone()
            },
            SendFilter {
                channel: Some("email".into()),
                ..f.clone()
            },
            SendFilter {
                username: Some("bob".into()),
                ..f.clone()
            },
        ] {
            assert!(!other.matches(&r), "{other:?}");
        }
    }

    #[test]
    fn destinations_are_masked_to_their_ends() {
        assert_eq!(mask_destination("+41791231267"), "+41•••••67");
        assert_eq!(mask_destination("alice@example.org"), "a•••@example.org");
        assert_eq!(mask_destination("+4179"), "•••••");
        assert_eq!(mask_destination("https://hooks.example.org/x"), "h•••••");
        assert_eq!(mask_destination(""), "");
    }

    #[test]
    fn a_challenge_id_is_the_first_8_bytes_of_the_key_in_hex() {
        let mut key = [0xffu8; 32];
        key[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 0xab]);
        assert_eq!(SessionKey(key).challenge_id(), "01020304050607ab");
    }
}

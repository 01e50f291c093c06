//! An event: what happened to a user, as the JSON body a webhook endpoint receives, in the
//! Standard Webhooks shape `{"type", "timestamp", "data"}`.
//!
//! `data` names the user and what the event concerns (method, channel, provider, reason,
//! seconds): never a code, a token, a secret or a full destination. Whoever builds an event
//! keeps to that: [`Event::with`] takes what it is given.

use serde_json::{Map, Value};

/// The kinds of event, as `events.endpoints[].types` names them
/// ([`crate::config::EVENT_TYPES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A method was enrolled (a confirm).
    Enrolled,
    /// MFA, or one method, was turned off (by the user, a recovery code or an admin).
    Deactivated,
    /// A login's second factor was verified.
    Verified,
    /// A code or recovery code was refused: wrong, or tried during a wait.
    Refused,
    /// A wrong attempt started a wait (the user's attempts are refused until it ends).
    WaitStarted,
    /// A provider accepted a message.
    SendSent,
    /// A send failed (every provider and retry within the deadline).
    SendFailed,
    /// A delivery receipt said the message arrived.
    SendDelivered,
    /// A delivery receipt said the message did not arrive.
    SendUndelivered,
}

impl EventType {
    pub fn name(self) -> &'static str {
        match self {
            EventType::Enrolled => "mfa.enrolled",
            EventType::Deactivated => "mfa.deactivated",
            EventType::Verified => "mfa.verified",
            EventType::Refused => "mfa.refused",
            EventType::WaitStarted => "mfa.wait_started",
            EventType::SendSent => "send.sent",
            EventType::SendFailed => "send.failed",
            EventType::SendDelivered => "send.delivered",
            EventType::SendUndelivered => "send.undelivered",
        }
    }
}

/// One event about one user, before it is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventType,
    pub username: String,
    data: Map<String, Value>,
}

impl Event {
    /// An event of `kind` about `username` (`data.username`).
    pub fn new(kind: EventType, username: &str) -> Event {
        let mut data = Map::new();
        data.insert("username".into(), Value::from(username));
        Event {
            kind,
            username: username.to_string(),
            data,
        }
    }

    /// The event with `data.<key>` set to `value`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Event {
        self.data.insert(key.to_string(), value.into());
        self
    }

    /// The body sent to every endpoint: `{"type", "timestamp" (RFC 3339, UTC), "data"}`.
    pub fn payload(&self, at: u64) -> String {
        let mut body = Map::new();
        body.insert("type".into(), Value::from(self.kind.name()));
        body.insert("timestamp".into(), Value::from(rfc3339(at)));
        body.insert("data".into(), Value::Object(self.data.clone()));
        Value::Object(body).to_string()
    }
}

/// `at` (seconds since the epoch) as `2026-12-02T05:14:46Z`.
pub fn rfc3339(at: u64) -> String {
    let (days, seconds) = (at / 86_400, at % 86_400);
    // Howard Hinnant's `civil_from_days`: the proleptic Gregorian date `days` after 1970-01-01.
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EVENT_TYPES;

    #[test]
    fn every_type_is_one_the_configuration_knows() {
        let all = [
            EventType::Enrolled,
            EventType::Deactivated,
            EventType::Verified,
            EventType::Refused,
            EventType::WaitStarted,
            EventType::SendSent,
            EventType::SendFailed,
            EventType::SendDelivered,
            EventType::SendUndelivered,
        ];
        let names: Vec<&str> = all.iter().map(|t| t.name()).collect();
        assert_eq!(names, EVENT_TYPES);
    }

    #[test]
    fn a_payload_has_the_standard_webhooks_shape() {
        let event = Event::new(EventType::Refused, "alice").with("reason", "wrong-code");
        let body: Value = serde_json::from_str(&event.payload(1_649_367_553)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "mfa.refused",
                "timestamp": "2022-04-07T21:39:13Z",
                "data": {"username": "alice", "reason": "wrong-code"},
            })
        );
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}

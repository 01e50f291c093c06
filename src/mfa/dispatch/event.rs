//! The events of the message log ([`crate::events`]): `send.sent` and `send.failed` for each
//! try of the engine that reached a decision, `send.delivered` and `send.undelivered` for each
//! verified receipt. Their data names the send (channel, provider, attempt, `send_id`, status,
//! error class), never its destination or its code.

use crate::events::{Event, EventType};
use crate::store::{SendRecord, SendStatus};

/// The event that `record`'s status tells: `None` for a send still `queued`.
pub fn send_event(record: &SendRecord) -> Option<Event> {
    let kind = match record.status {
        SendStatus::Queued => return None,
        SendStatus::Sent => EventType::SendSent,
        SendStatus::Failed if record.provider_message_id.is_none() => EventType::SendFailed,
        // A receipt's `failed`: the provider took the message, then could not deliver it.
        SendStatus::Failed | SendStatus::Undelivered => EventType::SendUndelivered,
        SendStatus::Delivered => EventType::SendDelivered,
    };
    let mut event = Event::new(kind, &record.username)
        .with("channel", record.channel.as_str())
        .with("provider", record.provider.as_str())
        .with("attempt", record.attempt)
        .with("send_id", record.send_id.as_str())
        .with("status", record.status.as_str());
    if let Some(error) = &record.error {
        event = event.with("error", error.as_str());
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: SendStatus, message_id: Option<&str>) -> SendRecord {
        SendRecord {
            id: "s1-2".into(),
            send_id: "s1".into(),
            attempt: 2,
            at: 10,
            updated_at: 10,
            username: "alice".into(),
            challenge: "0011223344556677".into(),
            channel: "sms".into(),
            provider: "tw".into(),
            status,
            provider_message_id: message_id.map(String::from),
            http_status: Some(500),
            latency_ms: Some(50),
            error: Some("5xx".into()),
            destination: "+41•••••67".into(),
        }
    }

    #[test]
    fn each_decided_status_has_its_event_and_none_names_the_destination() {
        let kinds = [
            (SendStatus::Queued, None, None),
            (SendStatus::Sent, Some("SM1"), Some(EventType::SendSent)),
            (SendStatus::Failed, None, Some(EventType::SendFailed)),
            (
                SendStatus::Failed,
                Some("SM1"),
                Some(EventType::SendUndelivered),
            ),
            (
                SendStatus::Undelivered,
                Some("SM1"),
                Some(EventType::SendUndelivered),
            ),
            (
                SendStatus::Delivered,
                Some("SM1"),
                Some(EventType::SendDelivered),
            ),
        ];
        for (status, id, kind) in kinds {
            let event = send_event(&record(status, id));
            assert_eq!(event.as_ref().map(|e| e.kind), kind, "{status:?}");
            if let Some(event) = event {
                let body = event.payload(0);
                assert!(body.contains("\"send_id\":\"s1\""), "{body}");
                assert!(body.contains("\"attempt\":2"), "{body}");
                assert!(body.contains("\"error\":\"5xx\""), "{body}");
                assert!(!body.contains("+41"), "{body}");
            }
        }
    }
}

//! The message log as a send writes it: one record per try, across providers, under one
//! send id, with the provider, attempt, outcome and error class, the destination masked and
//! never the code.

use crate::mfa::testing::{Harness, PHONE};
use crate::store::{SendFilter, SendStatus, Store};

#[tokio::test]
async fn every_try_of_a_send_is_recorded_under_one_send_id() {
    // The first provider refuses connections (nothing listens on port 1); the second is the
    // development outbox.
    let h = Harness::with_endpoints(
        "single",
        "    - name: down\n      single: { url: 'http://127.0.0.1:1/sms', method: POST, body: 'code {{ code }}' }\n    - name: outbox\n      single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }",
    );
    h.activate("alice").await;
    let code = h.last_code();

    let filter = SendFilter {
        username: Some("alice".into()),
        ..SendFilter::default()
    };
    let mut records = h.store.find_sends(&filter, 10).await.unwrap();
    records.sort_by_key(|r| r.attempt);
    assert_eq!(records.len(), 2, "{records:?}");
    let (first, second) = (&records[0], &records[1]);
    assert_eq!(first.send_id, second.send_id);
    assert_eq!((first.attempt, second.attempt), (1, 2));
    assert_eq!(first.id, format!("{}-1", first.send_id));
    assert_eq!(
        (
            first.provider.as_str(),
            first.status,
            first.error.as_deref()
        ),
        ("down", SendStatus::Failed, Some("unreachable"))
    );
    assert_eq!(
        (
            second.provider.as_str(),
            second.status,
            second.error.as_deref()
        ),
        ("outbox", SendStatus::Sent, None)
    );
    assert_eq!(second.http_status, Some(200));
    assert!(second.latency_ms.is_some());
    for r in &records {
        assert_eq!(r.channel, "sms");
        assert_eq!(r.challenge.len(), 16, "8 bytes of the session key, in hex");
        assert_ne!(r.destination, PHONE, "masked");
        let shown = format!("{r:?}");
        assert!(!shown.contains(code.expose()), "no code in {shown}");
        assert!(!shown.contains(PHONE), "no destination in {shown}");
    }
}

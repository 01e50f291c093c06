//! The contract's cases for the message log ([`crate::store::sends`]).

use std::sync::Arc;

use crate::store::{SendFilter, SendRecord, SendStatus, Store};

fn send(id: &str, at: u64, status: SendStatus) -> SendRecord {
    crate::store::sends::sample(id, at, status)
}

fn ids(found: Vec<SendRecord>) -> Vec<String> {
    found.into_iter().map(|r| r.id).collect()
}

pub(in crate::store) async fn a_send_moves_forward_and_is_found_by_its_message_id(
    store: Arc<dyn Store>,
) {
    store
        .put_send(&send("s1-1", 10, SendStatus::Queued))
        .await
        .unwrap();
    let got = store.send("s1-1").await.unwrap().unwrap();
    assert_eq!(got, send("s1-1", 10, SendStatus::Queued));
    assert_eq!(
        store
            .send_by_provider_message("twilio", "SM1")
            .await
            .unwrap(),
        None
    );

    let sent = SendRecord {
        provider_message_id: Some("SM1".into()),
        http_status: Some(201),
        latency_ms: Some(90),
        updated_at: 11,
        ..send("s1-1", 10, SendStatus::Sent)
    };
    store.put_send(&sent).await.unwrap();
    let found = store
        .send_by_provider_message("twilio", "SM1")
        .await
        .unwrap();
    assert_eq!(found, Some(sent.clone()));
    assert_eq!(
        store
            .send_by_provider_message("vonage", "SM1")
            .await
            .unwrap(),
        None
    );

    // A receipt knows the status only; what was known stays.
    let delivered = SendRecord {
        updated_at: 30,
        ..send("s1-1", 10, SendStatus::Delivered)
    };
    store.put_send(&delivered).await.unwrap();
    // A late "sent" does not take it back.
    store.put_send(&sent).await.unwrap();
    let now = store
        .send_by_provider_message("twilio", "SM1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.status, SendStatus::Delivered);
    assert_eq!(now.provider_message_id.as_deref(), Some("SM1"));
    assert_eq!(
        (now.http_status, now.latency_ms, now.updated_at),
        (Some(201), Some(90), 30)
    );
    assert_eq!(store.send("s1-2").await.unwrap(), None);
}

pub(in crate::store) async fn the_message_log_finds_newest_first_by_each_filter(
    store: Arc<dyn Store>,
) {
    let mut bob = send("s2-1", 12, SendStatus::Failed);
    bob.username = "bob".into();
    bob.challenge = "ffffffffffffffff".into();
    let mut email = send("s3-1", 13, SendStatus::Sent);
    email.channel = "email".into();
    email.provider = "mailer".into();
    for record in [
        send("s1-1", 10, SendStatus::Failed),
        send("s1-2", 11, SendStatus::Sent),
        bob,
        email,
    ] {
        store.put_send(&record).await.unwrap();
    }
    let find = |filter: SendFilter, limit| {
        let store = Arc::clone(&store);
        async move { ids(store.find_sends(&filter, limit).await.unwrap()) }
    };
    assert_eq!(
        find(SendFilter::default(), 10).await,
        ["s3-1", "s2-1", "s1-2", "s1-1"]
    );
    assert_eq!(find(SendFilter::default(), 2).await, ["s3-1", "s2-1"]);
    let of = |f: fn(&mut SendFilter)| {
        let mut filter = SendFilter::default();
        f(&mut filter);
        filter
    };
    assert_eq!(
        find(of(|f| f.username = Some("alice".into())), 10).await,
        ["s3-1", "s1-2", "s1-1"]
    );
    assert_eq!(
        find(of(|f| f.status = Some(SendStatus::Failed)), 10).await,
        ["s2-1", "s1-1"]
    );
    assert_eq!(
        find(SendFilter::of_challenge("0102030405060708"), 10).await,
        ["s3-1", "s1-2", "s1-1"]
    );
    assert_eq!(
        find(SendFilter::of_challenge("0102030405060708"), 1).await,
        ["s3-1"]
    );
    assert_eq!(
        find(SendFilter::of_challenge("01020304"), 10).await,
        Vec::<String>::new()
    );
    assert_eq!(
        find(of(|f| f.provider = Some("mailer".into())), 10).await,
        ["s3-1"]
    );
    assert_eq!(
        find(of(|f| f.channel = Some("sms".into())), 10).await,
        ["s2-1", "s1-2", "s1-1"]
    );
    let both = SendFilter {
        status: Some(SendStatus::Sent),
        ..SendFilter::of_challenge("0102030405060708")
    };
    assert_eq!(find(both, 10).await, ["s3-1", "s1-2"]);
    // A window of begin times [from, before), alone or with a challenge.
    let window = |from, before| SendFilter {
        begun_from: Some(from),
        begun_before: Some(before),
        ..SendFilter::default()
    };
    assert_eq!(find(window(11, 13), 10).await, ["s2-1", "s1-2"]);
    assert_eq!(find(window(11, 13), 1).await, ["s2-1"]);
    assert_eq!(find(window(14, 20), 10).await, Vec::<String>::new());
    let in_window = SendFilter {
        status: Some(SendStatus::Sent),
        ..window(10, 12)
    };
    assert_eq!(find(in_window, 10).await, ["s1-2"]);
    let challenge_window = SendFilter {
        begun_from: Some(12),
        ..SendFilter::of_challenge("0102030405060708")
    };
    assert_eq!(find(challenge_window, 10).await, ["s3-1"]);
}

pub(in crate::store) async fn the_message_log_sweeps_by_time_and_forgets_the_message_ids(
    store: Arc<dyn Store>,
) {
    for (id, at, message) in [("s1-1", 10, "M1"), ("s1-2", 11, "M2"), ("s2-1", 12, "M3")] {
        let record = SendRecord {
            provider_message_id: Some(message.into()),
            ..send(id, at, SendStatus::Sent)
        };
        store.put_send(&record).await.unwrap();
    }
    assert_eq!(store.sweep_sends(12).await.unwrap(), 2);
    assert_eq!(
        ids(store.find_sends(&SendFilter::default(), 10).await.unwrap()),
        ["s2-1"]
    );
    assert_eq!(store.send("s1-1").await.unwrap(), None);
    assert_eq!(
        store
            .send_by_provider_message("twilio", "M1")
            .await
            .unwrap(),
        None
    );
    assert!(store
        .send_by_provider_message("twilio", "M3")
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        ids(store
            .find_sends(&SendFilter::of_challenge("0102030405060708"), 10)
            .await
            .unwrap()),
        ["s2-1"]
    );
    assert_eq!(store.sweep_sends(12).await.unwrap(), 0);
}

pub(in crate::store) async fn concurrent_updates_of_a_send_are_never_lost(store: Arc<dyn Store>) {
    for round in 0..8u64 {
        let id = format!("c{round}-1");
        store
            .put_send(&send(&id, round, SendStatus::Queued))
            .await
            .unwrap();
        let answered = SendRecord {
            provider_message_id: Some(format!("M{round}")),
            http_status: Some(200),
            ..send(&id, round, SendStatus::Sent)
        };
        let receipt = send(&id, round, SendStatus::Delivered);
        let (a, b) = (Arc::clone(&store), Arc::clone(&store));
        let first = tokio::spawn(async move { a.put_send(&answered).await });
        let second = tokio::spawn(async move { b.put_send(&receipt).await });
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        let got = store.send(&id).await.unwrap().unwrap();
        assert_eq!(got.status, SendStatus::Delivered, "round {round}");
        assert_eq!(
            got.provider_message_id,
            Some(format!("M{round}")),
            "round {round}"
        );
        assert_eq!(got.http_status, Some(200), "round {round}");
    }
}

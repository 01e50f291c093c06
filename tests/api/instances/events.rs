//! Events on a cluster: three daemons on one database share the events queue. Every event is
//! accepted once, by whichever instance leased it; a user's events reach the receiver in order,
//! each one's attempts before the next one's first, retries included.

use std::collections::HashMap;

use serde_json::json;

use crate::events_receiver::{secret, Receiver};
use crate::fakes::Reply;
use crate::helpers::{other_code, AppOptions};
use crate::instances::cluster::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_each_event_once_and_each_users_events_in_order() {
    // The first attempt of every event fails: retries happen, on any instance.
    let receiver = Receiver::start(|this, before| {
        if before.iter().any(|r| r.id == this.id) {
            Reply::Empty(204)
        } else {
            Reply::Empty(503)
        }
    })
    .await;
    let endpoint = json!({"url": receiver.url("/hook"), "secret": secret(), "types": ["mfa.*"]});
    let options =
        AppOptions::standalone_single().with_section("events", json!({"endpoints": [endpoint]}));
    let cluster = Cluster::start(3, options).await;
    let users: Vec<String> = (0..6).map(|i| format!("user-{i}")).collect();
    for user in &users {
        cluster.enroll(user).await;
        let (token, code) = cluster.login_and_challenge(user).await;
        let path = format!("/{user}/mfa/verify");
        cluster
            .post(&path, Some(&token), &json!({"code": other_code(&code)}))
            .await
            .assert_status(400);
        cluster
            .post(&path, Some(&token), &json!({"code": code}))
            .await
            .assert_status(200);
    }

    let expected = users.len() * 3;
    let got = receiver
        .wait_until(
            60,
            "every event accepted",
            || {},
            |r| r.iter().filter(|r| r.accepted()).count() >= expected,
        )
        .await;
    let mut accepted: HashMap<&str, usize> = HashMap::new();
    for r in got.iter().filter(|r| r.accepted()) {
        *accepted.entry(r.id.as_str()).or_default() += 1;
    }
    assert_eq!(accepted.len(), expected, "{got:#?}");
    assert!(
        accepted.values().all(|n| *n == 1),
        "an event accepted twice: {accepted:?}"
    );
    assert!(got.iter().all(|r| r.signature_is_valid()));
    for user in &users {
        let mut attempts: Vec<String> = got
            .iter()
            .filter(|r| &r.username() == user)
            .map(|r| r.event_type())
            .collect();
        attempts.dedup();
        assert_eq!(
            attempts,
            vec!["mfa.enrolled", "mfa.refused", "mfa.verified"],
            "{user}: each event's attempts, in order, before the next event's"
        );
    }
}

//! The events queue survives the daemon: events queued while the receiver is down, the binary
//! killed with SIGKILL and started again, then the receiver back: every event arrives, signed,
//! in order per user.

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use crate::events_receiver::{events_env, events_section, types_of, Receiver};
use crate::fakes::Reply;
use crate::helpers::{other_code, spawn_daemon, AppOptions, Stop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_before_a_kill_9_all_arrive_in_order_after_the_restart() {
    let receiver = Receiver::start(|_, _| Reply::Empty(503)).await;
    let endpoint = json!({
        "url": receiver.url("/hook"),
        "secret": "${EVENTS_SECRET}",
        "types": ["mfa.*"],
    });
    let options =
        AppOptions::proxy_single().with_section("events", events_section(json!([endpoint])));
    let env = events_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut app = spawn_daemon(options, &env).await;
    for user in ["alice", "bob"] {
        app.enroll(user).await;
        let token = app.mfa_login(user).await;
        app.challenge(user, &token).await.assert_status(200);
        let code = app.last_code();
        app.verify(user, &token, &other_code(&code))
            .await
            .assert_status(400);
        app.verify(user, &token, &code).await.assert_status(200);
    }
    // The receiver is down: the worker has tried at least once.
    receiver
        .wait_until(20, "a first attempt", || {}, |r| !r.is_empty())
        .await;

    app.restart(Stop::Kill).await;
    receiver.answer(|_, _| Reply::Empty(204));

    let expected = ["mfa.enrolled", "mfa.refused", "mfa.verified"];
    let got = receiver
        .wait_until(
            60,
            "all six events after the restart",
            || {},
            |r| {
                let accepted: HashSet<&str> = r
                    .iter()
                    .filter(|r| r.accepted())
                    .map(|r| r.id.as_str())
                    .collect();
                accepted.len() >= 6
            },
        )
        .await;
    assert!(got.iter().all(|r| r.signature_is_valid()), "{got:#?}");
    let accepted: Vec<_> = got.iter().filter(|r| r.accepted()).cloned().collect();
    for user in ["alice", "bob"] {
        // Delivered at least once, each in order: the first acceptance of each event.
        let mut first = BTreeMap::new();
        for (i, r) in accepted.iter().enumerate() {
            if r.username() == user {
                first.entry(r.id.clone()).or_insert((i, r.event_type()));
            }
        }
        let mut order: Vec<(usize, String)> = first.into_values().collect();
        order.sort();
        let types: Vec<String> = order.into_iter().map(|(_, t)| t).collect();
        assert_eq!(types, expected, "{user}: {:#?}", types_of(&got, user));
    }
}

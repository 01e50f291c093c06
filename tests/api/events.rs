//! Events as signed webhooks (`events:`): they arrive signed (checked by the receiver's own
//! HMAC), in order per user, again after a failure with the same id, only to the endpoints
//! that asked for their type, and never slow a login, even when the receiver hangs.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::events_receiver::{events_env, events_section, types_of, Receiver};
use crate::fakes::Reply;
use crate::helpers::{other_code, spawn_app_with_env, AppOptions, TestApp};

/// An endpoint at `url` for the `mfa.*` events (the tests' own; sends have theirs).
fn endpoint(url: &str, types: Value) -> Value {
    json!({"url": url, "secret": "${EVENTS_SECRET}", "types": types, "timeout_ms": 2000})
}

async fn app_with(endpoints: Value, options: AppOptions) -> TestApp {
    let env = events_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with_env(
        options.with_section("events", events_section(endpoints)),
        &env,
    )
    .await
}

/// A login of enrolled `user` and its challenge: the mfaToken and the code sent.
async fn challenged_login(app: &TestApp, user: &str) -> (String, String) {
    let token = app.mfa_login(user).await;
    app.challenge(user, &token).await.assert_status(200);
    (token, app.code_from_last_send())
}

/// A login of enrolled `user` verified with the right code.
async fn verified_login(app: &TestApp, user: &str) {
    let (token, code) = challenged_login(app, user).await;
    app.verify(user, &token, &code).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolments_refusals_and_verifies_arrive_signed_in_the_standard_webhooks_shape() {
    let receiver = Receiver::accepting().await;
    let app = app_with(
        json!([endpoint(&receiver.url("/hook"), json!(["mfa.*"]))]),
        AppOptions::proxy_single(),
    )
    .await;
    app.enroll("alice").await;
    let (token, code) = challenged_login(&app, "alice").await;
    app.verify("alice", &token, &other_code(&code))
        .await
        .assert_status(400);
    app.verify("alice", &token, &code).await.assert_status(200);

    let got = receiver
        .wait_until(10, "three events", || {}, |r| r.len() >= 3)
        .await;
    assert_eq!(
        types_of(&got, "alice"),
        vec!["mfa.enrolled", "mfa.refused", "mfa.verified"]
    );
    for r in &got {
        assert!(r.signature_is_valid(), "a bad signature: {r:#?}");
        assert_eq!(r.timestamp, app.now().to_string());
        assert!(r.id.starts_with("evt_"), "{}", r.id);
        assert_eq!(r.body["data"]["username"], json!("alice"));
        let stamp = r.body["timestamp"].as_str().unwrap();
        assert!(
            stamp.ends_with('Z') && stamp.len() == 20,
            "RFC 3339: {stamp}"
        );
        // Never a code or the destination.
        assert!(!r.raw.contains(&code) && !r.raw.contains(&other_code(&code)));
        assert!(!r.raw.contains("+41"), "{}", r.raw);
    }
    assert_eq!(got.iter().map(|r| &r.id).collect::<HashSet<_>>().len(), 3);
    assert_eq!(got[0].body["data"]["methods"], json!(["sms"]));
    assert_eq!(got[1].body["data"]["reason"], json!("wrong-code"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_refused_with_500_comes_again_with_the_same_id_until_accepted() {
    // The first two attempts of every event fail.
    let receiver = Receiver::start(|this, before| {
        if before.iter().filter(|r| r.id == this.id).count() < 2 {
            Reply::Empty(500)
        } else {
            Reply::Empty(204)
        }
    })
    .await;
    let app = app_with(
        json!([endpoint(&receiver.url("/hook"), json!(["mfa.enrolled"]))]),
        AppOptions::proxy_single(),
    )
    .await;
    app.enroll("alice").await;

    // Retries back off on the app's clock: move it along while waiting.
    let got = receiver
        .wait_until(
            20,
            "the enrolment accepted on the third attempt",
            || app.advance_clock(3),
            |r| r.iter().any(|r| r.accepted()),
        )
        .await;
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(
        got.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![500, 500, 204]
    );
    assert!(got.iter().all(|r| r.id == got[0].id && r.raw == got[0].raw));
    assert!(got.iter().all(|r| r.signature_is_valid()));
    assert!(
        got[2].timestamp > got[0].timestamp,
        "each attempt is signed for its own time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_event_holds_back_the_later_events_of_its_user_only() {
    // Alice's events fail until the test says otherwise; bob's are accepted.
    let receiver = Receiver::start(|this, _| match this.username().as_str() {
        "alice" => Reply::Empty(503),
        _ => Reply::Empty(204),
    })
    .await;
    let app = app_with(
        json!([endpoint(&receiver.url("/hook"), json!(["mfa.*"]))]),
        AppOptions::proxy_single(),
    )
    .await;
    app.enroll("alice").await;
    app.enroll("bob").await;
    verified_login(&app, "alice").await;
    verified_login(&app, "bob").await;

    let got = receiver
        .wait_until(
            10,
            "bob's two events",
            || {},
            |r| types_of(&accepted(r), "bob").len() == 2,
        )
        .await;
    assert_eq!(
        types_of(&accepted(&got), "bob"),
        vec!["mfa.enrolled", "mfa.verified"]
    );
    assert!(
        types_of(&got, "alice").iter().all(|t| t == "mfa.enrolled"),
        "alice's verify is not sent before her enrolment is accepted: {got:#?}"
    );

    receiver.answer(|_, _| Reply::Empty(204));
    let got = receiver
        .wait_until(
            20,
            "alice's two events",
            || app.advance_clock(2),
            |r| types_of(&accepted(r), "alice").len() == 2,
        )
        .await;
    assert_eq!(
        types_of(&accepted(&got), "alice"),
        vec!["mfa.enrolled", "mfa.verified"]
    );
    let first_verify = got
        .iter()
        .position(|r| r.username() == "alice" && r.event_type() == "mfa.verified");
    let enrolment_accepted = got
        .iter()
        .position(|r| r.username() == "alice" && r.accepted());
    assert!(enrolment_accepted < first_verify, "{got:#?}");
}

fn accepted(list: &[crate::events_receiver::Received]) -> Vec<crate::events_receiver::Received> {
    list.iter().filter(|r| r.accepted()).cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_hangs_never_slows_a_login() {
    // Alice's deliveries never get an answer (for a minute each); bob's are accepted.
    let receiver = Receiver::start(|this, _| match this.username().as_str() {
        "alice" => Reply::Hang,
        _ => Reply::Empty(204),
    })
    .await;
    let hanging = json!({
        "url": receiver.url("/hook"),
        "secret": "${EVENTS_SECRET}",
        "types": ["mfa.*"],
        "timeout_ms": 60_000,
    });
    let app = app_with(json!([hanging]), AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    receiver
        .wait_until(
            10,
            "a delivery to the hanging receiver",
            || {},
            |r| !r.is_empty(),
        )
        .await;
    // Each answers (the test client gives up after 15 s, well before the receiver's minute).
    for _ in 0..3 {
        verified_login(&app, "alice").await;
    }
    app.enroll("bob").await;
    verified_login(&app, "bob").await;
    let got = receiver
        .wait_until(
            10,
            "bob's events past alice's hanging one",
            || {},
            |r| types_of(&accepted(r), "bob").len() == 2,
        )
        .await;
    assert_eq!(types_of(&got, "alice"), vec!["mfa.enrolled"], "{got:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_gets_only_the_types_it_asked_for() {
    let receiver = Receiver::accepting().await;
    let options = AppOptions::proxy_single().with_attempts(json!({
        "per_session": 100,
        "free_failures": 1,
        "base_seconds": 30,
        "max_seconds": 900,
        "window_seconds": 86400,
    }));
    let app = app_with(
        json!([
            endpoint(&receiver.url("/verified"), json!(["mfa.verified"])),
            endpoint(
                &receiver.url("/refusals"),
                json!(["mfa.refused", "mfa.wait_started"])
            ),
        ]),
        options,
    )
    .await;
    app.enroll("alice").await;
    let (token, code) = challenged_login(&app, "alice").await;
    for _ in 0..2 {
        app.verify("alice", &token, &other_code(&code))
            .await
            .assert_status(400);
    }
    app.advance_clock(31);
    app.verify("alice", &token, &code).await.assert_status(200);

    let got = receiver
        .wait_until(10, "four events", || {}, |r| r.len() >= 4)
        .await;
    let at = |path: &str| -> Vec<String> {
        got.iter()
            .filter(|r| r.path == path)
            .map(|r| r.event_type())
            .collect()
    };
    assert_eq!(at("/verified"), vec!["mfa.verified"]);
    assert_eq!(
        at("/refusals"),
        vec!["mfa.refused", "mfa.refused", "mfa.wait_started"]
    );
    let wait = got
        .iter()
        .find(|r| r.event_type() == "mfa.wait_started")
        .unwrap();
    assert_eq!(wait.body["data"]["seconds"], json!(30));
    assert!(got.iter().all(|r| r.signature_is_valid()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_turned_off_is_told_with_who_turned_it_off() {
    let receiver = Receiver::accepting().await;
    let app = app_with(
        json!([endpoint(
            &receiver.url("/hook"),
            json!(["mfa.enrolled", "mfa.deactivated"])
        )]),
        AppOptions::standalone_single().with_admin(),
    )
    .await;
    let codes = app.enroll("alice").await;
    app.recover_with_code("alice", &codes[0])
        .await
        .assert_status(200);
    app.enroll("bob").await;
    app.admin(
        "POST",
        "/api/users/bob/reset",
        &crate::helpers::admin_auth(),
        Some(&json!({"method": "all"})),
    )
    .await
    .assert_status(200);

    let got = receiver
        .wait_until(10, "four events", || {}, |r| r.len() >= 4)
        .await;
    let off = |user: &str| {
        got.iter()
            .find(|r| r.username() == user && r.event_type() == "mfa.deactivated")
            .map(|r| r.body["data"].clone())
            .unwrap()
    };
    assert_eq!(
        types_of(&got, "alice"),
        vec!["mfa.enrolled", "mfa.deactivated"]
    );
    assert_eq!(off("alice")["by"], json!("recovery-code"));
    assert_eq!(off("alice")["methods"], json!([]));
    assert_eq!(off("bob")["by"], json!("admin"));
    for r in &got {
        assert!(
            !codes.iter().any(|c| r.raw.contains(c.as_str())),
            "{}",
            r.raw
        );
    }
}

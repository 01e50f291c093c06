//! Send limits (`mfa.send_limits`): a minimum interval between two sends of one session, sends
//! per user over a sliding hour, sends per destination over a sliding day. A refused send sends
//! nothing and answers 429 `too-many-attempts` with `remainingDelay` and `Retry-After`.

use serde_json::json;

use crate::fakes::Reply;
use crate::helpers::{phone_for, spawn_app, AppOptions, TestApp};

/// Login and challenge of an enrolled user: the challenge's answer.
async fn login_and_challenge(app: &TestApp, username: &str) -> crate::helpers::TestResponse {
    let mfa_token = app.mfa_login(username).await;
    app.challenge(username, &mfa_token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_right_after_activate_waits_for_the_minimum_interval_and_sends_nothing() {
    let app =
        spawn_app(AppOptions::proxy_single().with_send_limits(json!({"min_interval_seconds": 30})))
            .await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let first_code = app.last_code();

    let right_after = app.challenge("alice", &mfa_token).await;
    assert_eq!(right_after.remaining_delay(), 30, "{}", right_after.text);
    assert_eq!(app.provider.count(), 1, "a refused send sends nothing");
    app.advance_clock(10);
    let later = app.challenge("alice", &mfa_token).await;
    assert_eq!(later.remaining_delay(), 20, "{}", later.text);
    assert_eq!(app.provider.count(), 1, "a refused send sends nothing");

    app.advance_clock(20);
    app.challenge("alice", &mfa_token).await.assert_status(200);
    assert_eq!(app.provider.count(), 2);
    let second_code = app.last_code();
    assert_ne!(
        first_code, second_code,
        "same code twice (1 in 10^6): rerun"
    );
    app.confirm("alice", &mfa_token, &second_code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_minimum_interval_is_per_session() {
    let app =
        spawn_app(AppOptions::proxy_single().with_send_limits(json!({"min_interval_seconds": 30})))
            .await;
    app.enroll("alice").await;
    let first = app.mfa_login("alice").await;
    app.challenge("alice", &first).await.assert_status(200);

    let same_session = app.challenge("alice", &first).await;
    let other_session = login_and_challenge(&app, "alice").await;

    assert_eq!(same_session.remaining_delay(), 30, "{}", same_session.text);
    other_session.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_challenge_verify_mode_the_minimum_interval_refuses_a_second_challenge_request() {
    let app = spawn_app(
        AppOptions::proxy_challenge_verify().with_send_limits(json!({"min_interval_seconds": 30})),
    )
    .await;
    let mfa_token = app.activate_default("alice").await.mfa_token();

    let right_after = app.challenge("alice", &mfa_token).await;

    assert_eq!(right_after.remaining_delay(), 30, "{}", right_after.text);
    assert_eq!(app.provider.requests_to("/challenge").len(), 1);
    app.advance_clock(30);
    app.challenge("alice", &mfa_token).await.assert_status(200);
    assert_eq!(app.provider.requests_to("/challenge").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_per_user_are_limited_over_a_sliding_hour_across_sessions() {
    let app =
        spawn_app(AppOptions::proxy_single().with_send_limits(json!({"per_user_per_hour": 3})))
            .await;
    app.enroll("alice").await; // send 1, at t0
    app.advance_clock(100);
    login_and_challenge(&app, "alice").await.assert_status(200); // send 2, at t0 + 100
    app.advance_clock(100);
    login_and_challenge(&app, "alice").await.assert_status(200); // send 3, at t0 + 200
    let sent = app.provider.count();

    let fourth = login_and_challenge(&app, "alice").await;

    assert_eq!(
        fourth.remaining_delay(),
        3400,
        "the send at t0 leaves the hour at t0 + 3600: {}",
        fourth.text
    );
    assert_eq!(app.provider.count(), sent, "a refused send sends nothing");
    app.activate_default("bob").await.mfa_token();
    assert_eq!(
        app.provider.count(),
        sent + 1,
        "another user is not limited"
    );

    app.advance_clock(3400);
    login_and_challenge(&app, "alice").await.assert_status(200);
    let next = login_and_challenge(&app, "alice").await;
    assert_eq!(
        next.remaining_delay(),
        100,
        "sliding: the send at t0 + 100 leaves the hour at t0 + 3700: {}",
        next.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_per_destination_are_limited_over_a_sliding_day_across_users() {
    let app = spawn_app(
        AppOptions::proxy_single().with_send_limits(json!({"per_destination_per_day": 2})),
    )
    .await;
    let shared = json!({"phone": "+41790000042"});
    app.activate("alice", &app.personal(), &shared)
        .await
        .mfa_token();
    app.advance_clock(1000);
    app.activate("bob", &app.personal(), &shared)
        .await
        .mfa_token();

    let third = app.activate("carol", &app.personal(), &shared).await;

    assert_eq!(
        third.remaining_delay(),
        86400 - 1000,
        "the first send leaves the day at t0 + 86400: {}",
        third.text
    );
    assert_eq!(app.provider.count(), 2, "a refused send sends nothing");
    app.activate_default("carol").await.mfa_token();
    app.advance_clock(86400 - 1000);
    app.activate("carol", &app.personal(), &shared)
        .await
        .mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_that_reached_the_provider_counts_even_when_the_provider_answered_500() {
    let app =
        spawn_app(AppOptions::proxy_single().with_send_limits(json!({"per_user_per_hour": 2})))
            .await;
    app.provider
        .reply_on("/sms", Reply::json(500, json!({"message": "down"})));
    for _ in 0..2 {
        app.activate_default("alice")
            .await
            .assert_error(400, "messaging-server-error");
    }
    app.provider
        .reply_on("/sms", Reply::json(200, json!({"id": "message-2"})));

    let third = app.activate_default("alice").await;

    third.remaining_delay();
    assert_eq!(app.provider.count(), 2, "a refused send sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_destination_limit_counts_the_phone_not_the_user() {
    let app = spawn_app(
        AppOptions::standalone_single().with_send_limits(json!({"per_destination_per_day": 1})),
    )
    .await;
    app.activate_default("alice").await.mfa_token();

    let same_user_other_phone = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("bob")}),
        )
        .await;
    let same_phone_again = app.activate_default("alice").await;

    same_user_other_phone.mfa_token();
    same_phone_again.remaining_delay();
    assert_eq!(app.provider.count(), 2);
}

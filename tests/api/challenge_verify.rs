//! The challenge-verify SMS mode (the provider generates and checks the code), in proxy mode.

use serde_json::json;

use crate::fakes::{unreachable_base_url, upstream_grant, Reply, PROVIDER_VALID_CODE};
use crate::helpers::{
    default_endpoints, phone_for, spawn_app, AppOptions, SmsMode, TestApp, INVALID_SESSION,
    VERIFY_MESSAGE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_asks_the_provider_for_a_challenge_with_the_user_data() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;

    let response = app.activate_default("alice").await;

    response.mfa_token();
    assert_eq!(app.provider.count(), 1);
    let challenge = app.provider.last();
    assert_eq!(challenge.method, "POST");
    assert_eq!(challenge.path, "/challenge");
    assert_eq!(
        challenge.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        challenge.body_json(),
        json!({"phone_number": phone_for("alice")})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_sequence_forwards_the_users_code_to_the_verify_endpoint() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();

    app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .recovery_codes();
    let confirm_check = app.provider.last();
    assert_eq!(confirm_check.path, "/verify");
    assert_eq!(
        confirm_check.body_json(),
        json!({"phone_number": phone_for("alice"), "code": PROVIDER_VALID_CODE})
    );

    let login = app.login("alice").await;
    let mfa_token = login.mfa_token();
    assert!(!login.text.contains("grant-token"), "{}", login.text);
    let challenge = app.challenge("alice", &mfa_token).await;
    challenge.assert_status(200);
    assert_eq!(
        challenge.json,
        json!({"message": VERIFY_MESSAGE, "method": "sms"})
    );
    assert_eq!(app.provider.requests_to("/challenge").len(), 2);

    let verify = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;
    verify.assert_status(200);
    assert_eq!(verify.json, upstream_grant("alice"));
    let verify_check = app.provider.last();
    assert_eq!(verify_check.path, "/verify");
    assert_eq!(
        verify_check.body_json(),
        json!({"phone_number": phone_for("alice"), "code": PROVIDER_VALID_CODE})
    );
    app.verify("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .assert_error_message(403, "forbidden", INVALID_SESSION);
}

/// Enrolled alice with a fresh login session whose challenge was sent.
async fn enrolled_with_session(app: &TestApp) -> String {
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    mfa_token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_status_from_the_provider_is_an_invalid_code() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = enrolled_with_session(&app).await;

    let response = app.verify("alice", &mfa_token, "111111").await;

    let message = response.assert_error(400, "invalid-code");
    assert!(!response.text.contains("111111"), "{message}");
    assert!(!response.text.contains("grant-token"), "{}", response.text);
    assert_eq!(app.provider.last().body_json()["code"], json!("111111"));
    app.verify("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_status_from_the_provider_is_a_success() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = enrolled_with_session(&app).await;
    app.provider.reply_on(
        "/verify",
        Reply::json(
            200,
            json!({"sid": "VE2", "status": "approved", "valid": true}),
        ),
    );

    let response = app.verify("alice", &mfa_token, "987654").await;

    response.assert_status(200);
    assert_eq!(response.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_4xx_on_verify_is_an_invalid_code() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = enrolled_with_session(&app).await;
    app.provider.reply_on(
        "/verify",
        Reply::json(404, json!({"code": 20404, "message": "not found"})),
    );

    let response = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    response.assert_error(400, "invalid-code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_5xx_on_verify_is_a_messaging_server_error() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = enrolled_with_session(&app).await;
    app.provider.reply_on(
        "/verify",
        Reply::json(503, json!({"message": "unavailable"})),
    );

    let response = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    response.assert_error(400, "messaging-server-error");
    assert!(!response.text.contains("grant-token"), "{}", response.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_time_out_on_verify_is_a_messaging_server_error() {
    let app = spawn_app(AppOptions::proxy_challenge_verify().with_timeout_ms(500)).await;
    let mfa_token = enrolled_with_session(&app).await;
    app.provider.reply_on("/verify", Reply::Hang);

    let response = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    response.assert_error(400, "messaging-server-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_on_verify_is_a_messaging_server_error() {
    let mut endpoints = default_endpoints(SmsMode::ChallengeVerify);
    endpoints["verify"]["url"] = json!(format!("{}/verify", unreachable_base_url()));
    let app = spawn_app(
        AppOptions::proxy_challenge_verify()
            .with_endpoints(endpoints)
            .with_timeout_ms(500),
    )
    .await;
    let mfa_token = app.activate_default("alice").await.mfa_token();

    let response = app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    response.assert_error(400, "messaging-server-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_failure_on_the_challenge_endpoint_is_a_messaging_server_error() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.provider
        .reply_on("/challenge", Reply::json(500, json!({"message": "boom"})));

    let challenge = app.challenge("alice", &mfa_token).await;
    challenge.assert_error(400, "messaging-server-error");

    app.provider.reply_on(
        "/challenge",
        Reply::json(400, json!({"message": "bad number"})),
    );
    let activate = app.activate_default("bob").await;
    activate.assert_error(400, "messaging-server-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_predicate_also_requires_the_listed_status() {
    let app = spawn_app(AppOptions::proxy_challenge_verify()).await;
    let mfa_token = enrolled_with_session(&app).await;
    // `success.status: [200]`: a 202 carrying "approved" is not a success.
    app.provider
        .reply_on("/verify", Reply::json(202, json!({"status": "approved"})));

    let response = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    response.assert_error(400, "invalid-code");
    assert!(!response.text.contains("grant-token"), "{}", response.text);
}

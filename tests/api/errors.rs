//! Errors of the contract: missing Authorization, missing parameters, bad user data, and a
//! provider that fails on a send.

use serde_json::{json, Value};

use crate::fakes::{unreachable_base_url, Reply};
use crate::helpers::{
    default_endpoints, phone_for, spawn_app, AppOptions, Auth, SmsMode, MISSING_AUTH, PROVIDER,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_that_needs_a_token_refuses_a_request_without_authorization_in_proxy_mode() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let body = json!({"code": "123456", "phone": phone_for("alice")});

    for route in ["activate", "confirm", "challenge", "verify", "deactivate"] {
        let response = app
            .post(&format!("/alice/mfa/{route}"), &Auth::None, Some(&body))
            .await;
        assert_eq!(response.status, 403, "{route}: {}", response.text);
        response.assert_error_message(403, "forbidden", MISSING_AUTH);
    }
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_a_request_without_authorization_in_standalone_mode() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;
    let body =
        json!({"code": "123456", "phone": phone_for("alice"), "recoveryCode": recovery_codes[0]});

    for route in [
        "login",
        "mfa/activate",
        "mfa/confirm",
        "mfa/challenge",
        "mfa/verify",
        "mfa/deactivate",
        "mfa/recover",
    ] {
        let response = app
            .post(&format!("/alice/{route}"), &Auth::None, Some(&body))
            .await;
        assert_eq!(response.status, 403, "{route}: {}", response.text);
        response.assert_error_message(403, "forbidden", MISSING_AUTH);
    }
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirm_and_verify_without_a_code_are_an_invalid_request_structure() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let activation = app.activate_default("alice").await.mfa_token();
    let activation_code = app.last_code();

    let confirm = app
        .post(
            "/alice/mfa/confirm",
            &Auth::raw(&activation),
            Some(&json!({})),
        )
        .await;
    confirm.assert_error(400, "invalid-request-structure");

    app.confirm("alice", &activation, &activation_code)
        .await
        .recovery_codes();
    let login = app.mfa_login("alice").await;
    app.challenge("alice", &login).await.assert_status(200);
    let verify = app
        .post("/alice/mfa/verify", &Auth::raw(&login), Some(&json!({})))
        .await;
    verify.assert_error(400, "invalid-request-structure");
}

async fn assert_activation_refused(user_data: Value, field: &str) {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = app.activate("alice", &app.personal(), &user_data).await;

    let message = response.assert_error(400, "invalid-parameters-format");
    assert!(
        message.contains(field),
        "the message must name the field {field:?}: {message}"
    );
    assert_eq!(
        app.provider.count(),
        0,
        "nothing may be sent to the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_user_data_without_the_required_phone() {
    assert_activation_refused(json!({"language": "fr"}), "phone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_phone_that_is_not_e164() {
    assert_activation_refused(json!({"phone": "0791231212"}), "phone").await;
    assert_activation_refused(json!({"phone": "+41 79 123 12 12"}), "phone").await;
    assert_activation_refused(json!({"phone": "+4179123121212345678"}), "phone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_field_that_is_not_allowed() {
    assert_activation_refused(
        json!({"phone": "+41791231212", "fax": "+41791231213"}),
        "fax",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_value_longer_than_max_length() {
    assert_activation_refused(
        json!({"phone": "+41791231212", "message": "x".repeat(257)}),
        "message",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_value_that_is_not_a_string() {
    assert_activation_refused(
        json!({"phone": "+41791231212", "language": {"a": 1}}),
        "language",
    )
    .await;
}

/// Enrolls alice, opens a login session, programs the provider's `/sms` answer, and returns
/// the challenge answer.
async fn challenge_against(reply: Reply) -> (crate::helpers::TestResponse, usize) {
    let app = spawn_app(AppOptions::proxy_single().with_timeout_ms(500)).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.provider.reply_on("/sms", reply);
    let before = app.provider.count();
    let response = app.challenge("alice", &mfa_token).await;
    (response, app.provider.count() - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_400_on_challenge_is_a_messaging_server_error() {
    let (response, sent) = challenge_against(Reply::json(
        400,
        json!({"code": 21211, "message": "Invalid 'To' Phone Number"}),
    ))
    .await;

    response.assert_error(400, "messaging-server-error");
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_500_on_challenge_is_a_messaging_server_error() {
    let (response, sent) =
        challenge_against(Reply::json(500, json!({"message": "internal error"}))).await;

    response.assert_error(400, "messaging-server-error");
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_never_answers_on_challenge_is_a_messaging_server_error() {
    let (response, sent) = challenge_against(Reply::Hang).await;

    response.assert_error(400, "messaging-server-error");
    assert_eq!(sent, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_provider_on_activate_is_a_messaging_server_error() {
    let mut endpoints = default_endpoints(SmsMode::Single);
    endpoints["single"]["url"] =
        json!(format!("{}/sms?to={{{{ phone }}}}", unreachable_base_url()));
    let app = spawn_app(
        AppOptions::proxy_single()
            .with_endpoints(endpoints)
            .with_timeout_ms(500),
    )
    .await;

    let response = app.activate_default("alice").await;

    response.assert_error(400, "messaging-server-error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answering_500_on_activate_is_a_messaging_server_error_and_mfa_stays_off() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.provider
        .reply_on("/sms", Reply::json(500, json!({"message": "down"})));

    let response = app.activate_default("alice").await;

    response.assert_error(400, "messaging-server-error");
    app.login("alice").await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_send_never_shows_the_code_in_the_error() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.provider
        .reply_on("/sms", Reply::json(400, json!({"message": "bad number"})));

    let response = app.activate_default("alice").await;

    response.assert_error(400, "messaging-server-error");
    let code = app.last_code();
    assert!(
        !response.text.contains(&code),
        "the error must not contain the code {code}: {}",
        response.text
    );
    // The provider URL may carry an api key in its query (smsmode's accessToken).
    assert!(
        !response.text.contains(PROVIDER) && !response.text.contains("127.0.0.1"),
        "nor the provider's address: {}",
        response.text
    );
}

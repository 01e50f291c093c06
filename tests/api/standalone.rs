//! Standalone mode (no upstream: the integrator's backend checked the password and calls with
//! its api key), with both SMS modes.

use serde_json::json;

use crate::fakes::PROVIDER_VALID_CODE;
use crate::helpers::{
    code_step_up, phone_for, spawn_app, AppOptions, Auth, API_KEY, DEACTIVATED, VERIFY_MESSAGE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_login_of_a_user_without_mfa_answers_mfa_inactive() {
    let app = spawn_app(AppOptions::standalone_single()).await;

    let response = app.login("alice").await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"mfa": "inactive"}));
    assert_eq!(app.upstream.count(), 0, "standalone mode has no upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_activate_sends_a_code_and_answers_302_with_an_mfa_token() {
    let app = spawn_app(AppOptions::standalone_single()).await;

    let response = app
        .activate(
            "alice",
            &Auth::bearer(API_KEY),
            &json!({"phone": phone_for("alice"), "language": "fr"}),
        )
        .await;

    response.mfa_token();
    assert_eq!(app.provider.count(), 1);
    assert_eq!(app.last_code().len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_sequence_in_standalone_single_mode_ends_with_verified_true() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();

    let mfa_token = app.login("alice").await.mfa_token();
    let challenge = app.challenge("alice", &mfa_token).await;
    challenge.assert_status(200);
    assert_eq!(
        challenge.json,
        json!({"message": VERIFY_MESSAGE, "method": "sms"})
    );
    let code = app.last_code();
    let verify = app.verify("alice", &mfa_token, &code).await;

    verify.assert_status(200);
    assert_eq!(verify.json["verified"], json!(true), "{}", verify.text);
    assert_eq!(verify.json["username"], json!("alice"), "{}", verify.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_sequence_in_standalone_challenge_verify_mode_ends_with_verified_true() {
    let app = spawn_app(AppOptions::standalone_challenge_verify()).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    assert_eq!(app.provider.requests_to("/challenge").len(), 1);
    app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .recovery_codes();

    let mfa_token = app.login("alice").await.mfa_token();
    app.challenge("alice", &mfa_token).await.assert_status(200);
    assert_eq!(app.provider.requests_to("/challenge").len(), 2);
    let verify = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    verify.assert_status(200);
    assert_eq!(verify.json["verified"], json!(true), "{}", verify.text);
    assert_eq!(verify.json["username"], json!("alice"), "{}", verify.text);
    assert_eq!(
        app.provider.last().body_json()["code"],
        json!(PROVIDER_VALID_CODE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_verify_refuses_a_wrong_code() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.login("alice").await.mfa_token();
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();

    let response = app
        .verify("alice", &mfa_token, &crate::helpers::other_code(&code))
        .await;

    response.assert_error(400, "invalid-code");
    assert!(response.json.get("verified").is_none(), "{}", response.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_deactivate_with_the_api_key_and_a_recovery_code_as_step_up_turns_mfa_off() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;
    app.login("alice").await.mfa_token();

    let response = app
        .deactivate(
            "alice",
            &Auth::bearer(API_KEY),
            &code_step_up(&recovery_codes[2]),
        )
        .await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, json!({"mfa": "inactive"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_recover_with_the_api_key_and_a_recovery_code_turns_mfa_off() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;

    let response = app.recover_with_code("alice", &recovery_codes[9]).await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, json!({"mfa": "inactive"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_recover_without_a_recovery_code_is_an_invalid_request_structure() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    app.enroll("alice").await;

    let response = app
        .recover("alice", &Auth::bearer(API_KEY), &json!({}))
        .await;

    response.assert_error_message(
        400,
        "invalid-request-structure",
        "Missing parameter: recoveryCode.",
    );
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_recover_with_a_wrong_recovery_code_is_invalid_parameters_format() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    app.enroll("alice").await;

    let response = app.recover_with_code("alice", "0000-0000-0000").await;

    response.assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.login("alice").await.mfa_token();
}

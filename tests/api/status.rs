//! `GET /{username}/mfa` (is MFA on, since when, how many recovery codes are left; never the
//! phone, a code or a hash) and `POST /{username}/mfa/recovery-codes` (ten new codes, with a
//! step-up; the old ones stop working).

use serde_json::json;

use crate::fakes::APP_TOKEN;
use crate::helpers::{
    code_step_up, password_step_up, phone_for, spawn_app, AppOptions, Auth, MISSING_AUTH,
    NOT_PERSONAL,
};

async fn status_of_a_user_without_mfa(options: AppOptions) {
    let app = spawn_app(options).await;

    let response = app.status("alice", &app.personal()).await;

    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({"enabled": false}),
        "{}",
        response.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_user_without_mfa_is_enabled_false_in_proxy_mode() {
    status_of_a_user_without_mfa(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_a_user_without_mfa_is_enabled_false_in_standalone_mode() {
    status_of_a_user_without_mfa(AppOptions::standalone_single()).await;
}

async fn status_of_an_enrolled_user(options: AppOptions) {
    let app = spawn_app(options).await;
    let enrolled_at = app.now();
    let recovery_codes = app.enroll("alice").await;

    let response = app.status("alice", &app.personal()).await;

    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({
            "enabled": true,
            "methods": ["sms"],
            "enrolledAt": enrolled_at,
            "recoveryCodesRemaining": 10,
        }),
        "{}",
        response.text
    );
    let phone = phone_for("alice");
    assert!(
        !response.text.contains(&phone[1..]),
        "the status must not show the phone number: {}",
        response.text
    );
    for code in &recovery_codes {
        assert!(!response.text.contains(code), "{}", response.text);
        assert!(
            !response.text.contains(&code.replace('-', "")),
            "{}",
            response.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_an_enrolled_user_shows_method_enrolment_time_and_codes_left_in_proxy_mode() {
    status_of_an_enrolled_user(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_an_enrolled_user_shows_method_enrolment_time_and_codes_left_in_standalone_mode()
{
    status_of_an_enrolled_user(AppOptions::standalone_challenge_verify()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_counts_a_recovery_code_used_as_step_up() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;

    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[4]))
        .await
        .mfa_token();
    let response = app.status("alice", &app.personal()).await;

    response.assert_status(200);
    assert_eq!(
        response.json["recoveryCodesRemaining"],
        json!(9),
        "{}",
        response.text
    );
    assert_eq!(response.json["enabled"], json!(true), "{}", response.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_recovery_codes_refuse_a_missing_or_non_personal_token() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;

    app.status("alice", &Auth::None)
        .await
        .assert_error_message(403, "forbidden", MISSING_AUTH);
    app.status("alice", &Auth::raw(APP_TOKEN))
        .await
        .assert_error_message(403, "forbidden", NOT_PERSONAL);
    app.new_recovery_codes("alice", &Auth::None, &code_step_up(&recovery_codes[0]))
        .await
        .assert_error_message(403, "forbidden", MISSING_AUTH);
    app.new_recovery_codes(
        "alice",
        &Auth::raw(APP_TOKEN),
        &code_step_up(&recovery_codes[0]),
    )
    .await
    .assert_error_message(403, "forbidden", NOT_PERSONAL);

    // The refused calls used up nothing.
    app.new_recovery_codes("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_recovery_codes_refuse_a_wrong_api_key_in_standalone_mode() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;
    let wrong = Auth::bearer("not-the-api-key");

    app.status("alice", &wrong)
        .await
        .assert_error(403, "forbidden");
    app.new_recovery_codes("alice", &wrong, &code_step_up(&recovery_codes[0]))
        .await
        .assert_error(403, "forbidden");
    app.status("alice", &Auth::None)
        .await
        .assert_error_message(403, "forbidden", MISSING_AUTH);
}

async fn new_recovery_codes_replace_the_old_ones(options: AppOptions) {
    let app = spawn_app(options).await;
    let old = app.enroll("alice").await;

    let response = app
        .new_recovery_codes("alice", &app.personal(), &code_step_up(&old[0]))
        .await;

    let new = response.recovery_codes();
    for code in &new {
        assert!(!old.contains(code), "a new code equals an old one: {code}");
    }
    let status = app.status("alice", &app.personal()).await;
    assert_eq!(
        status.json["recoveryCodesRemaining"],
        json!(10),
        "{}",
        status.text
    );
    app.new_recovery_codes("alice", &app.personal(), &code_step_up(&old[1]))
        .await
        .assert_error(400, "invalid-code");
    app.recover_with_code("alice", &old[2])
        .await
        .assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.login("alice").await.mfa_token();
    app.recover_with_code("alice", &new[0])
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_recovery_codes_replace_the_old_ones_in_proxy_mode() {
    new_recovery_codes_replace_the_old_ones(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_recovery_codes_replace_the_old_ones_in_standalone_mode() {
    new_recovery_codes_replace_the_old_ones(AppOptions::standalone_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_recovery_codes_with_the_password_as_step_up_in_proxy_mode() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let old = app.enroll("alice").await;

    let new = app
        .new_recovery_codes("alice", &app.personal(), &password_step_up())
        .await
        .recovery_codes();

    for code in &new {
        assert!(!old.contains(code), "a new code equals an old one: {code}");
    }
    app.recover_with_code("alice", &old[0])
        .await
        .assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.recover_with_code("alice", &new[9])
        .await
        .assert_status(200);
}

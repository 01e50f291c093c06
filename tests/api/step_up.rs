//! Step-up: turning MFA off, replacing an enrolment and new recovery codes need, besides the
//! personal token (or api key), the password (proxy mode, checked by an upstream login) or a
//! recovery code (used up). And a login session is bound to the enrolment it was made for.

use serde_json::json;

use crate::fakes::{invalid_credentials, upstream_grant, GOOD_PASSWORD};
use crate::helpers::{
    code_step_up, password_step_up, phone_for, spawn_app, AppOptions, TestApp, DEACTIVATED,
};

/// MFA is still on for `username`.
async fn assert_mfa_on(app: &TestApp, username: &str) {
    app.login(username).await.mfa_token();
}

/// MFA is off for `username`.
async fn assert_mfa_off(app: &TestApp, username: &str) {
    let login = app.login(username).await;
    login.assert_status(200);
}

// --- a step-up is required ----------------------------------------------------------------------

async fn every_guarded_route_requires_a_step_up(options: AppOptions) {
    let app = spawn_app(options).await;
    app.enroll("alice").await;
    let sent = app.provider.count();

    let deactivate = app.deactivate("alice", &app.personal(), &json!({})).await;
    let activate = app.activate_default("alice").await;
    let recovery_codes = app
        .new_recovery_codes("alice", &app.personal(), &json!({}))
        .await;

    deactivate.assert_error(400, "step-up-required");
    activate.assert_error(400, "step-up-required");
    recovery_codes.assert_error(400, "step-up-required");
    assert_eq!(app.provider.count(), sent, "nothing may be sent");
    assert_mfa_on(&app, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_activate_and_recovery_codes_require_a_step_up_in_proxy_mode() {
    every_guarded_route_requires_a_step_up(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_activate_and_recovery_codes_require_a_step_up_in_standalone_mode() {
    every_guarded_route_requires_a_step_up(AppOptions::standalone_challenge_verify()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_standalone_mode_a_password_alone_is_no_step_up() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    app.enroll("alice").await;
    let sent = app.provider.count();

    let deactivate = app
        .deactivate("alice", &app.personal(), &password_step_up())
        .await;
    let activate = app
        .activate_with_step_up("alice", &password_step_up())
        .await;
    let recovery_codes = app
        .new_recovery_codes("alice", &app.personal(), &password_step_up())
        .await;

    deactivate.assert_error(400, "step-up-required");
    activate.assert_error(400, "step-up-required");
    recovery_codes.assert_error(400, "step-up-required");
    assert_eq!(app.provider.count(), sent, "nothing may be sent");
    assert_mfa_on(&app, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_of_a_user_without_mfa_needs_no_step_up() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = app.deactivate("alice", &app.personal(), &json!({})).await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
}

// --- the password ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_step_up_is_checked_by_a_login_to_the_upstream() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let logins_before = app.upstream.requests_to("/alice/auth/login").len();

    let response = app
        .deactivate("alice", &app.personal(), &password_step_up())
        .await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let logins = app.upstream.requests_to("/alice/auth/login");
    assert_eq!(logins.len(), logins_before + 1, "one upstream login");
    let body = logins.last().unwrap().body_json();
    assert_eq!(body["username"], json!("alice"), "{body}");
    assert_eq!(body["password"], json!(GOOD_PASSWORD), "{body}");
    assert!(
        body["appId"].is_string(),
        "the login carries an appId: {body}"
    );
    assert_mfa_off(&app, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_step_up_opens_a_new_enrolment_that_replaces_the_old_one() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let old = app.enroll("alice").await;

    let activation = app
        .activate_with_step_up("alice", &password_step_up())
        .await
        .mfa_token();
    let code = app.last_code();
    let new = app
        .confirm("alice", &activation, &code)
        .await
        .recovery_codes();

    app.recover_with_code("alice", &old[0])
        .await
        .assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.recover_with_code("alice", &new[0])
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_step_up_passes_the_upstream_refusal_through_and_counts_on_the_tally() {
    let app =
        spawn_app(AppOptions::proxy_single().with_attempts(json!({"free_failures": 1}))).await;
    app.enroll("alice").await;
    let wrong = json!({"password": "wrong-password"});

    for _ in 0..2 {
        let response = app.deactivate("alice", &app.personal(), &wrong).await;
        response.assert_status(401);
        assert_eq!(response.json, invalid_credentials(), "{}", response.text);
    }
    let logins_before = app.upstream.requests_to("/alice/auth/login").len();
    let right_during_the_wait = app
        .deactivate("alice", &app.personal(), &password_step_up())
        .await;

    right_during_the_wait.remaining_delay();
    assert_eq!(
        app.upstream.requests_to("/alice/auth/login").len(),
        logins_before,
        "a password refused during a wait is not checked"
    );
    assert_mfa_on(&app, "alice").await;
}

// --- recovery codes ---------------------------------------------------------------------------

async fn a_recovery_code_step_up_turns_mfa_off(options: AppOptions) {
    let app = spawn_app(options).await;
    let recovery_codes = app.enroll("alice").await;

    let response = app
        .deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[7]))
        .await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    assert_mfa_off(&app, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_step_up_turns_mfa_off_in_proxy_mode() {
    a_recovery_code_step_up_turns_mfa_off(AppOptions::proxy_challenge_verify()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_step_up_turns_mfa_off_in_standalone_mode() {
    a_recovery_code_step_up_turns_mfa_off(AppOptions::standalone_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_step_up_is_accepted_without_dashes() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;

    let response = app
        .deactivate(
            "alice",
            &app.personal(),
            &code_step_up(&recovery_codes[3].replace('-', "")),
        )
        .await;

    response.assert_status(200);
    assert_mfa_off(&app, "alice").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_used_as_step_up_is_used_up() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;
    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[0]))
        .await
        .mfa_token();
    let sent = app.provider.count();

    let again = app
        .activate_with_step_up("alice", &code_step_up(&recovery_codes[0]))
        .await;
    let as_recover = app.recover_with_code("alice", &recovery_codes[0]).await;

    again.assert_error(400, "invalid-code");
    as_recover.assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    assert_eq!(app.provider.count(), sent, "nothing may be sent");
    assert_mfa_on(&app, "alice").await;
    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[1]))
        .await
        .mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_recovery_code_step_up_is_an_invalid_code_and_counts_on_the_tally() {
    let app =
        spawn_app(AppOptions::standalone_single().with_attempts(json!({"free_failures": 1}))).await;
    let recovery_codes = app.enroll("alice").await;
    let wrong = code_step_up("zzzz-zzzz-zzzz");

    for _ in 0..2 {
        let response = app.deactivate("alice", &app.personal(), &wrong).await;
        let message = response.assert_error(400, "invalid-code");
        assert!(!message.contains("zzzz"), "{message}");
    }
    let right_during_the_wait = app
        .deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await;

    let delay = right_during_the_wait.remaining_delay();
    assert_mfa_on(&app, "alice").await;
    // Refused unchecked: the code was not used up.
    app.advance_clock(delay);
    app.deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_of_another_user_is_no_step_up() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let bob_codes = app.enroll("bob").await;
    app.enroll("alice").await;

    let response = app
        .deactivate("alice", &app.personal(), &code_step_up(&bob_codes[0]))
        .await;

    response.assert_error(400, "invalid-code");
    assert_mfa_on(&app, "alice").await;
    app.deactivate("bob", &app.personal(), &code_step_up(&bob_codes[0]))
        .await
        .assert_status(200);
}

// --- a login session is bound to its enrolment -------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_session_dies_when_mfa_is_turned_off_and_on_again() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let login_code = app.last_code();

    app.deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await
        .assert_status(200);
    app.enroll("alice").await;
    let verify = app.verify("alice", &mfa_token, &login_code).await;
    let challenge = app.challenge("alice", &mfa_token).await;

    challenge.assert_error(403, "forbidden");
    verify.assert_error(403, "forbidden");
    assert!(!verify.text.contains("grant-token"), "{}", verify.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_session_dies_when_its_enrolment_is_replaced_with_a_step_up() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let login_code = app.last_code();

    let activation = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("mallory"), "code": recovery_codes[0]}),
        )
        .await
        .mfa_token();
    let code = app.last_code();
    app.confirm("alice", &activation, &code)
        .await
        .recovery_codes();
    let verify = app.verify("alice", &mfa_token, &login_code).await;
    let challenge = app.challenge("alice", &mfa_token).await;

    verify.assert_error(403, "forbidden");
    assert!(!verify.text.contains("grant-token"), "{}", verify.text);
    challenge.assert_error(403, "forbidden");
    let fresh = app.mfa_login("alice").await;
    app.challenge("alice", &fresh).await.assert_status(200);
    assert_eq!(
        app.provider.last().query_value("to"),
        Some(phone_for("mallory")),
        "the new enrolment's phone receives the codes"
    );
    let verified = app.verify("alice", &fresh, &app.last_code()).await;
    assert_eq!(verified.json, upstream_grant("alice"), "{}", verified.text);
}

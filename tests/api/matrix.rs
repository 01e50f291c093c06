//! Every route, in each combination of first factor (proxy, standalone) and SMS mode (single,
//! challenge-verify): activate, confirm, login, challenge, verify, recover, deactivate.

use serde_json::json;

use crate::fakes::upstream_grant;
use crate::helpers::{
    code_step_up, spawn_app, AppOptions, FirstFactor, DEACTIVATED, VERIFY_MESSAGE,
};

async fn every_route_works(options: AppOptions) {
    let app = spawn_app(options).await;
    let mfa_off = |response: &crate::helpers::TestResponse| match app.options.first_factor {
        FirstFactor::Proxy => {
            assert_eq!(response.json, upstream_grant("alice"), "{}", response.text)
        }
        FirstFactor::Standalone => assert_eq!(
            response.json,
            json!({"mfa": "inactive"}),
            "{}",
            response.text
        ),
    };

    // activate + confirm
    let recovery_codes = app.enroll("alice").await;

    // login + challenge + verify
    let mfa_token = app.mfa_login("alice").await;
    let challenge = app.challenge("alice", &mfa_token).await;
    challenge.assert_status(200);
    assert_eq!(
        challenge.json,
        json!({"message": VERIFY_MESSAGE, "method": "sms"})
    );
    let code = app.code_from_last_send();
    let verify = app.verify("alice", &mfa_token, &code).await;
    verify.assert_status(200);
    match app.options.first_factor {
        FirstFactor::Proxy => assert_eq!(verify.json, upstream_grant("alice")),
        FirstFactor::Standalone => {
            assert_eq!(verify.json["verified"], json!(true), "{}", verify.text);
            assert_eq!(verify.json["username"], json!("alice"), "{}", verify.text);
        }
    }

    // recover
    let recover = app.recover_with_code("alice", &recovery_codes[5]).await;
    recover.assert_status(200);
    assert_eq!(recover.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    mfa_off(&login);

    // enrol again, then deactivate with a recovery code as step-up
    let recovery_codes = app.enroll("alice").await;
    app.mfa_login("alice").await;
    let deactivate = app
        .deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await;
    deactivate.assert_status(200);
    assert_eq!(deactivate.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    mfa_off(&login);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_in_proxy_single_mode() {
    every_route_works(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_in_proxy_challenge_verify_mode() {
    every_route_works(AppOptions::proxy_challenge_verify()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_in_standalone_single_mode() {
    every_route_works(AppOptions::standalone_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_works_in_standalone_challenge_verify_mode() {
    every_route_works(AppOptions::standalone_challenge_verify()).await;
}

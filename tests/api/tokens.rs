//! A token is read from `Authorization` (raw, `Bearer x`, `Basic base64(x:)`) or from `?auth=`.

use serde_json::json;

use crate::fakes::{upstream_grant, PERSONAL_TOKEN};
use crate::helpers::{code_step_up, phone_for, spawn_app, AppOptions, Auth, API_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_personal_token_is_accepted_raw_as_bearer_as_basic_and_as_auth_parameter() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (i, auth) in Auth::every_form_of(PERSONAL_TOKEN).into_iter().enumerate() {
        let username = format!("user{i}");
        let response = app
            .activate(&username, &auth, &json!({"phone": phone_for(&username)}))
            .await;

        assert_eq!(response.status, 302, "{auth:?}: {}", response.text);
        let checks = app
            .upstream
            .requests_to(&format!("/{username}/access-info"));
        assert_eq!(checks.len(), 1, "{auth:?}");
        assert_eq!(
            checks[0].header("authorization").as_deref(),
            Some(PERSONAL_TOKEN),
            "{auth:?}: the upstream must receive the bare token"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_token_is_accepted_raw_as_bearer_as_basic_and_as_auth_parameter_on_confirm() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (i, form) in ["raw", "bearer", "basic", "query"].into_iter().enumerate() {
        let username = format!("user{i}");
        let mfa_token = app.activate_default(&username).await.mfa_token();
        let code = app.last_code();
        let auth = Auth::every_form_of(&mfa_token).swap_remove(i);

        let response = app.confirm_with(&username, &auth, &code).await;

        assert_eq!(response.status, 200, "{form}: {}", response.text);
        response.recovery_codes();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mfa_token_is_accepted_raw_as_bearer_as_basic_and_as_auth_parameter_on_challenge_and_verify(
) {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (i, form) in ["raw", "bearer", "basic", "query"].into_iter().enumerate() {
        let username = format!("user{i}");
        app.enroll(&username).await;
        let mfa_token = app.mfa_login(&username).await;
        let auth = Auth::every_form_of(&mfa_token).swap_remove(i);

        let challenge = app.challenge_with(&username, &auth).await;
        assert_eq!(challenge.status, 200, "{form}: {}", challenge.text);
        let code = app.last_code();
        let verify = app
            .post(
                &format!("/{username}/mfa/verify"),
                &auth,
                Some(&json!({"code": code})),
            )
            .await;

        assert_eq!(verify.status, 200, "{form}: {}", verify.text);
        assert_eq!(verify.json, upstream_grant(&username), "{form}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_accepted_raw_as_bearer_as_basic_and_as_auth_parameter() {
    let app = spawn_app(AppOptions::standalone_single()).await;

    for auth in Auth::every_form_of(API_KEY) {
        let response = app.post("/alice/login", &auth, Some(&json!({}))).await;

        assert_eq!(response.status, 200, "{auth:?}: {}", response.text);
        assert_eq!(response.json, json!({"mfa": "inactive"}), "{auth:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_key_is_forbidden_on_every_route_that_takes_one() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let recovery_codes = app.enroll("alice").await;
    let wrong = Auth::bearer("not-the-api-key");

    let login = app.post("/alice/login", &wrong, Some(&json!({}))).await;
    let activate = app
        .activate("alice", &wrong, &json!({"phone": phone_for("alice")}))
        .await;
    let deactivate = app
        .deactivate("alice", &wrong, &code_step_up(&recovery_codes[1]))
        .await;
    let recover = app
        .recover("alice", &wrong, &json!({"recoveryCode": recovery_codes[0]}))
        .await;

    for (route, response) in [
        ("login", login),
        ("activate", activate),
        ("deactivate", deactivate),
        ("recover", recover),
    ] {
        assert_eq!(response.status, 403, "{route}: {}", response.text);
        response.assert_error(403, "forbidden");
    }
    app.login("alice").await.mfa_token();
}

//! Proxy mode (first factor from the upstream login) with the single SMS mode: every route and
//! the whole Pryv sequences.

use serde_json::json;

use crate::fakes::{invalid_credentials, upstream_grant, Reply, APP_TOKEN, PERSONAL_TOKEN};
use crate::helpers::{
    password_step_up, phone_for, spawn_app, AppOptions, Auth, DEACTIVATED, NOT_PERSONAL,
    VERIFY_MESSAGE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_of_a_user_without_mfa_answers_the_upstream_body_unchanged() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = app.login("alice").await;

    response.assert_status(200);
    assert_eq!(
        response.json,
        upstream_grant("alice"),
        "body: {}",
        response.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_forwards_the_body_as_received_with_origin_and_referer() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let body =
        r#"{"username":"alice","password":"good-password","appId":"pryv-test", "extra" : [1,2]}"#;

    let response = app
        .post_raw(
            "/alice/login",
            &Auth::None,
            body,
            &[
                ("origin", "https://sw.pryv.example"),
                ("referer", "https://sw.pryv.example/access/"),
            ],
        )
        .await;

    response.assert_status(200);
    let logins = app.upstream.requests_to("/alice/auth/login");
    assert_eq!(logins.len(), 1, "the upstream login must be called once");
    let login = &logins[0];
    assert_eq!(login.method, "POST");
    assert_eq!(
        login.body_text(),
        body,
        "the login body must be forwarded byte for byte"
    );
    assert_eq!(
        login.header("origin").as_deref(),
        Some("https://sw.pryv.example"),
        "Origin must be forwarded to the upstream login"
    );
    assert_eq!(
        login.header("referer").as_deref(),
        Some("https://sw.pryv.example/access/"),
        "Referer must be forwarded to the upstream login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refused_by_the_upstream_is_passed_through_with_its_status_and_body() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let without_mfa = app.login_with_password("alice", "wrong-password").await;
    app.enroll("bob").await;
    let with_mfa = app.login_with_password("bob", "wrong-password").await;

    for response in [without_mfa, with_mfa] {
        response.assert_status(401);
        assert_eq!(
            response.json,
            invalid_credentials(),
            "body: {}",
            response.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_error_status_other_than_401_is_passed_through_too() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let refusal = json!({"error": {"id": "invalid-parameters-format", "message": "The parameter 'appId' is missing."}});
    app.upstream
        .reply_on("/alice/auth/login", Reply::json(400, refusal.clone()));

    let response = app.login("alice").await;

    response.assert_status(400);
    assert_eq!(response.json, refusal, "body: {}", response.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_checks_the_personal_token_sends_a_code_and_answers_302_with_an_mfa_token() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = app.activate_default("alice").await;

    let mfa_token = response.mfa_token();
    assert!(
        mfa_token.len() >= 16,
        "an mfaToken carries 128 bits or more: {mfa_token}"
    );
    let checks = app.upstream.requests_to("/alice/access-info");
    assert_eq!(
        checks.len(),
        1,
        "the token must be checked with the upstream"
    );
    assert_eq!(checks[0].method, "GET");
    assert_eq!(
        checks[0].header("authorization").as_deref(),
        Some(PERSONAL_TOKEN)
    );

    assert_eq!(app.provider.count(), 1, "one SMS request");
    let sms = app.provider.last();
    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/sms");
    assert_eq!(sms.query_value("to"), Some(phone_for("alice")));
    assert_eq!(
        sms.header("content-type").as_deref(),
        Some("application/json")
    );
    let body = sms.body_json();
    assert_eq!(body["to"], json!(phone_for("alice")));
    let code = app.last_code();
    assert_eq!(code.len(), 6, "a 6-digit code: {code}");
    assert_eq!(body["text"], json!(format!("Code {code}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_token_that_is_not_personal() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = app
        .activate(
            "alice",
            &Auth::raw(APP_TOKEN),
            &json!({"phone": phone_for("alice")}),
        )
        .await;

    response.assert_error_message(403, "forbidden", NOT_PERSONAL);
    assert_eq!(
        app.provider.count(),
        0,
        "nothing may be sent to the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_pryv_sequence_releases_the_upstream_grant_only_after_verify() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    // activate 302 -> confirm 200 with 10 distinct recovery codes
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();

    // login 302: the grant is withheld
    let login = app.login("alice").await;
    let mfa_token = login.mfa_token();
    assert!(
        !login.text.contains("grant-token-alice"),
        "the upstream token must not be released before verify: {}",
        login.text
    );

    // challenge 200 sends a new code
    let sent_before = app.provider.count();
    let challenge = app.challenge("alice", &mfa_token).await;
    challenge.assert_status(200);
    assert_eq!(
        challenge.json,
        json!({"message": VERIFY_MESSAGE, "method": "sms"})
    );
    assert_eq!(
        app.provider.count(),
        sent_before + 1,
        "challenge sends a code"
    );
    let code = app.last_code();

    // verify 200 with the upstream login answer
    let verify = app.verify("alice", &mfa_token, &code).await;
    verify.assert_status(200);
    assert_eq!(
        verify.json,
        upstream_grant("alice"),
        "body: {}",
        verify.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_with_a_personal_token_and_the_password_as_step_up_turns_mfa_off() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;

    let response = app
        .deactivate("alice", &Auth::raw(PERSONAL_TOKEN), &password_step_up())
        .await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_refuses_a_token_that_is_not_personal_and_mfa_stays_on() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;

    let response = app
        .deactivate("alice", &Auth::raw(APP_TOKEN), &password_step_up())
        .await;

    response.assert_error_message(403, "forbidden", NOT_PERSONAL);
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_with_a_recovery_code_turns_mfa_off_and_login_answers_the_upstream_body() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;

    let response = app.recover_with_code("alice", &recovery_codes[3]).await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_checks_the_password_with_the_upstream_and_passes_its_refusal_through() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let recovery_codes = app.enroll("alice").await;

    let response = app
        .recover(
            "alice",
            &Auth::None,
            &json!({
                "username": "alice",
                "password": "wrong-password",
                "appId": "test-app",
                "recoveryCode": recovery_codes[0],
            }),
        )
        .await;

    response.assert_status(401);
    assert_eq!(
        response.json,
        invalid_credentials(),
        "body: {}",
        response.text
    );
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_without_a_recovery_code_is_an_invalid_request_structure() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;

    let response = app
        .recover(
            "alice",
            &Auth::None,
            &json!({"username": "alice", "password": "good-password", "appId": "test-app"}),
        )
        .await;

    response.assert_error_message(
        400,
        "invalid-request-structure",
        "Missing parameter: recoveryCode.",
    );
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_with_a_wrong_recovery_code_is_invalid_parameters_format() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;

    let response = app.recover_with_code("alice", "not-a-recovery-code").await;

    response.assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_of_another_user_does_not_recover() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let bob_codes = app.enroll("bob").await;
    app.enroll("alice").await;

    let response = app.recover_with_code("alice", &bob_codes[0]).await;

    response.assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_with_plus_and_at_signs_reaches_the_upstream_intact() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let username = "a.b+c@example.ch";

    let response = app.login(username).await;

    response.assert_status(200);
    assert_eq!(response.json, upstream_grant(username));
    let login = app.upstream.last();
    assert_eq!(
        login.path_segments(),
        vec![username.to_string(), "auth".into(), "login".into()],
        "upstream path was {}",
        login.path
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_outside_the_pattern_is_refused_before_reaching_the_upstream() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    // The default pattern is `^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$`.
    let refused_names = [
        "bad~user",
        "-alice",
        "alice!",
        "a%2F..%2Fadmin",
        &"a".repeat(101),
    ];

    let mut accepted = Vec::new();
    for name in refused_names {
        let before = app.upstream.count();
        let response = app.login(name).await;
        let upstream_reached = app.upstream.count() > before;
        if !(400..500).contains(&response.status)
            || !response.json["error"]["id"].is_string()
            || upstream_reached
        {
            accepted.push(format!(
                "{name:?} -> {} {} (upstream reached: {upstream_reached}: {:?})",
                response.status,
                response.text,
                app.upstream.requests().last().map(|r| r.uri.clone())
            ));
        }
    }

    assert!(
        accepted.is_empty(),
        "usernames outside the pattern must get a Pryv-shaped 4xx and never reach the upstream:\n{}",
        accepted.join("\n")
    );
}

//! Helping a locked-out user through the admin API: `GET /api/users/{u}` (lookup), `POST
//! .../reset`, `.../clear-wait`, `.../enrolment-code`; every action in the attempts log with the
//! admin token's name; the attempts log filtered by user, outcome, route and time.

use serde_json::{json, Value};

use crate::helpers::{
    admin_auth, code_step_up, other_code, phone_for, sha256_hex, spawn_app, AppOptions, Auth,
    TestApp, TestResponse, ADMIN_TOKEN, API_KEY, INVALID_SESSION,
};
use crate::openapi_check::{assert_conforms, description};

const HELPDESK_TOKEN: &str = "helpdesk-token-7a21c9";

/// Standalone, single mode, an admin listener opened by `ADMIN_TOKEN` (`admin.token_sha256`,
/// the token named `admin`) and by `HELPDESK_TOKEN` (`admin.tokens`, named `helpdesk`).
async fn app_with(options: AppOptions) -> TestApp {
    let mut options = options.with_admin();
    options.admin = Some(json!({
        "listen": "127.0.0.1:0",
        "token_sha256": sha256_hex(ADMIN_TOKEN),
        "tokens": [ { "name": "helpdesk", "token_sha256": sha256_hex(HELPDESK_TOKEN) } ],
    }));
    spawn_app(options).await
}

async fn app() -> TestApp {
    app_with(AppOptions::standalone_single()).await
}

fn helpdesk() -> Auth {
    Auth::bearer(HELPDESK_TOKEN)
}

/// Every answer of these routes is checked against docs/openapi.yaml.
async fn lookup(app: &TestApp, username: &str) -> TestResponse {
    let path = format!("/api/users/{username}");
    let r = app.admin("GET", &path, &admin_auth(), None).await;
    assert_conforms(&description(), "/api/users/{username}", "GET", &r);
    r
}

async fn action(
    app: &TestApp,
    auth: &Auth,
    username: &str,
    what: &str,
    body: Value,
) -> TestResponse {
    let path = format!("/api/users/{username}/{what}");
    let r = app.admin("POST", &path, auth, Some(&body)).await;
    let described = format!("/api/users/{{username}}/{what}");
    assert_conforms(&description(), &described, "POST", &r);
    r
}

/// The attempts log with this query, newest first.
async fn attempts(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .admin(
            "GET",
            &format!("/api/attempts?{query}"),
            &admin_auth(),
            None,
        )
        .await;
    r.assert_status(200);
    assert_conforms(&description(), "/api/attempts", "GET", &r);
    r.json["attempts"].as_array().cloned().unwrap_or_default()
}

/// The newest entry of the attempts log for an admin route under `/api/users/`.
async fn last_admin_entry(app: &TestApp, username: &str) -> Value {
    let found = attempts(app, &format!("user={username}&route=/api/users&limit=1")).await;
    found
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no admin entry for {username}"))
}

fn assert_no_secret(text: &str, username: &str) {
    assert!(!text.contains(&phone_for(username)), "{text}");
    assert!(!text.contains("hash"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_shows_the_enrolment_sessions_and_last_attempts_and_no_user_data() {
    let app = app().await;
    app.enroll("alice").await;
    let _pending = app.mfa_login("alice").await;

    let r = lookup(&app, "alice").await;

    r.assert_status(200);
    let u = &r.json;
    assert_eq!(u["username"], "alice");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["methods"], json!(["sms"]));
    assert!(
        u["enrolledAt"].as_u64().unwrap() > 1_600_000_000,
        "{}",
        r.text
    );
    assert_eq!(u["recoveryCodesRemaining"], 10);
    assert_eq!(u["userDataFields"], json!(["phone"]));
    assert_eq!(u["wait"], Value::Null);
    let sessions = u["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{}", r.text);
    assert_eq!(sessions[0]["kind"], "login");
    let routes: Vec<&str> = u["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["route"].as_str().unwrap())
        .collect();
    assert_eq!(
        routes,
        [
            "/{username}/login",
            "/{username}/mfa/confirm",
            "/{username}/mfa/activate"
        ]
    );
    assert_no_secret(&r.text, "alice");
    // A lookup is not an action: nothing about it in the log.
    assert!(attempts(&app, "route=/api/users").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_user_is_404_unknown_user_and_a_bad_username_is_400() {
    let app = app().await;
    for (method, path, body) in [
        ("GET", "/api/users/nobody", None),
        (
            "POST",
            "/api/users/nobody/reset",
            Some(json!({"method": "all"})),
        ),
        ("POST", "/api/users/nobody/clear-wait", Some(json!({}))),
        ("POST", "/api/users/nobody/enrolment-code", Some(json!({}))),
    ] {
        let r = app.admin(method, path, &admin_auth(), body.as_ref()).await;
        let message = r.assert_error(404, "unknown-user");
        assert!(message.contains("'nobody'"), "{message}");
        let described = path.replace("nobody", "{username}");
        assert_conforms(&description(), &described, method, &r);
    }
    // Refused for want of a token: not an admin action, not in the log.
    let r = app
        .admin("POST", "/api/users/nobody/reset", &Auth::None, None)
        .await;
    r.assert_error(401, "unauthorized");
    let logged = attempts(&app, "user=nobody").await;
    assert_eq!(logged.len(), 3, "the three refused actions: {logged:?}");
    assert!(logged.iter().all(|a| a["admin"] == "admin"), "{logged:?}");
    let r = lookup(&app, "-bad~name").await;
    let message = r.assert_error(400, "invalid-parameters-format");
    assert!(message.contains("username"), "{message}");
    let r = app
        .admin("GET", "/api/users/nobody", &Auth::None, None)
        .await;
    r.assert_error(401, "unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_of_all_turns_mfa_off_ends_the_sessions_and_is_recorded_with_the_token_name() {
    let app = app().await;
    app.enroll("alice").await;
    let pending = app.mfa_login("alice").await;

    let r = action(
        &app,
        &helpdesk(),
        "alice",
        "reset",
        json!({"method": "all"}),
    )
    .await;

    r.assert_status(200);
    assert_eq!(r.json["enabled"], false);
    assert_eq!(r.json["methods"], json!([]));
    assert_eq!(r.json["sessionsEnded"], 1);
    let status = app.status("alice", &Auth::bearer(API_KEY)).await;
    assert_eq!(status.json["enabled"], false, "{}", status.text);
    app.challenge("alice", &pending)
        .await
        .assert_error_message(403, "forbidden", INVALID_SESSION);
    app.login("alice").await.assert_status(200);
    let entry = last_admin_entry(&app, "alice").await;
    assert_eq!(entry["admin"], "helpdesk");
    assert_eq!(entry["route"], "/api/users/{username}/reset");
    assert_eq!(entry["outcome"], "ok");
    assert!(
        entry["reason"].as_str().unwrap().contains("all methods"),
        "{entry}"
    );
    let detail = app
        .admin(
            "GET",
            &format!("/api/attempts/{}", entry["id"].as_str().unwrap()),
            &admin_auth(),
            None,
        )
        .await;
    assert_eq!(detail.json["admin"], "helpdesk");
    assert_eq!(detail.json["method"], "POST");
    assert_eq!(detail.json["status"], 200);

    // Now MFA is off: nothing more to reset, the user is known.
    let again = action(
        &app,
        &admin_auth(),
        "alice",
        "reset",
        json!({"method": "all"}),
    )
    .await;
    again.assert_error(409, "mfa-not-active");
    let entry = last_admin_entry(&app, "alice").await;
    assert_eq!(
        (&entry["admin"], &entry["outcome"]),
        (&json!("admin"), &json!("mfa-not-active"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_of_one_method_names_it_and_a_bad_or_missing_method_is_refused_naming_the_field() {
    let app = app().await;
    app.enroll("alice").await;

    for body in [json!({}), json!({"method": "fax"}), json!({"method": 3})] {
        let r = action(&app, &admin_auth(), "alice", "reset", body.clone()).await;
        let message = r.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("method"), "{body}: {message}");
        let entry = last_admin_entry(&app, "alice").await;
        assert_eq!(entry["outcome"], "invalid-parameters-format");
        assert_eq!(entry["reason"], message.as_str());
    }
    let r = action(
        &app,
        &admin_auth(),
        "alice",
        "reset",
        json!({"method": "totp"}),
    )
    .await;
    r.assert_error(400, "invalid-parameters-format");
    assert_eq!(lookup(&app, "alice").await.json["enabled"], true);

    let r = action(
        &app,
        &admin_auth(),
        "alice",
        "reset",
        json!({"method": "sms"}),
    )
    .await;
    r.assert_status(200);
    assert_eq!(
        r.json["enabled"], false,
        "the last method takes MFA with it"
    );
    let entry = last_admin_entry(&app, "alice").await;
    assert!(
        entry["reason"]
            .as_str()
            .unwrap()
            .contains("method sms removed"),
        "{entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_a_wait_lets_the_user_try_again_at_once() {
    let app = app_with(
        AppOptions::standalone_single()
            .with_attempts(json!({"free_failures": 1, "base_seconds": 600})),
    )
    .await;
    app.enroll("alice").await;
    let token = app.mfa_login("alice").await;
    app.challenge("alice", &token).await.assert_status(200);
    let code = app.last_code();
    let wrong = other_code(&code);
    app.verify("alice", &token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &token, &code).await.remaining_delay();

    let wait = lookup(&app, "alice").await.json["wait"].clone();
    assert!(wait["remainingSeconds"].as_u64().unwrap() > 500, "{wait}");
    assert_eq!(wait["failures"], 3);

    let r = action(&app, &helpdesk(), "alice", "clear-wait", json!({})).await;
    r.assert_status(200);
    assert_eq!(r.json["cleared"], true);
    assert_eq!(r.json["was"]["failures"], 3);
    assert_eq!(lookup(&app, "alice").await.json["wait"], Value::Null);
    app.verify("alice", &token, &code).await.assert_status(200);
    let entry = last_admin_entry(&app, "alice").await;
    assert_eq!(entry["route"], "/api/users/{username}/clear-wait");
    assert_eq!(entry["admin"], "helpdesk");

    let r = action(&app, &helpdesk(), "alice", "clear-wait", json!({})).await;
    assert_eq!(r.json["cleared"], false, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_code_enrols_a_new_phone_once_without_the_old_one() {
    let app = app().await;
    app.enroll("alice").await;

    let r = action(
        &app,
        &helpdesk(),
        "alice",
        "enrolment-code",
        json!({"ttlSeconds": 3600}),
    )
    .await;

    r.assert_status(200);
    let code = r.json["code"].as_str().unwrap().to_string();
    assert!(r.json["expiresAt"].as_u64().is_some(), "{}", r.text);
    let entry = last_admin_entry(&app, "alice").await;
    assert_eq!(entry["route"], "/api/users/{username}/enrolment-code");
    assert!(
        !entry.to_string().contains(&code),
        "the log never holds the code"
    );
    let view = lookup(&app, "alice").await;
    assert_eq!(view.json["recoveryCodesRemaining"], 10);
    assert!(view.json["enrolmentCodeExpiresAt"].as_u64().is_some());

    let new_phone = json!({"phone": "+41790000099", "code": code});
    let token = app
        .activate("alice", &Auth::bearer(API_KEY), &new_phone)
        .await
        .mfa_token();
    let sent = app.last_code();
    app.confirm("alice", &token, &sent).await.recovery_codes();
    let again = app
        .activate("alice", &Auth::bearer(API_KEY), &new_phone)
        .await;
    again.assert_error(400, "invalid-code");
    let step_up = code_step_up(&code);
    app.deactivate("alice", &Auth::bearer(API_KEY), &step_up)
        .await
        .assert_error(400, "invalid-code");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_code_is_refused_with_mfa_off_or_a_bad_lifetime() {
    let app = app().await;
    app.enroll("alice").await;
    for ttl in [json!(10), json!(700_000), json!("1h")] {
        let r = action(
            &app,
            &admin_auth(),
            "alice",
            "enrolment-code",
            json!({"ttlSeconds": ttl}),
        )
        .await;
        let message = r.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("ttlSeconds"), "{message}");
    }
    action(
        &app,
        &admin_auth(),
        "alice",
        "reset",
        json!({"method": "all"}),
    )
    .await
    .assert_status(200);
    let r = action(&app, &admin_auth(), "alice", "enrolment-code", json!({})).await;
    let message = r.assert_error(409, "mfa-not-active");
    assert!(message.contains("activate"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempts_log_filters_by_user_outcome_route_and_time() {
    let app = app().await;
    app.enroll("alice").await;
    app.enroll("bob").await;
    let token = app.mfa_login("bob").await;
    app.challenge("bob", &token).await.assert_status(200);
    let code = app.last_code();
    app.verify("bob", &token, &other_code(&code))
        .await
        .assert_error(400, "invalid-code");

    let users = |found: &[Value]| {
        found
            .iter()
            .map(|a| a["username"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let alice = attempts(&app, "user=alice").await;
    assert_eq!(users(&alice), ["alice", "alice"]);
    let wrong = attempts(&app, "outcome=invalid-code").await;
    assert_eq!(users(&wrong), ["bob"]);
    assert_eq!(wrong[0]["route"], "/{username}/mfa/verify");
    let confirms = attempts(&app, "route=confirm").await;
    assert_eq!(users(&confirms), ["bob", "alice"]);
    let both = attempts(&app, "user=bob&route=verify&outcome=ok").await;
    assert!(both.is_empty(), "{both:?}");

    let time = wrong[0]["time"].as_u64().unwrap();
    let at = attempts(
        &app,
        &format!("from={time}&to={time}&user=bob&route=verify"),
    )
    .await;
    assert_eq!(at.len(), 1);
    assert!(attempts(&app, &format!("from={}", time + 3600))
        .await
        .is_empty());
    assert!(attempts(&app, &format!("to={}", time - 3600))
        .await
        .is_empty());
    let r = app
        .admin("GET", "/api/attempts?from=yesterday", &admin_auth(), None)
        .await;
    let message = r.assert_error(400, "invalid-parameters-format");
    assert!(message.starts_with("from "), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_of_one_method_keeps_the_others_and_ends_the_old_logins() {
    let options = AppOptions::standalone_single()
        .with_user_data(json!({
            "required": [],
            "allowed": ["phone", "email", "language", "message"],
            "phone_fields": ["phone"],
        }))
        .with_mfa(
            "channels",
            json!({"email": {"single": {
                "url": format!("{}/email", crate::helpers::PROVIDER),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"to":"{{ email }}","text":"{{ message }}"}"#,
            }}}),
        );
    let app = app_with(options).await;
    let both =
        json!({"method": "sms+email", "phone": phone_for("alice"), "email": "alice@example.com"});
    let token = app
        .activate("alice", &Auth::bearer(API_KEY), &both)
        .await
        .mfa_token();
    let sms = app
        .provider
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/sms")
        .expect("the SMS of the enrolment");
    let code = regex::Regex::new(r"Code ([0-9]+)")
        .unwrap()
        .captures(&sms.body_text())
        .unwrap()[1]
        .to_string();
    app.confirm("alice", &token, &code).await.recovery_codes();
    assert_eq!(
        lookup(&app, "alice").await.json["methods"],
        json!(["sms", "email"])
    );
    let pending = app.mfa_login("alice").await;

    let r = action(
        &app,
        &admin_auth(),
        "alice",
        "reset",
        json!({"method": "email"}),
    )
    .await;

    r.assert_status(200);
    assert_eq!(
        (&r.json["enabled"], &r.json["methods"]),
        (&json!(true), &json!(["sms"]))
    );
    let status = app.status("alice", &Auth::bearer(API_KEY)).await;
    assert_eq!(status.json["methods"], json!(["sms"]), "{}", status.text);
    app.challenge("alice", &pending)
        .await
        .assert_error_message(403, "forbidden", INVALID_SESSION);
    let entry = last_admin_entry(&app, "alice").await;
    assert_eq!(entry["reason"], "method email removed");
}

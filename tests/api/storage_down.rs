//! Storage out of reach (a database down): every route that needs it answers 503
//! `storage-unavailable` with `Retry-After`, no grant leaves without a verified code, no login
//! goes to the upstream, `/ready` says so while `/health` stays alive, and when storage is
//! back the same flows complete without a restart. The app's store goes through a
//! [`FaultSwitch`] (`Application::with_store_faults`).

use std::time::Duration;

use mfa_bridge::store::FaultSwitch;
use serde_json::{json, Value};

use crate::fakes::{upstream_grant, PERSONAL_TOKEN};
use crate::helpers::{
    admin_auth, eventually, password_step_up, phone_for, prometheus_samples, spawn_app, AppOptions,
    Auth, TestApp, TestResponse,
};
use crate::openapi_check::{assert_conforms, description};

/// What `Retry-After` says on a 503 `storage-unavailable` (seconds).
const RETRY_AFTER: &str = "2";

const UPSTREAM_LOGIN: &str = "/alice/auth/login";

/// Asserts 503 `storage-unavailable` with `Retry-After`, and that `grant` is not in it.
fn assert_storage_unavailable(response: &TestResponse, what: &str) {
    response.assert_error(503, "storage-unavailable");
    assert_eq!(
        response
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some(RETRY_AFTER),
        "{what}: Retry-After on a 503 storage-unavailable"
    );
    assert!(
        !response.text.contains("grant-token"),
        "{what}: no grant while storage is down: {}",
        response.text
    );
}

async fn ready(app: &TestApp) -> TestResponse {
    let response = app
        .client
        .get(format!("{}/ready", app.address))
        .send()
        .await
        .expect("GET /ready");
    TestResponse::read(response).await
}

/// Alice enrolled, logged in and challenged (her mfaToken and the code sent); bob's enrolment
/// under way (his mfaToken and code); alice's recovery codes.
struct Scene {
    alice_token: String,
    alice_code: String,
    bob_token: String,
    bob_code: String,
    recovery_codes: Vec<String>,
}

async fn scene(app: &TestApp) -> Scene {
    let recovery_codes = app.enroll("alice").await;
    let bob_token = app.activate_default("bob").await.mfa_token();
    let bob_code = app.code_from_last_send();
    let alice_token = app.mfa_login("alice").await;
    app.challenge("alice", &alice_token)
        .await
        .assert_status(200);
    let alice_code = app.code_from_last_send();
    Scene {
        alice_token,
        alice_code,
        bob_token,
        bob_code,
        recovery_codes,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_public_route_that_needs_storage_answers_503_with_retry_after_while_it_is_down() {
    let switch = FaultSwitch::new();
    let app = spawn_app(AppOptions::proxy_single().with_store_faults(&switch)).await;
    let s = scene(&app).await;
    let personal = Auth::raw(PERSONAL_TOKEN);
    let logins = app.upstream.requests_to(UPSTREAM_LOGIN).len();
    let sends = app.provider.count();

    switch.down();

    let answers = [
        ("/{username}/login", app.login("alice").await),
        (
            "/{username}/mfa/activate",
            app.activate("carol", &personal, &json!({"phone": phone_for("carol")}))
                .await,
        ),
        (
            "/{username}/mfa/confirm",
            app.confirm("bob", &s.bob_token, &s.bob_code).await,
        ),
        (
            "/{username}/mfa/challenge",
            app.challenge("alice", &s.alice_token).await,
        ),
        (
            "/{username}/mfa/verify",
            app.verify("alice", &s.alice_token, &s.alice_code).await,
        ),
        (
            "/{username}/mfa/deactivate",
            app.deactivate("alice", &personal, &password_step_up())
                .await,
        ),
        (
            "/{username}/mfa/recover",
            app.recover_with_code("alice", &s.recovery_codes[0]).await,
        ),
        ("/{username}/mfa", app.status("alice", &personal).await),
        (
            "/{username}/mfa/recovery-codes",
            app.new_recovery_codes("alice", &personal, &password_step_up())
                .await,
        ),
        ("/ready", ready(&app).await),
    ];
    let description = description();
    for (route, response) in &answers {
        assert_storage_unavailable(response, route);
        let method = if ["/{username}/mfa", "/ready"].contains(route) {
            "GET"
        } else {
            "POST"
        };
        assert_conforms(&description, route, method, response);
    }
    assert_eq!(
        app.upstream.requests_to(UPSTREAM_LOGIN).len(),
        logins,
        "no password goes to the upstream (login, recover, step-up) while storage is down"
    );
    assert_eq!(
        app.provider.count(),
        sends,
        "no code is sent (activate, challenge) nor checked while storage is down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_storage_is_back_the_same_requests_complete_without_a_restart() {
    let switch = FaultSwitch::new();
    let app = spawn_app(AppOptions::proxy_single().with_store_faults(&switch)).await;
    let s = scene(&app).await;

    switch.down();
    let refused = app.verify("alice", &s.alice_token, &s.alice_code).await;
    assert_storage_unavailable(&refused, "verify while down");
    assert_storage_unavailable(
        &app.confirm("bob", &s.bob_token, &s.bob_code).await,
        "confirm while down",
    );

    switch.up();
    let granted = app.verify("alice", &s.alice_token, &s.alice_code).await;
    granted.assert_status(200);
    assert_eq!(granted.json, upstream_grant("alice"), "{}", granted.text);
    app.confirm("bob", &s.bob_token, &s.bob_code)
        .await
        .recovery_codes();
    let token = app.mfa_login("bob").await;
    app.challenge("bob", &token).await.assert_status(200);
    let code = app.code_from_last_send();
    let granted = app.verify("bob", &token, &code).await;
    granted.assert_status(200);
    assert_eq!(granted.json, upstream_grant("bob"), "{}", granted.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wherever_storage_dies_in_a_verify_no_grant_leaves_unless_the_session_was_spent() {
    let switch = FaultSwitch::new();
    let app = spawn_app(AppOptions::proxy_single().with_store_faults(&switch)).await;
    app.enroll("alice").await;

    // The store dies after the n-th call of the verify, for every n until it completes.
    for n in 0.. {
        assert!(n < 64, "a verify makes fewer than 64 store calls");
        let token = app.mfa_login("alice").await;
        app.challenge("alice", &token).await.assert_status(200);
        let code = app.code_from_last_send();

        switch.fail_after(n);
        let first = app.verify("alice", &token, &code).await;
        switch.up();
        if first.status == 200 {
            assert_eq!(first.json, upstream_grant("alice"), "{}", first.text);
            let replay = app.verify("alice", &token, &code).await;
            replay.assert_error(403, "forbidden");
            break;
        }
        assert_storage_unavailable(&first, &format!("verify, storage dead after {n} calls"));
        // The session is spent (no grant ever) or intact (the same code grants, once).
        let retry = app.verify("alice", &token, &code).await;
        match retry.status {
            200 => {
                assert_eq!(retry.json, upstream_grant("alice"), "{}", retry.text);
                let replay = app.verify("alice", &token, &code).await;
                replay.assert_error(403, "forbidden");
            }
            _ => {
                retry.assert_error(403, "forbidden");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wherever_storage_dies_in_a_login_the_upstream_grant_is_held_back() {
    let switch = FaultSwitch::new();
    let app = spawn_app(AppOptions::proxy_single().with_store_faults(&switch)).await;
    app.enroll("alice").await;

    for n in 0.. {
        assert!(n < 64, "a login makes fewer than 64 store calls");
        let logins = app.upstream.requests_to(UPSTREAM_LOGIN).len();
        switch.fail_after(n);
        let response = app.login("alice").await;
        switch.up();
        if response.status == 302 {
            assert!(!response.text.contains("grant-token"), "{}", response.text);
            break;
        }
        assert_storage_unavailable(&response, &format!("login, storage dead after {n} calls"));
        if n == 0 {
            assert_eq!(
                app.upstream.requests_to(UPSTREAM_LOGIN).len(),
                logins,
                "storage down before the login: the password is not sent to the upstream"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_login_while_storage_is_down_is_503_then_completes() {
    let switch = FaultSwitch::new();
    let app = spawn_app(AppOptions::standalone_single().with_store_faults(&switch)).await;
    app.enroll("alice").await;

    switch.down();
    assert_storage_unavailable(&app.login("alice").await, "standalone login");

    switch.up();
    let token = app.mfa_login("alice").await;
    app.challenge("alice", &token).await.assert_status(200);
    let code = app.code_from_last_send();
    let verified = app.verify("alice", &token, &code).await;
    verified.assert_status(200);
    assert_eq!(verified.json["verified"], json!(true), "{}", verified.text);
}

fn sample(metrics: &str, name: &str) -> Option<f64> {
    prometheus_samples(metrics)
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_flips_with_storage_while_health_stays_alive_and_status_and_metrics_tell() {
    let switch = FaultSwitch::new();
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_admin()
            .with_store_faults(&switch),
    )
    .await;
    let up = ready(&app).await;
    up.assert_status(200);
    assert_eq!(up.json, json!({"ready": true}), "{}", up.text);

    switch.down();
    // The probe is reused for a quarter second: the flip comes within it.
    let down = eventually(&app, Duration::from_secs(5), "/ready says 503", || async {
        let r = ready(&app).await;
        (r.status == 503).then_some(r)
    })
    .await;
    assert_storage_unavailable(&down, "/ready");
    let health = app.admin("GET", "/health", &Auth::None, None).await;
    health.assert_status(200);
    assert_eq!(
        health.json,
        json!({"status": "ok", "storage": "unavailable"}),
        "{}",
        health.text
    );
    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    assert_eq!(
        status.json["storage"],
        json!("unavailable"),
        "{}",
        status.text
    );
    assert_storage_unavailable(&app.login("alice").await, "login");
    let lookup = app
        .admin("GET", "/api/users/alice", &admin_auth(), None)
        .await;
    assert_storage_unavailable(&lookup, "the admin's user lookup");
    assert_conforms(&description(), "/api/users/{username}", "GET", &lookup);
    let log = app.admin("GET", "/api/attempts", &admin_auth(), None).await;
    assert_storage_unavailable(&log, "the attempts log");
    assert_conforms(&description(), "/api/attempts", "GET", &log);
    let backup = app.admin("POST", "/api/backup", &admin_auth(), None).await;
    assert_storage_unavailable(&backup, "a backup");
    assert_conforms(&description(), "/api/backup", "POST", &backup);
    let metrics = app.admin("GET", "/metrics", &admin_auth(), None).await;
    assert_eq!(
        sample(&metrics.text, "mfa_bridge_storage_ready"),
        Some(0.0),
        "{}",
        metrics.text
    );
    assert!(
        sample(&metrics.text, "mfa_bridge_storage_unavailable_total").unwrap_or(0.0) >= 1.0,
        "{}",
        metrics.text
    );

    switch.up();
    eventually(&app, Duration::from_secs(5), "/ready says 200", || async {
        (ready(&app).await.status == 200).then_some(())
    })
    .await;
    let health = app.admin("GET", "/health", &Auth::None, None).await;
    assert_eq!(health.json, json!({"status": "ok", "storage": "ok"}));
    // The attempts log is written again (it was skipped, not broken, while down).
    app.login("alice").await.assert_status(200);
    let attempts = app
        .admin("GET", "/api/attempts?user=alice", &admin_auth(), None)
        .await;
    let entries: Vec<Value> = attempts.json["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        entries.iter().any(|e| e["outcome"] == json!("ok")),
        "the login after storage came back is in the attempts log: {}",
        attempts.text
    );
    assert!(
        entries
            .iter()
            .all(|e| e["outcome"] != json!("storage-unavailable")),
        "a request refused while storage was down is not in it: {}",
        attempts.text
    );
}

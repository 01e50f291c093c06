//! Delivery through several providers, against misbehaving fakes ([`FaultyProvider`]): a
//! provider that hangs, answers 500, 503 with `Retry-After`, 429, resets the connection after
//! reading the request, or accepts and loses its answer; the code reaches the user through
//! the next provider within `outbound.send_deadline_ms`; a provider honouring
//! `Idempotency-Key` sends once; a 400 is not retried; circuit breakers open and close
//! (`/api/status`, `/metrics`); a challenge-verify session's verify goes to the provider that
//! started it.

use regex::Regex;
use serde_json::{json, Value};

use crate::faulty_provider::{Fault, FaultyProvider, Seen};
use crate::helpers::{
    admin_auth, eventually, prometheus_samples, spawn_app, AppOptions, Rewrite, TestApp,
};

/// A single-mode SMS provider named `name` at `base`, sending `{{ send_id }}` as its
/// `Idempotency-Key`.
pub(crate) fn single(name: &str, base: &str) -> Value {
    json!({
        "name": name,
        "single": {
            "url": format!("{base}/sms"),
            "method": "POST",
            "headers": {"content-type": "application/json", "Idempotency-Key": "{{ send_id }}"},
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            "message_id": "sid",
        }
    })
}

/// Two providers, `primary` then `backup`.
fn two(a: &FaultyProvider, b: &FaultyProvider) -> AppOptions {
    AppOptions::standalone_single()
        .with_endpoints(json!([
            single("primary", &a.base_url()),
            single("backup", &b.base_url())
        ]))
        .with_outbound("backoff_ms", json!(10))
        .with_outbound("backoff_max_ms", json!(20))
}

/// The code in a request the provider got.
fn code_in(seen: &Seen) -> String {
    let re = Regex::new(r"Code ([0-9]+)").unwrap();
    re.captures(&seen.body)
        .unwrap_or_else(|| panic!("no code in {}", seen.body))[1]
        .to_string()
}

/// Activates `username` and confirms it with the code `provider` got last: the code reached
/// the user through that provider.
async fn enrol_through(app: &TestApp, username: &str, provider: &FaultyProvider) {
    let token = app.activate_default(username).await.mfa_token();
    let seen = provider.seen();
    let last = seen.last().expect("the provider got the send");
    app.confirm(username, &token, &code_in(last))
        .await
        .assert_status(200);
}

fn keys(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .map(|s| s.header("Idempotency-Key").expect("an Idempotency-Key"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_hangs_is_failed_over_within_the_deadline() {
    let a = FaultyProvider::start(Fault::Hang).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b).with_outbound("send_deadline_ms", json!(3000))).await;

    enrol_through(&app, "alice", &b).await;

    assert!(!a.seen().is_empty());
    assert_eq!(b.seen().len(), 1);
    let all = [a.seen(), b.seen()].concat();
    let ids = keys(&all);
    assert!(ids.iter().all(|k| *k == ids[0]), "one send id: {ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_answers_slowly_still_delivers_within_its_time_out() {
    let a = FaultyProvider::start(Fault::Slow(
        std::time::Duration::from_millis(300),
        Box::new(Fault::accepted("SM1")),
    ))
    .await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b)).await;

    enrol_through(&app, "alice", &a).await;

    assert_eq!(a.seen().len(), 1);
    assert!(b.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_and_a_503_with_retry_after_are_retried_on_the_same_provider_with_the_same_id() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    a.script(vec![
        Fault::answer(500, r#"{"message":"boom"}"#),
        Fault::unavailable_retry_after(1),
    ]);
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b).with_outbound("retries", json!(2))).await;

    enrol_through(&app, "alice", &a).await;

    let seen = a.seen();
    assert_eq!(seen.len(), 3, "two retries");
    let ids = keys(&seen);
    assert!(ids.iter().all(|k| *k == ids[0]), "{ids:?}");
    assert!(b.seen().is_empty(), "no fail-over needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_falls_over_to_the_next_provider_with_the_same_send_id() {
    let a = FaultyProvider::start(Fault::answer(429, r#"{"message":"slow down"}"#)).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b)).await;

    enrol_through(&app, "alice", &b).await;

    let all = [a.seen(), b.seen()].concat();
    let ids = keys(&all);
    assert!(ids.iter().all(|k| *k == ids[0]), "{ids:?}");
    assert_eq!(b.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_the_request_was_read_is_retried_on_the_same_provider_first() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    a.script(vec![Fault::Reset]);
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b)).await;

    enrol_through(&app, "alice", &a).await;

    let seen = a.seen();
    assert_eq!(
        seen.len(),
        2,
        "the ambiguous failure is retried on the same provider"
    );
    let ids = keys(&seen);
    assert_eq!(ids[0], ids[1]);
    assert!(b.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_message_reaches_the_user_through_a_provider_honouring_the_key() {
    let a = FaultyProvider::honouring_idempotency_keys(Fault::accepted("SM1")).await;
    // The first request is sent, but its answer never comes back.
    a.script(vec![Fault::AcceptThenHang]);
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b).with_outbound("send_deadline_ms", json!(4000))).await;

    enrol_through(&app, "alice", &a).await;

    assert_eq!(a.messages(), 1, "one message, though two requests");
    let ids = keys(&a.seen());
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1]);
    assert!(b.seen().is_empty(), "no second message by another provider");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_is_neither_retried_nor_failed_over() {
    let a = FaultyProvider::start(Fault::answer(400, r#"{"message":"bad number"}"#)).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b).with_outbound("retries", json!(3))).await;

    app.activate_default("alice")
        .await
        .assert_error(400, "messaging-server-error");

    assert_eq!(a.seen().len(), 1);
    assert!(b.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_provider_failing_is_a_messaging_server_error_within_the_deadline() {
    let a = FaultyProvider::start(Fault::answer(503, "{}")).await;
    let b = FaultyProvider::start(Fault::Hang).await;
    let app = spawn_app(
        two(&a, &b)
            .with_outbound("send_deadline_ms", json!(1500))
            .with_outbound("retries", json!(1)),
    )
    .await;

    app.activate_default("alice")
        .await
        .assert_error(400, "messaging-server-error");
    assert!(!a.seen().is_empty() && !b.seen().is_empty());
}

/// The breaker of `name` as `/api/status` shows it.
async fn breaker(app: &TestApp, name: &str) -> Value {
    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    status.assert_status(200);
    status.json["providers"]
        .as_array()
        .expect("providers")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no provider {name}: {}", status.text))
        .clone()
}

async fn metric(app: &TestApp, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = app.admin("GET", "/metrics", &admin_auth(), None).await.text;
    prometheus_samples(&text)
        .into_iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breaker_opens_after_failures_skips_its_provider_and_a_probe_closes_it() {
    let a = FaultyProvider::start(Fault::answer(500, "{}")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(
        two(&a, &b)
            .with_admin()
            .with_outbound("breaker_failures", json!(2))
            .with_outbound("breaker_cooldown_seconds", json!(30)),
    )
    .await;
    assert_eq!(breaker(&app, "primary").await["breaker"], "closed");
    // Every configured provider is on /metrics from the start, closed.
    for provider in ["primary", "backup"] {
        assert_eq!(
            metric(
                &app,
                "mfa_bridge_provider_breaker_state",
                &[("provider", provider)]
            )
            .await,
            Some(0.0),
            "{provider}"
        );
    }

    enrol_through(&app, "alice", &b).await;
    let open = breaker(&app, "primary").await;
    assert_eq!(open["breaker"], "open", "{open}");
    assert_eq!(
        metric(
            &app,
            "mfa_bridge_provider_breaker_state",
            &[("provider", "primary")]
        )
        .await,
        Some(1.0)
    );
    assert_eq!(breaker(&app, "backup").await["breaker"], "closed");

    // While open, the provider is skipped.
    let before = a.seen().len();
    enrol_through(&app, "bob", &b).await;
    assert_eq!(
        a.seen().len(),
        before,
        "an open breaker's provider gets nothing"
    );

    // After the cool-down one probe goes through; its success closes the breaker.
    a.set_default(Fault::accepted("SM1"));
    app.advance_clock(31);
    enrol_through(&app, "carol", &a).await;
    assert_eq!(breaker(&app, "primary").await["breaker"], "closed");
    assert_eq!(
        metric(
            &app,
            "mfa_bridge_provider_breaker_state",
            &[("provider", "primary")]
        )
        .await,
        Some(0.0)
    );
    for state in ["open", "half-open", "closed"] {
        assert_eq!(
            metric(
                &app,
                "mfa_bridge_provider_breaker_transitions_total",
                &[("provider", "primary"), ("state", state)]
            )
            .await,
            Some(1.0),
            "{state}"
        );
    }
}

/// A challenge-verify provider at `base` that approves every code.
fn challenge_verify(name: &str, base: &str) -> Value {
    json!({
        "name": name,
        "challenge": {
            "url": format!("{base}/challenge"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}"}"#,
        },
        "verify": {
            "url": format!("{base}/verify"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","code":"{{ code }}"}"#,
            "success": {"json_path": "status", "equals": "approved"},
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_goes_to_the_provider_that_started_the_verification() {
    let a = FaultyProvider::start(Fault::answer(500, "{}")).await;
    let b = FaultyProvider::start(Fault::answer(200, r#"{"sid":"VE2","status":"approved"}"#)).await;
    let app = spawn_app(
        AppOptions::standalone_challenge_verify().with_endpoints(json!([
            challenge_verify("verify-a", &a.base_url()),
            challenge_verify("verify-b", &b.base_url())
        ])),
    )
    .await;

    let token = app.activate_default("alice").await.mfa_token();
    // The first provider would now answer, but the verification is the second's.
    a.set_default(Fault::answer(200, r#"{"status":"approved"}"#));
    app.confirm("alice", &token, "123456")
        .await
        .assert_status(200);

    let a_paths: Vec<String> = a.seen().into_iter().map(|s| s.path).collect();
    let b_paths: Vec<String> = b.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(a_paths, ["/challenge"]);
    assert_eq!(b_paths, ["/challenge", "/verify"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_does_not_overwrite_a_list_of_providers_with_one_endpoint() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(two(&a, &b).with_admin()).await;
    let before = app.config_bytes();

    let endpoint = single("other", &a.base_url())["single"].clone();
    let response = app
        .admin(
            "PUT",
            "/api/endpoints/single",
            &admin_auth(),
            Some(&endpoint),
        )
        .await;

    response.assert_status(400);
    assert!(
        response.text.contains("list of providers"),
        "{}",
        response.text
    );
    assert_eq!(app.config_bytes(), before, "the file is unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_whose_provider_a_reload_removed_fails_saying_so() {
    let a = FaultyProvider::start(Fault::answer(500, "{}")).await;
    let b = FaultyProvider::start(Fault::answer(200, r#"{"status":"approved"}"#)).await;
    let app = spawn_app(
        AppOptions::standalone_challenge_verify()
            .with_admin()
            .with_endpoints(json!([
                challenge_verify("verify-a", &a.base_url()),
                challenge_verify("verify-b", &b.base_url())
            ])),
    )
    .await;
    let token = app.activate_default("alice").await.mfa_token();

    // verify-b, which started the verification, is taken out of the configuration.
    a.set_default(Fault::answer(200, r#"{"status":"approved"}"#));
    let hash = app
        .admin("GET", "/api/status", &admin_auth(), None)
        .await
        .json["configHash"]
        .clone();
    let only_a = app
        .options
        .clone()
        .with_endpoints(json!([challenge_verify("verify-a", &a.base_url())]));
    app.rewrite_config(&app.yaml_for(&only_a), Rewrite::Rename);
    eventually(
        &app,
        std::time::Duration::from_secs(10),
        "the reload",
        || async {
            let now = app
                .admin("GET", "/api/status", &admin_auth(), None)
                .await
                .json["configHash"]
                .clone();
            (now != hash).then_some(())
        },
    )
    .await;

    let response = app.confirm("alice", &token, "123456").await;
    response.assert_error(400, "messaging-server-error");
    assert!(
        response.text.contains("verify-b") && response.text.contains("no longer configured"),
        "{}",
        response.text
    );
    assert!(
        a.seen().iter().all(|s| s.path != "/verify"),
        "not another provider"
    );
}

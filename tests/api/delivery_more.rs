//! Two paths of the delivery engine, against [`FaultyProvider`]s: a 503 with `Retry-After` is
//! retried at the same provider, and only once the wait it asked for has passed; providers of
//! one priority and weight share the sends. And what `check` says of the configuration around
//! them: a weight of 0, and receipts (`receipts.providers`) of a provider that is not
//! configured.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};

use crate::faulty_provider::{Fault, FaultyProvider};
use crate::helpers::{config_value, spawn_app, AppOptions, PROVIDER};

/// A single-mode SMS provider named `name` at `base`, with these extra keys (`priority`,
/// `weight`).
fn provider(name: &str, base: &str, extra: Value) -> Value {
    let mut entry = json!({
        "name": name,
        "single": {
            "url": format!("{base}/sms"),
            "method": "POST",
            "headers": {"content-type": "application/json", "Idempotency-Key": "{{ send_id }}"},
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            "message_id": "sid",
        }
    });
    if let (Some(entry), Some(extra)) = (entry.as_object_mut(), extra.as_object()) {
        entry.extend(extra.clone());
    }
    entry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_with_retry_after_is_retried_at_the_same_provider_only_after_the_wait() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    a.script(vec![Fault::unavailable_retry_after(1)]);
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_endpoints(json!([
                provider("primary", &a.base_url(), json!({})),
                provider("backup", &b.base_url(), json!({}))
            ]))
            .with_outbound("retries", json!(2))
            .with_outbound("backoff_ms", json!(10))
            .with_outbound("backoff_max_ms", json!(20))
            .with_outbound("send_deadline_ms", json!(20_000)),
    )
    .await;

    app.activate_default("alice").await.assert_status(302);

    let seen = a.seen();
    assert_eq!(seen.len(), 2, "the 503, then one retry that was accepted");
    assert!(b.seen().is_empty(), "no fail-over: the retry was accepted");
    let waited = seen[1].at.duration_since(seen[0].at);
    assert!(
        waited >= Duration::from_secs(1),
        "the retry came {waited:?} after the 503 that asked for Retry-After: 1"
    );
    assert_eq!(
        seen[0].header("Idempotency-Key"),
        seen[1].header("Idempotency-Key"),
        "one send id across the retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_of_one_priority_and_weight_share_the_sends() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let equal = json!({"priority": 1, "weight": 1});
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(json!([
        provider("left", &a.base_url(), equal.clone()),
        provider("right", &b.base_url(), equal)
    ])))
    .await;

    const CHALLENGES: usize = 40;
    for i in 0..CHALLENGES {
        app.activate_default(&format!("user{i}"))
            .await
            .assert_status(302);
    }

    let (left, right) = (a.seen().len(), b.seen().len());
    assert_eq!(left + right, CHALLENGES, "one request per challenge");
    // Each provider missing all 40 draws of one in two: a chance of 2^-39.
    assert!(left > 0 && right > 0, "left {left}, right {right}");
}

fn check(config: &Value) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::binary::check_in(dir.path(), config)
}

/// A proxy/single configuration with the providers `sms-main` and `sms-backup`, storage in
/// `dir`.
fn two_providers(dir: &Path, backup_extra: Value) -> Value {
    let storage = dir.join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    let options = AppOptions::proxy_single().with_endpoints(json!([
        provider("sms-main", PROVIDER, json!({})),
        provider("sms-backup", PROVIDER, backup_extra)
    ]));
    config_value(&options, &storage)
}

fn assert_refused_naming(config: &Value, needles: &[&str]) {
    let (output, text) = check(config);
    assert_eq!(output.status.code(), Some(1), "check must refuse:\n{text}");
    assert!(
        text.lines().any(|l| needles.iter().all(|n| l.contains(n))),
        "no line holds {needles:?}:\n{text}"
    );
}

#[test]
fn check_refuses_receipts_of_a_provider_that_is_not_configured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = two_providers(dir.path(), json!({}));
    let sinch = json!({"family": "sinch", "username": "u", "password": "p"});

    config["receipts"] = json!({"providers": {"sms-backup": sinch}});
    let (output, text) = check(&config);
    assert_eq!(
        output.status.code(),
        Some(0),
        "a configured provider:\n{text}"
    );

    config["receipts"] = json!({"providers": {"sms-bakcup": sinch}});
    assert_refused_naming(
        &config,
        &["receipts.providers.sms-bakcup", "sms-main, sms-backup"],
    );
}

#[test]
fn check_refuses_a_weight_of_zero() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = two_providers(dir.path(), json!({"weight": 0}));
    assert_refused_naming(&config, &["mfa.endpoints", "weight"]);
}

//! The admin listener (`admin:` in platform.yml), in process (the binary where a test needs a
//! restart or an edit of the file under it): the admin token,
//! health and metrics, status, endpoints read and changed (validated, written back to
//! platform.yml, applied at once), templates under `templates/`, preview, test send and the
//! attempts log.

use std::path::Path;

use serde_json::{json, Value};

use crate::fakes::Reply;
use crate::helpers::{
    admin_auth, marked_endpoint, other_code, phone_for, prometheus_samples, sha256_hex,
    spawn_app_with_env, spawn_daemon, AppOptions, Auth, Stop, TestApp, TestResponse, ADMIN_TOKEN,
    API_KEY, PROVIDER,
};

/// An environment variable the daemon substitutes into platform.yml, and its (secret) value.
const SECRET_VAR: &str = "MFA_BRIDGE_TEST_PROVIDER_ACCOUNT";
const SECRET: &str = "acct-7f3a9c1e2d84b6";

const PHONE: &str = "+41791234567";

/// The app with an admin listener, `SECRET_VAR` set to `SECRET`.
async fn admin_app(options: AppOptions) -> TestApp {
    spawn_app_with_env(options.with_admin(), &[(SECRET_VAR, SECRET)]).await
}

/// The binary with an admin listener, `SECRET_VAR` set to `SECRET`: for a test that restarts
/// it or edits its file.
async fn admin_daemon(options: AppOptions) -> TestApp {
    spawn_daemon(options.with_admin(), &[(SECRET_VAR, SECRET)]).await
}

/// Standalone, single mode, the single endpoint carrying `marker`.
fn marked_options(marker: &str) -> AppOptions {
    AppOptions::standalone_single().with_endpoints(json!({"single": marked_endpoint(marker)}))
}

/// The app of [`marked_options`].
async fn marked_app(marker: &str) -> TestApp {
    admin_app(marked_options(marker)).await
}

/// A single endpoint that holds `${SECRET_VAR}` in its url and in a header that is not a
/// credential by its name (so only the `${ENV}` masking can hide it).
fn endpoint_with_env_secret() -> Value {
    json!({
        "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}&account=${{{SECRET_VAR}}}"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
        "headers": {"content-type": "application/json", "x-account": format!("${{{SECRET_VAR}}}")},
    })
}

/// `endpoint` as it stands in this app's platform.yml (the provider placeholder replaced).
fn as_written(app: &TestApp, endpoint: &Value) -> Value {
    let text = endpoint
        .to_string()
        .replace(PROVIDER, &app.provider.base_url());
    serde_json::from_str(&text).expect("still JSON")
}

/// Asserts `400 invalid-configuration` whose `problems` hold one with this exact path.
fn assert_invalid_configuration_naming(response: &TestResponse, path: &str) {
    response.assert_error(400, "invalid-configuration");
    let problems = response.json["error"]["problems"]
        .as_array()
        .unwrap_or_else(|| {
            panic!(
                "an invalid-configuration error lists problems: {}",
                response.text
            )
        });
    assert!(
        problems
            .iter()
            .all(|p| p["path"].is_string() && p["message"].is_string()),
        "every problem has a path and a message: {}",
        response.text
    );
    assert!(
        problems.iter().any(|p| p["path"] == json!(path)),
        "expected a problem at {path:?}: {}",
        response.text
    );
}

async fn status_json(app: &TestApp) -> Value {
    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    status.assert_status(200);
    status.json
}

async fn endpoint_json(app: &TestApp, name: &str) -> Value {
    let response = app
        .admin(
            "GET",
            &format!("/api/endpoints/{name}"),
            &admin_auth(),
            None,
        )
        .await;
    response.assert_status(200);
    response.json
}

// ---------------------------------------------------------------------------------------------
// The token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_a_request_without_the_admin_token_or_with_a_wrong_one() {
    let app = marked_app("marker-original").await;
    let config_before = app.config_bytes();
    let valid_endpoint = as_written(&app, &marked_endpoint("marker-intruder"));
    let json_routes: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/status", None),
        ("GET", "/api/endpoints", None),
        ("GET", "/api/endpoints/single", None),
        ("PUT", "/api/endpoints/single", Some(valid_endpoint.clone())),
        (
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"body": "intruder {{ code }}"})),
        ),
        ("DELETE", "/api/endpoints/single", None),
        ("GET", "/api/templates", None),
        ("GET", "/api/templates/messages/sms.en.hbs", None),
        (
            "POST",
            "/api/preview",
            Some(json!({"endpoint": "single", "data": {"phone": PHONE}})),
        ),
        (
            "POST",
            "/api/test-send",
            Some(json!({"data": {"phone": PHONE}})),
        ),
        ("GET", "/api/attempts", None),
        ("GET", "/api/attempts?limit=5", None),
        ("GET", "/api/attempts/1", None),
        ("GET", "/metrics", None),
    ];
    let wrong = [
        Auth::None,
        Auth::bearer("wrong-admin-token"),
        // A prefix of the right token.
        Auth::bearer(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
        // The right token with a character more.
        Auth::bearer(&format!("{ADMIN_TOKEN}x")),
        // What anyone who reads platform.yml knows.
        Auth::bearer(&sha256_hex(ADMIN_TOKEN)),
        // The public api key.
        Auth::bearer(API_KEY),
    ];

    for auth in &wrong {
        for (method, path, body) in &json_routes {
            let response = app.admin(method, path, auth, body.as_ref()).await;
            assert_eq!(
                response.status, 401,
                "{method} {path} with {auth:?} must be 401, got {} {}",
                response.status, response.text
            );
            response.assert_error(401, "unauthorized");
        }
        let put_template = app
            .admin_text(
                "PUT",
                "/api/templates/messages/intruder.hbs",
                auth,
                "intruder",
            )
            .await;
        assert_eq!(
            put_template.status, 401,
            "PUT /api/templates/... with {auth:?} must be 401, got {} {}",
            put_template.status, put_template.text
        );
        put_template.assert_error(401, "unauthorized");
    }

    assert_eq!(app.provider.count(), 0, "a refused test-send sends nothing");
    assert_eq!(
        app.config_bytes(),
        config_before,
        "a refused PUT/PATCH/DELETE leaves platform.yml byte for byte as it was"
    );
    assert!(
        !app.templates_dir().join("messages/intruder.hbs").exists(),
        "a refused template PUT writes nothing"
    );
    assert!(
        app.body_sent_on_activation("alice")
            .await
            .contains("marker-original"),
        "the running configuration is the original one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_without_a_token() {
    let app = admin_app(AppOptions::standalone_single()).await;

    let response = app.admin("GET", "/health", &Auth::None, None).await;

    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({"status": "ok", "storage": "ok"}),
        "{}",
        response.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_and_metrics_are_not_served_on_the_public_port() {
    let app = admin_app(AppOptions::standalone_single()).await;

    for path in [
        "/api/status",
        "/api/endpoints",
        "/api/endpoints/single",
        "/metrics",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send()
            .await
            .expect("GET on the public port");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        assert_ne!(
            status, 200,
            "{path} must not be served on the public port: {text}"
        );
        for leak in ["configHash", "mfa_bridge_", "/sms?to="] {
            assert!(
                !text.contains(leak),
                "{path} on the public port shows {leak:?}: {text}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_and_hold_every_metric_of_the_contract_after_a_flow() {
    let app = admin_daemon(marked_options("marker-metrics-1")).await;
    app.enroll("alice").await;
    let mfa_token = app.login("alice").await.mfa_token();
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    app.verify("alice", &mfa_token, &other_code(&code))
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);
    // One reload, so that the reload counter has a series.
    let options = app
        .options
        .clone()
        .with_endpoints(json!({"single": marked_endpoint("marker-metrics-2")}));
    app.rewrite_config(&app.yaml_for(&options), crate::helpers::Rewrite::Rename);
    let app_ref = &app;
    crate::helpers::eventually(
        &app,
        std::time::Duration::from_secs(10),
        "mfa_bridge_reloads_total{result=\"applied\"} after an edit of platform.yml",
        move || async move {
            let metrics = app_ref.admin("GET", "/metrics", &admin_auth(), None).await;
            prometheus_samples(&metrics.text)
                .iter()
                .any(|s| {
                    s.name == "mfa_bridge_reloads_total"
                        && s.labels.get("result").map(String::as_str) == Some("applied")
                        && s.value >= 1.0
                })
                .then_some(())
        },
    )
    .await;

    let without_token = app.admin("GET", "/metrics", &Auth::None, None).await;
    let metrics = app.admin("GET", "/metrics", &admin_auth(), None).await;

    without_token.assert_error(401, "unauthorized");
    metrics.assert_status(200);
    let content_type = metrics
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/plain"),
        "metrics are Prometheus text, content-type was {content_type:?}"
    );
    let samples = prometheus_samples(&metrics.text);
    let of = |name: &str| -> Vec<&crate::helpers::Sample> {
        samples.iter().filter(|s| s.name == name).collect()
    };
    let shown = &metrics.text;

    let requests = of("mfa_bridge_requests_total");
    for status in ["200", "302", "400"] {
        assert!(
            requests.iter().any(
                |s| s.labels.get("status").map(String::as_str) == Some(status)
                    && s.labels.contains_key("route")
                    && s.value >= 1.0
            ),
            "mfa_bridge_requests_total{{route,status=\"{status}\"}} after the flow:\n{shown}"
        );
    }
    let sends: f64 = of("mfa_bridge_sends_total")
        .iter()
        .filter(|s| s.labels.get("endpoint").map(String::as_str) == Some("single"))
        .inspect(|s| {
            assert!(
                s.labels.contains_key("outcome"),
                "sends carry an outcome:\n{shown}"
            )
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(
        sends, 2.0,
        "two sends through `single` (activate, challenge):\n{shown}"
    );
    let latency_count: f64 = of("mfa_bridge_provider_latency_seconds_count")
        .iter()
        .filter(|s| s.labels.get("endpoint").map(String::as_str) == Some("single"))
        .map(|s| s.value)
        .sum();
    assert_eq!(latency_count, 2.0, "two provider calls timed:\n{shown}");
    assert!(
        of("mfa_bridge_provider_latency_seconds_bucket")
            .iter()
            .any(
                |s| s.labels.get("endpoint").map(String::as_str) == Some("single")
                    && s.labels.contains_key("le")
            ),
        "the provider latency is a histogram with buckets:\n{shown}"
    );
    let verify = of("mfa_bridge_verify_total");
    let outcomes: std::collections::BTreeSet<&str> = verify
        .iter()
        .filter(|s| s.value >= 1.0)
        .filter_map(|s| s.labels.get("outcome").map(String::as_str))
        .collect();
    assert!(
        outcomes.len() >= 2,
        "a wrong and a right code make two verify outcomes, got {outcomes:?}:\n{shown}"
    );
    let pending = of("mfa_bridge_pending_sessions");
    assert!(
        pending.len() == 1 && pending[0].labels.is_empty() && pending[0].value >= 0.0,
        "one mfa_bridge_pending_sessions gauge:\n{shown}"
    );
}

// ---------------------------------------------------------------------------------------------
// Status

async fn assert_status_names(options: AppOptions, mode: &str, sms_mode: &str) {
    let app = admin_app(options).await;

    let status = status_json(&app).await;

    assert_eq!(
        status["version"],
        json!(env!("CARGO_PKG_VERSION")),
        "{status}"
    );
    let uptime = status["uptimeSeconds"]
        .as_u64()
        .unwrap_or_else(|| panic!("uptimeSeconds is a whole number: {status}"));
    assert!(uptime < 600, "the daemon just started: {status}");
    let hash = status["configHash"].as_str().unwrap_or("");
    assert!(
        !hash.is_empty(),
        "configHash is a non-empty string: {status}"
    );
    let config_path = app.config_path();
    let shown = Path::new(status["configPath"].as_str().unwrap_or(""));
    assert!(
        shown == config_path.as_path() || shown == config_path.canonicalize().unwrap().as_path(),
        "configPath is the file the daemon runs on ({}): {status}",
        config_path.display()
    );
    assert_eq!(status["mode"], json!(mode), "{status}");
    assert_eq!(status["smsMode"], json!(sms_mode), "{status}");
    assert_eq!(status["lastReload"], Value::Null, "no reload yet: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_the_version_the_configuration_and_standalone_single_mode() {
    assert_status_names(AppOptions::standalone_single(), "standalone", "single").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_proxy_challenge_verify_mode() {
    assert_status_names(
        AppOptions::proxy_challenge_verify(),
        "proxy",
        "challenge-verify",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Endpoints: read

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_shown_as_written_with_env_references_and_never_the_secret_value() {
    let endpoint = endpoint_with_env_secret();
    let app = admin_app(
        AppOptions::standalone_single().with_endpoints(json!({"single": endpoint.clone()})),
    )
    .await;
    app.activate_default("alice").await.mfa_token();
    let sent = app.provider.last();
    assert_eq!(
        sent.query_value("account").as_deref(),
        Some(SECRET),
        "the daemon substituted the variable (else this test proves nothing)"
    );
    assert_eq!(sent.header("x-account").as_deref(), Some(SECRET));

    let all = app
        .admin("GET", "/api/endpoints", &admin_auth(), None)
        .await;
    let single = app
        .admin("GET", "/api/endpoints/single", &admin_auth(), None)
        .await;

    all.assert_status(200);
    single.assert_status(200);
    let written = as_written(&app, &endpoint);
    assert_eq!(
        all.json,
        json!({"endpoints": {"single": written}}),
        "{}",
        all.text
    );
    assert_eq!(single.json, written, "{}", single.text);
    for path in [
        "/api/status",
        "/api/endpoints",
        "/api/endpoints/single",
        "/api/attempts",
        "/metrics",
    ] {
        let response = app.admin("GET", path, &admin_auth(), None).await;
        response.assert_status(200);
        assert!(
            !response.text.contains(SECRET),
            "GET {path} shows the secret value: {}",
            response.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_the_mode_does_not_configure_is_an_unknown_resource() {
    let app = admin_app(AppOptions::standalone_single()).await;
    let config_before = app.config_bytes();

    for name in ["challenge", "verify"] {
        app.admin(
            "GET",
            &format!("/api/endpoints/{name}"),
            &admin_auth(),
            None,
        )
        .await
        .assert_error(404, "unknown-resource");
        app.admin(
            "DELETE",
            &format!("/api/endpoints/{name}"),
            &admin_auth(),
            None,
        )
        .await
        .assert_error(404, "unknown-resource");
    }

    assert_eq!(app.config_bytes(), config_before, "platform.yml unchanged");
}

// ---------------------------------------------------------------------------------------------
// Endpoints: change

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_put_is_refused_naming_the_path_and_changes_nothing() {
    let app = marked_app("marker-original").await;
    let config_before = app.config_bytes();
    let hash_before = status_json(&app).await["configHash"].clone();
    let original = endpoint_json(&app, "single").await;
    let valid = as_written(&app, &marked_endpoint("marker-refused"));
    let mut without_url = valid.clone();
    without_url.as_object_mut().unwrap().remove("url");
    let mut unknown_variable = valid.clone();
    unknown_variable["body"] = json!(r#"{"to":"{{ nope }}","text":"Code {{ code }}"}"#);
    let mut unparsable = valid.clone();
    unparsable["body"] = json!(r#"{"to":"{{#if phone}}","text":"Code {{ code }}"}"#);
    let mut bad_method = valid.clone();
    bad_method["method"] = json!("FETCH");
    let mut unknown_key = valid.clone();
    unknown_key["bogus"] = json!("x");
    let cases = [
        (without_url, "mfa.endpoints.single.url"),
        (unknown_variable, "mfa.endpoints.single.body"),
        (unparsable, "mfa.endpoints.single.body"),
        (bad_method, "mfa.endpoints.single.method"),
        (unknown_key, "mfa.endpoints.single.bogus"),
    ];

    for (endpoint, path) in &cases {
        let response = app
            .admin(
                "PUT",
                "/api/endpoints/single",
                &admin_auth(),
                Some(endpoint),
            )
            .await;

        assert_invalid_configuration_naming(&response, path);
        assert_eq!(
            app.config_bytes(),
            config_before,
            "a refused PUT ({path}) leaves platform.yml byte for byte as it was"
        );
    }

    assert_eq!(
        status_json(&app).await["configHash"],
        hash_before,
        "configuration unchanged"
    );
    assert_eq!(endpoint_json(&app, "single").await, original);
    let body = app.body_sent_on_activation("alice").await;
    assert!(
        body.contains("marker-original"),
        "the daemon still sends with the old template, sent {body:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_put_is_applied_at_once_written_to_platform_yml_and_survives_a_restart() {
    let mut app = admin_daemon(marked_options("marker-original")).await;
    let hash_before = status_json(&app).await["configHash"].clone();
    let config_before: Value =
        serde_yaml::from_slice(&app.config_bytes()).expect("platform.yml is YAML");
    let mut new_endpoint = as_written(&app, &marked_endpoint("marker-put"));
    new_endpoint["url"] = json!(format!(
        "{}/sms2?to={{{{ phone }}}}",
        app.provider.base_url()
    ));

    let response = app
        .admin(
            "PUT",
            "/api/endpoints/single",
            &admin_auth(),
            Some(&new_endpoint),
        )
        .await;

    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({"endpoint": new_endpoint}),
        "{}",
        response.text
    );
    let body = app.body_sent_on_activation("alice").await;
    assert!(
        body.contains("marker-put"),
        "the next activation uses the new template: {body:?}"
    );
    assert_eq!(app.provider.last().path, "/sms2");
    assert_eq!(endpoint_json(&app, "single").await, new_endpoint);
    assert_ne!(
        status_json(&app).await["configHash"],
        hash_before,
        "a new configuration"
    );
    let on_disk: Value = serde_yaml::from_slice(&app.config_bytes()).expect("platform.yml is YAML");
    assert_eq!(
        on_disk["mfa"]["endpoints"]["single"], new_endpoint,
        "written to platform.yml"
    );
    let mut expected = config_before.clone();
    expected["mfa"]["endpoints"]["single"] = new_endpoint.clone();
    assert_eq!(on_disk, expected, "nothing else in platform.yml changed");

    app.restart(Stop::Terminate).await;

    let body = app.body_sent_on_activation("bob").await;
    assert!(
        body.contains("marker-put"),
        "after a restart, still the new template: {body:?}"
    );
    assert_eq!(app.provider.last().path, "/sms2");
    assert_eq!(endpoint_json(&app, "single").await, new_endpoint);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_merges_into_the_endpoint_a_null_removes_a_key_and_env_references_stay_in_the_file()
{
    let mut endpoint = endpoint_with_env_secret();
    endpoint["headers"]["x-trace"] = json!("trace-1");
    let app = admin_app(
        AppOptions::standalone_single().with_endpoints(json!({"single": endpoint.clone()})),
    )
    .await;
    let body = r#"{"to":"{{ phone }}","text":"Code {{ code }} marker-patch"}"#;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            &admin_auth(),
            Some(&json!({"body": body, "headers": null})),
        )
        .await;

    response.assert_status(200);
    let mut expected = as_written(&app, &endpoint);
    expected["body"] = json!(body);
    expected.as_object_mut().unwrap().remove("headers");
    assert_eq!(
        response.json,
        json!({"endpoint": expected}),
        "{}",
        response.text
    );
    assert_eq!(endpoint_json(&app, "single").await, expected);
    let sent_body = app.body_sent_on_activation("alice").await;
    let sent = app.provider.last();
    assert!(
        sent_body.contains("marker-patch"),
        "applied at once: {sent_body:?}"
    );
    assert_eq!(sent.header("x-trace"), None, "the headers were removed");
    assert_eq!(
        sent.query_value("account").as_deref(),
        Some(SECRET),
        "the url kept its secret"
    );
    let on_disk = String::from_utf8(app.config_bytes()).expect("platform.yml is text");
    assert!(
        on_disk.contains(&format!("${{{SECRET_VAR}}}")),
        "platform.yml keeps the ${{{SECRET_VAR}}} reference:\n{on_disk}"
    );
    assert!(
        !on_disk.contains(SECRET),
        "the secret value was written into platform.yml:\n{on_disk}"
    );
    let parsed: Value = serde_yaml::from_str(&on_disk).expect("platform.yml is YAML");
    assert_eq!(parsed["mfa"]["endpoints"]["single"], expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_are_all_kept() {
    const PATCHES: usize = 8;
    let app = marked_app("marker-original").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..PATCHES {
        let request = app
            .client
            .patch(format!("{}/api/endpoints/single", app.admin_address()))
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .json(&json!({"headers": {format!("x-patch-{i}"): format!("value-{i}")}}));
        tasks.spawn(async move {
            let response = request.send().await.expect("PATCH");
            (
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            )
        });
    }
    while let Some(answer) = tasks.join_next().await {
        let (status, text) = answer.expect("a PATCH task");
        assert_eq!(status, 200, "{text}");
    }

    let endpoint = endpoint_json(&app, "single").await;
    let on_disk: Value = serde_yaml::from_slice(&app.config_bytes()).expect("platform.yml is YAML");
    app.activate_default("alice").await.mfa_token();
    let sent = app.provider.last();

    let lost: Vec<String> = (0..PATCHES)
        .map(|i| format!("x-patch-{i}"))
        .filter(|h| endpoint["headers"].get(h).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {PATCHES} PATCHes answered 200 and were lost: {lost:?}; the endpoint is {endpoint}",
        lost.len()
    );
    assert_eq!(
        on_disk["mfa"]["endpoints"]["single"], endpoint,
        "platform.yml holds them all"
    );
    for i in 0..PATCHES {
        assert_eq!(
            sent.header(&format!("x-patch-{i}")),
            Some(format!("value-{i}")),
            "the running configuration holds every patch"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_concurrent_puts_the_running_template_is_the_one_in_platform_yml() {
    const ROUNDS: usize = 10;
    const PUTS: usize = 16;
    let app = marked_app("marker-original").await;
    for round in 0..ROUNDS {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..PUTS {
            let marker = format!("marker-put-{round}-{i}");
            let request = app
                .client
                .put(format!("{}/api/endpoints/single", app.admin_address()))
                .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
                .json(&as_written(&app, &marked_endpoint(&marker)));
            tasks.spawn(async move {
                let response = request.send().await.expect("PUT");
                (
                    response.status().as_u16(),
                    response.text().await.unwrap_or_default(),
                )
            });
        }
        while let Some(answer) = tasks.join_next().await {
            let (status, text) = answer.expect("a PUT task");
            assert_eq!(status, 200, "{text}");
        }

        let endpoint = endpoint_json(&app, "single").await;
        let on_disk: Value =
            serde_yaml::from_slice(&app.config_bytes()).expect("platform.yml is YAML");
        let sent = app.body_sent_on_activation(&format!("user-{round}")).await;

        assert_eq!(on_disk["mfa"]["endpoints"]["single"], endpoint);
        let marker = endpoint["body"]
            .as_str()
            .and_then(|b| b.split_whitespace().find(|w| w.starts_with("marker-put-")))
            .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| panic!("GET shows one of the PUTs: {endpoint}"))
            .to_string();
        assert!(
            sent.contains(&format!("{marker}\"")),
            "round {round}: platform.yml and GET say {marker}, but the daemon sends {sent:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_endpoint_the_mode_needs_is_refused_and_changes_nothing() {
    let app = marked_app("marker-original").await;
    let config_before = app.config_bytes();

    let response = app
        .admin("DELETE", "/api/endpoints/single", &admin_auth(), None)
        .await;

    assert_invalid_configuration_naming(&response, "mfa.endpoints.single");
    assert_eq!(app.config_bytes(), config_before, "platform.yml unchanged");
    assert!(app
        .body_sent_on_activation("alice")
        .await
        .contains("marker-original"));
}

// ---------------------------------------------------------------------------------------------
// Templates

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_listed_and_a_put_then_get_round_trips() {
    let app = admin_app(AppOptions::standalone_single()).await;
    let on_disk = app.templates_dir().join("messages/sms.en.hbs");
    std::fs::create_dir_all(on_disk.parent().unwrap()).unwrap();
    std::fs::write(&on_disk, "Your code is {{ code }}.\n").unwrap();
    let french = "Votre code est {{ code }}.\n\u{c0} bient\u{f4}t \u{2713}\n";

    let listed = app
        .admin("GET", "/api/templates", &admin_auth(), None)
        .await;
    let put = app
        .admin_text(
            "PUT",
            "/api/templates/messages/sms.fr.hbs",
            &admin_auth(),
            french,
        )
        .await;
    let got = app
        .admin(
            "GET",
            "/api/templates/messages/sms.fr.hbs",
            &admin_auth(),
            None,
        )
        .await;
    let listed_after = app
        .admin("GET", "/api/templates", &admin_auth(), None)
        .await;

    listed.assert_status(200);
    assert_eq!(
        listed.json["templates"],
        json!(["messages/sms.en.hbs"]),
        "{}",
        listed.text
    );
    let builtin = listed.json["builtin"]
        .as_array()
        .expect("builtin is a list");
    for shipped in [
        "providers/twilio-sms.yml",
        "messages/sms.en.hbs",
        "messages/email.fr.hbs",
    ] {
        assert!(
            builtin.contains(&json!(shipped)),
            "{shipped} in {}",
            listed.text
        );
    }
    put.assert_status(200);
    assert_eq!(
        put.json,
        json!({"path": "messages/sms.fr.hbs"}),
        "{}",
        put.text
    );
    got.assert_status(200);
    assert_eq!(got.text, french, "GET returns the text exactly as PUT");
    let content_type = got
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/plain"),
        "content-type was {content_type:?}"
    );
    assert_eq!(
        std::fs::read_to_string(app.templates_dir().join("messages/sms.fr.hbs")).unwrap(),
        french,
        "written under templates/"
    );
    listed_after.assert_status(200);
    let mut names: Vec<String> = listed_after.json["templates"]
        .as_array()
        .unwrap_or_else(|| panic!("templates is a list: {}", listed_after.text))
        .iter()
        .map(|n| n.as_str().unwrap_or("").to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["messages/sms.en.hbs", "messages/sms.fr.hbs"]);

    let replaced = app
        .admin_text(
            "PUT",
            "/api/templates/messages/sms.en.hbs",
            &admin_auth(),
            "Code: {{ code }}",
        )
        .await;
    replaced.assert_status(200);
    let got = app
        .admin(
            "GET",
            "/api/templates/messages/sms.en.hbs",
            &admin_auth(),
            None,
        )
        .await;
    assert_eq!(got.text, "Code: {{ code }}");
    app.admin(
        "GET",
        "/api/templates/messages/none.hbs",
        &admin_auth(),
        None,
    )
    .await
    .assert_status(404);
}

#[tokio::test]
async fn a_builtin_preset_is_readable_and_a_message_edit_the_configuration_would_refuse_is_not_written(
) {
    // The single endpoint sends `{{ message }}`: the message texts are part of the configuration.
    let app = admin_app(AppOptions::standalone_single().with_endpoints(json!({
        "single": {
            "url": format!("{PROVIDER}/sms"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
        }
    })))
    .await;
    let preset = app
        .admin(
            "GET",
            "/api/templates/providers/twilio-sms.yml",
            &admin_auth(),
            None,
        )
        .await;
    preset.assert_status(200);
    assert!(preset.text.contains("api.twilio.com"), "{}", preset.text);

    let file = app.templates_dir().join("messages/sms.en.hbs");
    let refused = app
        .admin_text(
            "PUT",
            "/api/templates/messages/sms.en.hbs",
            &admin_auth(),
            "Your code for {{ phone }} is {{ code }}",
        )
        .await;
    assert_invalid_configuration_naming(&refused, "templates/messages/sms.en.hbs");
    assert!(!file.exists(), "a refused message is not written");

    let accepted = app
        .admin_text(
            "PUT",
            "/api/templates/messages/sms.en.hbs",
            &admin_auth(),
            "Edited: {{ code }} ({{ ttl_minutes }} min)",
        )
        .await;
    accepted.assert_status(200);
    app.post(
        "/alice/mfa/activate",
        &Auth::bearer(API_KEY),
        Some(&json!({"phone": PHONE})),
    )
    .await
    .assert_status(302);
    let text = app.provider.last().body_json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        text.starts_with("Edited: ") && text.ends_with(" (5 min)"),
        "the edited text is used at once: {text:?}"
    );
}

/// Every regular file under `dir` (recursively), but not under `skip`.
fn files_under(dir: &Path, skip: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.starts_with(skip) {
            continue;
        }
        if path.is_dir() {
            found.extend(files_under(&path, skip));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_path_that_escapes_templates_is_refused_and_nothing_is_written_outside() {
    let app = admin_app(AppOptions::standalone_single()).await;
    let config_before = app.config_bytes();
    let outside_dir = tempfile::tempdir().unwrap();
    let absolute = outside_dir.path().join("absolute.txt");
    let absolute = absolute.to_str().unwrap();
    let escape_name = format!("mfa-bridge-escape-{}.txt", std::process::id());
    let escapes = [
        "../platform.yml".to_string(),
        "..%2Fplatform.yml".to_string(),
        "..%2fplatform.yml".to_string(),
        "%2E%2E%2Fplatform.yml".to_string(),
        "messages/../../platform.yml".to_string(),
        "messages%2F..%2F..%2Fplatform.yml".to_string(),
        format!("../../{escape_name}"),
        "..".to_string(),
        format!("/{}", absolute.trim_start_matches('/')),
        absolute.replace('/', "%2F"),
    ];
    let marker = "written-by-an-escaping-put";

    for escape in &escapes {
        let target = format!("/api/templates/{escape}");
        let put = app.admin_raw("PUT", &target, marker).await;
        assert_eq!(
            (put.status, put.json["error"]["id"].as_str()),
            (400, Some("invalid-parameters-format")),
            "PUT {target} must be refused with 400 invalid-parameters-format: {} {}",
            put.status,
            put.text
        );
    }
    for target in [
        "/api/templates/../platform.yml",
        "/api/templates/..%2Fplatform.yml",
        "/api/templates//etc/passwd",
        "/api/templates/%2Fetc%2Fpasswd",
    ] {
        let get = app.admin_raw("GET", target, "").await;
        assert_eq!(
            (get.status, get.json["error"]["id"].as_str()),
            (400, Some("invalid-parameters-format")),
            "GET {target} must be refused with 400 invalid-parameters-format: {} {}",
            get.status,
            get.text
        );
        assert!(
            !get.text.contains("root:"),
            "GET {target} showed /etc/passwd"
        );
        assert!(
            !get.text.contains("token_sha256"),
            "GET {target} showed platform.yml"
        );
    }

    assert_eq!(
        app.config_bytes(),
        config_before,
        "platform.yml byte for byte unchanged"
    );
    assert!(
        !Path::new(absolute).exists(),
        "nothing written at an absolute path"
    );
    let config_dir = app.config_path().parent().unwrap().to_path_buf();
    let parent = config_dir.parent().unwrap();
    assert!(
        !parent.join(&escape_name).exists(),
        "nothing written above the config folder"
    );
    for file in files_under(&config_dir, &app.templates_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(marker),
            "{} was written by an escaping PUT",
            file.display()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Preview and test send

async fn preview(app: &TestApp, body: Value) -> TestResponse {
    let response = app
        .admin("POST", "/api/preview", &admin_auth(), Some(&body))
        .await;
    response.assert_status(200);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_of_the_saved_endpoint_renders_it_with_the_sample_code_and_username() {
    let app = admin_app(
        AppOptions::standalone_single().with_endpoints(json!({"single": {
            "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}&user={{{{ username }}}}"),
            "method": "POST",
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }} for {{ username }}"}"#,
            "headers": {"content-type": "application/json"},
        }})),
    )
    .await;

    let defaults = preview(
        &app,
        json!({"endpoint": "single", "data": {"phone": PHONE}}),
    )
    .await;
    let given = preview(
        &app,
        json!({"endpoint": "single", "data": {"phone": PHONE, "code": "654321", "username": "carol"}}),
    )
    .await;

    assert_eq!(defaults.json["problems"], json!([]), "{}", defaults.text);
    let request = &defaults.json["request"];
    assert_eq!(request["method"], json!("POST"), "{}", defaults.text);
    assert_eq!(
        request["url"],
        json!(format!(
            "{}/sms?to=%2B41791234567&user=sample-user",
            app.provider.base_url()
        )),
        "{}",
        defaults.text
    );
    assert_eq!(
        request["body"],
        json!(r#"{"to":"+41791234567","text":"Code 123456 for sample-user"}"#),
        "{}",
        defaults.text
    );
    assert_eq!(
        request["headers"]["content-type"],
        json!("application/json"),
        "{}",
        defaults.text
    );
    assert_eq!(
        given.json["request"]["body"],
        json!(r#"{"to":"+41791234567","text":"Code 654321 for carol"}"#),
        "{}",
        given.text
    );
    assert_eq!(app.provider.count(), 0, "a preview sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_warns_about_each_variable_missing_from_the_sample_data() {
    let app = admin_app(
        AppOptions::standalone_single().with_endpoints(json!({"single": {
            "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}&lang={{{{ language }}}}"),
            "method": "POST",
            "body": r#"{"text":"Code {{ code }}"}"#,
            "headers": {"content-type": "application/json"},
        }})),
    )
    .await;

    let missing = preview(&app, json!({"endpoint": "single", "data": {}})).await;
    let complete = preview(
        &app,
        json!({"endpoint": "single", "data": {"phone": PHONE, "language": "fr"}}),
    )
    .await;

    let warnings: Vec<String> = missing.json["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("no warnings list: {}", missing.text))
        .iter()
        .map(|w| w.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("{{ language }}"), "{warnings:?}");
    assert!(warnings[1].contains("{{ phone }}"), "{warnings:?}");
    assert_eq!(complete.json["warnings"], json!([]), "{}", complete.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_of_an_edited_endpoint_renders_it_without_saving_it() {
    let app = marked_app("marker-original").await;
    let config_before = app.config_bytes();
    let edited = json!({
        "url": format!("{}/other?to={{{{ phone }}}}", app.provider.base_url()),
        "method": "PUT",
        "body": "Hi {{ username }}, your code is {{ code }}",
        "headers": {"content-type": "text/plain"},
    });

    let response = preview(&app, json!({"endpoint": edited, "data": {"phone": PHONE}})).await;

    assert_eq!(response.json["problems"], json!([]), "{}", response.text);
    let request = &response.json["request"];
    assert_eq!(request["method"], json!("PUT"), "{}", response.text);
    assert_eq!(
        request["url"],
        json!(format!(
            "{}/other?to=%2B41791234567",
            app.provider.base_url()
        )),
        "{}",
        response.text
    );
    assert_eq!(
        request["body"],
        json!("Hi sample-user, your code is 123456"),
        "{}",
        response.text
    );
    assert_eq!(app.provider.count(), 0, "a preview sends nothing");
    assert_eq!(app.config_bytes(), config_before, "a preview saves nothing");
    assert!(app
        .body_sent_on_activation("alice")
        .await
        .contains("marker-original"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_masks_env_secrets() {
    let app = admin_app(
        AppOptions::standalone_single()
            .with_endpoints(json!({"single": endpoint_with_env_secret()})),
    )
    .await;

    let response = preview(
        &app,
        json!({"endpoint": "single", "data": {"phone": PHONE}}),
    )
    .await;

    assert_eq!(response.json["problems"], json!([]), "{}", response.text);
    assert!(
        !response.text.contains(SECRET),
        "the preview shows the secret: {}",
        response.text
    );
    let url = response.json["request"]["url"].as_str().unwrap_or("");
    assert!(
        url.contains("account=***"),
        "the secret is masked in the url: {}",
        response.text
    );
    assert_eq!(
        response.json["request"]["headers"]["x-account"],
        json!("***"),
        "{}",
        response.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_of_a_broken_template_answers_problems_and_no_request() {
    let app = admin_app(AppOptions::standalone_single()).await;
    let base = |body: &str| {
        json!({
            "url": format!("{}/sms?to={{{{ phone }}}}", app.provider.base_url()),
            "method": "POST",
            "body": body,
            "headers": {"content-type": "application/json"},
        })
    };
    let mut without_url = base(r#"{"to":"{{ phone }}"}"#);
    without_url.as_object_mut().unwrap().remove("url");
    let cases = [
        (
            base(r#"{"to":"{{ nope }}","text":"Code {{ code }}"}"#),
            "body",
        ),
        (
            base(r#"{"to":"{{#if phone}}","text":"Code {{ code }}"}"#),
            "body",
        ),
        (without_url, "url"),
    ];

    for (endpoint, field) in cases {
        let response = preview(
            &app,
            json!({"endpoint": endpoint, "data": {"phone": PHONE}}),
        )
        .await;

        assert_eq!(response.json["request"], Value::Null, "{}", response.text);
        let problems = response.json["problems"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(
            problems.iter().any(|p| p["path"]
                .as_str()
                .is_some_and(|path| path == field || path.ends_with(&format!(".{field}")))
                && p["message"].as_str().is_some_and(|m| !m.is_empty())),
            "a problem naming {field}: {}",
            response.text
        );
    }
    assert_eq!(app.provider.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_reaches_the_provider_and_answers_the_masked_request() {
    let app = admin_app(
        AppOptions::standalone_single()
            .with_endpoints(json!({"single": endpoint_with_env_secret()})),
    )
    .await;

    let response = app
        .admin(
            "POST",
            "/api/test-send",
            &admin_auth(),
            Some(&json!({"data": {"phone": PHONE}})),
        )
        .await;

    response.assert_status(200);
    assert_eq!(response.json["sent"], json!(true), "{}", response.text);
    assert_eq!(response.json["status"], json!(200), "{}", response.text);
    assert!(
        !response.text.contains(SECRET),
        "the answer shows the secret: {}",
        response.text
    );
    let url = response.json["request"]["url"].as_str().unwrap_or("");
    assert!(url.contains("account=***"), "{}", response.text);
    assert_eq!(app.provider.count(), 1, "one real send");
    let sent = app.provider.last();
    assert_eq!(sent.query_value("to").as_deref(), Some(PHONE));
    assert_eq!(sent.query_value("account").as_deref(), Some(SECRET));
    assert_eq!(sent.body_json()["to"], json!(PHONE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_challenge_verify_mode_test_send_goes_through_the_challenge_endpoint() {
    let app = admin_app(AppOptions::standalone_challenge_verify()).await;

    let response = app
        .admin(
            "POST",
            "/api/test-send",
            &admin_auth(),
            Some(&json!({"data": {"phone": PHONE}})),
        )
        .await;

    response.assert_status(200);
    assert_eq!(response.json["sent"], json!(true), "{}", response.text);
    assert_eq!(app.provider.requests_to("/challenge").len(), 1);
    assert_eq!(app.provider.count(), 1, "nothing but the challenge");
    assert_eq!(
        app.provider.last().body_json()["phone_number"],
        json!(PHONE)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_reports_a_provider_failure_as_messaging_server_error() {
    let app = admin_app(AppOptions::standalone_single()).await;
    app.provider
        .reply_on("/sms", Reply::json(500, json!({"error": "provider down"})));

    let response = app
        .admin(
            "POST",
            "/api/test-send",
            &admin_auth(),
            Some(&json!({"data": {"phone": PHONE}})),
        )
        .await;

    response.assert_error(400, "messaging-server-error");
    assert_eq!(app.provider.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_send_counts_on_the_per_destination_send_limit() {
    let app = admin_app(
        AppOptions::standalone_single().with_send_limits(json!({"per_destination_per_day": 2})),
    )
    .await;
    let phone = phone_for("alice");
    app.activate_default("alice").await.mfa_token();
    let data = json!({"data": {"phone": phone}});

    let second = app
        .admin("POST", "/api/test-send", &admin_auth(), Some(&data))
        .await;
    let third = app
        .admin("POST", "/api/test-send", &admin_auth(), Some(&data))
        .await;

    second.assert_status(200);
    third.assert_error(429, "too-many-attempts");
    assert_eq!(
        app.provider.count(),
        2,
        "the refused test send sent nothing"
    );
    app.activate_default("alice")
        .await
        .assert_error(429, "too-many-attempts");
    assert_eq!(app.provider.count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Attempts log

fn id_of(entry: &Value) -> String {
    match &entry["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("an attempt's id is a string or a number, got {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempts_log_lists_a_failed_verify_without_the_code_and_shows_it_by_id() {
    // Eight digits: a code cannot turn up by chance in a time or an id.
    let app = admin_app(AppOptions::standalone_single().with_code_length(8)).await;
    let activation_token = app.activate_default("alice").await.mfa_token();
    let enrolment_code = app.last_code();
    let recovery_codes = app
        .confirm("alice", &activation_token, &enrolment_code)
        .await
        .recovery_codes();
    let mfa_token = app.login("alice").await.mfa_token();
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    let wrong = other_code(&code);
    let refusal = app.verify("alice", &mfa_token, &wrong).await;
    let reason = refusal.assert_error(400, "invalid-code");

    let list = app
        .admin("GET", "/api/attempts?limit=10", &admin_auth(), None)
        .await;
    let one = app
        .admin("GET", "/api/attempts?limit=1", &admin_auth(), None)
        .await;

    list.assert_status(200);
    let attempts = list.json["attempts"]
        .as_array()
        .unwrap_or_else(|| panic!("attempts is a list: {}", list.text));
    assert!(
        attempts.len() >= 2,
        "activate, confirm, login, challenge, verify: {}",
        list.text
    );
    let newest = &attempts[0];
    assert_eq!(
        newest["username"],
        json!("alice"),
        "newest first: {}",
        list.text
    );
    assert!(
        newest["route"]
            .as_str()
            .is_some_and(|r| r.contains("verify")),
        "the newest is the verify: {}",
        list.text
    );
    assert_eq!(newest["outcome"], json!("invalid-code"), "{}", list.text);
    assert_eq!(newest["reason"], json!(reason), "{}", list.text);
    assert!(
        newest.get("time").is_some_and(|t| !t.is_null()),
        "{}",
        list.text
    );
    assert!(
        attempts.iter().any(|a| a["outcome"] == json!("ok")
            && a["route"].as_str().is_some_and(|r| r.contains("confirm"))),
        "the confirm is listed as ok: {}",
        list.text
    );
    one.assert_status(200);
    let only = one.json["attempts"].as_array().cloned().unwrap_or_default();
    assert_eq!(only.len(), 1, "limit=1: {}", one.text);
    assert_eq!(id_of(&only[0]), id_of(newest));

    let id = id_of(newest);
    let detail = app
        .admin("GET", &format!("/api/attempts/{id}"), &admin_auth(), None)
        .await;

    detail.assert_status(200);
    let d = &detail.json;
    assert_eq!(id_of(d), id, "{}", detail.text);
    assert_eq!(d["username"], json!("alice"), "{}", detail.text);
    assert_eq!(d["method"], json!("POST"), "{}", detail.text);
    assert!(
        d["route"].as_str().is_some_and(|r| r.contains("verify")),
        "{}",
        detail.text
    );
    assert_eq!(d["status"], json!(400), "{}", detail.text);
    assert_eq!(d["outcome"], json!("invalid-code"), "{}", detail.text);
    assert_eq!(d["reason"], json!(reason), "{}", detail.text);
    assert!(d["durationMs"].is_number(), "{}", detail.text);
    assert!(
        d.get("time").is_some_and(|t| !t.is_null()),
        "{}",
        detail.text
    );

    let mut never_shown = vec![
        enrolment_code.clone(),
        code.clone(),
        wrong.clone(),
        activation_token.clone(),
        mfa_token.clone(),
    ];
    never_shown.extend(recovery_codes);
    for text in [&list.text, &one.text, &detail.text] {
        for secret in &never_shown {
            assert!(
                !text.contains(secret.as_str()),
                "the attempts log shows a code or token ({secret}): {text}"
            );
        }
    }
    app.admin("GET", "/api/attempts/no-such-attempt", &admin_auth(), None)
        .await
        .assert_status(404);
}

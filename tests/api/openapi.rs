//! The OpenAPI description (`docs/openapi.yaml`, served at the admin listener's `/openapi.json`)
//! checked against the code: every route of both routers with its methods and nothing else,
//! the error ids the code answers with and the README lists, and live answers of the flows and
//! of each error validated against the described schemas.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::fakes::Reply;
use crate::helpers::{
    admin_auth, code_step_up, spawn_app, AppOptions, Auth, TestApp, TestResponse,
};
use crate::openapi_check::{
    assert_conforms, described_error_ids, described_routes, description, error_ids_in_source,
    readme_error_ids, routes_in_source, unsupported_keywords, validate,
};

#[test]
fn every_public_route_is_described_with_its_methods_and_nothing_else() {
    assert_eq!(
        described_routes(&description(), "public"),
        routes_in_source("src/http/mod.rs")
    );
}

#[test]
fn every_admin_route_is_described_with_its_methods_and_nothing_else() {
    assert_eq!(
        described_routes(&description(), "admin"),
        routes_in_source("src/admin/mod.rs")
    );
}

#[test]
fn the_public_error_ids_described_are_those_the_code_answers_with() {
    assert_eq!(
        described_error_ids(&description(), "Error"),
        error_ids_in_source("src/http/error.rs"),
        "docs/openapi.yaml and src/http/error.rs"
    );
}

#[test]
fn the_admin_error_ids_described_are_those_the_code_answers_with() {
    assert_eq!(
        described_error_ids(&description(), "AdminError"),
        error_ids_in_source("src/admin/error.rs")
    );
}

#[test]
fn the_readme_lists_the_described_error_ids() {
    assert_eq!(
        readme_error_ids(),
        described_error_ids(&description(), "Error"),
        "README's Errors table and docs/openapi.yaml"
    );
}

#[test]
fn the_description_uses_only_schema_keywords_the_check_understands() {
    let description = description();
    assert_eq!(description["openapi"], "3.1.0");
    assert_eq!(unsupported_keywords(&description), Vec::<String>::new());
}

#[test]
fn the_schema_check_refuses_what_the_description_does_not_allow() {
    let d = description();
    let schema = |name: &str| d["components"]["schemas"][name].clone();
    let refused = |name: &str, body: Value| {
        assert!(
            !validate(&d, &schema(name), &body, "body").is_empty(),
            "{name} accepted {body}"
        )
    };
    refused("MfaToken", json!({"mfaToken": 1}));
    refused("MfaToken", json!({"mfaToken": "t", "extra": true}));
    refused("MfaRequired", json!({"mfaToken": "t"}));
    refused("MfaRequired", json!({"mfaToken": "t", "methods": ["fax"]}));
    refused("Verified", json!({"verified": false, "username": "alice"}));
    refused(
        "ErrorBadRequest",
        json!({"error": {"id": "forbidden", "message": "m"}}),
    );
    refused("ActivateRequest", json!({"phone": "0791231212"}));
    assert!(validate(&d, &schema("Status"), &json!({"enabled": false}), "body").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_the_description_as_json() {
    let app = spawn_app(AppOptions::standalone_single().with_admin()).await;

    let response = app.admin("GET", "/openapi.json", &Auth::None, None).await;

    response.assert_status(200);
    assert_eq!(response.json, description());
    assert_conforms(&description(), "/openapi.json", "GET", &response);
}

/// The public API's answer to `POST template` for `username`, checked against the description.
async fn post(
    app: &TestApp,
    template: &str,
    username: &str,
    auth: &Auth,
    body: Value,
) -> TestResponse {
    let path = template.replace("{username}", username);
    let response = app.post(&path, auth, Some(&body)).await;
    assert_conforms(&description(), template, "POST", &response);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_of_a_standalone_enrolment_and_login_conform_to_the_description() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let key = app.personal();
    let d = description();

    let activation = post(
        &app,
        "/{username}/mfa/activate",
        "alice",
        &key,
        json!({"phone": "+41791231212"}),
    )
    .await;
    let mfa_token = activation.mfa_token();
    let code = app.last_code();
    let confirm = post(
        &app,
        "/{username}/mfa/confirm",
        "alice",
        &Auth::raw(&mfa_token),
        json!({"code": code}),
    )
    .await;
    let recovery_codes = confirm.recovery_codes();

    let login = post(&app, "/{username}/login", "alice", &key, json!({})).await;
    let session = login.mfa_token();
    post(
        &app,
        "/{username}/mfa/challenge",
        "alice",
        &Auth::raw(&session),
        json!({}),
    )
    .await
    .assert_status(200);
    let code = app.last_code();
    post(
        &app,
        "/{username}/mfa/verify",
        "alice",
        &Auth::raw(&session),
        json!({"code": code}),
    )
    .await
    .assert_status(200);

    let status = app.status("alice", &key).await;
    status.assert_status(200);
    assert_conforms(&d, "/{username}/mfa", "GET", &status);
    let renewed = post(
        &app,
        "/{username}/mfa/recovery-codes",
        "alice",
        &key,
        code_step_up(&recovery_codes[0]),
    )
    .await;
    let recovery_codes = renewed.recovery_codes();

    post(
        &app,
        "/{username}/mfa/deactivate",
        "alice",
        &key,
        code_step_up(&recovery_codes[0]),
    )
    .await
    .assert_status(200);
    post(&app, "/{username}/login", "alice", &key, json!({}))
        .await
        .assert_status(200);
    let status = app.status("alice", &key).await;
    assert_conforms(&d, "/{username}/mfa", "GET", &status);

    let recovery_codes = app.enroll("bob").await;
    post(
        &app,
        "/{username}/mfa/recover",
        "bob",
        &key,
        json!({"recoveryCode": recovery_codes[0]}),
    )
    .await
    .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_of_a_proxy_login_conform_to_the_description() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let d = description();

    let inactive = app.login("alice").await;
    inactive.assert_status(200);
    assert_conforms(&d, "/{username}/login", "POST", &inactive);
    let refused = app.login_with_password("alice", "not the password").await;
    assert_conforms(&d, "/{username}/login", "POST", &refused);

    app.enroll("alice").await;
    let login = app.login("alice").await;
    assert_conforms(&d, "/{username}/login", "POST", &login);
    let session = login.mfa_token();
    app.challenge("alice", &session).await.assert_status(200);
    let code = app.last_code();
    let grant = app.verify("alice", &session, &code).await;
    grant.assert_status(200);
    assert_conforms(&d, "/{username}/mfa/verify", "POST", &grant);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_of_the_public_api_conforms_to_the_description() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let key = app.personal();
    let mut seen = BTreeSet::new();
    let mut note = |r: &TestResponse| {
        seen.insert(
            r.json["error"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    };

    note(
        &post(
            &app,
            "/{username}/mfa/activate",
            "alice",
            &Auth::None,
            json!({"phone": "+41791231212"}),
        )
        .await,
    );
    note(
        &post(
            &app,
            "/{username}/mfa/activate",
            "-alice",
            &key,
            json!({"phone": "+41791231212"}),
        )
        .await,
    );
    note(&post(&app, "/{username}/mfa/activate", "alice", &key, json!([1])).await);

    let recovery_codes = app.enroll("alice").await;
    let session = app.mfa_login("alice").await;
    app.challenge("alice", &session).await.assert_status(200);
    note(
        &post(
            &app,
            "/{username}/mfa/verify",
            "alice",
            &Auth::raw(&session),
            json!({"code": "not a code"}),
        )
        .await,
    );
    note(&post(&app, "/{username}/mfa/deactivate", "alice", &key, json!({})).await);
    note(
        &post(
            &app,
            "/{username}/mfa/recover",
            "alice",
            &key,
            json!({"recoveryCode": "0000-0000-0000"}),
        )
        .await,
    );
    assert!(!recovery_codes.is_empty());

    app.provider
        .reply_on("/sms", Reply::json(500, json!({"message": "down"})));
    note(
        &post(
            &app,
            "/{username}/mfa/activate",
            "carol",
            &key,
            json!({"phone": "+41791231299"}),
        )
        .await,
    );

    let unknown = app.post("/alice/mfa/nothing-here", &key, None).await;
    assert_eq!(
        unknown.json["error"]["id"], "unknown-resource",
        "{}",
        unknown.text
    );
    let d = description();
    let not_found = &d["components"]["responses"]["Error404"]["content"]["application/json"];
    assert!(
        crate::openapi_check::validate(&d, &not_found["schema"], &unknown.json, "body").is_empty()
    );
    note(&unknown);

    for id in [
        "forbidden",
        "invalid-parameters-format",
        "invalid-request-structure",
        "invalid-code",
        "step-up-required",
        "messaging-server-error",
        "unknown-resource",
    ] {
        assert!(seen.contains(id), "{id} was not answered: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_limit_and_an_unreachable_upstream_conform_to_the_description() {
    let limited = spawn_app(AppOptions::standalone_single().with_send_limits(json!({
        "min_interval_seconds": 30, "per_user_per_hour": 100, "per_destination_per_day": 100,
    })))
    .await;
    let mfa_token = limited.activate_default("alice").await.mfa_token();
    let right_after = post(
        &limited,
        "/{username}/mfa/challenge",
        "alice",
        &Auth::raw(&mfa_token),
        json!({}),
    )
    .await;
    right_after.assert_error(429, "too-many-attempts");

    let proxy = spawn_app(AppOptions::proxy_single().with_timeout_ms(300)).await;
    proxy.upstream.reply_on("/alice/auth/login", Reply::Hang);
    let unavailable = proxy.login("alice").await;
    unavailable.assert_error(502, "upstream-unavailable");
    assert_conforms(&description(), "/{username}/login", "POST", &unavailable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answers_of_the_admin_api_conform_to_the_description() {
    let app = spawn_app(AppOptions::standalone_single().with_admin()).await;
    app.enroll("alice").await;
    let d = description();
    let admin = admin_auth();

    for path in ["/health", "/", "/panel.js", "/panel.css", "/favicon.ico"] {
        let response = app.admin("GET", path, &Auth::None, None).await;
        assert_conforms(&d, path, "GET", &response);
    }
    for path in [
        "/metrics",
        "/api/status",
        "/api/endpoints",
        "/api/templates",
        "/api/attempts",
    ] {
        assert_conforms(&d, path, "GET", &app.admin("GET", path, &admin, None).await);
        let refused = app.admin("GET", path, &Auth::None, None).await;
        refused.assert_status(401);
        assert_conforms(&d, path, "GET", &refused);
    }
    let attempts = app
        .admin("GET", "/api/attempts?limit=x", &admin, None)
        .await;
    assert_conforms(&d, "/api/attempts", "GET", &attempts);
    let attempts = app.admin("GET", "/api/attempts", &admin, None).await;
    let id = attempts.json["attempts"][0]["id"]
        .as_str()
        .expect("an attempt")
        .to_string();
    let one = app
        .admin("GET", &format!("/api/attempts/{id}"), &admin, None)
        .await;
    one.assert_status(200);
    assert_conforms(&d, "/api/attempts/{id}", "GET", &one);

    let endpoint = app
        .admin("GET", "/api/endpoints/single", &admin, None)
        .await;
    assert_conforms(&d, "/api/endpoints/{name}", "GET", &endpoint);
    let unknown = app.admin("GET", "/api/endpoints/fax", &admin, None).await;
    assert_conforms(&d, "/api/endpoints/{name}", "GET", &unknown);
    let invalid = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            &admin,
            Some(&json!({"url": "not a url"})),
        )
        .await;
    invalid.assert_error(400, "invalid-configuration");
    assert_conforms(&d, "/api/endpoints/{name}", "PATCH", &invalid);
    let written = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            &admin,
            Some(&json!({"method": "PUT"})),
        )
        .await;
    written.assert_status(200);
    assert_conforms(&d, "/api/endpoints/{name}", "PATCH", &written);

    let template = app
        .admin("GET", "/api/templates/messages/sms.en.hbs", &admin, None)
        .await;
    assert_conforms(&d, "/api/templates/{path}", "GET", &template);
    let preview = app
        .admin(
            "POST",
            "/api/preview",
            &admin,
            Some(&json!({"endpoint": "single", "data": {"phone": "+41791231212"}})),
        )
        .await;
    preview.assert_status(200);
    assert_conforms(&d, "/api/preview", "POST", &preview);
    let sent = app
        .admin(
            "POST",
            "/api/test-send",
            &admin,
            Some(&json!({"data": {"phone": "+41791231212"}})),
        )
        .await;
    assert_conforms(&d, "/api/test-send", "POST", &sent);
}

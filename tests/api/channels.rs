//! The admin API for every shape of `mfa.endpoints` and for `mfa.channels`: a preset shown as a
//! preset (name, base_url, vars as written, values in force with `${ENV}` secrets masked) with
//! each of its endpoints rendered, and changed (PUT, PATCH) as a reload would; every channel
//! listed, previewed and test-sent; a test send without a valid destination refused, naming
//! the field; `render --channel`.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::fakes::Reply;
use crate::helpers::{
    admin_auth, config_value, spawn_app_with_env, to_yaml, AppOptions, TestApp, TestResponse,
    PROVIDER,
};
use crate::openapi_check::{assert_conforms, description};

/// An environment variable the daemon substitutes into preset vars, and its (secret) value.
const SECRET_VAR: &str = "MFA_BRIDGE_TEST_CHANNELS_TOKEN";
const SECRET: &str = "tok-4c9e1a77d2b05f";
const SECRET_REF: &str = "${MFA_BRIDGE_TEST_CHANNELS_TOKEN}";

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
const PHONE: &str = "+41791234567";
const EMAIL: &str = "bob@example.com";

async fn admin_app(options: AppOptions) -> TestApp {
    spawn_app_with_env(options.with_admin(), &[(SECRET_VAR, SECRET)]).await
}

async fn get(app: &TestApp, path: &str) -> TestResponse {
    app.admin("GET", path, &admin_auth(), None).await
}

async fn send(app: &TestApp, method: &str, path: &str, body: Value) -> TestResponse {
    app.admin(method, path, &admin_auth(), Some(&body)).await
}

/// Twilio Verify (challenge-verify) as `mfa.endpoints`, sent to the fake provider.
fn twilio_verify() -> AppOptions {
    AppOptions::standalone_challenge_verify().with_endpoints(json!({
        "preset": "twilio-verify",
        "base_url": PROVIDER,
        "vars": {"account_sid": ACCOUNT_SID, "auth_token": SECRET_REF, "service_sid": SERVICE_SID},
    }))
}

/// Twilio Messaging (single) as `mfa.endpoints`, sent to the fake provider.
fn twilio_sms() -> AppOptions {
    AppOptions::standalone_single().with_endpoints(json!({
        "preset": "twilio-sms",
        "base_url": PROVIDER,
        "vars": {"account_sid": ACCOUNT_SID, "auth_token": SECRET_REF, "from": "+15017122661"},
    }))
}

/// The README's two channels: SMS written out (the default test endpoint), email by the
/// Postmark preset; phone and email both allowed, neither required.
fn two_channels() -> AppOptions {
    AppOptions::standalone_single()
        .with_user_data(
            json!({"required": [], "allowed": ["phone", "email", "language", "message"]}),
        )
        .with_mfa(
            "channels",
            json!({"email": {
                "preset": "postmark-email",
                "base_url": PROVIDER,
                "vars": {"server_token": SECRET_REF, "from": "no-reply@example.com"},
            }}),
        )
}

fn text_of(app: &TestApp) -> String {
    String::from_utf8_lossy(&app.config_bytes()).into_owned()
}

fn assert_no_secret(response: &TestResponse) {
    assert!(
        !response.text.contains(SECRET),
        "the answer shows the secret: {}",
        response.text
    );
}

// ---------------------------------------------------------------------------------------------
// A preset as mfa.endpoints: read

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_is_listed_as_a_preset_with_each_endpoint_rendered_and_its_secret_masked() {
    let app = admin_app(twilio_verify()).await;
    let d = description();

    let all = get(&app, "/api/endpoints").await;

    all.assert_status(200);
    assert_conforms(&d, "/api/endpoints", "GET", &all);
    assert_no_secret(&all);
    let preset = &all.json["preset"];
    assert_eq!(preset["name"], json!("twilio-verify"), "{}", all.text);
    assert_eq!(preset["base_url"], json!(app.provider.base_url()));
    assert_eq!(
        preset["vars"]["auth_token"],
        json!(SECRET_REF),
        "as written"
    );
    assert_eq!(preset["vars"]["service_sid"], json!(SERVICE_SID));
    assert_eq!(
        preset["values"]["auth_token"],
        json!("***"),
        "in force, masked"
    );
    assert!(
        all.json.get("endpoints").is_none(),
        "base_url, preset and vars are not endpoints: {}",
        all.text
    );
    let requests = all.json["requests"]
        .as_object()
        .expect("requests by endpoint");
    assert_eq!(
        requests.keys().collect::<Vec<_>>(),
        ["challenge", "verify"],
        "{}",
        all.text
    );
    let challenge_url = requests["challenge"]["request"]["url"].as_str().unwrap();
    assert_eq!(
        challenge_url,
        format!(
            "{}/v2/Services/{SERVICE_SID}/Verifications",
            app.provider.base_url()
        )
    );
    assert!(requests["verify"]["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/VerificationCheck"));
    assert_eq!(
        requests["challenge"]["request"]["headers"]["authorization"],
        json!("***")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_endpoint_of_a_preset_is_readable_and_one_its_mode_lacks_is_unknown() {
    let app = admin_app(twilio_verify()).await;
    let d = description();

    let challenge = get(&app, "/api/endpoints/challenge").await;
    let verify = get(&app, "/api/endpoints/verify").await;
    let single = get(&app, "/api/endpoints/single").await;

    challenge.assert_status(200);
    assert_conforms(&d, "/api/endpoints/{name}", "GET", &challenge);
    assert_no_secret(&challenge);
    assert_eq!(challenge.json["preset"], json!("twilio-verify"));
    assert_eq!(challenge.json["request"]["method"], json!("POST"));
    let body = challenge.json["request"]["body"].as_str().unwrap();
    assert!(body.contains("To=%2B41791231212"), "sample phone: {body}");
    verify.assert_status(200);
    assert!(verify.json["request"]["body"]
        .as_str()
        .unwrap()
        .contains("Code=123456"));
    single.assert_error(404, "unknown-resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_of_a_preset_is_not_changed_through_the_endpoints_routes() {
    let app = admin_app(twilio_verify()).await;
    let before = app.config_bytes();
    let endpoint = json!({"url": format!("{}/x", app.provider.base_url()), "method": "POST"});

    for (method, body) in [
        ("PUT", Some(endpoint.clone())),
        ("PATCH", Some(json!({"method": "GET"}))),
        ("DELETE", None),
    ] {
        let response = app
            .admin(
                method,
                "/api/endpoints/challenge",
                &admin_auth(),
                body.as_ref(),
            )
            .await;
        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(
            message.contains("preset twilio-verify")
                && message.contains("/api/channels/sms/preset"),
            "{method}: {message}"
        );
    }

    assert_eq!(app.config_bytes(), before, "platform.yml unchanged");
}

// ---------------------------------------------------------------------------------------------
// A preset: changed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_patch_changes_a_var_keeps_env_references_in_the_file_and_applies_at_once() {
    let app = admin_app(twilio_sms()).await;
    let messages = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    app.provider
        .reply_on(&messages, Reply::json(201, json!({"sid": "SM1"})));

    let response = send(
        &app,
        "PATCH",
        "/api/channels/sms/preset",
        json!({"vars": {"from": "+15005550006"}}),
    )
    .await;

    response.assert_status(200);
    assert_conforms(
        &description(),
        "/api/channels/{channel}/preset",
        "PATCH",
        &response,
    );
    assert_no_secret(&response);
    assert_eq!(
        response.json["preset"]["vars"]["from"],
        json!("+15005550006")
    );
    assert_eq!(
        response.json["preset"]["vars"]["auth_token"],
        json!(SECRET_REF)
    );
    let file = text_of(&app);
    assert!(file.contains(SECRET_REF), "the reference stays:\n{file}");
    assert!(
        !file.contains(SECRET),
        "the secret is never written:\n{file}"
    );
    assert!(file.contains("+15005550006"), "{file}");
    app.activate_default("alice").await.mfa_token();
    let sent = app.provider.last();
    assert_eq!(sent.path, messages);
    let from: Vec<_> = sent
        .form_pairs()
        .into_iter()
        .filter(|(k, _)| k == "From")
        .collect();
    assert_eq!(from, [("From".to_string(), "+15005550006".to_string())]);
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{SECRET}"));
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Basic {credentials}")),
        "the secret still reaches the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_write_the_reload_would_refuse_names_the_problem_and_changes_nothing() {
    let app = admin_app(twilio_sms()).await;
    let before = app.config_bytes();

    let unknown_var = send(
        &app,
        "PATCH",
        "/api/channels/sms/preset",
        json!({"vars": {"colour": "blue"}}),
    )
    .await;
    let unknown_preset = send(
        &app,
        "PUT",
        "/api/channels/sms/preset",
        json!({"name": "no-such-preset"}),
    )
    .await;
    let not_a_preset_body =
        send(&app, "PUT", "/api/channels/sms/preset", json!({"vars": {}})).await;

    for (response, path) in [
        (&unknown_var, "mfa.endpoints.vars.colour"),
        (&unknown_preset, "mfa.endpoints.preset"),
    ] {
        response.assert_error(400, "invalid-configuration");
        assert!(
            response.json["error"]["problems"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["path"] == json!(path)),
            "a problem at {path}: {}",
            response.text
        );
    }
    not_a_preset_body.assert_error(400, "invalid-parameters-format");
    assert_eq!(app.config_bytes(), before, "platform.yml unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_put_replaces_the_preset_and_the_endpoints_follow() {
    let app = admin_app(twilio_sms()).await;
    let base = app.provider.base_url();

    let response = send(
        &app,
        "PUT",
        "/api/channels/sms/preset",
        json!({
            "name": "plivo-sms",
            "base_url": base,
            "vars": {"auth_id": "MA0000000000000000AB", "auth_token": SECRET_REF, "src": "14155550100"},
        }),
    )
    .await;

    response.assert_status(200);
    assert_conforms(
        &description(),
        "/api/channels/{channel}/preset",
        "PUT",
        &response,
    );
    assert_eq!(response.json["preset"]["name"], json!("plivo-sms"));
    let read = get(&app, "/api/channels/sms/preset").await;
    read.assert_status(200);
    assert_conforms(
        &description(),
        "/api/channels/{channel}/preset",
        "GET",
        &read,
    );
    assert_eq!(read.json["preset"]["name"], json!("plivo-sms"));
    let url = read.json["requests"]["single"]["request"]["url"]
        .as_str()
        .unwrap();
    assert!(
        url.starts_with(&format!("{base}/v1/Account/MA0000000000000000AB/")),
        "{url}"
    );
    assert!(text_of(&app).contains("plivo-sms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn written_out_endpoints_have_no_preset_to_read_or_patch() {
    let app = admin_app(AppOptions::standalone_single()).await;
    let before = app.config_bytes();

    get(&app, "/api/channels/sms/preset")
        .await
        .assert_error(404, "unknown-resource");
    send(
        &app,
        "PATCH",
        "/api/channels/sms/preset",
        json!({"vars": {}}),
    )
    .await
    .assert_error(404, "unknown-resource");
    get(&app, "/api/channels/fax/preset")
        .await
        .assert_error(404, "unknown-resource");

    assert_eq!(app.config_bytes(), before);
}

// ---------------------------------------------------------------------------------------------
// Channels: listed, read, previewed

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_channel_is_listed_the_primary_one_first() {
    let app = admin_app(two_channels()).await;

    let response = get(&app, "/api/channels").await;

    response.assert_status(200);
    assert_conforms(&description(), "/api/channels", "GET", &response);
    assert_eq!(
        response.json["channels"],
        json!([
            {"channel": "sms", "primary": true, "path": "mfa.endpoints", "mode": "single",
             "preset": null, "endpoints": ["single"], "destination": ["phone"]},
            {"channel": "email", "primary": false, "path": "mfa.channels.email", "mode": "single",
             "preset": "postmark-email", "endpoints": ["single"], "destination": ["email"]},
        ]),
        "{}",
        response.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_channel_shows_its_preset_and_its_rendered_request() {
    let app = admin_app(two_channels()).await;

    let email = get(&app, "/api/channels/email").await;
    let sms = get(&app, "/api/channels/sms").await;

    email.assert_status(200);
    assert_conforms(&description(), "/api/channels/{channel}", "GET", &email);
    assert_no_secret(&email);
    assert_eq!(email.json["preset"]["name"], json!("postmark-email"));
    assert_eq!(
        email.json["preset"]["vars"]["server_token"],
        json!(SECRET_REF)
    );
    assert_eq!(
        email.json["preset"]["values"]["message_stream"],
        json!("outbound"),
        "a default in force"
    );
    let single = &email.json["requests"]["single"];
    assert_eq!(
        single["request"]["url"],
        json!(format!("{}/email", app.provider.base_url()))
    );
    let body: Value = serde_json::from_str(single["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["To"], json!("user@example.com"), "the sample address");
    assert!(single["message"]["subject"].is_string(), "{}", email.text);
    sms.assert_status(200);
    assert_eq!(sms.json["preset"], Value::Null);
    assert_eq!(sms.json["written"]["single"]["method"], json!("POST"));
    get(&app, "/api/channels/fax")
        .await
        .assert_error(404, "unknown-resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_that_is_not_configured_is_an_unknown_resource() {
    let app = admin_app(AppOptions::standalone_single()).await;

    let message = get(&app, "/api/channels/email")
        .await
        .assert_error(404, "unknown-resource");

    assert_eq!(
        message,
        "Channel 'email' is not configured (configured: sms)."
    );
    send(
        &app,
        "POST",
        "/api/preview",
        json!({"channel": "email", "endpoint": "single"}),
    )
    .await
    .assert_error(404, "unknown-resource");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_renders_the_endpoint_of_the_channel_asked() {
    let app = admin_app(two_channels()).await;

    let email = send(
        &app,
        "POST",
        "/api/preview",
        json!({"channel": "email", "endpoint": "single", "data": {"email": EMAIL}}),
    )
    .await;
    let edited = send(
        &app,
        "POST",
        "/api/preview",
        json!({"channel": "email", "endpoint": {"url": "https://x.example/y", "method": "POST"}}),
    )
    .await;

    email.assert_status(200);
    assert_conforms(&description(), "/api/preview", "POST", &email);
    assert_no_secret(&email);
    let body: Value =
        serde_json::from_str(email.json["request"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["To"], json!(EMAIL));
    assert_eq!(
        email.json["request"]["headers"]["x-postmark-server-token"],
        json!("***")
    );
    let message = edited.assert_error(400, "invalid-parameters-format");
    assert!(
        message.contains("mfa.channels.email names a preset"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_of_an_edited_endpoint_of_a_written_out_channel_renders_it() {
    let app = admin_app(
        AppOptions::standalone_single()
            .with_user_data(json!({"required": [], "allowed": ["phone", "email"]}))
            .with_mfa(
                "channels",
                json!({"email": {"single": {
                    "url": format!("{PROVIDER}/email"),
                    "method": "POST",
                    "headers": {"content-type": "text/plain"},
                    "body": "{{ email }}",
                }}}),
            ),
    )
    .await;

    let response = send(
        &app,
        "POST",
        "/api/preview",
        json!({
            "channel": "email",
            "endpoint": {"url": "https://mail.example/send?to={{ email }}", "method": "POST"},
            "data": {"email": EMAIL},
        }),
    )
    .await;

    response.assert_status(200);
    assert_eq!(
        response.json["request"]["url"],
        json!("https://mail.example/send?to=bob%40example.com"),
        "{}",
        response.text
    );
    assert_eq!(app.provider.count(), 0, "a preview sends nothing");
}

// ---------------------------------------------------------------------------------------------
// Test send: by channel, refused without a destination

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_send_by_the_second_channel_reaches_its_provider() {
    let app = admin_app(two_channels()).await;

    let response = send(
        &app,
        "POST",
        "/api/test-send",
        json!({"channel": "email", "data": {"email": EMAIL}}),
    )
    .await;

    response.assert_status(200);
    assert_conforms(&description(), "/api/test-send", "POST", &response);
    assert_no_secret(&response);
    assert_eq!(response.json["sent"], json!(true));
    assert_eq!(response.json["channel"], json!("email"));
    assert_eq!(app.provider.count(), 1);
    let sent = app.provider.last();
    assert_eq!(sent.path, "/email");
    assert_eq!(sent.body_json()["To"], json!(EMAIL));
    assert_eq!(
        sent.header("x-postmark-server-token").as_deref(),
        Some(SECRET)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_send_without_a_valid_destination_is_refused_naming_the_field_and_sends_nothing() {
    let app = admin_app(two_channels()).await;

    let cases = [
        (json!({"data": {}}), "data.phone: missing: a test send by sms needs an E.164 phone number to send to."),
        (json!({"data": {"phone": ""}}), "data.phone: missing: a test send by sms needs an E.164 phone number to send to."),
        (json!({"data": {"phone": "0791234567"}}), "data.phone: must be an E.164 phone number such as +41791231212 (a test send by sms goes to it)."),
        (json!({"channel": "email", "data": {"phone": PHONE}}), "data.email: missing: a test send by email needs an email address to send to."),
        (json!({"channel": "email", "data": {"email": "bob"}}), "data.email: must be an email address such as alice@example.com (a test send by email goes to it)."),
    ];
    for (body, expected) in cases {
        let response = send(&app, "POST", "/api/test-send", body.clone()).await;
        response.assert_error_message(400, "invalid-parameters-format", expected);
        assert_conforms(&description(), "/api/test-send", "POST", &response);
    }
    send(
        &app,
        "POST",
        "/api/test-send",
        json!({"channel": "fax", "data": {"phone": PHONE}}),
    )
    .await
    .assert_error(404, "unknown-resource");

    assert_eq!(app.provider.count(), 0, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_phone_field_a_test_send_needs_the_fields_the_endpoint_sends_to() {
    let app = admin_app(
        AppOptions::standalone_single()
            .with_user_data(json!({"required": [], "allowed": ["mobile"], "phone_fields": []}))
            .with_endpoints(json!({"single": {
                "url": format!("{PROVIDER}/sms"),
                "method": "POST",
                "body": "to={{ mobile }}&text={{ code }}",
            }})),
    )
    .await;

    send(&app, "POST", "/api/test-send", json!({"data": {}}))
        .await
        .assert_error_message(
            400,
            "invalid-parameters-format",
            "data.mobile: missing: the single endpoint sends to {{ mobile }}.",
        );
    assert_eq!(app.provider.count(), 0);
    send(
        &app,
        "POST",
        "/api/test-send",
        json!({"data": {"mobile": "0791234567"}}),
    )
    .await
    .assert_status(200);
    assert_eq!(app.provider.count(), 1);
}

// ---------------------------------------------------------------------------------------------
// render --channel

#[test]
fn render_renders_the_endpoint_of_the_channel_asked() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_value(&two_channels(), &dir.path().join("data"));
    let path = dir.path().join("platform.yml");
    std::fs::write(
        &path,
        to_yaml(&config, "http://127.0.0.1:9", "http://127.0.0.1:9"),
    )
    .unwrap();
    let render = |channel: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
            .env(SECRET_VAR, SECRET)
            .args(["render", "--config"])
            .arg(&path)
            .args(["--channel", channel, "--endpoint", "single", "--data"])
            .arg(format!(r#"{{"email": "{EMAIL}"}}"#))
            .output()
            .expect("run mfa-bridge render")
    };

    let email = render("email");
    let fax = render("fax");

    let stdout = String::from_utf8_lossy(&email.stdout);
    assert!(
        email.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&email.stderr)
    );
    let shown: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(shown["request"]["url"], json!("http://127.0.0.1:9/email"));
    assert!(shown["request"]["body"].as_str().unwrap().contains(EMAIL));
    assert!(!stdout.contains(SECRET), "{stdout}");
    assert!(!fax.status.success());
    assert_eq!(
        String::from_utf8_lossy(&fax.stderr).trim(),
        "Channel 'fax' is not configured (configured: sms, email)."
    );
}

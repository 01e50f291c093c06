//! The presets whose provider takes a delivery-receipt URL per message send
//! `{{ status_callback }}` in the provider's own field (`{server.public_url}/receipts/{preset}`)
//! and leave the field out when `server.public_url` is unset; every preset's `message_id` is a
//! path the configuration accepts. Checked on the request `mfa-bridge render` prints, which is
//! the request a send makes.

use serde_json::{json, Value};

use crate::helpers::{config_value, strip_ansi, to_yaml, AppOptions, PROVIDER, UPSTREAM};

const PUBLIC_URL: &str = "https://mfa.example.org";

/// Each preset with a per-message status callback, its vars, and where the URL goes: a form
/// field (`form`) or a top-level JSON key (`json`).
fn presets_with_callbacks() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let twilio = json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "t", "from": "+15017122661"});
    vec![
        ("twilio-sms", twilio.clone(), "form", "StatusCallback"),
        (
            "twilio-whatsapp",
            json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "t", "from": "+14155238886", "content_sid": "HX0123456789abcdef0123456789abcdef"}),
            "form",
            "StatusCallback",
        ),
        (
            "vonage-sms",
            json!({"api_key": "abcd1234", "api_secret": "s", "from": "Acme"}),
            "form",
            "callback",
        ),
        (
            "messagebird-sms",
            json!({"access_key": "k", "originator": "Acme"}),
            "json",
            "reportUrl",
        ),
        (
            "plivo-sms",
            json!({"auth_id": "MA1", "auth_token": "t", "src": "14155550100"}),
            "json",
            "url",
        ),
        (
            "sinch-sms",
            json!({"service_plan_id": "p1", "api_token": "t", "from": "+12025550100"}),
            "json",
            "callback_url",
        ),
        (
            "telnyx-sms",
            json!({"api_key": "k", "from": "+15551234567"}),
            "json",
            "webhook_url",
        ),
        (
            "46elks-sms",
            json!({"api_username": "u1", "api_password": "p", "from": "ElkCo"}),
            "form",
            "whendelivered",
        ),
    ]
}

/// `mfa-bridge render --endpoint single` of `preset` (with `server.public_url` when given): the
/// rendered request, or the output when it fails.
fn render_single(preset: &str, vars: &Value, public_url: Option<&str>) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    let options = AppOptions::standalone_single().with_endpoints(json!({
        "preset": preset,
        "base_url": PROVIDER,
        "vars": vars,
    }));
    let mut config = config_value(&options, &storage);
    if let Some(url) = public_url {
        config["server"]["public_url"] = json!(url);
    }
    let path = dir.path().join("platform.yml");
    std::fs::write(
        &path,
        to_yaml(&config, "https://provider.example", UPSTREAM),
    )
    .expect("write platform.yml");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
        .env("NO_COLOR", "1")
        .args(["render", "--endpoint", "single", "--data"])
        .arg(r#"{"phone": "+41791231212"}"#)
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run mfa-bridge render");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let rendered: Value = serde_json::from_str(&stdout).unwrap_or_else(|_| {
        panic!(
            "{preset}: render failed:\n{stdout}{}",
            strip_ansi(&String::from_utf8_lossy(&output.stderr))
        )
    });
    rendered["request"].clone()
}

/// The value of `field` in the rendered body (`form` or `json`), `None` when it is absent.
fn field_of(request: &Value, kind: &str, field: &str) -> Option<String> {
    let body = request["body"].as_str().unwrap_or_default();
    match kind {
        "form" => form_urlencoded::parse(body.as_bytes())
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.into_owned()),
        _ => serde_json::from_str::<Value>(body)
            .unwrap_or_else(|e| panic!("a JSON body: {e}: {body}"))
            .get(field)
            .map(|v| v.as_str().unwrap_or_default().to_string()),
    }
}

#[test]
fn presets_tell_the_provider_where_to_post_receipts_when_a_public_url_is_set() {
    for (preset, vars, kind, field) in presets_with_callbacks() {
        let request = render_single(preset, &vars, Some(PUBLIC_URL));
        assert_eq!(
            field_of(&request, kind, field),
            Some(format!("{PUBLIC_URL}/receipts/{preset}")),
            "{preset}: {field} in {request}"
        );
    }
}

#[test]
fn presets_send_no_empty_callback_field_without_a_public_url() {
    for (preset, vars, kind, field) in presets_with_callbacks() {
        let request = render_single(preset, &vars, None);
        assert_eq!(
            field_of(&request, kind, field),
            None,
            "{preset}: no {field} without server.public_url: {request}"
        );
        assert!(
            request["body"].as_str().is_some_and(|b| !b.is_empty()),
            "{preset}: the rest of the body is sent: {request}"
        );
    }
}

/// Every shipped preset's sending endpoint (single or challenge) names where its provider's
/// answer holds the message's id, except those whose answer has none in JSON.
#[test]
fn every_preset_whose_answer_has_an_id_reads_it() {
    let without: [&str; 4] = [
        "generic-json-webhook", // our own gateway: its answer is not specified
        "sendgrid-email",       // 202, no body (the id is a header)
        "mailersend-email",     // 202, no body (X-Message-Id header)
        "smsmode-sms",          // a text line, not JSON
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/providers");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("templates/providers/") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .expect("a file name")
            .to_string();
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&path).expect("read a preset"))
                .expect("YAML");
        let endpoints = &yaml["endpoints"];
        let sending = endpoints
            .get("single")
            .or_else(|| endpoints.get("challenge"))
            .unwrap_or_else(|| panic!("{name}: no single or challenge endpoint"));
        let message_id = sending
            .get("message_id")
            .and_then(serde_yaml::Value::as_str);
        if without.contains(&name.as_str()) {
            assert!(message_id.is_none(), "{name}: listed as having no id");
        } else {
            assert!(
                message_id.is_some_and(|p| !p.is_empty()),
                "{name}: its answer has an id: give message_id"
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} presets read an id");
}

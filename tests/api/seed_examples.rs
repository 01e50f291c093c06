//! The two working examples of the Pryv.io MFA documentation (seed 004), written as they are
//! there, with only the provider's host pointed at the fake.

use serde_json::{json, Value};

use crate::fakes::Reply;
use crate::helpers::{spawn_app, AppOptions, PROVIDER};

const SMSMODE_SINGLE: &str = r#"
single:
  url: 'https://api.smsmode.com/http/1.6/sendSMS.do?accessToken=your-api-key&message={{ message }}&emetteur=Pryv%20Lab&numero={{ number }}'
  method: 'GET'
"#;

const SMSAPI_CHALLENGE_VERIFY: &str = r#"
challenge:
  url: 'https://api.smsapi.com/mfa/codes'
  method: 'POST'
  body: '{"phone_number":"{{ number }}"}'
  headers:
    authorization: 'Bearer: your-api-key'
    'content-type': 'application/json'
verify:
  url: 'https://api.smsapi.com/mfa/codes/verifications'
  method: 'POST'
  body: '{"phone_number":"{{ number }}","code":"{{ code }}"}'
  headers:
    authorization: 'Bearer: your-api-key'
    'content-type': 'application/json'
"#;

fn seed_endpoints(yaml: &str, host: &str) -> Value {
    serde_yaml::from_str(&yaml.replace(host, PROVIDER)).expect("the seed's YAML parses")
}

fn seed_user_data(allowed: &[&str]) -> Value {
    json!({
        "required": ["number"],
        "allowed": allowed,
        "phone_fields": [],
        "max_length": 256,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_smsmode_single_template_sends_the_message_with_the_code_as_written() {
    let app = spawn_app(
        AppOptions::proxy_single()
            .with_endpoints(seed_endpoints(SMSMODE_SINGLE, "https://api.smsmode.com"))
            .with_user_data(seed_user_data(&["number", "message"])),
    )
    .await;

    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"number": "41791231212", "message": "Your Pryv Lab MFA code is: {{ code }}"}),
        )
        .await;

    let mfa_token = response.mfa_token();
    let sms = app.provider.last();
    assert_eq!(sms.method, "GET");
    assert_eq!(sms.path, "/http/1.6/sendSMS.do");
    assert!(
        sms.body.is_empty(),
        "a GET without body template has no body"
    );
    let pairs = sms.query_pairs();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["accessToken", "message", "emetteur", "numero"],
        "query was {:?}",
        sms.query
    );
    assert_eq!(pairs[0].1, "your-api-key");
    assert_eq!(
        pairs[2].1, "Pryv Lab",
        "the template's own %20 must not be encoded again; query was {:?}",
        sms.query
    );
    assert_eq!(pairs[3].1, "41791231212");
    let code = pairs[1]
        .1
        .strip_prefix("Your Pryv Lab MFA code is: ")
        .unwrap_or_else(|| panic!("message was {:?}", pairs[1].1))
        .to_string();
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "the message must carry the code, got {code:?}"
    );

    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let message = app
        .provider
        .last()
        .query_value("message")
        .unwrap_or_default();
    let code = message.trim_start_matches("Your Pryv Lab MFA code is: ");
    app.verify("alice", &mfa_token, code)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_smsapi_challenge_verify_pair_loads_and_sends_as_written() {
    let app = spawn_app(
        AppOptions::proxy_challenge_verify()
            .with_endpoints(seed_endpoints(
                SMSAPI_CHALLENGE_VERIFY,
                "https://api.smsapi.com",
            ))
            .with_user_data(seed_user_data(&["number"])),
    )
    .await;
    // SMSAPI: 201 on a new code; 204 when a verification succeeds, 404 when the code is wrong.
    app.provider.reply_on(
        "/mfa/codes",
        Reply::json(201, json!({"id": "5f7b", "phone_number": "41791231212"})),
    );
    app.provider
        .respond_on("/mfa/codes/verifications", |request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            if body["code"] == json!("123456") {
                Reply::Empty(204)
            } else {
                Reply::json(404, json!({"message": "Not found", "error": "not_found"}))
            }
        });

    let mfa_token = app
        .activate("alice", &app.personal(), &json!({"number": "41791231212"}))
        .await
        .mfa_token();

    let challenge = app.provider.last();
    assert_eq!(challenge.method, "POST");
    assert_eq!(challenge.path, "/mfa/codes");
    assert_eq!(challenge.body_text(), r#"{"phone_number":"41791231212"}"#);
    assert_eq!(
        challenge.header("authorization").as_deref(),
        Some("Bearer: your-api-key")
    );
    assert_eq!(
        challenge.header("content-type").as_deref(),
        Some("application/json")
    );

    let wrong = app.confirm("alice", &mfa_token, "654321").await;
    wrong.assert_error(400, "invalid-code");
    app.confirm("alice", &mfa_token, "123456")
        .await
        .recovery_codes();
    let verification = app.provider.last();
    assert_eq!(verification.method, "POST");
    assert_eq!(verification.path, "/mfa/codes/verifications");
    assert_eq!(
        verification.body_text(),
        r#"{"phone_number":"41791231212","code":"123456"}"#
    );
    assert_eq!(
        verification.header("authorization").as_deref(),
        Some("Bearer: your-api-key")
    );
}

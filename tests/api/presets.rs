//! The shipped provider presets (`templates/providers/`), each run by a real daemon in process
//! with its `base_url` pointed at a fake provider that answers as the provider does.
//!
//! The expected request of each provider is written here from the provider's API reference
//! (cited above each test), not copied from the preset file: a preset that drifts from the
//! documented shape fails. Also: vars refused at load, `base_url` keeping a path prefix, and the
//! README's table of presets checked against the files.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use regex::Regex;
use serde_json::{json, Value};

use crate::fakes::{Recorded, Reply};
use crate::helpers::{code_in, config_value, phone_for, spawn_app, AppOptions, TestApp, PROVIDER};

/// `mfa.endpoints` naming a preset, sent to the fake provider (`base_url`: [`PROVIDER`]).
fn preset(name: &str, vars: Value) -> Value {
    json!({"preset": name, "base_url": PROVIDER, "vars": vars})
}

/// User data for the email presets: an `email` field, no phone.
fn email_user_data() -> Value {
    json!({
        "required": ["email"],
        "allowed": ["email", "language"],
        "phone_fields": [],
        "max_length": 256,
    })
}

/// `Basic base64(user:password)` (RFC 7617).
fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The E.164 number without its `+`.
fn digits(phone: &str) -> String {
    phone.trim_start_matches('+').to_string()
}

fn header(request: &Recorded, name: &str) -> String {
    request
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header in {} {}", request.method, request.uri))
}

fn assert_json_content_type(request: &Recorded) {
    let content_type = header(request, "content-type");
    assert!(
        content_type.starts_with("application/json"),
        "content-type was {content_type:?}"
    );
}

/// A JSON string field of `value`, with a message naming it.
fn string_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value}"))
}

/// Activates `username` with a phone (language `en`): asserts the 302 and one provider
/// request; returns the mfaToken and that request.
async fn activate_phone(app: &TestApp, username: &str) -> (String, Recorded) {
    app.activate_recorded(
        username,
        &json!({"phone": phone_for(username), "language": "en"}),
    )
    .await
}

/// Activates `username` with an email address (language `en`); as [`activate_phone`].
async fn activate_email(app: &TestApp, username: &str, email: &str) -> (String, Recorded) {
    app.activate_recorded(username, &json!({"email": email, "language": "en"}))
        .await
}

/// Confirms with the code the message carried: the activation completes (recovery codes).
async fn confirm_with_code_of(app: &TestApp, username: &str, token: &str, text: &str) {
    let code = code_in(text);
    app.confirm(username, token, &code).await.recovery_codes();
}

/// The email's subject, text and HTML, as a provider received them: the subject is a line of
/// text, the text and the HTML carry the same code.
fn assert_email_parts(subject: &str, text: &str, html: &str) -> String {
    assert!(
        !subject.trim().is_empty() && !subject.contains('\n') && !subject.contains("{{"),
        "a subject is one line of rendered text, got {subject:?}"
    );
    assert!(
        !subject.starts_with("Subject:"),
        "the subject is the text after `Subject:`, got {subject:?}"
    );
    let code = code_in(text);
    assert!(
        html.contains(&code),
        "the HTML body must carry the code {code}: {html:?}"
    );
    assert_ne!(text, html, "the text and HTML bodies are both sent");
    code
}

// -----------------------------------------------------------------------------------------
// SMS, single mode

/// MessageBird, https://developers.messagebird.com/api/sms-messaging/#send-outbound-sms:
/// `POST /messages`, `Authorization: AccessKey {key}`, `Accept: application/json`, a JSON body
/// with `recipients` (MSISDNs), `originator` and `body`; 201 Created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagebird_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "messagebird-sms",
        json!({"access_key": "test_gshuPaZoeEG6ovbc8M79w0QyM", "originator": "ExampleApp"}),
    )))
    .await;
    app.provider.reply_on(
        "/messages",
        Reply::json(
            201,
            json!({"id": "49e40bae0b374f1ca5e3d04d46edc7c1", "direction": "mt", "type": "sms"}),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/messages");
    assert_eq!(
        header(&sms, "authorization"),
        "AccessKey test_gshuPaZoeEG6ovbc8M79w0QyM"
    );
    assert!(header(&sms, "accept").contains("application/json"));
    assert_json_content_type(&sms);
    let body = sms.body_json();
    let recipients = body["recipients"]
        .as_array()
        .unwrap_or_else(|| panic!("recipients is an array: {body}"));
    assert_eq!(recipients.len(), 1, "{body}");
    // An MSISDN: the number in international format, without the +.
    let recipient = match &recipients[0] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("a recipient is an MSISDN, got {other}"),
    };
    assert_eq!(recipient, digits(&phone_for("alice")));
    assert_eq!(body["originator"], json!("ExampleApp"));
    let text = string_at(&body, "/body");
    confirm_with_code_of(&app, "alice", &token, text).await;
}

/// Plivo, https://www.plivo.com/docs/sms/api/message/send-a-message/:
/// `POST /v1/Account/{auth_id}/Message/`, HTTP Basic auth_id:auth_token, a JSON body with
/// `src`, `dst` (country code first, no +) and `text`; 202 Accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plivo_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "plivo-sms",
        json!({
            "auth_id": "MAXXXXXXXXXXXXXXXXXX",
            "auth_token": "plivo-token-5e1",
            "src": "14155550100",
        }),
    )))
    .await;
    app.provider.reply_on(
        "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/",
        Reply::json(
            202,
            json!({
                "message": "message(s) queued",
                "message_uuid": ["db3ce55a-7f1d-11e1-8ea7-1231380bc196"],
                "api_id": "db342550-7f1d-11e1-8ea7-1231380bc196",
            }),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/v1/Account/MAXXXXXXXXXXXXXXXXXX/Message/");
    assert_eq!(
        header(&sms, "authorization"),
        basic("MAXXXXXXXXXXXXXXXXXX", "plivo-token-5e1")
    );
    assert_json_content_type(&sms);
    let body = sms.body_json();
    assert_eq!(body["src"], json!("14155550100"));
    assert_eq!(body["dst"], json!(digits(&phone_for("alice"))));
    let text = string_at(&body, "/text");
    confirm_with_code_of(&app, "alice", &token, text).await;
}

/// Sinch, https://developers.sinch.com/docs/sms/api-reference/sms/tag/Batches/:
/// `POST /xms/v1/{service_plan_id}/batches`, `Authorization: Bearer {token}`, a JSON body with
/// `from`, `to` (an array of E.164 numbers) and `body`; 201 Created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinch_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "sinch-sms",
        json!({
            "service_plan_id": "jd63jf88477ll123ab4567cd89012ef3",
            "api_token": "sinch-token-77a",
            "from": "+12025550100",
        }),
    )))
    .await;
    app.provider.reply_on(
        "/xms/v1/jd63jf88477ll123ab4567cd89012ef3/batches",
        Reply::json(
            201,
            json!({"id": "01FC66621XXXXX119Z8PMV1QPQ", "type": "mt_text", "canceled": false}),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/xms/v1/jd63jf88477ll123ab4567cd89012ef3/batches");
    assert_eq!(header(&sms, "authorization"), "Bearer sinch-token-77a");
    assert_json_content_type(&sms);
    let body = sms.body_json();
    assert_eq!(body["from"], json!("+12025550100"));
    assert_eq!(body["to"], json!([phone_for("alice")]));
    let text = string_at(&body, "/body");
    confirm_with_code_of(&app, "alice", &token, text).await;
}

/// smsmode HTTP API 1.6, https://www.smsmode.com/documentation-api-http/ (and Pryv's example):
/// `GET /http/1.6/sendSMS.do` with `accessToken`, `message`, `numero` (digits) and `emetteur`
/// in the query, no body; HTTP 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsmode_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "smsmode-sms",
        json!({"access_token": "smsmode-token-19c", "emetteur": "Pryv Lab"}),
    )))
    .await;
    app.provider
        .reply_on("/http/1.6/sendSMS.do", Reply::Empty(200));

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "GET");
    assert_eq!(sms.path, "/http/1.6/sendSMS.do");
    assert!(sms.body.is_empty(), "a GET carries no body");
    assert_eq!(
        sms.query_value("accessToken").as_deref(),
        Some("smsmode-token-19c")
    );
    assert_eq!(sms.query_value("emetteur").as_deref(), Some("Pryv Lab"));
    assert_eq!(
        sms.query_value("numero"),
        Some(digits(&phone_for("alice"))),
        "numero: digits, no +; query was {:?}",
        sms.query
    );
    let text = sms
        .query_value("message")
        .unwrap_or_else(|| panic!("no message in the query {:?}", sms.query));
    confirm_with_code_of(&app, "alice", &token, &text).await;
}

/// The generic JSON webhook (its contract is in its own file): `POST {base_url}/send`,
/// `Authorization: Bearer {bearer_token}`, JSON `{"to": E.164, "message", "username"}`; any 2xx.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_json_webhook_posts_to_message_and_username() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "generic-json-webhook",
        json!({"bearer_token": "gateway-secret-3d"}),
    )))
    .await;
    app.provider
        .reply_on("/send", Reply::json(200, json!({"queued": true})));

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/send");
    assert_eq!(header(&sms, "authorization"), "Bearer gateway-secret-3d");
    assert_json_content_type(&sms);
    let body = sms.body_json();
    assert_eq!(body["to"], json!(phone_for("alice")));
    assert_eq!(body["username"], json!("alice"));
    let text = string_at(&body, "/message");
    confirm_with_code_of(&app, "alice", &token, text).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generic_json_webhook_needs_no_token() {
    let app = spawn_app(
        AppOptions::standalone_single().with_endpoints(preset("generic-json-webhook", json!({}))),
    )
    .await;

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.path, "/send");
    assert_eq!(
        sms.header("authorization").as_deref().map(str::trim),
        Some("Bearer"),
        "without bearer_token the credential is empty"
    );
    let body = sms.body_json();
    confirm_with_code_of(&app, "alice", &token, string_at(&body, "/message")).await;
}

/// Telnyx, https://developers.telnyx.com/docs/messaging/messages/send-message:
/// `POST /v2/messages`, `Authorization: Bearer {key}`, JSON `from`, `to` (E.164), `text`;
/// the message under `data`. Without server.public_url no `webhook_url` is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telnyx_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "telnyx-sms",
        json!({"api_key": "KEYtelnyx-3f1", "from": "+15551234567"}),
    )))
    .await;
    app.provider.reply_on(
        "/v2/messages",
        Reply::json(
            200,
            json!({"data": {"record_type": "message", "id": "40385f64-5717-4562-b3fc-2c963f66afa6"}}),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/v2/messages");
    assert_eq!(header(&sms, "authorization"), "Bearer KEYtelnyx-3f1");
    assert_json_content_type(&sms);
    let body = sms.body_json();
    assert_eq!(body["from"], json!("+15551234567"));
    assert_eq!(body["to"], json!(phone_for("alice")));
    assert!(
        body.get("webhook_url").is_none(),
        "no public url, no webhook_url: {body}"
    );
    confirm_with_code_of(&app, "alice", &token, string_at(&body, "/text")).await;
}

/// Infobip SMS API v3, https://www.infobip.com/docs/developer-resources/quickstart:
/// `POST {your base URL}/sms/3/messages`, `Authorization: App {key}`, JSON `messages[0]` with
/// `sender`, `destinations[0].to` (international format) and `content.text`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infobip_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "infobip-sms",
        json!({"api_key": "infobip-key-8d2", "sender": "InfoSMS"}),
    )))
    .await;
    app.provider.reply_on(
        "/sms/3/messages",
        Reply::json(
            200,
            json!({"bulkId": "b-1", "messages": [{"messageId": "m-1", "status": {"groupName": "PENDING"}}]}),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/sms/3/messages");
    assert_eq!(header(&sms, "authorization"), "App infobip-key-8d2");
    assert!(header(&sms, "accept").contains("application/json"));
    assert_json_content_type(&sms);
    let body = sms.body_json();
    let messages = body["messages"].as_array().expect("messages is an array");
    assert_eq!(messages.len(), 1, "{body}");
    assert_eq!(body["messages"][0]["sender"], json!("InfoSMS"));
    assert_eq!(
        body["messages"][0]["destinations"],
        json!([{"to": digits(&phone_for("alice"))}])
    );
    let text = string_at(&body, "/messages/0/content/text");
    confirm_with_code_of(&app, "alice", &token, text).await;
}

#[test]
fn infobip_sms_without_base_url_is_refused_naming_it() {
    let (status, text) = check_with_endpoints(json!({
        "preset": "infobip-sms",
        "vars": {"api_key": "k", "sender": "InfoSMS"},
    }));

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines().any(|l| l.contains("mfa.endpoints.base_url")),
        "each account has its own base URL: output:\n{text}"
    );
}

/// ClickSend, https://developers.clicksend.com/docs/messaging/sms: `POST /v3/sms/send`, HTTP
/// Basic username:api_key, JSON `messages[0]` with `source`, `from`, `to` (E.164), `body`; 200
/// with `response_code` SUCCESS and each message's own `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicksend_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "clicksend-sms",
        json!({"api_username": "acme", "api_key": "clicksend-key-1a", "from": "Acme"}),
    )))
    .await;
    app.provider.respond_on("/v3/sms/send", |request| {
        // A message ClickSend refuses comes back inside a 200 with its own status.
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let status = if body["messages"][0]["to"] == json!("+15005550009") {
            "INVALID_RECIPIENT"
        } else {
            "SUCCESS"
        };
        Reply::json(
            200,
            json!({
                "http_code": 200,
                "response_code": "SUCCESS",
                "response_msg": "Messages queued for delivery.",
                "data": {"messages": [{"message_id": "BF7AD270-0DE2", "status": status}]},
            }),
        )
    });

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/v3/sms/send");
    assert_eq!(
        header(&sms, "authorization"),
        basic("acme", "clicksend-key-1a")
    );
    assert_json_content_type(&sms);
    let body = sms.body_json();
    assert_eq!(body["messages"][0]["from"], json!("Acme"));
    assert_eq!(body["messages"][0]["to"], json!(phone_for("alice")));
    assert_eq!(body["messages"][0]["source"], json!("mfa-bridge"));
    confirm_with_code_of(&app, "alice", &token, string_at(&body, "/messages/0/body")).await;

    app.activate("bob", &app.personal(), &json!({"phone": "+15005550009"}))
        .await
        .assert_error(400, "messaging-server-error");
}

/// 46elks, https://46elks.se/docs: `POST /a1/sms`, HTTP Basic, a form with `from`, `to`
/// (E.164) and `message`; without server.public_url no `whendelivered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fortysix_elks_sms_sends_the_documented_request() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(preset(
        "46elks-sms",
        json!({"api_username": "u2c11ef65b429a8e1", "api_password": "elks-pass-0c", "from": "ElkCo"}),
    )))
    .await;
    app.provider.reply_on(
        "/a1/sms",
        Reply::json(
            200,
            json!({"status": "created", "id": "s17a6dafb12d6b1cabc053d57dac2b9d8"}),
        ),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(sms.method, "POST");
    assert_eq!(sms.path, "/a1/sms");
    assert_eq!(
        header(&sms, "authorization"),
        basic("u2c11ef65b429a8e1", "elks-pass-0c")
    );
    assert!(header(&sms, "content-type").starts_with("application/x-www-form-urlencoded"));
    let form: BTreeMap<String, String> = sms.form_pairs().into_iter().collect();
    assert_eq!(form.get("from").map(String::as_str), Some("ElkCo"));
    assert_eq!(form.get("to"), Some(&phone_for("alice")));
    assert!(!form.contains_key("whendelivered"), "{form:?}");
    let text = form.get("message").expect("a message field").clone();
    confirm_with_code_of(&app, "alice", &token, &text).await;
}

// -----------------------------------------------------------------------------------------
// SMS, challenge-verify mode

/// SMSAPI SMS Authenticator, https://www.smsapi.com/docs/#15-sms-authenticator (statuses as
/// SMSAPI's official clients handle them): `POST /mfa/codes` with JSON `{"phone_number"}`
/// (digits) answers 201; `POST /mfa/codes/verifications` with JSON `{"phone_number", "code"}`
/// answers 204 to a right code, 404 to a wrong one, 408 to an expired one; `Authorization:
/// Bearer {token}` on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smsapi_mfa_challenges_and_verifies_as_documented() {
    let app = spawn_app(
        AppOptions::standalone_challenge_verify().with_endpoints(preset(
            "smsapi-mfa",
            json!({"api_token": "smsapi-token-0b2"}),
        )),
    )
    .await;
    let number = digits(&phone_for("alice"));
    app.provider.reply_on(
        "/mfa/codes",
        Reply::json(
            201,
            json!({"id": "5f7b1a2c", "code": "123456", "phone_number": number, "from": null}),
        ),
    );
    app.provider
        .respond_on("/mfa/codes/verifications", |request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            match body["code"].as_str() {
                Some("123456") => Reply::Empty(204),
                Some("999999") => Reply::json(
                    408,
                    json!({"error": "mfa_code_expired", "message": "Code expired"}),
                ),
                _ => Reply::json(404, json!({"error": "not_found", "message": "Not found"})),
            }
        });

    let (token, challenge) = activate_phone(&app, "alice").await;

    assert_eq!(challenge.method, "POST");
    assert_eq!(challenge.path, "/mfa/codes");
    assert_eq!(
        header(&challenge, "authorization"),
        "Bearer smsapi-token-0b2"
    );
    assert_json_content_type(&challenge);
    assert_eq!(
        challenge.body_json()["phone_number"],
        json!(number),
        "phone_number: digits with the country code, no +"
    );

    app.confirm("alice", &token, "654321")
        .await
        .assert_error(400, "invalid-code");
    app.confirm("alice", &token, "999999")
        .await
        .assert_error(400, "invalid-code");
    app.confirm("alice", &token, "123456")
        .await
        .recovery_codes();

    let verification = app.provider.last();
    assert_eq!(verification.method, "POST");
    assert_eq!(verification.path, "/mfa/codes/verifications");
    assert_eq!(
        header(&verification, "authorization"),
        "Bearer smsapi-token-0b2"
    );
    assert_json_content_type(&verification);
    let body = verification.body_json();
    assert_eq!(body["phone_number"], json!(number));
    assert_eq!(body["code"], json!("123456"));
    assert_eq!(
        app.provider.requests_to("/mfa/codes/verifications").len(),
        3
    );

    // A login afterwards runs the same pair.
    let token = app.mfa_login("alice").await;
    app.challenge("alice", &token).await.assert_status(200);
    assert_eq!(app.provider.requests_to("/mfa/codes").len(), 2);
    app.verify("alice", &token, "123456")
        .await
        .assert_status(200);
}

// -----------------------------------------------------------------------------------------
// Email

/// SendGrid v3 Mail Send,
/// https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send: `POST /v3/mail/send`,
/// `Authorization: Bearer {api key}`, JSON with `personalizations[].to[].email`, `from.email`
/// (and `name`), `subject`, `content` with text/plain first and text/html second; 202 Accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sendgrid_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "sendgrid-email",
                json!({
                    "api_key": "SG.test-key.9f3",
                    "from": "no-reply@example.com",
                    "from_name": "Example App",
                }),
            )),
    )
    .await;
    app.provider.reply_on("/v3/mail/send", Reply::Empty(202));

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/v3/mail/send");
    assert_eq!(header(&mail, "authorization"), "Bearer SG.test-key.9f3");
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(
        body["personalizations"],
        json!([{"to": [{"email": "alice@example.com"}]}])
    );
    assert_eq!(body["from"]["email"], json!("no-reply@example.com"));
    assert_eq!(body["from"]["name"], json!("Example App"));
    assert_eq!(body["content"][0]["type"], json!("text/plain"));
    assert_eq!(body["content"][1]["type"], json!("text/html"));
    let code = assert_email_parts(
        string_at(&body, "/subject"),
        string_at(&body, "/content/0/value"),
        string_at(&body, "/content/1/value"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

/// Mailgun, https://documentation.mailgun.com/docs/mailgun/api-reference/openapi-final/tag/Messages/:
/// `POST /v3/{domain_name}/messages`, HTTP Basic `api:{key}`, form fields `from`, `to`,
/// `subject`, `text`, `html`; 200. (The reference lists multipart/form-data; Mailgun takes the
/// same fields url-encoded, which is what templates render.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailgun_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "mailgun-email",
                json!({
                    "domain": "mg.example.com",
                    "api_key": "mailgun-key-4c8",
                    "from": "Example App <no-reply@mg.example.com>",
                }),
            )),
    )
    .await;
    app.provider.reply_on(
        "/v3/mg.example.com/messages",
        Reply::json(
            200,
            json!({"id": "<20240203123456.1@mg.example.com>", "message": "Queued. Thank you."}),
        ),
    );

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/v3/mg.example.com/messages");
    assert_eq!(
        header(&mail, "authorization"),
        basic("api", "mailgun-key-4c8")
    );
    assert!(
        header(&mail, "content-type").starts_with("application/x-www-form-urlencoded"),
        "content-type was {:?}",
        mail.header("content-type")
    );
    let form: BTreeMap<String, String> = mail.form_pairs().into_iter().collect();
    assert_eq!(
        form.get("from").map(String::as_str),
        Some("Example App <no-reply@mg.example.com>")
    );
    assert_eq!(
        form.get("to").map(String::as_str),
        Some("alice@example.com")
    );
    let field = |name: &str| {
        form.get(name)
            .unwrap_or_else(|| panic!("no {name} field in {form:?}"))
            .as_str()
    };
    let code = assert_email_parts(field("subject"), field("text"), field("html"));
    app.confirm("alice", &token, &code).await.recovery_codes();
}

/// Postmark, https://postmarkapp.com/developer/api/email-api#send-a-single-email:
/// `POST /email`, `X-Postmark-Server-Token: {token}`, `Accept` and `Content-Type`
/// application/json, JSON `From`, `To`, `Subject`, `TextBody`, `HtmlBody`, `MessageStream`
/// (`outbound`, the transactional stream, when not given); 200 with `ErrorCode` 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postmark_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "postmark-email",
                json!({"server_token": "postmark-token-e21", "from": "no-reply@example.com"}),
            )),
    )
    .await;
    app.provider.reply_on(
        "/email",
        Reply::json(
            200,
            json!({
                "To": "alice@example.com",
                "SubmittedAt": "2024-01-01T00:00:00Z",
                "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
                "ErrorCode": 0,
                "Message": "OK",
            }),
        ),
    );

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/email");
    assert_eq!(
        header(&mail, "x-postmark-server-token"),
        "postmark-token-e21"
    );
    assert!(header(&mail, "accept").contains("application/json"));
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(body["From"], json!("no-reply@example.com"));
    assert_eq!(body["To"], json!("alice@example.com"));
    assert_eq!(body["MessageStream"], json!("outbound"));
    let code = assert_email_parts(
        string_at(&body, "/Subject"),
        string_at(&body, "/TextBody"),
        string_at(&body, "/HtmlBody"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

/// Brevo, https://developers.brevo.com/docs/send-a-transactional-email: `POST /v3/smtp/email`,
/// `api-key: {key}`, JSON `sender` (`name`, `email`), `to[0].email`, `subject`, `htmlContent`,
/// `textContent`; 201 with `messageId`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brevo_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "brevo-email",
                json!({"api_key": "xkeysib-test-4e", "from": "no-reply@example.com"}),
            )),
    )
    .await;
    app.provider.reply_on(
        "/v3/smtp/email",
        Reply::json(
            201,
            json!({"messageId": "<202401010000.1@smtp-relay.mailin.fr>"}),
        ),
    );

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/v3/smtp/email");
    assert_eq!(header(&mail, "api-key"), "xkeysib-test-4e");
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(
        body["sender"],
        json!({"name": "mfa-bridge", "email": "no-reply@example.com"}),
        "the name's default"
    );
    assert_eq!(body["to"], json!([{"email": "alice@example.com"}]));
    let code = assert_email_parts(
        string_at(&body, "/subject"),
        string_at(&body, "/textContent"),
        string_at(&body, "/htmlContent"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

/// Mailjet Send API v3.1,
/// https://dev.mailjet.com/docs/email-api/send_api_v31/send_basic_email: `POST /v3.1/send`,
/// HTTP Basic key:secret, JSON `Messages[0]` with `From`, `To`, `Subject`, `TextPart`,
/// `HTMLPart`; 200 whose message `Status` is "success" (an "error" one is a failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailjet_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "mailjet-email",
                json!({
                    "api_key": "mj-public-7b",
                    "api_secret": "mj-secret-2c",
                    "from": "pilot@example.com",
                    "from_name": "Example App",
                }),
            )),
    )
    .await;
    app.provider.respond_on("/v3.1/send", |request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let to = body["Messages"][0]["To"][0]["Email"].clone();
        let status = if to == json!("blocked@example.com") {
            "error"
        } else {
            "success"
        };
        Reply::json(
            200,
            json!({"Messages": [{
                "Status": status,
                "To": [{"Email": to, "MessageUUID": "1ab23cd4", "MessageID": 456}],
            }]}),
        )
    });

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/v3.1/send");
    assert_eq!(
        header(&mail, "authorization"),
        basic("mj-public-7b", "mj-secret-2c")
    );
    assert_json_content_type(&mail);
    let body = mail.body_json();
    let message = &body["Messages"][0];
    assert_eq!(
        message["From"],
        json!({"Email": "pilot@example.com", "Name": "Example App"})
    );
    assert_eq!(message["To"], json!([{"Email": "alice@example.com"}]));
    let code = assert_email_parts(
        string_at(message, "/Subject"),
        string_at(message, "/TextPart"),
        string_at(message, "/HTMLPart"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();

    app.activate(
        "bob",
        &app.personal(),
        &json!({"email": "blocked@example.com", "language": "en"}),
    )
    .await
    .assert_error(400, "messaging-server-error");
}

/// Resend, https://resend.com/docs/api-reference/emails: `POST /emails`, `Authorization:
/// Bearer {key}`, JSON `from`, `to`, `subject`, `html`, `text`; an `Idempotency-Key` that is
/// the send's id: a new one for each challenge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_email_sends_the_documented_request_with_an_idempotency_key() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "resend-email",
                json!({"api_key": "re_test_5d", "from": "Example <no-reply@example.com>"}),
            )),
    )
    .await;
    app.provider.reply_on(
        "/emails",
        Reply::json(200, json!({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})),
    );

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/emails");
    assert_eq!(header(&mail, "authorization"), "Bearer re_test_5d");
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(body["from"], json!("Example <no-reply@example.com>"));
    assert_eq!(body["to"], json!(["alice@example.com"]));
    let code = assert_email_parts(
        string_at(&body, "/subject"),
        string_at(&body, "/text"),
        string_at(&body, "/html"),
    );
    let first_key = header(&mail, "idempotency-key");
    assert!(
        (1..=256).contains(&first_key.len()),
        "Resend takes keys of up to 256 characters: {first_key:?}"
    );
    app.confirm("alice", &token, &code).await.recovery_codes();

    let token = app.mfa_login("alice").await;
    app.challenge("alice", &token).await.assert_status(200);
    let second_key = header(&app.provider.last(), "idempotency-key");
    assert_ne!(first_key, second_key, "each send has its own key");
}

/// SparkPost, https://developers.sparkpost.com/api/transmissions/:
/// `POST /api/v1/transmissions`, `Authorization: {API key}`, JSON `recipients[0].address.email`
/// and `content` with `from`, `subject`, `text`, `html`; 200 with `results.id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sparkpost_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "sparkpost-email",
                json!({"api_key": "sparkpost-key-9e", "from": "no-reply@example.com"}),
            )),
    )
    .await;
    app.provider.reply_on(
        "/api/v1/transmissions",
        Reply::json(
            200,
            json!({"results": {"total_rejected_recipients": 0, "total_accepted_recipients": 1, "id": "11668787484950529"}}),
        ),
    );

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/api/v1/transmissions");
    assert_eq!(header(&mail, "authorization"), "sparkpost-key-9e");
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(
        body["recipients"],
        json!([{"address": {"email": "alice@example.com"}}])
    );
    assert_eq!(
        body["content"]["from"]["email"],
        json!("no-reply@example.com")
    );
    let code = assert_email_parts(
        string_at(&body, "/content/subject"),
        string_at(&body, "/content/text"),
        string_at(&body, "/content/html"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

/// MailerSend, https://developers.mailersend.com/api/v1/email.html: `POST /v1/email`,
/// `Authorization: Bearer {token}`, JSON `from`, `to`, `subject`, `text`, `html`; 202 Accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailersend_email_sends_the_documented_request() {
    let app = spawn_app(
        AppOptions::standalone_single()
            .with_user_data(email_user_data())
            .with_endpoints(preset(
                "mailersend-email",
                json!({"api_token": "mlsn.test-6a", "from": "no-reply@example.com"}),
            )),
    )
    .await;
    app.provider.reply_on("/v1/email", Reply::Empty(202));

    let (token, mail) = activate_email(&app, "alice", "alice@example.com").await;

    assert_eq!(mail.method, "POST");
    assert_eq!(mail.path, "/v1/email");
    assert_eq!(header(&mail, "authorization"), "Bearer mlsn.test-6a");
    assert_json_content_type(&mail);
    let body = mail.body_json();
    assert_eq!(
        body["from"],
        json!({"email": "no-reply@example.com", "name": "mfa-bridge"})
    );
    assert_eq!(body["to"], json!([{"email": "alice@example.com"}]));
    let code = assert_email_parts(
        string_at(&body, "/subject"),
        string_at(&body, "/text"),
        string_at(&body, "/html"),
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

// -----------------------------------------------------------------------------------------
// base_url and vars

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_with_a_path_keeps_it_as_a_prefix() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(json!({
        "preset": "plivo-sms",
        "base_url": format!("{PROVIDER}/proxy/plivo"),
        "vars": {"auth_id": "MAYYYYYYYYYYYYYYYYYY", "auth_token": "t", "src": "14155550100"},
    })))
    .await;
    app.provider.reply_on(
        "/proxy/plivo/v1/Account/MAYYYYYYYYYYYYYYYYYY/Message/",
        Reply::json(202, json!({"message": "message(s) queued"})),
    );

    let (token, sms) = activate_phone(&app, "alice").await;

    assert_eq!(
        sms.path, "/proxy/plivo/v1/Account/MAYYYYYYYYYYYYYYYYYY/Message/",
        "the base_url's path comes before the preset's"
    );
    let body = sms.body_json();
    confirm_with_code_of(&app, "alice", &token, string_at(&body, "/text")).await;
}

/// `mfa-bridge check` on a standalone/single configuration with these endpoints: exit status
/// and output.
fn check_with_endpoints(endpoints: Value) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    let options = AppOptions::standalone_single().with_endpoints(endpoints);
    let (output, text) = crate::binary::check_in(dir.path(), &config_value(&options, &storage));
    (output.status.code(), text)
}

#[test]
fn check_accepts_a_preset_with_its_vars() {
    let (status, text) = check_with_endpoints(preset(
        "plivo-sms",
        json!({"auth_id": "MA1", "auth_token": "t", "src": "14155550100"}),
    ));

    assert_eq!(status, Some(0), "output:\n{text}");
}

#[test]
fn a_missing_required_var_is_refused_at_load_naming_the_var() {
    let (status, text) = check_with_endpoints(preset(
        "plivo-sms",
        json!({"auth_id": "MA1", "src": "14155550100"}),
    ));

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("auth_token") && l.contains("mfa.endpoints")),
        "a line must name mfa.endpoints...auth_token; output:\n{text}"
    );
}

#[test]
fn an_unknown_var_is_refused_at_load_naming_the_var() {
    let (status, text) = check_with_endpoints(preset(
        "plivo-sms",
        json!({"auth_id": "MA1", "auth_token": "t", "src": "14155550100", "region": "eu"}),
    ));

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("region") && l.contains("mfa.endpoints")),
        "a line must name mfa.endpoints...region; output:\n{text}"
    );
}

#[test]
fn the_generic_json_webhook_without_base_url_is_refused_naming_it() {
    let (status, text) = check_with_endpoints(json!({"preset": "generic-json-webhook"}));

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines().any(|l| l.contains("mfa.endpoints.base_url")),
        "a line must name mfa.endpoints.base_url; output:\n{text}"
    );
}

// -----------------------------------------------------------------------------------------
// README.md's table of presets against templates/providers/

/// One preset as a row of the README's table or as its file: mode, channel, and each var with
/// whether it has a default.
#[derive(Debug, PartialEq, Eq)]
struct PresetSummary {
    mode: String,
    channel: String,
    vars: BTreeMap<String, bool>,
}

fn repository_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

fn cell(text: &str) -> String {
    text.trim().trim_matches('`').trim().to_string()
}

/// The rows of the first table of README.md's `## Providers` section, by preset name.
fn readme_presets() -> BTreeMap<String, PresetSummary> {
    let readme = repository_file("README.md");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Providers\n"))
        .expect("README.md has a `## Providers` section");
    let mut rows = section
        .lines()
        .skip_while(|l| !l.trim_start().starts_with('|'))
        .take_while(|l| l.trim_start().starts_with('|'));
    let head: Vec<String> = rows
        .next()
        .expect("a table in the Providers section")
        .trim()
        .trim_matches('|')
        .split('|')
        .map(|c| cell(c).to_lowercase())
        .collect();
    assert_eq!(
        head,
        ["name", "mode", "channel", "vars"],
        "the table's columns"
    );
    let var_name = Regex::new("^[A-Za-z_][A-Za-z0-9_]*$").unwrap();
    let mut presets = BTreeMap::new();
    for row in rows.skip(1) {
        let cells: Vec<&str> = row.trim().trim_matches('|').split('|').collect();
        assert_eq!(cells.len(), 4, "a row has four cells: {row:?}");
        let mut vars = BTreeMap::new();
        for var in cells[3].split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let (name, has_default) = match var.strip_prefix('(').and_then(|v| v.strip_suffix(')'))
            {
                Some(inner) => (cell(inner), true),
                None => (cell(var), false),
            };
            assert!(
                var_name.is_match(&name),
                "a var name, plain or in parentheses: {var:?} in {row:?}"
            );
            assert!(
                vars.insert(name, has_default).is_none(),
                "a var twice in {row:?}"
            );
        }
        let name = cell(cells[0]);
        let summary = PresetSummary {
            mode: cell(cells[1]),
            channel: cell(cells[2]),
            vars,
        };
        assert!(
            presets.insert(name.clone(), summary).is_none(),
            "{name} twice in the table"
        );
    }
    presets
}

/// Every `templates/providers/*.yml`, read with serde_yaml, by file name.
fn preset_files() -> BTreeMap<String, PresetSummary> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/providers");
    let mut presets = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("templates/providers/") {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".yml"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(&path).expect("read a preset");
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        let field = |key: &str| {
            yaml.get(key)
                .and_then(serde_yaml::Value::as_str)
                .unwrap_or_else(|| panic!("{}: no string `{key}`", path.display()))
                .to_string()
        };
        let mut vars = BTreeMap::new();
        if let Some(declared) = yaml.get("vars").and_then(serde_yaml::Value::as_mapping) {
            for (var, spec) in declared {
                let var = var.as_str().expect("a var name").to_string();
                let has_default = spec.get("default").is_some();
                vars.insert(var, has_default);
            }
        }
        presets.insert(
            name.to_string(),
            PresetSummary {
                mode: field("mode"),
                channel: field("channel"),
                vars,
            },
        );
    }
    presets
}

#[test]
fn the_readme_table_lists_every_preset_as_its_file_declares_it() {
    let table = readme_presets();
    let files = preset_files();

    let in_table: Vec<&String> = table.keys().collect();
    let on_disk: Vec<&String> = files.keys().collect();
    assert_eq!(
        in_table, on_disk,
        "README.md's Providers table and templates/providers/*.yml name different presets"
    );
    for (name, file) in &files {
        assert_eq!(
            &table[name], file,
            "README.md's row for {name} differs from templates/providers/{name}.yml"
        );
    }
}

#[test]
fn every_shipped_preset_cites_its_reference_and_explains_its_vars() {
    for (name, _) in preset_files() {
        let text = repository_file(&format!("templates/providers/{name}.yml"));
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        for key in ["description", "reference"] {
            let value = yaml.get(key).and_then(serde_yaml::Value::as_str);
            assert!(
                value.is_some_and(|v| !v.trim().is_empty()),
                "{name}: `{key}` must be a non-empty string"
            );
        }
        if let Some(vars) = yaml.get("vars").and_then(serde_yaml::Value::as_mapping) {
            for (var, spec) in vars {
                let meaning = spec
                    .as_str()
                    .or_else(|| spec.get("meaning").and_then(serde_yaml::Value::as_str));
                assert!(
                    meaning.is_some_and(|m| !m.trim().is_empty() && !m.contains('\n')),
                    "{name}: var {var:?} needs a one-line meaning"
                );
            }
        }
    }
}

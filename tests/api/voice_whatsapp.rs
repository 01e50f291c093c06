//! The voice and WhatsApp channels (issue 15): methods `voice` and `whatsapp`, enrolled and
//! challenged like `sms` and `email`, configured under `mfa.channels.voice` / `.whatsapp` or as
//! `mfa.endpoints`, sending to a phone field. Through the presets Twilio Verify (`Channel=call`,
//! `Channel=whatsapp`), Vonage Verify's voice workflow and Twilio Messaging to WhatsApp, against
//! the fake provider; a hand-written voice endpoint carries the SMS text in the user's language;
//! `mfa-bridge check` names the channels it knows.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::fakes::{Recorded, Reply, PROVIDER_VALID_CODE};
use crate::helpers::{
    code_in, config_value, phone_for, spawn_app, AppOptions, Auth, TestApp, PROVIDER,
};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
const CONTENT_SID: &str = "HX0123456789abcdef0123456789abcdef";
const WHATSAPP_FROM: &str = "+14155238886";

fn verifications_path() -> String {
    format!("/v2/Services/{SERVICE_SID}/Verifications")
}

fn check_path() -> String {
    format!("/v2/Services/{SERVICE_SID}/VerificationCheck")
}

/// A Twilio Verify preset (`twilio-verify-voice`, `twilio-verify-whatsapp`) sent to the fake.
fn twilio_verify(preset: &str) -> Value {
    json!({
        "preset": preset,
        "base_url": PROVIDER,
        "vars": {"account_sid": ACCOUNT_SID, "auth_token": "twilio-token", "service_sid": SERVICE_SID},
    })
}

/// Standalone: the primary SMS endpoint (the fake's `/sms`), `mfa.channels` as given; phone and
/// language allowed, nothing required.
fn with_channels(channels: Value) -> AppOptions {
    AppOptions::standalone_single()
        .with_user_data(json!({
            "required": [],
            "allowed": ["phone", "language"],
            "phone_fields": ["phone"],
        }))
        .with_mfa("channels", channels)
}

/// The fake answers Twilio Verify as Twilio does: 201 pending to a verification, 200 approved to
/// a check with [`PROVIDER_VALID_CODE`], 200 pending to any other code.
fn answer_as_twilio_verify(app: &TestApp) {
    app.provider.reply_on(
        &verifications_path(),
        Reply::json(201, json!({"sid": "VE1", "status": "pending"})),
    );
    app.provider.respond_on(&check_path(), |request| {
        let approved = request
            .form_pairs()
            .iter()
            .any(|(k, v)| k == "Code" && v == PROVIDER_VALID_CODE);
        let status = if approved { "approved" } else { "pending" };
        Reply::json(200, json!({"sid": "VE1", "status": status}))
    });
}

fn form(request: &Recorded) -> BTreeMap<String, String> {
    request.form_pairs().into_iter().collect()
}

async fn post(app: &TestApp, path: &str, auth: &Auth, body: Value) -> crate::helpers::TestResponse {
    app.post(path, auth, Some(&body)).await
}

/// Enrols `method` through a Twilio Verify preset and logs in with it: each verification asks
/// Twilio for `channel` to the user's phone, the code Twilio approves completes each step.
async fn enrol_and_log_in_by_twilio_verify(method: &str, preset: &str, channel: &str) {
    let app = spawn_app(with_channels(json!({ method: twilio_verify(preset) }))).await;
    answer_as_twilio_verify(&app);
    let username = "alice";
    let phone = phone_for(username);

    let activated = post(
        &app,
        &format!("/{username}/mfa/activate"),
        &app.personal(),
        json!({"method": method, "phone": phone, "language": "fr"}),
    )
    .await;
    let token = activated.mfa_token();
    let started = app.provider.last();
    assert_eq!(started.path, verifications_path());
    let fields = form(&started);
    assert_eq!(fields.get("Channel").map(String::as_str), Some(channel));
    assert_eq!(fields.get("To"), Some(&phone));
    assert_eq!(fields.get("Locale").map(String::as_str), Some("fr"));

    app.confirm(username, &token, "111111")
        .await
        .assert_error(400, "invalid-code");
    let confirmed = app.confirm(username, &token, PROVIDER_VALID_CODE).await;
    confirmed.recovery_codes();
    assert_eq!(
        confirmed.json["methods"],
        json!([method]),
        "{}",
        confirmed.text
    );

    let login = app.login(username).await;
    let token = login.mfa_token();
    assert_eq!(login.json["methods"], json!([method]), "{}", login.text);
    let challenged = post(
        &app,
        &format!("/{username}/mfa/challenge"),
        &Auth::raw(&token),
        json!({"method": method}),
    )
    .await;
    challenged.assert_status(200);
    assert_eq!(
        challenged.json["method"],
        json!(method),
        "{}",
        challenged.text
    );
    let started = app.provider.last();
    assert_eq!(started.path, verifications_path());
    assert_eq!(
        form(&started).get("Channel").map(String::as_str),
        Some(channel)
    );
    app.verify(username, &token, PROVIDER_VALID_CODE)
        .await
        .assert_status(200);
    assert_eq!(
        app.provider.requests_to("/sms").len(),
        0,
        "nothing went by SMS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_is_a_method_enrolled_and_challenged_through_twilio_verify_calls() {
    enrol_and_log_in_by_twilio_verify("voice", "twilio-verify-voice", "call").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_is_a_method_enrolled_and_challenged_through_twilio_verify_whatsapp() {
    enrol_and_log_in_by_twilio_verify("whatsapp", "twilio-verify-whatsapp", "whatsapp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_with_sms_adds_voice_and_chooses_it_at_each_challenge() {
    let app = spawn_app(with_channels(
        json!({"voice": twilio_verify("twilio-verify-voice")}),
    ))
    .await;
    answer_as_twilio_verify(&app);
    let username = "bob";
    let phone = phone_for(username);

    // SMS first (Pryv's format: the primary channel).
    let token = app
        .activate(username, &app.personal(), &json!({"phone": phone}))
        .await
        .mfa_token();
    let sms = app.provider.last();
    assert_eq!(sms.path, "/sms");
    let codes = app
        .confirm(username, &token, &code_in(&sms.body_text()))
        .await
        .recovery_codes();

    // Then voice, with a recovery code as step-up.
    let token = post(
        &app,
        &format!("/{username}/mfa/activate"),
        &app.personal(),
        json!({"method": "voice", "phone": phone, "code": codes[0]}),
    )
    .await
    .mfa_token();
    assert_eq!(app.provider.last().path, verifications_path());
    let confirmed = app.confirm(username, &token, PROVIDER_VALID_CODE).await;
    assert_eq!(
        confirmed.json["methods"],
        json!(["sms", "voice"]),
        "{}",
        confirmed.text
    );

    let token = app.login(username).await.mfa_token();
    let before = app.provider.count();
    post(
        &app,
        &format!("/{username}/mfa/challenge"),
        &Auth::raw(&token),
        json!({"method": "voice"}),
    )
    .await
    .assert_status(200);
    let sent: Vec<String> = app.provider.requests()[before..]
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(sent, vec![verifications_path()], "one call, no SMS");
    app.verify(username, &token, PROVIDER_VALID_CODE)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vonage_verify_voice_asks_for_the_tts_workflow_and_checks_the_captured_request() {
    let app = spawn_app(
        AppOptions::standalone_challenge_verify().with_endpoints(json!({
            "preset": "vonage-verify-voice",
            "base_url": PROVIDER,
            "vars": {"api_key": "abcd1234", "api_secret": "vonage-secret", "brand": "Acme"},
        })),
    )
    .await;
    app.provider.reply_on(
        "/verify/json",
        Reply::json(200, json!({"request_id": "req-voice-1", "status": "0"})),
    );
    app.provider.respond_on("/verify/check/json", |request| {
        let right = request
            .form_pairs()
            .iter()
            .any(|(k, v)| k == "code" && v == PROVIDER_VALID_CODE);
        if right {
            Reply::json(200, json!({"request_id": "req-voice-1", "status": "0"}))
        } else {
            Reply::json(200, json!({"status": "16", "error_text": "wrong code"}))
        }
    });

    let (token, started) = app
        .activate_recorded("carol", &json!({"phone": phone_for("carol")}))
        .await;

    assert_eq!(started.path, "/verify/json");
    let fields = form(&started);
    assert_eq!(
        fields.get("workflow_id").map(String::as_str),
        Some("7"),
        "TTS alone"
    );
    assert_eq!(
        fields.get("number"),
        Some(&phone_for("carol").trim_start_matches('+').to_string())
    );
    assert_eq!(fields.get("brand").map(String::as_str), Some("Acme"));
    app.confirm("carol", &token, "222222")
        .await
        .assert_error(400, "invalid-code");
    let confirmed = app.confirm("carol", &token, PROVIDER_VALID_CODE).await;
    confirmed.recovery_codes();
    assert_eq!(
        confirmed.json["methods"],
        json!(["voice"]),
        "{}",
        confirmed.text
    );
    let check = app.provider.last();
    assert_eq!(check.path, "/verify/check/json");
    assert_eq!(
        form(&check).get("request_id").map(String::as_str),
        Some("req-voice-1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_as_the_primary_channel_sends_the_approved_template_with_the_code() {
    let app = spawn_app(AppOptions::standalone_single().with_endpoints(json!({
        "preset": "twilio-whatsapp",
        "base_url": PROVIDER,
        "vars": {
            "account_sid": ACCOUNT_SID,
            "auth_token": "twilio-token",
            "from": WHATSAPP_FROM,
            "content_sid": CONTENT_SID,
        },
    })))
    .await;
    let messages = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    app.provider.reply_on(
        &messages,
        Reply::json(201, json!({"sid": "SM1", "status": "queued"})),
    );
    let phone = phone_for("dave");

    let (token, sent) = app
        .activate_recorded("dave", &json!({"phone": phone}))
        .await;

    assert_eq!(sent.path, messages);
    let fields = form(&sent);
    assert_eq!(fields.get("To"), Some(&format!("whatsapp:{phone}")));
    assert_eq!(
        fields.get("From"),
        Some(&format!("whatsapp:{WHATSAPP_FROM}"))
    );
    assert_eq!(
        fields.get("ContentSid").map(String::as_str),
        Some(CONTENT_SID)
    );
    assert!(
        !fields.contains_key("Body"),
        "the approved template is the text"
    );
    let variables: Value = serde_json::from_str(&fields["ContentVariables"])
        .unwrap_or_else(|e| panic!("ContentVariables is a JSON string: {e}: {fields:?}"));
    let code = variables["1"]
        .as_str()
        .unwrap_or_else(|| panic!("placeholder 1 holds the code: {variables}"))
        .to_string();
    assert_eq!(code.len(), 6, "{code}");
    let confirmed = app.confirm("dave", &token, &code).await;
    confirmed.recovery_codes();
    assert_eq!(
        confirmed.json["methods"],
        json!(["whatsapp"]),
        "{}",
        confirmed.text
    );
    let login = app.login("dave").await;
    assert_eq!(login.json["methods"], json!(["whatsapp"]), "{}", login.text);
    let token = login.mfa_token();
    app.challenge("dave", &token).await.assert_status(200);
    let resent = form(&app.provider.last());
    let variables: Value =
        serde_json::from_str(&resent["ContentVariables"]).expect("a JSON string");
    let new_code = variables["1"].as_str().expect("the code").to_string();
    if new_code != code {
        // The first code was for the activation: it no longer verifies.
        app.verify("dave", &token, &code)
            .await
            .assert_error(400, "invalid-code");
    }
    app.verify("dave", &token, &new_code)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_endpoint_written_by_hand_reads_the_sms_text_in_the_users_language() {
    let app = spawn_app(with_channels(json!({"voice": {
        "single": {
            "url": format!("{PROVIDER}/call"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","say":"{{ message }}"}"#,
        },
    }})))
    .await;

    let token = post(
        &app,
        "/erin/mfa/activate",
        &app.personal(),
        json!({"method": "voice", "phone": phone_for("erin"), "language": "fr"}),
    )
    .await
    .mfa_token();

    let call = app.provider.last();
    assert_eq!(call.path, "/call");
    let body = call.body_json();
    assert_eq!(body["to"], json!(phone_for("erin")));
    let said = body["say"].as_str().unwrap_or_default().to_string();
    let code = code_in(&said);
    let french_sms = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/messages/sms.fr.hbs"),
    )
    .expect("the French SMS text");
    let expected = french_sms
        .trim()
        .replace("{{ app_name }}", "mfa-bridge")
        .replace("{{ code }}", &code)
        .replace("{{ ttl_minutes }}", "5");
    assert_eq!(
        said, expected,
        "the French SMS text, as an SMS would carry it"
    );
    app.confirm("erin", &token, &code).await.recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_without_a_whatsapp_channel_is_refused_naming_the_method() {
    let app = spawn_app(with_channels(
        json!({"voice": twilio_verify("twilio-verify-voice")}),
    ))
    .await;
    let before = app.provider.count();

    let refused = post(
        &app,
        "/frank/mfa/activate",
        &app.personal(),
        json!({"method": "whatsapp", "phone": phone_for("frank")}),
    )
    .await;

    let message = refused.assert_error(400, "invalid-parameters-format");
    assert!(message.contains("whatsapp"), "{message:?}");
    assert_eq!(app.provider.count(), before, "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_counts_on_the_per_destination_limit_of_the_phone_like_an_sms() {
    let app = spawn_app(
        with_channels(json!({"voice": twilio_verify("twilio-verify-voice")}))
            .with_send_limits(json!({"per_destination_per_day": 1})),
    )
    .await;
    answer_as_twilio_verify(&app);
    let shared_phone = phone_for("gina");
    app.activate("gina", &app.personal(), &json!({"phone": shared_phone}))
        .await
        .mfa_token();
    assert_eq!(app.provider.last().path, "/sms");

    let same_phone = post(
        &app,
        "/hank/mfa/activate",
        &app.personal(),
        json!({"method": "voice", "phone": shared_phone}),
    )
    .await;
    let other_phone = post(
        &app,
        "/hank/mfa/activate",
        &app.personal(),
        json!({"method": "voice", "phone": phone_for("hank")}),
    )
    .await;

    same_phone.remaining_delay();
    other_phone.mfa_token();
    assert_eq!(
        app.provider.requests_to(&verifications_path()).len(),
        1,
        "no call to the number the SMS already went to"
    );
}

/// `mfa-bridge check` on a standalone configuration with these `mfa.channels` and these files in
/// the `templates/` folder beside it: exit status and output.
fn check(channels: Value, files: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = dir.path().join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    for (path, text) in files {
        let path = dir.path().join("templates").join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create templates/");
        std::fs::write(&path, text).expect("write a template file");
    }
    let options = with_channels(channels);
    let (output, text) = crate::binary::check_in(dir.path(), &config_value(&options, &storage));
    (output.status.code(), text)
}

#[test]
fn check_accepts_voice_and_whatsapp_channels_and_lists_their_methods() {
    let (status, text) = check(
        json!({
            "voice": twilio_verify("twilio-verify-voice"),
            "whatsapp": twilio_verify("twilio-verify-whatsapp"),
        }),
        &[],
    );

    assert_eq!(status, Some(0), "output:\n{text}");
    assert!(
        text.contains("voice") && text.contains("whatsapp"),
        "the methods are listed: {text}"
    );
}

#[test]
fn an_unknown_channel_is_refused_naming_the_channels_there_are() {
    let (status, text) = check(json!({"fax": twilio_verify("twilio-verify-voice")}), &[]);

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("mfa.channels.fax") && l.contains("sms, email, voice or whatsapp")),
        "output:\n{text}"
    );
}

#[test]
fn a_preset_under_another_channel_is_refused_naming_its_channel() {
    let (status, text) = check(
        json!({"whatsapp": twilio_verify("twilio-verify-voice")}),
        &[],
    );

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("mfa.channels.whatsapp") && l.contains("voice")),
        "output:\n{text}"
    );
}

#[test]
fn a_voice_message_file_is_refused_pointing_at_the_sms_text() {
    let (status, text) = check(
        json!({"voice": twilio_verify("twilio-verify-voice")}),
        &[("messages/voice.en.hbs", "Your code is {{ code }}.")],
    );

    assert_eq!(status, Some(1), "output:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("voice.en.hbs") && l.contains("sms.en.hbs")),
        "output:\n{text}"
    );
}

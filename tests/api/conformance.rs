//! The provider presets against the providers' own OpenAPI descriptions
//! (tests/conformance/specs/): the real daemon, in process, configured with nothing but a
//! preset, its vars and a `base_url`, sends its requests to Prism serving the provider's
//! description, through a recording [`Front`].
//!
//! A 302 on activate means Prism accepted the send (right path, content type, credentials and
//! required fields) and the preset's success predicate holds on the description's own example
//! answer; a whole enrolment and login follows. For each description a request broken on
//! purpose (a required field or the credentials taken out between the daemon and Prism) is
//! refused by Prism and reported by the daemon as a provider failure: the check is live. Prism's
//! answers to the daemon's requests replayed by hand, as sent and broken, pin what Prism checks.

use base64::Engine as _;
use regex::Regex;
use serde_json::{json, Value};

use crate::fakes::Recorded;
use crate::helpers::{phone_for, spawn_app, AppOptions, TestApp};
use crate::prism::{
    Change, Exchange, Front, Prism, TWILIO_API, TWILIO_VERIFY, VONAGE_SMS, VONAGE_VERIFY,
};

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "conformance-auth-token";
const SERVICE_SID: &str = "VA0123456789abcdef0123456789abcdef";
const TWILIO_FROM: &str = "+15017122661";
/// A Content Template SID (HX and 32 hexadecimal digits).
const CONTENT_SID: &str = "HX0123456789abcdef0123456789abcdef";
const VONAGE_KEY: &str = "abcd1234";
const VONAGE_SECRET: &str = "abcdef0123456789";
const VONAGE_FROM: &str = "AcmeInc";
const VONAGE_BRAND: &str = "Acme Inc";
/// The `request_id` of the Vonage Verify description's example answer.
const VONAGE_REQUEST_ID: &str = "abcdef0123456789abcdef0123456789";
/// Any code: Prism's verification checks succeed whatever the code.
const ANY_CODE: &str = "123456";

const VONAGE_SMS_PATH: &str = "/sms/json";
const VONAGE_VERIFY_PATH: &str = "/verify/json";
const VONAGE_CHECK_PATH: &str = "/verify/check/json";

fn twilio_messages_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
}

fn twilio_verifications_path() -> String {
    format!("/v2/Services/{SERVICE_SID}/Verifications")
}

fn twilio_check_path() -> String {
    format!("/v2/Services/{SERVICE_SID}/VerificationCheck")
}

fn twilio_sms_vars() -> Value {
    json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": TWILIO_FROM})
}

fn twilio_verify_vars() -> Value {
    json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "service_sid": SERVICE_SID})
}

fn vonage_sms_vars() -> Value {
    json!({"api_key": VONAGE_KEY, "api_secret": VONAGE_SECRET, "from": VONAGE_FROM})
}

fn twilio_whatsapp_vars() -> Value {
    json!({
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from": TWILIO_FROM,
        "content_sid": CONTENT_SID,
    })
}

fn vonage_verify_vars() -> Value {
    json!({"api_key": VONAGE_KEY, "api_secret": VONAGE_SECRET, "brand": VONAGE_BRAND})
}

/// A preset as these tests run it: the description Prism serves, the preset's name, its vars
/// and the code mode it runs in.
struct Setup {
    spec: &'static str,
    preset: &'static str,
    vars: fn() -> Value,
    options: fn() -> AppOptions,
}

const TWILIO_SMS: Setup = Setup {
    spec: TWILIO_API,
    preset: "twilio-sms",
    vars: twilio_sms_vars,
    options: AppOptions::standalone_single,
};

const TWILIO_VERIFY_SETUP: Setup = Setup {
    spec: TWILIO_VERIFY,
    preset: "twilio-verify",
    vars: twilio_verify_vars,
    options: AppOptions::standalone_challenge_verify,
};

const VONAGE_SMS_SETUP: Setup = Setup {
    spec: VONAGE_SMS,
    preset: "vonage-sms",
    vars: vonage_sms_vars,
    options: AppOptions::standalone_single,
};

const VONAGE_VERIFY_SETUP: Setup = Setup {
    spec: VONAGE_VERIFY,
    preset: "vonage-verify",
    vars: vonage_verify_vars,
    options: AppOptions::standalone_challenge_verify,
};

const TWILIO_VERIFY_VOICE: Setup = Setup {
    spec: TWILIO_VERIFY,
    preset: "twilio-verify-voice",
    vars: twilio_verify_vars,
    options: AppOptions::standalone_challenge_verify,
};

const TWILIO_VERIFY_WHATSAPP: Setup = Setup {
    spec: TWILIO_VERIFY,
    preset: "twilio-verify-whatsapp",
    vars: twilio_verify_vars,
    options: AppOptions::standalone_challenge_verify,
};

const VONAGE_VERIFY_VOICE: Setup = Setup {
    spec: VONAGE_VERIFY,
    preset: "vonage-verify-voice",
    vars: vonage_verify_vars,
    options: AppOptions::standalone_challenge_verify,
};

const TWILIO_WHATSAPP: Setup = Setup {
    spec: TWILIO_API,
    preset: "twilio-whatsapp",
    vars: twilio_whatsapp_vars,
    options: AppOptions::standalone_single,
};

/// The daemon in process with `mfa.endpoints: {preset, base_url: the front, vars}`.
async fn preset_app(front: &Front, preset: &str, vars: Value, options: AppOptions) -> TestApp {
    spawn_app(options.with_endpoints(json!({
        "preset": preset,
        "base_url": front.base_url(),
        "vars": vars,
    })))
    .await
}

/// The Prism of `setup`'s description and a front to it, and the daemon on `setup`'s preset
/// sending through the front.
async fn on_prism(setup: &Setup) -> (&'static Prism, Front, TestApp) {
    let prism = Prism::shared(setup.spec).await;
    let front = prism.front().await;
    let app = preset_app(&front, setup.preset, (setup.vars)(), (setup.options)()).await;
    (prism, front, app)
}

/// An activation through `setup` whose send is changed by `change` on its way to Prism at
/// `path`: the daemon must report a provider failure. Prism's exchange, for the caller to check.
async fn activation_changed(
    setup: &Setup,
    path: &str,
    change: Change,
    username: &str,
) -> (&'static Prism, Exchange) {
    let (prism, front, app) = on_prism(setup).await;
    front.change(path, change);
    app.activate_default(username)
        .await
        .assert_error(400, "messaging-server-error");
    (prism, front.last())
}

fn basic_auth(username: &str, password: &str) -> String {
    let credentials = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

/// The names of the form fields of `request`'s body, in order.
fn form_keys(request: &Recorded) -> Vec<String> {
    request.form_pairs().into_iter().map(|(k, _)| k).collect()
}

/// The value of form field `key` of `request`'s body.
fn form_value(request: &Recorded, key: &str) -> String {
    request
        .form_pairs()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no form field {key:?} in {:?}", request.body_text()))
}

/// Asserts `POST path`, a form body with exactly these fields in this order, and the
/// `authorization` header (none when `None`).
fn assert_form_post(request: &Recorded, path: &str, keys: &[&str], authorization: Option<&str>) {
    assert_eq!(request.method, "POST", "{request:?}");
    assert_eq!(request.uri, path, "the path (and no query)");
    assert_eq!(
        request.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded"),
        "the content type the description declares"
    );
    assert_eq!(form_keys(request), keys, "body: {}", request.body_text());
    assert_eq!(
        request.header("authorization").as_deref(),
        authorization,
        "the authorization header"
    );
}

/// Asserts that Prism answered `status` to the exchange.
fn assert_answered(prism: &Prism, exchange: &Exchange, status: u16) {
    assert_eq!(
        exchange.answer.status,
        status,
        "Prism's answer to {} {} ({}): {}\nPrism's output:\n{}",
        exchange.request.method,
        exchange.request.uri,
        exchange.request.body_text(),
        exchange.answer.text(),
        prism.output()
    );
}

/// Asserts that Prism refused the exchange with 422 because of the field `field`.
fn assert_refused_for(prism: &Prism, exchange: &Exchange, field: &str) {
    assert_answered(prism, exchange, 422);
    let reasons = exchange.answer.json()["validation"].to_string();
    assert!(
        reasons.contains(&format!("required property '{field}'")),
        "Prism names the missing field {field:?}: {}",
        exchange.answer.text()
    );
}

/// The code in an SMS text: the daemon's codes have 6 digits.
fn code_in(text: &str) -> String {
    let code = Regex::new(r"\b([0-9]{6})\b").unwrap();
    match code.captures(text) {
        Some(c) => c[1].to_string(),
        None => panic!("no 6-digit code in the SMS text {text:?}"),
    }
}

/// Single mode, the code read from `text_field` of each send: activate, confirm, log in,
/// challenge, verify. Every step must succeed.
async fn enrol_and_log_in_single(app: &TestApp, front: &Front, username: &str, text_field: &str) {
    let mfa_token = app.activate_default(username).await.mfa_token();
    let code = code_in(&form_value(&front.last().request, text_field));
    app.confirm(username, &mfa_token, &code)
        .await
        .recovery_codes();
    let mfa_token = app.mfa_login(username).await;
    app.challenge(username, &mfa_token).await.assert_status(200);
    let code = code_in(&form_value(&front.last().request, text_field));
    let verified = app.verify(username, &mfa_token, &code).await;
    verified.assert_status(200);
    assert_eq!(
        verified.json,
        json!({"verified": true, "username": username})
    );
}

/// Challenge-verify mode: activate (with this user data), confirm, log in, challenge, verify,
/// with any code. Every step must succeed.
async fn enrol_and_log_in_challenge_verify(app: &TestApp, username: &str, user_data: &Value) {
    let mfa_token = app
        .activate(username, &app.personal(), user_data)
        .await
        .mfa_token();
    app.confirm(username, &mfa_token, ANY_CODE)
        .await
        .recovery_codes();
    let mfa_token = app.mfa_login(username).await;
    app.challenge(username, &mfa_token).await.assert_status(200);
    let verified = app.verify(username, &mfa_token, ANY_CODE).await;
    verified.assert_status(200);
    assert_eq!(
        verified.json,
        json!({"verified": true, "username": username})
    );
}

// ---------------------------------------------------------------------------------------------
// twilio-sms: Twilio REST API 2010-04-01, CreateMessage

#[tokio::test]
async fn twilio_sms_sends_what_twilios_description_accepts() {
    let (prism, front, app) = on_prism(&TWILIO_SMS).await;
    let username = "conformance-twilio-sms";
    enrol_and_log_in_single(&app, &front, username, "Body").await;

    let exchanges = front.exchanges();
    assert_eq!(
        exchanges.len(),
        2,
        "activate and challenge each sent one SMS"
    );
    for exchange in &exchanges {
        let request = &exchange.request;
        assert_form_post(
            request,
            &twilio_messages_path(),
            &["To", "From", "Body"],
            Some(&basic_auth(ACCOUNT_SID, AUTH_TOKEN)),
        );
        assert_eq!(form_value(request, "To"), phone_for(username));
        assert_eq!(form_value(request, "From"), TWILIO_FROM);
        assert_answered(prism, exchange, 201);
        assert_eq!(exchange.answer.json()["status"], "queued");
    }

    // The daemon's request by hand: as sent, then without `To`, then without credentials.
    let sent = &exchanges[0].request;
    assert_eq!(prism.replay(sent, &[]).await.status, 201);
    let no_to = prism.replay(sent, &[Change::RemoveFormField("To")]).await;
    assert_eq!(no_to.status, 422, "{}", no_to.text());
    let no_credentials = prism
        .replay(sent, &[Change::RemoveHeader("authorization")])
        .await;
    assert_eq!(no_credentials.status, 401, "{}", no_credentials.text());
}

#[tokio::test]
async fn twilio_sms_without_to_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &TWILIO_SMS,
        &twilio_messages_path(),
        Change::RemoveFormField("To"),
        "conformance-twilio-sms-no-to",
    )
    .await;
    assert_refused_for(prism, &exchange, "To");
}

#[tokio::test]
async fn twilio_sms_without_credentials_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &TWILIO_SMS,
        &twilio_messages_path(),
        Change::RemoveHeader("authorization"),
        "conformance-twilio-sms-no-auth",
    )
    .await;
    assert_answered(prism, &exchange, 401);
}

// ---------------------------------------------------------------------------------------------
// twilio-verify: Twilio Verify v2, CreateVerification and CreateVerificationCheck

#[tokio::test]
async fn twilio_verify_sends_what_twilios_description_accepts() {
    let (prism, front, app) = on_prism(&TWILIO_VERIFY_SETUP).await;
    let username = "conformance-twilio-verify";
    let phone = phone_for(username);
    enrol_and_log_in_challenge_verify(&app, username, &json!({"phone": phone, "language": "fr"}))
        .await;

    let exchanges = front.exchanges();
    assert_eq!(
        exchanges.len(),
        4,
        "two verifications started, two checked: {:?}",
        front.requests()
    );
    let auth = basic_auth(ACCOUNT_SID, AUTH_TOKEN);
    for challenge in [&exchanges[0], &exchanges[2]] {
        let request = &challenge.request;
        assert_form_post(
            request,
            &twilio_verifications_path(),
            &["To", "Channel", "Locale"],
            Some(&auth),
        );
        assert_eq!(form_value(request, "To"), phone);
        assert_eq!(form_value(request, "Channel"), "sms");
        assert_eq!(form_value(request, "Locale"), "fr", "the user's language");
        assert_answered(prism, challenge, 201);
        assert_eq!(challenge.answer.json()["status"], "pending");
    }
    for check in [&exchanges[1], &exchanges[3]] {
        let request = &check.request;
        assert_form_post(request, &twilio_check_path(), &["To", "Code"], Some(&auth));
        assert_eq!(form_value(request, "To"), phone);
        assert_eq!(form_value(request, "Code"), ANY_CODE);
        assert_answered(prism, check, 200);
        assert_eq!(check.answer.json()["status"], "approved");
    }

    // The daemon's challenge by hand: as sent, without `To`, without `Channel`, without
    // credentials.
    let sent = &exchanges[0].request;
    assert_eq!(prism.replay(sent, &[]).await.status, 201);
    for field in ["To", "Channel"] {
        let broken = prism.replay(sent, &[Change::RemoveFormField(field)]).await;
        assert_eq!(broken.status, 422, "without {field}: {}", broken.text());
    }
    let no_credentials = prism
        .replay(sent, &[Change::RemoveHeader("authorization")])
        .await;
    assert_eq!(no_credentials.status, 401, "{}", no_credentials.text());
    let check = &exchanges[1].request;
    let no_credentials = prism
        .replay(check, &[Change::RemoveHeader("authorization")])
        .await;
    assert_eq!(no_credentials.status, 401, "{}", no_credentials.text());
}

#[tokio::test]
async fn twilio_verify_locale_is_the_language_the_message_texts_resolve_to() {
    // The user's tag (de-CH), else its base language (de), else the default (en): tags Twilio's
    // `Locale` takes.
    let (prism, front, app) = on_prism(&TWILIO_VERIFY_SETUP).await;
    for (language, locale) in [("de-CH", "de"), ("it", "it")] {
        let username = format!("conformance-twilio-verify-{language}");
        let user_data = json!({"phone": phone_for(&username), "language": language});
        app.activate(&username, &app.personal(), &user_data)
            .await
            .mfa_token();
        let exchange = front.last();
        assert_eq!(
            form_value(&exchange.request, "Locale"),
            locale,
            "{language}"
        );
        assert_answered(prism, &exchange, 201);
    }
}

#[tokio::test]
async fn twilio_verify_without_to_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &TWILIO_VERIFY_SETUP,
        &twilio_verifications_path(),
        Change::RemoveFormField("To"),
        "conformance-twilio-verify-no-to",
    )
    .await;
    assert_refused_for(prism, &exchange, "To");
}

#[tokio::test]
async fn twilio_verify_without_credentials_is_refused_by_prism_and_reported_as_a_provider_failure()
{
    let (prism, exchange) = activation_changed(
        &TWILIO_VERIFY_SETUP,
        &twilio_verifications_path(),
        Change::RemoveHeader("authorization"),
        "conformance-twilio-verify-no-auth",
    )
    .await;
    assert_answered(prism, &exchange, 401);
}

// ---------------------------------------------------------------------------------------------
// vonage-sms: Vonage SMS API, send-an-sms

#[tokio::test]
async fn vonage_sms_sends_what_vonages_description_accepts() {
    let (prism, front, app) = on_prism(&VONAGE_SMS_SETUP).await;
    let username = "conformance-vonage-sms";
    enrol_and_log_in_single(&app, &front, username, "text").await;

    let exchanges = front.exchanges();
    assert_eq!(
        exchanges.len(),
        2,
        "activate and challenge each sent one SMS"
    );
    for exchange in &exchanges {
        let request = &exchange.request;
        assert_form_post(
            request,
            VONAGE_SMS_PATH,
            &["api_key", "api_secret", "from", "to", "text", "type"],
            None,
        );
        assert_eq!(form_value(request, "api_key"), VONAGE_KEY);
        assert_eq!(form_value(request, "api_secret"), VONAGE_SECRET);
        assert_eq!(form_value(request, "from"), VONAGE_FROM);
        assert_eq!(
            form_value(request, "to"),
            phone_for(username).trim_start_matches('+'),
            "E.164 without its +"
        );
        assert_eq!(
            form_value(request, "type"),
            "text",
            "an English text is GSM-7"
        );
        // 200 whatever happens: the message's status says it was accepted.
        assert_answered(prism, exchange, 200);
        assert_eq!(exchange.answer.json()["messages"][0]["status"], "0");
    }

    // The daemon's request by hand: as sent, then without each required field.
    let sent = &exchanges[0].request;
    assert_eq!(prism.replay(sent, &[]).await.status, 200);
    for field in ["api_key", "from", "to"] {
        let broken = prism.replay(sent, &[Change::RemoveFormField(field)]).await;
        assert_eq!(broken.status, 422, "without {field}: {}", broken.text());
    }
}

#[tokio::test]
async fn vonage_sms_marks_a_text_outside_gsm7_as_unicode() {
    let (prism, front, app) = on_prism(&VONAGE_SMS_SETUP).await;
    let username = "conformance-vonage-sms-unicode";
    // A user-data message (as Pryv clients send) wins over the message texts.
    let user_data = json!({"phone": phone_for(username), "message": "Ваш код {{ code }}"});
    let mfa_token = app
        .activate(username, &app.personal(), &user_data)
        .await
        .mfa_token();
    let exchange = front.last();
    assert_eq!(form_value(&exchange.request, "type"), "unicode");
    let text = form_value(&exchange.request, "text");
    assert!(text.starts_with("Ваш код "), "the user's message: {text:?}");
    assert_answered(prism, &exchange, 200);
    app.confirm(username, &mfa_token, &code_in(&text))
        .await
        .recovery_codes();
}

#[tokio::test]
async fn vonage_sms_without_to_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &VONAGE_SMS_SETUP,
        VONAGE_SMS_PATH,
        Change::RemoveFormField("to"),
        "conformance-vonage-sms-no-to",
    )
    .await;
    assert_refused_for(prism, &exchange, "to");
}

#[tokio::test]
async fn vonage_sms_without_credentials_is_refused_by_prism_and_reported_as_a_provider_failure() {
    // Vonage has no HTTP security scheme: the credentials are fields of the body.
    let (prism, exchange) = activation_changed(
        &VONAGE_SMS_SETUP,
        VONAGE_SMS_PATH,
        Change::RemoveFormField("api_key"),
        "conformance-vonage-sms-no-key",
    )
    .await;
    assert_refused_for(prism, &exchange, "api_key");
}

// ---------------------------------------------------------------------------------------------
// vonage-verify: Vonage Verify API v1, verifyRequest and verifyCheck

#[tokio::test]
async fn vonage_verify_sends_what_vonages_description_accepts() {
    let (prism, front, app) = on_prism(&VONAGE_VERIFY_SETUP).await;
    let username = "conformance-vonage-verify";
    let phone = phone_for(username);
    enrol_and_log_in_challenge_verify(&app, username, &json!({"phone": phone})).await;

    let exchanges = front.exchanges();
    assert_eq!(
        exchanges.len(),
        4,
        "two verifications started, two checked: {:?}",
        front.requests()
    );
    for challenge in [&exchanges[0], &exchanges[2]] {
        let request = &challenge.request;
        assert_form_post(
            request,
            VONAGE_VERIFY_PATH,
            &["api_key", "api_secret", "number", "brand", "code_length"],
            None,
        );
        assert_eq!(form_value(request, "api_key"), VONAGE_KEY);
        assert_eq!(form_value(request, "api_secret"), VONAGE_SECRET);
        assert_eq!(form_value(request, "number"), phone.trim_start_matches('+'));
        assert_eq!(form_value(request, "brand"), VONAGE_BRAND);
        assert_eq!(form_value(request, "code_length"), "6", "the var's default");
        assert_answered(prism, challenge, 200);
        assert_eq!(
            challenge.answer.json(),
            json!({"request_id": VONAGE_REQUEST_ID, "status": "0"})
        );
    }
    for check in [&exchanges[1], &exchanges[3]] {
        let request = &check.request;
        assert_form_post(
            request,
            VONAGE_CHECK_PATH,
            &["api_key", "api_secret", "request_id", "code"],
            None,
        );
        assert_eq!(
            form_value(request, "request_id"),
            VONAGE_REQUEST_ID,
            "captured from the challenge's answer"
        );
        assert_eq!(form_value(request, "code"), ANY_CODE);
        assert_answered(prism, check, 200);
        assert_eq!(check.answer.json()["status"], "0");
    }

    // The daemon's requests by hand: as sent, then without each required field.
    for (sent, fields) in [
        (
            &exchanges[0].request,
            &["api_key", "api_secret", "number", "brand"][..],
        ),
        (
            &exchanges[1].request,
            &["api_key", "api_secret", "request_id", "code"][..],
        ),
    ] {
        assert_eq!(prism.replay(sent, &[]).await.status, 200);
        for field in fields {
            let broken = prism.replay(sent, &[Change::RemoveFormField(field)]).await;
            assert_eq!(broken.status, 422, "without {field}: {}", broken.text());
        }
    }
}

#[tokio::test]
async fn vonage_verify_without_number_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &VONAGE_VERIFY_SETUP,
        VONAGE_VERIFY_PATH,
        Change::RemoveFormField("number"),
        "conformance-vonage-verify-no-number",
    )
    .await;
    assert_refused_for(prism, &exchange, "number");
}

#[tokio::test]
async fn vonage_verify_refusal_documented_with_a_200_is_a_provider_failure() {
    // Vonage answers 200 to a refused verification; the description's own example
    // `throttled` is `{"status": "1", "error_text": "Throttled"}`.
    let (prism, front, app) = on_prism(&VONAGE_VERIFY_SETUP).await;
    front.change(VONAGE_VERIFY_PATH, Change::PreferExample("throttled"));
    app.activate_default("conformance-vonage-verify-throttled")
        .await
        .assert_error(400, "messaging-server-error");
    let exchange = front.last();
    assert_answered(prism, &exchange, 200);
    assert_eq!(exchange.answer.json()["status"], "1");
}

#[tokio::test]
async fn vonage_verify_wrong_code_documented_with_a_200_is_an_invalid_code() {
    // The description's example `incorrect-code`: 200 `{"status": "16"}`.
    let (prism, front, app) = on_prism(&VONAGE_VERIFY_SETUP).await;
    front.change(VONAGE_CHECK_PATH, Change::PreferExample("incorrect-code"));
    let username = "conformance-vonage-verify-wrong-code";
    let mfa_token = app.activate_default(username).await.mfa_token();
    app.confirm(username, &mfa_token, ANY_CODE)
        .await
        .assert_error(400, "invalid-code");
    let exchange = front.last();
    assert_eq!(exchange.request.path, VONAGE_CHECK_PATH);
    assert_answered(prism, &exchange, 200);
    assert_eq!(exchange.answer.json()["status"], "16");
}

// ---------------------------------------------------------------------------------------------
// twilio-verify-voice and twilio-verify-whatsapp: Twilio Verify v2 with Channel=call, whatsapp

/// The Twilio Verify preset of `setup` through a whole enrolment and login: each verification
/// asks for `channel` with the user's language as `Locale`, Prism accepts every request.
async fn twilio_verify_by(setup: &Setup, channel: &str, username: &str) {
    let (prism, front, app) = on_prism(setup).await;
    let phone = phone_for(username);
    enrol_and_log_in_challenge_verify(&app, username, &json!({"phone": phone, "language": "de"}))
        .await;

    let exchanges = front.exchanges();
    assert_eq!(exchanges.len(), 4, "{:?}", front.requests());
    let auth = basic_auth(ACCOUNT_SID, AUTH_TOKEN);
    for challenge in [&exchanges[0], &exchanges[2]] {
        let request = &challenge.request;
        assert_form_post(
            request,
            &twilio_verifications_path(),
            &["To", "Channel", "Locale"],
            Some(&auth),
        );
        assert_eq!(form_value(request, "To"), phone);
        assert_eq!(form_value(request, "Channel"), channel);
        assert_eq!(form_value(request, "Locale"), "de");
        assert_answered(prism, challenge, 201);
    }
    for check in [&exchanges[1], &exchanges[3]] {
        assert_form_post(
            &check.request,
            &twilio_check_path(),
            &["To", "Code"],
            Some(&auth),
        );
        assert_answered(prism, check, 200);
    }
    let sent = &exchanges[0].request;
    let no_channel = prism
        .replay(sent, &[Change::RemoveFormField("Channel")])
        .await;
    assert_eq!(no_channel.status, 422, "{}", no_channel.text());
}

#[tokio::test]
async fn twilio_verify_voice_sends_what_twilios_description_accepts() {
    twilio_verify_by(&TWILIO_VERIFY_VOICE, "call", "conformance-twilio-voice").await;
}

#[tokio::test]
async fn twilio_verify_whatsapp_sends_what_twilios_description_accepts() {
    twilio_verify_by(
        &TWILIO_VERIFY_WHATSAPP,
        "whatsapp",
        "conformance-twilio-whatsapp",
    )
    .await;
}

#[tokio::test]
async fn twilio_verify_voice_without_to_is_refused_by_prism_and_reported_as_a_provider_failure() {
    let (prism, exchange) = activation_changed(
        &TWILIO_VERIFY_VOICE,
        &twilio_verifications_path(),
        Change::RemoveFormField("To"),
        "conformance-twilio-voice-no-to",
    )
    .await;
    assert_refused_for(prism, &exchange, "To");
}

// ---------------------------------------------------------------------------------------------
// vonage-verify-voice: Vonage Verify API v1, verifyRequest with workflow_id 7

#[tokio::test]
async fn vonage_verify_voice_sends_what_vonages_description_accepts() {
    let (prism, front, app) = on_prism(&VONAGE_VERIFY_VOICE).await;
    let username = "conformance-vonage-voice";
    let phone = phone_for(username);
    enrol_and_log_in_challenge_verify(&app, username, &json!({"phone": phone})).await;

    let exchanges = front.exchanges();
    assert_eq!(exchanges.len(), 4, "{:?}", front.requests());
    for challenge in [&exchanges[0], &exchanges[2]] {
        let request = &challenge.request;
        assert_form_post(
            request,
            VONAGE_VERIFY_PATH,
            &[
                "api_key",
                "api_secret",
                "number",
                "brand",
                "code_length",
                "workflow_id",
            ],
            None,
        );
        assert_eq!(form_value(request, "number"), phone.trim_start_matches('+'));
        assert_eq!(form_value(request, "workflow_id"), "7", "TTS alone");
        assert_answered(prism, challenge, 200);
        assert_eq!(challenge.answer.json()["status"], "0");
    }
    for check in [&exchanges[1], &exchanges[3]] {
        assert_eq!(
            form_value(&check.request, "request_id"),
            VONAGE_REQUEST_ID,
            "captured from the challenge's answer"
        );
        assert_answered(prism, check, 200);
    }

    // Prism checks workflow_id against the description's enum (1 to 7): the preset's values
    // pass, another is refused.
    let sent = &exchanges[0].request;
    for (workflow, status) in [("3", 200), ("7", 200), ("9", 422)] {
        let answer = prism
            .replay(sent, &[Change::SetFormField("workflow_id", workflow)])
            .await;
        assert_eq!(
            answer.status,
            status,
            "workflow {workflow}: {}",
            answer.text()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// twilio-whatsapp: Twilio REST API 2010-04-01, CreateMessage with a Content Template

#[tokio::test]
async fn twilio_whatsapp_sends_what_twilios_description_accepts() {
    let (prism, front, app) = on_prism(&TWILIO_WHATSAPP).await;
    let username = "conformance-twilio-whatsapp";
    enrol_and_log_in_single(&app, &front, username, "ContentVariables").await;

    let exchanges = front.exchanges();
    assert_eq!(
        exchanges.len(),
        2,
        "activate and challenge each sent one message"
    );
    for exchange in &exchanges {
        let request = &exchange.request;
        assert_form_post(
            request,
            &twilio_messages_path(),
            &["To", "From", "ContentSid", "ContentVariables"],
            Some(&basic_auth(ACCOUNT_SID, AUTH_TOKEN)),
        );
        assert_eq!(
            form_value(request, "To"),
            format!("whatsapp:{}", phone_for(username))
        );
        assert_eq!(
            form_value(request, "From"),
            format!("whatsapp:{TWILIO_FROM}")
        );
        assert_eq!(form_value(request, "ContentSid"), CONTENT_SID);
        let variables: Value = serde_json::from_str(&form_value(request, "ContentVariables"))
            .expect("ContentVariables is a JSON string");
        assert!(variables["1"].is_string(), "{variables}");
        assert_answered(prism, exchange, 201);
    }
    let sent = &exchanges[0].request;
    let no_to = prism.replay(sent, &[Change::RemoveFormField("To")]).await;
    assert_eq!(no_to.status, 422, "{}", no_to.text());
}

// ---------------------------------------------------------------------------------------------
// Delivery fields: the status callback field and the answer's message id, by the descriptions

#[tokio::test]
async fn twilio_sms_status_callback_is_a_field_twilios_description_takes() {
    let (prism, front, app) = on_prism(&TWILIO_SMS).await;
    app.activate_default("conformance-twilio-sms-callback")
        .await
        .mfa_token();
    let sent = front.last().request;
    assert!(
        !form_keys(&sent).contains(&"StatusCallback".to_string()),
        "no server.public_url here: the field is left out"
    );

    // What the daemon sends with server.public_url set (tests/api/preset_receipts.rs): Prism
    // takes it, and checks the field (a uri).
    let with_callback = prism
        .replay(
            &sent,
            &[Change::SetFormField(
                "StatusCallback",
                "https://mfa.example.org/receipts/twilio-sms",
            )],
        )
        .await;
    assert_eq!(with_callback.status, 201, "{}", with_callback.text());
    let not_a_url = prism
        .replay(
            &sent,
            &[Change::SetFormField("StatusCallback", "not a url")],
        )
        .await;
    assert_eq!(not_a_url.status, 422, "{}", not_a_url.text());
}

/// The `message_id` JSONPath of `preset`'s sending endpoint (single, else challenge), as the
/// daemon reads it (`$.` added unless given).
fn message_id_path(preset: &str) -> serde_json_path::JsonPath {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("templates/providers/{preset}.yml"));
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&path).expect("read the preset"))
            .expect("YAML");
    let endpoints = &yaml["endpoints"];
    let raw = endpoints
        .get("single")
        .or_else(|| endpoints.get("challenge"))
        .and_then(|e| e.get("message_id"))
        .and_then(serde_yaml::Value::as_str)
        .unwrap_or_else(|| panic!("{preset}: no message_id"));
    let full = if raw.starts_with('$') {
        raw.to_string()
    } else {
        format!("$.{raw}")
    };
    serde_json_path::JsonPath::parse(&full).unwrap_or_else(|e| panic!("{preset}: {e}"))
}

#[tokio::test]
async fn the_message_id_paths_find_an_id_in_the_descriptions_answers() {
    for (setup, username) in [
        (&TWILIO_SMS, "conformance-id-twilio-sms"),
        (&TWILIO_WHATSAPP, "conformance-id-twilio-whatsapp"),
        (&TWILIO_VERIFY_SETUP, "conformance-id-twilio-verify"),
        (&TWILIO_VERIFY_VOICE, "conformance-id-twilio-voice"),
        (&VONAGE_SMS_SETUP, "conformance-id-vonage-sms"),
        (&VONAGE_VERIFY_SETUP, "conformance-id-vonage-verify"),
        (&VONAGE_VERIFY_VOICE, "conformance-id-vonage-voice"),
    ] {
        let (_, front, app) = on_prism(setup).await;
        app.activate(
            username,
            &app.personal(),
            &json!({"phone": phone_for(username)}),
        )
        .await
        .mfa_token();
        let answer = front.last().answer.json();
        let found = message_id_path(setup.preset)
            .query(&answer)
            .first()
            .cloned();
        assert!(
            found
                .as_ref()
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            "{}: no id where message_id points in the description's answer {answer}",
            setup.preset
        );
    }
}

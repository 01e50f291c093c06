//! Several MFA methods per user (issue 6): the primary SMS channel, an email channel under
//! `mfa.channels.email` and authenticator apps (`mfa.totp`). Pryv-format bodies keep Pryv's
//! flow; `method` chooses what activate enrols, what a challenge sends and what deactivate
//! removes; a dual `sms+email` send carries one code on both channels; a TOTP code verifies any
//! login session. TOTP codes are computed here with `totp-rs` at the app's manual clock.

use regex::Regex;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::fakes::{Recorded, PROVIDER_VALID_CODE};
use crate::helpers::{
    code_in, code_step_up, phone_for, spawn_app, AppOptions, Auth, TestApp, TestResponse,
    DEACTIVATED, PROVIDER, VERIFY_MESSAGE,
};

const ISSUER: &str = "mfa-bridge-tests";
const METHOD_REMOVED: &str = "MFA method removed.";

/// The email channel as the contract writes it: `POST {PROVIDER}/email`, the text body in
/// `text` (the code is in it).
fn email_channel() -> Value {
    json!({
        "single": {
            "url": format!("{PROVIDER}/email"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ email }}","subject":"{{ subject }}","text":"{{ message }}"}"#,
        }
    })
}

/// The email channel in challenge-verify mode: the provider sends (`/email-challenge`) and
/// checks (`/verify`, where the fake approves [`PROVIDER_VALID_CODE`]) the code.
fn email_channel_challenge_verify() -> Value {
    json!({
        "mode": "challenge-verify",
        "challenge": {
            "url": format!("{PROVIDER}/email-challenge"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ email }}"}"#,
        },
        "verify": {
            "url": format!("{PROVIDER}/verify"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ email }}","code":"{{ code }}"}"#,
            "success": {"status": [200], "json_path": "status", "equals": "approved"},
        },
    })
}

/// Standalone, single mode: the primary SMS endpoint (the default fake provider's `/sms`,
/// `Code NNNNNN`), `mfa.channels.email` given, and TOTP; phone and email both allowed.
fn options_with(email: Value) -> AppOptions {
    AppOptions::standalone_single()
        .with_user_data(json!({
            "required": [],
            "allowed": ["phone", "email", "language", "message"],
            "phone_fields": ["phone"],
        }))
        .with_mfa("channels", json!({"email": email}))
        .with_mfa(
            "totp",
            json!({"enabled": true, "issuer": ISSUER, "drift": 1}),
        )
}

fn options() -> AppOptions {
    options_with(email_channel())
}

fn email_for(username: &str) -> String {
    format!("{username}@example.com")
}

/// `["a", "b"]` as a JSON value.
fn methods(list: &[&str]) -> Value {
    json!(list)
}

/// The code of an SMS request (`Code NNNNNN` in its body).
fn sms_code(request: &Recorded) -> String {
    assert_eq!(request.path, "/sms", "not an SMS: {}", request.uri);
    let re = Regex::new(r"Code ([0-9]+)").unwrap();
    match re.captures(&request.body_text()) {
        Some(c) => c[1].to_string(),
        None => panic!("no `Code NNNNNN` in the SMS {}", request.body_text()),
    }
}

/// The code of an email request (the 6 digits in its `text`).
fn email_code(request: &Recorded) -> String {
    assert_eq!(request.path, "/email", "not an email: {}", request.uri);
    let body = request.body_json();
    code_in(
        body["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no text in the email {body}")),
    )
}

/// The provider requests received since `before` (a former `app.provider.count()`).
fn sent_since(app: &TestApp, before: usize) -> Vec<Recorded> {
    app.provider.requests().split_off(before)
}

/// The one request the provider received since `before`, asserting that it went to `path`.
fn one_sent_since(app: &TestApp, before: usize, path: &str) -> Recorded {
    let mut sent = sent_since(app, before);
    let paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, vec![path], "expected exactly one request to {path}");
    sent.remove(0)
}

/// The authenticator app of a TOTP enrolment.
struct Authenticator {
    totp: TOTP,
}

impl Authenticator {
    fn new(secret: &str) -> Authenticator {
        let bytes = Secret::Encoded(secret.to_string())
            .to_bytes()
            .unwrap_or_else(|e| panic!("the secret {secret:?} is not base32: {e:?}"));
        Authenticator {
            totp: TOTP::new_unchecked(
                Algorithm::SHA1,
                6,
                1,
                30,
                bytes,
                Some(ISSUER.to_string()),
                "user".to_string(),
            ),
        }
    }

    /// The code the app shows now.
    fn now(&self, app: &TestApp) -> String {
        self.totp.generate(app.now())
    }

    /// The code of the next 30 s step (the clock is moved there): a step no earlier code used.
    fn next(&self, app: &TestApp) -> String {
        app.advance_clock(30);
        self.now(app)
    }
}

async fn post(app: &TestApp, username: &str, route: &str, body: Option<&Value>) -> TestResponse {
    app.post(&format!("/{username}/mfa/{route}"), &app.personal(), body)
        .await
}

async fn activate(app: &TestApp, username: &str, body: Value) -> TestResponse {
    app.activate(username, &app.personal(), &body).await
}

async fn challenge_with_body(
    app: &TestApp,
    username: &str,
    mfa_token: &str,
    body: Value,
) -> TestResponse {
    app.post(
        &format!("/{username}/mfa/challenge"),
        &Auth::raw(mfa_token),
        Some(&body),
    )
    .await
}

/// Asserts `200 {"message": VERIFY_MESSAGE, "method": method}`.
fn assert_challenged(response: &TestResponse, method: &str) {
    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({"message": VERIFY_MESSAGE, "method": method}),
        "{}",
        response.text
    );
}

/// Asserts `200 {"verified": true, "username": username}`.
fn assert_verified(response: &TestResponse, username: &str) {
    response.assert_status(200);
    assert_eq!(
        response.json,
        json!({"verified": true, "username": username}),
        "{}",
        response.text
    );
}

/// Asserts a confirm answer `200 {"recoveryCodes": [10], "methods": expected}`; returns the codes.
fn assert_confirmed(response: &TestResponse, expected: &[&str]) -> Vec<String> {
    let codes = response.recovery_codes();
    assert_eq!(
        response.json["methods"],
        methods(expected),
        "{}",
        response.text
    );
    codes
}

/// Login with MFA on: `302 {"mfaToken", "methods": expected}`, nothing sent; returns the token.
async fn login_expecting(app: &TestApp, username: &str, expected: &[&str]) -> String {
    let before = app.provider.count();
    let login = app.login(username).await;
    let token = login.mfa_token();
    assert_eq!(
        login.json["methods"],
        methods(expected),
        "login: {}",
        login.text
    );
    assert_eq!(app.provider.count(), before, "a login sends nothing");
    token
}

/// `GET /{u}/mfa` lists exactly these methods.
async fn assert_status_lists(app: &TestApp, username: &str, expected: &[&str]) -> Value {
    let status = app.status(username, &app.personal()).await;
    status.assert_status(200);
    assert_eq!(status.json["enabled"], json!(true), "{}", status.text);
    assert_eq!(
        status.json["methods"],
        methods(expected),
        "GET /{username}/mfa: {}",
        status.text
    );
    status.json
}

/// Pryv-format activation (`{"phone"}`) and confirm: SMS enrolled; returns the recovery codes.
async fn enrol_sms(app: &TestApp, username: &str) -> Vec<String> {
    let before = app.provider.count();
    let token = activate(app, username, json!({"phone": phone_for(username)}))
        .await
        .mfa_token();
    let code = sms_code(&one_sent_since(app, before, "/sms"));
    assert_confirmed(&app.confirm(username, &token, &code).await, &["sms"])
}

/// `{"method": "totp", ...step_up}` then confirm with the authenticator's current code;
/// returns the authenticator and the new recovery codes, asserting `expected` methods.
async fn enrol_totp(
    app: &TestApp,
    username: &str,
    step_up: Value,
    expected: &[&str],
) -> (Authenticator, Vec<String>) {
    let before = app.provider.count();
    let mut body = json!({"method": "totp"});
    if let (Some(body), Value::Object(step_up)) = (body.as_object_mut(), step_up) {
        body.extend(step_up);
    }
    let activation = activate(app, username, body).await;
    let token = activation.mfa_token();
    assert_eq!(
        app.provider.count(),
        before,
        "a TOTP activation sends nothing"
    );
    let secret = activation.json["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("a TOTP activation answers its secret: {}", activation.text))
        .to_string();
    assert!(
        Regex::new("^[A-Z2-7]+$").unwrap().is_match(&secret),
        "base32 without padding: {secret:?}"
    );
    let uri = activation.json["uri"].as_str().unwrap_or_default();
    assert!(
        uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")),
        "the otpauth uri carries the secret: {uri:?}"
    );
    assert!(
        activation.json["qr"]
            .as_str()
            .is_some_and(|q| !q.is_empty()),
        "a QR code: {}",
        activation.text
    );
    let authenticator = Authenticator::new(&secret);
    let code = authenticator.now(app);
    let confirmed = app.confirm(username, &token, &code).await;
    let codes = assert_confirmed(&confirmed, expected);
    (authenticator, codes)
}

/// SMS (Pryv format) then TOTP (step-up: a recovery code of the SMS enrolment).
async fn enrol_sms_and_totp(
    app: &TestApp,
    username: &str,
) -> (Authenticator, Vec<String>, Vec<String>) {
    let first = enrol_sms(app, username).await;
    let (authenticator, second) =
        enrol_totp(app, username, code_step_up(&first[0]), &["sms", "totp"]).await;
    (authenticator, first, second)
}

/// `{"method": "email", "email", ...step_up}` then confirm with the emailed code; returns the
/// new recovery codes, asserting `expected` methods.
async fn enrol_email(
    app: &TestApp,
    username: &str,
    step_up: Value,
    expected: &[&str],
) -> Vec<String> {
    let before = app.provider.count();
    let mut body = json!({"method": "email", "email": email_for(username)});
    if let (Some(body), Value::Object(step_up)) = (body.as_object_mut(), step_up) {
        body.extend(step_up);
    }
    let token = activate(app, username, body).await.mfa_token();
    let email = one_sent_since(app, before, "/email");
    assert_eq!(email.body_json()["to"], json!(email_for(username)));
    let code = email_code(&email);
    assert_confirmed(&app.confirm(username, &token, &code).await, expected)
}

// ---------------------------------------------------------------------------------------------
// 1. Pryv's flow, unchanged

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pryv_format_flow_is_unchanged_when_channels_and_totp_are_configured() {
    let app = spawn_app(options()).await;

    let before = app.provider.count();
    let token = activate(&app, "alice", json!({"phone": phone_for("alice")}))
        .await
        .mfa_token();
    let code = sms_code(&one_sent_since(&app, before, "/sms"));
    assert_confirmed(&app.confirm("alice", &token, &code).await, &["sms"]);

    let mfa_token = login_expecting(&app, "alice", &["sms"]).await;
    let before = app.provider.count();
    let challenge = app.challenge("alice", &mfa_token).await;
    assert_challenged(&challenge, "sms");
    let code = sms_code(&one_sent_since(&app, before, "/sms"));

    assert_verified(&app.verify("alice", &mfa_token, &code).await, "alice");
    assert_status_lists(&app, "alice", &["sms"]).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Several methods

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_totp_after_sms_keeps_sms_and_replaces_the_recovery_codes() {
    let app = spawn_app(options()).await;

    let (_, old, new) = enrol_sms_and_totp(&app, "alice").await;

    let status = assert_status_lists(&app, "alice", &["sms", "totp"]).await;
    assert_eq!(status["recoveryCodesRemaining"], json!(10), "{status}");
    assert!(
        old.iter().all(|c| !new.contains(c)),
        "a new set: {old:?} / {new:?}"
    );
    // An old code (not the one used by the step-up) is refused; MFA stays on.
    app.recover_with_code("alice", &old[1])
        .await
        .assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    login_expecting(&app, "alice", &["sms", "totp"]).await;
    // A new one works as a step-up.
    post(
        &app,
        "alice",
        "recovery-codes",
        Some(&code_step_up(&new[0])),
    )
    .await
    .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_without_a_body_goes_to_the_first_enrolled_method() {
    let app = spawn_app(options()).await;
    enrol_sms_and_totp(&app, "alice").await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp"]).await;

    let before = app.provider.count();
    let challenge = app.challenge("alice", &mfa_token).await;

    assert_challenged(&challenge, "sms");
    let code = sms_code(&one_sent_since(&app, before, "/sms"));
    assert_verified(&app.verify("alice", &mfa_token, &code).await, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_for_a_method_the_user_has_not_enrolled_is_refused() {
    let app = spawn_app(options()).await;
    enrol_sms_and_totp(&app, "alice").await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp"]).await;
    let before = app.provider.count();

    for method in ["email", "sms+email", "fax"] {
        let response =
            challenge_with_body(&app, "alice", &mfa_token, json!({"method": method})).await;

        response.assert_error(400, "invalid-parameters-format");
        assert!(
            !response.text.contains(&email_for("alice")),
            "{method}: {}",
            response.text
        );
    }
    assert_eq!(app.provider.count(), before, "nothing is sent");
    // The session still works.
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    assert_verified(&app.verify("alice", &mfa_token, &code).await, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_enrolled_with_a_totp_step_up_gets_challenges_of_its_own() {
    let app = spawn_app(options()).await;
    let (authenticator, _, _) = enrol_sms_and_totp(&app, "alice").await;

    let step_up = code_step_up(&authenticator.next(&app));
    enrol_email(&app, "alice", step_up, &["sms", "totp", "email"]).await;

    assert_status_lists(&app, "alice", &["sms", "totp", "email"]).await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp", "email"]).await;
    let before = app.provider.count();
    let challenge =
        challenge_with_body(&app, "alice", &mfa_token, json!({"method": "email"})).await;
    assert_challenged(&challenge, "email");
    let email = one_sent_since(&app, before, "/email");
    assert_eq!(email.body_json()["to"], json!(email_for("alice")));
    assert_verified(
        &app.verify("alice", &mfa_token, &email_code(&email)).await,
        "alice",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_code_verifies_a_session_whose_challenge_went_by_sms() {
    let app = spawn_app(options()).await;
    let (authenticator, _, _) = enrol_sms_and_totp(&app, "alice").await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp"]).await;
    let before = app.provider.count();
    assert_challenged(&app.challenge("alice", &mfa_token).await, "sms");
    let sms = sms_code(&one_sent_since(&app, before, "/sms"));

    let verified = app
        .verify("alice", &mfa_token, &authenticator.next(&app))
        .await;

    assert_verified(&verified, "alice");
    // The session is used up: the SMS code does nothing more on it.
    app.verify("alice", &mfa_token, &sms)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_challenge_sends_nothing_and_the_authenticator_code_verifies() {
    let app = spawn_app(options()).await;
    let (authenticator, _, _) = enrol_sms_and_totp(&app, "alice").await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp"]).await;
    let before = app.provider.count();

    let challenge = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "totp"})).await;

    assert_challenged(&challenge, "totp");
    assert_eq!(
        app.provider.count(),
        before,
        "a TOTP challenge sends nothing"
    );
    assert_verified(
        &app.verify("alice", &mfa_token, &authenticator.next(&app))
            .await,
        "alice",
    );
}

// ---------------------------------------------------------------------------------------------
// 3. A newer challenge replaces the session's code

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_of_an_older_challenge_is_refused_after_a_newer_one_on_another_channel() {
    let app = spawn_app(options()).await;
    let first = enrol_sms(&app, "alice").await;
    enrol_email(&app, "alice", code_step_up(&first[0]), &["sms", "email"]).await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "email"]).await;

    let before = app.provider.count();
    assert_challenged(&app.challenge("alice", &mfa_token).await, "sms");
    let sms = sms_code(&one_sent_since(&app, before, "/sms"));
    let before = app.provider.count();
    let email = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "email"})).await;
    assert_challenged(&email, "email");
    let email = email_code(&one_sent_since(&app, before, "/email"));
    assert_ne!(
        sms, email,
        "the same code twice (one chance in a million): rerun"
    );

    app.verify("alice", &mfa_token, &sms)
        .await
        .assert_error(400, "invalid-code");
    assert_verified(&app.verify("alice", &mfa_token, &email).await, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_of_an_older_sms_challenge_is_refused_after_a_newer_one() {
    let app = spawn_app(options()).await;
    enrol_sms_and_totp(&app, "alice").await;
    let mfa_token = login_expecting(&app, "alice", &["sms", "totp"]).await;

    let before = app.provider.count();
    assert_challenged(&app.challenge("alice", &mfa_token).await, "sms");
    let older = sms_code(&one_sent_since(&app, before, "/sms"));
    let before = app.provider.count();
    let newer = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "sms"})).await;
    assert_challenged(&newer, "sms");
    let newer = sms_code(&one_sent_since(&app, before, "/sms"));
    assert_ne!(
        older, newer,
        "the same code twice (one chance in a million): rerun"
    );

    app.verify("alice", &mfa_token, &older)
        .await
        .assert_error(400, "invalid-code");
    assert_verified(&app.verify("alice", &mfa_token, &newer).await, "alice");
}

// ---------------------------------------------------------------------------------------------
// 4. Removing one method

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_one_method_keeps_the_others_and_removing_the_last_turns_mfa_off() {
    let app = spawn_app(options()).await;
    let (authenticator, _, codes) = enrol_sms_and_totp(&app, "alice").await;

    let removed = post(
        &app,
        "alice",
        "deactivate",
        Some(&json!({"method": "sms", "code": codes[0]})),
    )
    .await;

    removed.assert_status(200);
    assert_eq!(
        removed.json,
        json!({"message": METHOD_REMOVED, "methods": ["totp"]}),
        "{}",
        removed.text
    );
    assert_status_lists(&app, "alice", &["totp"]).await;
    let mfa_token = login_expecting(&app, "alice", &["totp"]).await;
    let before = app.provider.count();
    let sms = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "sms"})).await;
    sms.assert_error(400, "invalid-parameters-format");
    // The preferred method is now the authenticator: nothing is sent.
    assert_challenged(&app.challenge("alice", &mfa_token).await, "totp");
    assert_eq!(app.provider.count(), before, "nothing is sent");
    assert_verified(
        &app.verify("alice", &mfa_token, &authenticator.next(&app))
            .await,
        "alice",
    );

    // The last method, with a TOTP step-up.
    let last = post(
        &app,
        "alice",
        "deactivate",
        Some(&json!({"method": "totp", "code": authenticator.next(&app)})),
    )
    .await;

    // The contract leaves this answer open: `{"message": "MFA deactivated."}` (what a
    // deactivate without `method` says) or the removal's own, with no method left.
    last.assert_status(200);
    if let Some(remaining) = last.json.get("methods") {
        assert_eq!(remaining, &json!([]), "{}", last.text);
    }
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, json!({"mfa": "inactive"}));
    let status = app.status("alice", &app.personal()).await;
    status.assert_status(200);
    assert_eq!(status.json["enabled"], json!(false), "{}", status.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivate_without_a_method_still_turns_every_method_off() {
    let app = spawn_app(options()).await;
    let (_, _, codes) = enrol_sms_and_totp(&app, "alice").await;

    let response = post(&app, "alice", "deactivate", Some(&code_step_up(&codes[3]))).await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"message": DEACTIVATED}));
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, json!({"mfa": "inactive"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_method_needs_a_step_up() {
    let app = spawn_app(options()).await;
    enrol_sms_and_totp(&app, "alice").await;

    let response = post(&app, "alice", "deactivate", Some(&json!({"method": "sms"}))).await;

    response.assert_error(400, "step-up-required");
    assert_status_lists(&app, "alice", &["sms", "totp"]).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Dual channel: one code on SMS and email

/// `{"method": "sms+email", "phone", "email"}`: asserts one request to `/sms` and one to
/// `/email` with the same code; returns the mfaToken and the code.
async fn activate_dual(app: &TestApp, username: &str) -> (String, String) {
    let before = app.provider.count();
    let token = activate(
        app,
        username,
        json!({"method": "sms+email", "phone": phone_for(username), "email": email_for(username)}),
    )
    .await
    .mfa_token();
    let (sms, email) = dual_codes_since(app, before);
    (token, sms_or_same(sms, email))
}

/// The two requests of a dual send since `before`: one to `/sms`, one to `/email`; their codes.
fn dual_codes_since(app: &TestApp, before: usize) -> (String, String) {
    let sent = sent_since(app, before);
    let mut paths: Vec<&str> = sent.iter().map(|r| r.path.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["/email", "/sms"],
        "a dual send: one SMS and one email"
    );
    let sms = sent.iter().find(|r| r.path == "/sms").unwrap();
    let email = sent.iter().find(|r| r.path == "/email").unwrap();
    (sms_code(sms), email_code(email))
}

fn sms_or_same(sms: String, email: String) -> String {
    assert_eq!(sms, email, "the SMS and the email carry the same code");
    sms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_activation_sends_one_code_on_both_channels_and_confirm_enrols_both() {
    let app = spawn_app(options()).await;

    let (token, code) = activate_dual(&app, "alice").await;
    let email = app.provider.requests_to("/email").pop().unwrap();
    assert_eq!(email.body_json()["to"], json!(email_for("alice")));
    let sms = app.provider.requests_to("/sms").pop().unwrap();
    assert_eq!(sms.query_value("to"), Some(phone_for("alice")));

    assert_confirmed(
        &app.confirm("alice", &token, &code).await,
        &["sms", "email"],
    );
    assert_status_lists(&app, "alice", &["sms", "email"]).await;
    login_expecting(&app, "alice", &["sms", "email"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_challenge_sends_one_new_code_on_both_and_either_copy_verifies_once() {
    let app = spawn_app(options()).await;
    let (token, enrolment_code) = activate_dual(&app, "alice").await;
    assert_confirmed(
        &app.confirm("alice", &token, &enrolment_code).await,
        &["sms", "email"],
    );
    let mfa_token = login_expecting(&app, "alice", &["sms", "email"]).await;

    let before = app.provider.count();
    let challenge =
        challenge_with_body(&app, "alice", &mfa_token, json!({"method": "sms+email"})).await;

    assert_challenged(&challenge, "sms+email");
    let (sms, email) = dual_codes_since(&app, before);
    let code = sms_or_same(sms, email);
    assert_verified(&app.verify("alice", &mfa_token, &code).await, "alice");
    // Once: the session is used up.
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_error(403, "forbidden");
    // And another login's session is not verified by that code, challenged or not.
    let second = login_expecting(&app, "alice", &["sms", "email"]).await;
    app.verify("alice", &second, &code)
        .await
        .assert_error(400, "invalid-code");
    let before = app.provider.count();
    challenge_with_body(&app, "alice", &second, json!({"method": "sms+email"}))
        .await
        .assert_status(200);
    let (sms, email) = dual_codes_since(&app, before);
    let fresh = sms_or_same(sms, email);
    if fresh != code {
        app.verify("alice", &second, &code)
            .await
            .assert_error(400, "invalid-code");
    }
    assert_verified(&app.verify("alice", &second, &fresh).await, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sms_copy_of_a_dual_challenge_verifies_too() {
    let app = spawn_app(options()).await;
    let (token, code) = activate_dual(&app, "alice").await;
    app.confirm("alice", &token, &code).await.recovery_codes();
    let mfa_token = login_expecting(&app, "alice", &["sms", "email"]).await;

    let before = app.provider.count();
    challenge_with_body(&app, "alice", &mfa_token, json!({"method": "sms+email"}))
        .await
        .assert_status(200);
    let (sms, _) = dual_codes_since(&app, before);

    assert_verified(&app.verify("alice", &mfa_token, &sms).await, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_activation_needs_the_data_of_both_channels() {
    let app = spawn_app(options()).await;

    for (body, field) in [
        (
            json!({"method": "sms+email", "phone": phone_for("alice")}),
            "email",
        ),
        (
            json!({"method": "sms+email", "email": email_for("alice")}),
            "phone",
        ),
        (
            json!({"method": "email", "phone": phone_for("alice")}),
            "email",
        ),
        (
            json!({"method": "sms", "email": email_for("alice")}),
            "phone",
        ),
    ] {
        let response = activate(&app, "alice", body.clone()).await;

        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(
            message.contains(field),
            "{body}: the message names {field}: {message:?}"
        );
        assert!(
            !message.contains(&phone_for("alice")) && !message.contains(&email_for("alice")),
            "no message repeats a phone number or an address: {message:?}"
        );
    }
    assert_eq!(app.provider.count(), 0, "nothing is sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_send_with_a_channel_in_challenge_verify_mode_is_refused() {
    let app = spawn_app(options_with(email_channel_challenge_verify())).await;

    let dual = activate(
        &app,
        "alice",
        json!({"method": "sms+email", "phone": phone_for("alice"), "email": email_for("alice")}),
    )
    .await;

    let message = dual.assert_error(400, "invalid-parameters-format");
    assert!(message.contains("method"), "{message:?}");
    assert_eq!(app.provider.count(), 0, "nothing is sent");

    // Each channel alone works; a dual challenge is refused too.
    let first = enrol_sms(&app, "alice").await;
    let before = app.provider.count();
    let token = activate(
        &app,
        "alice",
        json!({"method": "email", "email": email_for("alice"), "code": first[0]}),
    )
    .await
    .mfa_token();
    one_sent_since(&app, before, "/email-challenge");
    assert_confirmed(
        &app.confirm("alice", &token, PROVIDER_VALID_CODE).await,
        &["sms", "email"],
    );
    let mfa_token = login_expecting(&app, "alice", &["sms", "email"]).await;
    let before = app.provider.count();
    let dual = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "sms+email"})).await;
    let message = dual.assert_error(400, "invalid-parameters-format");
    assert!(message.contains("method"), "{message:?}");
    assert_eq!(app.provider.count(), before, "nothing is sent");
    let email = challenge_with_body(&app, "alice", &mfa_token, json!({"method": "email"})).await;
    assert_challenged(&email, "email");
    one_sent_since(&app, before, "/email-challenge");
    assert_verified(
        &app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await,
        "alice",
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Unknown methods

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_with_an_unknown_method_is_refused_naming_method() {
    let app = spawn_app(options()).await;

    let response = activate(
        &app,
        "alice",
        json!({"method": "fax", "phone": phone_for("alice")}),
    )
    .await;

    let message = response.assert_error(400, "invalid-parameters-format");
    assert!(message.contains("method"), "{message:?}");
    assert_eq!(app.provider.count(), 0, "nothing is sent");
    let status = app.status("alice", &app.personal()).await;
    assert_eq!(status.json["enabled"], json!(false), "{}", status.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_that_is_not_a_string_gets_the_same_answer_on_every_route() {
    let app = spawn_app(options()).await;
    enrol_sms(&app, "alice").await;
    let mfa_token = app.login("alice").await.mfa_token();
    let sent = app.provider.count();
    let expected = "Invalid parameter: method: must be a string.";

    for method in [
        json!(5),
        json!(["sms"]),
        json!({"name": "sms"}),
        json!(true),
    ] {
        let body = json!({"method": method, "phone": phone_for("alice")});
        activate(&app, "bob", body.clone())
            .await
            .assert_error_message(400, "invalid-parameters-format", expected);
        challenge_with_body(&app, "alice", &mfa_token, body.clone())
            .await
            .assert_error_message(400, "invalid-parameters-format", expected);
        post(&app, "alice", "deactivate", Some(&body))
            .await
            .assert_error_message(400, "invalid-parameters-format", expected);
    }
    assert_eq!(app.provider.count(), sent, "nothing is sent");
    assert_status_lists(&app, "alice", &["sms"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_with_a_channel_that_is_not_configured_is_refused_naming_method() {
    let app = spawn_app(AppOptions::standalone_single().with_user_data(json!({
        "required": [],
        "allowed": ["phone", "email", "language", "message"],
        "phone_fields": ["phone"],
    })))
    .await;

    for body in [
        json!({"method": "email", "email": email_for("alice")}),
        json!({"method": "sms+email", "phone": phone_for("alice"), "email": email_for("alice")}),
    ] {
        let response = activate(&app, "alice", body.clone()).await;

        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("method"), "{body}: {message:?}");
    }
    assert_eq!(app.provider.count(), 0, "nothing is sent");
}

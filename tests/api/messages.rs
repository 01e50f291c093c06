//! Message texts, languages and the email channel, as a user sees them: the SMS text in the
//! user's language (exact tag, base language, `mfa.messages.default_language`), `app_name`,
//! Pryv's user-data `message`; the email channel (subject, text, HTML; addresses checked at
//! activate; one destination whatever its case); `render` and `check` on a preset (masked
//! secrets, GSM-7/UCS-2 and segment warnings); the admin preview's `message` and `sms`; and
//! presets in the `templates/providers/` folder beside platform.yml.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

use crate::fakes::Recorded;
use crate::helpers::{
    admin_auth, code_in, config_value, phone_for, spawn_app, spawn_daemon, strip_ansi, to_yaml,
    AppOptions, Stop, TestApp, TestResponse, PROVIDER, UPSTREAM,
};

const FRENCH: &str = "Votre code de vérification";
const GERMAN: &str = "Ihr mfa-bridge-Bestätigungscode lautet";
const ENGLISH: &str = "Your mfa-bridge verification code is";

/// A single endpoint that sends the message text as it is: `POST {PROVIDER}/sms`,
/// `{"to": "{{ phone }}", "text": "{{ message }}"}`.
fn sms_endpoints() -> Value {
    json!({
        "single": {
            "url": format!("{PROVIDER}/sms"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
        }
    })
}

fn sms_options() -> AppOptions {
    AppOptions::standalone_single()
        .with_endpoints(sms_endpoints())
        .with_user_data(json!({
            "required": ["phone"],
            "allowed": ["phone", "language", "message"],
        }))
}

/// The email channel: `POST {PROVIDER}/email` with the address, subject, text and HTML.
fn email_endpoints() -> Value {
    json!({
        "channel": "email",
        "single": {
            "url": format!("{PROVIDER}/email"),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ email }}","subject":"{{ subject }}","text":"{{ message }}","html":"{{ html }}"}"#,
        }
    })
}

/// Email channel, user data as the README writes it: `{ required: [email], allowed: [email,
/// language] }`.
fn email_options() -> AppOptions {
    AppOptions::standalone_single()
        .with_endpoints(email_endpoints())
        .with_user_data(json!({"required": ["email"], "allowed": ["email", "language"]}))
}

/// The `text` field of the JSON body the provider received.
fn text_of(request: &Recorded) -> String {
    request.body_json()["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text in {}", request.body_text()))
        .to_string()
}

async fn activate_with(app: &TestApp, username: &str, data: Value) -> (String, Recorded) {
    app.activate_recorded(username, &data).await
}

/// Activates `username` with a phone and this `language`; returns the mfaToken and the text
/// the provider received.
async fn sms_text_for(app: &TestApp, username: &str, language: &str) -> (String, String) {
    let (token, request) = activate_with(
        app,
        username,
        json!({"phone": phone_for(username), "language": language}),
    )
    .await;
    (token, text_of(&request))
}

/// The binary on `options`, then restarted on the same platform.yml after `edit` and with
/// `templates` (path under `templates/`, text) written beside it: for what [`AppOptions`]
/// cannot say (`mfa.messages`, local templates).
async fn daemon_with(
    options: AppOptions,
    edit: impl FnOnce(&mut Value),
    templates: &[(&str, &str)],
) -> TestApp {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    // One answered request first: the binary logs `listening` before it installs its SIGTERM
    // handler, and a SIGTERM in between kills it by the signal, without a clean exit.
    app.status("nobody", &app.personal())
        .await
        .assert_status(200);
    for (path, text) in templates {
        let file = app.templates_dir().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).expect("create the templates folder");
        std::fs::write(&file, text).expect("write a local template");
    }
    let mut config = config_value(&options, &app.storage_path);
    edit(&mut config);
    std::fs::write(
        app.config_path(),
        to_yaml(&config, &app.provider.base_url(), &app.upstream.base_url()),
    )
    .expect("write platform.yml");
    app.options = options;
    app.restart(Stop::Terminate).await;
    app
}

// ---------------------------------------------------------------------------------------------
// 1. The SMS text in the user's language

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_french_user_receives_the_french_text_whose_code_confirms() {
    let app = spawn_app(sms_options()).await;

    let (token, text) = sms_text_for(&app, "alice", "fr").await;

    assert!(text.starts_with(FRENCH), "French expected, got {text:?}");
    assert!(
        text.contains("mfa-bridge"),
        "the default app_name: {text:?}"
    );
    assert!(text.contains("5 minutes"), "ttl_minutes of 300 s: {text:?}");
    app.confirm("alice", &token, &code_in(&text))
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regional_tag_falls_back_to_its_base_language_whatever_its_case_and_separator() {
    let app = spawn_app(sms_options()).await;

    for (username, language) in [("alice", "de-CH"), ("bob", "de_ch"), ("carol", "DE")] {
        let (token, text) = sms_text_for(&app, username, language).await;

        assert!(
            text.starts_with(GERMAN),
            "German expected for {language:?}, got {text:?}"
        );
        app.confirm(username, &token, &code_in(&text))
            .await
            .recovery_codes();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_without_a_text_and_no_language_at_all_get_english() {
    let app = spawn_app(sms_options()).await;

    let (_, unknown) = sms_text_for(&app, "alice", "pt-BR").await;
    let (_, none) = activate_with(&app, "bob", json!({"phone": phone_for("bob")})).await;
    let none = text_of(&none);

    assert!(
        unknown.starts_with(ENGLISH),
        "English expected: {unknown:?}"
    );
    assert!(none.starts_with(ENGLISH), "English expected: {none:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_messages_sets_the_default_language_and_the_app_name() {
    let app = daemon_with(
        sms_options(),
        |config| {
            config["mfa"]["messages"] = json!({"default_language": "it", "app_name": "Pryv Lab"});
        },
        &[],
    )
    .await;

    let (token, unknown) = sms_text_for(&app, "alice", "pt-BR").await;
    let (_, french) = sms_text_for(&app, "bob", "fr").await;

    assert!(
        unknown.starts_with("Il tuo codice di verifica Pryv Lab è"),
        "Italian with the app name expected: {unknown:?}"
    );
    assert!(!unknown.contains("mfa-bridge"), "{unknown:?}");
    assert!(
        french.starts_with("Votre code de vérification Pryv Lab est"),
        "a language with a text keeps it, with the app name: {french:?}"
    );
    app.confirm("alice", &token, &code_in(&unknown))
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_challenge_is_sent_in_the_enrolled_users_language() {
    let app = spawn_app(sms_options()).await;
    let (token, text) = sms_text_for(&app, "alice", "fr").await;
    app.confirm("alice", &token, &code_in(&text))
        .await
        .recovery_codes();

    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let challenge = text_of(&app.provider.last());

    assert!(
        challenge.starts_with(FRENCH),
        "the challenge must be French too: {challenge:?}"
    );
    let verified = app.verify("alice", &mfa_token, &code_in(&challenge)).await;
    verified.assert_status(200);
    assert_eq!(verified.json["verified"], json!(true), "{}", verified.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_data_message_with_the_code_wins_over_the_texts_as_in_pryv() {
    let app = spawn_app(sms_options()).await;

    let (token, request) = activate_with(
        &app,
        "alice",
        json!({
            "phone": phone_for("alice"),
            "language": "fr",
            "message": "Your Pryv Lab MFA code is: {{ code }}",
        }),
    )
    .await;
    let text = text_of(&request);

    let code = code_in(&text);
    assert_eq!(text, format!("Your Pryv Lab MFA code is: {code}"));
    app.confirm("alice", &token, &code).await.recovery_codes();
    // And at login: still the user's own message.
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let challenge = text_of(&app.provider.last());
    let code = code_in(&challenge);
    assert_eq!(challenge, format!("Your Pryv Lab MFA code is: {code}"));
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locale_and_message_type_follow_the_chosen_text() {
    let app = spawn_app(sms_options().with_endpoints(json!({"single": {
        "url": format!("{PROVIDER}/sms?locale={{{{ locale }}}}&type={{{{ message_type }}}}"),
        "method": "POST",
        "headers": {"content-type": "application/json"},
        "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
    }})))
    .await;

    for (username, language, locale, kind) in [
        ("alice", "de-CH", "de", "text"),
        ("bob", "fr", "fr", "text"),
        ("carol", "es", "es", "unicode"),
        ("dave", "pt-BR", "en", "text"),
    ] {
        let (_, request) = activate_with(
            &app,
            username,
            json!({"phone": phone_for(username), "language": language}),
        )
        .await;

        assert_eq!(
            request.query_value("locale").as_deref(),
            Some(locale),
            "{language}: {}",
            request.uri
        );
        assert_eq!(
            request.query_value("type").as_deref(),
            Some(kind),
            "{language}: {}",
            request.uri
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_message_file_adds_a_language_without_a_restart() {
    let app = spawn_daemon(sms_options(), &[]).await;
    let (_, before) = sms_text_for(&app, "alice", "pt-BR").await;
    assert!(before.starts_with(ENGLISH), "{before:?}");

    let file = app.templates_dir().join("messages/sms.pt.hbs");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        "O seu código {{ app_name }} é {{ code }}. Expira em {{ ttl_minutes }} minutos.",
    )
    .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut n = 0;
    let (token, text, username) = loop {
        n += 1;
        let username = format!("user{n}");
        let (token, text) = sms_text_for(&app, &username, "pt-BR").await;
        if !text.starts_with(ENGLISH) {
            break (token, text, username);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sms.pt.hbs beside platform.yml not picked up within 10 s:\n{}",
            app.daemon_log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    assert!(
        text.starts_with("O seu código mfa-bridge é"),
        "the local Portuguese text: {text:?}"
    );
    app.confirm(&username, &token, &code_in(&text))
        .await
        .recovery_codes();
}

// ---------------------------------------------------------------------------------------------
// 2. The email channel

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_carries_subject_text_and_html_with_the_code_that_confirms() {
    let app = spawn_app(email_options()).await;

    let (token, request) =
        activate_with(&app, "alice", json!({"email": "alice@example.com"})).await;

    assert_eq!(request.path, "/email");
    let body = request.body_json();
    assert_eq!(body["to"], json!("alice@example.com"));
    let subject = body["subject"].as_str().unwrap_or_default();
    let text = body["text"].as_str().unwrap_or_default();
    let html = body["html"].as_str().unwrap_or_default();
    assert_eq!(subject, "Your mfa-bridge verification code", "{body}");
    assert!(
        text.starts_with("Your mfa-bridge verification code is:"),
        "the text body, without its Subject line: {text:?}"
    );
    assert!(!text.contains("Subject:"), "{text:?}");
    let code = code_in(text);
    assert!(html.contains("<p"), "an HTML body: {html:?}");
    assert!(html.contains(&code), "the HTML carries the code: {html:?}");
    app.confirm("alice", &token, &code).await.recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_in_french_has_a_french_subject_and_an_escaped_text_as_html() {
    let app = spawn_app(email_options()).await;

    let (token, request) = activate_with(
        &app,
        "alice",
        json!({"email": "alice@example.com", "language": "fr"}),
    )
    .await;

    let body = request.body_json();
    assert_eq!(
        body["subject"],
        json!("Votre code de vérification mfa-bridge"),
        "{body}"
    );
    let text = body["text"].as_str().unwrap_or_default();
    assert!(text.starts_with(FRENCH), "{text:?}");
    // No email.fr.html.hbs ships: the HTML is the French text, HTML-escaped (`n'avez`).
    let html = body["html"].as_str().unwrap_or_default();
    let code = code_in(text);
    assert!(html.contains(&code), "{html:?}");
    assert!(html.contains(FRENCH), "{html:?}");
    assert!(
        !html.contains("n'avez"),
        "the apostrophe is escaped in HTML: {html:?}"
    );
    app.confirm("alice", &token, &code).await.recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_email_address_is_refused_naming_the_field_and_nothing_is_sent() {
    let app = spawn_app(email_options()).await;

    for address in [
        "not-an-address",
        "a@b",
        "alice@example.com\r\nBcc: mallory@example.com",
        "alice@example.com\n",
        "alice @example.com",
    ] {
        let response = app
            .activate("alice", &app.personal(), &json!({"email": address}))
            .await;

        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(
            message.contains("email"),
            "the message names the field for {address:?}: {message:?}"
        );
        assert!(
            !message.contains("mallory"),
            "the message does not repeat the value: {message:?}"
        );
    }
    assert_eq!(app.provider.count(), 0, "nothing is sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_is_checked_for_length_and_an_idn_domain_only_in_xn_form() {
    let app = spawn_app(email_options()).await;
    // 64 + 1 + 63 + 1 + 63 + 1 + 57 + 4 = 254 characters.
    let longest = format!(
        "{}@{}.{}.{}.com",
        "a".repeat(64),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(57)
    );
    assert_eq!(longest.len(), 254);
    let too_long = longest.replacen('a', "aa", 1);

    for (username, address) in [("alice", "alice@xn--exmple-cua.com"), ("bob", &longest)] {
        activate_with(&app, username, json!({"email": address})).await;
    }
    for address in ["alice@exämple.com", &too_long] {
        let response = app
            .activate("carol", &app.personal(), &json!({"email": address}))
            .await;
        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("email"), "{message:?}");
    }
    assert_eq!(app.provider.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_destination_limit_counts_an_address_whatever_its_case() {
    let app =
        spawn_app(email_options().with_send_limits(json!({"per_destination_per_day": 1}))).await;

    activate_with(&app, "alice", json!({"email": "Alice@Example.com"})).await;
    let again = app
        .activate(
            "bob",
            &app.personal(),
            &json!({"email": "alice@example.com"}),
        )
        .await;

    again.remaining_delay();
    assert_eq!(app.provider.count(), 1, "the second send is refused");
    // Another address is another destination.
    activate_with(&app, "carol", json!({"email": "carol@example.com"})).await;
}

// ---------------------------------------------------------------------------------------------
// 3. `render` and `check` on a preset

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN_VAR: &str = "MFA_BRIDGE_TEST_TWILIO_AUTH_TOKEN";
const TOKEN_VALUE: &str = "twilio-secret-5e8a13";

/// A twilio-sms configuration (auth token as `${TOKEN_VAR}`) written in `dir`, with these
/// local templates beside it.
fn twilio_config(dir: &Path, templates: &[(&str, &str)]) -> std::path::PathBuf {
    let storage = dir.join("store");
    std::fs::create_dir_all(&storage).unwrap();
    let options = AppOptions::standalone_single()
        .with_user_data(json!({"required": ["phone"], "allowed": ["phone", "language"]}))
        .with_endpoints(json!({
            "preset": "twilio-sms",
            "vars": {
                "account_sid": TWILIO_SID,
                "auth_token": format!("${{{TOKEN_VAR}}}"),
                "from": "+15005550006",
            },
        }));
    let config = config_value(&options, &storage);
    for (path, text) in templates {
        let file = dir.join("templates").join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    let path = dir.join("platform.yml");
    std::fs::write(&path, to_yaml(&config, PROVIDER, UPSTREAM)).unwrap();
    path
}

fn bin() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command.env("NO_COLOR", "1").env(TOKEN_VAR, TOKEN_VALUE);
    command
}

struct Run {
    output: Output,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], config: &Path) -> Run {
    let output = bin()
        .arg(args[0])
        .arg("--config")
        .arg(config)
        .args(&args[1..])
        .output()
        .expect("run mfa-bridge");
    let stdout = strip_ansi(&String::from_utf8_lossy(&output.stdout));
    let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
    Run {
        output,
        stdout,
        stderr,
    }
}

/// `render --endpoint single --data DATA`: asserts success, one JSON document on stdout, the
/// secret nowhere; returns the document and stderr.
fn render(config: &Path, data: Value) -> (Value, String) {
    let run = run(
        &[
            "render",
            "--endpoint",
            "single",
            "--data",
            &data.to_string(),
        ],
        config,
    );
    assert!(
        run.output.status.success(),
        "render failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    let document: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("render prints one JSON document ({e}):\n{}", run.stdout));
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{TWILIO_SID}:{TOKEN_VALUE}"),
    );
    for secret in [TOKEN_VALUE, basic.as_str()] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the secret must be absent from all output:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    (document, run.stderr)
}

#[test]
fn render_of_a_preset_shows_the_masked_request_the_message_and_gsm7_for_english() {
    let dir = tempfile::tempdir().unwrap();
    let config = twilio_config(dir.path(), &[]);

    let (document, stderr) = render(&config, json!({"phone": "+41791231212"}));

    let request = &document["request"];
    assert_eq!(request["method"], json!("POST"), "{document}");
    assert_eq!(
        request["url"],
        json!(format!(
            "https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
        )),
        "{document}"
    );
    assert_eq!(
        request["headers"]["authorization"],
        json!("***"),
        "{document}"
    );
    let body = request["body"].as_str().unwrap_or_default();
    let form: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let text = form
        .iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no Body in {body:?}"));
    assert!(text.starts_with(ENGLISH), "{text:?}");
    assert!(text.contains("123456"), "the sample code: {text:?}");
    assert_eq!(document["message"]["language"], json!("en"), "{document}");
    assert_eq!(document["message"]["text"], json!(text), "{document}");
    assert_eq!(document["sms"]["encoding"], json!("GSM-7"), "{document}");
    assert_eq!(document["sms"]["segments"], json!(1), "{document}");
    assert_eq!(document["warnings"], json!([]), "{document}");
    assert!(
        !stderr.to_lowercase().contains("segment"),
        "no segment warning for one segment: {stderr}"
    );
}

#[test]
fn render_of_a_spanish_text_says_ucs2() {
    let dir = tempfile::tempdir().unwrap();
    let config = twilio_config(dir.path(), &[]);

    let (document, _) = render(&config, json!({"phone": "+41791231212", "language": "es"}));

    assert_eq!(document["message"]["language"], json!("es"), "{document}");
    let text = document["message"]["text"].as_str().unwrap_or_default();
    assert!(text.contains("código"), "{text:?}");
    assert_eq!(document["sms"]["encoding"], json!("UCS-2"), "{document}");
    assert_eq!(document["sms"]["segments"], json!(1), "{document}");
    assert_eq!(
        document["sms"]["units"],
        json!(text.chars().count()),
        "UCS-2 units of a BMP text are its characters: {document}"
    );
}

/// A local English SMS text of about 200 GSM-7 characters: two segments.
const LONG_SMS: &str = "Your {{ app_name }} verification code is {{ code }}. It expires in {{ ttl_minutes }} minutes. Never share it with anyone, not even with someone who says they work for us. We will never ask you for it by phone.";

#[test]
fn render_and_check_warn_about_a_local_text_longer_than_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = twilio_config(dir.path(), &[("messages/sms.en.hbs", LONG_SMS)]);

    let (document, stderr) = render(&config, json!({"phone": "+41791231212"}));
    let check = run(&["check"], &config);

    let text = document["message"]["text"].as_str().unwrap_or_default();
    assert!(text.chars().count() > 160, "{text:?}");
    assert!(
        text.contains("We will never ask you"),
        "the local text: {text:?}"
    );
    assert_eq!(document["sms"]["encoding"], json!("GSM-7"), "{document}");
    assert_eq!(document["sms"]["segments"], json!(2), "{document}");
    let warnings = document["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().is_some_and(|w| w.contains("segment"))),
        "a segment warning in the document: {document}"
    );
    assert!(
        stderr.contains("segment"),
        "a segment warning on stderr: {stderr}"
    );

    let all = format!("{}{}", check.stdout, check.stderr);
    assert_eq!(check.output.status.code(), Some(0), "{all}");
    assert!(all.contains("configuration is valid"), "{all}");
    assert!(all.contains("twilio-sms"), "check names the preset: {all}");
    assert!(all.contains("segment"), "check warns about segments: {all}");
    assert!(!all.contains(TOKEN_VALUE), "{all}");
}

#[test]
fn check_of_a_preset_with_the_shipped_texts_names_it_without_a_segment_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = twilio_config(dir.path(), &[]);

    let check = run(&["check"], &config);

    let all = format!("{}{}", check.stdout, check.stderr);
    assert_eq!(check.output.status.code(), Some(0), "{all}");
    assert!(all.contains("configuration is valid"), "{all}");
    assert!(all.contains("twilio-sms"), "{all}");
    assert!(!all.contains("segment"), "{all}");
}

// ---------------------------------------------------------------------------------------------
// 4. The admin preview

async fn preview(app: &TestApp, data: Value) -> TestResponse {
    let response = app
        .admin(
            "POST",
            "/api/preview",
            &admin_auth(),
            Some(&json!({"endpoint": "single", "data": data})),
        )
        .await;
    response.assert_status(200);
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_shows_the_message_and_its_sms_encoding() {
    let app = spawn_daemon(sms_options().with_admin(), &[]).await;

    let french = preview(&app, json!({"phone": "+41791231212", "language": "fr"})).await;
    let spanish = preview(&app, json!({"phone": "+41791231212", "language": "es"})).await;

    let message = &french.json["message"];
    assert_eq!(message["language"], json!("fr"), "{}", french.text);
    let text = message["text"].as_str().unwrap_or_default();
    assert!(text.starts_with(FRENCH), "{}", french.text);
    assert!(text.contains("123456"), "{}", french.text);
    let body: Value =
        serde_json::from_str(french.json["request"]["body"].as_str().unwrap_or("null"))
            .unwrap_or(Value::Null);
    assert_eq!(
        body["text"],
        json!(text),
        "the request carries it: {}",
        french.text
    );
    // é is in the GSM alphabet.
    assert_eq!(
        french.json["sms"]["encoding"],
        json!("GSM-7"),
        "{}",
        french.text
    );
    assert_eq!(
        french.json["sms"]["units"],
        json!(text.chars().count()),
        "{}",
        french.text
    );
    assert_eq!(french.json["sms"]["segments"], json!(1), "{}", french.text);
    assert_eq!(
        spanish.json["message"]["language"],
        json!("es"),
        "{}",
        spanish.text
    );
    assert_eq!(
        spanish.json["sms"]["encoding"],
        json!("UCS-2"),
        "{}",
        spanish.text
    );
    assert_eq!(app.provider.count(), 0, "a preview sends nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_of_an_email_shows_its_subject_and_html() {
    let app = spawn_daemon(email_options().with_admin(), &[]).await;

    let response = preview(&app, json!({"email": "alice@example.com"})).await;

    let message = &response.json["message"];
    assert_eq!(message["language"], json!("en"), "{}", response.text);
    assert_eq!(
        message["subject"],
        json!("Your mfa-bridge verification code"),
        "{}",
        response.text
    );
    let html = message["html"].as_str().unwrap_or_default();
    assert!(html.contains("<p"), "{}", response.text);
    assert!(html.contains("123456"), "{}", response.text);
    let text = message["text"].as_str().unwrap_or_default();
    assert!(text.contains("123456"), "{}", response.text);
    assert!(!text.contains("Subject:"), "{}", response.text);
    assert_eq!(app.provider.count(), 0, "a preview sends nothing");
}

// ---------------------------------------------------------------------------------------------
// 5. Presets in the templates/ folder beside platform.yml

fn shipped_preset(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("templates/providers/{name}.yml")),
    )
    .expect("a shipped preset")
}

fn phone_user_data() -> Value {
    json!({"required": ["phone"], "allowed": ["phone", "language"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_file_beside_platform_yml_is_usable_by_its_name() {
    let local = shipped_preset("generic-json-webhook").replace(
        "url: 'https://sms-gateway.invalid/send'",
        "url: 'https://sms-gateway.invalid/local-send'",
    );
    assert!(local.contains("/local-send"), "the copy was edited");
    let app = daemon_with(
        AppOptions::standalone_single()
            .with_user_data(phone_user_data())
            .with_endpoints(json!({"preset": "my-gateway", "base_url": PROVIDER})),
        |_| {},
        &[("providers/my-gateway.yml", &local)],
    )
    .await;

    let (token, request) = activate_with(
        &app,
        "alice",
        json!({"phone": phone_for("alice"), "language": "de"}),
    )
    .await;

    assert_eq!(request.path, "/local-send");
    let body = request.body_json();
    assert_eq!(body["to"], json!(phone_for("alice")));
    assert_eq!(body["username"], json!("alice"));
    let text = body["message"].as_str().unwrap_or_default();
    assert!(text.starts_with(GERMAN), "{text:?}");
    app.confirm("alice", &token, &code_in(text))
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_preset_with_a_shipped_name_replaces_the_shipped_one() {
    let local = shipped_preset("twilio-sms")
        .replace("/Messages.json'", "/LocalMessages.json'")
        .replace(
            "&Body={{ message }}",
            "&Body={{ message }}&Origin=local-copy",
        );
    assert!(local.contains("LocalMessages") && local.contains("local-copy"));
    let app = daemon_with(
        AppOptions::standalone_single()
            .with_user_data(phone_user_data())
            .with_endpoints(json!({
                "preset": "twilio-sms",
                "base_url": PROVIDER,
                "vars": {"account_sid": TWILIO_SID, "auth_token": "tok", "from": "+15005550006"},
            })),
        |_| {},
        &[("providers/twilio-sms.yml", &local)],
    )
    .await;
    app.provider.reply_on(
        &format!("/2010-04-01/Accounts/{TWILIO_SID}/LocalMessages.json"),
        crate::fakes::Reply::json(201, json!({"sid": "SM1", "status": "queued"})),
    );

    let (token, request) = activate_with(&app, "alice", json!({"phone": phone_for("alice")})).await;

    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TWILIO_SID}/LocalMessages.json")
    );
    let form = request.form_pairs();
    assert!(
        form.contains(&("Origin".to_string(), "local-copy".to_string())),
        "{form:?}"
    );
    let text = form
        .iter()
        .find(|(k, _)| k == "Body")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    app.confirm("alice", &token, &code_in(&text))
        .await
        .recovery_codes();
}

//! What reaches the disk: mfaTokens, codes, recovery codes and the upstream's grant are stored
//! only as keyed hashes or sealed, never as they are (nor hex- or base64-encoded); the keys come
//! from `storage.secret` (an `${ENV}` reference) or from a generated `server-secret` file.
//! Personal values (phone numbers, email addresses, languages, messages) are sealed too: after
//! enrolments, pending enrolments and logins, none is found in the data directory, whatever
//! its encoding.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use regex::bytes::Regex;

use serde_json::{json, Value};

use crate::fakes::upstream_grant;
use crate::helpers::{
    code_in, files_under, phone_for, spawn_app, spawn_daemon, AppOptions, Auth, Stop, TestApp,
};

/// `secret` as it is, hex-encoded, and base64-encoded (standard and URL-safe, at each of the
/// three alignments it can have inside a longer encoded value).
fn encodings(secret: &str) -> Vec<(String, Vec<u8>)> {
    let bytes = secret.as_bytes();
    let mut out = vec![
        ("as is".to_string(), bytes.to_vec()),
        ("hex".to_string(), hex::encode(bytes).into_bytes()),
    ];
    for skip in 0..3 {
        let rest = &bytes[skip..];
        let whole = &rest[..rest.len() / 3 * 3];
        out.push((
            format!("base64+{skip}"),
            STANDARD.encode(whole).into_bytes(),
        ));
        out.push((
            format!("base64url+{skip}"),
            URL_SAFE.encode(whole).into_bytes(),
        ));
    }
    out
}

/// A personal value as it may be written: as typed, digits only (a phone number), every
/// character JSON-escaped (`\u002b41…`), percent-encoded (as in a url or a form), and each
/// of [`encodings`].
fn personal_encodings(value: &str) -> Vec<(String, String)> {
    let mut out = vec![("as typed".to_string(), value.to_string())];
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7 {
        out.push(("digits only".to_string(), digits));
    }
    let escaped: String = value
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    out.push(("JSON-escaped".to_string(), escaped));
    let special: String = value
        .chars()
        .map(|c| match c {
            '+' | '@' => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect();
    out.push(("percent-encoded".to_string(), special));
    // A JSON-escaped `+` or `@` only: what a JSON writer escaping HTML-sensitive characters does.
    let partly: String = value
        .chars()
        .map(|c| match c {
            '+' | '@' => format!("\\u{:04x}", c as u32),
            c => c.to_string(),
        })
        .collect();
    out.push(("its + or @ JSON-escaped".to_string(), partly));
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(_, form)| seen.insert(form.clone()));
    out
}

/// Every `(what, secret)` found, in any of its [`encodings`], in any file under `dir`.
fn found_under(dir: &Path, secrets: &[(String, String)]) -> Vec<String> {
    let mut needles = Vec::new();
    for (what, secret) in secrets {
        for (encoding, bytes) in encodings(secret) {
            needles.push((format!("{what} ({encoding})"), bytes));
        }
    }
    let pattern = needles
        .iter()
        .map(|(_, bytes)| regex::escape(&String::from_utf8_lossy(bytes)))
        .collect::<Vec<_>>()
        .join("|");
    let any = Regex::new(&format!("(?-u:{pattern})")).expect("an alternation of literals");
    let files = files_under(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    let mut found = Vec::new();
    for file in files {
        let content = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for hit in any.find_iter(&content) {
            for (what, bytes) in &needles {
                if hit.as_bytes() == bytes.as_slice() {
                    found.push(format!("{what} in {}", file.display()));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_mfa_token_code_recovery_code_or_upstream_grant_is_found_in_the_storage_files() {
    // 12-digit codes: a chance match in hex or binary data is out of the question.
    let mut app = spawn_daemon(AppOptions::proxy_single().with_code_length(12), &[]).await;
    let activation = app.activate_default("alice").await.mfa_token();
    let activation_code = app.last_code();
    assert_eq!(activation_code.len(), 12);
    let recovery_codes = app
        .confirm("alice", &activation, &activation_code)
        .await
        .recovery_codes();
    let login = app.mfa_login("alice").await;
    app.challenge("alice", &login).await.assert_status(200);
    let login_code = app.last_code();

    // SIGTERM flushes everything the daemon holds, so the search sees all it wrote.
    app.restart(Stop::Terminate).await;
    let mut secrets = vec![
        ("the activation mfaToken".to_string(), activation.clone()),
        ("the login mfaToken".to_string(), login.clone()),
        ("the activation code".to_string(), activation_code.clone()),
        ("the login code".to_string(), login_code.clone()),
        (
            "the upstream grant token".to_string(),
            "grant-token-alice".to_string(),
        ),
    ];
    for (i, code) in recovery_codes.iter().enumerate() {
        secrets.push((format!("recovery code #{i}"), code.clone()));
        secrets.push((
            format!("recovery code #{i} without dashes"),
            code.replace('-', ""),
        ));
    }
    let found = found_under(&app.storage_path, &secrets);

    assert!(
        found.is_empty(),
        "secrets found at rest under {}:\n{}",
        app.storage_path.display(),
        found.join("\n")
    );
    // The search did cover the pending session: it is on disk, and it still works.
    let verified = app.verify("alice", &login, &login_code).await;
    verified.assert_status(200);
    assert_eq!(verified.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_secret_from_the_environment_keys_the_store_and_is_written_nowhere() {
    let secret = "env-storage-secret-6b0f3e9a2d174c58a9e1f07c3b5d2e64";
    let mut app = spawn_daemon(
        AppOptions::proxy_single().with_storage_secret("${MFA_BRIDGE_TEST_STORAGE_SECRET}"),
        &[("MFA_BRIDGE_TEST_STORAGE_SECRET", secret)],
    )
    .await;
    let recovery_codes = app.enroll("alice").await;
    let login = app.mfa_login("alice").await;
    app.challenge("alice", &login).await.assert_status(200);
    let code = app.last_code();

    app.restart(Stop::Terminate).await;

    // The same secret after the restart: sessions, codes and recovery codes still match.
    let verified = app.verify("alice", &login, &code).await;
    verified.assert_status(200);
    assert_eq!(verified.json, upstream_grant("alice"));
    app.recover_with_code("alice", &recovery_codes[0])
        .await
        .assert_status(200);
    let found = found_under(
        &app.storage_path,
        &[("the storage secret".to_string(), secret.to_string())],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
    let log = app.stop().await;
    assert!(
        !log.contains(secret),
        "the storage secret must not be logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_secret_the_server_secret_file_is_created_with_mode_0600() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    app.enroll("alice").await;

    let path = app.storage_path.join("server-secret");
    let metadata = std::fs::metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    assert_eq!(
        metadata.permissions().mode() & 0o777,
        0o600,
        "{} must be readable by its owner only",
        path.display()
    );
    assert!(metadata.len() > 0, "{} is empty", path.display());
}

/// Every personal value `(what, value)` found under the app's storage, in any of its
/// [`personal_encodings`].
fn personal_values_found(app: &TestApp, values: &[(&str, String)]) -> Vec<String> {
    let mut needles = Vec::new();
    for (what, value) in values {
        for (encoding, form) in personal_encodings(value) {
            needles.push((format!("{what} {encoding}"), form));
        }
    }
    found_under(&app.storage_path, &needles)
}

/// Standalone, single mode: SMS as the primary channel, `mfa.channels.email`, and user data
/// with phone, email, language and message.
fn standalone_with_email() -> AppOptions {
    AppOptions::standalone_single()
        .with_user_data(json!({
            "required": [],
            "allowed": ["phone", "email", "language", "message"],
            "phone_fields": ["phone"],
            "email_fields": ["email"],
        }))
        .with_mfa(
            "channels",
            json!({"email": {"single": {
                "url": format!("{}/email", crate::helpers::PROVIDER),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"to":"{{ email }}","text":"Code {{ code }}"}"#,
            }}}),
        )
}

const REFUSED_PHONE: &str = "0041791000999";
const MESSAGE: &str = "Grüezi Zorbatronic";
const LANGUAGE: &str = "rm-CH-x-sealed";

fn email_for(username: &str) -> String {
    format!("{username}.o'hara+mfa@example.com")
}

/// The personal values of these users, named.
fn personal_values_of(users: &[&str]) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("the message", MESSAGE.to_string()),
        ("the language", LANGUAGE.to_string()),
    ];
    for user in users {
        values.push(("a phone number", phone_for(user)));
        values.push(("an email address", email_for(user)));
    }
    values
}

async fn activate_and_confirm(app: &TestApp, username: &str, body: &Value) -> String {
    let token = app
        .activate(username, &app.personal(), body)
        .await
        .mfa_token();
    let code = app.code_from_last_send();
    app.confirm(username, &token, &code)
        .await
        .assert_status(200);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_number_or_email_address_is_found_in_the_storage_files_in_standalone_mode() {
    let mut app = spawn_daemon(standalone_with_email(), &[]).await;
    // alice: every kind of user data, then a login verified and one left pending.
    let alice = json!({
        "phone": phone_for("alice"),
        "email": email_for("alice"),
        "language": LANGUAGE,
        "message": MESSAGE,
    });
    activate_and_confirm(&app, "alice", &alice).await;
    let login = app.mfa_login("alice").await;
    app.challenge("alice", &login).await.assert_status(200);
    let code = app.last_code();
    app.verify("alice", &login, &code).await.assert_status(200);
    let pending_login = app.mfa_login("alice").await;
    app.challenge("alice", &pending_login)
        .await
        .assert_status(200);
    let pending_code = app.last_code();
    // bob: an enrolment sent and left pending (its user data waits in the session).
    let bob = json!({"phone": phone_for("bob"), "email": email_for("bob"), "language": LANGUAGE});
    let pending_enrolment = app.activate("bob", &app.personal(), &bob).await.mfa_token();
    let bob_code = app.last_code();
    // carol: enrolled by email, challenged by email.
    let carol = json!({"method": "email", "email": email_for("carol")});
    activate_and_confirm(&app, "carol", &carol).await;
    let login = app.mfa_login("carol").await;
    app.post(
        "/carol/mfa/challenge",
        &Auth::raw(&login),
        Some(&json!({"method": "email"})),
    )
    .await
    .assert_status(200);
    let email = app.provider.last();
    assert_eq!(email.body_json()["to"], json!(email_for("carol")));
    let carol_code = code_in(email.body_json()["text"].as_str().unwrap_or_default());

    // dave: refused (not E.164), so the attempts log has a refusal about a phone number.
    app.activate("dave", &app.personal(), &json!({"phone": REFUSED_PHONE}))
        .await
        .assert_error(400, "invalid-parameters-format");

    app.restart(Stop::Terminate).await;
    let mut values = personal_values_of(&["alice", "bob", "carol"]);
    values.push(("a refused phone number", REFUSED_PHONE.to_string()));
    let found = personal_values_found(&app, &values);

    assert!(
        found.is_empty(),
        "personal values found at rest under {}:\n{}",
        app.storage_path.display(),
        found.join("\n")
    );
    // The search did cover them: the pending sessions are on disk and still work, and the
    // sealed user data still reaches the provider.
    app.verify("alice", &pending_login, &pending_code)
        .await
        .assert_status(200);
    app.verify("carol", &login, &carol_code)
        .await
        .assert_status(200);
    app.confirm("bob", &pending_enrolment, &bob_code)
        .await
        .assert_status(200);
    let login = app.mfa_login("bob").await;
    app.challenge("bob", &login).await.assert_status(200);
    let sms = app.provider.last();
    assert_eq!(sms.body_json()["to"], json!(phone_for("bob")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_phone_number_is_found_in_the_storage_files_in_proxy_mode_with_challenge_verify() {
    let mut app = spawn_daemon(AppOptions::proxy_challenge_verify(), &[]).await;
    app.enroll("alice").await;
    let login = app.mfa_login("alice").await;
    app.challenge("alice", &login).await.assert_status(200);
    let code = app.code_from_last_send();
    app.verify("alice", &login, &code).await.assert_status(200);
    let pending_login = app.mfa_login("alice").await;
    app.challenge("alice", &pending_login)
        .await
        .assert_status(200);
    let pending_enrolment = app.activate_default("bob").await.mfa_token();

    app.restart(Stop::Terminate).await;
    let found = personal_values_found(
        &app,
        &[
            ("a phone number", phone_for("alice")),
            ("a phone number", phone_for("bob")),
        ],
    );

    assert!(found.is_empty(), "{}", found.join("\n"));
    let verified = app.verify("alice", &pending_login, &code).await;
    verified.assert_status(200);
    assert_eq!(verified.json, upstream_grant("alice"));
    app.confirm("bob", &pending_enrolment, &app.code_from_last_send())
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_another_storage_secret_sealed_user_data_is_refused_and_the_log_says_why() {
    let first = "first-storage-secret-1c9d7e2a4b6f8031";
    let mut app = spawn_daemon(
        AppOptions::standalone_single().with_storage_secret(first),
        &[],
    )
    .await;
    app.enroll("alice").await;

    let other = "other-storage-secret-5e0a3f7b9c2d4618";
    app.restart_with(
        AppOptions::standalone_single().with_storage_secret(other),
        Stop::Terminate,
    )
    .await;
    let login = app.login("alice").await;

    login.assert_error(500, "unexpected-error");
    let log = app.stop().await;
    assert!(
        log.contains(
            r#"the sealed personal values of the profile of "alice" do not open: the server secret (storage.secret, or the data directory's server-secret file) is not the one they were sealed with"#
        ),
        "{log}"
    );
    assert!(!log.contains(&phone_for("alice")[4..]), "{log}");
}

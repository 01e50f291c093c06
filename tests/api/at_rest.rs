//! What reaches the disk: mfaTokens, codes, recovery codes and the upstream's grant are stored
//! only as keyed hashes or sealed, never as they are (nor hex- or base64-encoded); the keys come
//! from `storage.secret` (an `${ENV}` reference) or from a generated `server-secret` file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine as _;
use regex::bytes::Regex;

use crate::fakes::upstream_grant;
use crate::helpers::{files_under, spawn_app, spawn_daemon, AppOptions, Stop};

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

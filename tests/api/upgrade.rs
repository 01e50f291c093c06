//! A data directory written by release v0.1 keeps working: tests/fixtures/upgrade-v0.1 holds
//! one (made by `scripts/make-upgrade-fixture` from commit 403e9d8, see its README.md) with
//! users enrolled by SMS, by an authenticator app and by sms+email, a recovery code used, and a
//! login and an enrolment left pending. Each test runs the daemon of today on a copy of it,
//! with the configuration and storage secret it was written with, and logs in.
//!
//! Self-contained on purpose (no `crate::helpers`): what it exercises is the data directory,
//! through the daemon's HTTP API and the `platform.yml` format only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use mfa_bridge::clock::{Clock, ManualClock, SystemClock};
use mfa_bridge::config::process_env;
use regex::Regex;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::run_in_process;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/upgrade-v0.1");
const INVALID_SESSION: &str = "Invalid MFA session token.";
const INVALID_RECOVERY_CODE: &str = "Invalid recovery code.";

/// `fixture.json`: the test-only values the fixture was made with (api key, recovery codes,
/// TOTP secrets, the pending sessions' mfaTokens and code).
fn fixture() -> Value {
    let path = Path::new(FIXTURE).join("fixture.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fixture.json has no string at {pointer}"))
}

fn number(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("fixture.json has no number at {pointer}"))
}

/// A copy of the fixture (platform.yml, data/) in a temporary directory: the tests write to
/// their copy, never to the fixture.
fn copy_of_fixture() -> TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    copy_dir(Path::new(FIXTURE), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("create {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// The authenticator app of a secret (base32): RFC 6238, SHA-1, 6 digits, 30 s.
fn authenticator(secret: &str) -> TOTP {
    let bytes = Secret::Encoded(secret.to_string())
        .to_bytes()
        .unwrap_or_else(|e| panic!("the secret {secret:?} is not base32: {e:?}"));
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, 30, bytes, None, "user".to_string())
}

fn unix_now() -> u64 {
    SystemClock.now()
}

/// The daemon of today on a copy of the fixture: the real binary, or the library in process
/// on a clock set to a chosen time.
struct Upgraded {
    address: String,
    client: reqwest::Client,
    api_key: String,
    /// The development outbox, where the fixture's endpoints write every message.
    outbox: PathBuf,
    /// The binary, killed when the test ends.
    _binary: Option<tokio::process::Child>,
    /// Stops the in-process app when the test ends.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
    _copy: TempDir,
}

impl Upgraded {
    fn new(
        copy: TempDir,
        port: u16,
        binary: Option<tokio::process::Child>,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> Upgraded {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("an HTTP client");
        Upgraded {
            address: format!("http://127.0.0.1:{port}"),
            client,
            api_key: text(&fixture(), "/api_key").to_string(),
            outbox: copy.path().join("data").join("outbox.jsonl"),
            _binary: binary,
            _stop: stop,
            _copy: copy,
        }
    }

    /// `mfa-bridge serve --config COPY/platform.yml` on the system clock.
    async fn binary() -> Upgraded {
        Upgraded::binary_on(copy_of_fixture()).await
    }

    /// The binary on a copy of the fixture made (and perhaps already run on) before.
    async fn binary_on(copy: TempDir) -> Upgraded {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
            .arg("serve")
            .arg("--config")
            .arg(copy.path().join("platform.yml"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the mfa-bridge binary");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let listening = Regex::new(r"listening on http://127\.0\.0\.1:(\d+)").unwrap();
        let mut log = Vec::new();
        let port = tokio::time::timeout(Duration::from_secs(15), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let port = listening
                    .captures(&line)
                    .filter(|_| !line.contains("admin listening"))
                    .and_then(|c| c[1].parse::<u16>().ok());
                log.push(line);
                if port.is_some() {
                    return port;
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("the daemon did not report its port:\n{}", log.join("\n")));
        // Keep draining its output, so that a full pipe never blocks it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Upgraded::new(copy, port, Some(child), None)
    }

    /// Stops the binary with SIGTERM (it flushes its storage and lets go of it); the copy it
    /// ran on.
    async fn stop(mut self) -> TempDir {
        let mut child = self._binary.take().expect("a daemon started by `binary`");
        let pid = child.id().expect("the daemon is running");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("the daemon exits within 10 s of SIGTERM")
            .expect("wait for the daemon");
        assert!(
            status.success(),
            "the daemon must exit cleanly, got {status}"
        );
        self._copy
    }

    /// The application in process (COPY/platform.yml through the binary's start-up path), its
    /// clock at `now`: the day the fixture was made, or later.
    async fn in_process_at(now: u64) -> Upgraded {
        let copy = copy_of_fixture();
        let config = copy.path().join("platform.yml");
        let clock = ManualClock::starting_at(now);
        let app = run_in_process(&config, clock, Arc::new(process_env))
            .await
            .unwrap_or_else(|e| panic!("the application did not start on the fixture: {e}"));
        Upgraded::new(copy, app.port, None, Some(app.stop))
    }

    /// A request with `Authorization: AUTH` (the api key as `Bearer KEY`, an mfaToken raw) and
    /// a JSON body; answers the status and the body as JSON (`Null` when there is none).
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .header("authorization", auth);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.text().await.expect("read the answer");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, auth: &str, body: Option<Value>) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, auth, body).await
    }

    fn api_key(&self) -> String {
        format!("Bearer {}", self.api_key)
    }

    /// `POST /{u}/login` with the api key: asserts `302 {"mfaToken", "methods"}` with these
    /// methods; returns the mfaToken.
    async fn login(&self, username: &str, methods: &[&str]) -> String {
        let (status, body) = self
            .post(
                &format!("/{username}/login"),
                &self.api_key(),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 302, "login of {username}: {body}");
        assert_eq!(
            body["methods"],
            json!(methods),
            "login of {username}: {body}"
        );
        body["mfaToken"]
            .as_str()
            .unwrap_or_else(|| panic!("login of {username}: no mfaToken in {body}"))
            .to_string()
    }

    /// `POST /{u}/mfa/verify`.
    async fn verify(&self, username: &str, mfa_token: &str, code: &str) -> (u16, Value) {
        self.post(
            &format!("/{username}/mfa/verify"),
            mfa_token,
            Some(json!({"code": code})),
        )
        .await
    }

    /// `GET /{u}/mfa` with the api key: asserts 200; the body.
    async fn status(&self, username: &str) -> Value {
        let (status, body) = self
            .request(
                reqwest::Method::GET,
                &format!("/{username}/mfa"),
                &self.api_key(),
                None,
            )
            .await;
        assert_eq!(status, 200, "status of {username}: {body}");
        body
    }

    /// The destination and code of the last message the outbox received at `url`
    /// (`outbox:sms`, `outbox:email`).
    fn last_sent(&self, url: &str) -> (String, String) {
        let text = std::fs::read_to_string(&self.outbox)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.outbox.display()));
        let line: Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .rfind(|l| l["url"] == json!(url))
            .unwrap_or_else(|| panic!("nothing sent to {url}; the outbox:\n{text}"));
        let body: Value = serde_json::from_str(line["body"].as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("a JSON body ({e}): {line}"));
        let code = Regex::new(r"^Code ([0-9]{6})$")
            .unwrap()
            .captures(body["text"].as_str().unwrap_or_default())
            .unwrap_or_else(|| panic!("no code in {line}"))[1]
            .to_string();
        (body["to"].as_str().unwrap_or_default().to_string(), code)
    }
}

fn assert_error(answer: &(u16, Value), status: u16, id: &str, message: Option<&str>) {
    let (got, body) = answer;
    assert_eq!(*got, status, "expected {status} {id}, got {got} {body}");
    assert_eq!(body["error"]["id"], json!(id), "{body}");
    if let Some(message) = message {
        assert_eq!(body["error"]["message"], json!(message), "{body}");
    }
}

// ---------------------------------------------------------------------------------------------
// On the system clock: years after the fixture was made, as after an upgrade

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_of_users_enrolled_by_v0_1_shows_their_methods_and_recovery_codes_left() {
    let app = Upgraded::binary().await;
    let fixture = fixture();

    for (username, methods, remaining) in [
        ("alice", json!(["sms"]), 9),
        ("bob", json!(["totp"]), 10),
        ("carol", json!(["sms", "email"]), 10),
    ] {
        let status = app.status(username).await;
        assert_eq!(status["enabled"], json!(true), "{username}: {status}");
        assert_eq!(status["methods"], methods, "{username}: {status}");
        assert_eq!(
            status["recoveryCodesRemaining"],
            json!(remaining),
            "{username}: {status}"
        );
        assert_eq!(
            status["enrolledAt"],
            json!(number(&fixture, &format!("/users/{username}/enrolled_at"))),
            "{username}: {status}"
        );
    }
    assert_eq!(app.status("dave").await, json!({"enabled": false}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_enrolled_by_sms_in_v0_1_logs_in_with_the_code_sent_to_her_phone() {
    let app = Upgraded::binary().await;
    let fixture = fixture();

    let mfa_token = app.login("alice", &["sms"]).await;
    let (status, body) = app.post("/alice/mfa/challenge", &mfa_token, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], json!("sms"), "{body}");
    let (to, code) = app.last_sent("outbox:sms");
    assert_eq!(
        to,
        text(&fixture, "/users/alice/phone"),
        "the phone of v0.1"
    );

    let (status, body) = app.verify("alice", &mfa_token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"verified": true, "username": "alice"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_enrolled_by_sms_and_email_in_v0_1_logs_in_with_a_code_sent_by_email() {
    let app = Upgraded::binary().await;
    let fixture = fixture();

    let mfa_token = app.login("carol", &["sms", "email"]).await;
    let (status, body) = app
        .post(
            "/carol/mfa/challenge",
            &mfa_token,
            Some(json!({"method": "email"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], json!("email"), "{body}");
    let (to, code) = app.last_sent("outbox:email");
    assert_eq!(
        to,
        text(&fixture, "/users/carol/email"),
        "the email of v0.1"
    );

    let (status, body) = app.verify("carol", &mfa_token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"verified": true, "username": "carol"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_enrolled_with_an_authenticator_in_v0_1_logs_in_with_a_code_of_his_app_once() {
    let app = Upgraded::binary().await;
    let totp = authenticator(text(&fixture(), "/users/bob/totp_secret"));

    let mfa_token = app.login("bob", &["totp"]).await;
    let code = totp.generate(unix_now());
    let (status, body) = app.verify("bob", &mfa_token, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"verified": true, "username": "bob"}));

    // The step it used is remembered in the record written over the one of v0.1.
    let mfa_token = app.login("bob", &["totp"]).await;
    let replay = app.verify("bob", &mfa_token, &code).await;
    assert_error(&replay, 400, "invalid-code", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_kept_from_v0_1_works_once_and_the_one_used_in_v0_1_stays_refused() {
    let app = Upgraded::binary().await;
    let fixture = fixture();
    let used_in_v0_1 = text(&fixture, "/users/alice/used_recovery_code");
    let kept = [
        text(&fixture, "/users/alice/recovery_codes/1"),
        text(&fixture, "/users/alice/recovery_codes/2"),
    ];
    let key = app.api_key();
    // A step-up (here for an authenticator enrolment) uses a recovery code up and leaves the
    // enrolment in place.
    let step_up = |code: &str| json!({"method": "totp", "code": code});

    let refused = app
        .post("/alice/mfa/activate", &key, Some(step_up(used_in_v0_1)))
        .await;
    assert_error(&refused, 400, "invalid-code", None);
    let refused = app
        .post(
            "/alice/mfa/recover",
            &key,
            Some(json!({"recoveryCode": used_in_v0_1})),
        )
        .await;
    assert_error(
        &refused,
        400,
        "invalid-parameters-format",
        Some(INVALID_RECOVERY_CODE),
    );

    let (status, body) = app
        .post("/alice/mfa/activate", &key, Some(step_up(kept[0])))
        .await;
    assert_eq!(status, 302, "a recovery code of v0.1 as a step-up: {body}");
    let again = app
        .post("/alice/mfa/activate", &key, Some(step_up(kept[0])))
        .await;
    assert_error(&again, 400, "invalid-code", None);
    assert_eq!(
        app.status("alice").await["recoveryCodesRemaining"],
        json!(8)
    );

    let (status, body) = app
        .post(
            "/alice/mfa/recover",
            &key,
            Some(json!({"recoveryCode": kept[1]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message": "MFA deactivated."}));
    assert_eq!(app.status("alice").await, json!({"enabled": false}));
    let again = app
        .post(
            "/alice/mfa/recover",
            &key,
            Some(json!({"recoveryCode": kept[1]})),
        )
        .await;
    assert_error(
        &again,
        400,
        "invalid-parameters-format",
        Some(INVALID_RECOVERY_CODE),
    );
}

// ---------------------------------------------------------------------------------------------
// On a clock set back to the day the fixture was made: the sessions it left pending
// (`mfa.sessions.ttl_seconds` is at most a day, so on the system clock they are long over)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_and_an_enrolment_left_pending_by_v0_1_complete_after_the_upgrade() {
    let fixture = fixture();
    let made_at = number(&fixture, "/made_at");
    let app = Upgraded::in_process_at(made_at + 60).await;
    let login_token = text(&fixture, "/pending/login/mfa_token");
    let login_code = text(&fixture, "/pending/login/code");

    let (status, body) = app.verify("alice", login_token, login_code).await;
    assert_eq!(status, 200, "the code v0.1 sent: {body}");
    assert_eq!(body, json!({"verified": true, "username": "alice"}));
    let used = app.verify("alice", login_token, login_code).await;
    assert_error(&used, 403, "forbidden", Some(INVALID_SESSION));

    let enrolment_token = text(&fixture, "/pending/enrolment/mfa_token");
    let totp = authenticator(text(&fixture, "/pending/enrolment/totp_secret"));
    let (status, body) = app
        .post(
            "/alice/mfa/confirm",
            enrolment_token,
            Some(json!({"code": totp.generate(made_at + 60)})),
        )
        .await;
    assert_eq!(status, 200, "the authenticator v0.1 began to enrol: {body}");
    assert_eq!(body["methods"], json!(["sms", "totp"]), "{body}");
    assert_eq!(
        body["recoveryCodes"].as_array().map(Vec::len),
        Some(10),
        "{body}"
    );

    let mfa_token = app.login("alice", &["sms", "totp"]).await;
    let (status, body) = app
        .verify("alice", &mfa_token, &totp.generate(made_at + 90))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_left_pending_by_v0_1_are_refused_once_their_lifetime_is_over() {
    let fixture = fixture();
    let over = number(&fixture, "/made_at") + number(&fixture, "/session_ttl_seconds") + 60;
    let app = Upgraded::in_process_at(over).await;

    let login = app
        .verify(
            "alice",
            text(&fixture, "/pending/login/mfa_token"),
            text(&fixture, "/pending/login/code"),
        )
        .await;
    assert_error(&login, 403, "forbidden", Some(INVALID_SESSION));
    let totp = authenticator(text(&fixture, "/pending/enrolment/totp_secret"));
    let enrolment = app
        .post(
            "/alice/mfa/confirm",
            text(&fixture, "/pending/enrolment/mfa_token"),
            Some(json!({"code": totp.generate(over)})),
        )
        .await;
    assert_error(&enrolment, 403, "forbidden", Some(INVALID_SESSION));
}

// ---------------------------------------------------------------------------------------------
// Personal data sealed at rest: the user data v0.1 kept in clear is sealed when written again

/// The profile of `username` as the copy's data directory holds it (the daemon stopped).
fn stored_profile(copy: &Path, username: &str) -> String {
    let db = sled::open(copy.join("data").join("db"))
        .unwrap_or_else(|e| panic!("open the copy's database: {e}"));
    let profiles = db.open_tree("profiles").expect("the profiles tree");
    let raw = profiles
        .get(username.as_bytes())
        .expect("read the profile")
        .unwrap_or_else(|| panic!("no profile of {username}"));
    String::from_utf8(raw.to_vec()).expect("a JSON record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_kept_in_clear_by_v0_1_is_read_and_sealed_on_the_profiles_next_write() {
    let fixture = fixture();
    let phone = text(&fixture, "/users/carol/phone");
    let email = text(&fixture, "/users/carol/email");
    let app = Upgraded::binary().await;

    // A recovery code as a step-up: carol's profile is written again (the code used).
    let (status, body) = app
        .post(
            "/carol/mfa/activate",
            &app.api_key(),
            Some(json!({
                "method": "totp",
                "code": text(&fixture, "/users/carol/recovery_codes/0"),
            })),
        )
        .await;
    assert_eq!(status, 302, "{body}");
    let copy = app.stop().await;

    let carol = stored_profile(copy.path(), "carol");
    assert!(carol.starts_with(r#"{"v":"2","#), "resealed: {carol}");
    assert!(
        !carol.contains(phone) && !carol.contains(email),
        "no personal value left in clear: {carol}"
    );
    // alice's profile was not written: still as v0.1 wrote it, read as it is.
    let alice = stored_profile(copy.path(), "alice");
    assert!(alice.starts_with(r#"{"v":"1","#), "{alice}");
    assert!(
        alice.contains(text(&fixture, "/users/alice/phone")),
        "{alice}"
    );

    // The sealed user data opens: the next code goes to the address of v0.1.
    let app = Upgraded::binary_on(copy).await;
    assert_eq!(
        app.status("carol").await["recoveryCodesRemaining"],
        json!(9)
    );
    let mfa_token = app.login("carol", &["sms", "email"]).await;
    let (status, body) = app
        .post(
            "/carol/mfa/challenge",
            &mfa_token,
            Some(json!({"method": "email"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (to, code) = app.last_sent("outbox:email");
    assert_eq!(to, email, "the email of v0.1, sealed since");
    let (status, body) = app.verify("carol", &mfa_token, &code).await;
    assert_eq!(status, 200, "{body}");
}

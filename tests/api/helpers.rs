//! `spawn_app` (the library's start-up path, in process) and `spawn_daemon` (the real binary),
//! with one helper per endpoint.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use base64::Engine as _;
use mfa_bridge::clock::{Clock, ManualClock, SystemClock};
use mfa_bridge::config::{process_env, EnvLookup, Source};
use mfa_bridge::snapshot::Snapshot;
use mfa_bridge::startup::{Application, Settings};
use mfa_bridge::store::FaultSwitch;
use regex::Regex;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::fakes::{
    start_provider, start_upstream, FakeServer, Recorded, GOOD_PASSWORD, PERSONAL_TOKEN,
    PROVIDER_VALID_CODE,
};

/// Placeholder base URLs written in configurations; replaced by the fakes' real addresses.
pub const PROVIDER: &str = "http://provider.invalid";
pub const UPSTREAM: &str = "http://upstream.invalid";

pub const API_KEY: &str = "test-api-key-5d1f0c";

/// The admin token; `admin.token_sha256` holds its SHA-256 (see [`AppOptions::with_admin`]).
pub const ADMIN_TOKEN: &str = "test-admin-token-93be41";

pub const MISSING_AUTH: &str = "Missing 'Authorization' header or 'auth' query parameter.";
pub const INVALID_SESSION: &str = "Invalid MFA session token.";
pub const NOT_PERSONAL: &str = "You cannot access this resource using the given access token.";
pub const VERIFY_MESSAGE: &str = "Please verify the MFA challenge.";
pub const DEACTIVATED: &str = "MFA deactivated.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstFactor {
    Proxy,
    Standalone,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsMode {
    Single,
    ChallengeVerify,
}

#[derive(Clone, Debug)]
pub struct AppOptions {
    pub first_factor: FirstFactor,
    pub sms: SmsMode,
    pub code_ttl_seconds: u64,
    /// `outbound.connect_timeout_ms` and `outbound.timeout_ms`; omitted when `None`.
    pub timeout_ms: Option<u64>,
    /// `mfa.endpoints`; the default for the mode when `None`. Write URLs with [`PROVIDER`].
    pub endpoints: Option<Value>,
    /// `mfa.user_data`; [`default_user_data`] when `None`.
    pub user_data: Option<Value>,
    /// `mfa.code.length`.
    pub code_length: u32,
    /// `mfa.attempts`; omitted (the daemon's defaults) when `None`. [`generous_attempts`] unless
    /// a test says otherwise.
    pub attempts: Option<Value>,
    /// `mfa.send_limits`; omitted when `None`. [`generous_send_limits`] unless a test says
    /// otherwise.
    pub send_limits: Option<Value>,
    /// `mfa.destinations`; omitted when `None`.
    pub destinations: Option<Value>,
    /// `storage.secret` written as is (e.g. `${ENV_VAR}`); omitted when `None`.
    pub storage_secret: Option<String>,
    /// The switch the in-process app's store goes through ([`Application::with_store_faults`]):
    /// a test turns storage off and on with it. `None`: the store as the daemon opens it.
    pub store_faults: Option<FaultSwitch>,
    /// `admin`; omitted (no admin listener) when `None`.
    pub admin: Option<Value>,
    /// More keys of `mfa` (`channels`, `totp`, `messages`, ...), written as given. URLs may hold
    /// [`PROVIDER`].
    pub mfa_extra: Vec<(String, Value)>,
    /// More keys of `storage` (`backend`, `url`, ...), written as given.
    pub storage_extra: Vec<(String, Value)>,
    /// More keys of `outbound` (`send_deadline_ms`, `retries`, ...), written as given.
    pub outbound_extra: Vec<(String, Value)>,
}

impl AppOptions {
    pub fn new(first_factor: FirstFactor, sms: SmsMode) -> AppOptions {
        AppOptions {
            first_factor,
            sms,
            code_ttl_seconds: 300,
            timeout_ms: None,
            endpoints: None,
            user_data: None,
            code_length: 6,
            attempts: Some(generous_attempts()),
            send_limits: Some(generous_send_limits()),
            destinations: None,
            storage_secret: None,
            store_faults: None,
            admin: None,
            mfa_extra: Vec::new(),
            storage_extra: Vec::new(),
            outbound_extra: Vec::new(),
        }
    }

    /// Sets `storage.KEY` to `value` (e.g. `with_storage("backend", json!("postgres"))`).
    pub fn with_storage(mut self, key: &str, value: Value) -> AppOptions {
        self.storage_extra.retain(|(k, _)| k != key);
        self.storage_extra.push((key.to_string(), value));
        self
    }

    /// Sets `mfa.KEY` to `value` (e.g. `with_mfa("totp", json!({"drift": 0}))`).
    pub fn with_mfa(mut self, key: &str, value: Value) -> AppOptions {
        self.mfa_extra.retain(|(k, _)| k != key);
        self.mfa_extra.push((key.to_string(), value));
        self
    }

    /// Sets `outbound.KEY` to `value` (e.g. `with_outbound("retries", json!(2))`).
    pub fn with_outbound(mut self, key: &str, value: Value) -> AppOptions {
        self.outbound_extra.retain(|(k, _)| k != key);
        self.outbound_extra.push((key.to_string(), value));
        self
    }

    pub fn proxy_single() -> AppOptions {
        AppOptions::new(FirstFactor::Proxy, SmsMode::Single)
    }

    pub fn proxy_challenge_verify() -> AppOptions {
        AppOptions::new(FirstFactor::Proxy, SmsMode::ChallengeVerify)
    }

    pub fn standalone_single() -> AppOptions {
        AppOptions::new(FirstFactor::Standalone, SmsMode::Single)
    }

    pub fn standalone_challenge_verify() -> AppOptions {
        AppOptions::new(FirstFactor::Standalone, SmsMode::ChallengeVerify)
    }

    pub fn with_endpoints(mut self, endpoints: Value) -> AppOptions {
        self.endpoints = Some(endpoints);
        self
    }

    pub fn with_user_data(mut self, user_data: Value) -> AppOptions {
        self.user_data = Some(user_data);
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> AppOptions {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    pub fn with_code_ttl_seconds(mut self, seconds: u64) -> AppOptions {
        self.code_ttl_seconds = seconds;
        self
    }

    pub fn with_code_length(mut self, length: u32) -> AppOptions {
        self.code_length = length;
        self
    }

    /// `mfa.attempts`: these keys over [`generous_attempts`], e.g. `{"free_failures": 3}`.
    pub fn with_attempts(mut self, attempts: Value) -> AppOptions {
        self.attempts = Some(merged(generous_attempts(), attempts));
        self
    }

    /// `mfa.send_limits`: these keys over [`generous_send_limits`].
    pub fn with_send_limits(mut self, send_limits: Value) -> AppOptions {
        self.send_limits = Some(merged(generous_send_limits(), send_limits));
        self
    }

    /// Neither `mfa.attempts` nor `mfa.send_limits` in the configuration: the daemon's defaults.
    pub fn with_default_limits(mut self) -> AppOptions {
        self.attempts = None;
        self.send_limits = None;
        self
    }

    /// `mfa.destinations: {allow, deny}` (E.164 prefixes).
    pub fn with_destinations(mut self, allow: &[&str], deny: &[&str]) -> AppOptions {
        self.destinations = Some(json!({"allow": allow, "deny": deny}));
        self
    }

    /// `storage.secret`, written as is (use `${ENV_VAR}` with [`spawn_daemon`]).
    pub fn with_storage_secret(mut self, secret: &str) -> AppOptions {
        self.storage_secret = Some(secret.to_string());
        self
    }

    /// `admin: {listen: 127.0.0.1:0, token_sha256: sha256(ADMIN_TOKEN)}`: an admin listener on
    /// a free port, opened by [`ADMIN_TOKEN`].
    pub fn with_admin(mut self) -> AppOptions {
        self.admin = Some(json!({
            "listen": "127.0.0.1:0",
            "token_sha256": sha256_hex(ADMIN_TOKEN),
        }));
        self
    }

    /// The in-process app's store goes through `switch` (storage off and on at will).
    pub fn with_store_faults(mut self, switch: &FaultSwitch) -> AppOptions {
        self.store_faults = Some(switch.clone());
        self
    }
}

/// Limits on wrong codes so high that only the tests about them ever meet them.
pub fn generous_attempts() -> Value {
    json!({
        "per_session": 100,
        "free_failures": 100,
        "base_seconds": 1,
        "max_seconds": 900,
        "window_seconds": 86400,
    })
}

/// Send limits so high that only the tests about them ever meet them.
pub fn generous_send_limits() -> Value {
    json!({
        "min_interval_seconds": 0,
        "per_user_per_hour": 1000,
        "per_destination_per_day": 1000,
    })
}

/// `base` with the keys of `over` replacing its own.
fn merged(mut base: Value, over: Value) -> Value {
    if let (Some(base), Value::Object(over)) = (base.as_object_mut(), over) {
        base.extend(over);
    }
    base
}

pub fn default_user_data() -> Value {
    json!({
        "required": ["phone"],
        "allowed": ["phone", "language", "message"],
        "phone_fields": ["phone"],
        "max_length": 256,
    })
}

/// The endpoints every test uses unless it says otherwise.
pub fn default_endpoints(sms: SmsMode) -> Value {
    match sms {
        SmsMode::Single => json!({
            "single": {
                "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}"),
                "method": "POST",
                "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
                "headers": {"content-type": "application/json"},
            }
        }),
        SmsMode::ChallengeVerify => json!({
            "challenge": {
                "url": format!("{PROVIDER}/challenge"),
                "method": "POST",
                "body": r#"{"phone_number":"{{ phone }}"}"#,
                "headers": {"content-type": "application/json"},
            },
            "verify": {
                "url": format!("{PROVIDER}/verify"),
                "method": "POST",
                "body": r#"{"phone_number":"{{ phone }}","code":"{{ code }}"}"#,
                "headers": {"content-type": "application/json"},
                "success": {"status": [200], "json_path": "status", "equals": "approved"},
            }
        }),
    }
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The whole `platform.yml` as a value, URLs still holding the [`PROVIDER`]/[`UPSTREAM`]
/// placeholders.
pub fn config_value(options: &AppOptions, storage_path: &Path) -> Value {
    let mut config = json!({
        "server": {"listen": "127.0.0.1:0"},
        "storage": {"path": storage_path.to_str().expect("utf-8 temp path")},
        "mfa": {
            "mode": match options.sms {
                SmsMode::Single => "single",
                SmsMode::ChallengeVerify => "challenge-verify",
            },
            "code": {"length": options.code_length, "ttl_seconds": options.code_ttl_seconds},
            "sessions": {"ttl_seconds": 1800},
            "user_data": options.user_data.clone().unwrap_or_else(default_user_data),
            "endpoints": options
                .endpoints
                .clone()
                .unwrap_or_else(|| default_endpoints(options.sms)),
        },
    });
    if let Some(attempts) = &options.attempts {
        config["mfa"]["attempts"] = attempts.clone();
    }
    if let Some(send_limits) = &options.send_limits {
        config["mfa"]["send_limits"] = send_limits.clone();
    }
    if let Some(destinations) = &options.destinations {
        config["mfa"]["destinations"] = destinations.clone();
    }
    for (key, value) in &options.mfa_extra {
        config["mfa"][key] = value.clone();
    }
    if let Some(secret) = &options.storage_secret {
        config["storage"]["secret"] = json!(secret);
    }
    for (key, value) in &options.storage_extra {
        config["storage"][key] = value.clone();
    }
    if let Some(admin) = &options.admin {
        config["admin"] = admin.clone();
    }
    if let Some(timeout_ms) = options.timeout_ms {
        config["outbound"] = json!({"connect_timeout_ms": timeout_ms, "timeout_ms": timeout_ms});
    }
    for (key, value) in &options.outbound_extra {
        config["outbound"][key] = value.clone();
    }
    match options.first_factor {
        FirstFactor::Proxy => {
            config["upstream"] = json!({
                "login": {"url": format!("{UPSTREAM}/{{{{ username }}}}/auth/login"), "method": "POST"},
                "access_check": {
                    "url": format!("{UPSTREAM}/{{{{ username }}}}/access-info"),
                    "method": "GET",
                    "headers": {"authorization": "{{ token }}"},
                    "accept": {"json_path": "type", "equals": "personal"},
                },
            });
        }
        FirstFactor::Standalone => {
            config["api_keys"] = json!([{"name": "backend", "key_sha256": sha256_hex(API_KEY)}]);
        }
    }
    config
}

/// `config` as YAML, with the placeholders pointed at the given base URLs.
pub fn to_yaml(config: &Value, provider_base: &str, upstream_base: &str) -> String {
    serde_yaml::to_string(config)
        .expect("a configuration serialises to YAML")
        .replace(PROVIDER, provider_base)
        .replace(UPSTREAM, upstream_base)
}

/// A phone number of its own for each user, so that per-destination limits of one user never
/// touch another.
pub fn phone_for(username: &str) -> String {
    let n = username
        .bytes()
        .fold(7u64, |acc, b| (acc * 31 + u64::from(b)) % 1_000_000);
    format!("+41791{n:06}")
}

/// A code of the same length as `code` that is certainly not `code`.
pub fn other_code(code: &str) -> String {
    code.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_digit((d + 1) % 10, 10).unwrap(),
            None => '0',
        })
        .collect()
}

/// The step-up that proves the password (proxy mode only): `{"password": "good-password"}`.
pub fn password_step_up() -> Value {
    json!({"password": GOOD_PASSWORD})
}

/// The step-up that uses up a recovery code: `{"code": recovery_code}`.
pub fn code_step_up(recovery_code: &str) -> Value {
    json!({"code": recovery_code})
}

/// How a token is presented.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Raw(String),
    Bearer(String),
    /// `Basic base64(token:)`: the token as user name, no password.
    Basic(String),
    /// `?auth=token`
    Query(String),
}

impl Auth {
    pub fn raw(token: &str) -> Auth {
        Auth::Raw(token.to_string())
    }

    pub fn bearer(token: &str) -> Auth {
        Auth::Bearer(token.to_string())
    }

    /// The four ways a Pryv client may present `token`.
    pub fn every_form_of(token: &str) -> Vec<Auth> {
        vec![
            Auth::Raw(token.to_string()),
            Auth::Bearer(token.to_string()),
            Auth::Basic(token.to_string()),
            Auth::Query(token.to_string()),
        ]
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Raw(token) => request.header("authorization", token.as_str()),
            Auth::Bearer(token) => request.header("authorization", format!("Bearer {token}")),
            Auth::Basic(token) => request.header(
                "authorization",
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{token}:"))
                ),
            ),
            Auth::Query(token) => request.query(&[("auth", token.as_str())]),
        }
    }
}

/// An answer of the daemon, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    /// `Value::Null` when the body is not JSON.
    pub json: Value,
}

impl TestResponse {
    /// An answer of the daemon, read whole.
    pub async fn read(response: reqwest::Response) -> TestResponse {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("read the daemon's answer");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        TestResponse {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn assert_status(&self, status: u16) -> &TestResponse {
        assert_eq!(
            self.status, status,
            "expected status {status}, got {} with body {}",
            self.status, self.text
        );
        self
    }

    /// Asserts `302 {"mfaToken": "..."}` and returns the token.
    pub fn mfa_token(&self) -> String {
        self.assert_status(302);
        match self.json.get("mfaToken").and_then(Value::as_str) {
            Some(token) if !token.is_empty() => token.to_string(),
            _ => panic!("expected a 302 body with an mfaToken, got {}", self.text),
        }
    }

    /// Asserts a Pryv error `{"error": {"id", "message"}}` with this status and id; returns the
    /// message.
    pub fn assert_error(&self, status: u16, id: &str) -> String {
        assert_eq!(
            self.status, status,
            "expected status {status} with error id {id:?}, got {} with body {}",
            self.status, self.text
        );
        assert_eq!(
            self.json["error"]["id"],
            json!(id),
            "expected error id {id:?}, body was {}",
            self.text
        );
        let content_type = self
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            content_type.starts_with("application/json"),
            "an error is served as JSON, content-type was {content_type:?}"
        );
        match self.json["error"]["message"].as_str() {
            Some(message) => message.to_string(),
            None => panic!(
                "an error must carry a string message, body was {}",
                self.text
            ),
        }
    }

    pub fn assert_error_message(&self, status: u16, id: &str, message: &str) {
        let actual = self.assert_error(status, id);
        assert_eq!(actual, message, "error message; body was {}", self.text);
    }

    /// Asserts `429 {"error": {"id": "too-many-attempts", "message", "remainingDelay": N}}` with
    /// `Retry-After: N` (N a whole number of seconds, at least 1); returns N.
    pub fn remaining_delay(&self) -> u64 {
        self.assert_error(429, "too-many-attempts");
        let delay = self.json["error"]["remainingDelay"]
            .as_u64()
            .unwrap_or_else(|| {
                panic!(
                    "a 429 carries error.remainingDelay as a whole number of seconds, body was {}",
                    self.text
                )
            });
        assert!(delay >= 1, "remainingDelay is at least 1: {}", self.text);
        let retry_after = self
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("a 429 carries Retry-After; body was {}", self.text));
        assert_eq!(
            retry_after,
            delay.to_string(),
            "Retry-After must equal remainingDelay; body was {}",
            self.text
        );
        delay
    }

    /// Asserts `200 {"recoveryCodes": [10 distinct non-empty strings]}` and returns them.
    pub fn recovery_codes(&self) -> Vec<String> {
        self.assert_status(200);
        let codes: Vec<String> = self.json["recoveryCodes"]
            .as_array()
            .unwrap_or_else(|| panic!("expected recoveryCodes, body was {}", self.text))
            .iter()
            .map(|c| {
                c.as_str()
                    .unwrap_or_else(|| panic!("recovery codes are strings, body was {}", self.text))
                    .to_string()
            })
            .collect();
        assert_eq!(
            codes.len(),
            10,
            "expected 10 recovery codes, got {}",
            self.text
        );
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            10,
            "recovery codes must be distinct: {}",
            self.text
        );
        assert!(
            codes.iter().all(|c| !c.is_empty()),
            "recovery codes must not be empty: {}",
            self.text
        );
        codes
    }
}

/// The real binary, started by a test.
struct Daemon {
    child: tokio::process::Child,
    /// Every line printed by every run of the binary in this test, in order.
    log: Arc<Mutex<Vec<String>>>,
    /// The tasks that copy its stdout and stderr into `log`.
    readers: Vec<tokio::task::JoinHandle<()>>,
    config_path: PathBuf,
    envs: Vec<(String, String)>,
    /// Run without `RUST_LOG`: the daemon's own default level.
    default_log_level: bool,
}

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub port: u16,
    /// The admin listener's port (an app started with [`AppOptions::with_admin`]).
    pub admin_port: Option<u16>,
    pub client: reqwest::Client,
    pub provider: FakeServer,
    pub upstream: FakeServer,
    pub options: AppOptions,
    /// Holds `storage.path` (the directory itself for [`spawn_app`], its `store/` for
    /// [`spawn_daemon`]).
    pub data_dir: TempDir,
    /// `storage.path`
    pub storage_path: PathBuf,
    /// The `platform.yml` the app runs on.
    config_path: PathBuf,
    /// Holds `platform.yml` for [`spawn_app`] (beside the storage for [`spawn_daemon`]).
    _config_dir: Option<TempDir>,
    daemon: Option<Daemon>,
    /// The in-process app's clock (none for the binary, which runs on the system clock).
    clock: Option<ManualClock>,
    /// Stops the in-process app (see [`spawn_app_with`]).
    stop_in_process: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_in_process.take() {
            let _ = stop.send(());
        }
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .expect("build the test client")
}

/// Starts the fakes and the application in process on `127.0.0.1:0`, as `main` does: the
/// configuration written to a `platform.yml` (its own folder; storage in [`TestApp::data_dir`]),
/// loaded through `Snapshot::load`, built by `Application::build` with its admin listener when
/// the options have one, and watched for changes. Only the clock differs: a manual one.
pub async fn spawn_app(options: AppOptions) -> TestApp {
    spawn_app_with_env(options, &[]).await
}

/// [`spawn_app`] with these environment variables for `${NAME}` references (looked up before
/// the test process's own).
pub async fn spawn_app_with_env(options: AppOptions, envs: &[(&str, &str)]) -> TestApp {
    let provider = start_provider().await;
    let upstream = start_upstream().await;
    start_in_process(options, provider, upstream, envs).await
}

async fn start_in_process(
    options: AppOptions,
    provider: FakeServer,
    upstream: FakeServer,
    envs: &[(&str, &str)],
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temporary storage directory");
    let config_dir = tempfile::tempdir().expect("a temporary configuration directory");
    let yaml = to_yaml(
        &config_value(&options, data_dir.path()),
        &provider.base_url(),
        &upstream.base_url(),
    );
    let config_path = config_dir.path().join("platform.yml");
    std::fs::write(&config_path, &yaml).expect("write platform.yml");
    let given: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env: Arc<EnvLookup> = Arc::new(move |name: &str| {
        given
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| process_env(name))
    });
    let clock = ManualClock::starting_at(SystemClock.now());
    let faults = options.store_faults.clone();
    let app = match run_in_process_with_faults(&config_path, clock.clone(), env, faults).await {
        Ok(app) => app,
        Err(error) => panic!("{error}\n---\n{yaml}"),
    };
    let (port, admin_port) = (app.port, app.admin_port);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        admin_port,
        client: http_client(),
        provider,
        upstream,
        options,
        storage_path: data_dir.path().to_path_buf(),
        data_dir,
        config_path,
        _config_dir: Some(config_dir),
        daemon: None,
        clock: Some(clock),
        stop_in_process: Some(app.stop),
    }
}

/// An application running in process: its ports, and the way to stop it.
pub struct InProcess {
    pub port: u16,
    pub admin_port: Option<u16>,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// Loads `config_path` through the binary's loading entry and builds the application on its
/// start-up path (admin listener and file watching included), with `clock` and `env`. The app
/// runs on a runtime of its own, in a thread of its own, and is dropped there when stopped: its
/// teardown (the store's last flush) never holds up the test's runtime. Answers once it
/// listens, or why it did not start.
pub async fn run_in_process(
    config_path: &Path,
    clock: ManualClock,
    env: Arc<EnvLookup>,
) -> Result<InProcess, String> {
    run_in_process_with_faults(config_path, clock, env, None).await
}

/// [`run_in_process`], the store going through `faults` when given.
pub async fn run_in_process_with_faults(
    config_path: &Path,
    clock: ManualClock,
    env: Arc<EnvLookup>,
    faults: Option<FaultSwitch>,
) -> Result<InProcess, String> {
    let snapshot = Source::read(config_path)
        .and_then(|source| Snapshot::load(&source, &*env))
        .map_err(|errors| format!("the configuration was refused:\n{errors}"))?;
    let (ready_tx, ready_rx) =
        tokio::sync::oneshot::channel::<Result<(u16, Option<u16>), String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let settings = Settings {
        config_path: Some(config_path.to_path_buf()),
        clock: Arc::new(clock),
        env,
    };
    std::thread::Builder::new()
        .name("in-process-app".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the app");
            runtime.block_on(async move {
                let built = Application::build(snapshot, settings).await;
                match built.map(|a| match &faults {
                    Some(switch) => a.with_store_faults(switch),
                    None => a,
                }) {
                    Ok(application) => {
                        let ports = (application.port(), application.admin_port());
                        let _ = ready_tx.send(Ok(ports));
                        tokio::select! {
                            _ = application.run_until_stopped() => {}
                            _ = stop_rx => {}
                        }
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                    }
                }
            });
            runtime.shutdown_background();
        })
        .expect("start the app's thread");
    match tokio::time::timeout(Duration::from_secs(15), ready_rx).await {
        Ok(Ok(Ok((port, admin_port)))) => Ok(InProcess {
            port,
            admin_port,
            stop: stop_tx,
        }),
        Ok(Ok(Err(error))) => Err(format!("the application did not build: {error}")),
        Ok(Err(_)) => Err("the application's thread ended before it listened".into()),
        Err(_) => Err("the application did not start listening within 15 s".into()),
    }
}

/// Starts the fakes and the real binary (`mfa-bridge serve --config FILE`), with these extra
/// environment variables.
pub async fn spawn_daemon(options: AppOptions, envs: &[(&str, &str)]) -> TestApp {
    spawn_daemon_with(options, envs, false).await
}

/// [`spawn_daemon`] without `RUST_LOG`: the binary logs at its default level.
pub async fn spawn_daemon_at_default_log_level(
    options: AppOptions,
    envs: &[(&str, &str)],
) -> TestApp {
    spawn_daemon_with(options, envs, true).await
}

async fn spawn_daemon_with(
    options: AppOptions,
    envs: &[(&str, &str)],
    default_log_level: bool,
) -> TestApp {
    let provider = start_provider().await;
    let upstream = start_upstream().await;
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let storage = data_dir.path().join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    let yaml = to_yaml(
        &config_value(&options, &storage),
        &provider.base_url(),
        &upstream.base_url(),
    );
    let config_path = data_dir.path().join("platform.yml");
    std::fs::write(&config_path, yaml).expect("write platform.yml");
    let daemon_config_path = config_path.clone();
    let envs: Vec<(String, String)> = envs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let daemon = start_daemon(
        config_path,
        envs,
        default_log_level,
        Arc::new(Mutex::new(Vec::new())),
    )
    .await;
    let port = daemon.port;
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        admin_port: daemon.admin_port,
        client: http_client(),
        provider,
        upstream,
        options,
        storage_path: storage,
        data_dir,
        config_path: daemon_config_path,
        _config_dir: None,
        daemon: Some(daemon.daemon),
        clock: None,
        stop_in_process: None,
    }
}

struct Started {
    daemon: Daemon,
    port: u16,
    admin_port: Option<u16>,
}

/// Whether the configuration file has an `admin` section (the binary then reports a second
/// listener).
fn config_has_admin(config_path: &Path) -> bool {
    std::fs::read_to_string(config_path)
        .ok()
        .and_then(|text| serde_yaml::from_str::<Value>(&text).ok())
        .is_some_and(|config| config.get("admin").is_some())
}

pub fn strip_ansi(line: &str) -> String {
    Regex::new(r"\x1b\[[0-9;]*[A-Za-z]")
        .unwrap()
        .replace_all(line, "")
        .into_owned()
}

async fn start_daemon(
    config_path: PathBuf,
    envs: Vec<(String, String)>,
    default_log_level: bool,
    log: Arc<Mutex<Vec<String>>>,
) -> Started {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command.arg("serve").arg("--config").arg(&config_path);
    if default_log_level {
        command.env_remove("RUST_LOG");
    } else {
        command.env("RUST_LOG", "info");
    }
    command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (key, value) in &envs {
        command.env(key, value);
    }
    let expects_admin = config_has_admin(&config_path);
    let mut child = command.spawn().expect("start the mfa-bridge binary");
    let mut readers = Vec::new();
    // (is the admin listener, port)
    let (port_tx, mut port_rx) = tokio::sync::mpsc::unbounded_channel::<(bool, u16)>();
    let listening = Regex::new(r"(admin )?listening on http://127\.0\.0\.1:(\d+)").unwrap();
    let stderr = child.stderr.take().expect("piped stderr");
    let stdout = child.stdout.take().expect("piped stdout");
    for stream in [
        Box::new(stderr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stdout),
    ] {
        let log = log.clone();
        let port_tx = port_tx.clone();
        let listening = listening.clone();
        // Keep reading until the process ends, so that a full pipe never blocks the daemon.
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = strip_ansi(&line);
                if let Some(captures) = listening.captures(&line) {
                    if let Ok(port) = captures[2].parse::<u16>() {
                        let _ = port_tx.send((captures.get(1).is_some(), port));
                    }
                }
                log.lock().unwrap().push(line);
            }
        }));
    }
    drop(port_tx);
    let ports = async {
        let (mut port, mut admin_port) = (None, None);
        while port.is_none() || (expects_admin && admin_port.is_none()) {
            match port_rx.recv().await {
                Some((true, p)) => admin_port = Some(p),
                Some((false, p)) => port = Some(p),
                None => break,
            }
        }
        (port, admin_port)
    };
    let outcome = tokio::time::timeout(Duration::from_secs(15), ports).await;
    let (port, admin_port) = match outcome {
        Ok((Some(port), admin_port)) if !expects_admin || admin_port.is_some() => {
            (port, admin_port)
        }
        outcome => {
            let status = child.try_wait().ok().flatten();
            panic!(
                "the daemon did not report `listening on http://127.0.0.1:PORT`{} ({}; exit status {status:?}); its output:\n{}",
                if expects_admin { " and `admin listening on http://127.0.0.1:PORT`" } else { "" },
                if outcome.is_err() { "timed out" } else { "output closed" },
                log.lock().unwrap().join("\n")
            );
        }
    };
    Started {
        daemon: Daemon {
            child,
            log,
            readers,
            config_path,
            envs,
            default_log_level,
        },
        port,
        admin_port,
    }
}

/// How a test stops the binary before starting it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: the daemon finishes what is under way and flushes storage.
    Terminate,
    /// SIGKILL: no chance to flush.
    Kill,
}

/// Stops the binary; once it has exited, waits until its output is read to the end.
async fn stop_daemon(mut daemon: Daemon, stop: Stop) -> Daemon {
    match stop {
        Stop::Kill => daemon.child.kill().await.expect("kill the daemon"),
        Stop::Terminate => {
            let pid = daemon.child.id().expect("the daemon is running");
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("run kill -TERM");
            assert!(sent.success(), "kill -TERM {pid} failed");
            match tokio::time::timeout(Duration::from_secs(10), daemon.child.wait()).await {
                Ok(status) => {
                    let status = status.expect("wait for the daemon");
                    assert!(
                        status.success(),
                        "the daemon must exit cleanly on SIGTERM, got {status}; its output:\n{}",
                        daemon.log.lock().unwrap().join("\n")
                    );
                }
                Err(_) => panic!(
                    "the daemon did not exit within 10 s of SIGTERM; its output:\n{}",
                    daemon.log.lock().unwrap().join("\n")
                ),
            }
        }
    }
    for reader in daemon.readers.drain(..) {
        let _ = tokio::time::timeout(Duration::from_secs(5), reader).await;
    }
    daemon
}

impl TestApp {
    /// Moves the in-process app's clock forward: expiry without waiting.
    pub fn advance_clock(&self, seconds: u64) {
        self.clock
            .as_ref()
            .expect("advance_clock needs an app started with spawn_app")
            .advance(seconds);
    }

    /// The app's clock (the in-process app's manual clock).
    pub fn now(&self) -> u64 {
        self.clock
            .as_ref()
            .expect("now needs an app started with spawn_app")
            .now()
    }

    /// Stops the binary and starts it again on the same configuration and storage.
    pub async fn restart(&mut self, stop: Stop) {
        let daemon = self
            .daemon
            .take()
            .expect("restart needs an app started with spawn_daemon");
        let Daemon {
            config_path,
            envs,
            default_log_level,
            log,
            ..
        } = stop_daemon(daemon, stop).await;
        let started = start_daemon(config_path, envs, default_log_level, log).await;
        self.port = started.port;
        self.admin_port = started.admin_port;
        self.address = format!("http://127.0.0.1:{}", started.port);
        self.daemon = Some(started.daemon);
    }

    /// Stops the binary, writes `platform.yml` anew from `options` (same storage, same fakes)
    /// and starts it again.
    pub async fn restart_with(&mut self, options: AppOptions, stop: Stop) {
        let config_path = self
            .daemon
            .as_ref()
            .expect("restart_with needs an app started with spawn_daemon")
            .config_path
            .clone();
        let yaml = to_yaml(
            &config_value(&options, &self.storage_path),
            &self.provider.base_url(),
            &self.upstream.base_url(),
        );
        self.options = options;
        // The new binary reads it at start (a running one with hot reload may read it too).
        std::fs::write(&config_path, yaml).expect("write platform.yml");
        self.restart(stop).await;
    }

    /// Stops the binary with SIGTERM and returns everything it printed, once its output is
    /// read to the end.
    pub async fn stop(&mut self) -> String {
        let daemon = self
            .daemon
            .take()
            .expect("stop needs an app started with spawn_daemon");
        let daemon = stop_daemon(daemon, Stop::Terminate).await;
        let joined = daemon.log.lock().unwrap().join("\n");
        joined
    }

    /// What the binary has printed so far (empty for an in-process app).
    pub fn daemon_log(&self) -> String {
        self.daemon
            .as_ref()
            .map(|d| d.log.lock().unwrap().join("\n"))
            .unwrap_or_default()
    }

    /// The credential that opens activate and deactivate: a personal token (proxy) or the
    /// api key (standalone).
    pub fn personal(&self) -> Auth {
        match self.options.first_factor {
            FirstFactor::Proxy => Auth::raw(PERSONAL_TOKEN),
            FirstFactor::Standalone => Auth::bearer(API_KEY),
        }
    }

    pub async fn post(&self, path: &str, auth: &Auth, body: Option<&Value>) -> TestResponse {
        let mut request = self.client.post(format!("{}{path}", self.address));
        request = auth.apply(request);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}\n{}", self.daemon_log()));
        TestResponse::read(response).await
    }

    /// `POST /{u}/login` with the body sent byte for byte and extra headers.
    pub async fn post_raw(
        &self,
        path: &str,
        auth: &Auth,
        body: &str,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = auth.apply(request);
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path} failed: {e}"));
        TestResponse::read(response).await
    }

    /// Login that passes the first factor: the good password (proxy) or the api key
    /// (standalone).
    pub async fn login(&self, username: &str) -> TestResponse {
        match self.options.first_factor {
            FirstFactor::Proxy => self.login_with_password(username, GOOD_PASSWORD).await,
            FirstFactor::Standalone => {
                self.post(
                    &format!("/{username}/login"),
                    &Auth::bearer(API_KEY),
                    Some(&json!({})),
                )
                .await
            }
        }
    }

    pub async fn login_with_password(&self, username: &str, password: &str) -> TestResponse {
        self.post(
            &format!("/{username}/login"),
            &Auth::None,
            Some(&json!({"username": username, "password": password, "appId": "test-app"})),
        )
        .await
    }

    pub async fn activate(&self, username: &str, auth: &Auth, user_data: &Value) -> TestResponse {
        self.post(&format!("/{username}/mfa/activate"), auth, Some(user_data))
            .await
    }

    /// Activate with the right credential and `{"phone": phone_for(username)}`.
    pub async fn activate_default(&self, username: &str) -> TestResponse {
        self.activate(
            username,
            &self.personal(),
            &json!({"phone": phone_for(username)}),
        )
        .await
    }

    pub async fn confirm(&self, username: &str, mfa_token: &str, code: &str) -> TestResponse {
        self.confirm_with(username, &Auth::raw(mfa_token), code)
            .await
    }

    pub async fn confirm_with(&self, username: &str, auth: &Auth, code: &str) -> TestResponse {
        self.post(
            &format!("/{username}/mfa/confirm"),
            auth,
            Some(&json!({"code": code})),
        )
        .await
    }

    pub async fn challenge(&self, username: &str, mfa_token: &str) -> TestResponse {
        self.challenge_with(username, &Auth::raw(mfa_token)).await
    }

    pub async fn challenge_with(&self, username: &str, auth: &Auth) -> TestResponse {
        self.post(&format!("/{username}/mfa/challenge"), auth, None)
            .await
    }

    pub async fn verify(&self, username: &str, mfa_token: &str, code: &str) -> TestResponse {
        self.post(
            &format!("/{username}/mfa/verify"),
            &Auth::raw(mfa_token),
            Some(&json!({"code": code})),
        )
        .await
    }

    /// `POST /{u}/mfa/deactivate` with this body (the step-up: `{"password"}` or `{"code"}`).
    pub async fn deactivate(&self, username: &str, auth: &Auth, body: &Value) -> TestResponse {
        self.post(&format!("/{username}/mfa/deactivate"), auth, Some(body))
            .await
    }

    /// Activate with the right credential, `{"phone": phone_for(username)}` and the fields of
    /// `step_up` (`{"password"}` or `{"code"}`).
    pub async fn activate_with_step_up(&self, username: &str, step_up: &Value) -> TestResponse {
        let body = merged(json!({"phone": phone_for(username)}), step_up.clone());
        self.activate(username, &self.personal(), &body).await
    }

    /// `GET /{u}/mfa`.
    pub async fn status(&self, username: &str, auth: &Auth) -> TestResponse {
        let path = format!("/{username}/mfa");
        let request = auth.apply(self.client.get(format!("{}{path}", self.address)));
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} failed: {e}\n{}", self.daemon_log()));
        TestResponse::read(response).await
    }

    /// `POST /{u}/mfa/recovery-codes` with this body (the step-up).
    pub async fn new_recovery_codes(
        &self,
        username: &str,
        auth: &Auth,
        body: &Value,
    ) -> TestResponse {
        self.post(&format!("/{username}/mfa/recovery-codes"), auth, Some(body))
            .await
    }

    /// `count` identical POSTs sent at once; the answers in no particular order.
    pub async fn post_concurrently(
        &self,
        count: usize,
        path: &str,
        auth: &Auth,
        body: &Value,
    ) -> Vec<TestResponse> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..count {
            let request = auth
                .apply(self.client.post(format!("{}{path}", self.address)))
                .json(body);
            tasks.spawn(async move {
                match request.send().await {
                    Ok(response) => Ok(TestResponse::read(response).await),
                    Err(e) => Err(format!("{e:?}")),
                }
            });
        }
        let mut responses = Vec::with_capacity(count);
        while let Some(response) = tasks.join_next().await {
            match response.expect("a concurrent request task") {
                Ok(response) => responses.push(response),
                Err(e) => panic!(
                    "one of {count} concurrent POST {path} failed: {e}\n{}",
                    self.daemon_log()
                ),
            }
        }
        responses
    }

    pub async fn recover(&self, username: &str, auth: &Auth, body: &Value) -> TestResponse {
        self.post(&format!("/{username}/mfa/recover"), auth, Some(body))
            .await
    }

    /// Recover the way the mode expects: `{username, password, appId, recoveryCode}` without
    /// Authorization (proxy), or the api key and `{recoveryCode}` (standalone).
    pub async fn recover_with_code(&self, username: &str, recovery_code: &str) -> TestResponse {
        match self.options.first_factor {
            FirstFactor::Proxy => {
                self.recover(
                    username,
                    &Auth::None,
                    &json!({
                        "username": username,
                        "password": GOOD_PASSWORD,
                        "appId": "test-app",
                        "recoveryCode": recovery_code,
                    }),
                )
                .await
            }
            FirstFactor::Standalone => {
                self.recover(
                    username,
                    &Auth::bearer(API_KEY),
                    &json!({"recoveryCode": recovery_code}),
                )
                .await
            }
        }
    }

    /// The code in the last request the provider received (`Code NNNNNN` in its url or body).
    pub fn last_code(&self) -> String {
        let request = self.provider.last();
        let haystack = format!("{}\n{}", request.decoded_uri(), request.body_text());
        let code = Regex::new(r"Code ([0-9]+)").unwrap();
        match code.captures(&haystack) {
            Some(c) => c[1].to_string(),
            None => panic!(
                "no `Code NNNNNN` in the last provider request: {} {}\n{}",
                request.method,
                request.uri,
                request.body_text()
            ),
        }
    }

    /// The code the end user would type after the last send: the one the daemon generated
    /// (single), or the one the fake provider approves (challenge-verify).
    pub fn code_from_last_send(&self) -> String {
        match self.options.sms {
            SmsMode::Single => self.last_code(),
            SmsMode::ChallengeVerify => PROVIDER_VALID_CODE.to_string(),
        }
    }

    /// Activate and confirm; returns the recovery codes.
    pub async fn enroll(&self, username: &str) -> Vec<String> {
        let mfa_token = self.activate_default(username).await.mfa_token();
        let code = self.code_from_last_send();
        self.confirm(username, &mfa_token, &code)
            .await
            .recovery_codes()
    }

    /// Login of a user with MFA on: asserts the 302 and returns the mfaToken.
    pub async fn mfa_login(&self, username: &str) -> String {
        self.login(username).await.mfa_token()
    }
}

// ---------------------------------------------------------------------------------------------
// The admin listener (an app started with `AppOptions::with_admin`) and hot reload

/// The credential that opens the admin API: `Authorization: Bearer ADMIN_TOKEN`.
pub fn admin_auth() -> Auth {
    Auth::bearer(ADMIN_TOKEN)
}

/// How a test rewrites `platform.yml` under a running daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rewrite {
    /// Write a temporary file next to it, then rename it over (as most editors do).
    Rename,
    /// Truncate and write the file in place.
    Overwrite,
}

impl TestApp {
    /// `http://127.0.0.1:ADMIN_PORT`
    pub fn admin_address(&self) -> String {
        let port = self.admin_port.unwrap_or_else(|| {
            panic!("no admin listener: start the app with AppOptions::with_admin()")
        });
        format!("http://127.0.0.1:{port}")
    }

    /// The `platform.yml` the app runs on.
    pub fn config_path(&self) -> PathBuf {
        self.config_path.clone()
    }

    /// The `templates/` folder next to `platform.yml`.
    pub fn templates_dir(&self) -> PathBuf {
        self.config_path()
            .parent()
            .expect("platform.yml has a folder")
            .join("templates")
    }

    /// The bytes of `platform.yml` as they are on disk now.
    pub fn config_bytes(&self) -> Vec<u8> {
        std::fs::read(self.config_path()).expect("read platform.yml")
    }

    /// `platform.yml` for `options`, on this app's storage and fakes.
    pub fn yaml_for(&self, options: &AppOptions) -> String {
        to_yaml(
            &config_value(options, &self.storage_path),
            &self.provider.base_url(),
            &self.upstream.base_url(),
        )
    }

    /// Replaces `platform.yml` under the running binary with `text`.
    pub fn rewrite_config(&self, text: &str, how: Rewrite) {
        let path = self.config_path();
        match how {
            Rewrite::Overwrite => std::fs::write(&path, text).expect("overwrite platform.yml"),
            Rewrite::Rename => {
                let temporary = path.with_file_name(".platform.yml.tmp-edit");
                std::fs::write(&temporary, text).expect("write the edited copy");
                std::fs::rename(&temporary, &path)
                    .expect("rename the edited copy over platform.yml");
            }
        }
    }

    /// Sends `signal` (`HUP`, `TERM`, ...) to the binary with `kill -SIGNAL pid`.
    pub fn signal(&self, signal: &str) {
        let pid = self
            .daemon
            .as_ref()
            .and_then(|d| d.child.id())
            .expect("signal needs a running binary");
        let sent = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} {pid} failed");
    }

    /// Whether the binary has exited (for a signal that must not stop it).
    pub fn daemon_has_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon
            .as_mut()
            .and_then(|d| d.child.try_wait().ok().flatten())
    }

    /// A request to the admin listener with a JSON body (or none).
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        body: Option<&Value>,
    ) -> TestResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.admin_address()));
        request = auth.apply(request);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap_or_else(|e| {
            panic!("{method} {path} (admin) failed: {e}\n{}", self.daemon_log())
        });
        TestResponse::read(response).await
    }

    /// A request to the admin listener with a `text/plain` body (templates).
    pub async fn admin_text(
        &self,
        method: &str,
        path: &str,
        auth: &Auth,
        text: &str,
    ) -> TestResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let request = self
            .client
            .request(method.clone(), format!("{}{path}", self.admin_address()))
            .header("content-type", "text/plain; charset=utf-8")
            .body(text.to_string());
        let response = auth.apply(request).send().await.unwrap_or_else(|e| {
            panic!("{method} {path} (admin) failed: {e}\n{}", self.daemon_log())
        });
        TestResponse::read(response).await
    }

    /// A request to the admin listener written byte for byte on a socket: `target` goes out as
    /// it is (no client normalises `..` or `//` away), with the admin token and a text body.
    pub async fn admin_raw(&self, method: &str, target: &str, body: &str) -> TestResponse {
        let port = self.admin_port.expect("admin_raw needs an admin listener");
        raw_http(
            port,
            method,
            target,
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
            body,
        )
        .await
    }
}

/// One HTTP/1.1 request on a fresh connection, `target` sent exactly as given.
pub async fn raw_http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> TestResponse {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    raw_exchange(
        port,
        request.as_bytes(),
        false,
        &format!("{method} {target}"),
    )
    .await
}

/// `request` written as it is on a fresh connection (`half_close` then shuts the writing side:
/// a body broken off), and the answer read to the end and parsed; `what` names the request in
/// a failure.
pub async fn raw_exchange(port: u16, request: &[u8], half_close: bool, what: &str) -> TestResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect to the daemon");
        stream.write_all(request).await.expect("write the request");
        if half_close {
            stream.shutdown().await.expect("half-close");
        }
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .expect("read the answer");
        answer
    };
    let answer = tokio::time::timeout(Duration::from_secs(15), exchange)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 15 s"));
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "{what}: not an HTTP answer: {:?}",
                String::from_utf8_lossy(&answer)
            )
        });
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let mut raw_body = answer[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no status line in {head:?}"));
    let mut header_map = reqwest::header::HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()),
                reqwest::header::HeaderValue::from_str(value.trim()),
            ) {
                header_map.append(name, value);
            }
        }
    }
    let chunked = header_map
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        raw_body = dechunk(&raw_body);
    }
    let text = String::from_utf8_lossy(&raw_body).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers: header_map,
        text,
        json,
    }
}

/// The body of a `transfer-encoding: chunked` answer.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&raw[..end]).into_owned();
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        body.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or(&[]);
    }
    body
}

/// One sample of a Prometheus text exposition: `name{labels} value`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub value: f64,
}

/// Every sample of a Prometheus text exposition (comments left out).
pub fn prometheus_samples(text: &str) -> Vec<Sample> {
    let line_re = Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)").unwrap();
    let label_re = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)""#).unwrap();
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let captures = line_re.captures(line)?;
            let labels = captures
                .get(2)
                .map(|l| {
                    label_re
                        .captures_iter(l.as_str())
                        .map(|c| (c[1].to_string(), c[2].to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let value = match &captures[3] {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().ok()?,
            };
            Some(Sample {
                name: captures[1].to_string(),
                labels,
                value,
            })
        })
        .collect()
}

/// Polls `check` until it answers `Some`, every 25 ms, for at most `within`; panics with
/// `what` (and the daemon's output) when the deadline passes.
pub async fn eventually<T, F, Fut>(app: &TestApp, within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "{what}: not within {within:?}; the daemon's output:\n{}",
                app.daemon_log()
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A single-mode endpoint whose body carries `marker`, so that a test can tell which template
/// rendered a request: `POST {PROVIDER}/sms?to={{ phone }}`,
/// `{"to":"{{ phone }}","text":"Code {{ code }} <marker>"}`.
pub fn marked_endpoint(marker: &str) -> Value {
    json!({
        "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}"),
        "method": "POST",
        "body": format!(r#"{{"to":"{{{{ phone }}}}","text":"Code {{{{ code }}}} {marker}"}}"#),
        "headers": {"content-type": "application/json"},
    })
}

impl TestApp {
    /// Activates `username` (asserting the 302) and returns the body of the one request the
    /// provider received for it.
    /// Activates `username` with these user data: asserts the 302 and exactly one provider
    /// request; returns the mfaToken and that request.
    pub async fn activate_recorded(&self, username: &str, data: &Value) -> (String, Recorded) {
        let before = self.provider.count();
        let token = self
            .activate(username, &self.personal(), data)
            .await
            .mfa_token();
        assert_eq!(
            self.provider.count(),
            before + 1,
            "one activation, one provider request"
        );
        (token, self.provider.last())
    }

    pub async fn body_sent_on_activation(&self, username: &str) -> String {
        let before = self.provider.count();
        self.activate_default(username).await.mfa_token();
        assert_eq!(
            self.provider.count(),
            before + 1,
            "one activation, one provider request"
        );
        self.provider.last().body_text()
    }
}

/// The one 6-digit code in a message text.
pub fn code_in(text: &str) -> String {
    let re = regex::Regex::new(r"\b([0-9]{6})\b").unwrap();
    let mut codes: Vec<String> = re.captures_iter(text).map(|c| c[1].to_string()).collect();
    codes.dedup();
    assert_eq!(
        codes.len(),
        1,
        "the message must carry the 6-digit code once, got {text:?}"
    );
    codes.remove(0)
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

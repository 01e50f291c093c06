//! The message log as the admin API and a client see it: `GET /api/messages` newest first,
//! filtered by user, status, channel, provider and challenge, each record with its provider,
//! attempt, status, latency, error class, masked destination and provider message id, and
//! nothing else; `GET /api/messages/{id}`; and `GET /{username}/mfa/challenge`, the delivery
//! of a session's codes per channel, refused without the session's mfaToken.
//!
//! Records are written into the data directory while no daemon holds it (the delivery engine
//! writes them in production), then a daemon is started on it.

use std::path::Path;
use std::time::{Duration, Instant};

use mfa_bridge::clock::{Clock, ManualClock, SystemClock};
use mfa_bridge::config::{process_env, EnvLookup};
use mfa_bridge::mfa::secrets::Keys;
use mfa_bridge::store::{SendRecord, SendStatus, SledStore, Store};
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{
    config_value, run_in_process, spawn_app, to_yaml, AppOptions, InProcess, TestResponse,
    ADMIN_TOKEN, PROVIDER, UPSTREAM,
};
use crate::openapi_check::{assert_conforms, description};

/// A daemon running in process on a data directory the test prepared.
pub struct Running {
    pub address: String,
    pub admin: String,
    pub client: reqwest::Client,
    _app: InProcess,
    _config_dir: TempDir,
    _data_dir: TempDir,
}

impl Running {
    pub async fn get(&self, url: &str, authorization: &str) -> (u16, Value) {
        let response = self
            .client
            .get(url)
            .header("authorization", authorization)
            .send()
            .await
            .expect("the daemon answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        self.get(
            &format!("{}{path}", self.admin),
            &format!("Bearer {ADMIN_TOKEN}"),
        )
        .await
    }
}

/// Opens the store of `data_dir` once no daemon holds it (a stopped one lets go of its lock
/// as its thread ends).
async fn open_store(data_dir: &Path) -> SledStore {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open(data_dir) {
            Ok(store) => return store,
            Err(e) if Instant::now() > deadline => panic!("the data directory stays locked: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Writes `sends` into the message log of `data_dir`.
pub async fn seed(data_dir: &Path, sends: &[SendRecord]) {
    let store = open_store(data_dir).await;
    for s in sends {
        store.put_send(s).await.expect("a send is written");
    }
    store.flush_all().await.expect("flushed");
}

/// Starts a daemon with `config` (as [`config_value`] makes it) on its `storage.path`,
/// `data_dir`, which lives as long as the daemon.
pub async fn start(config: &Value, data_dir: TempDir) -> Running {
    let config_dir = tempfile::tempdir().expect("a configuration directory");
    let path = config_dir.path().join("platform.yml");
    std::fs::write(&path, to_yaml(config, PROVIDER, UPSTREAM)).expect("write platform.yml");
    let env: std::sync::Arc<EnvLookup> = std::sync::Arc::new(process_env);
    let app = run_in_process(&path, ManualClock::starting_at(SystemClock.now()), env)
        .await
        .expect("the daemon starts");
    Running {
        address: format!("http://127.0.0.1:{}", app.port),
        admin: format!(
            "http://127.0.0.1:{}",
            app.admin_port.expect("an admin port")
        ),
        client: reqwest::Client::new(),
        _app: app,
        _config_dir: config_dir,
        _data_dir: data_dir,
    }
}

/// `at` seconds into a window that began a few hours ago: recent enough that the daemon's
/// sweep of the message log keeps it.
pub fn recent(at: u64) -> u64 {
    SystemClock.now() / 10_000 * 10_000 - 20_000 + at
}

/// A record of the message log as the delivery engine writes one, begun at [`recent`]`(at)`.
pub fn send(id: &str, username: &str, at: u64, status: SendStatus) -> SendRecord {
    let at = recent(at);
    let (send_id, attempt) = id.rsplit_once('-').expect("an id {send}-{attempt}");
    SendRecord {
        id: id.into(),
        send_id: send_id.into(),
        attempt: attempt.parse().expect("an attempt number"),
        at,
        updated_at: at,
        username: username.into(),
        challenge: "00112233445566ff".into(),
        channel: "sms".into(),
        provider: "twilio-main".into(),
        status,
        provider_message_id: Some(format!("SM{id}")),
        http_status: Some(201),
        latency_ms: Some(84),
        error: None,
        destination: mfa_bridge::store::mask_destination("+41791231267"),
    }
}

/// Asserts that an answer is as `docs/openapi.yaml` describes it.
pub fn conforms(path: &str, method: &str, status: u16, body: &Value) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    let response = TestResponse {
        status,
        headers,
        text: body.to_string(),
        json: body.clone(),
    };
    assert_conforms(&description(), path, method, &response);
}

fn ids(answer: &Value) -> Vec<String> {
    answer["messages"]
        .as_array()
        .expect("a list of messages")
        .iter()
        .map(|m| m["id"].as_str().expect("an id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_lists_the_message_log_newest_first_by_user_and_status() {
    let data = tempfile::tempdir().unwrap();
    let failed = SendRecord {
        error: Some("timeout".into()),
        http_status: None,
        provider_message_id: None,
        ..send("s1-1", "alice", 100, SendStatus::Failed)
    };
    let mut email = send("s2-1", "alice", 102, SendStatus::Delivered);
    email.channel = "email".into();
    email.provider = "mailer".into();
    email.destination = mfa_bridge::store::mask_destination("alice@example.org");
    seed(
        data.path(),
        &[
            failed,
            send("s1-2", "alice", 101, SendStatus::Sent),
            email,
            send("s3-1", "bob", 103, SendStatus::Undelivered),
        ],
    )
    .await;
    let config = config_value(&AppOptions::proxy_single().with_admin(), data.path());
    let app = start(&config, data).await;

    let (status, all) = app.admin_get("/api/messages").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(ids(&all), ["s3-1", "s2-1", "s1-2", "s1-1"]);
    conforms("/api/messages", "GET", status, &all);
    let (_, alice) = app.admin_get("/api/messages?user=alice").await;
    assert_eq!(ids(&alice), ["s2-1", "s1-2", "s1-1"]);
    let (_, failed) = app
        .admin_get("/api/messages?user=alice&status=failed")
        .await;
    assert_eq!(ids(&failed), ["s1-1"]);
    let (_, sms) = app
        .admin_get("/api/messages?channel=sms&provider=twilio-main&limit=2")
        .await;
    assert_eq!(ids(&sms), ["s3-1", "s1-2"]);
    let (_, of_challenge) = app
        .admin_get("/api/messages?challenge=00112233445566FF&status=sent")
        .await;
    assert_eq!(ids(&of_challenge), ["s1-2"]);
    let (status, wrong) = app.admin_get("/api/messages?status=lost").await;
    assert_eq!(status, 400, "{wrong}");

    let (status, one) = app.admin_get("/api/messages/s1-1").await;
    assert_eq!(status, 200);
    conforms("/api/messages/{id}", "GET", status, &one);
    assert_eq!(
        one,
        json!({
            "id": "s1-1", "sendId": "s1", "attempt": 1, "at": recent(100), "updatedAt": recent(100),
            "username": "alice", "challenge": "00112233445566ff", "channel": "sms",
            "provider": "twilio-main", "status": "failed", "providerMessageId": null,
            "httpStatus": null, "latencyMs": 84, "error": "timeout",
            "destination": "+41•••••67",
        })
    );
    let text = all.to_string();
    assert!(
        !text.contains("+41791231267") && !text.contains("alice@example.org"),
        "{text}"
    );
    assert!(text.contains("a•••@example.org"), "{text}");
    let (status, _) = app.admin_get("/api/messages/s9-1").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .get(&format!("{}/api/messages", app.admin), "Bearer wrong")
        .await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reads_where_its_code_stands_per_channel_with_its_mfa_token_only() {
    let mut first = spawn_app(AppOptions::proxy_single().with_admin()).await;
    first.enroll("alice").await;
    let token = first.mfa_login("alice").await;
    let other = first.mfa_login("alice").await;
    let config: Value =
        serde_yaml::from_str(&std::fs::read_to_string(first.config_path()).expect("platform.yml"))
            .expect("yaml");
    // The data directory outlives the first daemon; the second runs on it.
    let data = std::mem::replace(&mut first.data_dir, tempfile::tempdir().unwrap());
    drop(first);

    let secret = mfa_bridge::store::server_secret(data.path(), None).expect("the secret");
    let challenge = Keys::new(secret).session_key(&token).challenge_id();
    let of_session = |s: SendRecord| SendRecord {
        challenge: challenge.clone(),
        ..s
    };
    let mut email = of_session(send("e1-1", "alice", 200, SendStatus::Sent));
    email.channel = "email".into();
    email.provider = "mailer".into();
    seed(
        data.path(),
        &[
            of_session(send("s1-1", "alice", 100, SendStatus::Delivered)),
            of_session(SendRecord {
                provider: "vonage".into(),
                ..send("s1-2", "alice", 150, SendStatus::Failed)
            }),
            email,
            // Another user's send, and another session's: not this session's.
            send("x1-1", "bob", 300, SendStatus::Sent),
        ],
    )
    .await;
    let app = start(&config, data).await;
    let url = format!("{}/alice/mfa/challenge", app.address);

    let (status, answer) = app.get(&url, &token).await;
    assert_eq!(status, 200, "{answer}");
    conforms("/{username}/mfa/challenge", "GET", status, &answer);
    assert_eq!(
        answer,
        json!({"sends": [
            {"channel": "email", "status": "sent", "provider": "mailer", "at": recent(200), "attempts": 1},
            {"channel": "sms", "status": "delivered", "provider": "twilio-main", "at": recent(100), "attempts": 2},
        ]})
    );
    let (status, none) = app.get(&url, &other).await;
    assert_eq!((status, none), (200, json!({"sends": []})));
    let (status, refused) = app.get(&url, "not-a-token").await;
    assert_eq!(status, 403, "{refused}");
    conforms("/{username}/mfa/challenge", "GET", status, &refused);
    let (status, elsewhere) = app
        .get(&format!("{}/bob/mfa/challenge", app.address), &token)
        .await;
    assert_eq!(status, 403, "{elsewhere}");
}

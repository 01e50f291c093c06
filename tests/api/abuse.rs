//! Bounded under abuse: what a hostile peer can make the daemon spend. Answers from providers
//! and the upstream are read up to a limit, and a grant held in a session too; connections that
//! never finish their request head are closed, and a flood of idle sockets cannot lock real
//! clients out; refused requests cannot fill the disk through the attempts log; the admin file
//! routes answer a 4xx JSON error for every path or body they refuse. Each against a hostile
//! peer on loopback: raw sockets, or fakes that answer without end.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mfa_bridge::clock::{Clock, ManualClock, SystemClock};
use mfa_bridge::config::{process_env, EnvLookup};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fakes::{start_provider, start_upstream, upstream_grant, FakeServer, Reply};
use crate::helpers::{
    config_value, run_in_process, spawn_app, to_yaml, AppOptions, InProcess, TestResponse,
    ADMIN_TOKEN, API_KEY,
};

// ---------------------------------------------------------------------------------------------
// An application with settings of its own, and a provider or upstream that never stops talking

/// The application in process, on a configuration of `options` with `extra` merged in (e.g.
/// `{"server": {"header_timeout_ms": 300}}`), its provider or upstream possibly a hostile fake.
struct Bounded {
    port: u16,
    admin_port: Option<u16>,
    _dirs: (TempDir, TempDir),
    _running: InProcess,
}

/// `extra`'s keys over `config`'s, one level down (`server`, `storage`, `outbound`, ...).
fn merge(config: &mut Value, extra: &Value) {
    if let Some(sections) = extra.as_object() {
        for (section, keys) in sections {
            match (config.get_mut(section), keys.as_object()) {
                (Some(Value::Object(existing)), Some(keys)) => {
                    existing.extend(keys.clone());
                }
                _ => config[section] = keys.clone(),
            }
        }
    }
}

async fn spawn_bounded(
    options: AppOptions,
    extra: Value,
    provider_base: &str,
    upstream_base: &str,
) -> Bounded {
    let data = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    let mut config = config_value(&options, data.path());
    merge(&mut config, &extra);
    let path = config_dir.path().join("platform.yml");
    std::fs::write(&path, to_yaml(&config, provider_base, upstream_base)).unwrap();
    let env: Arc<EnvLookup> = Arc::new(process_env);
    let running = run_in_process(&path, ManualClock::starting_at(SystemClock.now()), env)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Bounded {
        port: running.port,
        admin_port: running.admin_port,
        _dirs: (data, config_dir),
        _running: running,
    }
}

impl Bounded {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

/// A client with no pooled connection: each request opens its own.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn read(response: reqwest::Response) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    TestResponse {
        status,
        headers,
        text,
        json,
    }
}

/// What a [`Flood`] fake did: bytes of body written, and whether the reader went away.
#[derive(Default)]
struct Flooded {
    written: AtomicU64,
    reader_left: AtomicBool,
}

/// How much a [`Flood`] answer says and sends.
const FLOOD_BYTES: u64 = 100 * 1024 * 1024;

/// A server on `127.0.0.1:0` that answers every request `200` with a 100 MB JSON-ish body,
/// announced by `content-length` or sent chunked, and records how much of it it could write.
async fn start_flood(declared: bool) -> (String, Arc<Flooded>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let flooded = Arc::new(Flooded::default());
    let record = Arc::clone(&flooded);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                read_request(&mut stream).await;
                let head = if declared {
                    format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {FLOOD_BYTES}\r\n\r\n")
                } else {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_string()
                };
                if stream.write_all(head.as_bytes()).await.is_err() {
                    record.reader_left.store(true, Ordering::SeqCst);
                    return;
                }
                let piece = vec![b' '; 64 * 1024];
                let mut frame = piece.clone();
                if !declared {
                    frame = format!("{:x}\r\n", piece.len()).into_bytes();
                    frame.extend_from_slice(&piece);
                    frame.extend_from_slice(b"\r\n");
                }
                while record.written.load(Ordering::SeqCst) < FLOOD_BYTES {
                    if stream.write_all(&frame).await.is_err() {
                        record.reader_left.store(true, Ordering::SeqCst);
                        return;
                    }
                    record
                        .written
                        .fetch_add(piece.len() as u64, Ordering::SeqCst);
                }
            });
        }
    });
    (base, flooded)
}

/// Reads a request head and the body its `content-length` announces.
async fn read_request(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf).await else {
            return;
        };
        if n == 0 {
            return;
        }
        seen.extend_from_slice(&buf[..n]);
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let mut body = seen.len() - end - 4;
            while body < length {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => body += n,
                }
            }
            return;
        }
    }
}

/// Waits until the flood's reader has gone, and checks it took far less than the whole body.
async fn assert_refused_early(flooded: &Flooded) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !flooded.reader_left.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the daemon still reads the answer after 10 s ({} bytes written)",
            flooded.written.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let written = flooded.written.load(Ordering::SeqCst);
    assert!(
        written < FLOOD_BYTES / 4,
        "the daemon took {written} bytes of a {FLOOD_BYTES}-byte answer before giving up"
    );
}

// ---------------------------------------------------------------------------------------------
// Answers from providers and the upstream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_answer_over_the_limit_is_a_messaging_error_and_is_not_read_whole() {
    for declared in [false, true] {
        let (provider, flooded) = start_flood(declared).await;
        let upstream = start_upstream().await;
        let app = spawn_bounded(
            AppOptions::standalone_single(),
            json!({"outbound": {"max_answer_bytes": 4096}}),
            &provider,
            &upstream.base_url(),
        )
        .await;
        let activated = read(
            fresh_client()
                .post(app.url("/alice/mfa/activate"))
                .bearer_auth(API_KEY)
                .json(&json!({"phone": "+41791234567"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        activated.assert_error(400, "messaging-server-error");
        assert_refused_early(&flooded).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_login_answer_over_the_limit_is_an_upstream_failure() {
    let (upstream, flooded) = start_flood(false).await;
    let provider = start_provider().await;
    let app = spawn_bounded(
        AppOptions::proxy_single(),
        json!({}),
        &provider.base_url(),
        &upstream,
    )
    .await;
    let login = read(
        fresh_client()
            .post(app.url("/alice/login"))
            .json(&json!({"username": "alice", "password": "good-password", "appId": "a"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    login.assert_error(502, "upstream-unavailable");
    assert_refused_early(&flooded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_answer_over_the_grant_limit_is_not_held_in_a_session() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    // 20 kB: under the answer limit (64 KiB), over what a session holds (16 KiB).
    let mut big = upstream_grant("alice");
    big["padding"] = json!("x".repeat(20_000));
    let big_grant = big.clone();
    let answer_big = move |_: &_| Reply::json(200, big_grant.clone());
    app.upstream
        .respond_on("/alice/auth/login", answer_big.clone());
    app.login("alice")
        .await
        .assert_error(502, "upstream-unavailable");
    // Without MFA nothing is held: the same answer passes through.
    app.upstream.respond_on("/bob/auth/login", answer_big);
    let passed = app.login("bob").await;
    passed.assert_status(200);
    assert_eq!(passed.json, big);
}

// ---------------------------------------------------------------------------------------------
// Connections

/// Server settings that make a test's time-outs short.
fn short_timeouts(max_connections: usize) -> Value {
    json!({"server": {"header_timeout_ms": 300, "max_connections": max_connections}})
}

async fn spawn_short(max_connections: usize) -> (Bounded, FakeServer, FakeServer) {
    let provider = start_provider().await;
    let upstream = start_upstream().await;
    let app = spawn_bounded(
        AppOptions::standalone_single(),
        short_timeouts(max_connections),
        &provider.base_url(),
        &upstream.base_url(),
    )
    .await;
    (app, provider, upstream)
}

/// Waits for the daemon to close `stream` (a read that ends), at most `within`; answers when.
async fn closed_by_the_daemon(stream: &mut tokio::net::tcp::OwnedReadHalf, within: Duration) {
    let mut buf = [0u8; 1024];
    let ended = tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the daemon kept the connection open {within:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_sends_its_request_head_byte_by_byte_is_disconnected() {
    let (app, _provider, _upstream) = spawn_short(16).await;
    let stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    // One byte every 20 ms, for ever: each byte arrives well within any read time-out.
    let trickle = tokio::spawn(async move {
        let head = b"POST /alice/login HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    closed_by_the_daemon(&mut reader, Duration::from_secs(5)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}, before the header time-out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let (app, _provider, _upstream) = spawn_short(16).await;
    let (mut reader, _writer) = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap()
        .into_split();
    closed_by_the_daemon(&mut reader, Duration::from_secs(5)).await;
    // A kept-alive connection that goes idle after a request is closed the same way.
    let (mut reader, mut writer) = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .unwrap()
        .into_split();
    writer
        .write_all(b"GET /no-such-route HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    closed_by_the_daemon(&mut reader, Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_connections_does_not_lock_out_a_real_client() {
    let cap = 4;
    let (app, _provider, _upstream) = spawn_short(cap).await;
    // Five times the cap, sending nothing.
    let mut idle = Vec::new();
    for _ in 0..cap * 5 {
        idle.push(TcpStream::connect(("127.0.0.1", app.port)).await.unwrap());
    }
    let started = Instant::now();
    let answer = read(
        fresh_client()
            .post(app.url("/alice/mfa/verify"))
            .json(&json!({"code": "123456"}))
            .send()
            .await
            .expect("a real client is served once the idle sockets time out"),
    )
    .await;
    let waited = started.elapsed();
    assert!(
        (400..500).contains(&answer.status),
        "a refusal, answered: {} {}",
        answer.status,
        answer.text
    );
    // It waited behind the cap (the idle sockets ahead of it were served first, each for one
    // header time-out), and was served after a few rounds of them.
    assert!(
        waited >= Duration::from_millis(250),
        "served after {waited:?}: the cap of {cap} connections did not hold"
    );
    assert!(waited < Duration::from_secs(10), "served after {waited:?}");
    // Every idle socket was closed by the daemon.
    for stream in idle {
        let (mut reader, _writer) = stream.into_split();
        closed_by_the_daemon(&mut reader, Duration::from_secs(5)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Storage

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_requests_for_random_usernames_leaves_the_attempts_log_bounded() {
    let provider = start_provider().await;
    let upstream = start_upstream().await;
    let app = spawn_bounded(
        AppOptions::standalone_single().with_admin(),
        json!({"storage": {"attempts_log_max_entries": 20}}),
        &provider.base_url(),
        &upstream.base_url(),
    )
    .await;
    let client = fresh_client();
    let mut last = String::new();
    for i in 0..200 {
        let user = format!("intruder-{i}-{:08x}", rand_u32(i));
        let refused = client
            .post(app.url(&format!("/{user}/mfa/verify")))
            .json(&json!({"code": "000000"}))
            .send()
            .await
            .unwrap();
        assert!(refused.status().is_client_error());
        last = user;
    }
    // A parameter name as long as the body allows is quoted in the reason: cut in the log.
    let long_key = "k".repeat(10_000);
    let refused = client
        .post(app.url(&format!("/{last}/mfa/activate")))
        .bearer_auth(API_KEY)
        .json(&json!({"phone": "+41791234567", long_key.as_str(): "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let admin_port = app.admin_port.unwrap();
    let listed = read(
        client
            .get(format!(
                "http://127.0.0.1:{admin_port}/api/attempts?limit=1000"
            ))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    listed.assert_status(200);
    let entries = listed.json["attempts"]
        .as_array()
        .or_else(|| listed.json.as_array())
        .unwrap_or_else(|| panic!("a list of attempts: {}", listed.text))
        .clone();
    assert_eq!(entries.len(), 20, "the log holds its cap: {}", listed.text);
    assert_eq!(
        entries[0]["username"],
        json!(last),
        "the newest entries are kept"
    );
    let reason = entries[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("Unknown parameter") && reason.chars().count() <= 301,
        "the reason is cut: {} characters",
        reason.chars().count()
    );
}

/// A made-up number for made-up usernames (no two alike in a run).
fn rand_u32(i: u32) -> u32 {
    i.wrapping_mul(2_654_435_761) ^ 0x5bd1_e995
}

// ---------------------------------------------------------------------------------------------
// Admin file routes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_template_path_or_body_the_admin_api_refuses_answers_a_4xx_json_error() {
    let app = spawn_app(AppOptions::standalone_single().with_admin()).await;
    let templates = app.templates_dir();
    let messages = templates.join("messages");
    std::fs::create_dir_all(&messages).unwrap();
    std::fs::write(messages.join("sms.en.hbs"), "Your code: {{ code }}").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.hbs"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.path(), templates.join("out")).unwrap();
    std::os::unix::fs::symlink(messages.join("sms.en.hbs"), messages.join("link.hbs")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("gone"), messages.join("dangling")).unwrap();
    std::fs::write(messages.join("latin1.hbs"), b"Code: \xe9t\xe9 {{ code }}").unwrap();

    // (case, method, target, expected status)
    let cases = [
        (
            "a parent folder",
            "GET",
            "/api/templates/../platform.yml",
            400,
        ),
        (
            "a parent folder",
            "PUT",
            "/api/templates/messages/../../x.hbs",
            400,
        ),
        ("an absolute path", "GET", "/api/templates//etc/passwd", 400),
        (
            "an absolute path",
            "PUT",
            "/api/templates/%2Ftmp%2Fx.hbs",
            400,
        ),
        ("a link out", "GET", "/api/templates/out/secret.hbs", 400),
        ("a link out", "PUT", "/api/templates/out/secret.hbs", 400),
        (
            "a dangling link",
            "PUT",
            "/api/templates/messages/dangling/x.hbs",
            400,
        ),
        (
            "a link inside",
            "GET",
            "/api/templates/messages/link.hbs",
            400,
        ),
        (
            "a link inside",
            "PUT",
            "/api/templates/messages/link.hbs",
            400,
        ),
        ("a folder", "GET", "/api/templates/messages", 400),
        ("a folder", "PUT", "/api/templates/messages", 400),
        (
            "through a file",
            "PUT",
            "/api/templates/messages/sms.en.hbs/x.hbs",
            400,
        ),
        (
            "a non-UTF-8 file",
            "GET",
            "/api/templates/messages/latin1.hbs",
            400,
        ),
        (
            "a non-UTF-8 path",
            "GET",
            "/api/templates/messages/%FF.hbs",
            400,
        ),
        ("a NUL", "PUT", "/api/templates/messages/a%00.hbs", 400),
    ];
    for (case, method, target, status) in cases {
        let answer = app.admin_raw(method, target, "Code {{ code }}").await;
        assert_eq!(
            answer.status, status,
            "{case}: {method} {target} answered {} {}",
            answer.status, answer.text
        );
        assert!(
            answer.json["error"]["id"].is_string() && answer.json["error"]["message"].is_string(),
            "{case}: {method} {target} answered no JSON error: {}",
            answer.text
        );
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.hbs")).unwrap(),
        "outside"
    );
    assert_eq!(
        std::fs::read_to_string(messages.join("sms.en.hbs")).unwrap(),
        "Your code: {{ code }}",
        "nothing written through the link"
    );

    let client = reqwest::Client::new();
    let put = |body: Vec<u8>| {
        client
            .put(format!(
                "http://127.0.0.1:{}/api/templates/messages/sms.fr.hbs",
                app.admin_port.unwrap()
            ))
            .bearer_auth(ADMIN_TOKEN)
            .body(body)
            .send()
    };
    let not_utf8 = read(put(b"Code \xff {{ code }}".to_vec()).await.unwrap()).await;
    not_utf8.assert_error(400, "invalid-parameters-format");
    // Over admin.max_template_bytes (256 KiB by default).
    let too_large = read(put(vec![b'a'; 300 * 1024]).await.unwrap()).await;
    too_large.assert_error(413, "request-too-large");
    assert!(!messages.join("sms.fr.hbs").exists(), "nothing written");
}

//! The admin write path on a shared configuration, over a real PostgreSQL: a write through the
//! admin API of one instance is published (with the token's name and the route) and runs on
//! the other; one made on a version that is no longer the newest is refused with 409.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use tower::ServiceExt;

use super::super::{router, AdminState};
use crate::clock::SystemClock;
use crate::config::{process_env, EnvLookup, Source};
use crate::http::AppState;
use crate::metrics::Metrics;
use crate::mfa::secrets::Keys;
use crate::mfa::Mfa;
use crate::provider::Sender;
use crate::snapshot::reload::Reloader;
use crate::snapshot::shared::{self, SharedConfig};
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::store::MemoryStore;
use crate::test_postgres;

const SHIPPED: &str = include_str!("../../../platform.yml");
const TOKEN: &str = "dev-only-admin-token-change-me";
const MESSAGE: &str = "messages/sms.en.hbs";

struct Instance {
    dir: tempfile::TempDir,
    state: AdminState,
    shared: Arc<SharedConfig>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

async fn instance(pool: &PgPool, port: u16) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("platform.yml");
    let yaml = SHIPPED
        .replace("127.0.0.1:7000", &format!("127.0.0.1:{port}"))
        .replace("127.0.0.1:7001", &format!("127.0.0.1:{}", port + 1));
    std::fs::write(&file, yaml).unwrap();
    let env: Arc<EnvLookup> = Arc::new(process_env);
    let snapshot = Snapshot::load(&Source::read(&file).unwrap(), &process_env).unwrap();
    let metrics = Metrics::new().unwrap();
    let sender = Sender::new(
        &snapshot.config.outbound,
        dir.path(),
        metrics.clone(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let mfa = Mfa::new(
        Arc::new(MemoryStore::new()),
        sender,
        Keys::new([7; 32]),
        Arc::new(SystemClock),
    );
    let snapshot = SharedSnapshot::new(snapshot);
    let reloader = Arc::new(Reloader::new(
        file,
        snapshot.clone(),
        metrics.clone(),
        Arc::clone(&env),
    ));
    let (shared, listener) = shared::start(
        pool.clone(),
        Arc::clone(&reloader),
        Arc::clone(&env),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let state = AdminState {
        app: AppState {
            snapshot,
            mfa,
            metrics,
            readiness: crate::http::Readiness::default(),
        },
        reloader: Some(reloader),
        started: Instant::now(),
        env,
    };
    Instance {
        dir,
        state,
        shared,
        listener,
    }
}

impl Instance {
    async fn call(&self, method: &str, path: &str, body: &str) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn message_on_disk(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("templates").join(MESSAGE)).ok()
    }
}

async fn pool() -> PgPool {
    let pool = PgPool::connect(&test_postgres::fresh_database().await)
        .await
        .unwrap();
    sqlx::migrate!("./migrations").run(&pool).await.unwrap();
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_written_through_one_instance_is_published_and_runs_on_the_other() {
    let pool = pool().await;
    let a = instance(&pool, 7500).await;
    let b = instance(&pool, 7600).await;
    let text = "Code {{code}} (from a)";

    let (status, body) = a
        .call("PUT", &format!("/api/templates/{MESSAGE}"), text)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let started = Instant::now();
    while b.shared.running().map(|v| v.version) != Some(2) {
        assert!(
            started.elapsed() < crate::snapshot::shared::tests::PROPAGATION,
            "b did not get it"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.message_on_disk().as_deref(), Some(text));
    let running = b.shared.running().unwrap();
    assert_eq!(running.author, "admin", "the admin token's name");
    assert_eq!(running.note, format!("PUT /api/templates/{MESSAGE}"));
    let (_, status) = b.call("GET", "/api/status", "").await;
    assert_eq!(status["configVersion"]["version"], 2, "{status}");
    let (_, listed) = b.call("GET", "/api/config/versions", "").await;
    assert_eq!(listed["running"], 2, "{listed}");
    assert_eq!(listed["versions"].as_array().map(Vec::len), Some(2));
    let (_, one) = b.call("GET", "/api/config/versions/2", "").await;
    assert_eq!(one["library"][MESSAGE], text, "{one}");

    // An edit of platform.yml (the endpoints) goes the same way.
    let (status, body) = a
        .call(
            "PATCH",
            "/api/endpoints/single",
            r#"{"url": "outbox:sms?from-a"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let b_file = b.dir.path().join("platform.yml");
    let started = Instant::now();
    while !b.state.app.snapshot().source.contains("outbox:sms?from-a") {
        assert!(
            started.elapsed() < crate::snapshot::shared::tests::PROPAGATION,
            "b did not get the endpoint"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mirrored = std::fs::read_to_string(&b_file).unwrap();
    assert!(mirrored.contains("outbox:sms?from-a"), "{mirrored}");
    assert_eq!(
        b.shared.running().unwrap().note,
        "PATCH /api/endpoints/single"
    );

    let (status, body) = b.call("POST", "/api/config/versions/1/rollback", "").await;
    assert_eq!(
        (status, &body["version"]),
        (StatusCode::OK, &Value::from(4)),
        "{body}"
    );
    let started = Instant::now();
    while a.message_on_disk().is_some() || a.state.app.snapshot().source.contains("from-a") {
        assert!(
            started.elapsed() < crate::snapshot::shared::tests::PROPAGATION,
            "a kept the template"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_a_version_another_instance_replaced_is_refused_with_409() {
    let pool = pool().await;
    let a = instance(&pool, 7500).await;
    let b = instance(&pool, 7600).await;
    // a does not hear of b's write before its own.
    a.listener.abort();

    let (status, _) = b
        .call("PUT", &format!("/api/templates/{MESSAGE}"), "b {{code}}")
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = a
        .call("PUT", &format!("/api/templates/{MESSAGE}"), "a {{code}}")
        .await;

    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["id"], "config-changed");
    assert_eq!(a.message_on_disk(), None, "nothing written on a");
}

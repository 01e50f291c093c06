//! The daemon on PostgreSQL (`storage.backend: postgres`, its URL from `${DATABASE_URL}`): the
//! whole standalone sequence runs on it, an enrolment survives a restart, the records are in
//! the tables an operator reads,
//! in process as from the binary.

use serde_json::json;
use sqlx::Connection;

use crate::helpers::{admin_auth, spawn_app_with_env, spawn_daemon, AppOptions, Stop};
use crate::postgres::fresh_database;

const SECRET: &str = "a-postgres-test-secret-of-32-characters-or-more";

fn on_postgres(url_variable: &str) -> AppOptions {
    AppOptions::standalone_single()
        .with_admin()
        .with_storage_secret(SECRET)
        .with_storage("backend", json!("postgres"))
        .with_storage("url", json!(format!("${{{url_variable}}}")))
        .with_storage("pool_size", json!(4))
}

async fn rows_of(url: &str, table: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut c)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_on_postgres_logs_in_with_a_code_and_keeps_the_enrolment_over_a_restart() {
    let url = fresh_database().await;
    let mut app = spawn_daemon(on_postgres("DATABASE_URL"), &[("DATABASE_URL", &url)]).await;
    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    status.assert_status(200);
    assert_eq!(
        status.json["storageBackend"],
        json!("postgres"),
        "{}",
        status.text
    );
    app.enroll("alice").await;
    assert_eq!(rows_of(&url, "profiles").await, 1);

    app.restart(Stop::Terminate).await;

    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    let verify = app.verify("alice", &mfa_token, &code).await;
    verify.assert_status(200);
    assert_eq!(verify.json["verified"], json!(true), "{}", verify.text);
    // The session was spent: the same code on the same token is refused.
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_error(403, "forbidden");
    assert_eq!(rows_of(&url, "sessions").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_app_on_postgres_says_so_in_its_status() {
    let url = fresh_database().await;
    let app = spawn_app_with_env(on_postgres("DATABASE_URL"), &[("DATABASE_URL", &url)]).await;

    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;

    assert_eq!(
        status.json["storageBackend"],
        json!("postgres"),
        "{}",
        status.text
    );
    app.enroll("bob").await;
    assert_eq!(rows_of(&url, "profiles").await, 1);
}

//! The daemon on PostgreSQL (`storage.backend: postgres`, its URL from `${DATABASE_URL}`): the
//! whole standalone sequence runs on it, an enrolment survives a restart, the records are in
//! the tables an operator reads,
//! in process as from the binary; `mfa-bridge migrate` run several times at once; a restore
//! refused (it writes sled directories).

use std::path::{Path, PathBuf};

use serde_json::json;
use sqlx::Connection;

use crate::helpers::{
    admin_auth, config_value, spawn_app_with_env, spawn_daemon, to_yaml, AppOptions, Stop,
};
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

fn bin() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command.env("NO_COLOR", "1").env("RUST_LOG", "warn");
    command
}

/// A `platform.yml` on PostgreSQL (`${DATABASE_URL}`), in `dir`.
fn config_file(dir: &Path) -> PathBuf {
    let yaml = to_yaml(
        &config_value(&on_postgres("DATABASE_URL"), &dir.join("data")),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
    );
    let path = dir.join("platform.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn run(args: &[&str], config: &Path, url: &str) -> (bool, String) {
    let output = bin()
        .args(args)
        .arg("--config")
        .arg(config)
        .env("DATABASE_URL", url)
        .output()
        .await
        .expect("run mfa-bridge");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_migrate_commands_at_once_on_a_new_database_all_succeed_and_apply_it_once() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());

    let (a, b, c) = tokio::join!(
        run(&["migrate"], &config, &url),
        run(&["migrate"], &config, &url),
        run(&["migrate"], &config, &url)
    );
    let runs = [a, b, c];

    for (ok, text) in &runs {
        assert!(*ok, "{text}");
    }
    assert!(
        runs.iter()
            .any(|(_, text)| text.contains("applied 0001 store")),
        "{runs:?}"
    );
    let (ok, text) = run(&["migrate"], &config, &url).await;
    assert!(ok, "{text}");
    assert!(text.contains("up to date"), "{text}");
    assert_eq!(rows_of(&url, "profiles").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_into_a_postgres_configuration_is_refused_saying_what_to_do() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());

    let (ok, text) = run(&["restore", "--from", "/nonexistent"], &config, &url).await;

    assert!(!ok, "{text}");
    assert!(text.contains("storage.backend is postgres"), "{text}");
    assert!(text.contains("pg_restore"), "{text}");
}

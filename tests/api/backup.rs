//! `mfa-bridge backup` and `restore`, the real binary: a backup taken through the admin API
//! while requests run, restored into a new data directory, serves the same users.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mfa_bridge::clock::{Clock, ManualClock, SystemClock};
use mfa_bridge::config::process_env;

use crate::helpers::{
    config_value, run_in_process, spawn_daemon, to_yaml, AppOptions, TestApp, ADMIN_TOKEN,
};

/// Configured, so that the restored data directory needs no copy of a `server-secret` file.
const STORAGE_SECRET: &str = "backup-test-storage-secret-7f3e9a1c5b2d";

fn bin() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command.env("NO_COLOR", "1").env("RUST_LOG", "warn");
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn backup(app: &TestApp, to: &Path, token: &str) -> Output {
    let admin = format!(
        "http://127.0.0.1:{}",
        app.admin_port.expect("an admin port")
    );
    bin()
        .args(["backup", "--admin", &admin, "--to"])
        .arg(to)
        .env("MFA_BRIDGE_ADMIN_TOKEN", token)
        .output()
        .await
        .expect("run mfa-bridge backup")
}

async fn restore(config: &Path, from: &Path) -> Output {
    bin()
        .args(["restore", "--config"])
        .arg(config)
        .arg("--from")
        .arg(from)
        .output()
        .await
        .expect("run mfa-bridge restore")
}

async fn enrol(app: &TestApp, username: &str) -> Vec<String> {
    let token = app.activate_default(username).await.mfa_token();
    app.confirm(username, &token, &app.last_code())
        .await
        .recovery_codes()
}

#[tokio::test]
async fn a_backup_taken_while_requests_run_restores_the_same_users_into_a_new_data_directory() {
    let options = AppOptions::standalone_single()
        .with_admin()
        .with_storage_secret(STORAGE_SECRET);
    let mut app = spawn_daemon(options.clone(), &[]).await;
    let alice = enrol(&app, "alice").await;
    let bob = enrol(&app, "bob").await;
    let backup_dir = tempfile::tempdir().unwrap();

    // Logins and enrolments keep writing sessions, counters and the attempts log while the
    // backup is taken; it starts once some of them have run.
    let requests = AtomicUsize::new(0);
    let backed_up = Arc::new(tokio::sync::Notify::new());
    let load = async {
        loop {
            let n = requests.fetch_add(1, Ordering::SeqCst);
            app.login("alice").await.assert_status(302);
            app.activate_default(&format!("load-{n}"))
                .await
                .assert_status(302);
            if tokio::time::timeout(Duration::ZERO, backed_up.notified())
                .await
                .is_ok()
            {
                break;
            }
        }
    };
    let take = async {
        while requests.load(Ordering::SeqCst) < 3 {
            tokio::task::yield_now().await;
        }
        let output = backup(&app, backup_dir.path(), ADMIN_TOKEN).await;
        backed_up.notify_one();
        output
    };
    let ((), output) = tokio::join!(load, take);
    assert!(output.status.success(), "backup failed:\n{}", text(&output));
    assert!(text(&output).contains("written to"), "{}", text(&output));
    // After the backup: not in it.
    enrol(&app, "carol").await;
    app.stop().await;

    let restored_dir = tempfile::tempdir().unwrap();
    let config = restored_dir.path().join("platform.yml");
    let yaml = to_yaml(
        &config_value(&options, &restored_dir.path().join("data")),
        &app.provider.base_url(),
        &app.upstream.base_url(),
    );
    std::fs::write(&config, yaml).unwrap();
    let output = restore(&config, backup_dir.path()).await;
    assert!(
        output.status.success(),
        "restore failed:\n{}",
        text(&output)
    );
    let restored = run_in_process(
        &config,
        ManualClock::starting_at(SystemClock.now()),
        Arc::new(process_env),
    )
    .await
    .unwrap();
    app.port = restored.port;
    app.address = format!("http://127.0.0.1:{}", restored.port);

    let personal = app.personal();
    for user in ["alice", "bob"] {
        let status = app.status(user, &personal).await;
        status.assert_status(200);
        assert_eq!(status.json["enabled"], true, "{user}: {:?}", status.json);
        assert_eq!(status.json["methods"], serde_json::json!(["sms"]));
    }
    let carol = app.status("carol", &personal).await;
    assert_eq!(carol.json["enabled"], false, "{:?}", carol.json);
    // alice logs in with a code sent now; bob's recovery codes are the ones he was given.
    let token = app.mfa_login("alice").await;
    app.challenge("alice", &token).await.assert_status(200);
    app.verify("alice", &token, &app.last_code())
        .await
        .assert_status(200);
    app.recover_with_code("bob", &bob[0])
        .await
        .assert_status(200);
    assert_ne!(alice, bob);

    // A second restore into the directory now in use is refused, naming it.
    let output = restore(&config, backup_dir.path()).await;
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("already holds a database"),
        "{}",
        text(&output)
    );
    let _ = restored.stop.send(());
}

#[tokio::test]
async fn a_backup_without_the_admin_token_is_refused_and_writes_nothing() {
    let app = spawn_daemon(AppOptions::standalone_single().with_admin(), &[]).await;
    let dir = tempfile::tempdir().unwrap();

    let output = backup(&app, dir.path(), "not-the-admin-token").await;

    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(text(&output).contains("answered 401"), "{}", text(&output));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

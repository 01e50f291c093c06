//! From one sled daemon to instances on PostgreSQL: `mfa-bridge migrate-store --from sled:PATH`
//! copies the enrolments, the pending sessions and the counters, and the daemons on PostgreSQL
//! take over where the sled daemon stopped.

use std::path::Path;
use std::process::Output;

use serde_json::json;

use crate::helpers::{spawn_daemon, strip_ansi, AppOptions, API_KEY};
use crate::instances::cluster::{
    instance_yaml, instance_yaml_with_key_file, Cluster, SHARED_SECRET,
};

fn migrate_store(config: &Path, from: &Path) -> (Output, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
        .env("NO_COLOR", "1")
        .args(["migrate-store", "--config"])
        .arg(config)
        .arg("--from")
        .arg(format!("sled:{}", from.display()))
        .output()
        .expect("run mfa-bridge migrate-store");
    let text = strip_ansi(&format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ));
    (output, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_daemons_users_and_pending_sessions_carry_on_on_postgres_after_migrate_store() {
    let options = AppOptions::standalone_single().with_storage_secret(SHARED_SECRET);
    let mut sled = spawn_daemon(options.clone(), &[]).await;
    let recovery_codes = sled.enroll("alice").await;
    let token = sled.mfa_login("alice").await;
    sled.challenge("alice", &token).await.assert_status(200);
    let code = sled.last_code();
    sled.stop().await;
    let url = crate::postgres::fresh_database().await;
    let folder = tempfile::tempdir().unwrap();
    let fakes = (sled.provider.base_url(), sled.upstream.base_url());
    let config = folder.path().join("platform.yml");
    std::fs::write(
        &config,
        instance_yaml(&options, &url, folder.path(), (&fakes.0, &fakes.1)),
    )
    .unwrap();

    let (output, text) = migrate_store(&config, &sled.storage_path);

    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("1 enrolled users (profiles), 1 pending sessions"),
        "says what it copied:\n{text}"
    );
    let (again, text) = migrate_store(&config, &sled.storage_path);
    assert_eq!(again.status.code(), Some(1), "{text}");
    assert!(text.contains("the target store is not empty"), "{text}");

    let cluster = Cluster::start_on(2, AppOptions::standalone_single(), url).await;
    let verified = cluster
        .post_to(1, "/alice/mfa/verify", Some(&token), &json!({"code": code}))
        .await;
    verified.assert_status(200);
    assert_eq!(
        verified.json,
        json!({"verified": true, "username": "alice"})
    );
    cluster.login_on(0, "alice").await.mfa_token();
    let key = format!("Bearer {API_KEY}");
    cluster
        .post_to(
            0,
            "/alice/mfa/recover",
            Some(&key),
            &json!({"recoveryCode": recovery_codes[0]}),
        )
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_store_refuses_a_sled_directory_keyed_by_another_secret() {
    let mut sled = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    sled.enroll("alice").await;
    sled.stop().await;
    let url = crate::postgres::fresh_database().await;
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("platform.yml");
    let yaml = instance_yaml(
        &AppOptions::standalone_single(),
        &url,
        folder.path(),
        (&sled.provider.base_url(), &sled.upstream.base_url()),
    );
    std::fs::write(&config, yaml).unwrap();

    let (output, text) = migrate_store(&config, &sled.storage_path);

    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("was keyed by another server secret"),
        "a sled daemon without storage.secret generated its own: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_daemon_with_a_generated_secret_moves_with_its_key_file() {
    // The default sled set-up: no storage.secret, the key generated into the data directory.
    let options = AppOptions::standalone_single();
    let mut sled = spawn_daemon(options.clone(), &[]).await;
    sled.enroll("alice").await;
    let token = sled.mfa_login("alice").await;
    sled.challenge("alice", &token).await.assert_status(200);
    let code = sled.last_code();
    sled.stop().await;
    // The key file, as an operator copies it to the new instances' hosts.
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("mfa-bridge.key");
    std::fs::copy(sled.storage_path.join("server-secret"), &key_file).unwrap();
    let url = crate::postgres::fresh_database().await;
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("platform.yml");
    let fakes = (sled.provider.base_url(), sled.upstream.base_url());
    let yaml = instance_yaml_with_key_file(
        &options,
        &url,
        folder.path(),
        (&fakes.0, &fakes.1),
        &key_file,
    );
    std::fs::write(&config, yaml).unwrap();

    let (output, text) = migrate_store(&config, &sled.storage_path);

    assert_eq!(output.status.code(), Some(0), "{text}");
    let cluster = Cluster::start_with_key_file(2, options, url, &key_file).await;
    cluster
        .post_to(1, "/alice/mfa/verify", Some(&token), &json!({"code": code}))
        .await
        .assert_status(200);
    cluster.login_on(0, "alice").await.mfa_token();
}

//! What must survive a `kill -9` right after the answer (it is flushed before the answer is
//! sent): enrolments, deactivations, recovery-code use, new recovery codes, and the waits set by
//! wrong codes.

use serde_json::json;

use crate::helpers::{code_step_up, spawn_daemon, AppOptions, Stop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_is_on_disk_when_confirm_answers() {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();

    app.restart(Stop::Kill).await;

    let status = app.status("alice", &app.personal()).await;
    status.assert_status(200);
    assert_eq!(status.json["enabled"], json!(true), "{}", status.text);
    app.login("alice").await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_is_on_disk_when_deactivate_answers() {
    let mut app = spawn_daemon(AppOptions::proxy_single(), &[]).await;
    let recovery_codes = app.enroll("alice").await;
    app.deactivate("alice", &app.personal(), &code_step_up(&recovery_codes[0]))
        .await
        .assert_status(200);

    app.restart(Stop::Kill).await;

    app.login("alice").await.assert_status(200);
    let status = app.status("alice", &app.personal()).await;
    assert_eq!(status.json, json!({"enabled": false}), "{}", status.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_code_used_as_step_up_stays_used_after_a_kill_9() {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    let recovery_codes = app.enroll("alice").await;
    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[0]))
        .await
        .mfa_token();

    app.restart(Stop::Kill).await;

    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[0]))
        .await
        .assert_error(400, "invalid-code");
    app.activate_with_step_up("alice", &code_step_up(&recovery_codes[1]))
        .await
        .mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_recovery_codes_are_on_disk_when_the_route_answers() {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    let old = app.enroll("alice").await;
    let new = app
        .new_recovery_codes("alice", &app.personal(), &code_step_up(&old[0]))
        .await
        .recovery_codes();

    app.restart(Stop::Kill).await;

    app.deactivate("alice", &app.personal(), &code_step_up(&old[1]))
        .await
        .assert_error(400, "invalid-code");
    app.deactivate("alice", &app.personal(), &code_step_up(&new[0]))
        .await
        .assert_status(200);
}

/// `base_seconds: 600`, so that the time the restart takes does not matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_set_by_wrong_codes_survives_a_kill_9() {
    let mut app = spawn_daemon(
        AppOptions::standalone_single()
            .with_attempts(json!({"free_failures": 1, "base_seconds": 600, "max_seconds": 3600})),
        &[],
    )
    .await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let wrong = crate::helpers::other_code(&app.last_code());
    for _ in 0..2 {
        app.verify("alice", &mfa_token, &wrong)
            .await
            .assert_error(400, "invalid-code");
    }

    app.restart(Stop::Kill).await;

    let mfa_token = app.mfa_login("alice").await;
    let after_restart = app.verify("alice", &mfa_token, "000000").await;
    let delay = after_restart.remaining_delay();
    assert!(delay > 0, "{}", after_restart.text);
}

/// Every counted attempt is flushed before its answer; fifty at once must neither hang a
/// request nor the shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daemon_keeps_answering_and_stops_cleanly_after_fifty_concurrent_attempts() {
    let mut app = spawn_daemon(
        AppOptions::standalone_single().with_attempts(json!({"free_failures": 3})),
        &[],
    )
    .await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();

    let responses = app
        .post_concurrently(
            50,
            "/alice/mfa/verify",
            &crate::helpers::Auth::raw(&mfa_token),
            &json!({"code": crate::helpers::other_code(&code)}),
        )
        .await;
    assert_eq!(responses.len(), 50);
    app.verify("alice", &mfa_token, &code)
        .await
        .remaining_delay();
    app.status("alice", &app.personal())
        .await
        .assert_status(200);

    // SIGTERM: the daemon flushes its store and must exit cleanly within 10 s.
    app.stop().await;
}

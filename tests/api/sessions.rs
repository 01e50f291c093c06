//! MFA sessions and codes: single use, expiry, wrong codes, several pending sessions at once.

use crate::fakes::upstream_grant;
use crate::helpers::{other_code, spawn_app, AppOptions, INVALID_SESSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_consumed_by_a_successful_confirm() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();

    let again = app.confirm("alice", &mfa_token, &code).await;

    again.assert_error_message(403, "forbidden", INVALID_SESSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_consumed_by_a_successful_verify() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);

    let verify_again = app.verify("alice", &mfa_token, &code).await;
    let challenge_again = app.challenge("alice", &mfa_token).await;

    verify_again.assert_error_message(403, "forbidden", INVALID_SESSION);
    challenge_again.assert_error_message(403, "forbidden", INVALID_SESSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_is_refused_without_echoing_it_and_the_right_code_still_works() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    let wrong = other_code(&code);

    let refused = app.confirm("alice", &mfa_token, &wrong).await;

    let message = refused.assert_error(400, "invalid-code");
    assert!(
        !refused.text.contains(&wrong),
        "the answer must not contain the submitted code: {}",
        refused.text
    );
    assert!(!message.contains(&code), "nor the right one: {message}");
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_refuses_a_wrong_code_and_keeps_the_grant() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    let wrong = other_code(&code);

    let refused = app.verify("alice", &mfa_token, &wrong).await;

    refused.assert_error(400, "invalid-code");
    assert!(!refused.text.contains(&wrong), "body: {}", refused.text);
    assert!(
        !refused.text.contains("grant-token"),
        "body: {}",
        refused.text
    );
    let verified = app.verify("alice", &mfa_token, &code).await;
    verified.assert_status(200);
    assert_eq!(verified.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_cannot_be_used_twice() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let first_token = app.mfa_login("alice").await;
    app.challenge("alice", &first_token)
        .await
        .assert_status(200);
    let used = app.last_code();
    app.verify("alice", &first_token, &used)
        .await
        .assert_status(200);

    let second_token = app.mfa_login("alice").await;
    app.challenge("alice", &second_token)
        .await
        .assert_status(200);
    let fresh = app.last_code();
    assert_ne!(
        used, fresh,
        "two sends gave the same code (one chance in a million): rerun"
    );
    let reused = app.verify("alice", &second_token, &used).await;

    let message = reused.assert_error(400, "invalid-code");
    assert!(!message.contains(&used), "message: {message}");
    app.verify("alice", &second_token, &fresh)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_code_is_refused() {
    let app = spawn_app(AppOptions::proxy_single().with_code_ttl_seconds(60)).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();

    app.advance_clock(60);
    let response = app.confirm("alice", &mfa_token, &code).await;

    let message = response.assert_error(400, "invalid-code");
    assert!(!message.contains(&code), "message: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_still_works_a_second_before_it_expires() {
    let app = spawn_app(AppOptions::proxy_single().with_code_ttl_seconds(60)).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();

    app.advance_clock(59);
    app.confirm("alice", &mfa_token, &code)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_mfa_token_is_forbidden() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.login("alice").await.mfa_token();

    app.advance_clock(1800);
    app.challenge("alice", &mfa_token)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mfa_token_is_forbidden_on_confirm_challenge_and_verify() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let unknown = "0123456789abcdef0123456789abcdef";

    let confirm = app.confirm("alice", unknown, "123456").await;
    let challenge = app.challenge("alice", unknown).await;
    let verify = app.verify("alice", unknown, "123456").await;

    for response in [confirm, challenge, verify] {
        response.assert_error_message(403, "forbidden", INVALID_SESSION);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mfa_token_of_one_user_is_refused_on_another_users_routes() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    app.enroll("bob").await;
    let alice_token = app.mfa_login("alice").await;
    app.challenge("alice", &alice_token)
        .await
        .assert_status(200);
    let alice_code = app.last_code();

    let as_bob_challenge = app.challenge("bob", &alice_token).await;
    let as_bob_verify = app.verify("bob", &alice_token, &alice_code).await;

    as_bob_challenge.assert_error_message(403, "forbidden", INVALID_SESSION);
    as_bob_verify.assert_error_message(403, "forbidden", INVALID_SESSION);
    assert!(
        !as_bob_verify.text.contains("grant-token"),
        "{}",
        as_bob_verify.text
    );
    let verified = app.verify("alice", &alice_token, &alice_code).await;
    verified.assert_status(200);
    assert_eq!(verified.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pending_sessions_of_the_same_user_each_verify_with_their_own_code() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let first = app.mfa_login("alice").await;
    let second = app.mfa_login("alice").await;
    assert_ne!(first, second, "each login opens its own session");
    app.challenge("alice", &first).await.assert_status(200);
    let first_code = app.last_code();
    app.challenge("alice", &second).await.assert_status(200);
    let second_code = app.last_code();
    assert_ne!(
        first_code, second_code,
        "same code twice (one chance in a million): rerun"
    );

    let crossed = app.verify("alice", &first, &second_code).await;
    crossed.assert_error(400, "invalid-code");

    let second_ok = app.verify("alice", &second, &second_code).await;
    let first_ok = app.verify("alice", &first, &first_code).await;
    second_ok.assert_status(200);
    first_ok.assert_status(200);
    assert_eq!(first_ok.json, upstream_grant("alice"));
    assert_eq!(second_ok.json, upstream_grant("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pending_activations_of_the_same_user_keep_their_own_codes_and_the_first_confirmed_wins(
) {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let first = app.activate_default("alice").await.mfa_token();
    let first_code = app.last_code();
    let second = app.activate_default("alice").await.mfa_token();
    let second_code = app.last_code();

    // A code of one activation does nothing for the other.
    if first_code != second_code {
        app.confirm("alice", &first, &second_code)
            .await
            .assert_error(400, "invalid-code");
    }
    app.confirm("alice", &second, &second_code)
        .await
        .recovery_codes();
    // The other activation would replace an enrolment it never saw, without a step-up.
    app.confirm("alice", &first, &first_code)
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_sessions_of_two_users_do_not_disturb_each_other() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let alice = app.activate_default("alice").await.mfa_token();
    let alice_code = app.last_code();
    let bob = app.activate_default("bob").await.mfa_token();
    let bob_code = app.last_code();

    let bob_confirmed = app.confirm("bob", &bob, &bob_code).await;
    let alice_confirmed = app.confirm("alice", &alice, &alice_code).await;

    bob_confirmed.recovery_codes();
    alice_confirmed.recovery_codes();
    let alice_login = app.mfa_login("alice").await;
    let bob_login = app.mfa_login("bob").await;
    app.challenge("alice", &alice_login)
        .await
        .assert_status(200);
    let alice_code = app.last_code();
    app.challenge("bob", &bob_login).await.assert_status(200);
    let bob_code = app.last_code();
    let alice_verified = app.verify("alice", &alice_login, &alice_code).await;
    let bob_verified = app.verify("bob", &bob_login, &bob_code).await;
    assert_eq!(
        alice_verified.json,
        upstream_grant("alice"),
        "{}",
        alice_verified.text
    );
    assert_eq!(
        bob_verified.json,
        upstream_grant("bob"),
        "{}",
        bob_verified.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_challenge_sends_a_new_code_to_the_provider() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;
    let before = app.provider.count();

    app.challenge("alice", &mfa_token).await.assert_status(200);
    app.challenge("alice", &mfa_token).await.assert_status(200);

    assert_eq!(app.provider.count(), before + 2);
    let code = app.last_code();
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);
}

//! Wrong codes: a session dies after `mfa.attempts.per_session` of them; every attempt also
//! counts on the user (across sessions and routes), and past `free_failures` the user waits
//! `min(base_seconds * 2^(f - free_failures - 1), max_seconds)`, answered 429 with
//! `remainingDelay` and `Retry-After`.

use serde_json::json;

use crate::fakes::PROVIDER_VALID_CODE;
use crate::helpers::{
    code_step_up, other_code, password_step_up, spawn_app, AppOptions, TestApp, TestResponse,
    INVALID_SESSION,
};

const TOO_MANY_WRONG_CODES: &str = "Too many wrong codes. Please log in again.";

/// A login session of an enrolled user with its challenge sent; returns the mfaToken and the
/// code the user would type.
async fn login_with_code(app: &TestApp, username: &str) -> (String, String) {
    let mfa_token = app.mfa_login(username).await;
    app.challenge(username, &mfa_token).await.assert_status(200);
    (mfa_token, app.code_from_last_send())
}

fn count(responses: &[TestResponse], status: u16) -> usize {
    responses.iter().filter(|r| r.status == status).count()
}

fn statuses(responses: &[TestResponse]) -> String {
    responses
        .iter()
        .map(|r| format!("{} {}", r.status, r.text))
        .collect::<Vec<_>>()
        .join("\n")
}

// --- the per-session ceiling ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_session_dies_at_the_wrong_code_that_reaches_the_per_session_ceiling() {
    let app = spawn_app(AppOptions::proxy_single().with_attempts(json!({"per_session": 3}))).await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;
    let wrong = other_code(&code);

    app.verify("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    let third = app.verify("alice", &mfa_token, &wrong).await;
    let right_afterwards = app.verify("alice", &mfa_token, &code).await;

    third.assert_error_message(403, "forbidden", TOO_MANY_WRONG_CODES);
    right_afterwards.assert_error_message(403, "forbidden", INVALID_SESSION);
    assert!(
        !right_afterwards.text.contains("grant-token"),
        "{}",
        right_afterwards.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_session_dies_at_the_wrong_code_that_reaches_the_per_session_ceiling() {
    let app = spawn_app(AppOptions::proxy_single().with_attempts(json!({"per_session": 3}))).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    let wrong = other_code(&code);

    app.confirm("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    app.confirm("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    let third = app.confirm("alice", &mfa_token, &wrong).await;
    let right_afterwards = app.confirm("alice", &mfa_token, &code).await;

    third.assert_error_message(403, "forbidden", TOO_MANY_WRONG_CODES);
    right_afterwards.assert_error_message(403, "forbidden", INVALID_SESSION);
    app.login("alice").await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_challenge_verify_mode_a_dead_session_no_longer_reaches_the_verify_endpoint() {
    let app =
        spawn_app(AppOptions::proxy_challenge_verify().with_attempts(json!({"per_session": 3})))
            .await;
    app.enroll("alice").await;
    let (mfa_token, _) = login_with_code(&app, "alice").await;

    for _ in 0..2 {
        app.verify("alice", &mfa_token, "111111")
            .await
            .assert_error(400, "invalid-code");
    }
    app.verify("alice", &mfa_token, "111111")
        .await
        .assert_error_message(403, "forbidden", TOO_MANY_WRONG_CODES);
    let checks_before = app.provider.requests_to("/verify").len();
    let right_afterwards = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    right_afterwards.assert_error_message(403, "forbidden", INVALID_SESSION);
    assert_eq!(
        app.provider.requests_to("/verify").len(),
        checks_before,
        "a dead session's code must not be checked with the provider"
    );
}

/// The ceiling holds under concurrency: attempts are counted before they are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_wrong_codes_get_exactly_per_session_minus_one_invalid_codes() {
    let app = spawn_app(AppOptions::proxy_single().with_attempts(json!({"per_session": 5}))).await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;

    let responses = app
        .post_concurrently(
            20,
            "/alice/mfa/verify",
            &crate::helpers::Auth::raw(&mfa_token),
            &json!({"code": other_code(&code)}),
        )
        .await;

    assert_eq!(
        count(&responses, 400),
        4,
        "exactly per_session - 1 wrong codes may be checked:\n{}",
        statuses(&responses)
    );
    assert_eq!(count(&responses, 403), 16, "{}", statuses(&responses));
    for response in responses.iter().filter(|r| r.status == 403) {
        response.assert_error(403, "forbidden");
    }
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_error_message(403, "forbidden", INVALID_SESSION);
}

// --- the per-user tally -------------------------------------------------------------------------

/// The brief's example: failures #1-#3 free, #4 sets 1 s, after 1 s #5 sets 2 s, #6 (refused
/// while waiting, the right code at that) sets 4 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wait_doubles_with_each_failure_beyond_the_free_ones_and_refuses_even_the_right_code() {
    let app = spawn_app(
        AppOptions::proxy_single()
            .with_attempts(json!({"free_failures": 3, "base_seconds": 1, "max_seconds": 900})),
    )
    .await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;
    let wrong = other_code(&code);

    for attempt in 1..=4 {
        let response = app.verify("alice", &mfa_token, &wrong).await;
        assert_eq!(
            response.status, 400,
            "attempt #{attempt}: {}",
            response.text
        );
        response.assert_error(400, "invalid-code");
    }
    app.advance_clock(1);
    app.verify("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    let sixth = app.verify("alice", &mfa_token, &code).await;

    assert_eq!(sixth.remaining_delay(), 4, "body: {}", sixth.text);
    assert!(!sixth.text.contains("grant-token"), "{}", sixth.text);
    app.advance_clock(4);
    let verified = app.verify("alice", &mfa_token, &code).await;
    verified.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_check_resets_the_tally() {
    let app =
        spawn_app(AppOptions::proxy_single().with_attempts(json!({"free_failures": 3}))).await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;
    for _ in 0..4 {
        app.verify("alice", &mfa_token, &other_code(&code))
            .await
            .assert_error(400, "invalid-code");
    }
    app.verify("alice", &mfa_token, &code)
        .await
        .remaining_delay();
    app.advance_clock(60);
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);

    let (mfa_token, code) = login_with_code(&app, "alice").await;
    let wrong_after_success = app.verify("alice", &mfa_token, &other_code(&code)).await;

    wrong_after_success.assert_error(400, "invalid-code");
    app.verify("alice", &mfa_token, &code)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_a_wait_the_verify_endpoint_of_the_provider_is_not_called() {
    let app =
        spawn_app(AppOptions::proxy_challenge_verify().with_attempts(json!({"free_failures": 3})))
            .await;
    app.enroll("alice").await;
    let (mfa_token, _) = login_with_code(&app, "alice").await;
    for _ in 0..4 {
        app.verify("alice", &mfa_token, "111111")
            .await
            .assert_error(400, "invalid-code");
    }
    let checks_before = app.provider.requests_to("/verify").len();

    let refused = app.verify("alice", &mfa_token, PROVIDER_VALID_CODE).await;

    refused.remaining_delay();
    assert_eq!(
        app.provider.requests_to("/verify").len(),
        checks_before,
        "an attempt refused during a wait is not checked"
    );
}

/// The key race: every attempt is counted atomically before it is checked.
async fn fifty_concurrent_wrong_codes(options: AppOptions, wrong: &str) {
    let app = spawn_app(options.with_attempts(json!({
        "per_session": 100,
        "free_failures": 3,
        "base_seconds": 1,
        "max_seconds": 900,
    })))
    .await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;
    let wrong = if wrong.is_empty() {
        other_code(&code)
    } else {
        wrong.to_string()
    };
    let checks_before = app.provider.requests_to("/verify").len();

    let responses = app
        .post_concurrently(
            50,
            "/alice/mfa/verify",
            &crate::helpers::Auth::raw(&mfa_token),
            &json!({ "code": wrong }),
        )
        .await;

    assert_eq!(
        count(&responses, 400),
        4,
        "exactly free_failures + 1 wrong codes may be checked:\n{}",
        statuses(&responses)
    );
    assert_eq!(count(&responses, 429), 46, "{}", statuses(&responses));
    for response in &responses {
        match response.status {
            400 => {
                response.assert_error(400, "invalid-code");
            }
            _ => {
                response.remaining_delay();
            }
        }
    }
    if app.options.sms == crate::helpers::SmsMode::ChallengeVerify {
        assert_eq!(
            app.provider.requests_to("/verify").len() - checks_before,
            4,
            "the provider checks exactly the 4 attempts that were not refused"
        );
    }
    let next = app.verify("alice", &mfa_token, &code).await;
    assert_eq!(
        next.remaining_delay(),
        900,
        "all 50 attempts counted, so the wait is at max_seconds; body: {}",
        next.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_get_exactly_four_invalid_codes_and_forty_six_waits() {
    fifty_concurrent_wrong_codes(AppOptions::proxy_single(), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_wrong_codes_reach_the_providers_verify_endpoint_exactly_four_times() {
    fifty_concurrent_wrong_codes(AppOptions::proxy_challenge_verify(), "111111").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_on_the_user_across_sessions_confirm_verify_recover_and_step_up() {
    let app =
        spawn_app(AppOptions::proxy_single().with_attempts(json!({"free_failures": 3}))).await;
    let recovery_codes = app.enroll("alice").await;
    let (session_a, code_a) = login_with_code(&app, "alice").await;
    let (session_b, code_b) = login_with_code(&app, "alice").await;
    // A re-enrolment in progress (its step-up succeeds, which resets the tally).
    let activation = app
        .activate_with_step_up("alice", &code_step_up(&recovery_codes[0]))
        .await
        .mfa_token();
    let activation_code = app.last_code();

    // Four failures, each on another route or session.
    app.confirm("alice", &activation, &other_code(&activation_code))
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &session_a, &other_code(&code_a))
        .await
        .assert_error(400, "invalid-code");
    app.recover_with_code("alice", "0000-0000-0000")
        .await
        .assert_error_message(400, "invalid-parameters-format", "Invalid recovery code.");
    app.deactivate("alice", &app.personal(), &code_step_up("zzzz-zzzz-zzzz"))
        .await
        .assert_error(400, "invalid-code");

    // Now every route waits, the right secrets included.
    app.verify("alice", &session_b, &code_b)
        .await
        .remaining_delay();
    app.confirm("alice", &activation, &activation_code)
        .await
        .remaining_delay();
    app.recover_with_code("alice", &recovery_codes[1])
        .await
        .remaining_delay();
    let logins_before = app.upstream.requests_to("/alice/auth/login").len();
    app.deactivate("alice", &app.personal(), &password_step_up())
        .await
        .remaining_delay();
    assert_eq!(
        app.upstream.requests_to("/alice/auth/login").len(),
        logins_before,
        "a step-up password is refused unchecked during a wait"
    );
    app.login("alice").await.mfa_token();

    app.advance_clock(120);
    app.verify("alice", &session_b, &code_b)
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tally_lapses_after_window_seconds_without_attempts() {
    let app = spawn_app(
        AppOptions::proxy_single()
            // window_seconds may not be shorter than max_seconds
            .with_attempts(json!({"free_failures": 3, "max_seconds": 100, "window_seconds": 100})),
    )
    .await;
    app.enroll("alice").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;
    let wrong = other_code(&code);
    for _ in 0..3 {
        app.verify("alice", &mfa_token, &wrong)
            .await
            .assert_error(400, "invalid-code");
    }

    // Within the window the tally holds: failure #4 sets a wait.
    app.advance_clock(99);
    app.verify("alice", &mfa_token, &wrong)
        .await
        .assert_error(400, "invalid-code");
    app.verify("alice", &mfa_token, &wrong)
        .await
        .remaining_delay();

    // A whole window without attempts: four failures are free again.
    app.advance_clock(101);
    for attempt in 1..=4 {
        let response = app.verify("alice", &mfa_token, &wrong).await;
        assert_eq!(
            response.status, 400,
            "attempt #{attempt} after the lapse: {}",
            response.text
        );
    }
    let fifth = app.verify("alice", &mfa_token, &code).await;
    assert_eq!(fifth.remaining_delay(), 2, "body: {}", fifth.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemons_defaults_apply_when_attempts_and_send_limits_are_not_configured() {
    let app = spawn_app(AppOptions::proxy_single().with_default_limits()).await;
    app.enroll("alice").await;
    app.enroll("bob").await;
    let (mfa_token, code) = login_with_code(&app, "alice").await;

    // send_limits.min_interval_seconds: 30
    let again = app.challenge("alice", &mfa_token).await;
    assert_eq!(again.remaining_delay(), 30, "body: {}", again.text);

    // attempts.per_session: 5 (free_failures 3 and base_seconds 1: #4 waits 1 s)
    let wrong = other_code(&code);
    for attempt in 1..=4 {
        let response = app.verify("alice", &mfa_token, &wrong).await;
        assert_eq!(
            response.status, 400,
            "attempt #{attempt}: {}",
            response.text
        );
    }
    app.advance_clock(1);
    app.verify("alice", &mfa_token, &wrong)
        .await
        .assert_error_message(403, "forbidden", TOO_MANY_WRONG_CODES);

    // attempts.free_failures: 3, base_seconds: 1 (attempt #5 waits 2 s)
    let (mfa_token, code) = login_with_code(&app, "bob").await;
    for attempt in 1..=4 {
        let response = app.verify("bob", &mfa_token, &other_code(&code)).await;
        assert_eq!(
            response.status, 400,
            "attempt #{attempt}: {}",
            response.text
        );
    }
    let fifth = app.verify("bob", &mfa_token, &code).await;
    assert_eq!(fifth.remaining_delay(), 2, "body: {}", fifth.text);
}

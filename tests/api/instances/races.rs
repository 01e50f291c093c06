//! Exact to the last attempt, whichever instance answers: attempts counted once before they
//! are checked, codes, authenticator steps and recovery codes spent once, send limits counted
//! once, with the requests of a race spread over three daemons.

use serde_json::{json, Value};

use crate::helpers::{other_code, AppOptions, TestResponse};
use crate::instances::cluster::Cluster;

const PER_SESSION: u64 = 5;

/// Attempts such that only the per-session ceiling is met (1 000 wrong codes stay within the
/// user's free failures).
fn per_session_only() -> Value {
    json!({"per_session": PER_SESSION, "free_failures": 1000})
}

fn count(answers: &[TestResponse], status: u16, id: Option<&str>) -> usize {
    answers
        .iter()
        .filter(|a| a.status == status && id.is_none_or(|id| a.json["error"]["id"] == json!(id)))
        .count()
}

fn statuses(answers: &[TestResponse]) -> String {
    let mut seen: Vec<String> = answers
        .iter()
        .map(|a| format!("{} {}", a.status, a.text))
        .collect();
    seen.sort();
    seen.dedup();
    seen.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_wrong_codes_on_one_session_over_three_instances_are_checked_per_session_times()
{
    let cluster = Cluster::start(
        3,
        AppOptions::standalone_single().with_attempts(per_session_only()),
    )
    .await;
    cluster.enroll("alice").await;
    let (token, code) = cluster.login_and_challenge("alice").await;

    let answers = cluster
        .post_spread(
            1000,
            "/alice/mfa/verify",
            Some(&token),
            &json!({"code": other_code(&code)}),
        )
        .await;

    // The attempts counted 1 .. per_session - 1 are checked and answered invalid-code; the one
    // that reaches the ceiling is checked and closes the session; every later one is refused
    // unchecked (the session locked, then gone).
    assert_eq!(
        count(&answers, 400, Some("invalid-code")),
        PER_SESSION as usize - 1,
        "{}",
        statuses(&answers)
    );
    assert_eq!(
        count(&answers, 403, Some("forbidden")),
        1000 - (PER_SESSION as usize - 1),
        "{}",
        statuses(&answers)
    );
    let after = cluster
        .post("/alice/mfa/verify", Some(&token), &json!({"code": code}))
        .await;
    after.assert_error(403, "forbidden");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_wrong_codes_on_fifty_sessions_of_one_user_count_fifty_in_the_users_tally() {
    let cluster = Cluster::start(
        3,
        AppOptions::standalone_single()
            .with_attempts(per_session_only())
            .with_admin(),
    )
    .await;
    cluster.enroll("alice").await;
    let mut requests = Vec::new();
    for _ in 0..50 {
        let token = cluster.login("alice").await.mfa_token();
        requests.push((
            "/alice/mfa/verify".to_string(),
            Some(token),
            json!({"code": "000000"}),
        ));
    }
    // A code of all zeros is the code of none of these sessions: none was challenged.
    let answers = cluster.post_all(requests).await;

    assert_eq!(
        count(&answers, 400, Some("invalid-code")),
        50,
        "{}",
        statuses(&answers)
    );
    for i in 0..cluster.len() {
        let user = cluster.admin(i, "GET", "/api/users/alice", None).await;
        user.assert_status(200);
        assert_eq!(
            user.json["wait"]["failures"],
            json!(50),
            "instance {i}: {}",
            user.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_right_codes_on_one_session_over_three_instances_grant_once() {
    let cluster = Cluster::start(3, AppOptions::proxy_single()).await;
    cluster.enroll("alice").await;
    let (token, code) = cluster.login_and_challenge("alice").await;

    let answers = cluster
        .post_spread(
            64,
            "/alice/mfa/verify",
            Some(&token),
            &json!({"code": code}),
        )
        .await;

    let granted: Vec<&TestResponse> = answers.iter().filter(|a| a.status == 200).collect();
    assert_eq!(granted.len(), 1, "{}", statuses(&answers));
    assert_eq!(
        granted[0].json,
        crate::fakes::upstream_grant("alice"),
        "the grant is the upstream's answer"
    );
    assert_eq!(
        count(&answers, 403, Some("forbidden")),
        63,
        "the others find the session used: {}",
        statuses(&answers)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_recovery_code_sent_sixty_four_times_over_three_instances_is_accepted_once() {
    let cluster = Cluster::start(3, AppOptions::standalone_single()).await;
    let codes = cluster.enroll("alice").await;
    let key = format!("Bearer {}", crate::helpers::API_KEY);

    let answers = cluster
        .post_spread(
            64,
            "/alice/mfa/recover",
            Some(&key),
            &json!({"recoveryCode": codes[0]}),
        )
        .await;

    assert_eq!(count(&answers, 200, None), 1, "{}", statuses(&answers));
    assert!(
        answers.iter().all(|a| a.status == 200 || a.status == 400),
        "the others are refused as a wrong recovery code: {}",
        statuses(&answers)
    );
}

/// The code an authenticator shows for `secret` (base32) at `time`.
fn totp_at(secret: &str, time: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("a base32 secret");
    totp_rs::TOTP::new_unchecked(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, None, "x".into())
        .generate(time)
}

/// Seconds since the epoch on the system clock, which the daemons run on.
fn unix_now() -> u64 {
    use mfa_bridge::clock::Clock;
    mfa_bridge::clock::SystemClock.now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_authenticator_step_on_twenty_sessions_over_three_instances_is_accepted_once() {
    let cluster = Cluster::start(3, AppOptions::standalone_single()).await;
    let activation = cluster
        .post(
            "/alice/mfa/activate",
            Some(&cluster.personal()),
            &json!({"method": "totp"}),
        )
        .await;
    let token = activation.mfa_token();
    let secret = activation.json["secret"]
        .as_str()
        .expect("a secret")
        .to_string();
    cluster
        .post(
            "/alice/mfa/confirm",
            Some(&token),
            &json!({"code": totp_at(&secret, unix_now())}),
        )
        .await
        .recovery_codes();
    let mut requests = Vec::new();
    for _ in 0..20 {
        let token = cluster.login("alice").await.mfa_token();
        requests.push(("/alice/mfa/verify".to_string(), Some(token), Value::Null));
    }
    // The next step's code: within the default drift for the next minute, and never the step
    // the confirmation used.
    let code = totp_at(&secret, unix_now() + 30);
    for r in &mut requests {
        r.2 = json!({"code": code});
    }

    let answers = cluster.post_all(requests).await;

    assert_eq!(count(&answers, 200, None), 1, "{}", statuses(&answers));
    assert_eq!(
        count(&answers, 400, Some("invalid-code")),
        19,
        "{}",
        statuses(&answers)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_challenges_over_three_instances_send_no_more_than_the_users_hourly_limit() {
    let cluster = Cluster::start(
        3,
        AppOptions::standalone_single().with_send_limits(json!({"per_user_per_hour": 5})),
    )
    .await;
    cluster.enroll("alice").await;
    let mut requests = Vec::new();
    for _ in 0..20 {
        let token = cluster.login("alice").await.mfa_token();
        requests.push(("/alice/mfa/challenge".to_string(), Some(token), json!({})));
    }

    let answers = cluster.post_all(requests).await;

    // The activation was the first of the hour's 5 sends.
    assert_eq!(count(&answers, 200, None), 4, "{}", statuses(&answers));
    assert_eq!(
        count(&answers, 429, Some("too-many-attempts")),
        16,
        "{}",
        statuses(&answers)
    );
    assert_eq!(
        cluster.sends_to("alice"),
        5,
        "5 messages reached the provider"
    );
}

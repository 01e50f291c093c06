//! An instance killed, the database stopped as by a crash: what was answered before holds,
//! nothing succeeds that should not, and service resumes on its own.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::helpers::{other_code, phone_for, AppOptions, TestResponse};
use crate::instances::cluster::Cluster;
use crate::postgres::TestServer;

/// What one user's run through the flows was answered.
#[derive(Default, Debug)]
struct Run {
    /// The enrolment was confirmed (200 with recovery codes).
    enrolled: bool,
    /// A login verified with its code (200): the token and the code, spent.
    spent: Option<(String, String)>,
}

/// Activate, confirm, login, challenge, a wrong code, the right code: each step on the next
/// live instance; stops at the first step without an answer (its instance was killed). Every
/// answer received must be the right one.
async fn run_through(cluster: &Cluster, username: &str) -> Run {
    let mut run = Run::default();
    let step = |path: String, authorization: Option<String>, body: serde_json::Value| async move {
        cluster
            .try_post_to(
                cluster.next_instance(),
                &path,
                authorization.as_deref(),
                &body,
            )
            .await
    };
    let Ok(activation) = step(
        format!("/{username}/mfa/activate"),
        Some(cluster.personal()),
        json!({"phone": phone_for(username)}),
    )
    .await
    else {
        return run;
    };
    let token = activation.mfa_token();
    let code = cluster.code_sent_to(username);
    let Ok(confirmed) = step(
        format!("/{username}/mfa/confirm"),
        Some(token),
        json!({"code": code}),
    )
    .await
    else {
        return run;
    };
    confirmed.recovery_codes();
    run.enrolled = true;
    let Ok(login) = cluster
        .try_login_on(cluster.next_instance(), username)
        .await
    else {
        return run;
    };
    let token = login.mfa_token();
    let Ok(challenged) = step(
        format!("/{username}/mfa/challenge"),
        Some(token.clone()),
        json!({}),
    )
    .await
    else {
        return run;
    };
    challenged.assert_status(200);
    let code = cluster.code_sent_to(username);
    let Ok(wrong) = step(
        format!("/{username}/mfa/verify"),
        Some(token.clone()),
        json!({"code": other_code(&code)}),
    )
    .await
    else {
        return run;
    };
    wrong.assert_error(400, "invalid-code");
    let Ok(right) = step(
        format!("/{username}/mfa/verify"),
        Some(token.clone()),
        json!({"code": code}),
    )
    .await
    else {
        return run;
    };
    right.assert_status(200);
    run.spent = Some((token, code));
    run
}

/// Every enrolment answered holds and every spent code stays spent, on every live instance.
async fn assert_nothing_answered_is_lost(
    cluster: &Cluster,
    runs: &[(String, Run)],
    live: &[usize],
) {
    for (username, run) in runs {
        for &i in live {
            if run.enrolled {
                cluster.login_on(i, username).await.mfa_token();
            }
            if let Some((token, code)) = &run.spent {
                let replay = cluster
                    .post_to(
                        i,
                        &format!("/{username}/mfa/verify"),
                        Some(token),
                        &json!({"code": code}),
                    )
                    .await;
                replay.assert_error(403, "forbidden");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_run_loses_nothing_it_answered_and_the_others_serve_on() {
    let cluster = Arc::new(Cluster::start(3, AppOptions::standalone_single()).await);
    let mut runs = Vec::new();
    for n in 0..6 {
        let username = format!("before{n}");
        let run = run_through(&cluster, &username).await;
        assert!(
            run.spent.is_some(),
            "all instances up: {username} goes through"
        );
        runs.push((username, run));
    }

    // Kill instance 1 while six users go through at once (some of their requests on it).
    let mut during = tokio::task::JoinSet::new();
    for n in 0..6 {
        let cluster = Arc::clone(&cluster);
        during.spawn(async move {
            let username = format!("during{n}");
            let run = run_through(&cluster, &username).await;
            (username, run)
        });
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    cluster.kill(1).await;
    while let Some(run) = during.join_next().await {
        runs.push(run.expect("a user's run"));
    }
    for n in 0..4 {
        let username = format!("after{n}");
        let run = run_through(&cluster, &username).await;
        assert!(
            run.spent.is_some(),
            "{username} goes through the instances left"
        );
        runs.push((username, run));
    }

    assert_nothing_answered_is_lost(&cluster, &runs, &[0, 2]).await;
}

/// A login, a verify with the right code and an activation, at once on instance `i`.
async fn asked_while_down(
    cluster: &Cluster,
    i: usize,
    token: &str,
    code: &str,
) -> Vec<TestResponse> {
    let personal = cluster.personal();
    let verify = json!({"code": code});
    let activate = json!({"phone": phone_for("carol")});
    let (login, verified, activated) = tokio::join!(
        cluster.login_on(i, "bob"),
        cluster.post_to(i, "/bob/mfa/verify", Some(token), &verify),
        cluster.post_to(i, "/carol/mfa/activate", Some(&personal), &activate),
    );
    vec![login, verified, activated]
}

/// Whether an answer holds a grant or a success: it must not while the database is down.
fn succeeded(answer: &TestResponse) -> bool {
    answer.status < 400 || answer.json.get("verified").is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_immediately_and_restarted_refuses_while_down_and_serves_again_without_a_restart(
) {
    let server = TestServer::start();
    let url = server.fresh_database().await;
    let cluster = Cluster::start_on(3, AppOptions::proxy_single(), url).await;
    let mut runs = Vec::new();
    for n in 0..3 {
        let username = format!("before{n}");
        let run = run_through(&cluster, &username).await;
        assert!(run.spent.is_some(), "{username} goes through");
        runs.push((username, run));
    }
    cluster.enroll("bob").await;
    let (token, code) = cluster.login_and_challenge("bob").await;

    server.stop_immediate();
    let (a, b, c) = tokio::join!(
        asked_while_down(&cluster, 0, &token, &code),
        asked_while_down(&cluster, 1, &token, &code),
        asked_while_down(&cluster, 2, &token, &code),
    );
    for (i, answers) in [a, b, c].iter().enumerate() {
        for answer in answers {
            assert!(
                !succeeded(answer),
                "instance {i}, database down: {} {}",
                answer.status,
                answer.text
            );
            answer.assert_error(503, "storage-unavailable");
            assert!(
                answer.headers.get("retry-after").is_some(),
                "instance {i}: a 503 without Retry-After"
            );
        }
    }
    server.start_again();

    // Every instance serves again on its own, within a few seconds (its pool reconnects).
    for i in 0..cluster.len() {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let login = cluster.login_on(i, "bob").await;
            if login.status == 302 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "instance {i} does not serve again: {} {}\n{}",
                login.status,
                login.text,
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for n in 0..3 {
        let username = format!("after{n}");
        let run = run_through(&cluster, &username).await;
        assert!(
            run.spent.is_some(),
            "{username} goes through after the restart"
        );
        runs.push((username, run));
    }
    assert_nothing_answered_is_lost(&cluster, &runs, &[0, 1, 2]).await;
}

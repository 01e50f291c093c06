//! `mfa.destinations.allow` / `deny`: E.164 prefixes checked on phone fields at activate and
//! before every send. A refused number is a 400 `invalid-parameters-format` whose message names
//! the rule and the prefix, never the number; nothing is sent.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_daemon, AppOptions, Stop, TestApp, TestResponse};

const BAHAMAS: &str = "+12425550123";
const NEW_YORK: &str = "+12125550123";
const SWISS: &str = "+41791230042";
const GERMAN: &str = "+4915112345678";

async fn activate_with(app: &TestApp, username: &str, phone: &str) -> TestResponse {
    app.activate(username, &app.personal(), &json!({ "phone": phone }))
        .await
}

/// A 400 `invalid-parameters-format` naming `rule` and `prefix` but not `number`.
fn assert_refused_by(response: &TestResponse, rule: &str, prefix: &str, number: &str) {
    let message = response.assert_error(400, "invalid-parameters-format");
    assert!(
        message.contains(rule) && message.contains(prefix),
        "the message must name the rule {rule:?} and the prefix {prefix:?}: {message}"
    );
    let digits = number.trim_start_matches('+');
    assert!(
        !response.text.contains(digits),
        "the answer must not hold the number: {}",
        response.text
    );
}

async fn a_denied_prefix_is_refused_at_activate(options: AppOptions) {
    let app = spawn_app(options.with_destinations(&[], &["+1242"])).await;

    let refused = activate_with(&app, "alice", BAHAMAS).await;

    assert_refused_by(&refused, "mfa.destinations.deny", "+1242", BAHAMAS);
    assert_eq!(app.provider.count(), 0, "nothing may be sent");
    activate_with(&app, "alice", NEW_YORK).await.mfa_token();
    assert_eq!(app.provider.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_denied_prefix_naming_the_rule_but_not_the_number() {
    a_denied_prefix_is_refused_at_activate(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_denied_prefix_without_asking_the_provider_for_a_challenge() {
    a_denied_prefix_is_refused_at_activate(AppOptions::standalone_challenge_verify()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activate_refuses_a_number_outside_the_allow_list() {
    let app = spawn_app(AppOptions::proxy_single().with_destinations(&["+41"], &[])).await;

    let refused = activate_with(&app, "alice", GERMAN).await;

    assert_refused_by(&refused, "mfa.destinations.allow", "+41", GERMAN);
    assert_eq!(app.provider.count(), 0, "nothing may be sent");
    activate_with(&app, "alice", SWISS).await.mfa_token();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_wins_over_allow() {
    let app = spawn_app(AppOptions::proxy_single().with_destinations(&["+1"], &["+1242"])).await;

    let refused = activate_with(&app, "alice", BAHAMAS).await;

    assert_refused_by(&refused, "mfa.destinations.deny", "+1242", BAHAMAS);
    assert_eq!(app.provider.count(), 0, "nothing may be sent");
    activate_with(&app, "alice", NEW_YORK).await.mfa_token();
}

/// The rules are checked before every send, not only at activate: an enrolment made before a
/// number was denied no longer receives codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_denied_after_enrolment_gets_no_more_challenges() {
    let mut app = spawn_daemon(AppOptions::proxy_single(), &[]).await;
    let mfa_token = activate_with(&app, "alice", BAHAMAS).await.mfa_token();
    let code = app.last_code();
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();

    let options = app.options.clone().with_destinations(&[], &["+1242"]);
    app.restart_with(options, Stop::Terminate).await;
    let sent = app.provider.count();
    let mfa_token = app.mfa_login("alice").await;
    let challenge = app.challenge("alice", &mfa_token).await;

    assert_refused_by(&challenge, "mfa.destinations.deny", "+1242", BAHAMAS);
    assert_eq!(app.provider.count(), sent, "nothing may be sent");
}

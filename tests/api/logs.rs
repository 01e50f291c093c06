//! The binary at its default log level, through every flow: its output holds no code, recovery
//! code, mfaToken, api key, personal token, password, grant, provider secret or full phone
//! number.

use regex::Regex;
use serde_json::json;

use crate::fakes::{Reply, GOOD_PASSWORD, PERSONAL_TOKEN};
use crate::helpers::{
    code_step_up, default_endpoints, other_code, password_step_up, phone_for,
    spawn_daemon_at_default_log_level, AppOptions, FirstFactor, SmsMode, TestApp, API_KEY,
};

const PROVIDER_SECRET: &str = "prov-secret-3e81c7d9a4";

/// Every secret the flows handled, named.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: impl Into<String>, secret: &str) {
        self.0.push((what.into(), secret.to_string()));
    }

    fn add_recovery_codes(&mut self, what: &str, codes: &[String]) {
        for (i, code) in codes.iter().enumerate() {
            self.add(format!("{what} #{i}"), code);
            self.add(
                format!("{what} #{i} without dashes"),
                &code.replace('-', ""),
            );
        }
    }
}

/// Every flow, as the mode allows; returns what must never be logged.
async fn run_every_flow(app: &TestApp) -> Secrets {
    let mut s = Secrets::default();
    let personal = app.personal();
    let proxy = app.options.first_factor == FirstFactor::Proxy;

    app.status("alice", &personal).await.assert_status(200);

    // activate, a wrong confirm, confirm
    let t = app.activate_default("alice").await.mfa_token();
    s.add("activation mfaToken", &t);
    let code = app.last_code();
    app.confirm("alice", &t, &other_code(&code))
        .await
        .assert_error(400, "invalid-code");
    s.add("wrong confirm code", &other_code(&code));
    let first = app.confirm("alice", &t, &code).await.recovery_codes();
    s.add_recovery_codes("first recovery code", &first);
    app.status("alice", &personal).await.assert_status(200);

    // login, challenge, a wrong verify, verify
    let t = app.mfa_login("alice").await;
    s.add("login mfaToken", &t);
    app.challenge("alice", &t).await.assert_status(200);
    let code = app.last_code();
    app.verify("alice", &t, &other_code(&code))
        .await
        .assert_error(400, "invalid-code");
    s.add("wrong verify code", &other_code(&code));
    app.verify("alice", &t, &code).await.assert_status(200);

    // a provider answering 500
    let t = app.mfa_login("alice").await;
    s.add("second login mfaToken", &t);
    app.provider
        .reply_on("/sms", Reply::json(500, json!({"message": "down"})));
    app.challenge("alice", &t)
        .await
        .assert_error(400, "messaging-server-error");
    app.provider
        .reply_on("/sms", Reply::json(200, json!({"id": "message-2"})));

    // recover, then enrol again
    app.recover_with_code("alice", &first[0])
        .await
        .assert_status(200);
    let t = app.activate_default("alice").await.mfa_token();
    s.add("second activation mfaToken", &t);
    let second = app
        .confirm("alice", &t, &app.last_code())
        .await
        .recovery_codes();
    s.add_recovery_codes("second recovery code", &second);

    // step-ups: replace the enrolment, new recovery codes, a wrong one, deactivate
    let t = app
        .activate_with_step_up("alice", &code_step_up(&second[0]))
        .await
        .mfa_token();
    s.add("step-up activation mfaToken", &t);
    let third = app
        .confirm("alice", &t, &app.last_code())
        .await
        .recovery_codes();
    s.add_recovery_codes("third recovery code", &third);
    let mut latest = app
        .new_recovery_codes("alice", &personal, &code_step_up(&third[0]))
        .await
        .recovery_codes();
    s.add_recovery_codes("fourth recovery code", &latest);
    if proxy {
        latest = app
            .new_recovery_codes("alice", &personal, &password_step_up())
            .await
            .recovery_codes();
        s.add_recovery_codes("fifth recovery code", &latest);
        app.deactivate("alice", &personal, &json!({"password": "wrong-password"}))
            .await
            .assert_status(401);
    }
    app.deactivate("alice", &personal, &code_step_up(&first[1]))
        .await
        .assert_error(400, "invalid-code");
    app.deactivate("alice", &personal, &code_step_up(&latest[1]))
        .await
        .assert_status(200);
    app.status("alice", &personal).await.assert_status(200);

    // what was sent, and the credentials
    let sent_code = Regex::new(r"Code ([0-9]+)").unwrap();
    for request in app.provider.requests() {
        let haystack = format!("{}\n{}", request.decoded_uri(), request.body_text());
        for c in sent_code.captures_iter(&haystack) {
            s.add("a code sent to the provider", &c[1]);
        }
    }
    let phone = phone_for("alice");
    s.add("the phone number", &phone);
    s.add("the phone number without +", &phone[1..]);
    s.add("the provider secret", PROVIDER_SECRET);
    if proxy {
        s.add("the personal token", PERSONAL_TOKEN);
        s.add("the password", GOOD_PASSWORD);
        s.add("the wrong password", "wrong-password");
        s.add("the upstream grant", "grant-token-alice");
    } else {
        s.add("the api key", API_KEY);
    }
    s
}

async fn nothing_secret_is_logged(options: AppOptions) {
    let mut endpoints = default_endpoints(SmsMode::Single);
    endpoints["single"]["headers"]["authorization"] =
        json!("Bearer ${MFA_BRIDGE_TEST_LOG_PROVIDER_KEY}");
    let mut app = spawn_daemon_at_default_log_level(
        options.with_code_length(12).with_endpoints(endpoints),
        &[("MFA_BRIDGE_TEST_LOG_PROVIDER_KEY", PROVIDER_SECRET)],
    )
    .await;

    let secrets = run_every_flow(&app).await;
    let log = app.stop().await;

    assert_eq!(
        app.provider.last().header("authorization"),
        Some(format!("Bearer {PROVIDER_SECRET}")),
        "the provider secret was in use"
    );
    assert!(log.contains("listening on"), "the log was captured:\n{log}");
    let leaks: Vec<String> = secrets
        .0
        .iter()
        .filter_map(|(what, secret)| {
            log.lines()
                .find(|line| line.contains(secret.as_str()))
                .map(|line| format!("{what} ({secret}) in: {line}"))
        })
        .collect();
    assert!(
        leaks.is_empty(),
        "secrets in the log:\n{}\n--- the whole log:\n{log}",
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_logged_through_every_flow_in_proxy_mode() {
    nothing_secret_is_logged(AppOptions::proxy_single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_secret_is_logged_through_every_flow_in_standalone_mode() {
    nothing_secret_is_logged(AppOptions::standalone_single()).await;
}

//! The channel fallback (`mfa.fallback: { sms: email }`): when every SMS provider failed, the
//! same code goes by email to a user who has an address; one without gets the SMS channel's
//! error.

use regex::Regex;
use serde_json::json;

use crate::faulty_provider::{Fault, FaultyProvider};
use crate::helpers::{spawn_app, AppOptions};

fn options(sms: &FaultyProvider, email: &FaultyProvider) -> AppOptions {
    AppOptions::standalone_single()
        .with_user_data(json!({"required": ["phone"], "allowed": ["phone", "email"]}))
        .with_endpoints(json!({
            "single": {
                "url": format!("{}/sms", sms.base_url()),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            }
        }))
        .with_mfa(
            "channels",
            json!({"email": {"single": {
                "url": format!("{}/mail", email.base_url()),
                "method": "POST",
                "headers": {"content-type": "application/json"},
                "body": r#"{"to":"{{ email }}","text":"Code {{ code }}"}"#,
            }}}),
        )
        .with_mfa("fallback", json!({"sms": "email"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_sms_provider_fails_the_same_code_goes_by_email() {
    let sms = FaultyProvider::start(Fault::answer(503, "{}")).await;
    let email = FaultyProvider::start(Fault::accepted("EM1")).await;
    let app = spawn_app(options(&sms, &email)).await;

    let token = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": "+41791234567", "email": "alice@example.org"}),
        )
        .await
        .mfa_token();

    assert_eq!(sms.seen().len(), 1);
    let mail = email.seen();
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].body.contains("alice@example.org"),
        "{}",
        mail[0].body
    );
    let code = Regex::new(r"Code ([0-9]+)")
        .unwrap()
        .captures(&mail[0].body)
        .unwrap()[1]
        .to_string();
    app.confirm("alice", &token, &code).await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_an_address_gets_the_sms_channel_s_error() {
    let sms = FaultyProvider::start(Fault::answer(503, "{}")).await;
    let email = FaultyProvider::start(Fault::accepted("EM1")).await;
    let app = spawn_app(options(&sms, &email)).await;

    app.activate("bob", &app.personal(), &json!({"phone": "+41791234568"}))
        .await
        .assert_error(400, "messaging-server-error");
    assert!(email.seen().is_empty());
}

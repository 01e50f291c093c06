//! The resend rule past the last provider of a channel: an undelivered receipt for the only
//! SMS provider re-sends the challenge by the fallback channel (`mfa.fallback: { sms: email }`)
//! with a new code, and the code sent by SMS stops working.

use serde_json::{json, Value};

use crate::faulty_provider::{Fault, FaultyProvider};
use crate::helpers::{spawn_app, AppOptions};
use crate::resend::{code_in, receipt};

const TOKEN: &str = "twilio-auth-token-fallback";

fn options(sms: &FaultyProvider, email: &FaultyProvider) -> AppOptions {
    let single = |url: String, to: &str| -> Value {
        json!({"single": {
            "url": url, "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": format!(r#"{{"to":"{{{{ {to} }}}}","text":"Code {{{{ code }}}}"}}"#),
            "message_id": "sid",
        }})
    };
    let mut sms_provider = single(format!("{}/sms", sms.base_url()), "phone");
    sms_provider["name"] = json!("sms-only");
    AppOptions::standalone_single()
        .with_user_data(json!({"required": ["phone"], "allowed": ["phone", "email"]}))
        .with_endpoints(json!([sms_provider]))
        .with_mfa(
            "channels",
            json!({"email": single(format!("{}/mail", email.base_url()), "email")}),
        )
        .with_mfa("fallback", json!({"sms": "email"}))
        .with_section(
            "receipts",
            json!({"public_url": "https://mfa.example.org", "resend_on_undelivered": true,
                "providers": {"sms-only": {"family": "twilio", "auth_token": TOKEN}}}),
        )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_sms_from_the_last_provider_is_re_sent_by_email_with_a_new_code() {
    let sms = FaultyProvider::start(Fault::accepted("SM1")).await;
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
    let first = code_in(&sms.seen()[0]);

    assert_eq!(
        receipt(&app, "sms-only", "SM1", "undelivered", TOKEN).await,
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while email.seen().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no email within 10 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mail = email.seen();
    assert!(
        mail[0].body.contains("alice@example.org"),
        "{}",
        mail[0].body
    );
    let second = code_in(&mail[0]);
    if first != second {
        app.confirm("alice", &token, &first)
            .await
            .assert_status(400);
    }
    app.confirm("alice", &token, &second)
        .await
        .assert_status(200);
    assert_eq!(sms.seen().len(), 1);
}

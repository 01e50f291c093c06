//! The send events: `send.sent` (and `send.failed`) for each try of the delivery engine that
//! reached a decision, `send.delivered` for a verified receipt; signed as every event is, and
//! naming the send (channel, provider, attempt, `send_id`), never its destination or code.

use serde_json::json;

use crate::events_receiver::{events_env, events_section, types_of, Receiver};
use crate::faulty_provider::{Fault, FaultyProvider};
use crate::helpers::{phone_for, spawn_app_with_env, AppOptions};
use crate::resend::{code_in, receipt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_try_a_send_and_its_receipt_arrive_signed_as_send_events() {
    let receiver = Receiver::accepting().await;
    let a = FaultyProvider::start(Fault::answer(500, r#"{"message":"boom"}"#)).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let single = |name: &str, base: String| {
        json!({"name": name, "single": {
            "url": format!("{base}/sms"), "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            "message_id": "sid",
        }})
    };
    let endpoint = json!({"url": receiver.url("/hook"), "secret": "${EVENTS_SECRET}",
        "types": ["send.*"], "timeout_ms": 2000});
    let options = AppOptions::standalone_single()
        .with_endpoints(json!([
            single("primary", a.base_url()),
            single("backup", b.base_url())
        ]))
        .with_outbound("retries", json!(0))
        .with_section("events", events_section(json!([endpoint])))
        .with_section(
            "receipts",
            json!({"public_url": "https://mfa.example.org",
                "providers": {"backup": {"family": "twilio", "auth_token": "backup-token"}}}),
        );
    let env = events_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with_env(options, &env).await;

    let token = app.activate_default("alice").await.mfa_token();
    assert_eq!(
        receipt(&app, "backup", "SM2", "delivered", "backup-token").await,
        200
    );

    let got = receiver
        .wait_until(10, "three send events", || {}, |r| r.len() >= 3)
        .await;
    assert_eq!(
        types_of(&got, "alice"),
        ["send.failed", "send.sent", "send.delivered"]
    );
    let code = code_in(&b.seen()[0]);
    for event in &got {
        assert!(event.signature_is_valid(), "{event:?}");
        assert!(!event.raw.contains(&phone_for("alice")), "{}", event.raw);
        assert!(!event.raw.contains(&code), "{}", event.raw);
        assert_eq!(event.body["data"]["channel"], "sms");
        assert_eq!(
            event.body["data"]["send_id"],
            got[0].body["data"]["send_id"]
        );
    }
    assert_eq!(got[0].body["data"]["provider"], "primary");
    assert_eq!(got[0].body["data"]["error"], "5xx");
    assert_eq!(got[1].body["data"]["provider"], "backup");
    assert_eq!(got[1].body["data"]["attempt"], 2);
    assert_eq!(got[2].body["data"]["status"], "delivered");
    app.confirm("alice", &token, &code).await.assert_status(200);
}

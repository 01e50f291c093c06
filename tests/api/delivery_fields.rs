//! `{{ send_id }}`: every send carries a stable random id of its own (here as an
//! `Idempotency-Key`), a new one for each challenge; `message_id` and `omit_empty` on a real
//! send.

use serde_json::json;

use crate::helpers::{spawn_app, AppOptions, PROVIDER};

fn idempotent_endpoint() -> serde_json::Value {
    json!({
        "single": {
            "url": format!("{PROVIDER}/sms"),
            "method": "POST",
            "headers": {"content-type": "application/json", "Idempotency-Key": "{{ send_id }}"},
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}","callback":"{{ status_callback }}"}"#,
            "omit_empty": ["callback"],
            "message_id": "id",
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_send_carries_a_random_send_id_of_its_own() {
    let app =
        spawn_app(AppOptions::standalone_single().with_endpoints(idempotent_endpoint())).await;
    let token = app.mfa_login_setup().await;
    let first = app.provider.last();
    app.challenge("alice", &token).await.assert_status(200);
    let second = app.provider.last();
    let ids: Vec<String> = [&first, &second]
        .iter()
        .map(|r| {
            r.header("Idempotency-Key")
                .expect("an Idempotency-Key header")
        })
        .collect();
    for id in &ids {
        assert!(id.len() >= 32, "128 bits or more: {id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe: {id}"
        );
    }
    assert_ne!(ids[0], ids[1], "each challenge has its own send id");
    // Without server.public_url the callback renders empty and is left out.
    let body = second.body_json();
    assert!(body.get("callback").is_none(), "{body}");
    assert!(body.get("text").is_some(), "{body}");
}

impl crate::helpers::TestApp {
    /// Activates and confirms `alice`, then logs her in: the mfaToken of a session whose
    /// challenge went out.
    async fn mfa_login_setup(&self) -> String {
        self.enroll("alice").await;
        self.mfa_login("alice").await
    }
}

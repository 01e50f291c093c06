//! Delivery receipts on the public listener: a receipt whose signature verifies moves the
//! status of the send it names (found by the provider's message id); a forged one, or one for
//! a provider not listed under `receipts.providers`, is refused and changes nothing, and the
//! refusals are counted in `mfa_bridge_receipts_total`.

use base64::Engine;
use hmac::{Hmac, Mac};
use mfa_bridge::clock::{Clock, SystemClock};
use mfa_bridge::store::{SendRecord, SendStatus};
use serde_json::{json, Value};

use crate::helpers::{config_value, AppOptions, ADMIN_TOKEN};
use crate::message_log::{conforms, seed, send, start, Running};

const PUBLIC_URL: &str = "https://mfa.example.org";
const TWILIO_TOKEN: &str = "twilio-auth-token-1";
const VONAGE_SECRET: &str = "vonage-signature-secret";

/// Twilio's signature of a POST to `url` with `params`, computed here as its documentation
/// says: HMAC-SHA1 of the url and the sorted parameters, base64.
fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn app_with_sends(sends: &[SendRecord]) -> Running {
    let data = tempfile::tempdir().unwrap();
    seed(data.path(), sends).await;
    let mut config = config_value(&AppOptions::proxy_single().with_admin(), data.path());
    // `receipts.providers` names configured providers: the two of the seeded sends.
    let endpoint = config["mfa"]["endpoints"].clone();
    let named = |name: &str| {
        let mut e = endpoint.clone();
        e["name"] = json!(name);
        e
    };
    config["mfa"]["endpoints"] = json!([named("twilio-main"), named("vonage")]);
    config["receipts"] = json!({
        "public_url": PUBLIC_URL,
        "providers": {
            "twilio-main": {"family": "twilio", "auth_token": TWILIO_TOKEN},
            "vonage": {"family": "vonage", "signature_secret": VONAGE_SECRET, "signature_method": "sha256"},
        },
    });
    start(&config, data).await
}

async fn post_form(
    app: &Running,
    path: &str,
    signature: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}{path}", app.address))
        .header("x-twilio-signature", signature)
        .form(form)
        .send()
        .await
        .expect("the daemon answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn status_of(app: &Running, id: &str) -> String {
    let (_, record) = app.admin_get(&format!("/api/messages/{id}")).await;
    record["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_twilio_receipt_moves_its_send_and_a_forged_one_is_refused() {
    let app = app_with_sends(&[
        send("s1-1", "alice", 100, SendStatus::Sent),
        send("s2-1", "alice", 101, SendStatus::Sent),
    ])
    .await;
    let url = format!("{PUBLIC_URL}/receipts/twilio-main");

    // Forged: signed with another token, or its body changed after signing.
    let delivered = [("MessageSid", "SMs1-1"), ("MessageStatus", "delivered")];
    let wrong_key = twilio_signature("guessed", &url, &delivered);
    let (status, answer) = post_form(&app, "/receipts/twilio-main", &wrong_key, &delivered).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"]["id"], "invalid-signature");
    conforms("/receipts/{provider}", "POST", status, &answer);
    let signed = twilio_signature(TWILIO_TOKEN, &url, &delivered);
    let tampered = [("MessageSid", "SMs2-1"), ("MessageStatus", "delivered")];
    let (status, _) = post_form(&app, "/receipts/twilio-main", &signed, &tampered).await;
    assert_eq!(status, 401);
    let (status, _) = post_form(&app, "/receipts/twilio-main", "", &delivered).await;
    assert_eq!(status, 401);
    assert_eq!(status_of(&app, "s1-1").await, "sent");
    assert_eq!(status_of(&app, "s2-1").await, "sent");

    // Genuine.
    let (status, answer) = post_form(&app, "/receipts/twilio-main", &signed, &delivered).await;
    conforms("/receipts/{provider}", "POST", status, &answer);
    assert_eq!((status, answer), (200, json!({"receipt": "applied"})));
    assert_eq!(status_of(&app, "s1-1").await, "delivered");
    // A late "sent" does not take it back.
    let late = [("MessageSid", "SMs1-1"), ("MessageStatus", "sent")];
    let (status, _) = post_form(
        &app,
        "/receipts/twilio-main",
        &twilio_signature(TWILIO_TOKEN, &url, &late),
        &late,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(status_of(&app, "s1-1").await, "delivered");

    // Undelivered, with Twilio's error code kept as the record's error.
    let undelivered = [
        ("MessageSid", "SMs2-1"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ];
    let (status, _) = post_form(
        &app,
        "/receipts/twilio-main",
        &twilio_signature(TWILIO_TOKEN, &url, &undelivered),
        &undelivered,
    )
    .await;
    assert_eq!(status, 200);
    let (_, record) = app.admin_get("/api/messages/s2-1").await;
    assert_eq!(
        (record["status"].as_str(), record["error"].as_str()),
        (Some("undelivered"), Some("twilio 30003"))
    );

    // A provider with no receipts configured.
    let (status, answer) = post_form(&app, "/receipts/nobody", &signed, &delivered).await;
    assert_eq!(status, 404, "{answer}");

    let metrics = app
        .client
        .get(format!("{}/metrics", app.admin))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"mfa_bridge_receipts_total{outcome="refused",provider="twilio-main"} 3"#,
        r#"mfa_bridge_receipts_total{outcome="applied",provider="twilio-main"} 3"#,
        r#"mfa_bridge_receipts_total{outcome="unknown-provider",provider="(unknown)"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_vonage_receipt_by_query_moves_its_send_and_a_stale_one_is_refused() {
    let mut sent = send("v1-1", "alice", 100, SendStatus::Sent);
    sent.provider = "vonage".into();
    sent.provider_message_id = Some("0A00000012345678".into());
    let app = app_with_sends(&[sent]).await;
    let now = SystemClock.now();
    let query = |timestamp: u64, status: &str| {
        let ts = timestamp.to_string();
        let mut params = vec![
            ("messageId", "0A00000012345678".to_string()),
            ("status", status.to_string()),
            ("err-code", "0".to_string()),
            ("timestamp", ts),
        ];
        params.sort();
        // Vonage's signed text: `&name=value`, sorted, `&` and `=` in values as `_`.
        let text: String = params
            .iter()
            .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
            .collect();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(VONAGE_SECRET.as_bytes()).unwrap();
        mac.update(text.as_bytes());
        params.push(("sig", hex::encode(mac.finalize().into_bytes())));
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())))
            .finish()
    };
    let get = |q: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(format!("{}/receipts/vonage?{q}", app.address))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    };

    assert_eq!(
        get(query(now - 3600, "delivered")).await,
        401,
        "an hour old"
    );
    assert_eq!(
        get(query(now, "delivered").replace("delivered", "expired")).await,
        401,
        "changed"
    );
    assert_eq!(status_of(&app, "v1-1").await, "sent");
    assert_eq!(get(query(now, "expired")).await, 200);
    assert_eq!(status_of(&app, "v1-1").await, "undelivered");
}

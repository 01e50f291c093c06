//! The resend rule (`receipts.resend_on_undelivered`, `receipts.resend_after_seconds`): a
//! verified receipt saying `undelivered`, or no receipt in time, re-sends the pending
//! challenge through the next provider with a new code (the first one stops working); a
//! forged receipt, the rule off, or the send limits spent re-send nothing; the same receipt
//! twice re-sends once.

use base64::Engine;
use hmac::{Hmac, Mac};
use regex::Regex;
use serde_json::{json, Value};

use crate::faulty_provider::{Fault, FaultyProvider, Seen};
use crate::helpers::{phone_for, spawn_app, AppOptions, TestApp, ADMIN_TOKEN};

const PUBLIC_URL: &str = "https://mfa.example.org";
const TWILIO_TOKEN: &str = "twilio-auth-token-resend";

use crate::delivery::single;

/// `primary` then `backup`, the primary's receipts checked as Twilio's, with `rule` merged
/// into `receipts`.
fn options(a: &FaultyProvider, b: &FaultyProvider, rule: Value) -> AppOptions {
    let mut receipts = json!({
        "public_url": PUBLIC_URL,
        "providers": {"primary": {"family": "twilio", "auth_token": TWILIO_TOKEN}},
    });
    for (k, v) in rule.as_object().expect("an object") {
        receipts[k] = v.clone();
    }
    AppOptions::standalone_single()
        .with_endpoints(json!([
            single("primary", &a.base_url()),
            single("backup", &b.base_url())
        ]))
        .with_section("receipts", receipts)
        .with_admin()
}

/// The code in a request a provider got.
pub fn code_in(seen: &Seen) -> String {
    let re = Regex::new(r"Code ([0-9]+)").unwrap();
    re.captures(&seen.body)
        .unwrap_or_else(|| panic!("no code in {}", seen.body))[1]
        .to_string()
}

/// Twilio's signature of a POST to `url` with `params` (HMAC-SHA1 of the url and the sorted
/// parameters, base64).
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
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

/// Posts Twilio's receipt for `sid` saying `status`, signed with `token`; the answer's status.
pub async fn receipt(app: &TestApp, provider: &str, sid: &str, status: &str, token: &str) -> u16 {
    let form = [("MessageSid", sid), ("MessageStatus", status)];
    let url = format!("{PUBLIC_URL}/receipts/{provider}");
    app.client
        .post(format!("{}/receipts/{provider}", app.address))
        .header("x-twilio-signature", twilio_signature(token, &url, &form))
        .form(&form)
        .send()
        .await
        .expect("the daemon answers")
        .status()
        .as_u16()
}

/// The message log of `user`, newest first.
async fn messages(app: &TestApp, user: &str) -> Vec<Value> {
    let answer: Value = app
        .client
        .get(format!("{}/api/messages?user={user}", app.admin_address()))
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["messages"].as_array().cloned().unwrap_or_default()
}

/// Polls (up to 10 s) until `provider` got `n` sends.
async fn until_sends(provider: &FaultyProvider, n: usize) -> Vec<Seen> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = provider.seen();
        if seen.len() >= n {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{n} sends: not within 10 s; got {seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Polls (up to 10 s) until the newest record of `user`'s message log is `sent` by `provider`.
async fn until_newest(app: &TestApp, user: &str, provider: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = messages(app, user).await;
        if let Some(newest) = log.first() {
            if newest["provider"] == provider && newest["status"] == "sent" {
                return newest.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a send by {provider}: not within 10 s; log {log:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_receipt_re_sends_a_new_code_through_the_next_provider_once() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(options(&a, &b, json!({"resend_on_undelivered": true}))).await;
    let token = app.activate_default("alice").await.mfa_token();
    let first = code_in(&a.seen()[0]);

    // The same receipt twice, at once: one re-send.
    let (one, two) = tokio::join!(
        receipt(&app, "primary", "SM1", "undelivered", TWILIO_TOKEN),
        receipt(&app, "primary", "SM1", "undelivered", TWILIO_TOKEN),
    );
    assert_eq!((one, two), (200, 200));
    let seen = until_sends(&b, 1).await;
    let second = code_in(&seen[0]);
    let resent = until_newest(&app, "alice", "backup").await;

    // The log reads as one send: the same send_id, the attempt numbers following on.
    let log = messages(&app, "alice").await;
    let original = log.last().unwrap();
    assert_eq!(original["status"], "undelivered");
    assert_eq!(resent["send_id"], original["send_id"]);
    assert_eq!(resent["attempt"], 2);
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        seen[0].header("Idempotency-Key"),
        a.seen()[0].header("Idempotency-Key")
    );

    if first != second {
        app.confirm("alice", &token, &first)
            .await
            .assert_status(400);
    }
    app.confirm("alice", &token, &second)
        .await
        .assert_status(200);
    assert_eq!(b.seen().len(), 1, "one re-send");
    assert_eq!(a.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_receipt_in_time_re_sends_through_the_next_provider() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(options(&a, &b, json!({"resend_after_seconds": 30}))).await;
    let token = app.activate_default("alice").await.mfa_token();
    // No receipt for longer than the rule waits: the background check re-sends.
    app.advance_clock(31);

    let seen = until_sends(&b, 1).await;
    until_newest(&app, "alice", "backup").await;
    app.confirm("alice", &token, &code_in(&seen[0]))
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_receipt_or_the_rule_off_re_sends_nothing() {
    let a = FaultyProvider::start(Fault::accepted("SM1")).await;
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let on = spawn_app(options(&a, &b, json!({"resend_on_undelivered": true}))).await;
    let token = on.activate_default("alice").await.mfa_token();
    let status = receipt(&on, "primary", "SM1", "undelivered", "guessed").await;
    assert_eq!(status, 401);
    assert_eq!(messages(&on, "alice").await[0]["status"], "sent");
    assert!(b.seen().is_empty());
    on.confirm("alice", &token, &code_in(&a.seen()[0]))
        .await
        .assert_status(200);

    let c = FaultyProvider::start(Fault::accepted("SM1")).await;
    let d = FaultyProvider::start(Fault::accepted("SM2")).await;
    let off = spawn_app(options(&c, &d, json!({"resend_on_undelivered": false}))).await;
    let token = off.activate_default("bob").await.mfa_token();
    let status = receipt(&off, "primary", "SM1", "undelivered", TWILIO_TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(messages(&off, "bob").await[0]["status"], "undelivered");
    assert!(d.seen().is_empty());
    off.confirm("bob", &token, &code_in(&c.seen()[0]))
        .await
        .assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_send_the_send_limits_refuse_is_not_made_and_the_code_still_works() {
    let a = FaultyProvider::start(Fault::accepted("SMB")).await;
    a.script(vec![Fault::accepted("SMA1"), Fault::accepted("SMA2")]);
    let b = FaultyProvider::start(Fault::accepted("SM2")).await;
    let app = spawn_app(
        options(&a, &b, json!({"resend_on_undelivered": true}))
            .with_send_limits(json!({"per_user_per_hour": 2})),
    )
    .await;
    // Alice has spent her two sends of the hour; Bob has one left.
    app.activate_default("alice").await.mfa_token();
    let alice = app.activate_default("alice").await.mfa_token();
    let bob = app.activate_default("bob").await.mfa_token();
    let alices_code = code_in(&a.seen()[1]);

    let status = receipt(&app, "primary", "SMA2", "undelivered", TWILIO_TOKEN).await;
    assert_eq!(status, 200);
    let status = receipt(&app, "primary", "SMB", "undelivered", TWILIO_TOKEN).await;
    assert_eq!(status, 200);
    let seen = until_sends(&b, 1).await;
    until_newest(&app, "bob", "backup").await;
    assert_eq!(seen.len(), 1, "Bob's re-send only: {seen:?}");
    assert!(seen[0].body.contains(&phone_for("bob")), "{}", seen[0].body);
    app.confirm("alice", &alice, &alices_code)
        .await
        .assert_status(200);
    app.confirm("bob", &bob, &code_in(&seen[0]))
        .await
        .assert_status(200);
}

//! The `outbox:` development sink: the rendered request is appended as one JSON line to
//! `<storage.path>/outbox.jsonl` instead of being sent.

use regex::Regex;
use serde_json::{json, Value};

use crate::helpers::{phone_for, spawn_app, AppOptions};

fn outbox_lines(app: &crate::helpers::TestApp) -> Vec<Value> {
    let path = app.data_dir.path().join("outbox.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_sink_writes_one_json_line_with_the_code_that_then_confirms() {
    let app = spawn_app(AppOptions::proxy_single().with_endpoints(json!({
        "single": {
            "url": "outbox:sms?to={{ phone }}",
            "method": "POST",
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            "headers": {"content-type": "application/json"},
        }
    })))
    .await;

    let mfa_token = app.activate_default("alice").await.mfa_token();

    let lines = outbox_lines(&app);
    assert_eq!(lines.len(), 1, "one line per send: {lines:?}");
    let line = &lines[0];
    assert_eq!(line["method"], json!("POST"), "{line}");
    let url = line["url"]
        .as_str()
        .unwrap_or_else(|| panic!("url: {line}"));
    assert!(url.contains("sms"), "{line}");
    assert!(
        url.contains(&format!("to=%2B{}", &phone_for("alice")[1..])),
        "the url is rendered and encoded: {line}"
    );
    assert!(line.get("headers").is_some(), "{line}");
    let body = line["body"]
        .as_str()
        .unwrap_or_else(|| panic!("body: {line}"));
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(body["to"], json!(phone_for("alice")));
    let text = body["text"].as_str().unwrap_or_default();
    let code = Regex::new(r"^Code ([0-9]{6})$")
        .unwrap()
        .captures(text)
        .unwrap_or_else(|| panic!("the line must hold the code: {line}"))[1]
        .to_string();
    assert_eq!(app.provider.count(), 0, "nothing goes over the network");

    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    assert_eq!(
        outbox_lines(&app).len(),
        2,
        "a challenge appends a second line"
    );
}

//! `log.format`: the binary's log as JSON lines, one object per line from the start of
//! serving to its stop, and as text by default.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{config_value, to_yaml, AppOptions, API_KEY, PROVIDER, UPSTREAM};

/// Runs the binary on the standalone configuration with `log` set to `log`, logs in once,
/// stops it with SIGTERM and returns every line it wrote to standard error.
async fn log_lines(log: Option<Value>) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_value(&AppOptions::standalone_single(), &dir.path().join("store"));
    if let Some(log) = log {
        config["log"] = log;
    }
    let path = dir.path().join("platform.yml");
    std::fs::write(&path, to_yaml(&config, PROVIDER, UPSTREAM)).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
        .arg("serve")
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start mfa-bridge");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let listening = regex::Regex::new(r"listening on http://127\.0\.0\.1:(\d+)").unwrap();
    let port = loop {
        let line = tokio::time::timeout(Duration::from_secs(15), lines.next_line())
            .await
            .expect("a log line within 15 s")
            .unwrap()
            .unwrap_or_else(|| panic!("the daemon stopped; it wrote:\n{}", seen.join("\n")));
        let port = listening.captures(&line).map(|c| c[1].to_string());
        seen.push(line);
        if let Some(port) = port {
            break port;
        }
    };
    let answer = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/alice/login"))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    while let Some(line) = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the daemon stops within 10 s")
        .unwrap()
    {
        seen.push(line);
    }
    assert!(child.wait().await.unwrap().success(), "{}", seen.join("\n"));
    seen
}

#[tokio::test]
async fn with_log_format_json_every_line_is_one_json_object() {
    let lines = log_lines(Some(serde_json::json!({"format": "json"}))).await;

    let objects: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for object in &objects {
        for key in ["time", "level", "target", "message"] {
            assert!(object.get(key).is_some(), "no {key} in {object}");
        }
    }
    let messages: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("listening on http://")),
        "{messages:?}"
    );
    assert!(messages.contains(&"stopped"), "{messages:?}");
}

#[tokio::test]
async fn by_default_the_log_is_text() {
    let lines = log_lines(None).await;

    let listening = lines
        .iter()
        .find(|l| l.contains("listening on http://"))
        .expect("a listening line");
    assert!(
        serde_json::from_str::<Value>(listening).is_err(),
        "{listening}"
    );
    assert!(listening.contains("INFO"), "{listening}");
}

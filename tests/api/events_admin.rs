//! What the operator reads about events: `GET /api/events` (each delivery with its status,
//! attempts and last error, filtered by status and user; the answers conform to the
//! description), and the README's example configuration, which the daemon accepts.

use serde_json::json;

use crate::events_receiver::{events_env, events_section, Receiver};
use crate::fakes::Reply;
use crate::helpers::{admin_auth, spawn_app_with_env, AppOptions, Auth};
use crate::openapi_check::{assert_conforms, description};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_shows_delivered_and_pending_events_with_their_last_error() {
    // Bob's events are refused; alice's accepted.
    let receiver = Receiver::start(|this, _| match this.username().as_str() {
        "bob" => Reply::Empty(502),
        _ => Reply::Empty(204),
    })
    .await;
    let endpoint = json!({
        "name": "audit",
        "url": receiver.url("/hook"),
        "secret": "${EVENTS_SECRET}",
        "types": ["mfa.enrolled"],
    });
    let options = AppOptions::standalone_single()
        .with_admin()
        .with_section("events", events_section(json!([endpoint])));
    let env = events_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = spawn_app_with_env(options, &env).await;
    app.enroll("alice").await;
    app.enroll("bob").await;
    receiver
        .wait_until(
            10,
            "both enrolments tried",
            || {},
            |r| {
                r.iter().any(|r| r.username() == "alice") && r.iter().any(|r| r.username() == "bob")
            },
        )
        .await;
    let admin = admin_auth();
    let d = description();

    // The settle is written just after the answer: poll until both are settled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let listed = loop {
        let listed = app.admin("GET", "/api/events", &admin, None).await;
        listed.assert_status(200);
        let settled = listed.json["events"]
            .as_array()
            .is_some_and(|e| e.len() == 2 && e.iter().all(|e| e["attempts"] == json!(1)));
        if settled || std::time::Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_conforms(&d, "/api/events", "GET", &listed);
    assert_eq!(listed.json["pending"], json!(1), "{}", listed.text);
    let events = listed.json["events"].as_array().unwrap();
    let (bob, alice) = (&events[0], &events[1]);
    assert_eq!(alice["username"], json!("alice"));
    assert_eq!(alice["status"], json!("delivered"));
    assert_eq!(alice["endpoint"], json!("audit"));
    assert_eq!(alice["type"], json!("mfa.enrolled"));
    assert_eq!(alice["nextAt"], json!(null));
    assert_eq!(alice["event"]["data"]["username"], json!("alice"));
    assert_eq!(bob["status"], json!("pending"));
    assert_eq!(bob["lastError"], json!("status 502"));
    assert!(bob["nextAt"].is_string());

    let pending = app
        .admin("GET", "/api/events?status=pending", &admin, None)
        .await;
    assert_eq!(pending.json["events"].as_array().unwrap().len(), 1);
    assert_eq!(pending.json["events"][0]["username"], json!("bob"));
    let of_alice = app
        .admin("GET", "/api/events?user=alice", &admin, None)
        .await;
    assert_eq!(of_alice.json["events"].as_array().unwrap().len(), 1);
    assert_eq!(of_alice.json["events"][0]["status"], json!("delivered"));

    let metrics = app.admin("GET", "/metrics", &admin, None).await.text;
    for line in [
        "mfa_bridge_event_deliveries_total{endpoint=\"audit\",outcome=\"delivered\"} 1",
        "mfa_bridge_event_deliveries_total{endpoint=\"audit\",outcome=\"failed\"} 1",
        "mfa_bridge_events_pending ",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }

    let wrong = app
        .admin("GET", "/api/events?status=lost", &admin, None)
        .await;
    wrong.assert_error(400, "invalid-parameters-format");
    assert_conforms(&d, "/api/events", "GET", &wrong);
    let refused = app.admin("GET", "/api/events", &Auth::None, None).await;
    refused.assert_status(401);
    assert_conforms(&d, "/api/events", "GET", &refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_of_events_is_a_valid_configuration() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("### Events (webhooks)")
        .nth(1)
        .expect("README.md has an `Events (webhooks)` section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|block| block.split("```").next())
        .expect("the section shows its configuration");
    let example: serde_yaml::Value = serde_yaml::from_str(yaml).expect("the example is YAML");
    let events: serde_json::Value = serde_json::to_value(&example["events"]).unwrap();
    let secret = crate::events_receiver::secret();
    let env = [
        ("MFA_EVENTS_SECRET", secret.as_str()),
        ("SIEM_EVENTS_SECRET", secret.as_str()),
    ];
    // Started: the configuration was accepted (nothing is emitted, nothing sent).
    let app = spawn_app_with_env(
        AppOptions::proxy_single().with_section("events", events),
        &env,
    )
    .await;
    app.login("nobody").await.assert_status(200);
}

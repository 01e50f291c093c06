//! One configuration for every instance: an admin edit made on one is in force on the others
//! within a second, and each one's `/api/status` says which version it runs.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{AppOptions, PROVIDER};
use crate::instances::cluster::Cluster;

/// The version `/api/status` of instance `i` says it runs.
async fn config_version(cluster: &Cluster, i: usize) -> Value {
    let status = cluster.admin(i, "GET", "/api/status", None).await;
    status.assert_status(200);
    let version = status.json["configVersion"].clone();
    assert!(!version.is_null(), "instance {i}: {}", status.text);
    version
}

/// What the preview of the saved single endpoint on instance `i` would send as its body.
async fn previewed_body(cluster: &Cluster, i: usize) -> String {
    let preview = cluster
        .admin(
            i,
            "POST",
            "/api/preview",
            Some(&json!({"endpoint": "single", "data": {"phone": "+41791234567"}})),
        )
        .await;
    preview.assert_status(200);
    preview.json["request"]["body"].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_edited_on_one_instance_is_in_force_on_the_others_within_a_second() {
    let cluster = Cluster::start(3, AppOptions::standalone_single().with_admin()).await;
    let before = config_version(&cluster, 0).await;
    for i in 1..3 {
        assert_eq!(config_version(&cluster, i).await, before);
    }
    let edited = json!({
        "url": format!("{}/sms?to={{{{ phone }}}}", cluster.provider.base_url()),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"Code {{ code }} edited-on-instance-0"}"#,
        "headers": {"content-type": "application/json"},
    });
    assert!(!edited.to_string().contains(PROVIDER));

    cluster
        .admin(0, "PUT", "/api/endpoints/single", Some(&edited))
        .await
        .assert_status(200);
    let edited_at = Instant::now();

    let after = config_version(&cluster, 0).await;
    assert_ne!(after, before, "an edit is a new version");
    for i in 1..3 {
        loop {
            let body = previewed_body(&cluster, i).await;
            if body.contains("edited-on-instance-0") {
                assert_eq!(config_version(&cluster, i).await, after, "instance {i}");
                break;
            }
            assert!(
                edited_at.elapsed() < Duration::from_secs(1),
                "instance {i} still renders {body} a second after the edit\n{}",
                cluster.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

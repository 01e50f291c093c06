//! Writes through the admin API keep the operator's file: on the shipped, commented
//! `platform.yml`, a change rewrites only the lines of the node it changes (comments, order,
//! quoting and flow style stay byte for byte), the file as it stood is kept as a timestamped
//! backup beside it (at most `admin.config_backups` of them), and what is written is what was
//! validated and applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mfa_bridge::clock::ManualClock;
use mfa_bridge::config::{process_env, Source};
use mfa_bridge::snapshot::Snapshot;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::helpers::{run_in_process, InProcess, TestResponse};

/// The configuration the project ships, comments and all.
const SHIPPED: &str = include_str!("../../platform.yml");

/// The shipped file's admin token (its sha256 is in the file).
const SHIPPED_ADMIN_TOKEN: &str = "dev-only-admin-token-change-me";

/// 2026-12-01T23:40:05Z: the app's clock, which names the backups.
const NOW: u64 = 1_796_168_405;
const BACKUP: &str = "platform.yml.2026-12-01T23-40-05Z.bak";

/// The environment the app reads `${NAME}` references from: `MFA_TENANT` set (a value that
/// must never reach the file), then the process's own.
fn env(name: &str) -> Option<String> {
    match name {
        "MFA_TENANT" => Some("tenant-secret-5e1f".into()),
        "TWILIO_AUTH_TOKEN" => Some("twilio-secret-77c2".into()),
        _ => process_env(name),
    }
}

/// The app running on a copy of the shipped `platform.yml` in a folder of its own.
struct Shipped {
    folder: TempDir,
    /// The copy as it was written before the app started.
    before: String,
    admin: String,
    client: reqwest::Client,
    clock: ManualClock,
    _running: InProcess,
}

/// The shipped file with its listeners on free ports and its storage in `data`: only those
/// three lines differ from the shipped text.
fn shipped_text(data: &Path) -> String {
    let text = SHIPPED
        .replace("listen: 127.0.0.1:7000", "listen: 127.0.0.1:0")
        .replace("listen: 127.0.0.1:7001", "listen: 127.0.0.1:0")
        .replace("path: ./data", &format!("path: '{}'", data.display()));
    let changed = SHIPPED
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(
        changed, 3,
        "the shipped file's listen and storage lines moved"
    );
    text
}

/// The shipped file with `replace` applied (a test's own starting point), running.
async fn shipped_with(edit: impl Fn(String) -> String) -> Shipped {
    let folder = tempfile::tempdir().unwrap();
    let before = edit(shipped_text(&folder.path().join("data")));
    let path = folder.path().join("platform.yml");
    std::fs::write(&path, &before).unwrap();
    let clock = ManualClock::starting_at(NOW);
    let running = run_in_process(&path, clock.clone(), Arc::new(env))
        .await
        .unwrap_or_else(|e| panic!("the shipped configuration did not start: {e}"));
    let admin = format!(
        "http://127.0.0.1:{}",
        running
            .admin_port
            .expect("the shipped file has an admin listener")
    );
    Shipped {
        folder,
        before,
        admin,
        client: reqwest::Client::new(),
        clock,
        _running: running,
    }
}

async fn shipped() -> Shipped {
    shipped_with(|text| text).await
}

impl Shipped {
    fn path(&self) -> PathBuf {
        self.folder.path().join("platform.yml")
    }

    fn file(&self) -> String {
        std::fs::read_to_string(self.path()).unwrap()
    }

    /// The backups beside the file, oldest first.
    fn backups(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.folder.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("platform.yml.") && n.ends_with(".bak"))
            .collect();
        names.sort();
        names
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.folder.path().join(name)).unwrap()
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> TestResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.admin))
            .bearer_auth(SHIPPED_ADMIN_TOKEN);
        if let Some(body) = &body {
            request = request.json(body);
        }
        TestResponse::read(request.send().await.unwrap()).await
    }

    /// Checks the write: the answer is 200, the file parses to the configuration the API was
    /// asked for (`expected`, the file before with `change` made), the running configuration
    /// is the one loaded from the bytes on disk, and the backup holds the file before.
    async fn assert_written(&self, response: &TestResponse, expected: &serde_yaml::Value) {
        response.assert_status(200);
        let on_disk = self.file();
        let parsed: serde_yaml::Value = serde_yaml::from_str(&on_disk).unwrap();
        assert_eq!(
            &parsed, expected,
            "the file reads back as intended:\n{on_disk}"
        );
        let loaded = Snapshot::load(&Source::read(&self.path()).unwrap(), &env)
            .unwrap_or_else(|e| panic!("the written file loads: {e}"));
        let status = self.admin("GET", "/api/status", None).await;
        assert_eq!(
            status.json["configHash"].as_str(),
            Some(loaded.source_hash.as_str()),
            "the configuration in force is the one on disk: {}",
            status.text
        );
        assert_eq!(
            self.read(BACKUP),
            self.before,
            "the backup is the file before"
        );
    }
}

/// `text` parsed, with the value at the dotted `path` replaced by `value` (None removes it).
fn changed(text: &str, path: &str, value: Option<serde_yaml::Value>) -> serde_yaml::Value {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
    let (parents, last) = path.rsplit_once('.').unwrap();
    let parent = parents
        .split('.')
        .fold(&mut doc, |v, k| v.get_mut(k).expect("an existing parent"));
    let map = parent.as_mapping_mut().unwrap();
    match value {
        Some(v) => {
            map.insert(last.into(), v);
        }
        None => {
            map.remove(last);
        }
    }
    doc
}

/// The lines that differ between two texts: those of `before` that went, those of `after` that
/// came (the texts share a prefix and a suffix around them).
fn diff(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let cut = |l: &[&str]| {
        l[prefix..l.len() - suffix]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    (cut(&b), cut(&a))
}

fn yaml(text: &str) -> serde_yaml::Value {
    serde_yaml::from_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_of_one_endpoint_field_rewrites_that_line_alone_and_keeps_a_backup() {
    let app = shipped().await;
    let body = r#"{"to": "{{ phone }}", "text": "{{ message }}", "via": "panel"}"#;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"body": body})),
        )
        .await;

    let expected = changed(
        &app.before,
        "mfa.endpoints.single.body",
        Some(serde_yaml::Value::String(body.into())),
    );
    app.assert_written(&response, &expected).await;
    let (gone, came) = diff(&app.before, &app.file());
    assert_eq!(
        gone,
        vec![r#"      body: '{"to": "{{ phone }}", "text": "{{ message }}"}'"#]
    );
    assert_eq!(came, vec![format!("      body: '{body}'")]);
    assert_eq!(app.backups(), vec![BACKUP]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_rewrites_the_endpoint_alone_with_values_that_need_quoting() {
    let app = shipped().await;
    let endpoint = json!({
        "url": "outbox:sms",
        "method": "POST",
        "headers": {"content-type": "application/json", "x-note": "a: b #c ${NOT_SET_ANYWHERE"},
        "body": "{\"to\": \"{{ phone }}\",\n \"text\": \"grüezi 🌍 {{ message }}\"}\n",
    });

    let response = app
        .admin("PUT", "/api/endpoints/single", Some(endpoint.clone()))
        .await;

    let expected = changed(
        &app.before,
        "mfa.endpoints.single",
        Some(serde_yaml::to_value(&endpoint).unwrap()),
    );
    app.assert_written(&response, &expected).await;
    let (gone, came) = diff(&app.before, &app.file());
    assert!(
        gone.iter().all(|l| l.starts_with("      ")),
        "only lines of the endpoint went: {gone:?}"
    );
    assert!(
        came.iter().all(|l| l.starts_with("      ")),
        "only lines of the endpoint came: {came:?}"
    );
    for line in app
        .before
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
    {
        assert!(app.file().contains(line), "comment kept: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_goes_in_its_mapping_and_a_removed_key_takes_only_its_lines() {
    let app = shipped().await;

    let added = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"headers": {"x-tenant": "${MFA_TENANT}"}})),
        )
        .await;

    let mut expected = yaml(&app.before);
    expected["mfa"]["endpoints"]["single"]["headers"]["x-tenant"] = yaml("'${MFA_TENANT}'");
    app.assert_written(&added, &expected).await;
    let (gone, came) = diff(&app.before, &app.file());
    assert!(gone.is_empty(), "{gone:?}");
    assert_eq!(came, vec!["        x-tenant: ${MFA_TENANT}"]);
    assert!(!app.file().contains("tenant-secret-5e1f"));

    app.clock.advance(1);
    let with_header = app.file();
    let removed = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"headers": null})),
        )
        .await;

    removed.assert_status(200);
    let (gone, came) = diff(&app.before, &app.file());
    assert!(came.is_empty(), "{came:?}");
    assert_eq!(
        gone,
        vec!["      headers:", "        content-type: application/json"]
    );
    assert_eq!(
        app.read("platform.yml.2026-12-01T23-40-06Z.bak"),
        with_header,
        "the second backup holds the file with the added header"
    );
    assert_eq!(
        app.read(BACKUP),
        app.before,
        "the first backup is still there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delete_keeps_no_backup_and_changes_nothing() {
    let app = shipped().await;

    let response = app.admin("DELETE", "/api/endpoints/single", None).await;

    response.assert_status(400);
    assert_eq!(app.file(), app.before);
    assert!(app.backups().is_empty(), "{:?}", app.backups());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_in_flow_style_stays_in_flow_style() {
    // The shipped headers as a flow mapping, changed by a merge patch.
    let app = shipped_with(|text| {
        text.replace(
            "      headers:\n        content-type: application/json\n",
            "      headers: { content-type: application/json }  # what the outbox reads\n",
        )
    })
    .await;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"headers": {"x-tenant": "acme, inc"}})),
        )
        .await;

    response.assert_status(200);
    let (gone, came) = diff(&app.before, &app.file());
    assert_eq!(
        gone,
        vec!["      headers: { content-type: application/json }  # what the outbox reads"]
    );
    assert_eq!(
        came,
        vec![
            r#"      headers: { content-type: application/json, x-tenant: "acme, inc" }  # what the outbox reads"#
        ]
    );
    let on_disk = yaml(&app.file());
    assert_eq!(
        on_disk["mfa"]["endpoints"]["single"]["headers"]["x-tenant"],
        yaml("acme, inc")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_bounded_by_admin_config_backups() {
    let app = shipped_with(|text| {
        text.replace(
            "  listen: 127.0.0.1:0\n  # sha256",
            "  listen: 127.0.0.1:0\n  config_backups: 2\n  # sha256",
        )
    })
    .await;

    let mut versions = vec![app.file()];
    for n in 0..4 {
        app.clock.advance(60);
        let body = format!("{{\"to\": \"{{{{ phone }}}}\", \"text\": \"{{{{ message }}}} {n}\"}}");
        app.admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"body": body})),
        )
        .await
        .assert_status(200);
        versions.push(app.file());
    }

    let backups = app.backups();
    assert_eq!(
        backups,
        vec![
            "platform.yml.2026-12-01T23-43-05Z.bak",
            "platform.yml.2026-12-01T23-44-05Z.bak"
        ]
    );
    assert_eq!(app.read(&backups[0]), versions[2]);
    assert_eq!(app.read(&backups[1]), versions[3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_changes_nothing_leaves_the_file_and_keeps_no_backup() {
    let app = shipped().await;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"method": "POST"})),
        )
        .await;

    response.assert_status(200);
    assert_eq!(app.file(), app.before);
    assert!(app.backups().is_empty(), "{:?}", app.backups());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_config_backups_zero_a_write_keeps_no_backup() {
    let app = shipped_with(|text| {
        text.replace(
            "  listen: 127.0.0.1:0\n  # sha256",
            "  listen: 127.0.0.1:0\n  config_backups: 0\n  # sha256",
        )
    })
    .await;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"method": "PUT"})),
        )
        .await;

    response.assert_status(200);
    assert!(app.file().contains("      method: PUT\n"));
    assert!(app.backups().is_empty(), "{:?}", app.backups());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commented_file_the_editor_cannot_read_is_refused_with_its_reason_and_left_alone() {
    // The whole configuration as one flow mapping (JSON), with a comment above it.
    let app = shipped_with(|text| {
        let json = serde_json::to_string_pretty(&yaml(&text)).unwrap();
        format!("# generated by our deploy tool\n{json}\n")
    })
    .await;

    let response = app
        .admin(
            "PATCH",
            "/api/endpoints/single",
            Some(json!({"method": "PUT"})),
        )
        .await;

    response.assert_status(400);
    assert_eq!(response.json["error"]["id"], "invalid-configuration");
    let problem = &response.json["error"]["problems"][0];
    assert_eq!(problem["path"], "platform.yml");
    let message = problem["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cannot be edited in place, nothing was written: ")
            && message.contains("would lose its comments"),
        "{message}"
    );
    assert_eq!(app.file(), app.before);
    assert!(app.backups().is_empty(), "{:?}", app.backups());
}

/// The shipped file with its endpoint replaced by the preset its comment shows.
fn with_twilio_preset(text: String) -> String {
    let written =
        "    single:\n      url: 'outbox:sms'\n      method: POST\n      headers:\n        \
                   content-type: application/json\n      body: '{\"to\": \"{{ phone }}\", \
                   \"text\": \"{{ message }}\"}'\n";
    assert!(text.contains(written), "the shipped endpoint moved");
    text.replace(
        written,
        "    preset: twilio-sms\n    vars: { account_sid: AC0123456789abcdef0123456789abcdef, \
         auth_token: '${TWILIO_AUTH_TOKEN}', from: '+15017122661' }\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preset_var_changed_in_the_panel_rewrites_the_vars_line_alone() {
    let app = shipped_with(with_twilio_preset).await;

    let response = app
        .admin(
            "PATCH",
            "/api/channels/sms/preset",
            Some(json!({"vars": {"from": "+41791234567"}})),
        )
        .await;

    response.assert_status(200);
    let (gone, came) = diff(&app.before, &app.file());
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(gone[0].starts_with("    vars: {"), "{gone:?}");
    assert_eq!(
        came,
        vec![
            "    vars: { account_sid: AC0123456789abcdef0123456789abcdef, auth_token: \
             \"${TWILIO_AUTH_TOKEN}\", from: \"+41791234567\" }"
        ]
    );
    assert!(!app.file().contains("twilio-secret-77c2"));
    assert_eq!(app.read(BACKUP), app.before);
}

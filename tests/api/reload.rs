//! Hot reload of platform.yml under the running binary: an edit (renamed over the file, as
//! editors do, or written in place) is applied without a restart, a broken file is refused and
//! the previous configuration keeps serving, SIGHUP reloads, and flows under load never fail
//! nor mix templates while the template is swapped again and again.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use regex::Regex;
use serde_json::{json, Value};

use crate::fakes::{Recorded, Reply};
use crate::helpers::{
    admin_auth, marked_endpoint, prometheus_samples, sha256_hex, spawn_daemon, AppOptions, Auth,
    Rewrite, TestApp, TestResponse,
};

/// How long a reload may take to show (the watcher debounces ~200 ms).
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);

/// Standalone, single mode, an admin listener, the single endpoint carrying `marker`.
async fn reload_app(marker: &str) -> TestApp {
    spawn_daemon(
        AppOptions::standalone_single()
            .with_admin()
            .with_endpoints(json!({"single": marked_endpoint(marker)})),
        &[],
    )
    .await
}

/// This app's platform.yml with the single endpoint carrying `marker`.
fn yaml_with_marker(app: &TestApp, marker: &str) -> String {
    app.yaml_for(
        &app.options
            .clone()
            .with_endpoints(json!({"single": marked_endpoint(marker)})),
    )
}

/// Activates fresh users until the provider request shows `marker`; every activation on the
/// way must succeed. Panics after [`RELOAD_DEADLINE`].
async fn wait_until_sent_with(app: &TestApp, marker: &str) {
    let deadline = Instant::now() + RELOAD_DEADLINE;
    let mut polls = 0;
    loop {
        polls += 1;
        let body = app
            .body_sent_on_activation(&format!("poll-{marker}-{polls}"))
            .await;
        if body.contains(marker) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {polls} activations over {RELOAD_DEADLINE:?}, the provider still gets {body:?}, not {marker:?}; what the daemon said about its configuration:\n{}",
            configuration_log(app)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The daemon's lines about its configuration and reloads, warnings and errors (not the
/// request lines of the polling).
fn configuration_log(app: &TestApp) -> String {
    app.daemon_log()
        .lines()
        .filter(|line| {
            ["reload", "config", "SIGHUP", "WARN", "ERROR", "listening"]
                .iter()
                .any(|word| line.contains(word))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn status_json(app: &TestApp) -> Value {
    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    status.assert_status(200);
    status.json
}

/// Polls /api/status until `lastReload` is not null and `accept` holds for it.
async fn wait_for_last_reload(app: &TestApp, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + RELOAD_DEADLINE;
    loop {
        let status = status_json(app).await;
        if !status["lastReload"].is_null() && accept(&status["lastReload"]) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: /api/status still says {status} after {RELOAD_DEADLINE:?}; what the daemon said about its configuration:\n{}",
            configuration_log(app)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn assert_applied(status: &Value) {
    let last = &status["lastReload"];
    assert_eq!(last["applied"], json!(true), "{status}");
    assert_eq!(last["problems"], json!([]), "{status}");
    assert!(
        last["at"].is_u64(),
        "lastReload.at is a unix time: {status}"
    );
}

async fn reload_count(app: &TestApp, result: &str) -> f64 {
    let metrics = app.admin("GET", "/metrics", &admin_auth(), None).await;
    metrics.assert_status(200);
    prometheus_samples(&metrics.text)
        .iter()
        .filter(|s| {
            s.name == "mfa_bridge_reloads_total"
                && s.labels.get("result").map(String::as_str) == Some(result)
        })
        .map(|s| s.value)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_renamed_over_platform_yml_is_applied_without_a_restart_and_so_is_the_next() {
    let app = reload_app("marker-original").await;
    assert!(app
        .body_sent_on_activation("alice")
        .await
        .contains("marker-original"));

    app.rewrite_config(&yaml_with_marker(&app, "marker-renamed-1"), Rewrite::Rename);
    wait_until_sent_with(&app, "marker-renamed-1").await;
    // The file was replaced by another: the watch must follow the name, not the old file.
    app.rewrite_config(&yaml_with_marker(&app, "marker-renamed-2"), Rewrite::Rename);
    wait_until_sent_with(&app, "marker-renamed-2").await;
    app.rewrite_config(
        &yaml_with_marker(&app, "marker-in-place"),
        Rewrite::Overwrite,
    );
    wait_until_sent_with(&app, "marker-in-place").await;

    assert_applied(&status_json(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_written_in_place_over_platform_yml_is_applied_without_a_restart() {
    let app = reload_app("marker-original").await;
    let hash_before = status_json(&app).await["configHash"].clone();

    app.rewrite_config(
        &yaml_with_marker(&app, "marker-in-place-1"),
        Rewrite::Overwrite,
    );
    wait_until_sent_with(&app, "marker-in-place-1").await;
    app.rewrite_config(
        &yaml_with_marker(&app, "marker-in-place-2"),
        Rewrite::Overwrite,
    );
    wait_until_sent_with(&app, "marker-in-place-2").await;

    let status = wait_for_last_reload(&app, "the last reload applied", |last| {
        last["applied"] == json!(true)
    })
    .await;
    assert_applied(&status);
    assert_ne!(
        status["configHash"], hash_before,
        "a new configuration: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_platform_yml_is_refused_and_the_previous_template_keeps_serving() {
    let app = reload_app("marker-original").await;
    let hash_before = status_json(&app).await["configHash"].clone();
    let mut broken = app
        .options
        .clone()
        .with_endpoints(json!({"single": marked_endpoint("marker-broken")}));
    broken.endpoints.as_mut().unwrap()["single"]["body"] =
        json!(r#"{"to":"{{ nope }}","text":"Code {{ code }} marker-broken"}"#);

    app.rewrite_config(&app.yaml_for(&broken), Rewrite::Rename);

    let status = wait_for_last_reload(&app, "a refused reload", |last| {
        last["applied"] == json!(false)
    })
    .await;
    let problems = status["lastReload"]["problems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        problems
            .iter()
            .any(|p| p["path"] == json!("mfa.endpoints.single.body")
                && p["message"].as_str().is_some_and(|m| !m.is_empty())),
        "the problem names mfa.endpoints.single.body: {status}"
    );
    assert_eq!(
        status["configHash"], hash_before,
        "the running configuration stays: {status}"
    );
    let body = app.body_sent_on_activation("alice").await;
    assert!(
        body.contains("marker-original"),
        "the previous template serves: {body:?}"
    );
    assert!(
        app.daemon_log().contains("mfa.endpoints.single.body"),
        "the problem goes to the log:\n{}",
        app.daemon_log()
    );
    assert!(
        reload_count(&app, "refused").await >= 1.0,
        "counted as refused"
    );

    app.rewrite_config(&yaml_with_marker(&app, "marker-fixed"), Rewrite::Rename);
    wait_until_sent_with(&app, "marker-fixed").await;
    assert_applied(&status_json(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_yml_that_is_not_yaml_is_refused_and_the_daemon_keeps_serving() {
    let app = reload_app("marker-original").await;

    app.rewrite_config("mfa: [unclosed\n  endpoints: {\n", Rewrite::Overwrite);

    let status = wait_for_last_reload(&app, "a refused reload", |last| {
        last["applied"] == json!(false)
    })
    .await;
    assert!(
        status["lastReload"]["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "a refused reload says why: {status}"
    );
    let body = app.body_sent_on_activation("alice").await;
    assert!(
        body.contains("marker-original"),
        "the previous template serves: {body:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_an_edit_the_watcher_cannot_see_and_the_daemon_keeps_serving() {
    let mut app = reload_app("marker-original").await;
    let elsewhere = tempfile::tempdir().unwrap();
    let linked = elsewhere.path().join("platform.yml");
    std::fs::write(&linked, yaml_with_marker(&app, "marker-linked")).unwrap();
    // platform.yml becomes a link to a file in another folder (a swap the watcher sees) ...
    let link = app.config_path().with_file_name(".platform.yml.link");
    std::os::unix::fs::symlink(&linked, &link).unwrap();
    std::fs::rename(&link, app.config_path()).unwrap();
    wait_until_sent_with(&app, "marker-linked").await;

    // ... so that an edit of the linked file happens where no watch is: only SIGHUP tells.
    std::fs::write(&linked, yaml_with_marker(&app, "marker-after-hup")).unwrap();
    app.signal("HUP");

    wait_until_sent_with(&app, "marker-after-hup").await;
    assert_eq!(
        app.daemon_has_exited(),
        None,
        "SIGHUP must not stop the daemon"
    );
    assert_applied(&status_json(&app).await);
    assert!(
        reload_count(&app, "applied").await >= 1.0,
        "counted as applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_published_by_swapping_a_symlinked_folder_as_kubernetes_does_is_applied() {
    let app = reload_app("marker-original").await;
    let dir = app.config_path().parent().unwrap().to_path_buf();
    // A ConfigMap volume: platform.yml -> ..data/platform.yml, ..data -> ..v1
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(
        dir.join("..v1/platform.yml"),
        yaml_with_marker(&app, "marker-k8s-1"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v1", dir.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/platform.yml", dir.join(".platform.yml.link")).unwrap();
    std::fs::rename(dir.join(".platform.yml.link"), app.config_path()).unwrap();
    wait_until_sent_with(&app, "marker-k8s-1").await;

    // An update: a new folder, and ..data swapped to it in one rename.
    std::fs::create_dir(dir.join("..v2")).unwrap();
    std::fs::write(
        dir.join("..v2/platform.yml"),
        yaml_with_marker(&app, "marker-k8s-2"),
    )
    .unwrap();
    std::os::unix::fs::symlink("..v2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();

    wait_until_sent_with(&app, "marker-k8s-2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_admin_token_in_platform_yml_takes_over_on_reload() {
    let app = reload_app("marker-original").await;
    let new_token = "rotated-admin-token-51c0";
    let mut options = app.options.clone();
    options.admin.as_mut().unwrap()["token_sha256"] = json!(sha256_hex(new_token));

    app.rewrite_config(&app.yaml_for(&options), Rewrite::Rename);

    let deadline = Instant::now() + RELOAD_DEADLINE;
    loop {
        let with_new = app
            .admin("GET", "/api/status", &Auth::bearer(new_token), None)
            .await;
        if with_new.status == 200 {
            break;
        }
        with_new.assert_error(401, "unauthorized");
        assert!(
            Instant::now() < deadline,
            "the new admin token is still refused after {RELOAD_DEADLINE:?}:\n{}",
            configuration_log(&app)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.admin("GET", "/api/status", &admin_auth(), None)
        .await
        .assert_error(401, "unauthorized");
}

// ---------------------------------------------------------------------------------------------
// Under load

const TASKS: usize = 8;
const SWAPS: usize = 20;

fn marker(k: usize) -> String {
    format!("marker-{k:02}-end")
}

/// What the fake provider received, per destination: (marker index, code) in order.
#[derive(Default)]
struct Sends {
    by_phone: Mutex<HashMap<String, Vec<(usize, String)>>>,
    newest_marker: AtomicUsize,
    malformed: Mutex<Vec<String>>,
}

impl Sends {
    fn record(&self, request: &Recorded) {
        static SHAPE: OnceLock<Regex> = OnceLock::new();
        let shape =
            SHAPE.get_or_init(|| Regex::new(r"^Code ([0-9]{6}) marker-([0-9]{2})-end$").unwrap());
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let parsed = match (body["to"].as_str(), body["text"].as_str()) {
            (Some(to), Some(text)) => shape.captures(text).map(|c| {
                (
                    to.to_string(),
                    c[2].parse::<usize>().unwrap(),
                    c[1].to_string(),
                )
            }),
            _ => None,
        };
        match parsed {
            Some((phone, marker, code)) => {
                self.newest_marker.fetch_max(marker, Ordering::SeqCst);
                self.by_phone
                    .lock()
                    .unwrap()
                    .entry(phone)
                    .or_default()
                    .push((marker, code));
            }
            None => self.malformed.lock().unwrap().push(request.body_text()),
        }
    }

    /// The `n`th send (from 1) to `phone`.
    fn nth(&self, phone: &str, n: usize) -> Option<(usize, String)> {
        let by_phone = self.by_phone.lock().unwrap();
        let sends = by_phone.get(phone)?;
        (sends.len() == n).then(|| sends[n - 1].clone())
    }
}

/// One send of a flow: when the request that caused it left and came back, and the template
/// (marker) it was rendered with.
struct Send {
    what: String,
    started: Instant,
    finished: Instant,
    marker: usize,
}

#[derive(Default)]
struct FlowReport {
    flows: usize,
    failures: Vec<String>,
    sends: Vec<Send>,
}

fn expect(response: &TestResponse, status: u16, step: &str) -> Result<(), String> {
    if response.status == status {
        Ok(())
    } else {
        Err(format!(
            "{step}: expected {status}, got {} {}",
            response.status, response.text
        ))
    }
}

fn mfa_token_of(response: &TestResponse, step: &str) -> Result<String, String> {
    response.json["mfaToken"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{step}: no mfaToken in {}", response.text))
}

/// activate → confirm → login → challenge → verify for a user of its own.
async fn one_flow(
    app: &TestApp,
    sends: &Sends,
    task: usize,
    iteration: usize,
    report: &mut FlowReport,
) -> Result<(), String> {
    let username = format!("load-{task}-{iteration}");
    let phone = format!("+4179{task}{iteration:06}");
    let step = |name: &str| format!("{username} {name}");

    let started = Instant::now();
    let activated = app
        .activate(&username, &app.personal(), &json!({"phone": phone}))
        .await;
    let finished = Instant::now();
    expect(&activated, 302, &step("activate"))?;
    let activation_token = mfa_token_of(&activated, &step("activate"))?;
    let (marker, code) = sends
        .nth(&phone, 1)
        .ok_or_else(|| step("activate: not exactly one provider request"))?;
    report.sends.push(Send {
        what: step("activate"),
        started,
        finished,
        marker,
    });
    let confirmed = app.confirm(&username, &activation_token, &code).await;
    expect(&confirmed, 200, &step("confirm"))?;

    let login = app.login(&username).await;
    expect(&login, 302, &step("login"))?;
    let mfa_token = mfa_token_of(&login, &step("login"))?;
    let started = Instant::now();
    let challenge = app.challenge(&username, &mfa_token).await;
    let finished = Instant::now();
    expect(&challenge, 200, &step("challenge"))?;
    let (marker, code) = sends
        .nth(&phone, 2)
        .ok_or_else(|| step("challenge: not exactly two provider requests"))?;
    report.sends.push(Send {
        what: step("challenge"),
        started,
        finished,
        marker,
    });
    let verified = app.verify(&username, &mfa_token, &code).await;
    expect(&verified, 200, &step("verify"))?;
    if verified.json["verified"] != json!(true) {
        return Err(format!("{}: {}", step("verify"), verified.text));
    }
    Ok(())
}

async fn run_flows(
    app: Arc<TestApp>,
    sends: Arc<Sends>,
    stop: Arc<AtomicBool>,
    task: usize,
) -> FlowReport {
    let mut report = FlowReport::default();
    let mut iteration = 0;
    while !stop.load(Ordering::SeqCst) {
        iteration += 1;
        match one_flow(&app, &sends, task, iteration, &mut report).await {
            Ok(()) => report.flows += 1,
            Err(failure) => report.failures.push(failure),
        }
    }
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flows_under_load_never_fail_while_the_template_is_swapped_twenty_times_and_never_go_back()
{
    let app = Arc::new(reload_app(&marker(0)).await);
    let sends = Arc::new(Sends::default());
    {
        let sends = sends.clone();
        app.provider.respond_on("/sms", move |request| {
            sends.record(request);
            Reply::json(200, json!({"id": "message-1", "status": "queued"}))
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        tasks.spawn(run_flows(app.clone(), sends.clone(), stop.clone(), task));
    }
    let deadline = Instant::now() + Duration::from_secs(25);
    // written[k]: when marker k started to be written; seen[k]: when the test first saw it at
    // the provider. Marker 0 is the one the daemon started with.
    let mut written = vec![Instant::now()];
    let mut seen = vec![Instant::now()];
    let mut missed = None;
    for k in 1..=SWAPS {
        let how = if k % 2 == 0 {
            Rewrite::Overwrite
        } else {
            Rewrite::Rename
        };
        written.push(Instant::now());
        app.rewrite_config(&yaml_with_marker(&app, &marker(k)), how);
        while sends.newest_marker.load(Ordering::SeqCst) < k && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if sends.newest_marker.load(Ordering::SeqCst) < k {
            missed = Some(k);
            break;
        }
        seen.push(Instant::now());
    }
    stop.store(true, Ordering::SeqCst);
    let mut reports = Vec::new();
    while let Some(report) = tasks.join_next().await {
        reports.push(report.expect("a flow task"));
    }

    if let Some(k) = missed {
        panic!(
            "{} was not seen at the provider within the test's 25 s; the daemon's output:\n{}",
            marker(k),
            app.daemon_log()
        );
    }
    let failures: Vec<&String> = reports.iter().flat_map(|r| &r.failures).collect();
    let flows: usize = reports.iter().map(|r| r.flows).sum();
    assert!(
        failures.is_empty(),
        "{} of {} flows failed across the reloads; the first ones:\n{}",
        failures.len(),
        flows + failures.len(),
        failures
            .iter()
            .take(20)
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let malformed = sends.malformed.lock().unwrap().clone();
    assert!(
        malformed.is_empty(),
        "the provider got bodies of no template: {malformed:?}"
    );
    assert!(
        reports.iter().all(|r| r.flows > 0),
        "every task completed flows: {:?}",
        reports.iter().map(|r| r.flows).collect::<Vec<_>>()
    );
    let all_sends: Vec<&Send> = reports.iter().flat_map(|r| &r.sends).collect();
    println!(
        "{flows} flows, {} sends across {SWAPS} swaps in {:?}",
        all_sends.len(),
        seen[SWAPS].duration_since(seen[0])
    );
    let mut violations = Vec::new();
    for send in &all_sends {
        // The newest marker seen before this send left: it cannot use an older one.
        let at_least = seen.iter().rposition(|t| *t < send.started).unwrap_or(0);
        // The newest marker whose writing began before this send came back: it cannot use a
        // newer one.
        let at_most = written
            .iter()
            .rposition(|t| *t < send.finished)
            .unwrap_or(0);
        if send.marker < at_least || send.marker > at_most {
            violations.push(format!(
                "{} used {} but {} had been seen before it started and {} written before it ended",
                send.what,
                marker(send.marker),
                marker(at_least),
                marker(at_most)
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "{} of {} sends used a template out of order:\n{}",
        violations.len(),
        all_sends.len(),
        violations
            .iter()
            .take(20)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for k in 1..SWAPS {
        assert!(
            all_sends
                .iter()
                .any(|s| s.finished > seen[k] && s.started < seen[k + 1]),
            "no send overlapped the time between seeing {} and {}: the load did not span that swap",
            marker(k),
            marker(k + 1)
        );
    }
}

/// The message texts are watched like platform.yml: a `templates/` folder made after the start,
/// and each later edit inside it, are applied without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_text_in_a_templates_folder_made_after_the_start_is_applied_and_so_is_its_next_edit(
) {
    let app = spawn_daemon(
        AppOptions::standalone_single().with_endpoints(json!({"single": {
            "url": format!("{}/sms", crate::helpers::PROVIDER),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
        }})),
        &[],
    )
    .await;
    let dir = app.templates_dir();
    assert!(!dir.exists(), "the test starts without templates/");
    assert!(app
        .body_sent_on_activation("before")
        .await
        .contains("Your mfa-bridge verification code"));

    let file = dir.join("messages/sms.en.hbs");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "first-edit {{ code }}").unwrap();
    wait_until_sent_with(&app, "first-edit").await;

    // Written in place: the folder itself must now be watched.
    std::fs::write(&file, "second-edit {{ code }}").unwrap();
    wait_until_sent_with(&app, "second-edit").await;
}

// ---------------------------------------------------------------------------------------------
// Idle: only a change of the files reloads

/// How long the tests below leave the daemon alone: long enough for a watcher that reacts to
/// its own reads to have looped many times (it did, ten times a second).
const IDLE: Duration = Duration::from_secs(3);

/// The lines of the daemon's log that report a refused reload.
fn refusal_lines(app: &TestApp) -> usize {
    app.daemon_log()
        .lines()
        .filter(|line| line.contains("configuration reload refused"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_platform_yml_left_on_disk_is_refused_once_then_nothing_until_the_next_edit() {
    let app = reload_app("marker-original").await;
    assert_eq!(reload_count(&app, "refused").await, 0.0);

    app.rewrite_config("mfa: [unclosed\n", Rewrite::Rename);
    let status = wait_for_last_reload(&app, "a refused reload", |last| {
        last["applied"] == json!(false)
    })
    .await;
    let problems = status["lastReload"]["problems"].as_array().unwrap().len();
    tokio::time::sleep(IDLE).await;

    assert_eq!(
        reload_count(&app, "refused").await,
        1.0,
        "one edit, one refusal; the daemon said:\n{}",
        configuration_log(&app)
    );
    assert_eq!(
        refusal_lines(&app),
        problems,
        "each problem logged once; the daemon said:\n{}",
        configuration_log(&app)
    );
    assert_eq!(
        status_json(&app).await["lastReload"],
        status["lastReload"],
        "no reload since the edit"
    );

    app.rewrite_config(&yaml_with_marker(&app, "marker-fixed"), Rewrite::Rename);
    wait_until_sent_with(&app, "marker-fixed").await;
    assert_applied(&status_json(&app).await);
    assert_eq!(reload_count(&app, "refused").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_version_published_by_a_symlink_swap_is_refused_once_and_the_next_swap_applies() {
    let app = reload_app("marker-original").await;
    let dir = app.config_path().parent().unwrap().to_path_buf();
    let publish = |version: &str, text: &str| {
        std::fs::create_dir(dir.join(version)).unwrap();
        std::fs::write(dir.join(version).join("platform.yml"), text).unwrap();
        std::os::unix::fs::symlink(version, dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    };
    publish("..v1", &yaml_with_marker(&app, "marker-k8s-1"));
    std::os::unix::fs::symlink("..data/platform.yml", dir.join(".platform.yml.link")).unwrap();
    std::fs::rename(dir.join(".platform.yml.link"), app.config_path()).unwrap();
    wait_until_sent_with(&app, "marker-k8s-1").await;

    publish("..v2", "mfa: [unclosed\n");
    wait_for_last_reload(&app, "a refused reload", |last| {
        last["applied"] == json!(false)
    })
    .await;
    tokio::time::sleep(IDLE).await;
    assert_eq!(
        reload_count(&app, "refused").await,
        1.0,
        "one swap, one refusal; the daemon said:\n{}",
        configuration_log(&app)
    );

    publish("..v3", &yaml_with_marker(&app, "marker-k8s-3"));
    wait_until_sent_with(&app, "marker-k8s-3").await;
}

/// What opens files in `folder` (not its subfolders) and under `templates`, as inotify
/// reports it.
struct OpenProbe {
    _watcher: notify_debouncer_mini::notify::RecommendedWatcher,
    opened: std::sync::mpsc::Receiver<Vec<std::path::PathBuf>>,
}

impl OpenProbe {
    fn new(folder: &std::path::Path, templates: &std::path::Path) -> OpenProbe {
        use notify_debouncer_mini::notify::{self, event::AccessKind, EventKind, Watcher};
        let (tx, opened) = std::sync::mpsc::channel();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event {
                    if matches!(event.kind, EventKind::Access(AccessKind::Open(_))) {
                        let _ = tx.send(event.paths);
                    }
                }
            })
            .unwrap();
        watcher
            .watch(folder, notify::RecursiveMode::NonRecursive)
            .unwrap();
        watcher
            .watch(templates, notify::RecursiveMode::Recursive)
            .unwrap();
        OpenProbe {
            _watcher: watcher,
            opened,
        }
    }

    /// The files opened within `period`.
    fn opened_within(&self, period: Duration) -> Vec<std::path::PathBuf> {
        let deadline = Instant::now() + period;
        let mut paths = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.opened.recv_timeout(left) {
                Ok(opened) => paths.extend(opened),
                Err(_) => break,
            }
        }
        paths
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_daemon_does_not_open_platform_yml_nor_its_templates() {
    let app = spawn_daemon(
        AppOptions::standalone_single().with_endpoints(json!({"single": {
            "url": format!("{}/sms", crate::helpers::PROVIDER),
            "method": "POST",
            "headers": {"content-type": "application/json"},
            "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
        }})),
        &[],
    )
    .await;
    let message = app.templates_dir().join("messages/sms.en.hbs");
    std::fs::create_dir_all(message.parent().unwrap()).unwrap();
    std::fs::write(&message, "idle-check {{ code }}").unwrap();
    wait_until_sent_with(&app, "idle-check").await;

    let probe = OpenProbe::new(app.config_path().parent().unwrap(), &app.templates_dir());
    // The probe sees an open: this test's own.
    std::fs::read(&message).unwrap();
    assert!(
        probe
            .opened_within(RELOAD_DEADLINE)
            .iter()
            .any(|p| p == &message),
        "the probe sees opens"
    );
    // Whatever a reload that the test's open started reads, it reads within the debounce.
    probe.opened_within(Duration::from_secs(1));

    // Only the files a reload reads: the storage beside them has its own life.
    let opened: Vec<_> = probe
        .opened_within(IDLE)
        .into_iter()
        .filter(|p| *p == app.config_path() || p.starts_with(app.templates_dir()))
        .collect();
    assert!(
        opened.is_empty(),
        "idle for {IDLE:?}, the daemon opened {} files: {:?}...",
        opened.len(),
        &opened[..opened.len().min(5)]
    );
}

/// The README's way: `serve` in the folder of platform.yml, no --config. The storage path
/// (`./data`) resolves the same at start and at a reload, so an edit elsewhere does not warn
/// that it waits for a restart.
#[test]
fn a_reload_of_a_platform_yml_found_in_the_current_folder_warns_of_no_restart_setting() {
    use std::io::BufRead;
    let folder = tempfile::tempdir().unwrap();
    let shipped = include_str!("../../platform.yml")
        .replace("listen: 127.0.0.1:7000", "listen: 127.0.0.1:0")
        .replace("listen: 127.0.0.1:7001", "listen: 127.0.0.1:0");
    let config = folder.path().join("platform.yml");
    std::fs::write(&config, &shipped).unwrap();
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"))
        .current_dir(folder.path())
        .arg("serve")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mfa-bridge serve");
    let (lines, seen) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(daemon.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let mut log = Vec::new();
    let wait_for = |what: &str, log: &mut Vec<String>| {
        let deadline = Instant::now() + RELOAD_DEADLINE;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match seen.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(what);
                    log.push(line);
                    if found {
                        return true;
                    }
                }
                Err(_) => break,
            }
        }
        false
    };
    let started = wait_for(" listening on ", &mut log);
    let reloaded = started && {
        std::fs::write(
            &config,
            shipped.replace("ttl_seconds: 300", "ttl_seconds: 120"),
        )
        .unwrap();
        wait_for("configuration reloaded", &mut log)
    };
    let _ = daemon.kill();
    let _ = daemon.wait();

    let log = log.join("\n");
    assert!(reloaded, "the edit was not applied:\n{log}");
    assert!(
        !log.contains("change only at the next restart"),
        "nothing that waits for a restart changed:\n{log}"
    );
}

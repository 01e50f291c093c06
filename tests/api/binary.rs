//! The real binary: `check`, `render`, and `serve` across a kill.

use std::{path::Path, process::Output};

use mfa_bridge::snapshot::Snapshot;
use serde_json::{json, Value};

use crate::helpers::{
    config_value, spawn_daemon, strip_ansi, to_yaml, AppOptions, Stop, PROVIDER, UPSTREAM,
};

const UNSET_VAR: &str = "MFA_BRIDGE_TEST_SURELY_UNSET_7C2E";

fn bin() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mfa-bridge"));
    command.env("NO_COLOR", "1").env_remove(UNSET_VAR);
    command
}

/// A valid proxy/single configuration, storage in `dir`.
fn valid_config(dir: &Path) -> Value {
    let storage = dir.join("store");
    std::fs::create_dir_all(&storage).expect("create the storage directory");
    config_value(&AppOptions::proxy_single(), &storage)
}

fn write_config(dir: &Path, config: &Value) -> std::path::PathBuf {
    let path = dir.join("platform.yml");
    std::fs::write(&path, to_yaml(config, PROVIDER, UPSTREAM)).expect("write platform.yml");
    path
}

fn output_text(output: &Output) -> String {
    strip_ansi(&format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn check(config: &Value) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    check_in(dir.path(), config)
}

/// `mfa-bridge check` of `config` written as `dir/platform.yml` (beside what the test put in
/// `dir`: storage, templates): its output and everything it printed, colours stripped.
pub(crate) fn check_in(dir: &Path, config: &Value) -> (Output, String) {
    let path = write_config(dir, config);
    let output = bin()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run mfa-bridge check");
    let text = output_text(&output);
    (output, text)
}

/// Asserts `check` exits 1 and one line of its output holds every one of `needles`.
fn assert_check_names(config: &Value, needles: &[&str]) {
    let (output, text) = check(config);
    assert_eq!(
        output.status.code(),
        Some(1),
        "check must exit 1 on a broken configuration; output:\n{text}"
    );
    assert!(
        text.lines()
            .any(|line| needles.iter().all(|n| line.contains(n))),
        "no line of check's output holds {needles:?}; output:\n{text}"
    );
}

#[test]
fn check_accepts_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();

    let (output, text) = check(&valid_config(dir.path()));

    assert_eq!(output.status.code(), Some(0), "output:\n{text}");
}

#[test]
fn check_names_each_provider_of_a_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    let endpoints = config["mfa"]["endpoints"].clone();
    let named = |name: &str| {
        let mut entry = endpoints.clone();
        entry["name"] = Value::from(name);
        entry
    };
    config["mfa"]["endpoints"] = Value::Array(vec![named("first"), named("second")]);

    let (output, text) = check(&config);

    assert_eq!(output.status.code(), Some(0), "output:\n{text}");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains("configuration is valid")
                && l.contains(", providers first, second;")),
        "{text}"
    );
}

#[test]
fn check_names_a_missing_endpoint_url() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]
        .as_object_mut()
        .unwrap()
        .remove("url");

    assert_check_names(&config, &["mfa.endpoints.single.url"]);
}

#[test]
fn check_names_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["bogus"] = json!("x");

    assert_check_names(&config, &["mfa.endpoints.single", "bogus"]);
}

#[test]
fn check_names_a_bad_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["method"] = json!("FETCH");

    assert_check_names(&config, &["mfa.endpoints.single.method"]);
}

#[test]
fn check_names_a_template_variable_the_configuration_cannot_provide() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["body"] =
        json!(r#"{"to":"{{ fax }}","text":"Code {{ code }}"}"#);

    assert_check_names(&config, &["mfa.endpoints.single.body", "fax"]);
}

#[test]
fn check_names_a_template_that_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["url"] = json!(format!("{PROVIDER}/sms?to={{{{ phone "));

    assert_check_names(&config, &["mfa.endpoints.single.url"]);
}

#[test]
fn check_names_an_unset_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["headers"]["authorization"] =
        json!(format!("Bearer ${{{UNSET_VAR}}}"));

    assert_check_names(&config, &["mfa.endpoints.single.headers", UNSET_VAR]);
}

#[test]
fn check_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["method"] = json!("FETCH");
    config["upstream"]["login"]
        .as_object_mut()
        .unwrap()
        .remove("url");

    assert_check_names(&config, &["mfa.endpoints.single.method"]);
    assert_check_names(&config, &["upstream.login.url"]);
}

#[test]
fn check_reports_template_problems_alongside_problems_elsewhere_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["server"]["listen"] = json!("nowhere");
    config["mfa"]["endpoints"]["single"]["body"] =
        json!(r#"{"to":"{{ fax }}","text":"Code {{ code }}"}"#);

    assert_check_names(&config, &["server.listen"]);
    assert_check_names(&config, &["mfa.endpoints.single.body", "fax"]);
}

#[test]
fn the_library_names_the_path_of_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["method"] = json!("FETCH");
    let yaml = to_yaml(&config, PROVIDER, UPSTREAM);

    let source = mfa_bridge::config::Source::text(yaml, dir.path());
    let errors = match Snapshot::load(&source, &mfa_bridge::config::process_env) {
        Ok(_) => panic!("a method FETCH must be refused"),
        Err(errors) => errors.to_string(),
    };

    assert!(
        errors
            .lines()
            .any(|l| l.starts_with("mfa.endpoints.single.method")),
        "one line per problem, `path: message`; got:\n{errors}"
    );
}

/// `mfa-bridge render --config PATH --endpoint single` for a phone number.
fn render_single(path: &Path) -> std::process::Command {
    let mut command = bin();
    command.args(["render", "--config"]).arg(path).args([
        "--endpoint",
        "single",
        "--data",
        r#"{"phone":"+41791231212"}"#,
    ]);
    command
}

#[test]
fn render_prints_the_request_with_the_env_secret_masked() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-provider-key-91ab";
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]["headers"]["authorization"] =
        json!("Bearer ${MFA_BRIDGE_TEST_RENDER_SECRET}");
    let path = write_config(dir.path(), &config);

    let output = render_single(&path)
        .env("MFA_BRIDGE_TEST_RENDER_SECRET", secret)
        .output()
        .expect("run mfa-bridge render");
    let text = output_text(&output);

    assert!(output.status.success(), "render failed; output:\n{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("POST"), "the method is shown:\n{stdout}");
    assert!(
        stdout.contains("/sms?to=%2B41791231212"),
        "the rendered, encoded url is shown:\n{stdout}"
    );
    assert!(
        stdout.contains("+41791231212"),
        "the rendered body is shown:\n{stdout}"
    );
    assert!(
        stdout.to_lowercase().contains("authorization"),
        "the header is shown (masked):\n{stdout}"
    );
    assert!(
        !text.contains(secret),
        "the secret must be masked everywhere; output:\n{text}"
    );
}

#[test]
fn render_into_a_pipe_closed_early_ends_quietly() {
    // `mfa-bridge render … | head -1`: the reader goes away after the first line.
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &valid_config(dir.path()));
    let mut child = render_single(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run mfa-bridge render");
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && !stderr.contains("panicked"),
        "a closed pipe must end render quietly; status {:?}, stderr:\n{stderr}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_activation_survives_a_restart_of_the_daemon() {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();

    app.restart(Stop::Terminate).await;
    let confirmed = app.confirm("alice", &mfa_token, &code).await;

    confirmed.recovery_codes();
    let mfa_token = app.mfa_login("alice").await;
    app.challenge("alice", &mfa_token).await.assert_status(200);
    let code = app.last_code();
    let verified = app.verify("alice", &mfa_token, &code).await;
    verified.assert_status(200);
    assert_eq!(verified.json["verified"], json!(true));
}

/// An activation costs a message, so its session is on disk before activate answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_activation_survives_a_kill_9_of_the_daemon() {
    let mut app = spawn_daemon(AppOptions::standalone_single(), &[]).await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();

    app.restart(Stop::Kill).await;

    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrolment_survives_a_kill_9_of_the_daemon() {
    let mut app = spawn_daemon(AppOptions::proxy_single(), &[]).await;
    let recovery_codes = app.enroll("alice").await;

    app.restart(Stop::Kill).await;

    app.login("alice").await.mfa_token();
    app.recover_with_code("alice", &recovery_codes[0])
        .await
        .assert_status(200);
    app.login("alice").await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_substitutes_an_env_secret_into_the_provider_request() {
    let secret = "k-4d9e-provider";
    let mut options = AppOptions::standalone_single();
    options.endpoints = Some(json!({
        "single": {
            "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}"),
            "method": "POST",
            "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
            "headers": {
                "content-type": "application/json",
                "authorization": "Bearer ${MFA_BRIDGE_TEST_PROVIDER_KEY}",
            },
        }
    }));
    let app = spawn_daemon(options, &[("MFA_BRIDGE_TEST_PROVIDER_KEY", secret)]).await;

    app.activate_default("alice").await.mfa_token();

    assert_eq!(
        app.provider.last().header("authorization"),
        Some(format!("Bearer {secret}"))
    );
    assert!(
        !app.daemon_log().contains(secret),
        "the secret must never be logged:\n{}",
        app.daemon_log()
    );
}

// ---------------------------------------------------------------------------------------------
// Which configuration: --config FILE, else ./platform.yml, else nothing (--dev: the embedded one)

/// `mfa-bridge ARGS` run in `folder`.
fn run_in(folder: &Path, args: &[&str]) -> (Output, String) {
    let output = bin()
        .current_dir(folder)
        .args(args)
        .output()
        .expect("run mfa-bridge");
    let text = output_text(&output);
    (output, text)
}

/// What a command says in a folder without platform.yml, `folder` being where it looked.
fn assert_refused_for_lack_of_a_configuration(output: &Output, text: &str, folder: &Path) {
    assert_eq!(output.status.code(), Some(2), "output:\n{text}");
    let folder = folder.canonicalize().unwrap();
    assert!(
        text.contains(&format!(
            "no configuration: no --config given and no platform.yml in {}\n",
            folder.display()
        )),
        "says where it looked:\n{text}"
    );
    assert!(
        text.contains(
            "Give the file (--config /path/to/platform.yml), run from the folder that holds it, \
             or add --dev to run the development configuration embedded in the binary (its api \
             key and admin token are public: never in production)."
        ),
        "says what to do:\n{text}"
    );
    assert!(!text.contains("configuration is valid"), "{text}");
}

#[test]
fn serve_without_a_configuration_file_refuses_to_start_and_says_where_it_looked() {
    let folder = tempfile::tempdir().unwrap();

    let (output, text) = run_in(folder.path(), &["serve"]);

    assert_refused_for_lack_of_a_configuration(&output, &text, folder.path());
    assert!(
        !folder.path().join("data").exists(),
        "nothing is written: {:?}",
        std::fs::read_dir(folder.path())
            .unwrap()
            .collect::<Vec<_>>()
    );
}

#[test]
fn check_and_render_without_a_configuration_file_refuse_the_same_way() {
    let folder = tempfile::tempdir().unwrap();

    let (output, text) = run_in(folder.path(), &["check"]);
    assert_refused_for_lack_of_a_configuration(&output, &text, folder.path());

    let (output, text) = run_in(folder.path(), &["render", "--endpoint", "single"]);
    assert_refused_for_lack_of_a_configuration(&output, &text, folder.path());
}

#[test]
fn check_names_the_file_it_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), &valid_config(dir.path()));

    let (output, text) = run_in(dir.path(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let found = dir.path().canonicalize().unwrap().join("platform.yml");
    let absolute = std::path::absolute(&path).unwrap();
    assert!(
        text.starts_with(&format!(
            "{}: configuration is valid (proxy mode, ",
            absolute.display()
        )) || text.starts_with(&format!(
            "{}: configuration is valid (proxy mode, ",
            found.display()
        )),
        "without --config, the absolute path of ./platform.yml:\n{text}"
    );

    let elsewhere = tempfile::tempdir().unwrap();
    let (output, text) = run_in(
        elsewhere.path(),
        &["check", "--config", path.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "{}: configuration is valid (proxy mode, ",
            path.display()
        )),
        "with --config, the file as given:\n{text}"
    );
    assert!(!text.contains("public development credentials"), "{text}");
}

#[test]
fn check_names_the_file_of_an_invalid_configuration_before_its_problems() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["endpoints"]["single"]
        .as_object_mut()
        .unwrap()
        .remove("url");
    let path = write_config(dir.path(), &config);

    let (output, text) = check(&config);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.ends_with("platform.yml: configuration is invalid:")),
        "{text}"
    );

    let (output, text) = run_in(
        dir.path(),
        &[
            "check",
            "--config",
            path.with_file_name("missing.yml").to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(&format!(
            "{}: cannot read: ",
            path.with_file_name("missing.yml").display()
        )),
        "{text}"
    );
}

/// The warning of a configuration that accepts the shipped (public) api key and admin token.
const PUBLIC_CREDENTIALS: &str = "api_keys[0] (local-development) and admin token 'admin' accept \
    the public development credentials of the README: replace them before anyone else can reach \
    the daemon (store only the SHA-256 of a new secret: printf %s SECRET | sha256sum)";

#[test]
fn the_repository_folder_holds_the_platform_yml_of_the_readme_commands() {
    let (output, text) = run_in(Path::new(env!("CARGO_MANIFEST_DIR")), &["check"]);

    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(&format!(
            "{}/platform.yml: configuration is valid (standalone mode, ",
            env!("CARGO_MANIFEST_DIR")
        )),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == format!("warning: {PUBLIC_CREDENTIALS}")),
        "the shipped credentials are public:\n{text}"
    );
}

#[test]
fn serve_on_the_shipped_platform_yml_warns_at_start_that_its_credentials_are_public() {
    use std::io::BufRead;
    let folder = tempfile::tempdir().unwrap();
    let shipped = include_str!("../../platform.yml")
        .replace("listen: 127.0.0.1:7000", "listen: 127.0.0.1:0")
        .replace("listen: 127.0.0.1:7001", "listen: 127.0.0.1:0");
    std::fs::write(folder.path().join("platform.yml"), shipped).unwrap();
    let mut daemon = bin()
        .current_dir(folder.path())
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mfa-bridge serve");
    let stderr = std::io::BufReader::new(daemon.stderr.take().unwrap());
    let mut lines = Vec::new();
    for line in stderr.lines() {
        let line = strip_ansi(&line.unwrap());
        let listening = line.contains(" listening on ");
        lines.push(line);
        if listening {
            break;
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();

    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.ends_with(PUBLIC_CREDENTIALS)),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn check_dev_checks_the_embedded_development_configuration_and_dev_excludes_config() {
    let folder = tempfile::tempdir().unwrap();

    let (output, text) = run_in(folder.path(), &["check", "--dev"]);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with(
            "the embedded development configuration: configuration is valid (standalone mode, "
        ),
        "{text}"
    );

    let (output, text) = run_in(
        folder.path(),
        &["serve", "--dev", "--config", "platform.yml"],
    );
    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(
        text.contains("the argument '--dev' cannot be used with '--config <CONFIG>'"),
        "{text}"
    );
}

#[test]
fn serve_dev_warns_at_each_start_that_it_runs_the_public_development_configuration() {
    use std::io::BufRead;
    let folder = tempfile::tempdir().unwrap();
    // A platform.yml beside it is not read: the warning says so.
    std::fs::write(folder.path().join("platform.yml"), "not: read\n").unwrap();
    let mut daemon = bin()
        .current_dir(folder.path())
        .args(["serve", "--dev"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start mfa-bridge serve --dev");
    // The warnings come before the listeners are opened (the shipped ports may be taken: the
    // daemon then stops, after them).
    let stderr = std::io::BufReader::new(daemon.stderr.take().unwrap());
    let mut lines = Vec::new();
    for line in stderr.lines() {
        let line = strip_ansi(&line.unwrap());
        let starting = line.contains("starting");
        lines.push(line);
        if starting {
            break;
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let log = lines.join("\n");

    assert!(
        lines.iter().any(|l| l.contains(" WARN ")
            && l.contains(
                "--dev: running the DEVELOPMENT configuration embedded in the binary: its api \
                 key and admin token are the public ones of the README, codes go to \
                 data/outbox.jsonl instead of phones, data is stored in ./data. Never in \
                 production: give a platform.yml (--config FILE)."
            )),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("--dev: ./platform.yml is not read")),
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// The operator's messages, word for word

/// `check` of `config`: its exit code and everything it printed.
fn check_output(config: &Value) -> (Option<i32>, String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), config);
    let output = bin()
        .arg("check")
        .arg("--config")
        .arg(&path)
        .output()
        .expect("run mfa-bridge check");
    (output.status.code(), output_text(&output), path, dir)
}

#[test]
fn an_unset_env_in_preset_vars_is_blamed_on_the_operators_var_and_on_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("store");
    let options = AppOptions::standalone_single()
        .with_user_data(json!({"required": ["phone"], "allowed": ["phone", "language"]}))
        .with_endpoints(json!({
            "preset": "twilio-sms",
            "base_url": PROVIDER,
            "vars": {
                "account_sid": "AC0123",
                "auth_token": format!("${{{UNSET_VAR}}}"),
                "from": "+15005550006",
            },
        }));

    let mut config = config_value(&options, &storage);
    config["mfa"]["user_data"] = json!({"required": [], "allowed": ["phone", "email", "language"]});
    config["mfa"]["channels"] = json!({"email": {
        "preset": "postmark-email",
        "base_url": PROVIDER,
        "vars": {"server_token": format!("${{{UNSET_VAR}}}"), "from": "no-reply@example.com"},
    }});

    let (code, text, path, _dir) = check_output(&config);

    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        text,
        format!(
            "{}: configuration is invalid:\n\
             mfa.channels.email.vars.server_token: environment variable {UNSET_VAR} is not set\n\
             mfa.endpoints.vars.auth_token: environment variable {UNSET_VAR} is not set\n",
            path.display()
        )
    );
}

#[test]
fn a_negative_number_is_refused_with_the_range_and_the_number_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid_config(dir.path());
    config["mfa"]["code"] = json!({"length": 6, "ttl_seconds": -5});
    config["mfa"]["sessions"] = json!({"ttl_seconds": 0.5});

    let (code, text, path, _dir) = check_output(&config);

    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        text,
        format!(
            "{}: configuration is invalid:\n\
             mfa.code.ttl_seconds: must be a whole number from 1 to 86400, found -5\n\
             mfa.sessions.ttl_seconds: must be a whole number from 1 to 86400, found 0.5\n",
            path.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_data_directory_says_it_is_in_use_and_what_to_do() {
    let app = spawn_daemon(AppOptions::standalone_single(), &[]).await;

    let second = bin()
        .args(["serve", "--config"])
        .arg(app.config_path())
        .output()
        .expect("run a second mfa-bridge serve");
    let stderr = strip_ansi(&String::from_utf8_lossy(&second.stderr));

    assert_eq!(second.status.code(), Some(1), "{stderr}");
    let storage = app.config_path().parent().unwrap().join("store");
    assert_eq!(
        stderr.lines().last(),
        Some(
            format!(
                "storage failure: the data directory {} is in use: another mfa-bridge (or \
                 another process) holds its lock. Stop it, or give this daemon another \
                 storage.path",
                storage.display()
            )
            .as_str()
        ),
        "{stderr}"
    );
    app.activate_default("alice").await.mfa_token();
}

#[test]
fn render_names_the_configuration_it_rendered_with() {
    let folder = tempfile::tempdir().unwrap();
    let data = r#"{"phone": "+41791231212"}"#;

    let output = bin()
        .current_dir(folder.path())
        .args(["render", "--dev", "--endpoint", "single", "--data", data])
        .output()
        .expect("run mfa-bridge render --dev");

    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).lines().next(),
        Some("rendered with the embedded development configuration")
    );
    let shown: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(shown["request"]["url"], json!("outbox:sms"), "{shown}");
}

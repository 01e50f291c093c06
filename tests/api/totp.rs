//! Authenticator apps (TOTP, RFC 6238: SHA-1, 6 digits, 30 s), through the in-process app on its
//! manual clock. Every code comes from an oracle independent of the daemon's own library:
//! oathtool (OATH Toolkit) and Python's pyotp compute the codes, zbarimg reads the QR code.
//! `./scripts/test` installs them (`ensure_totp_tools` in scripts/lib.sh); a test that cannot
//! find one fails and names the package that brings it.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use crate::helpers::{files_under, spawn_app, AppOptions, TestApp, DEACTIVATED, VERIFY_MESSAGE};

const STEP: u64 = 30;
const INVALID_CODE: &str = "The provided code is invalid.";
const INSTALLER: &str = "./scripts/test installs it: ensure_totp_tools in scripts/lib.sh";

/// RFC 6238 Appendix B: the SHA-1 seed, "12345678901234567890" in base32.
const RFC_SHA1_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
/// RFC 6238 Appendix B, SHA-1 column: (time, 8-digit TOTP).
const RFC_SHA1_VECTORS: [(u64, &str); 6] = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
];

// ---------------------------------------------------------------------------------------------
// The oracles

/// Runs `program` (from Debian package `package`) and returns its standard output without the
/// final newline; fails the test, naming the package, when the program is not installed.
fn run_tool(program: &str, args: &[&str], package: &str) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            if e.kind() == ErrorKind::NotFound {
                panic!(
                    "`{program}` is missing: install it with `apt-get install {package}` \
                     ({INSTALLER})"
                )
            }
            panic!("cannot run `{program}`: {e}")
        });
    assert!(
        output.status.success(),
        "`{program} {}` failed ({}): {}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout)
        .unwrap_or_else(|e| panic!("`{program}` printed something that is not UTF-8: {e}"));
    stdout.strip_suffix('\n').unwrap_or(&stdout).to_string()
}

/// The TOTP of `secret` (base32) at Unix time `time`, by oathtool.
fn oathtool_at(secret: &str, time: u64, digits: u32) -> String {
    run_tool(
        "oathtool",
        &[
            "--totp",
            "--base32",
            &format!("--digits={digits}"),
            &format!("--now=@{time}"),
            secret,
        ],
        "oathtool",
    )
}

/// The 6-digit code an authenticator app shows for `secret` at `time` (oathtool).
fn code_at(secret: &str, time: u64) -> String {
    oathtool_at(secret, time, 6)
}

/// A Python that imports pyotp: Debian's (where `apt-get install python3-pyotp` puts it, even
/// when a pyenv or virtualenv `python3` comes first on PATH), else the `python3` on PATH.
fn pyotp_python() -> &'static str {
    static PYTHON: OnceLock<&'static str> = OnceLock::new();
    PYTHON.get_or_init(|| {
        for candidate in ["/usr/bin/python3", "python3"] {
            let imports = Command::new(candidate)
                .args(["-c", "import pyotp"])
                .output()
                .is_ok_and(|o| o.status.success());
            if imports {
                return candidate;
            }
        }
        panic!(
            "Python's pyotp is missing (neither /usr/bin/python3 nor the python3 on PATH imports \
             it): install it with `apt-get install python3-pyotp` ({INSTALLER})"
        )
    })
}

/// The TOTP of `secret` (base32) at Unix time `time`, by pyotp.
fn pyotp_at(secret: &str, time: u64, digits: u32) -> String {
    run_tool(
        pyotp_python(),
        &[
            "-c",
            "import sys, pyotp; print(pyotp.TOTP(sys.argv[1], digits=int(sys.argv[3])).at(int(sys.argv[2])))",
            secret,
            &time.to_string(),
            &digits.to_string(),
        ],
        "python3-pyotp",
    )
}

/// The text of the one QR code in the PNG at `path`, by zbarimg.
fn zbarimg(path: &Path) -> String {
    run_tool(
        "zbarimg",
        &[
            "--raw",
            "-q",
            path.to_str().expect("a UTF-8 temporary path"),
        ],
        "zbar-tools",
    )
}

/// RFC 4648 base32 without padding, decoded.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bytes = Vec::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for c in text.bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("{text:?} is not unpadded upper-case base32 (RFC 4648)"));
        buffer = (buffer << 5) | value as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    bytes
}

// ---------------------------------------------------------------------------------------------
// Steps of the API

/// `POST /{u}/mfa/activate {"method": "totp", ...extra}` with the api key; returns the answer.
async fn activate_totp(
    app: &TestApp,
    username: &str,
    extra: Value,
) -> crate::helpers::TestResponse {
    let mut body = json!({"method": "totp"});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    app.activate(username, &app.personal(), &body).await
}

/// What an activation with `{"method": "totp"}` answered.
struct Activation {
    mfa_token: String,
    secret: String,
    uri: String,
    qr: String,
}

/// Reads and checks the shape of a TOTP activation's answer: `302 {"mfaToken", "secret", "uri",
/// "qr"}`.
fn activation_of(answer: &crate::helpers::TestResponse) -> Activation {
    let mfa_token = answer.mfa_token();
    let keys: BTreeSet<&str> = answer
        .json
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["mfaToken", "qr", "secret", "uri"]),
        "a TOTP activation answers {{mfaToken, secret, uri, qr}}; got {}",
        answer.text
    );
    let text = |key: &str| {
        answer.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} must be a string: {}", answer.text))
            .to_string()
    };
    Activation {
        mfa_token,
        secret: text("secret"),
        uri: text("uri"),
        qr: text("qr"),
    }
}

/// Activates TOTP for `username` and confirms it with oathtool's code at the app's time, then
/// moves the clock 3 steps on, so that the confirm's step (whether or not the daemon counts it
/// as used) is out of reach of what the test does next. Returns the secret.
async fn enrol_totp(app: &TestApp, username: &str) -> String {
    let activation = activation_of(&activate_totp(app, username, json!({})).await);
    let confirmed = app
        .confirm(
            username,
            &activation.mfa_token,
            &code_at(&activation.secret, app.now()),
        )
        .await;
    confirmed.recovery_codes();
    assert_eq!(
        confirmed.json["methods"],
        json!(["totp"]),
        "confirm answers the enrolled methods: {}",
        confirmed.text
    );
    app.advance_clock(3 * STEP);
    activation.secret
}

/// Login of a TOTP user: `302 {"mfaToken", "methods": ["totp"]}`; returns the mfaToken.
async fn totp_login(app: &TestApp, username: &str) -> String {
    let login = app.login(username).await;
    let token = login.mfa_token();
    assert_eq!(
        login.json,
        json!({"mfaToken": token, "methods": ["totp"]}),
        "the login of a TOTP user names its methods"
    );
    token
}

/// Asserts the standalone verify's success: `200 {"verified": true, "username"}`.
fn assert_verified(answer: &crate::helpers::TestResponse, username: &str) {
    answer.assert_status(200);
    assert_eq!(
        answer.json,
        json!({"verified": true, "username": username}),
        "{}",
        answer.text
    );
}

/// The app's clock moved on (whole steps) until the codes of `secret` at the steps `offsets`
/// around it are all different: a refused neighbour can then never be refused, or accepted, for
/// being equal to another step's code.
fn codes_distinct_around(app: &TestApp, secret: &str, offsets: &[i64]) -> Vec<String> {
    for _ in 0..20 {
        let codes: Vec<String> = offsets
            .iter()
            .map(|k| code_at(secret, app.now().saturating_add_signed(k * STEP as i64)))
            .collect();
        if codes.iter().collect::<BTreeSet<_>>().len() == codes.len() {
            return codes;
        }
        app.advance_clock(STEP);
    }
    panic!("20 steps in a row with two equal codes among {offsets:?}: an oracle is broken");
}

/// A 6-digit code that is the code of no step of `secret` within 5 steps of `time`.
fn wrong_code_near(secret: &str, time: u64) -> String {
    let near: BTreeSet<String> = (0..=10)
        .map(|k| code_at(secret, (time + k * STEP).saturating_sub(5 * STEP)))
        .collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|candidate| !near.contains(candidate))
        .expect("a code outside 11 others")
}

// ---------------------------------------------------------------------------------------------
// Enrolment

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_totp_enrolment_gives_a_secret_its_uri_and_a_qr_code_of_exactly_that_uri() {
    let app = spawn_app(
        AppOptions::standalone_single().with_mfa("totp", json!({"issuer": "Example Lab"})),
    )
    .await;

    let activation = activation_of(&activate_totp(&app, "alice", json!({})).await);

    assert_eq!(app.provider.count(), 0, "a TOTP activation sends nothing");
    // The secret: unpadded upper-case base32, at least 128 bits (RFC 4226, R6).
    let raw = base32_decode(&activation.secret);
    assert!(
        raw.len() >= 16,
        "the secret must hold at least 128 bits, got {} bytes ({})",
        raw.len(),
        activation.secret
    );
    // The uri: otpauth://totp/ISSUER:USERNAME?secret&issuer&algorithm&digits&period.
    let rest = activation
        .uri
        .strip_prefix("otpauth://totp/")
        .unwrap_or_else(|| {
            panic!(
                "the uri must start with otpauth://totp/: {}",
                activation.uri
            )
        });
    let (label, query) = rest
        .split_once('?')
        .unwrap_or_else(|| panic!("the uri has no query: {}", activation.uri));
    assert_eq!(
        percent_decode_str(label).decode_utf8_lossy(),
        "Example Lab:alice",
        "the label is ISSUER:USERNAME: {}",
        activation.uri
    );
    let mut parameters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    parameters.sort();
    let mut expected = vec![
        ("algorithm".to_string(), "SHA1".to_string()),
        ("digits".to_string(), "6".to_string()),
        ("issuer".to_string(), "Example Lab".to_string()),
        ("period".to_string(), "30".to_string()),
        ("secret".to_string(), activation.secret.clone()),
    ];
    expected.sort();
    assert_eq!(
        parameters, expected,
        "the uri's parameters: {}",
        activation.uri
    );
    // The QR code: a PNG whose one symbol is the uri, byte for byte.
    let png = STANDARD
        .decode(&activation.qr)
        .unwrap_or_else(|e| panic!("qr must be standard base64: {e}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "qr must be a PNG image"
    );
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("qr.png");
    std::fs::write(&path, &png).expect("write the QR code");
    assert_eq!(
        zbarimg(&path),
        activation.uri,
        "the QR code must hold exactly the uri"
    );

    // Confirm: a wrong code is refused, the authenticator's current code enrols.
    let now = app.now();
    let code = code_at(&activation.secret, now);
    assert_eq!(
        code,
        pyotp_at(&activation.secret, now, 6),
        "oathtool and pyotp agree on this secret"
    );
    app.confirm(
        "alice",
        &activation.mfa_token,
        &wrong_code_near(&activation.secret, now),
    )
    .await
    .assert_error_message(400, "invalid-code", INVALID_CODE);
    let confirmed = app.confirm("alice", &activation.mfa_token, &code).await;
    confirmed.recovery_codes();
    assert_eq!(
        confirmed.json["methods"],
        json!(["totp"]),
        "{}",
        confirmed.text
    );
    let status = app.status("alice", &app.personal()).await;
    status.assert_status(200);
    assert_eq!(status.json["enabled"], json!(true), "{}", status.text);
    assert_eq!(status.json["methods"], json!(["totp"]), "{}", status.text);
    assert_eq!(
        status.json["recoveryCodesRemaining"],
        json!(10),
        "{}",
        status.text
    );
    assert!(status.json["enrolledAt"].is_u64(), "{}", status.text);
    assert_eq!(app.provider.count(), 0, "nothing is ever sent for TOTP");
}

/// The issuer of the uri: `mfa.totp.issuer`, else `mfa.messages.app_name`, else `mfa-bridge`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuer_defaults_to_the_app_name() {
    for (options, issuer) in [
        (AppOptions::standalone_single(), "mfa-bridge"),
        (
            AppOptions::standalone_single()
                .with_mfa("messages", json!({"app_name": "Acme Health"})),
            "Acme Health",
        ),
    ] {
        let app = spawn_app(options).await;
        let activation = activation_of(&activate_totp(&app, "alice", json!({})).await);
        let (label, query) = activation.uri["otpauth://totp/".len()..]
            .split_once('?')
            .unwrap_or_else(|| panic!("the uri has no query: {}", activation.uri));
        assert_eq!(
            percent_decode_str(label).decode_utf8_lossy(),
            format!("{issuer}:alice"),
            "{}",
            activation.uri
        );
        let issuers: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "issuer")
            .map(|(_, v)| v.into_owned())
            .collect();
        assert_eq!(issuers, [issuer], "{}", activation.uri);
    }
}

// ---------------------------------------------------------------------------------------------
// Login

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_verified_by_the_current_code_once_and_by_the_next_steps_code() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let secret = enrol_totp(&app, "alice").await;

    let first = totp_login(&app, "alice").await;
    // The challenge of a TOTP user (its preferred method) sends nothing.
    let challenge = app.challenge("alice", &first).await;
    challenge.assert_status(200);
    assert_eq!(
        challenge.json,
        json!({"message": VERIFY_MESSAGE, "method": "totp"}),
        "{}",
        challenge.text
    );
    let code = pyotp_at(&secret, app.now(), 6);
    assert_verified(&app.verify("alice", &first, &code).await, "alice");

    // The same code, the same step, on a new session: a replay.
    let second = totp_login(&app, "alice").await;
    app.verify("alice", &second, &code)
        .await
        .assert_error_message(400, "invalid-code", INVALID_CODE);

    // The next step's code works (on the session the replay did not use up).
    app.advance_clock(STEP);
    let next = pyotp_at(&secret, app.now(), 6);
    assert_verified(&app.verify("alice", &second, &next).await, "alice");
    assert_eq!(app.provider.count(), 0, "nothing is ever sent for TOTP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fresh_code_verified_on_twenty_sessions_at_once_is_accepted_once() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let secret = enrol_totp(&app, "alice").await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(totp_login(&app, "alice").await);
    }
    let code = code_at(&secret, app.now());

    let mut tasks = tokio::task::JoinSet::new();
    for token in tokens {
        let request = app
            .client
            .post(format!("{}/alice/mfa/verify", app.address))
            .header("authorization", token)
            .json(&json!({"code": code}));
        tasks.spawn(async move {
            let response = request.send().await.expect("a concurrent verify");
            let status = response.status().as_u16();
            let text = response.text().await.expect("read a verify's answer");
            (status, text)
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = tasks.join_next().await {
        answers.push(answer.expect("a verify task"));
    }

    let accepted: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .collect();
    assert_eq!(
        accepted.len(),
        1,
        "one code, 20 concurrent verifies: exactly one accepted; answers: {answers:#?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&accepted[0].1).ok(),
        Some(json!({"verified": true, "username": "alice"}))
    );
    for (status, text) in answers.iter().filter(|(status, _)| *status != 200) {
        let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        assert!(
            *status == 400 && body["error"]["id"] == json!("invalid-code"),
            "a replay that lost the race is 400 invalid-code, got {status} {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_the_previous_and_next_steps_are_accepted_and_two_steps_away_refused() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let secret = enrol_totp(&app, "alice").await;
    let codes = codes_distinct_around(&app, &secret, &[-2, -1, 0, 1, 2]);

    // Refusals first, so that no step is refused for coming after a used one.
    for (offset, code) in [(-2, &codes[0]), (2, &codes[4])] {
        let token = totp_login(&app, "alice").await;
        let answer = app.verify("alice", &token, code).await;
        assert_eq!(
            (answer.status, answer.json["error"]["id"].clone()),
            (400, json!("invalid-code")),
            "the code of step {offset:+} is out of the default drift (1): {}",
            answer.text
        );
    }
    for (offset, code) in [(-1, &codes[1]), (0, &codes[2]), (1, &codes[3])] {
        let token = totp_login(&app, "alice").await;
        let answer = app.verify("alice", &token, code).await;
        assert_eq!(
            answer.status, 200,
            "the code of step {offset:+} is within the default drift (1): {}",
            answer.text
        );
        assert_verified(&answer, "alice");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drift_0_only_the_current_step_is_accepted() {
    let app =
        spawn_app(AppOptions::standalone_single().with_mfa("totp", json!({"drift": 0}))).await;
    let secret = enrol_totp(&app, "alice").await;
    let codes = codes_distinct_around(&app, &secret, &[-1, 0, 1]);

    for (offset, code) in [(-1, &codes[0]), (1, &codes[2])] {
        let token = totp_login(&app, "alice").await;
        let answer = app.verify("alice", &token, code).await;
        assert_eq!(
            (answer.status, answer.json["error"]["id"].clone()),
            (400, json!("invalid-code")),
            "with drift 0 the code of step {offset:+} is refused: {}",
            answer.text
        );
    }
    let token = totp_login(&app, "alice").await;
    assert_verified(&app.verify("alice", &token, &codes[1]).await, "alice");
}

// ---------------------------------------------------------------------------------------------
// Step-up

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_current_totp_code_is_a_step_up_and_a_used_one_is_not() {
    let app = spawn_app(AppOptions::standalone_single()).await;
    let secret = enrol_totp(&app, "alice").await;

    // A code used by a login is no step-up.
    let token = totp_login(&app, "alice").await;
    let used_by_login = code_at(&secret, app.now());
    assert_verified(&app.verify("alice", &token, &used_by_login).await, "alice");
    app.deactivate("alice", &app.personal(), &json!({"code": used_by_login}))
        .await
        .assert_error(400, "invalid-code");
    app.deactivate(
        "alice",
        &app.personal(),
        &json!({"code": wrong_code_near(&secret, app.now())}),
    )
    .await
    .assert_error(400, "invalid-code");

    // A fresh code is the step-up of a re-activation, and is then used.
    app.advance_clock(STEP);
    let used_by_step_up = code_at(&secret, app.now());
    activation_of(&activate_totp(&app, "alice", json!({"code": used_by_step_up})).await);
    app.deactivate("alice", &app.personal(), &json!({"code": used_by_step_up}))
        .await
        .assert_error(400, "invalid-code");
    let status = app.status("alice", &app.personal()).await;
    assert_eq!(status.json["enabled"], json!(true), "{}", status.text);

    // The next step's code (of the enrolled secret, the re-activation being unconfirmed)
    // turns MFA off.
    app.advance_clock(STEP);
    let deactivated = app
        .deactivate(
            "alice",
            &app.personal(),
            &json!({"code": code_at(&secret, app.now())}),
        )
        .await;
    deactivated.assert_status(200);
    assert_eq!(deactivated.json, json!({"message": DEACTIVATED}));
    let status = app.status("alice", &app.personal()).await;
    assert_eq!(status.json, json!({"enabled": false}), "{}", status.text);
    let login = app.login("alice").await;
    login.assert_status(200);
    assert_eq!(login.json, json!({"mfa": "inactive"}), "{}", login.text);
}

// ---------------------------------------------------------------------------------------------
// The oracles themselves

/// RFC 6238 Appendix B cannot go through the API (8 digits; the secret is the daemon's), so this
/// proves the oracles the other tests trust: oathtool and pyotp give the RFC's SHA-1 values, and
/// the 6-digit codes the daemon accepts (above) are their last 6 digits.
#[test]
fn oathtool_and_pyotp_give_the_rfc_6238_sha1_values() {
    assert_eq!(base32_decode(RFC_SHA1_SECRET), b"12345678901234567890");
    for (time, expected) in RFC_SHA1_VECTORS {
        assert_eq!(
            oathtool_at(RFC_SHA1_SECRET, time, 8),
            expected,
            "oathtool at {time}"
        );
        assert_eq!(
            pyotp_at(RFC_SHA1_SECRET, time, 8),
            expected,
            "pyotp at {time}"
        );
        assert_eq!(
            code_at(RFC_SHA1_SECRET, time),
            expected[2..],
            "oathtool's 6 digits at {time}"
        );
        assert_eq!(
            pyotp_at(RFC_SHA1_SECRET, time, 6),
            expected[2..],
            "pyotp's 6 digits at {time}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// At rest

/// Every `(what, bytes)` found in any file under `dir`.
fn found_under(dir: &Path, needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let content = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for (what, needle) in needles {
            if content
                .windows(needle.len())
                .any(|w| w == needle.as_slice())
            {
                found.push(format!("{what} in {}", file.display()));
            }
        }
    }
    found
}

/// A TOTP secret as it could be written: base32 (both cases), raw, hex (both cases), base64.
fn secret_forms(what: &str, secret: &str) -> Vec<(String, Vec<u8>)> {
    let raw = base32_decode(secret);
    vec![
        (format!("{what} (base32)"), secret.as_bytes().to_vec()),
        (
            format!("{what} (base32, lower case)"),
            secret.to_ascii_lowercase().into_bytes(),
        ),
        (format!("{what} (raw bytes)"), raw.clone()),
        (format!("{what} (hex)"), hex::encode(&raw).into_bytes()),
        (
            format!("{what} (HEX)"),
            hex::encode_upper(&raw).into_bytes(),
        ),
    ]
    .into_iter()
    .chain((0..3).map(|skip| {
        // Base64 at each of the three alignments it can have inside a longer encoded value.
        let rest = &raw[skip..];
        (
            format!("{what} (base64+{skip})"),
            STANDARD.encode(&rest[..rest.len() / 3 * 3]).into_bytes(),
        )
    }))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_totp_secret_is_never_in_clear_in_the_data_directory() {
    let username = "totp-at-rest-user-7c1e";
    let app = spawn_app(AppOptions::standalone_single()).await;
    let enrolled = enrol_totp(&app, username).await;
    for _ in 0..3 {
        let token = totp_login(&app, username).await;
        assert_verified(
            &app.verify(username, &token, &code_at(&enrolled, app.now()))
                .await,
            username,
        );
        app.advance_clock(STEP);
    }
    // A re-activation left pending: its new secret waits in a session.
    let pending = activation_of(
        &activate_totp(
            &app,
            username,
            json!({"code": code_at(&enrolled, app.now())}),
        )
        .await,
    );
    // sled writes what was not flushed by an answer within 200 ms (flush_every_ms).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The search sees what the store wrote: profiles are keyed by the user name, in clear.
    let control = found_under(
        &app.storage_path,
        &[("the user name".to_string(), username.as_bytes().to_vec())],
    );
    assert!(
        !control.is_empty(),
        "the user name (a profile's key) is nowhere under {}: the search sees nothing",
        app.storage_path.display()
    );
    let mut needles = secret_forms("the enrolled TOTP secret", &enrolled);
    needles.extend(secret_forms("the pending TOTP secret", &pending.secret));
    let found = found_under(&app.storage_path, &needles);
    assert!(
        found.is_empty(),
        "TOTP secrets found in clear under {}:\n{}",
        app.storage_path.display(),
        found.join("\n")
    );
    // The pending secret is the one the daemon works with: it confirms.
    app.advance_clock(STEP);
    let confirmed = app
        .confirm(
            username,
            &pending.mfa_token,
            &code_at(&pending.secret, app.now()),
        )
        .await;
    confirmed.recovery_codes();
}

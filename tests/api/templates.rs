//! A substituted value never changes the shape of the provider request: percent-encoded in the
//! url, JSON-escaped in a JSON body, form-encoded in a form body, refused in a header when it
//! holds CR/LF or non-ASCII, and never rendered a second time.

use serde_json::{json, Value};

use crate::fakes::{Recorded, PROVIDER_VALID_CODE};
use crate::helpers::{phone_for, spawn_app, AppOptions, TestApp, PROVIDER};

/// Quote, CR/LF, the url delimiters, template placeholders, non-ASCII, a percent escape and a
/// plus sign.
const HOSTILE: &str =
    "q\"uote\r\nline&amp=1#frag?x=y/slash {{ code }} {{ phone }} \u{e9}t\u{e9} \u{65e5}\u{672c} %41 +plus";

/// In single mode the one placeholder a user-data value may hold, `{{ code }}`, is filled with
/// the code; everything else stays literal.
fn hostile_with_code(code: &str) -> String {
    HOSTILE.replace("{{ code }}", code)
}

fn assert_code_shape(code: &str) {
    assert!(
        code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()),
        "expected a 6-digit code, got {code:?}"
    );
}

async fn single_app(endpoint: Value) -> TestApp {
    spawn_app(AppOptions::proxy_single().with_endpoints(json!({ "single": endpoint }))).await
}

/// Activates alice with the hostile message; returns the one request the provider received.
async fn activate_with_hostile_message(
    app: &TestApp,
) -> (crate::helpers::TestResponse, Vec<Recorded>) {
    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("alice"), "message": HOSTILE}),
        )
        .await;
    (response, app.provider.requests())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_in_the_url_query_is_percent_encoded_and_the_keys_are_unchanged() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms?to={{{{ phone }}}}&text={{{{ message }}}}&user={{{{ username }}}}&code={{{{ code }}}}&lang=fr"),
        "method": "GET",
    }))
    .await;
    let username = "a.b+c@example.ch";

    let response = app
        .activate(
            username,
            &app.personal(),
            &json!({"phone": phone_for(username), "message": HOSTILE}),
        )
        .await;

    let mfa_token = response.mfa_token();
    let sms = app.provider.last();
    assert_eq!(sms.method, "GET");
    assert_eq!(sms.path, "/sms", "the path must not change: {}", sms.uri);
    let pairs = sms.query_pairs();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["to", "text", "user", "code", "lang"],
        "query was {:?}",
        sms.query
    );
    let code = pairs[3].1.clone();
    assert_code_shape(&code);
    assert_eq!(
        pairs[0].1,
        phone_for(username),
        "a + must be encoded as %2B"
    );
    assert_eq!(
        pairs[1].1,
        hostile_with_code(&code),
        "query was {:?}",
        sms.query
    );
    assert_eq!(pairs[2].1, username, "the username is a URL component too");
    assert_eq!(pairs[4].1, "fr");
    app.confirm(username, &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_in_the_url_path_stays_one_encoded_segment() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms/{{{{ message }}}}/send?code={{{{ code }}}}"),
        "method": "POST",
    }))
    .await;

    let (response, requests) = activate_with_hostile_message(&app).await;

    response.mfa_token();
    assert_eq!(requests.len(), 1);
    let sms = &requests[0];
    let code = sms
        .query_value("code")
        .unwrap_or_else(|| panic!("the query lost its code: {}", sms.uri));
    assert_code_shape(&code);
    let segments = sms.path_segments();
    assert_eq!(segments.len(), 3, "path was {}", sms.path);
    assert_eq!(segments[0], "sms");
    assert_eq!(
        segments[1],
        hostile_with_code(&code),
        "path was {}",
        sms.path
    );
    assert_eq!(segments[2], "send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_in_a_json_body_round_trips_and_the_keys_are_unchanged() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"{{ message }}","code":"{{ code }}"}"#,
        "headers": {"content-type": "application/json"},
    }))
    .await;

    let (response, requests) = activate_with_hostile_message(&app).await;

    let mfa_token = response.mfa_token();
    assert_eq!(requests.len(), 1);
    let body = requests[0].body_json();
    let object = body.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["code", "text", "to"],
        "body was {}",
        requests[0].body_text()
    );
    let code = body["code"].as_str().expect("code is a string").to_string();
    assert_code_shape(&code);
    assert_eq!(body["to"], json!(phone_for("alice")));
    assert_eq!(body["text"], json!(hostile_with_code(&code)));
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_in_a_json_body_without_content_type_is_still_json_escaped() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"{{ message }}","code":"{{ code }}"}"#,
    }))
    .await;

    let (response, requests) = activate_with_hostile_message(&app).await;

    response.mfa_token();
    assert_eq!(requests.len(), 1);
    let body = requests[0].body_json();
    let code = body["code"].as_str().expect("code is a string").to_string();
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
    assert_eq!(body["text"], json!(hostile_with_code(&code)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_in_a_form_body_round_trips_and_the_keys_are_unchanged() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": "to={{ phone }}&text={{ message }}&code={{ code }}&sender=Lab",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
    }))
    .await;

    let (response, requests) = activate_with_hostile_message(&app).await;

    let mfa_token = response.mfa_token();
    assert_eq!(requests.len(), 1);
    let pairs = requests[0].form_pairs();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["to", "text", "code", "sender"],
        "body was {:?}",
        requests[0].body_text()
    );
    let code = pairs[2].1.clone();
    assert_code_shape(&code);
    assert_eq!(
        pairs[0].1,
        phone_for("alice"),
        "a + must be form-encoded as %2B"
    );
    assert_eq!(pairs[1].1, hostile_with_code(&code));
    assert_eq!(pairs[3].1, "Lab");
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_stay_literal_and_round_trip_in_both_challenge_verify_requests() {
    let app = spawn_app(AppOptions::proxy_challenge_verify().with_endpoints(json!({
        "challenge": {
            "url": format!("{PROVIDER}/challenge?to={{{{ phone }}}}&text={{{{ message }}}}"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}","text":"{{ message }}"}"#,
            "headers": {"content-type": "application/json"},
        },
        "verify": {
            "url": format!("{PROVIDER}/verify"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}","code":"{{ code }}","text":"{{ message }}"}"#,
            "headers": {"content-type": "application/json"},
            "success": {"status": [200], "json_path": "status", "equals": "approved"},
        },
    })))
    .await;

    let (response, requests) = activate_with_hostile_message(&app).await;
    let mfa_token = response.mfa_token();
    assert_eq!(requests.len(), 1);
    let challenge = &requests[0];
    assert_eq!(challenge.path, "/challenge");
    assert_eq!(
        challenge.query_pairs(),
        vec![
            ("to".to_string(), phone_for("alice")),
            ("text".to_string(), HOSTILE.to_string())
        ],
        "query was {:?}",
        challenge.query
    );
    assert_eq!(
        challenge.body_json(),
        json!({"phone_number": phone_for("alice"), "text": HOSTILE}),
        "in challenge-verify mode no placeholder inside user data is ever filled"
    );

    app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .recovery_codes();
    let verify = app.provider.last();
    assert_eq!(verify.path, "/verify");
    assert_eq!(
        verify.body_json(),
        json!({"phone_number": phone_for("alice"), "code": PROVIDER_VALID_CODE, "text": HOSTILE}),
        "the user's {{{{ code }}}} placeholder must stay literal beside the real code"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_code_submitted_to_verify_cannot_change_the_verify_request() {
    let app = spawn_app(AppOptions::proxy_challenge_verify().with_endpoints(json!({
        "challenge": {
            "url": format!("{PROVIDER}/challenge"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}"}"#,
            "headers": {"content-type": "application/json"},
        },
        "verify": {
            "url": format!("{PROVIDER}/verify?code={{{{ code }}}}&channel=sms"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}","code":"{{ code }}"}"#,
            "headers": {"content-type": "application/json"},
            "success": {"status": [200], "json_path": "status", "equals": "approved"},
        },
    })))
    .await;
    let mfa_token = app.activate_default("alice").await.mfa_token();
    let before = app.provider.count();
    let hostile_code = "1\",\"status\":\"approved\r\n&channel=x#{{ phone }}";

    let response = app.confirm("alice", &mfa_token, hostile_code).await;

    assert_eq!(response.status, 400, "{}", response.text);
    if app.provider.count() > before {
        // The daemon chose to send it: the request's shape must be intact.
        let verify = app.provider.last();
        assert_eq!(
            verify.query_pairs(),
            vec![
                ("code".to_string(), hostile_code.to_string()),
                ("channel".to_string(), "sms".to_string())
            ],
            "query was {:?}",
            verify.query
        );
        assert_eq!(
            verify.body_json(),
            json!({"phone_number": phone_for("alice"), "code": hostile_code})
        );
        response.assert_error(400, "invalid-code");
    }
    app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .recovery_codes();
}

async fn assert_header_value_refused(message: &str) {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"Code {{ code }}"}"#,
        "headers": {"content-type": "application/json", "x-note": "{{ message }}"},
    }))
    .await;

    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("alice"), "message": message}),
        )
        .await;

    assert_eq!(
        response.status, 400,
        "a header value {message:?} must be refused: {}",
        response.text
    );
    assert!(
        response.json["error"]["id"].is_string(),
        "errors are Pryv-shaped: {}",
        response.text
    );
    assert_eq!(
        app.provider.count(),
        0,
        "nothing may reach the provider; it received {:?}",
        app.provider.requests()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_with_cr_lf_substituted_into_a_header_is_refused_and_nothing_is_sent() {
    assert_header_value_refused("hello\r\nX-Injected: yes").await;
    assert_header_value_refused("hello\nX-Injected: yes").await;
    assert_header_value_refused("hello\rX-Injected: yes").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_value_substituted_into_a_header_is_refused_and_nothing_is_sent() {
    assert_header_value_refused("caf\u{e9}").await;
    assert_header_value_refused("\u{65e5}\u{672c}").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printable_hostile_value_in_a_header_is_sent_unchanged() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"code":"{{ code }}"}"#,
        "headers": {"content-type": "application/json", "x-note": "note: {{ message }}"},
    }))
    .await;
    let message = "q\"uote&a=1#f?x=y/z {{ code }} {{ phone }} %41 +plus";

    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("alice"), "message": message}),
        )
        .await;

    response.mfa_token();
    let sms = app.provider.last();
    let code = sms.body_json()["code"]
        .as_str()
        .expect("code is a string")
        .to_string();
    assert_eq!(
        sms.header("x-note"),
        Some(format!("note: {}", message.replace("{{ code }}", &code)))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_placeholder_inside_user_data_stays_literal_while_the_code_placeholder_is_filled() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"{{ message }}"}"#,
        "headers": {"content-type": "application/json"},
    }))
    .await;

    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("alice"), "message": "Code {{ code }} for {{ phone }} {{{ phone }}} {{username}}"}),
        )
        .await;

    let mfa_token = response.mfa_token();
    let text = app.provider.last().body_json()["text"]
        .as_str()
        .expect("text is a string")
        .to_string();
    let code = app.last_code();
    assert_code_shape(&code);
    assert_eq!(
        text,
        format!("Code {code} for {{{{ phone }}}} {{{{{{ phone }}}}}} {{{{username}}}}")
    );
    app.confirm("alice", &mfa_token, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_holding_handlebars_syntax_is_sent_literally() {
    let app = single_app(json!({
        "url": format!("{PROVIDER}/sms"),
        "method": "POST",
        "body": r#"{"to":"{{ phone }}","text":"{{ message }}","code":"{{ code }}"}"#,
        "headers": {"content-type": "application/json"},
    }))
    .await;
    let message = "{{#each this}}{{@key}}{{/each}} {{> partial}} {{! comment}} \\{{ phone }}";

    let response = app
        .activate(
            "alice",
            &app.personal(),
            &json!({"phone": phone_for("alice"), "message": message}),
        )
        .await;

    response.mfa_token();
    assert_eq!(app.provider.last().body_json()["text"], json!(message));
}

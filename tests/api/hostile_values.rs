//! Hostile values through the API, as the fake provider receives them on the wire: user data and
//! a verify code in every position a template can put them (a whole path segment, part of one, a
//! query value, a header, a JSON body) arrive exactly, or are refused before anything is sent.
//! The properties behind this are in `src/provider/request/tests.rs`.

use serde_json::{json, Value};

use crate::fakes::{Reply, PROVIDER_VALID_CODE};
use crate::helpers::{phone_for, spawn_app, AppOptions, TestApp, PROVIDER};

fn user_data() -> Value {
    json!({
        "required": ["phone"],
        "allowed": ["phone", "ref", "note", "tag"],
        "phone_fields": ["phone"],
        "max_length": 256,
    })
}

/// `ref` is a whole path segment and in a header, `note` part of a segment, a query value and in
/// the JSON body, `tag` a whole header.
async fn single_app() -> TestApp {
    spawn_app(
        AppOptions::proxy_single()
            .with_user_data(user_data())
            .with_endpoints(json!({"single": {
                "url": format!("{PROVIDER}/sms/{{{{ ref }}}}/x{{{{ note }}}}?note={{{{ note }}}}&to={{{{ phone }}}}"),
                "method": "POST",
                "headers": {
                    "content-type": "application/json",
                    "x-ref": "ref {{ ref }}",
                    "x-tag": "{{ tag }}",
                },
                "body": r#"{"note":"{{ note }}","ref":"{{ ref }}","code":"{{ code }}"}"#,
            }})),
    )
    .await
}

fn data(reference: &str, note: &str, tag: &str) -> Value {
    json!({"phone": phone_for("alice"), "ref": reference, "note": note, "tag": tag})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_user_data_reaches_the_provider_exactly_in_the_path_query_headers_and_body() {
    let app = single_app().await;
    let reference = "%2F..%2e{{ phone }}\"\\;a=b";
    let note = "a\r\n../%2F%2e/..{{ phone }}}}{{\"\\ \u{e9}#?&=+";
    let tag = "..%2F{{ x }} \"a\"";

    let (_, sms) = app
        .activate_recorded("alice", &data(reference, note, tag))
        .await;

    assert_eq!(
        sms.path_segments(),
        ["sms", reference, &format!("x{note}")],
        "path was {}",
        sms.path
    );
    assert_eq!(
        sms.query_pairs(),
        [
            ("note".to_string(), note.to_string()),
            ("to".to_string(), phone_for("alice"))
        ]
    );
    assert_eq!(sms.header("x-ref"), Some(format!("ref {reference}")));
    assert_eq!(sms.header("x-tag").as_deref(), Some(tag));
    let body = sms.body_json();
    assert_eq!(body["note"], json!(note));
    assert_eq!(body["ref"], json!(reference));
    assert_eq!(body.as_object().map(|o| o.len()), Some(3), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_data_value_that_would_empty_or_dot_a_path_segment_is_refused_and_nothing_is_sent() {
    let app = single_app().await;
    for reference in ["..", ".", ""] {
        let response = app
            .activate("alice", &app.personal(), &data(reference, "n", "t"))
            .await;

        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("ref"), "{reference:?}: {message}");
    }
    assert_eq!(app.provider.count(), 0, "{:?}", app.provider.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_data_header_value_with_a_line_break_or_a_space_at_an_end_is_refused() {
    let app = single_app().await;
    // A space at either end would arrive dropped: HTTP trims header values.
    for tag in ["1\r\nX-Evil: yes", "1\n", " 1", "1 ", " "] {
        let response = app
            .activate("alice", &app.personal(), &data("r", "n", tag))
            .await;

        let message = response.assert_error(400, "invalid-parameters-format");
        assert!(message.contains("tag"), "{tag:?}: {message}");
    }
    assert_eq!(app.provider.count(), 0, "{:?}", app.provider.requests());
}

/// The verify template puts the code in a whole path segment, a query value, a header and the
/// JSON body.
async fn challenge_verify_app() -> TestApp {
    spawn_app(AppOptions::proxy_challenge_verify().with_endpoints(json!({
        "challenge": {
            "url": format!("{PROVIDER}/challenge"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}"}"#,
            "headers": {"content-type": "application/json"},
        },
        "verify": {
            "url": format!("{PROVIDER}/verify/{{{{ code }}}}?code={{{{ code }}}}&channel=sms"),
            "method": "POST",
            "body": r#"{"phone_number":"{{ phone }}","code":"{{ code }}"}"#,
            "headers": {"content-type": "application/json", "x-code": "{{ code }}"},
            "success": {"status": [200], "json_path": "status", "equals": "approved"},
        },
    })))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_verify_code_reaches_the_provider_as_that_exact_code_or_not_at_all() {
    let app = challenge_verify_app().await;
    app.provider.reply_on(
        &format!("/verify/{PROVIDER_VALID_CODE}"),
        Reply::json(200, json!({"status": "approved"})),
    );
    let mfa_token = app.activate_default("alice").await.mfa_token();

    // Printable: sent, and every position carries exactly it (the provider does not approve it).
    let hostile = "1%2F..\"&#?{{ phone }}/../approved";
    let before = app.provider.count();
    app.confirm("alice", &mfa_token, hostile)
        .await
        .assert_error(400, "invalid-code");
    assert_eq!(app.provider.count(), before + 1);
    let verify = app.provider.last();
    assert_eq!(verify.path_segments(), ["verify", hostile]);
    assert_eq!(
        verify.query_pairs(),
        [
            ("code".to_string(), hostile.to_string()),
            ("channel".to_string(), "sms".to_string())
        ]
    );
    assert_eq!(verify.header("x-code").as_deref(), Some(hostile));
    assert_eq!(
        verify.body_json(),
        json!({"phone_number": phone_for("alice"), "code": hostile})
    );

    // A code that would go elsewhere (`/verify/..` is `/`) or arrive changed (line breaks, a
    // space HTTP would trim) is a wrong code, and nothing is sent.
    for code in ["..", ".", "12\r\n34", " 424242", "424242 "] {
        let before = app.provider.count();
        app.confirm("alice", &mfa_token, code)
            .await
            .assert_error(400, "invalid-code");
        assert_eq!(
            app.provider.count(),
            before,
            "{code:?} reached the provider: {:?}",
            app.provider.last()
        );
    }

    app.confirm("alice", &mfa_token, PROVIDER_VALID_CODE)
        .await
        .recovery_codes();
    assert_eq!(
        app.provider.last().path,
        format!("/verify/{PROVIDER_VALID_CODE}")
    );
}

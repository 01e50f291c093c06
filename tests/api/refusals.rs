//! Every refusal of the public API is a Pryv-style error `{"error": {"id", "message"}}` served
//! as JSON, whatever layer refuses: a body over the size limit, a wrong method, an unknown
//! route, a body of another content type, malformed JSON, a header or parameter the server
//! cannot read, a username that cannot be decoded. Each refusal comes before anything is sent
//! to a provider or the upstream, and leaves no session or enrolment behind.

use serde_json::json;

use crate::fakes::PERSONAL_TOKEN;
use crate::helpers::{
    admin_auth, phone_for, prometheus_samples, raw_exchange, spawn_app, AppOptions, TestApp,
    TestResponse, API_KEY,
};

const TOO_LARGE: &str = "The request body is larger than 65536 bytes.";
const NOT_ALLOWED: &str =
    "This route does not take this method: the Allow header lists those it takes.";
const NOT_FOUND: &str = "Resource not found.";
const NOT_JSON_TYPE: &str = "The request body must be JSON (Content-Type: application/json).";
const NOT_AN_OBJECT: &str = "The request body must be a JSON object.";
const BODY_UNREADABLE: &str = "The request body could not be read.";
const INVALID_USERNAME: &str = "Invalid username.";

/// The size limit of a body, in bytes.
const LIMIT: usize = 64 * 1024;

/// Every route that reads its body as JSON, `POST /alice/...`.
const JSON_ROUTES: [&str; 7] = [
    "mfa/activate",
    "mfa/confirm",
    "mfa/challenge",
    "mfa/verify",
    "mfa/deactivate",
    "mfa/recover",
    "mfa/recovery-codes",
];

/// `method path` with this body and these headers (and nothing else: no content type unless
/// given).
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> TestResponse {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = app
        .client
        .request(method.clone(), format!("{}{path}", app.address))
        .body(body.to_vec());
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("a header value");
        request = request.header(*name, value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
    TestResponse::read(response).await
}

/// `POST /alice/{route}` with this content type and body, authorized as `auth` would be.
async fn post_typed(
    app: &TestApp,
    route: &str,
    authorization: &str,
    content_type: &str,
    body: &str,
) -> TestResponse {
    send(
        app,
        "POST",
        &format!("/alice/{route}"),
        &[
            ("authorization", authorization.as_bytes()),
            ("content-type", content_type.as_bytes()),
        ],
        body.as_bytes(),
    )
    .await
}

/// Bytes written as they are on a fresh connection; `half_close` shuts the writing side
/// afterwards (a body broken off). The answer, parsed.
async fn raw(app: &TestApp, request: &[u8], half_close: bool) -> TestResponse {
    raw_exchange(app.port, request, half_close, "a raw request").await
}

/// A request head for `POST path` with these header lines (each ending in CRLF).
fn head(path: &str, lines: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n{lines}\r\n")
}

/// Asserts that alice has no enrolment (nothing was stored by a refused activate).
async fn assert_not_enrolled(app: &TestApp) {
    let status = app.status("alice", &app.personal()).await;
    status.assert_status(200);
    assert_eq!(status.json, json!({"enabled": false}), "{}", status.text);
}

// --- the size limit ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_size_limit_is_request_too_large_and_nothing_is_sent() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let padding = "x".repeat(LIMIT);
    let body = json!({"phone": phone_for("alice"), "pad": padding}).to_string();

    let response = post_typed(
        &app,
        "mfa/activate",
        PERSONAL_TOKEN,
        "application/json",
        &body,
    )
    .await;

    response.assert_error_message(413, "request-too-large", TOO_LARGE);
    assert_eq!(
        response.headers.get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..]),
        "the unread rest of the body ends the connection, and the answer says so"
    );
    assert_eq!(app.provider.count(), 0, "nothing may be sent");
    assert_not_enrolled(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_is_read() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    // The head alone: the answer comes without a byte of the 10 MB announced.
    let request = head(
        "/alice/mfa/activate",
        "authorization: personal-token\r\ncontent-type: application/json\r\ncontent-length: 10000000\r\n",
    );

    let response = raw(&app, request.as_bytes(), false).await;

    response.assert_error_message(413, "request-too-large", TOO_LARGE);
    assert_eq!(app.provider.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_that_goes_over_the_limit_is_request_too_large() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let mut request = head(
        "/alice/mfa/activate",
        "authorization: personal-token\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n",
    )
    .into_bytes();
    // One chunk one byte over the limit, the end never sent: it is refused once over.
    request.extend_from_slice(format!("{:x}\r\n", LIMIT + 1).as_bytes());
    request.extend_from_slice(&vec![b' '; LIMIT + 1]);

    let response = raw(&app, &request, false).await;

    response.assert_error_message(413, "request-too-large", TOO_LARGE);
    assert_eq!(app.provider.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_body_over_the_limit_never_reaches_the_upstream() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let body = json!({"username": "alice", "password": "x".repeat(LIMIT)}).to_string();

    let response = send(
        &app,
        "POST",
        "/alice/login",
        &[("content-type", b"application/json")],
        body.as_bytes(),
    )
    .await;

    response.assert_error_message(413, "request-too-large", TOO_LARGE);
    assert!(app.upstream.requests_to("/alice/auth/login").is_empty());
}

// --- methods and routes -----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_route_with_another_method_is_method_not_allowed_with_the_allowed_ones() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (method, path, allow) in [
        ("PUT", "/alice/mfa/verify", "POST"),
        ("GET", "/alice/login", "POST"),
        ("DELETE", "/alice/mfa/activate", "POST"),
        ("OPTIONS", "/alice/mfa/confirm", "POST"),
        // GET answers where the session's code stands (the message log).
        ("OPTIONS", "/alice/mfa/challenge", "POST,GET,HEAD"),
        ("POST", "/alice/mfa", "GET,HEAD"),
        ("DELETE", "/alice/mfa", "GET,HEAD"),
    ] {
        let response = send(
            &app,
            method,
            path,
            &[("authorization", PERSONAL_TOKEN.as_bytes())],
            b"",
        )
        .await;

        response.assert_error_message(405, "method-not-allowed", NOT_ALLOWED);
        assert_eq!(
            response.headers.get("allow").and_then(|v| v.to_str().ok()),
            Some(allow),
            "{method} {path}"
        );
    }
    assert_eq!(app.upstream.count(), 0, "not even the access check");
    assert_eq!(app.provider.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_unknown_resource_whatever_the_method() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (method, path) in [
        ("GET", "/"),
        ("GET", "/alice"),
        ("POST", "/alice/mfa/nope"),
        ("POST", "/alice/mfa/verify/more"),
        ("PUT", "/alice/auth/login"),
    ] {
        send(&app, method, path, &[], b"")
            .await
            .assert_error_message(404, "unknown-resource", NOT_FOUND);
    }
}

// --- content types ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_another_content_type_is_unsupported_media_type_on_every_json_route() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let body = json!({"phone": phone_for("alice"), "code": "123456"}).to_string();

    for route in JSON_ROUTES {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            let response = post_typed(&app, route, PERSONAL_TOKEN, content_type, &body).await;

            let message = response.assert_error(415, "unsupported-media-type");
            assert_eq!(message, NOT_JSON_TYPE, "{route} with {content_type}");
        }
    }
    assert_eq!(app.provider.count(), 0, "nothing may be sent");
    assert_eq!(app.upstream.count(), 0, "the upstream is not asked");
    assert_not_enrolled(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_with_parameters_a_json_suffix_or_no_content_type_at_all_is_accepted() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for (i, content_type) in [
        None,
        Some("application/json; charset=utf-8"),
        Some("APPLICATION/JSON;charset=UTF-8"),
        Some("application/vnd.api+json"),
        Some("application/merge-patch+json"),
    ]
    .into_iter()
    .enumerate()
    {
        let user = format!("user{i}");
        let body = json!({"phone": phone_for(&user)}).to_string();
        let mut headers: Vec<(&str, &[u8])> = vec![("authorization", PERSONAL_TOKEN.as_bytes())];
        if let Some(t) = content_type {
            headers.push(("content-type", t.as_bytes()));
        }

        let response = send(
            &app,
            "POST",
            &format!("/{user}/mfa/activate"),
            &headers,
            body.as_bytes(),
        )
        .await;

        assert_eq!(response.status, 302, "{content_type:?}: {}", response.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_body_is_no_body_whatever_content_type_it_declares() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    app.enroll("alice").await;
    let mfa_token = app.mfa_login("alice").await;

    let response = post_typed(&app, "mfa/challenge", &mfa_token, "text/plain", "").await;

    response.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_proxy_mode_forwards_a_body_of_any_content_type_as_it_came() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let form = "username=alice&password=good-password&appId=test-app";

    let response = send(
        &app,
        "POST",
        "/alice/login",
        &[("content-type", b"application/x-www-form-urlencoded")],
        form.as_bytes(),
    )
    .await;

    let logins = app.upstream.requests_to("/alice/auth/login");
    assert_eq!(logins.len(), 1, "the upstream decides what it reads");
    assert_eq!(logins[0].body_text(), form);
    assert_eq!(
        logins[0].header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    // The fake upstream reads JSON only: its refusal comes back as it came.
    assert_eq!(response.status, 401, "{}", response.text);
    assert_eq!(response.json["error"]["id"], json!("invalid-credentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_in_standalone_mode_does_not_read_its_body_whatever_its_type() {
    let app = spawn_app(AppOptions::standalone_single()).await;

    let response = send(
        &app,
        "POST",
        "/alice/login",
        &[
            ("authorization", format!("Bearer {API_KEY}").as_bytes()),
            ("content-type", b"text/plain"),
        ],
        b"not json",
    )
    .await;

    response.assert_status(200);
    assert_eq!(response.json, json!({"mfa": "inactive"}));
}

// --- JSON -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_an_invalid_request_structure_that_says_where_and_uses_nothing_up() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let activation = app.activate_default("alice").await.mfa_token();
    let code = app.last_code();
    let sent = app.provider.count();

    for (body, message) in [
        (
            "{\"code\": ",
            "The request body is not valid JSON (line 1, column 9).",
        ),
        (
            "{\"code\": \"1\"}\n}",
            "The request body is not valid JSON (line 2, column 1).",
        ),
        (
            "{code: 1}",
            "The request body is not valid JSON (line 1, column 2).",
        ),
    ] {
        for route in ["mfa/confirm", "mfa/challenge"] {
            post_typed(&app, route, &activation, "application/json", body)
                .await
                .assert_error_message(400, "invalid-request-structure", message);
        }
    }

    assert_eq!(app.provider.count(), sent, "no challenge was sent");
    app.confirm("alice", &activation, &code)
        .await
        .recovery_codes();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_an_object_is_an_invalid_request_structure_on_every_json_route() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for route in JSON_ROUTES {
        for body in ["[1]", "\"x\"", "42", "null"] {
            let response = post_typed(&app, route, PERSONAL_TOKEN, "application/json", body).await;

            let message = response.assert_error(400, "invalid-request-structure");
            assert_eq!(message, NOT_AN_OBJECT, "{route} with {body}");
        }
    }
    assert_eq!(app.provider.count(), 0);
    assert_not_enrolled(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_broken_off_is_an_invalid_request_structure() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let mut request = head(
        "/alice/mfa/activate",
        "authorization: personal-token\r\ncontent-type: application/json\r\ncontent-length: 100\r\n",
    )
    .into_bytes();
    request.extend_from_slice(b"{\"phone\": \"+4179");

    let broken = raw(&app, &request, true).await;
    let mut chunk = head(
        "/alice/mfa/activate",
        "authorization: personal-token\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n",
    )
    .into_bytes();
    chunk.extend_from_slice(b"zz\r\n{}\r\n0\r\n\r\n");
    let bad_chunk = raw(&app, &chunk, false).await;

    broken.assert_error_message(400, "invalid-request-structure", BODY_UNREADABLE);
    bad_chunk.assert_error_message(400, "invalid-request-structure", BODY_UNREADABLE);
    assert_eq!(app.provider.count(), 0);
}

// --- headers and parameters the server cannot read ---------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_that_cannot_be_read_is_refused_not_taken_for_a_missing_one() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let body = json!({"phone": phone_for("alice")}).to_string();
    let not_ascii = "The Authorization header cannot be read: it must be printable ASCII.";
    let not_basic =
        "The Authorization header cannot be read: Basic credentials must be base64-encoded UTF-8.";

    for (value, message) in [
        ("persönal-token".as_bytes(), not_ascii),
        (b"Bearer tok\xff", not_ascii),
        (b"Basic !!!not-base64", not_basic),
        // base64 of the Latin-1 bytes "\xe9:" (not UTF-8)
        (b"Basic 6To=", not_basic),
    ] {
        let response = send(
            &app,
            "POST",
            "/alice/mfa/activate",
            &[
                ("authorization", value),
                ("content-type", b"application/json"),
            ],
            body.as_bytes(),
        )
        .await;

        response.assert_error_message(400, "invalid-request-structure", message);
    }
    assert_eq!(
        app.upstream.count(),
        0,
        "no access check for an unread token"
    );
    assert_eq!(app.provider.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_query_parameter_that_is_not_utf8_is_refused() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    let response = send(&app, "GET", "/alice/mfa?auth=tok%FF%FE", &[], b"").await;

    response.assert_error_message(
        400,
        "invalid-request-structure",
        "The 'auth' query parameter cannot be read: it must be UTF-8 once percent-decoded.",
    );
    assert_eq!(app.upstream.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_origin_referer_or_content_type_that_cannot_be_read_is_refused_before_the_upstream() {
    let app = spawn_app(AppOptions::proxy_single()).await;
    let body = json!({"username": "alice", "password": "good-password", "appId": "a"}).to_string();

    for name in ["Origin", "Referer", "Content-Type"] {
        let lower = name.to_ascii_lowercase();
        let response = send(
            &app,
            "POST",
            "/alice/login",
            &[(lower.as_str(), "https://exämple.ch/".as_bytes())],
            body.as_bytes(),
        )
        .await;

        response.assert_error_message(
            400,
            "invalid-request-structure",
            &format!("The {name} header cannot be read: it must be printable ASCII."),
        );
    }
    assert!(
        app.upstream.requests_to("/alice/auth/login").is_empty(),
        "a header is refused, never dropped before the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_that_cannot_be_decoded_is_invalid_parameters_format() {
    let app = spawn_app(AppOptions::proxy_single()).await;

    for path in [
        "/%FF/mfa",
        "/al%E9/mfa/verify",
        "/al%ice/mfa/verify",
        "/a%2Fb/login",
    ] {
        let method = if path.ends_with("/mfa") {
            "GET"
        } else {
            "POST"
        };

        send(
            &app,
            method,
            path,
            &[("content-type", b"application/json")],
            b"{}",
        )
        .await
        .assert_error_message(400, "invalid-parameters-format", INVALID_USERNAME);
    }
    assert_eq!(app.upstream.count(), 0);
}

// --- the outcome -------------------------------------------------------------------------------

/// A request (method, headers, body) and the id it is refused with.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, &'a [u8], &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refusal_is_counted_under_its_id() {
    let app = spawn_app(AppOptions::proxy_single().with_admin()).await;
    let path = "/alice/mfa/verify";
    let big = format!("{{\"code\": \"{}\"}}", "1".repeat(LIMIT));

    let refusals: [Refusal; 5] = [
        (
            "POST",
            vec![("content-type", b"application/json")],
            big.as_bytes(),
            "request-too-large",
        ),
        (
            "POST",
            vec![("content-type", b"text/plain")],
            b"{}",
            "unsupported-media-type",
        ),
        (
            "POST",
            vec![("content-type", b"application/json")],
            b"{",
            "invalid-request-structure",
        ),
        ("PUT", vec![], b"", "method-not-allowed"),
        (
            "POST",
            vec![("authorization", b"t\xc3\xa9")],
            b"",
            "invalid-request-structure",
        ),
    ];
    for (method, headers, body, id) in &refusals {
        let response = send(&app, method, path, headers, body).await;
        assert_eq!(response.json["error"]["id"], json!(id), "{}", response.text);
    }

    let metrics = app.admin("GET", "/metrics", &admin_auth(), None).await;
    let counted = |id: &str| -> f64 {
        prometheus_samples(&metrics.text)
            .iter()
            .filter(|s| {
                s.name == "mfa_bridge_verify_total"
                    && s.labels.get("outcome").map(String::as_str) == Some(id)
            })
            .map(|s| s.value)
            .sum()
    };
    for (id, times) in [
        ("request-too-large", 1.0),
        ("unsupported-media-type", 1.0),
        ("invalid-request-structure", 2.0),
        ("method-not-allowed", 1.0),
    ] {
        assert_eq!(counted(id), times, "{id}:\n{}", metrics.text);
    }
}

//! The encoding rule as properties: for arbitrary strings in every position a template can put
//! them (url path segment, url query value, header, JSON body, form body, plain body; a user-data
//! value, and the user's code in a verify template), the request the daemon would send (the
//! configuration compiled, the variables computed by `vars_for`, rendered, and built by
//! [`build`] as `Sender` builds it), parsed back, has the template's shape and carries the value
//! exactly; or the value is refused before anything is sent, naming its variable, and only where
//! it cannot be carried.
//!
//! Each property runs [`CASES`] cases (`PROPTEST_CASES` overrides it); a failure prints the
//! minimal value, which then gets a named regression test in `src/template/tests.rs`. Nothing is
//! written to the repository (no failure persistence).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::percent_decode_str;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Value};

use super::build;
use crate::config::{Config, Source};
use crate::template::{fill_code, EndpointId, RenderError, SendInput, Templates, Vars};

/// Cases per property: enough to meet every hostile piece in many combinations, few enough
/// for the whole set to run in a second or two.
const CASES: u32 = 256;

/// The pieces hostile values are made of: what changes a request's shape where it is not
/// encoded (separators, dots, percent signs, line breaks, NUL, braces, quotes), and text that
/// is not ASCII.
const PIECES: &[&str] = &[
    "",
    ".",
    "..",
    "/",
    "\\",
    "%",
    "%2e",
    "%2E%2e",
    "%2F",
    "%00",
    "%%",
    "\r",
    "\n",
    "\r\n",
    "\0",
    "\t",
    " ",
    "  ",
    "{{",
    "}}",
    "{{ code }}",
    "{{ v }}",
    "{{{v}}}",
    "\"",
    "'",
    "`",
    "+",
    "&",
    "=",
    "?",
    "#",
    ";",
    ":",
    "@",
    "[",
    "]",
    "<",
    ">",
    "a",
    "Z",
    "0",
    "é",
    "日本",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{feff}",
    "\u{1F600}",
];

/// Whole values that are traps on their own.
const TRAPS: &[&str] = &[
    "",
    ".",
    "..",
    "...",
    " ",
    " x",
    "x ",
    "%2e",
    "%2e%2e",
    ".%2e",
    "../x",
    "./",
    "/",
    "//",
    "?a=b",
    "#f",
    "a&b=c",
    "\r\nX-Evil: 1",
    "\0",
    "{{ v }}",
    "\"}",
    "\\\"",
    "+41 79",
];

fn value() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(PIECES).prop_map(String::from),
        1 => any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        2 => prop::sample::select(TRAPS).prop_map(String::from),
        4 => vec(piece.clone(), 0..12).prop_map(|p| p.concat()),
        2 => any::<String>(),
        // Long values, up to a few KB.
        1 => vec(piece, 300..1500).prop_map(|p| p.concat()),
    ]
}

fn check(property: impl Fn(String) -> Result<(), TestCaseError>) {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(CASES);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if let Err(e) = TestRunner::new(config).run(&value(), property) {
        panic!("{e}");
    }
}

/// Compiled templates of a challenge-verify configuration with these endpoints; the user data
/// is one field, `v`.
fn templates(endpoints: Value) -> Templates {
    let config = json!({
        "storage": {"path": "/tmp/x"},
        "api_keys": [{"name": "t", "key_sha256": "0".repeat(64)}],
        "mfa": {
            "mode": if endpoints.get("single").is_some() { "single" } else { "challenge-verify" },
            "user_data": {"required": ["v"], "phone_fields": []},
            "endpoints": endpoints,
        },
    });
    let yaml = serde_yaml::to_string(&config).unwrap();
    let parsed = Config::parse(&Source::text(yaml, Path::new("/nonexistent")), &|_| None);
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    Templates::compile(&parsed.config.unwrap()).unwrap()
}

/// The challenge endpoint is `challenge`; the verify endpoint a fixed one.
fn challenge(challenge: Value) -> Templates {
    templates(json!({
        "challenge": challenge,
        "verify": {"url": "https://p.example/verify", "method": "POST"},
    }))
}

/// The verify endpoint is `verify`; the challenge endpoint a fixed one.
fn verify(verify: Value) -> Templates {
    templates(json!({
        "challenge": {"url": "https://p.example/challenge", "method": "POST"},
        "verify": verify,
    }))
}

/// What the daemon would send to the challenge endpoint for the user data `v: value`.
fn challenge_request(t: &Templates, value: &str) -> Result<reqwest::Request, RenderError> {
    let user_data = BTreeMap::from([("v".to_string(), value.to_string())]);
    let input = SendInput {
        username: "alice",
        user_data: &user_data,
        code: None,
        captured: None,
    };
    built(
        t,
        EndpointId::Challenge,
        &t.vars_for(EndpointId::Challenge, &input)?,
    )
}

/// What the daemon would send to the verify endpoint for the user's `code`.
fn verify_request(t: &Templates, code: &str) -> Result<reqwest::Request, RenderError> {
    let user_data = BTreeMap::from([("v".to_string(), "x".to_string())]);
    let captured = BTreeMap::new();
    let input = SendInput {
        username: "alice",
        user_data: &user_data,
        code: Some(code),
        captured: Some(&captured),
    };
    built(
        t,
        EndpointId::Verify,
        &t.vars_for(EndpointId::Verify, &input)?,
    )
}

/// The rendering of `endpoint`, built as `Sender` builds it.
fn built(
    t: &Templates,
    endpoint: EndpointId,
    vars: &Vars,
) -> Result<reqwest::Request, RenderError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    let client = CLIENT.get_or_init(reqwest::Client::new);
    let out = t.render(endpoint, vars)?;
    let body = out.body.clone().map(Bytes::from);
    let request = build(client, &out, body, Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("the rendered request does not build: {e}"));
    Ok(request)
}

/// The variable a refusal names, if it refuses a value (rather than failing otherwise).
fn refused(e: &RenderError) -> Option<&str> {
    match e {
        RenderError::HeaderValue { variable, .. } | RenderError::PathSegment { variable, .. } => {
            Some(variable)
        }
        _ => None,
    }
}

/// Carried exactly (`carried` checks the request) or, when `refusable`, refused naming
/// `variable`; anything else fails the property.
fn carried_or_refused(
    sent: Result<reqwest::Request, RenderError>,
    variable: &str,
    refusable: bool,
    carried: impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    match sent {
        Ok(request) => {
            prop_assert!(!refusable, "a value that should have been refused was sent");
            carried(&request)
        }
        Err(e) => {
            prop_assert!(refusable, "refused a value it can carry: {e}");
            prop_assert_eq!(refused(&e), Some(variable), "{}", e);
            Ok(())
        }
    }
}

fn segments(request: &reqwest::Request) -> Vec<String> {
    request
        .url()
        .path_segments()
        .map(|s| {
            s.map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn query(request: &reqwest::Request) -> Vec<(String, String)> {
    request.url().query_pairs().into_owned().collect()
}

fn header_names(request: &reqwest::Request) -> Vec<String> {
    let mut names: Vec<String> = request.headers().keys().map(|k| k.to_string()).collect();
    names.sort();
    names
}

/// Whitespace around a header value, which HTTP drops (RFC 9110, 5.5).
const OWS: [char; 2] = [' ', '\t'];

/// A header's value as the receiving end reads it, without the whitespace around it.
fn received_header(request: &reqwest::Request, name: &str) -> Option<String> {
    let v = request.headers().get(name)?;
    let s = std::str::from_utf8(v.as_bytes()).ok()?;
    Some(s.trim_matches(OWS).to_string())
}

fn body(request: &reqwest::Request) -> Vec<u8> {
    request
        .body()
        .and_then(|b| b.as_bytes())
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// A whole path segment cannot be empty, `.` or `..`: URL normalisation (and servers) would
/// drop or merge it and send the request elsewhere.
fn not_a_segment(value: &str) -> bool {
    matches!(value, "" | "." | "..")
}

/// A header value can hold printable ASCII only, and not begin or end with a space (the
/// receiving end would drop it).
fn not_for_header(value: &str) -> bool {
    !value.bytes().all(|b| (0x20..=0x7e).contains(&b))
        || value.starts_with(' ')
        || value.ends_with(' ')
}

// --- user data

fn path_endpoint(placeholder: &str) -> Value {
    json!({"url": format!("https://p.example/a/{placeholder}/b/x{placeholder}.json"), "method": "GET"})
}

fn query_endpoint(placeholder: &str) -> Value {
    json!({"url": format!("https://p.example/send?to={placeholder}&k=1&t=x{placeholder}y"), "method": "GET"})
}

fn header_endpoint(placeholder: &str) -> Value {
    json!({
        "url": "https://p.example/h",
        "method": "GET",
        "headers": {"x-value": placeholder, "authorization": format!("Bearer {placeholder}")},
    })
}

fn json_endpoint(placeholder: &str) -> Value {
    json!({
        "url": "https://p.example/j",
        "method": "POST",
        "headers": {"content-type": "application/json"},
        "body": format!(r#"{{"to":"{placeholder}","n":1,"t":"Code: {placeholder}!","o":{{"v":"{placeholder}"}}}}"#),
    })
}

fn form_endpoint(placeholder: &str) -> Value {
    json!({
        "url": "https://p.example/f",
        "method": "POST",
        "headers": {"content-type": "application/x-www-form-urlencoded"},
        "body": format!("To={placeholder}&Body=hello&T=x{placeholder}"),
    })
}

fn plain_endpoint(placeholder: &str) -> Value {
    json!({
        "url": "https://p.example/p",
        "method": "POST",
        "headers": {"content-type": "text/plain"},
        "body": format!("Code {placeholder} end"),
    })
}

fn path_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        prop_assert_eq!(r.url().host_str(), Some("p.example"));
        prop_assert_eq!(
            segments(r),
            vec!["a".into(), v.to_string(), "b".into(), format!("x{v}.json")]
        );
        prop_assert_eq!(r.url().query(), None);
        prop_assert_eq!(r.url().fragment(), None);
        Ok(())
    }
}

fn query_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        prop_assert_eq!(r.url().path(), "/send");
        let expected: Vec<(String, String)> = vec![
            ("to".into(), v.to_string()),
            ("k".into(), "1".into()),
            ("t".into(), format!("x{v}y")),
        ];
        prop_assert_eq!(query(r), expected);
        prop_assert_eq!(r.url().fragment(), None);
        Ok(())
    }
}

fn header_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        prop_assert_eq!(
            header_names(r),
            vec!["authorization".to_string(), "x-value".into()]
        );
        // The value whole; only the template's own space goes when the value is empty.
        prop_assert_eq!(received_header(r, "x-value"), Some(v.to_string()));
        let bearer = format!("Bearer {v}");
        prop_assert_eq!(
            received_header(r, "authorization"),
            Some(bearer.trim_end_matches(OWS).to_string())
        );
        Ok(())
    }
}

fn json_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        let parsed: Value = serde_json::from_slice(&body(r))
            .map_err(|e| TestCaseError::fail(format!("not JSON: {e}")))?;
        prop_assert_eq!(
            parsed,
            json!({"to": v, "n": 1, "t": format!("Code: {v}!"), "o": {"v": v}})
        );
        Ok(())
    }
}

fn form_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(&body(r)).into_owned().collect();
        let expected: Vec<(String, String)> = vec![
            ("To".into(), v.to_string()),
            ("Body".into(), "hello".into()),
            ("T".into(), format!("x{v}")),
        ];
        prop_assert_eq!(pairs, expected);
        Ok(())
    }
}

fn plain_carries(v: &str) -> impl FnOnce(&reqwest::Request) -> Result<(), TestCaseError> + '_ {
    move |r| {
        prop_assert_eq!(body(r), format!("Code {v} end").into_bytes());
        Ok(())
    }
}

#[test]
fn a_user_data_value_in_a_url_path_keeps_the_paths_segments() {
    let t = challenge(path_endpoint("{{ v }}"));
    check(|v| {
        carried_or_refused(
            challenge_request(&t, &v),
            "v",
            not_a_segment(&v),
            path_carries(&v),
        )
    });
}

#[test]
fn a_user_data_value_in_a_url_query_is_one_query_value() {
    let t = challenge(query_endpoint("{{ v }}"));
    check(|v| carried_or_refused(challenge_request(&t, &v), "v", false, query_carries(&v)));
}

#[test]
fn a_user_data_value_in_a_header_arrives_whole_or_is_refused() {
    let t = challenge(header_endpoint("{{ v }}"));
    check(|v| {
        carried_or_refused(
            challenge_request(&t, &v),
            "v",
            not_for_header(&v),
            header_carries(&v),
        )
    });
}

#[test]
fn a_user_data_value_in_a_json_body_is_a_string_of_that_value() {
    let t = challenge(json_endpoint("{{ v }}"));
    check(|v| carried_or_refused(challenge_request(&t, &v), "v", false, json_carries(&v)));
}

#[test]
fn a_user_data_value_in_a_form_body_is_one_form_value() {
    let t = challenge(form_endpoint("{{ v }}"));
    check(|v| carried_or_refused(challenge_request(&t, &v), "v", false, form_carries(&v)));
}

#[test]
fn a_user_data_value_in_a_plain_body_is_taken_as_is() {
    let t = challenge(plain_endpoint("{{ v }}"));
    check(|v| carried_or_refused(challenge_request(&t, &v), "v", false, plain_carries(&v)));
}

#[test]
fn in_single_mode_a_user_data_value_is_carried_with_only_its_code_placeholder_filled() {
    let t = templates(json!({"single": json_endpoint("{{ v }}")}));
    check(|v| {
        let user_data = BTreeMap::from([("v".to_string(), v.clone())]);
        let input = SendInput {
            username: "alice",
            user_data: &user_data,
            code: Some("123456"),
            captured: None,
        };
        let vars = t
            .vars_for(EndpointId::Single, &input)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let filled = fill_code(&v, "123456");
        carried_or_refused(
            built(&t, EndpointId::Single, &vars),
            "v",
            false,
            json_carries(&filled),
        )
    });
}

// --- the user's code in a verify template

#[test]
fn a_code_in_a_verify_url_path_keeps_the_paths_segments() {
    let t = verify(path_endpoint("{{ code }}"));
    check(|c| {
        carried_or_refused(
            verify_request(&t, &c),
            "code",
            not_a_segment(&c),
            path_carries(&c),
        )
    });
}

#[test]
fn a_code_in_a_verify_url_query_is_one_query_value() {
    let t = verify(query_endpoint("{{ code }}"));
    check(|c| carried_or_refused(verify_request(&t, &c), "code", false, query_carries(&c)));
}

#[test]
fn a_code_in_a_verify_header_arrives_whole_or_is_refused() {
    let t = verify(header_endpoint("{{ code }}"));
    check(|c| {
        carried_or_refused(
            verify_request(&t, &c),
            "code",
            not_for_header(&c),
            header_carries(&c),
        )
    });
}

#[test]
fn a_code_in_a_verify_json_body_is_a_string_of_that_code() {
    let t = verify(json_endpoint("{{ code }}"));
    check(|c| carried_or_refused(verify_request(&t, &c), "code", false, json_carries(&c)));
}

#[test]
fn a_code_in_a_verify_form_body_is_one_form_value() {
    let t = verify(form_endpoint("{{ code }}"));
    check(|c| carried_or_refused(verify_request(&t, &c), "code", false, form_carries(&c)));
}

#[test]
fn a_code_in_a_verify_plain_body_is_taken_as_is() {
    let t = verify(plain_endpoint("{{ code }}"));
    check(|c| carried_or_refused(verify_request(&t, &c), "code", false, plain_carries(&c)));
}

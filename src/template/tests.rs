use std::path::Path;

use super::*;
use crate::config::{Config, ConfigErrors, Source};

/// The configuration of `yaml`, `${NAME}` resolved by `env`, or its problems.
fn load(yaml: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigErrors> {
    let parsed = Config::parse(&Source::text(yaml, Path::new("/")), env);
    match parsed.config {
        Some(c) if parsed.problems.is_empty() => Ok(c),
        _ => Err(ConfigErrors(parsed.problems)),
    }
}

fn config(endpoints: &str, user_data: &str) -> Config {
    let yaml = format!(
        r#"
storage: {{ path: /tmp/x }}
api_keys: [ {{ name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" }} ]
mfa:
  mode: single
  user_data: {user_data}
  endpoints:
{endpoints}
"#
    );
    load(&yaml, &|n| (n == "KEY").then(|| "sekrit-value".to_string()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const HOSTILE: &str = "a\"b\\c\r\nd&e=f#g?h/i{{ code }}é日本";

#[test]
fn a_url_value_is_one_percent_encoded_component() {
    let c = config(
        "    single: { url: 'https://sms.example/send?to={{ phone }}&text=hi', method: GET }",
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let r = t
        .render(EndpointId::Single, &vars(&[("phone", HOSTILE)]))
        .unwrap();
    let url = reqwest::Url::parse(&r.url).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs,
        vec![
            ("to".to_string(), HOSTILE.to_string()),
            ("text".to_string(), "hi".to_string())
        ]
    );
    assert_eq!(url.fragment(), None);
    assert_eq!(url.path(), "/send");
}

#[test]
fn a_json_body_value_stays_inside_its_string() {
    let c = config(
        r#"    single: { url: 'https://x/', method: POST, body: '{"to":"{{ phone }}","n":1}' }"#,
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let r = t
        .render(EndpointId::Single, &vars(&[("phone", HOSTILE)]))
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(v, serde_json::json!({"to": HOSTILE, "n": 1}));
}

#[test]
fn a_form_body_value_is_form_encoded() {
    let c = config(
        "    single: { url: 'https://x/', method: POST, body: 'To={{ phone }}&Body=hello', headers: { content-type: application/x-www-form-urlencoded } }",
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let r = t
        .render(EndpointId::Single, &vars(&[("phone", HOSTILE)]))
        .unwrap();
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(r.body.as_deref().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        pairs,
        vec![
            ("To".to_string(), HOSTILE.to_string()),
            ("Body".to_string(), "hello".to_string())
        ]
    );
}

#[test]
fn a_header_value_with_a_line_break_is_refused() {
    let c = config(
        "    single: { url: 'https://x/', method: GET, headers: { x-to: '{{ phone }}' } }",
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let err = t
        .render(EndpointId::Single, &vars(&[("phone", "1\r\nX-Evil: 1")]))
        .unwrap_err();
    assert!(matches!(err, RenderError::HeaderValue { ref variable, .. } if variable == "phone"));
    assert!(t
        .render(EndpointId::Single, &vars(&[("phone", "+41 79")]))
        .is_ok());
}

#[test]
fn a_value_is_never_rendered_twice() {
    let c = config(
        r#"    single: { url: 'https://x/', method: POST, body: '{"m":"{{ message }}","p":"{{ phone }}"}' }"#,
        "{ required: [phone, message], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let r = t
        .render(
            EndpointId::Single,
            &vars(&[("message", "{{ phone }}"), ("phone", "1"), ("code", "9")]),
        )
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(v["m"], "{{ phone }}");
}

#[test]
fn only_the_code_placeholder_is_filled_inside_user_data() {
    assert_eq!(
        fill_code("Your code is {{ code }} {{phone}} {{code}}", "123456"),
        "Your code is 123456 {{phone}} 123456"
    );
    assert_eq!(fill_code("{{ code }}", "$1"), "$1");
}

#[test]
fn unknown_variables_helpers_and_raw_output_are_load_errors() {
    for (tpl, expect) in [
        ("https://x/{{ nope }}", "never provided"),
        ("https://x/{{{ phone }}}", "unescaped"),
        ("https://x/{{#if phone}}a{{/if}}", "only plain placeholders"),
        ("https://x/{{ lookup phone 1 }}", "only plain placeholders"),
        ("https://x/{{ phone", "does not parse"),
    ] {
        let yaml = format!(
            r#"
storage: {{ path: /tmp/x }}
api_keys: [ {{ name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" }} ]
mfa:
  mode: single
  endpoints:
    single: {{ url: '{tpl}', method: GET }}
"#
        );
        let c = load(&yaml, &|_| None).unwrap();
        let problems = Templates::compile(&c).unwrap_err();
        assert_eq!(problems[0].path, "mfa.endpoints.single.url");
        assert!(
            problems[0].message.contains(expect),
            "{tpl}: {}",
            problems[0].message
        );
    }
}

#[test]
fn a_json_placeholder_outside_a_string_is_a_load_error() {
    let c = config(
        r#"    single: { url: 'https://x/', method: POST, body: '{"to": {{ phone }} }' }"#,
        "{ required: [phone], phone_fields: [] }",
    );
    let problems = Templates::compile(&c).unwrap_err();
    assert_eq!(problems[0].path, "mfa.endpoints.single.body");
}

#[test]
fn described_requests_mask_env_secrets_and_credential_headers() {
    let c = config(
        "    single: { url: 'https://x/?key=${KEY}&to={{ phone }}', method: GET, headers: { authorization: 'Bearer abc', x-app: '${KEY}' } }",
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let r = t
        .render(EndpointId::Single, &vars(&[("phone", "+41")]))
        .unwrap();
    let shown = r.describe(&c.secrets).to_string();
    assert!(!shown.contains("sekrit-value"), "{shown}");
    assert!(!shown.contains("Bearer abc"), "{shown}");
    assert!(shown.contains("key=***"), "{shown}");
}

#[test]
fn the_seeds_examples_compile_and_render_as_written() {
    let c = config(
        "    single:\n      url: 'https://api.smsmode.com/http/1.6/sendSMS.do?accessToken=your-api-key&message={{ message }}&emetteur=Pryv%20Lab&numero={{ number }}'\n      method: 'GET'",
        "{ required: [number, message], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    let message = fill_code("Your Pryv Lab MFA code is: {{ code }}", "1234");
    let r = t
        .render(
            EndpointId::Single,
            &vars(&[("number", "41791231212"), ("message", &message)]),
        )
        .unwrap();
    assert_eq!(r.url, "https://api.smsmode.com/http/1.6/sendSMS.do?accessToken=your-api-key&message=Your%20Pryv%20Lab%20MFA%20code%20is%3A%201234&emetteur=Pryv%20Lab&numero=41791231212");
}

// Regressions found by the encoding properties (src/provider/request/tests.rs), each with its
// minimal value.

fn path_templates() -> Templates {
    let c = config(
        "    single: { url: 'https://p.example/users/{{ id }}/codes?x=1', method: GET }",
        "{ required: [id], phone_fields: [] }",
    );
    Templates::compile(&c).unwrap()
}

#[test]
fn a_dot_dot_value_as_a_path_segment_is_refused_not_normalised_into_another_path() {
    // Sent, `https://p.example/users/../codes` was `https://p.example/codes`.
    let t = path_templates();
    for value in ["..", "."] {
        let err = t
            .render(EndpointId::Single, &vars(&[("id", value)]))
            .unwrap_err();
        assert!(
            matches!(err, RenderError::PathSegment { ref variable, .. } if variable == "id"),
            "{value:?}: {err}"
        );
    }
}

#[test]
fn an_empty_value_as_a_path_segment_is_refused() {
    // Sent, `/users//codes` is merged into `/users/codes` by many servers.
    let err = path_templates()
        .render(EndpointId::Single, &vars(&[("id", "")]))
        .unwrap_err();
    assert!(matches!(err, RenderError::PathSegment { ref variable, .. } if variable == "id"));
}

#[test]
fn dots_that_are_only_part_of_a_path_segment_or_encoded_are_carried() {
    let t = path_templates();
    for value in ["...", "..x", "%2e%2e", "../x", ".%2E"] {
        let r = t
            .render(EndpointId::Single, &vars(&[("id", value)]))
            .unwrap();
        let url = reqwest::Url::parse(&r.url).unwrap();
        let segments: Vec<String> = url
            .path_segments()
            .unwrap()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .unwrap()
                    .into_owned()
            })
            .collect();
        assert_eq!(segments, ["users", value, "codes"], "{value:?}");
    }
}

#[test]
fn a_preset_var_that_empties_a_path_segment_is_a_configuration_error_not_the_users() {
    let c = load(
        r#"
storage: { path: /tmp/x }
api_keys: [ { name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  user_data: { required: [phone], phone_fields: [phone] }
  endpoints: { preset: twilio-sms, vars: { account_sid: '..', auth_token: t, from: '+41790000000' } }
"#,
        &|_| None,
    )
    .unwrap();
    let t = Templates::compile(&c).unwrap();
    let input = SendInput {
        username: "alice",
        user_data: &vars(&[("phone", "+41791234567")]),
        code: Some("123456"),
        captured: None,
    };
    let v = t.vars_for(EndpointId::Single, &input).unwrap();
    let err = t.render(EndpointId::Single, &v).unwrap_err();
    assert!(
        matches!(err, RenderError::Invalid { part: "url", .. }),
        "{err}"
    );
}

#[test]
fn a_header_value_beginning_or_ending_with_a_space_is_refused() {
    // Sent, `x-to:  1` arrives as `1`: HTTP drops the spaces around a header value.
    let c = config(
        "    single: { url: 'https://x/', method: GET, headers: { x-to: 'to {{ phone }}' } }",
        "{ required: [phone], phone_fields: [] }",
    );
    let t = Templates::compile(&c).unwrap();
    for value in [" ", " 1", "1 "] {
        let err = t
            .render(EndpointId::Single, &vars(&[("phone", value)]))
            .unwrap_err();
        assert!(
            matches!(err, RenderError::HeaderValue { ref variable, .. } if variable == "phone"),
            "{value:?}"
        );
    }
    let r = t
        .render(EndpointId::Single, &vars(&[("phone", "1 2")]))
        .unwrap();
    assert_eq!(r.headers, [("x-to".to_string(), "to 1 2".to_string())]);
}

#[test]
fn a_preset_var_in_a_header_may_end_with_a_space_as_before() {
    let c = load(
        r#"
storage: { path: /tmp/x }
api_keys: [ { name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  user_data: { required: [phone], phone_fields: [phone] }
  endpoints: { preset: messagebird-sms, vars: { access_key: 'key ', originator: MFA } }
"#,
        &|_| None,
    )
    .unwrap();
    let t = Templates::compile(&c).unwrap();
    let input = SendInput {
        username: "alice",
        user_data: &vars(&[("phone", "+41791234567")]),
        code: Some("123456"),
        captured: None,
    };
    let v = t.vars_for(EndpointId::Single, &input).unwrap();
    let r = t.render(EndpointId::Single, &v).unwrap();
    assert!(r
        .headers
        .contains(&("authorization".to_string(), "AccessKey key ".to_string())));
}

#[test]
fn a_captured_value_that_empties_a_path_segment_is_the_providers_fault_not_the_users() {
    let c = load(
        r#"
storage: { path: /tmp/x }
api_keys: [ { name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  mode: challenge-verify
  user_data: { required: [phone], phone_fields: [phone] }
  endpoints:
    challenge: { url: 'https://p.example/start', method: POST, capture: { request_id: '$.id' } }
    verify: { url: 'https://p.example/check/{{ request_id }}?code={{ code }}', method: GET, headers: { x-id: '{{ request_id }}' } }
"#,
        &|_| None,
    )
    .unwrap();
    let t = Templates::compile(&c).unwrap();
    let render = |id: &str| {
        t.render(
            EndpointId::Verify,
            &vars(&[("request_id", id), ("code", "1")]),
        )
    };
    let err = render("..").unwrap_err();
    assert!(
        matches!(err, RenderError::Invalid { part: "url", .. }),
        "{err}"
    );
    // Nor is a space around it the user's: it goes as the provider gave it.
    assert!(render(" id ").is_ok());
}

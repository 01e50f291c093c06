//! The endpoint fields of delivery through the whole loading path: `{{ send_id }}` and
//! `{{ status_callback }}` (from `server.public_url` and the provider's name), `omit_empty`,
//! `message_id`.

use std::collections::BTreeMap;
use std::path::Path;

use super::Snapshot;
use crate::config::{Endpoints, Source};
use crate::template::*;

/// A snapshot with this `server` section (YAML, indented under `server:`) and `mfa` section.
fn load(server: &str, mfa: &str) -> Result<Snapshot, Vec<String>> {
    let yaml = format!(
        "server:\n{server}storage: {{ path: /tmp/x }}\napi_keys: [ {{ name: t, key_sha256: \"{}\" }} ]\nmfa:\n{mfa}",
        "0".repeat(64)
    );
    Snapshot::load(&Source::text(yaml, Path::new("/tmp")), &|_| None)
        .map_err(|e| e.0.iter().map(|p| p.to_string()).collect())
}

fn ok(server: &str, mfa: &str) -> Snapshot {
    load(server, mfa).unwrap_or_else(|e| panic!("{}", e.join("\n")))
}

const FORM: &str = r#"  mode: single
  endpoints:
    single:
      url: 'https://sms.example.org/send'
      method: POST
      headers: { content-type: application/x-www-form-urlencoded, Idempotency-Key: '{{ send_id }}' }
      body: 'To={{ phone }}&Body={{ message }}&StatusCallback={{ status_callback }}'
      omit_empty: [StatusCallback]
      message_id: 'messages[0].id'
"#;

fn render_single(s: &Snapshot, send_id: &str) -> OutboundRequest {
    let user_data: BTreeMap<String, String> = [("phone".to_string(), "+41791234567".to_string())]
        .into_iter()
        .collect();
    let mut vars = s
        .templates
        .vars_for(
            EndpointId::Single,
            &SendInput {
                username: "alice",
                user_data: &user_data,
                code: Some("123456"),
                captured: None,
            },
        )
        .unwrap();
    with_send_id(&mut vars, send_id);
    s.templates.render(EndpointId::Single, &vars).unwrap()
}

#[test]
fn the_status_callback_is_the_public_url_with_the_provider_s_name() {
    let s = ok("  public_url: 'https://mfa.example.org/'\n", FORM);
    let request = render_single(&s, "abc");
    let body = request.body.unwrap();
    assert!(
        body.ends_with("StatusCallback=https%3A%2F%2Fmfa.example.org%2Freceipts%2Fprovider-1"),
        "{body}"
    );
    assert!(request
        .headers
        .contains(&("Idempotency-Key".to_string(), "abc".to_string())));
}

#[test]
fn without_a_public_url_an_omit_empty_field_is_left_out() {
    let s = ok("  listen: 127.0.0.1:7000\n", FORM);
    let body = render_single(&s, "abc").body.unwrap();
    assert!(!body.contains("StatusCallback"), "{body}");
    assert!(body.starts_with("To=%2B41791234567&Body="), "{body}");
}

#[test]
fn a_preset_s_provider_is_named_by_the_preset_in_its_status_callback() {
    let mfa = r#"  user_data: { required: [phone], allowed: [phone] }
  endpoints:
    preset: generic-json-webhook
    base_url: 'https://gateway.example.org'
"#;
    let s = ok("  public_url: https://mfa.example.org\n", mfa);
    assert_eq!(s.config.mfa.provider, "generic-json-webhook");
    let vars = s
        .templates
        .sample_vars(&serde_json::Map::new(), EndpointId::Single)
        .unwrap();
    assert_eq!(
        vars["status_callback"],
        "https://mfa.example.org/receipts/generic-json-webhook"
    );
}

#[test]
fn a_public_url_must_be_https_without_a_query() {
    for (bad, words) in [
        ("http://mfa.example.org", "https"),
        ("https://mfa.example.org/?x=1", "query"),
        ("not a url", "not a URL"),
    ] {
        let problems = load(&format!("  public_url: '{bad}'\n"), FORM)
            .err()
            .unwrap();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("server.public_url:") && p.contains(words)),
            "{bad}: {problems:?}"
        );
    }
}

#[test]
fn message_id_and_omit_empty_are_read_and_checked() {
    let s = ok("  listen: 127.0.0.1:7000\n", FORM);
    let Endpoints::Single(single) = &s.config.mfa.endpoints else {
        panic!("single mode");
    };
    let path = single.message_id.as_ref().unwrap();
    assert_eq!(
        path.read(br#"{"messages":[{"id":"m-1"}]}"#).as_deref(),
        Some("m-1")
    );
    assert_eq!(path.read(br#"{"messages":[]}"#), None);
    assert_eq!(path.read(b"not json"), None);
    let no_body = FORM.replace(
        "      body: 'To={{ phone }}&Body={{ message }}&StatusCallback={{ status_callback }}'\n",
        "",
    );
    let problems = load("  listen: 127.0.0.1:7000\n", &no_body).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.endpoints.single.omit_empty:")),
        "{problems:?}"
    );
    let bad_path = FORM.replace("'messages[0].id'", "'messages[[['");
    let problems = load("  listen: 127.0.0.1:7000\n", &bad_path).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.endpoints.single.message_id:")),
        "{problems:?}"
    );
}

#[test]
fn send_id_and_status_callback_are_reserved_for_user_data() {
    let mfa = FORM.replace(
        "  mode: single\n",
        "  mode: single\n  user_data: { allowed: [phone, send_id] }\n",
    );
    let problems = load("  listen: 127.0.0.1:7000\n", &mfa).err().unwrap();
    assert!(
        problems.iter().any(|p| p.contains("send_id")),
        "{problems:?}"
    );
}

#[test]
fn a_preview_shows_a_sample_send_id() {
    let s = ok("  public_url: https://mfa.example.org\n", FORM);
    let vars = s
        .templates
        .sample_vars(&serde_json::Map::new(), EndpointId::Single)
        .unwrap();
    assert_eq!(vars["send_id"], SAMPLE_SEND_ID);
    assert_eq!(
        vars["status_callback"],
        "https://mfa.example.org/receipts/provider-1"
    );
}

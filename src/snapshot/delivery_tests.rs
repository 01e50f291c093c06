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

const TWO_SMS: &str = r#"  mode: single
  endpoints:
    - name: first
      single: { url: 'https://a.example.org/sms', method: POST, body: 'to={{ phone }}&text={{ message }}' }
    - preset: twilio-sms
      priority: 5
      weight: 3
      vars: { account_sid: AC0123, auth_token: tok, from: '+15005550006' }
"#;

#[test]
fn a_list_of_providers_is_named_ordered_and_compiled_each_on_its_own() {
    let s = ok("  public_url: https://mfa.example.org\n", TWO_SMS);
    let names: Vec<&str> = s
        .providers
        .iter()
        .map(|p| p.config.provider.as_str())
        .collect();
    assert_eq!(names, ["first", "twilio-sms"]);
    assert_eq!(
        s.config.mfa.provider, "first",
        "the first is the channel's own"
    );
    assert_eq!((s.providers[0].priority, s.providers[0].weight), (1, 1));
    assert_eq!((s.providers[1].priority, s.providers[1].weight), (5, 3));
    let vars = s.providers[1]
        .templates
        .sample_vars(&serde_json::Map::new(), EndpointId::Single)
        .unwrap();
    assert_eq!(
        vars["status_callback"],
        "https://mfa.example.org/receipts/twilio-sms"
    );
}

#[test]
fn the_providers_of_a_channel_work_in_one_mode() {
    let mixed = r#"  endpoints:
    - preset: twilio-verify
      vars: { account_sid: AC0123, auth_token: tok, service_sid: VA0123 }
    - preset: twilio-sms
      vars: { account_sid: AC0123, auth_token: tok, from: '+15005550006' }
"#;
    let problems = load("  listen: 127.0.0.1:7000\n", mixed).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.endpoints[1]:") && p.contains("one mode")),
        "{problems:?}"
    );
}

#[test]
fn provider_names_are_checked_and_unique() {
    let same = TWO_SMS.replace(
        "    - preset: twilio-sms\n",
        "    - preset: twilio-sms\n      name: first\n",
    );
    let problems = load("  listen: 127.0.0.1:7000\n", &same).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.endpoints[1].name:") && p.contains("first")),
        "{problems:?}"
    );
    let bad = TWO_SMS.replace("name: first", "name: First_1");
    let problems = load("  listen: 127.0.0.1:7000\n", &bad).err().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.endpoints[0].name:")),
        "{problems:?}"
    );
    let empty = "  mode: single\n  endpoints: []\n";
    let problems = load("  listen: 127.0.0.1:7000\n", empty).err().unwrap();
    assert!(
        problems.iter().any(|p| p.starts_with("mfa.endpoints:")),
        "{problems:?}"
    );
}

#[test]
fn outbound_delivery_settings_have_defaults_and_bounds() {
    let s = ok("  listen: 127.0.0.1:7000\n", FORM);
    let o = &s.config.outbound;
    assert_eq!(o.send_deadline, std::time::Duration::from_millis(15_000));
    assert_eq!(o.retries, 0);
    assert_eq!((o.breaker_failures, o.breaker_cooldown_seconds), (5, 30));
    let yaml = format!(
        "storage: {{ path: /tmp/x }}\napi_keys: [ {{ name: t, key_sha256: \"{}\" }} ]\noutbound: {{ retries: 11, backoff_ms: 500, backoff_max_ms: 100 }}\nmfa:\n{FORM}",
        "0".repeat(64)
    );
    let problems: Vec<String> = Snapshot::load(&Source::text(yaml, Path::new("/tmp")), &|_| None)
        .err()
        .unwrap()
        .0
        .iter()
        .map(|p| p.to_string())
        .collect();
    for path in ["outbound.retries:", "outbound.backoff_max_ms:"] {
        assert!(
            problems.iter().any(|p| p.starts_with(path)),
            "{path} {problems:?}"
        );
    }
}

#[test]
fn a_fallback_needs_two_configured_channels_in_single_mode() {
    let base = FORM.to_string();
    let unconfigured = format!("{base}  fallback: {{ sms: email }}\n");
    let problems = load("  listen: 127.0.0.1:7000\n", &unconfigured)
        .err()
        .unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.fallback.sms:") && p.contains("not a configured channel")),
        "{problems:?}"
    );
    let verify_email = format!(
        "{base}  channels:\n    email:\n      mode: challenge-verify\n      challenge: {{ url: 'https://e.example.org/c', method: POST }}\n      verify: {{ url: 'https://e.example.org/v', method: POST }}\n  fallback: {{ sms: email }}\n"
    );
    let problems = load("  listen: 127.0.0.1:7000\n", &verify_email)
        .err()
        .unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("mfa.fallback.sms:") && p.contains("single mode")),
        "{problems:?}"
    );
    let itself = format!("{base}  fallback: {{ sms: sms }}\n");
    let problems = load("  listen: 127.0.0.1:7000\n", &itself).err().unwrap();
    assert!(
        problems.iter().any(|p| p.starts_with("mfa.fallback.sms:")),
        "{problems:?}"
    );
}

#[test]
fn receipts_are_checked_against_server_public_url_unless_receipts_say_otherwise() {
    let s = ok("  public_url: https://mfa.example.org\n", FORM);
    assert_eq!(s.config.receipts.public_url, "https://mfa.example.org");
    let s = ok("  listen: 127.0.0.1:7000\n", FORM);
    assert_eq!(s.config.receipts.public_url, "");
}

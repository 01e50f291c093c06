//! Presets, message texts and the variables of a send, through the whole loading path: a
//! `platform.yml` text, a `templates/` folder, [`Snapshot`].

use std::collections::BTreeMap;
use std::path::Path;

use super::Snapshot;
use crate::config::Source;
use crate::template::*;

const HEAD: &str = r#"
storage: { path: /tmp/x }
api_keys: [ { name: t, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
"#;

/// A snapshot of `mfa` (YAML, indented under `mfa:`) with these files in `templates/`.
fn load(mfa: &str, files: &[(&str, &str)]) -> Result<Snapshot, Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join("templates").join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let yaml = format!("{HEAD}mfa:\n{mfa}");
    Snapshot::load(&Source::text(yaml, dir.path()), &|_| None)
        .map_err(|e| e.0.iter().map(|p| p.to_string()).collect())
}

fn ok(mfa: &str) -> Snapshot {
    load(mfa, &[]).unwrap_or_else(|e| panic!("{}", e.join("\n")))
}

fn problems(mfa: &str, files: &[(&str, &str)]) -> Vec<String> {
    match load(mfa, files) {
        Ok(_) => panic!("loaded, but problems were expected"),
        Err(p) => p,
    }
}

fn has(problems: &[String], path: &str, words: &str) {
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&format!("{path}:")) && p.contains(words)),
        "no problem at {path} saying '{words}' in:\n{}",
        problems.join("\n")
    );
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn send_vars(s: &Snapshot, endpoint: EndpointId, user: &[(&str, &str)]) -> Vars {
    let user_data = data(user);
    s.templates
        .vars_for(
            endpoint,
            &SendInput {
                username: "alice",
                user_data: &user_data,
                code: matches!(endpoint, EndpointId::Single | EndpointId::Verify)
                    .then_some("123456"),
                captured: None,
            },
        )
        .unwrap()
}

const TWILIO: &str = r#"  user_data: { required: [phone], allowed: [phone, language, message] }
  endpoints:
    preset: twilio-sms
    vars: { account_sid: AC0123, auth_token: tok, from: '+15005550006' }
"#;

#[test]
fn a_preset_var_left_out_or_not_declared_is_named() {
    let p = problems(
        r#"  endpoints: { preset: twilio-sms, vars: { account_sid: AC1, colour: red } }
"#,
        &[],
    );
    has(&p, "mfa.endpoints.vars.auth_token", "missing");
    has(
        &p,
        "mfa.endpoints.vars.colour",
        "unknown var for preset twilio-sms",
    );
    let p = problems("  endpoints: { preset: no-such-provider }\n", &[]);
    has(
        &p,
        "mfa.endpoints.preset",
        "unknown preset 'no-such-provider'",
    );
    assert!(
        p[0].contains("twilio-sms"),
        "the known presets are listed: {p:?}"
    );
}

#[test]
fn a_preset_decides_the_mode_and_a_contrary_mode_is_refused() {
    assert_eq!(ok(TWILIO).config.mfa.mode, crate::config::Mode::Single);
    let p = problems(&format!("  mode: challenge-verify\n{TWILIO}"), &[]);
    has(&p, "mfa.mode", "preset twilio-sms works in single mode");
}

#[test]
fn base_url_replaces_the_origin_and_keeps_its_path_as_a_prefix() {
    let s = ok(&format!(
        "{TWILIO}    base_url: http://127.0.0.1:4010/proxy/\n"
    ));
    let v = send_vars(&s, EndpointId::Single, &[("phone", "+41791231212")]);
    let r = s.templates.render(EndpointId::Single, &v).unwrap();
    assert_eq!(
        r.url,
        "http://127.0.0.1:4010/proxy/2010-04-01/Accounts/AC0123/Messages.json"
    );
    let p = problems(&format!("{TWILIO}    base_url: 'ftp://x'\n"), &[]);
    has(&p, "mfa.endpoints.base_url", "scheme 'ftp'");
}

#[test]
fn basic_auth_is_sent_as_one_authorization_header() {
    let s = ok(TWILIO);
    let v = send_vars(&s, EndpointId::Single, &[("phone", "+41791231212")]);
    let r = s.templates.render(EndpointId::Single, &v).unwrap();
    let auth: Vec<&String> = r
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v)
        .collect();
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode("AC0123:tok");
    assert_eq!(auth, vec![&format!("Basic {expected}")]);

    let both = problems(
        r#"  mode: single
  endpoints:
    single:
      url: https://x.example/
      method: POST
      basic_auth: { username: u, password: p }
      headers: { Authorization: 'Bearer t' }
"#,
        &[],
    );
    has(&both, "mfa.endpoints.single.basic_auth", "not both");
}

#[test]
fn a_colon_in_a_basic_auth_username_is_refused_at_render() {
    let s = ok(r#"  mode: single
  endpoints:
    single: { url: 'https://x.example/', method: POST, basic_auth: { username: '{{ phone }}', password: p } }
"#);
    let v = send_vars(&s, EndpointId::Single, &[("phone", "a:b")]);
    let e = s.templates.render(EndpointId::Single, &v).unwrap_err();
    assert!(e.to_string().contains("':'"), "{e}");
}

#[test]
fn the_message_follows_the_language_tag_then_its_base_then_the_default() {
    let s = ok(TWILIO);
    let text = |language: Option<&str>| {
        let mut user = vec![("phone", "+41791231212")];
        if let Some(l) = language {
            user.push(("language", l));
        }
        let v = send_vars(&s, EndpointId::Single, &user);
        (v["locale"].clone(), v["message"].clone())
    };
    assert!(text(Some("fr")).1.starts_with("Votre code"));
    assert_eq!(text(Some("FR")).0, "fr");
    assert_eq!(text(Some("de-CH")).0, "de");
    assert_eq!(text(Some("de_AT")).0, "de");
    assert_eq!(text(Some("pt-BR")).0, "en");
    assert_eq!(text(None).0, "en");
    let (_, en) = text(None);
    assert!(
        en.contains("123456") && en.contains("mfa-bridge") && en.contains("5 minutes"),
        "{en}"
    );
    // A text for the exact tag wins over its base language.
    let s = load(TWILIO, &[("messages/sms.de-CH.hbs", "Grüezi {{ code }}")]).unwrap();
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("phone", "+41791231212"), ("language", "de-ch")],
    );
    assert_eq!(
        (v["locale"].as_str(), v["message"].as_str()),
        ("de-CH", "Grüezi 123456")
    );
}

#[test]
fn the_default_language_and_app_name_come_from_mfa_messages() {
    let s = ok(&format!(
        "  messages: {{ default_language: it, app_name: Pryv Lab }}\n{TWILIO}"
    ));
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("phone", "+41791231212"), ("language", "pt")],
    );
    assert_eq!(v["locale"], "it");
    assert!(v["message"].contains("Pryv Lab") && v["message"].starts_with("Il tuo"));
    let p = problems(
        &format!("  messages: {{ default_language: pt }}\n{TWILIO}"),
        &[],
    );
    has(
        &p,
        "mfa.messages.default_language",
        "no sms message in 'pt'",
    );
}

#[test]
fn a_user_data_message_wins_with_its_code_filled_as_pryv_does() {
    let s = ok(TWILIO);
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[
            ("phone", "+41791231212"),
            ("message", "Lab code: {{ code }}"),
        ],
    );
    assert_eq!(v["message"], "Lab code: 123456");
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("phone", "+41791231212"), ("message", " ")],
    );
    assert!(v["message"].starts_with("Your mfa-bridge"));
}

#[test]
fn digits_message_type_and_preset_vars_are_variables() {
    let s = ok(TWILIO);
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("phone", "+41791231212"), ("language", "es")],
    );
    assert_eq!(v["phone_digits"], "41791231212");
    assert_eq!(v["message_type"], "unicode");
    assert_eq!(v["from"], "+15005550006");
    assert_eq!(v["username"], "alice");
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("phone", "+41791231212"), ("language", "fr")],
    );
    assert_eq!(v["message_type"], "text");
}

#[test]
fn a_preset_var_named_like_a_user_data_field_is_refused() {
    let p = problems(
        r#"  user_data: { required: [phone], allowed: [phone, from] }
  endpoints: { preset: twilio-sms, vars: { account_sid: a, auth_token: b, from: c } }
"#,
        &[],
    );
    has(&p, "mfa.endpoints.vars.from", "user data field 'from'");
}

const EMAIL: &str = r#"  user_data: { required: [email], allowed: [email, language] }
  endpoints:
    channel: email
    single:
      url: https://mail.example/send
      method: POST
      headers: { content-type: application/json }
      body: '{"to":"{{ email }}","subject":"{{ subject }}","text":"{{ message }}","html":"{{ html }}"}'
"#;

#[test]
fn an_email_has_a_subject_a_text_and_an_html_body() {
    let s = ok(&format!("  mode: single\n{EMAIL}"));
    let v = send_vars(&s, EndpointId::Single, &[("email", "a@example.com")]);
    assert_eq!(v["subject"], "Your mfa-bridge verification code");
    assert!(v["message"].contains("    123456\n"), "{}", v["message"]);
    assert!(v["html"].starts_with("<!doctype html>") && v["html"].contains("123456"));
    // Without an HTML file, the text body, escaped.
    let v = send_vars(
        &s,
        EndpointId::Single,
        &[("email", "a@example.com"), ("language", "fr")],
    );
    assert!(v["subject"].starts_with("Votre code"));
    assert!(
        v["html"].starts_with("<pre") && v["html"].contains("n&#x27;avez"),
        "{}",
        v["html"]
    );
    let r = s.templates.render(EndpointId::Single, &v).unwrap();
    let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["subject"], v["subject"].as_str());
}

#[test]
fn subject_and_html_exist_only_on_the_email_channel() {
    let p = problems(
        r#"  mode: single
  endpoints:
    single: { url: 'https://x.example/?s={{ subject }}', method: GET }
"#,
        &[],
    );
    has(&p, "mfa.endpoints.single.url", "{{ subject }}");
}

#[test]
fn message_files_are_checked_and_named_in_problems() {
    let mfa = format!("  mode: single\n{EMAIL}");
    let p = problems(
        &mfa,
        &[(
            "messages/email.en.hbs",
            "no subject line\n\ntext {{ code }}",
        )],
    );
    has(&p, "templates/messages/email.en.hbs", "Subject:");
    let p = problems(&mfa, &[("messages/sms.fr.hbs", "{{ phone }}")]);
    has(&p, "templates/messages/sms.fr.hbs", "never provided");
    let p = problems(&mfa, &[("messages/fax.en.hbs", "x")]);
    has(&p, "templates/messages/fax.en.hbs", "unknown channel 'fax'");
    let p = problems(&mfa, &[("messages/sms.english.hbs", "x")]);
    has(
        &p,
        "templates/messages/sms.english.hbs",
        "not a language tag",
    );
}

#[test]
fn a_local_file_replaces_the_builtin_one() {
    let s = load(
        TWILIO,
        &[(
            "messages/sms.en.hbs",
            "Code {{ code }} for {{ app_name }}\n",
        )],
    )
    .unwrap();
    let v = send_vars(&s, EndpointId::Single, &[("phone", "+41791231212")]);
    assert_eq!(v["message"], "Code 123456 for mfa-bridge");
}

#[test]
fn an_sms_text_longer_than_one_segment_is_a_warning_not_an_error() {
    let long = format!("{} {{{{ code }}}}", "x".repeat(170));
    let s = load(TWILIO, &[("messages/sms.en.hbs", long.as_str())]).unwrap();
    let w = s.templates.warnings();
    assert!(
        w.iter()
            .any(|w| w.contains("sms.en.hbs") && w.contains("2 segments")),
        "{w:?}"
    );
    assert!(
        ok(TWILIO).templates.warnings().is_empty(),
        "the shipped texts fit one segment"
    );
}

const CAPTURE: &str = r#"  mode: challenge-verify
  endpoints:
    challenge:
      url: https://v.example/start
      method: POST
      body: '{"number":"{{ phone_digits }}"}'
      capture: { request_id: request_id }
    verify:
      url: https://v.example/check
      method: POST
      body: '{"request_id":"{{ request_id }}","code":"{{ code }}"}'
"#;

#[test]
fn captured_values_reach_the_verify_endpoint_only() {
    let s = ok(CAPTURE);
    let user_data = data(&[("phone", "+41791231212")]);
    let captured = data(&[("request_id", "abc-123")]);
    let v = s
        .templates
        .vars_for(
            EndpointId::Verify,
            &SendInput {
                username: "alice",
                user_data: &user_data,
                code: Some("9999"),
                captured: Some(&captured),
            },
        )
        .unwrap();
    let r = s.templates.render(EndpointId::Verify, &v).unwrap();
    assert_eq!(
        r.body.as_deref(),
        Some(r#"{"request_id":"abc-123","code":"9999"}"#)
    );
    let p = problems(
        &CAPTURE.replace(
            r#"{"number":"{{ phone_digits }}"}"#,
            r#"{"n":"{{ request_id }}"}"#,
        ),
        &[],
    );
    has(&p, "mfa.endpoints.challenge.body", "{{ request_id }}");
    let p = problems(&CAPTURE.replace("request_id: request_id", "code: x"), &[]);
    has(&p, "mfa.endpoints.challenge.capture.code", "reserved");
}

#[test]
fn every_shipped_preset_file_is_a_valid_preset() {
    // Each preset, with a sample value for every var and the user data it may name.
    for name in crate::config::Library::builtin().preset_names() {
        let file = crate::config::Library::builtin();
        let text = &file.preset(&name).unwrap().text;
        let root: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        let vars: Vec<String> = root["vars"]
            .as_mapping()
            .map(|m| m.keys().map(|k| k.as_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        let vars_yaml: Vec<String> = vars.iter().map(|v| format!("{v}: 'sample-{v}'")).collect();
        let mfa = format!(
            "  user_data: {{ required: [], allowed: [phone, email, language] }}\n  endpoints: {{ preset: {name}, base_url: 'http://127.0.0.1:9', vars: {{ {} }} }}\n",
            vars_yaml.join(", ")
        );
        let s = load(&mfa, &[]).unwrap_or_else(|p| panic!("preset {name}:\n{}", p.join("\n")));
        let id = match s.config.mfa.mode {
            crate::config::Mode::Single => EndpointId::Single,
            crate::config::Mode::ChallengeVerify => EndpointId::Challenge,
        };
        let v = send_vars(
            &s,
            id,
            &[("phone", "+41791231212"), ("email", "a@example.com")],
        );
        s.templates
            .render(id, &v)
            .unwrap_or_else(|e| panic!("preset {name} does not render: {e}"));
        assert!(Path::new(&format!("templates/providers/{name}.yml")).exists());
    }
}

#[test]
fn a_preset_without_a_host_of_its_own_needs_base_url() {
    let p = problems("  endpoints: { preset: generic-json-webhook }\n", &[]);
    has(&p, "mfa.endpoints.base_url", "give the URL of your gateway");
    ok("  endpoints: { preset: generic-json-webhook, base_url: 'https://gw.example.com/v1' }\n");
}

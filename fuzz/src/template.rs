//! Template compile and render: a configuration whose single endpoint's url, header, body
//! and content type come from the input, compiled by `Templates::compile` (what
//! `Snapshot::load` runs once the file is read), then rendered with user data from the input
//! through `Templates::vars_for` and `Templates::render`, as a send does.
//!
//! The configuration around the endpoint is read once, from the text of [`platform_yml`]; each
//! input replaces the endpoint (the `config` target tries the reading of the text itself).
//!
//! Input, NUL-separated: url (after `https://provider.invalid/`), a header value, the body,
//! the content type (one of four by its first byte), the user's phone, message and language,
//! the username, the code.

use std::cell::RefCell;
use std::collections::BTreeMap;

use mfa_bridge::config::{Config, Endpoints, Source};
use mfa_bridge::template::{EndpointId, SendInput, Templates};
use serde_yaml::{Mapping, Value};

use crate::input::fields;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    None,
];

pub struct Target {
    /// A valid configuration; its single endpoint is replaced per input.
    config: RefCell<Config>,
}

impl Default for Target {
    fn default() -> Self {
        Self::new()
    }
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::from(k), v);
    }
    Value::Mapping(m)
}

/// The configuration text: a minimal standalone single-mode setup around the endpoint.
pub fn platform_yml(url: &str, header: &str, body: &str, content_type: Option<&str>) -> String {
    let mut headers = vec![("X-Fuzz", Value::from(header))];
    if let Some(ct) = content_type {
        headers.push(("Content-Type", Value::from(ct)));
    }
    let single = map(vec![
        (
            "url",
            Value::from(format!("https://provider.invalid/{url}")),
        ),
        ("method", Value::from("POST")),
        ("headers", map(headers)),
        ("body", Value::from(body)),
    ]);
    let doc = map(vec![
        ("storage", map(vec![("path", Value::from("./data"))])),
        (
            "api_keys",
            Value::Sequence(vec![map(vec![
                ("name", Value::from("local")),
                ("key_sha256", Value::from("0".repeat(64))),
            ])]),
        ),
        (
            "mfa",
            map(vec![
                ("mode", Value::from("single")),
                ("endpoints", map(vec![("single", single)])),
            ]),
        ),
    ]);
    serde_yaml::to_string(&doc).unwrap_or_default()
}

impl Target {
    pub fn new() -> Target {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temporary folder: {e}"));
        let yaml = platform_yml("", "", "", None);
        let parsed = Config::parse(&Source::text(yaml, dir.path()), &|_| None);
        let config = match parsed.config {
            Some(c) if parsed.problems.is_empty() => c,
            _ => panic!("the base configuration is refused: {:?}", parsed.problems),
        };
        Target {
            config: RefCell::new(config),
        }
    }

    pub fn run(&self, data: &[u8]) {
        let f = fields(data, 9);
        let content_type = CONTENT_TYPES[usize::from(f[3].bytes().next().unwrap_or(0)) % 4];
        let mut config = self.config.borrow_mut();
        let Endpoints::Single(spec) = &mut config.mfa.endpoints else {
            panic!("the base configuration has a single endpoint");
        };
        spec.url = format!("https://provider.invalid/{}", f[0]);
        spec.headers = vec![("X-Fuzz".to_string(), f[1].clone())];
        if let Some(ct) = content_type {
            spec.headers
                .push(("Content-Type".to_string(), ct.to_string()));
        }
        spec.body = Some(f[2].clone());
        let Ok(templates) = Templates::compile(&config) else {
            return;
        };
        let mut user_data = BTreeMap::new();
        user_data.insert("phone".to_string(), f[4].clone());
        if !f[5].is_empty() {
            user_data.insert("message".to_string(), f[5].clone());
        }
        if !f[6].is_empty() {
            user_data.insert("language".to_string(), f[6].clone());
        }
        let input = SendInput {
            username: &f[7],
            user_data: &user_data,
            code: Some(&f[8]),
            captured: None,
        };
        if let Ok(vars) = templates.vars_for(EndpointId::Single, &input) {
            let _ = templates.render(EndpointId::Single, &vars);
        }
    }
}

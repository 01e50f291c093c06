//! Template compile and render: a `platform.yml` whose single endpoint's url, header, body
//! and content type come from the input, loaded through `Snapshot::load`, then rendered with
//! user data from the input through `Templates::vars_for` and `Templates::render`, as a send
//! does.
//!
//! Input, NUL-separated: url (after `https://provider.invalid/`), a header value, the body,
//! the content type (one of four by its first byte), the user's phone, message and language,
//! the username, the code.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mfa_bridge::config::Source;
use mfa_bridge::snapshot::Snapshot;
use mfa_bridge::template::{EndpointId, SendInput};
use serde_yaml::{Mapping, Value};

use crate::input::fields;

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    None,
];

pub struct Target {
    base_dir: PathBuf,
    _dir: tempfile::TempDir,
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
        Target {
            base_dir: dir.path().to_path_buf(),
            _dir: dir,
        }
    }

    pub fn run(&self, data: &[u8]) {
        let f = fields(data, 9);
        let content_type = CONTENT_TYPES[usize::from(f[3].bytes().next().unwrap_or(0)) % 4];
        let yaml = platform_yml(&f[0], &f[1], &f[2], content_type);
        let Ok(snapshot) = Snapshot::load(&Source::text(yaml, &self.base_dir), &|_| None) else {
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
        if let Ok(vars) = snapshot.templates.vars_for(EndpointId::Single, &input) {
            let _ = snapshot.templates.render(EndpointId::Single, &vars);
        }
    }
}

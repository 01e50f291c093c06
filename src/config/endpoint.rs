//! One outbound request as the operator writes it (`url`, `method`, `body`, `headers`,
//! `basic_auth`, `success`/`accept`, `capture`), for the provider endpoints and the upstream.

use std::collections::BTreeSet;

use serde_json_path::JsonPath;
use serde_yaml::Value;

use super::walk::{integer, string, string_list, string_map, Fields, Problems};
use crate::domain::names::{is_reserved, is_variable_name};

#[derive(Debug, Clone)]
pub enum Endpoints {
    Single(Box<EndpointSpec>),
    ChallengeVerify {
        challenge: Box<EndpointSpec>,
        verify: Box<EndpointSpec>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// One outbound request as the operator wrote it: every string is a template.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// Dotted path in `platform.yml`, used to name problems (`mfa.endpoints.single`).
    pub path: String,
    pub url: String,
    pub method: HttpMethod,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// `basic_auth: { username, password }`, templates: sent as `Authorization: Basic`.
    pub basic_auth: Option<(String, String)>,
    /// When the answer counts as success (`success`, or `accept` for the access check).
    pub predicate: Option<Predicate>,
    /// Challenge only: values read from the JSON answer, kept for the verify endpoint.
    pub capture: Vec<Capture>,
    /// Single and challenge: where the provider's id of the message is in its JSON answer
    /// (`message_id: sid`), kept in the message log; an answer without one is not a failure.
    pub message_id: Option<ReplyPath>,
    /// Single and challenge: body fields (form fields or top-level JSON keys) left out of the
    /// request when their value renders empty (`omit_empty: [StatusCallback]`).
    pub omit_empty: Vec<String>,
}

/// A JSONPath into a provider's JSON answer, as written (`sid`) and parsed (`$.sid`).
#[derive(Debug, Clone)]
pub struct ReplyPath {
    pub json_path: String,
    pub parsed: JsonPath,
}

impl ReplyPath {
    /// The value at this path in a JSON answer, as text: a non-empty string or a number;
    /// `None` when the answer is not JSON or holds no such value.
    pub fn read(&self, body: &[u8]) -> Option<String> {
        let json: serde_json::Value = serde_json::from_slice(body).ok()?;
        match self.parsed.query(&json).first() {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(v @ serde_json::Value::Number(_)) => Some(v.to_string()),
            _ => None,
        }
    }
}

/// `capture: { NAME: JSONPATH }` on a challenge endpoint.
#[derive(Debug, Clone)]
pub struct Capture {
    pub name: String,
    pub json_path: String,
    pub parsed: JsonPath,
}

/// A test on a provider's or upstream's answer: every part given must hold.
#[derive(Debug, Clone)]
pub struct Predicate {
    /// Accepted statuses; absent: any 2xx.
    pub status: Option<Vec<u16>>,
    /// A JSONPath into the JSON body (`status` is short for `$.status`) and the value it must
    /// equal.
    pub json: Option<(String, JsonPath, serde_json::Value)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum EndpointKind {
    Single,
    Challenge,
    Verify,
    UpstreamLogin,
    AccessCheck,
}

pub(super) fn parse_endpoint(
    v: &Value,
    path: &str,
    kind: EndpointKind,
    p: &mut Problems,
) -> Option<EndpointSpec> {
    let mut f = Fields::of(p, path, v)?;
    let url = f
        .require(p, "url")
        .and_then(|v| string(p, &format!("{path}.url"), v));
    let method = f.require(p, "method").and_then(|v| {
        let mp = format!("{path}.method");
        let s = string(p, &mp, v)?;
        match s.to_ascii_uppercase().as_str() {
            "GET" => Some(HttpMethod::Get),
            "POST" => Some(HttpMethod::Post),
            "PUT" => Some(HttpMethod::Put),
            "PATCH" => Some(HttpMethod::Patch),
            "DELETE" => Some(HttpMethod::Delete),
            _ => {
                p.push(
                    &mp,
                    format!("unsupported method '{s}' (expected GET, POST, PUT, PATCH or DELETE)"),
                );
                None
            }
        }
    });
    let body = if kind == EndpointKind::UpstreamLogin {
        // The login body is the client's, forwarded as received.
        None
    } else {
        f.get("body")
            .and_then(|v| string(p, &format!("{path}.body"), v))
    };
    let headers = f
        .get("headers")
        .map(|v| string_map(p, &format!("{path}.headers"), v))
        .unwrap_or_default();
    let predicate_key = match kind {
        EndpointKind::AccessCheck => Some("accept"),
        EndpointKind::UpstreamLogin => None,
        _ => Some("success"),
    };
    let predicate = predicate_key.and_then(|key| {
        f.get(key)
            .and_then(|v| parse_predicate(v, &format!("{path}.{key}"), p))
    });
    let basic_auth = if kind == EndpointKind::UpstreamLogin {
        None
    } else {
        f.get("basic_auth")
            .and_then(|v| parse_basic_auth(v, &format!("{path}.basic_auth"), p))
    };
    let capture = if kind == EndpointKind::Challenge {
        f.get("capture")
            .map(|v| parse_capture(v, &format!("{path}.capture"), p))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let sends = matches!(kind, EndpointKind::Single | EndpointKind::Challenge);
    let message_id = if sends {
        f.get("message_id")
            .and_then(|v| parse_reply_path(v, &format!("{path}.message_id"), p))
    } else {
        None
    };
    let omit_empty = if sends {
        f.get("omit_empty")
            .map(|v| parse_omit_empty(v, &format!("{path}.omit_empty"), body.is_some(), p))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    f.finish(p);
    if basic_auth.is_some()
        && headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization"))
    {
        p.push(
            &format!("{path}.basic_auth"),
            "give basic_auth or an authorization header, not both",
        );
    }
    if kind == EndpointKind::AccessCheck && predicate.is_none() && v.get("accept").is_none() {
        p.push(
            &format!("{path}.accept"),
            "missing: say which answers mean a personal token, e.g. { json_path: type, equals: personal }",
        );
    }
    if let Some(u) = &url {
        if kind == EndpointKind::Verify && u.trim_start().starts_with("outbox:") {
            p.push(
                &format!("{path}.url"),
                "the development outbox cannot verify codes: use it for sends only",
            );
        }
        if matches!(
            kind,
            EndpointKind::UpstreamLogin | EndpointKind::AccessCheck
        ) && u.trim_start().starts_with("outbox:")
        {
            p.push(
                &format!("{path}.url"),
                "the development outbox is for provider sends only",
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (name, _) in &headers {
        if !seen.insert(name.to_ascii_lowercase()) {
            p.push(
                &format!("{path}.headers.{name}"),
                "duplicate header (names are case-insensitive)",
            );
        }
    }
    Some(EndpointSpec {
        path: path.to_string(),
        url: url?,
        method: method?,
        body,
        headers,
        basic_auth,
        predicate,
        capture,
        message_id,
        omit_empty,
    })
}

/// A JSONPath (`sid`, `messages[0].message-id`, or a full `$...`) at `path`.
fn parse_reply_path(v: &Value, path: &str, p: &mut Problems) -> Option<ReplyPath> {
    let raw = string(p, path, v)?;
    let full = if raw.starts_with('$') {
        raw.clone()
    } else {
        format!("$.{raw}")
    };
    match JsonPath::parse(&full) {
        Ok(parsed) => Some(ReplyPath {
            json_path: raw,
            parsed,
        }),
        Err(e) => {
            p.push(path, format!("not a valid JSONPath: {e}"));
            None
        }
    }
}

/// `omit_empty: [FIELD, ...]`: names of body fields, on an endpoint that has a body.
fn parse_omit_empty(v: &Value, path: &str, has_body: bool, p: &mut Problems) -> Vec<String> {
    let names = string_list(p, path, v);
    if !has_body {
        p.push(path, "the endpoint has no body to leave fields out of");
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        if name.is_empty() {
            p.push(&format!("{path}[{i}]"), "empty: give a body field's name");
        } else if out.contains(&name) {
            p.push(&format!("{path}[{i}]"), format!("'{name}' is listed twice"));
        } else {
            out.push(name);
        }
    }
    out
}

pub(super) fn parse_basic_auth(
    v: &Value,
    path: &str,
    p: &mut Problems,
) -> Option<(String, String)> {
    let mut f = Fields::of(p, path, v)?;
    let username = f
        .require(p, "username")
        .and_then(|v| string(p, &format!("{path}.username"), v));
    let password = f
        .require(p, "password")
        .and_then(|v| string(p, &format!("{path}.password"), v));
    f.finish(p);
    Some((username?, password?))
}

pub(super) fn parse_capture(v: &Value, path: &str, p: &mut Problems) -> Vec<Capture> {
    let mut out = Vec::new();
    let Some(f) = Fields::of(p, path, v) else {
        return out;
    };
    for (name, value) in f.entries(p) {
        let cp = format!("{path}.{name}");
        if !is_variable_name(&name) || is_reserved(&name) {
            p.push(&cp, "not a name the verify endpoint can use (letters, digits and _, not a reserved name)");
            continue;
        }
        let Some(raw) = string(p, &cp, value) else {
            continue;
        };
        let full = if raw.starts_with('$') {
            raw.clone()
        } else {
            format!("$.{raw}")
        };
        match JsonPath::parse(&full) {
            Ok(parsed) => out.push(Capture {
                name,
                json_path: raw,
                parsed,
            }),
            Err(e) => p.push(&cp, format!("not a valid JSONPath: {e}")),
        }
    }
    out
}

pub(super) fn parse_predicate(v: &Value, path: &str, p: &mut Problems) -> Option<Predicate> {
    let mut f = Fields::of(p, path, v)?;
    let status = f.get("status").map(|v| {
        let sp = format!("{path}.status");
        let items: Vec<Value> = match v {
            Value::Sequence(items) => items.clone(),
            single => vec![single.clone()],
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| integer(p, &format!("{sp}[{i}]"), v, 100..=599).map(|n| n as u16))
            .collect::<Vec<_>>()
    });
    let json_path = f.get("json_path").and_then(|v| {
        let jp = format!("{path}.json_path");
        let raw = string(p, &jp, v)?;
        let full = if raw.starts_with('$') {
            raw.clone()
        } else {
            format!("$.{raw}")
        };
        match JsonPath::parse(&full) {
            Ok(parsed) => Some((raw, parsed)),
            Err(e) => {
                p.push(&jp, format!("not a valid JSONPath: {e}"));
                None
            }
        }
    });
    let equals = f.get("equals").map(|v| match serde_json::to_value(v) {
        Ok(j) => j,
        Err(_) => serde_json::Value::Null,
    });
    f.finish(p);
    let json = match (json_path, equals) {
        (Some((raw, parsed)), Some(eq)) => Some((raw, parsed, eq)),
        (None, None) => None,
        (Some(_), None) => {
            p.push(
                &format!("{path}.equals"),
                "missing: json_path needs the value it must equal",
            );
            None
        }
        (None, Some(_)) => {
            p.push(
                &format!("{path}.json_path"),
                "missing: equals needs a json_path",
            );
            None
        }
    };
    if status.is_none()
        && json.is_none()
        && v.get("json_path").is_none()
        && v.get("equals").is_none()
    {
        p.push(path, "empty: give status, or json_path with equals");
    }
    Some(Predicate { status, json })
}

//! How a substituted value is encoded, by where it lands in the request.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986's unreserved characters is percent-encoded, so a value can never
/// add a path segment, a query parameter or a fragment.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub(super) fn url(value: &str) -> String {
    utf8_percent_encode(value, URL_COMPONENT).to_string()
}

/// The inside of a JSON string literal.
pub(super) fn json(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

pub(super) fn form(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Plain text bodies and headers (headers are checked before rendering instead).
pub(super) fn none(value: &str) -> String {
    value.to_string()
}

/// Printable ASCII: what a substituted header value may hold.
pub(super) fn is_header_byte(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

/// How a body template's values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Form,
    Plain,
}

impl BodyKind {
    /// From the declared content-type; without one, a template that is JSON text is JSON.
    pub fn of(content_type: Option<&str>, template: &str) -> BodyKind {
        match content_type.map(|c| c.to_ascii_lowercase()) {
            Some(c) if c.contains("json") => BodyKind::Json,
            Some(c) if c.contains("application/x-www-form-urlencoded") => BodyKind::Form,
            Some(_) => BodyKind::Plain,
            None => {
                let t = template.trim_start();
                if t.starts_with('{') || t.starts_with('[') {
                    BodyKind::Json
                } else {
                    BodyKind::Plain
                }
            }
        }
    }
}

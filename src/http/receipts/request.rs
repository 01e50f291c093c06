//! A receipt as it arrived, read once: what every family's check and reading work on.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use crate::store::SendStatus;

/// The parts of a receipt's request that a signature covers.
#[derive(Debug, Clone)]
pub struct ReceiptRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The url as the provider called it: the public address, the path and the query.
    pub url: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The query's parameters, decoded, in their order.
    pub query: Vec<(String, String)>,
    /// The body's parameters: a form's, or a flat JSON object's (strings and numbers).
    pub form: Vec<(String, String)>,
}

impl ReceiptRequest {
    /// Reads the parameters of `query` and `body` (a form, or a JSON object).
    pub fn new(
        method: &str,
        url: String,
        query: Option<&str>,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> ReceiptRequest {
        let query = pairs(query.unwrap_or("").as_bytes());
        let json = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
        let form = if json {
            json_fields(&body)
        } else {
            pairs(&body)
        };
        ReceiptRequest {
            method: method.to_string(),
            url,
            headers,
            body,
            query,
            form,
        }
    }

    /// A header's value as text (`None`: absent or not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Every parameter, the body's over the query's, by name (for reading a receipt).
    pub fn params(&self) -> BTreeMap<&str, &str> {
        (self.query.iter().chain(self.form.iter()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The first of `names` that is a parameter.
    pub fn param(&self, names: &[&str]) -> Option<String> {
        let params = self.params();
        names
            .iter()
            .find_map(|n| params.get(n).map(|v| v.to_string()))
            .filter(|v| !v.is_empty())
    }
}

fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The top-level strings, numbers and booleans of a JSON object, as text.
fn json_fields(body: &[u8]) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, b.to_string())),
            _ => None,
        })
        .collect()
}

/// What a receipt says, once its signature held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's id of the message (what its answer to the send gave).
    pub message_id: String,
    /// `None`: a status the message log does not track (a receipt to acknowledge and drop).
    pub status: Option<SendStatus>,
    /// The provider's error code or reason, when it gives one.
    pub error: Option<String>,
}

impl Receipt {
    /// The receipt of `message_id` (absent or empty: `None`) in `status` as `map` reads it;
    /// its error `code` (none, or zero: no error) named with the `family`.
    pub fn read(
        message_id: Option<String>,
        status: Option<String>,
        (family, code): (&str, Option<String>),
        map: fn(&str) -> Option<SendStatus>,
    ) -> Option<Receipt> {
        let code = code.filter(|c| !c.is_empty() && !c.trim_start_matches('0').is_empty());
        Some(Receipt {
            message_id: message_id.filter(|m| !m.is_empty())?,
            status: status.as_deref().and_then(map),
            error: code.map(|c| format!("{family} {c}")),
        })
    }
}

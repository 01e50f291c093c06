//! Plivo's message status callbacks: `X-Plivo-Signature-V3` is the base64 of HMAC-SHA256,
//! under the auth token, of the url Plivo called (its query sorted) followed, for a POST, by
//! every body parameter sorted by name as name and value with no separator, then `.` and the
//! `X-Plivo-Signature-V3-Nonce`. The header may hold several signatures, comma-separated
//! (an account with several tokens): one matching is enough.
//! Source: <https://www.plivo.com/docs/messaging/concepts/signature-validation> (and the
//! SDKs' `validateV3Signature`); statuses:
//! <https://www.plivo.com/docs/messaging/api/message#message-states>.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::request::{Receipt, ReceiptRequest};
use super::same;
use crate::store::SendStatus;

/// `name=value` pairs sorted, joined by `&`.
fn sorted_query(pairs: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort();
    let parts: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join("&")
}

/// The text Plivo signs for a request to `url` (with its query) with `form` in its body.
pub fn signed_text(method: &str, url: &str, form: &[(String, String)]) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if method == "GET" {
        let all: Vec<(String, String)> = query.into_iter().chain(form.iter().cloned()).collect();
        let q = sorted_query(&all);
        return if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        };
    }
    let q = sorted_query(&query);
    let mut text = base.to_string();
    if !q.is_empty() || !form.is_empty() {
        text.push('?');
        text.push_str(&q);
    }
    if !q.is_empty() && !form.is_empty() {
        text.push('.');
    }
    let mut sorted: Vec<&(String, String)> = form.iter().collect();
    sorted.sort();
    for (k, v) in sorted {
        text.push_str(k);
        text.push_str(v);
    }
    text
}

pub fn signature(auth_token: &str, text: &str, nonce: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{text}.{nonce}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn verify(req: &ReceiptRequest, auth_token: &str) -> bool {
    let (Some(given), Some(nonce)) = (
        req.header("x-plivo-signature-v3"),
        req.header("x-plivo-signature-v3-nonce"),
    ) else {
        return false;
    };
    let expected = signature(
        auth_token,
        &signed_text(&req.method, &req.url, &req.form),
        nonce,
    );
    given.split(',').any(|s| same(s.trim(), &expected))
}

fn status(s: &str) -> Option<SendStatus> {
    match s {
        "queued" | "sent" => Some(SendStatus::Sent),
        "delivered" | "read" => Some(SendStatus::Delivered),
        "undelivered" => Some(SendStatus::Undelivered),
        "failed" | "rejected" => Some(SendStatus::Failed),
        _ => None,
    }
}

pub fn read(req: &ReceiptRequest) -> Option<Receipt> {
    Receipt::read(
        req.param(&["MessageUUID"]),
        req.param(&["Status"]),
        ("plivo", req.param(&["ErrorCode"])),
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Vec<(String, String)> {
        vec![
            ("Status".to_string(), "delivered".to_string()),
            (
                "MessageUUID".to_string(),
                "db3ce55a-7f1d-11e1-8ea7-1231380bc196".to_string(),
            ),
        ]
    }

    #[test]
    fn a_post_signs_the_url_then_the_sorted_body() {
        assert_eq!(
            signed_text(
                "POST",
                "https://mfa.example.org/receipts/pl?b=2&a=1",
                &form()
            ),
            "https://mfa.example.org/receipts/pl?a=1&b=2.\
             MessageUUIDdb3ce55a-7f1d-11e1-8ea7-1231380bc196Statusdelivered"
        );
        assert_eq!(
            signed_text("POST", "https://mfa.example.org/receipts/pl", &form()),
            "https://mfa.example.org/receipts/pl?\
             MessageUUIDdb3ce55a-7f1d-11e1-8ea7-1231380bc196Statusdelivered"
        );
    }

    /// Computed with Python's `hmac` over the second text above, `.` and the nonce.
    #[test]
    fn the_signature_is_hmac_sha256_of_text_and_nonce() {
        let text = signed_text("POST", "https://mfa.example.org/receipts/pl", &form());
        assert_eq!(
            signature("token", &text, "12345"),
            "8/uagwCCcboOVMmR93I78IrUvEUHfZ0Le7sMTYWD5hQ="
        );
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            "x-plivo-signature-v3",
            "other=,8/uagwCCcboOVMmR93I78IrUvEUHfZ0Le7sMTYWD5hQ="
                .parse()
                .unwrap(),
        );
        headers.insert("x-plivo-signature-v3-nonce", "12345".parse().unwrap());
        let body = b"Status=delivered&MessageUUID=db3ce55a-7f1d-11e1-8ea7-1231380bc196";
        let req = ReceiptRequest::new(
            "POST",
            "https://mfa.example.org/receipts/pl".into(),
            None,
            headers,
            body.to_vec(),
        );
        assert!(verify(&req, "token"));
        assert!(!verify(&req, "another token"));
        assert_eq!(read(&req).unwrap().status, Some(SendStatus::Delivered));
    }
}

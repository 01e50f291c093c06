//! Sinch's SMS delivery reports: a JSON POST, authenticated as the callback was provisioned
//! with Sinch; this daemon takes HTTP basic authentication (a username and a password).
//! Source: <https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/>
//! (callbacks: basic authentication); statuses: delivery report `status`
//! (<https://developers.sinch.com/docs/sms/api-reference/sms/tag/Delivery-reports/>).

use base64::Engine;

use super::request::{Receipt, ReceiptRequest};
use super::same;
use crate::store::SendStatus;

pub fn verify(req: &ReceiptRequest, username: &str, password: &str) -> bool {
    let Some(given) = req.header("authorization").and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    }) else {
        return false;
    };
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    same(given.trim(), &expected)
}

fn status(s: &str) -> Option<SendStatus> {
    match s {
        "Queued" | "Dispatched" => Some(SendStatus::Sent),
        "Delivered" => Some(SendStatus::Delivered),
        "Failed" | "Expired" => Some(SendStatus::Undelivered),
        "Aborted" | "Rejected" | "Cancelled" => Some(SendStatus::Failed),
        _ => None,
    }
}

pub fn read(req: &ReceiptRequest) -> Option<Receipt> {
    Receipt::read(
        req.param(&["batch_id"]),
        req.param(&["status"]),
        ("sinch", req.param(&["code"])),
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_with_its_credentials_reads_and_without_is_refused() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        // base64("sinch:pass word") computed with `printf 'sinch:pass word' | base64`.
        headers.insert(
            "authorization",
            "Basic c2luY2g6cGFzcyB3b3Jk".parse().unwrap(),
        );
        let body = br#"{"type":"recipient_delivery_report_sms","batch_id":"01FC66621XXXXX119Z8PMV1QPQ","recipient":"+44231235674","code":401,"status":"Dispatched"}"#;
        let req = ReceiptRequest::new("POST", "u".into(), None, headers, body.to_vec());
        assert!(verify(&req, "sinch", "pass word"));
        assert!(!verify(&req, "sinch", "password"));
        let receipt = read(&req).unwrap();
        assert_eq!(receipt.message_id, "01FC66621XXXXX119Z8PMV1QPQ");
        assert_eq!(receipt.status, Some(SendStatus::Sent));
        assert_eq!(receipt.error.as_deref(), Some("sinch 401"));
    }
}

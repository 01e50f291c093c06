//! Vonage's SMS delivery receipts, as signed webhooks: the `sig` parameter is computed over
//! every other parameter sorted by name, written `&name=value` (`&` and `=` in a value made
//! `_`), then either MD5 of that text followed by the signature secret ("MD5 hash", the
//! default) or an HMAC of it under the secret (MD5, SHA-1, SHA-256 or SHA-512), in hex. Its
//! `timestamp` parameter must be within five minutes of now.
//! Source: <https://developer.vonage.com/en/getting-started/concepts/signing-messages>;
//! statuses: <https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts>.

use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::request::{Receipt, ReceiptRequest};
use super::same;
use crate::config::VonageMethod;
use crate::store::SendStatus;

/// How far a signed webhook's `timestamp` may be from now (seconds).
const MAX_SKEW_SECONDS: u64 = 300;

/// The text that is signed: `&name=value` for each parameter but `sig`, sorted by name.
fn signed_text(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("&{k}={}", v.replace(['&', '='], "_")))
        .collect()
}

fn hmac_hex<M: Mac + hmac::digest::KeyInit>(secret: &str, text: &str) -> String {
    match <M as hmac::digest::KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The `sig` Vonage computes for `params` (lowercase hex).
pub fn signature(method: VonageMethod, secret: &str, params: &[(String, String)]) -> String {
    let text = signed_text(params);
    match method {
        VonageMethod::Md5Hash => hex::encode(Md5::digest(format!("{text}{secret}").as_bytes())),
        VonageMethod::Md5Hmac => hmac_hex::<Hmac<Md5>>(secret, &text),
        VonageMethod::Sha1Hmac => hmac_hex::<Hmac<Sha1>>(secret, &text),
        VonageMethod::Sha256Hmac => hmac_hex::<Hmac<Sha256>>(secret, &text),
        VonageMethod::Sha512Hmac => hmac_hex::<Hmac<Sha512>>(secret, &text),
    }
}

pub fn verify(req: &ReceiptRequest, method: VonageMethod, secret: &str, now: u64) -> bool {
    // A receipt comes as a query (GET) or a body (POST): the signed parameters are those.
    let params = if req.form.is_empty() {
        &req.query
    } else {
        &req.form
    };
    let find = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let (Some(given), Some(timestamp)) = (find("sig"), find("timestamp")) else {
        return false;
    };
    let fresh = timestamp
        .parse::<u64>()
        .is_ok_and(|t| t.abs_diff(now) <= MAX_SKEW_SECONDS);
    fresh
        && same(
            &given.to_ascii_lowercase(),
            &signature(method, secret, params),
        )
}

fn status(s: &str) -> Option<SendStatus> {
    match s {
        "accepted" | "buffered" | "submitted" => Some(SendStatus::Sent),
        "delivered" | "read" => Some(SendStatus::Delivered),
        "expired" | "failed" | "undeliverable" => Some(SendStatus::Undelivered),
        "rejected" => Some(SendStatus::Failed),
        _ => None,
    }
}

pub fn read(req: &ReceiptRequest) -> Option<Receipt> {
    Receipt::read(
        req.param(&["messageId", "message_uuid"]),
        req.param(&["status"]),
        ("vonage", req.param(&["err-code"])),
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Vec<(String, String)> {
        [
            ("messageId", "0A0000000123ABCD1"),
            ("status", "delivered"),
            ("err-code", "0"),
            ("timestamp", "1700000000"),
            ("to", "Acme&Co=1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Vectors computed with Python's `hashlib`/`hmac` over
    /// `&err-code=0&messageId=0A0000000123ABCD1&status=delivered&timestamp=1700000000&to=Acme_Co_1`.
    #[test]
    fn each_method_signs_the_sorted_parameters() {
        let p = params();
        assert_eq!(
            signature(VonageMethod::Md5Hash, "secret", &p),
            "a99793c84d07f89b37b73033b86a36ef"
        );
        assert_eq!(
            signature(VonageMethod::Sha256Hmac, "secret", &p),
            "7361ce81ccb6dae021e3fc0d366754e39cc60408786deccf4634f40a39f99e7f"
        );
        assert_eq!(signature(VonageMethod::Sha512Hmac, "secret", &p).len(), 128);
    }

    #[test]
    fn a_signed_receipt_verifies_only_fresh_and_untouched() {
        let mut p = params();
        let sig = signature(VonageMethod::Sha256Hmac, "secret", &p).to_uppercase();
        p.push(("sig".into(), sig));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(p.iter())
            .finish();
        let req = |query: &str| {
            ReceiptRequest::new("GET", "u".into(), Some(query), Default::default(), vec![])
        };
        assert!(verify(
            &req(&query),
            VonageMethod::Sha256Hmac,
            "secret",
            1_700_000_100
        ));
        assert!(!verify(
            &req(&query),
            VonageMethod::Sha256Hmac,
            "secret",
            1_700_000_400
        ));
        assert!(!verify(
            &req(&query),
            VonageMethod::Sha256Hmac,
            "other",
            1_700_000_100
        ));
        let forged = query.replace("delivered", "expired");
        assert!(!verify(
            &req(&forged),
            VonageMethod::Sha256Hmac,
            "secret",
            1_700_000_100
        ));
        let receipt = read(&req(&query)).unwrap();
        assert_eq!(receipt.status, Some(SendStatus::Delivered));
        assert_eq!(receipt.error, None);
    }
}

//! MessageBird's status reports: the `MessageBird-Signature-JWT` header is a JWT signed with
//! HMAC (HS256, HS384 or HS512) under the signing key, issued by `MessageBird`, with
//! `url_hash` (SHA-256, hex, of the full url called) and, when there is a body, `payload_hash`
//! (SHA-256, hex, of the body); `nbf` and `exp` bound when it holds (5 seconds of leeway).
//! Source: <https://developers.messagebird.com/api/#verifying-http-requests> and the SDKs'
//! `webhook-signature-jwt`; statuses: <https://developers.messagebird.com/api/sms-messaging/#handle-a-status-report>.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::request::{Receipt, ReceiptRequest};
use super::same;
use crate::store::SendStatus;

const LEEWAY_SECONDS: u64 = 5;

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn mac_b64url<M: Mac + hmac::digest::KeyInit>(key: &str, text: &str) -> String {
    match <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(text.as_bytes());
            b64url(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The signature of `signed` (`header.claims`) by `alg`; empty for an algorithm not taken.
fn jwt_signature(alg: &str, key: &str, signed: &str) -> String {
    match alg {
        "HS256" => mac_b64url::<Hmac<Sha256>>(key, signed),
        "HS384" => mac_b64url::<Hmac<Sha384>>(key, signed),
        "HS512" => mac_b64url::<Hmac<Sha512>>(key, signed),
        _ => String::new(),
    }
}

/// The claims of `jwt` when its signature under `key` holds.
fn verified_claims(jwt: &str, key: &str) -> Option<serde_json::Value> {
    let (signed, given) = jwt.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let decode = |part: &str| -> Option<serde_json::Value> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&raw).ok()
    };
    let alg = decode(header)?.get("alg")?.as_str()?.to_string();
    let expected = jwt_signature(&alg, key, signed);
    if expected.is_empty() || !same(given, &expected) {
        return None;
    }
    decode(claims)
}

pub fn verify(req: &ReceiptRequest, signing_key: &str, now: u64) -> bool {
    let Some(jwt) = req.header("messagebird-signature-jwt") else {
        return false;
    };
    let Some(claims) = verified_claims(jwt.trim(), signing_key) else {
        return false;
    };
    let number = |name: &str| claims.get(name).and_then(|v| v.as_u64());
    let text = |name: &str| claims.get(name).and_then(|v| v.as_str());
    let in_time = number("exp").is_some_and(|exp| now < exp + LEEWAY_SECONDS)
        && number("nbf").is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS);
    let url_ok = text("url_hash").is_some_and(|h| {
        same(
            &h.to_ascii_lowercase(),
            &hex::encode(Sha256::digest(&req.url)),
        )
    });
    let payload_ok = match text("payload_hash") {
        Some(h) => same(
            &h.to_ascii_lowercase(),
            &hex::encode(Sha256::digest(&req.body)),
        ),
        None => req.body.is_empty(),
    };
    text("iss") == Some("MessageBird") && text("jti").is_some() && in_time && url_ok && payload_ok
}

fn status(s: &str) -> Option<SendStatus> {
    match s {
        "scheduled" | "sent" | "buffered" => Some(SendStatus::Sent),
        "delivered" => Some(SendStatus::Delivered),
        "expired" | "delivery_failed" => Some(SendStatus::Undelivered),
        _ => None,
    }
}

pub fn read(req: &ReceiptRequest) -> Option<Receipt> {
    Receipt::read(
        req.param(&["id"]),
        req.param(&["status"]),
        (
            "messagebird",
            req.param(&["statusErrorCode", "statusReason"]),
        ),
        status,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A token as MessageBird makes one: HS256 over `header.claims`, base64url.
    pub fn token(key: &str, claims: serde_json::Value) -> String {
        let header = b64url(br#"{"alg":"HS256","typ":"JWT"}"#);
        let signed = format!("{header}.{}", b64url(claims.to_string().as_bytes()));
        format!("{signed}.{}", jwt_signature("HS256", key, &signed))
    }

    fn request(url: &str, jwt: &str) -> ReceiptRequest {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("messagebird-signature-jwt", jwt.parse().unwrap());
        let query = url.split_once('?').map(|(_, q)| q);
        ReceiptRequest::new("GET", url.into(), query, headers, vec![])
    }

    /// The signature of a fixed token, computed with Python's `hmac` (HS256, key "key").
    #[test]
    fn a_jwt_is_signed_as_hs256_over_its_first_two_parts() {
        assert_eq!(
            jwt_signature("HS256", "key", "eyJhbGciOiJIUzI1NiJ9.e30"),
            "FOOB1UqKAhjxqs3lV7BidJ12zFAsIGq1erQfNyaFf80"
        );
    }

    #[test]
    fn a_report_verifies_with_its_url_hash_in_time_and_not_otherwise() {
        let url = "https://mfa.example.org/receipts/mb?id=m1&status=delivered";
        let claims = |url: &str, exp: u64| {
            serde_json::json!({
                "iss": "MessageBird", "nbf": 1000, "exp": exp, "jti": "j1",
                "url_hash": hex::encode(Sha256::digest(url)),
            })
        };
        let good = token("key", claims(url, 1060));
        assert!(verify(&request(url, &good), "key", 1001));
        assert!(!verify(&request(url, &good), "key", 1070), "expired");
        assert!(!verify(&request(url, &good), "other", 1001), "another key");
        let forged = url.replace("delivered", "expired");
        assert!(
            !verify(&request(&forged, &good), "key", 1001),
            "another url"
        );
        let receipt = read(&request(url, &good)).unwrap();
        assert_eq!(
            (receipt.message_id.as_str(), receipt.status),
            ("m1", Some(SendStatus::Delivered))
        );
    }
}

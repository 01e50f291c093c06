//! The Standard Webhooks signature (<https://www.standardwebhooks.com/>, "Signature scheme"):
//! `webhook-signature: v1,<base64 of HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`
//! under the endpoint's key (its `whsec_` secret, base64-decoded).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::WebhookKey;

/// The three headers of one attempt, in the order they are sent.
pub fn headers(
    key: &WebhookKey,
    id: &str,
    timestamp: u64,
    body: &str,
) -> [(&'static str, String); 3] {
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", sign(key, id, timestamp, body)),
    ]
}

/// `v1,<signature>` of `body` sent with `id` at `timestamp`.
pub fn sign(key: &WebhookKey, id: &str, timestamp: u64, body: &str) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.expose()) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the reference implementations, `standard-webhooks/standard-webhooks`,
    /// `libraries/rust/src/lib.rs` (`test_sign`); the other libraries of that repository use
    /// the same secret, id, time and body.
    #[test]
    fn signs_the_standard_webhooks_example_as_the_reference_implementation_does() {
        let key = WebhookKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign(
                &key,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1_649_367_553,
                r#"{"email":"test@example.com","username":"test_user"}"#,
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn the_id_the_time_and_the_body_are_all_signed() {
        let key = WebhookKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let base = sign(&key, "evt_1", 100, "{}");
        assert_ne!(base, sign(&key, "evt_2", 100, "{}"));
        assert_ne!(base, sign(&key, "evt_1", 101, "{}"));
        assert_ne!(base, sign(&key, "evt_1", 100, "{ }"));
        let [id, time, signature] = headers(&key, "evt_1", 100, "{}");
        assert_eq!(id, ("webhook-id", "evt_1".to_string()));
        assert_eq!(time, ("webhook-timestamp", "100".to_string()));
        assert_eq!(signature, ("webhook-signature", base));
    }
}

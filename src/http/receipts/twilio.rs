//! Twilio's status callbacks: `X-Twilio-Signature` is the base64 of HMAC-SHA1, under the
//! account's auth token, of the full url Twilio called followed by every POST parameter,
//! sorted by name, as name and value with no separator.
//! Source: <https://www.twilio.com/docs/usage/security#validating-requests>; statuses:
//! <https://www.twilio.com/docs/messaging/api/message-resource#message-status-values>.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::request::{Receipt, ReceiptRequest};
use super::same;
use crate::store::SendStatus;

/// The signature Twilio computes for `url` and `params`.
pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn verify(req: &ReceiptRequest, auth_token: &str) -> bool {
    let Some(given) = req.header("x-twilio-signature") else {
        return false;
    };
    same(given, &signature(auth_token, &req.url, &req.form))
}

fn status(s: &str) -> Option<SendStatus> {
    match s {
        "accepted" | "scheduled" | "queued" | "sending" | "sent" => Some(SendStatus::Sent),
        "delivered" | "read" => Some(SendStatus::Delivered),
        "undelivered" => Some(SendStatus::Undelivered),
        "failed" | "canceled" => Some(SendStatus::Failed),
        _ => None,
    }
}

pub fn read(req: &ReceiptRequest) -> Option<Receipt> {
    Receipt::read(
        req.param(&["MessageSid", "SmsSid"]),
        req.param(&["MessageStatus", "SmsStatus"]),
        ("twilio", req.param(&["ErrorCode"])),
        status,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The example of Twilio's security documentation.
    #[test]
    fn the_documented_example_signs_as_twilio_says() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        );
    }

    #[test]
    fn a_status_callback_reads_its_message_and_status() {
        let req = ReceiptRequest::new(
            "POST",
            "https://mfa.example.org/receipts/tw".into(),
            None,
            Default::default(),
            b"MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003".to_vec(),
        );
        let receipt = read(&req).unwrap();
        assert_eq!(receipt.message_id, "SM1");
        assert_eq!(receipt.status, Some(SendStatus::Undelivered));
        assert_eq!(receipt.error.as_deref(), Some("twilio 30003"));
        assert!(!verify(&req, "12345"), "no signature header");
    }
}

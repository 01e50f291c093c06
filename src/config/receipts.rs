//! `receipts`: how the delivery receipts of each provider are checked
//! (`POST /receipts/{provider}`), and the rule that re-sends a code a receipt says will not
//! arrive (applied by the delivery engine).
//!
//! Each provider family signs its receipts its own way; the key each needs is a secret, given
//! as a `${ENV}` reference. A receipt for a provider not listed here is refused: a receipt
//! route nobody checks would let anyone mark sends delivered.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::walk::{kind, string, Fields, Problems};
use crate::domain::Secret;

#[derive(Debug, Clone, Default)]
pub struct ReceiptsConfig {
    /// The address the providers reach this daemon's public listener at
    /// (`https://mfa.example.org`), as they sign it: the receipt url is
    /// `{public_url}/receipts/{provider}`. Empty: the `Host` of the request, over http.
    pub public_url: String,
    /// Re-send through the next provider when no receipt came this many seconds after a send
    /// was accepted (0: never).
    pub resend_after_seconds: u64,
    /// Re-send through the next provider (or the user's next channel) when a receipt says
    /// `undelivered`.
    pub resend_on_undelivered: bool,
    /// By provider name.
    pub providers: BTreeMap<String, ReceiptCheck>,
}

/// How one provider's receipts prove they come from it.
#[derive(Debug, Clone)]
pub enum ReceiptCheck {
    /// `X-Twilio-Signature`: HMAC-SHA1 under the account's auth token.
    Twilio { auth_token: Secret },
    /// The `sig` parameter of Vonage's signed webhooks, with the dashboard's algorithm.
    Vonage {
        signature_secret: Secret,
        method: VonageMethod,
    },
    /// `MessageBird-Signature-JWT`: a JWT (HMAC-SHA256) under the signing key.
    MessageBird { signing_key: Secret },
    /// `X-Plivo-Signature-V3` with its nonce: HMAC-SHA256 under the auth token.
    Plivo { auth_token: Secret },
    /// HTTP basic authentication, as Sinch's SMS callbacks are provisioned with.
    Sinch { username: String, password: Secret },
}

impl ReceiptCheck {
    /// The family's name, as written in the configuration.
    pub fn family(&self) -> &'static str {
        match self {
            ReceiptCheck::Twilio { .. } => "twilio",
            ReceiptCheck::Vonage { .. } => "vonage",
            ReceiptCheck::MessageBird { .. } => "messagebird",
            ReceiptCheck::Plivo { .. } => "plivo",
            ReceiptCheck::Sinch { .. } => "sinch",
        }
    }
}

/// The signature algorithm chosen in Vonage's dashboard for signed webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VonageMethod {
    Md5Hash,
    Md5Hmac,
    Sha1Hmac,
    Sha256Hmac,
    Sha512Hmac,
}

impl VonageMethod {
    const NAMES: [(&'static str, VonageMethod); 5] = [
        ("md5hash", VonageMethod::Md5Hash),
        ("md5", VonageMethod::Md5Hmac),
        ("sha1", VonageMethod::Sha1Hmac),
        ("sha256", VonageMethod::Sha256Hmac),
        ("sha512", VonageMethod::Sha512Hmac),
    ];
}

/// `[a-z0-9-]`, 1 to 40 characters: the shape of every provider's name.
fn is_provider_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(super) fn parse_receipts(value: Option<&Value>, p: &mut Problems) -> ReceiptsConfig {
    let mut cfg = ReceiptsConfig::default();
    let Some(v) = value else { return cfg };
    let Some(mut f) = Fields::of(p, "receipts", v) else {
        return cfg;
    };
    if let Some(v) = f.get("public_url") {
        if let Some(url) = string(p, "receipts.public_url", v) {
            let url = url.trim().trim_end_matches('/').to_string();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                p.push(
                    "receipts.public_url",
                    format!("'{url}' is not an address such as https://mfa.example.org"),
                );
            }
            cfg.public_url = url;
        }
    }
    if let Some(n) = f.integer(p, "resend_after_seconds", 0..=3600) {
        cfg.resend_after_seconds = n;
    }
    if let Some(v) = f.get("resend_on_undelivered") {
        match v {
            Value::Bool(b) => cfg.resend_on_undelivered = *b,
            other => p.push(
                "receipts.resend_on_undelivered",
                format!("must be true or false, found {}", kind(other)),
            ),
        }
    }
    if let Some(v) = f.get("providers") {
        if let Some(providers) = Fields::of(p, "receipts.providers", v) {
            for (name, entry) in providers.entries(p) {
                let path = format!("receipts.providers.{name}");
                if !is_provider_name(&name) {
                    p.push(
                        &path,
                        "a provider's name is 1 to 40 of a-z, 0-9 and '-' (as in mfa.channels)",
                    );
                    continue;
                }
                if let Some(check) = parse_check(&path, entry, p) {
                    cfg.providers.insert(name, check);
                }
            }
        }
    }
    f.finish(p);
    cfg
}

/// One provider's entry: its `family` and the keys that family needs.
fn parse_check(path: &str, value: &Value, p: &mut Problems) -> Option<ReceiptCheck> {
    let mut f = Fields::of(p, path, value)?;
    let family = f
        .require(p, "family")
        .and_then(|v| string(p, &format!("{path}.family"), v));
    let secret = |f: &mut Fields<'_>, p: &mut Problems, key: &str| {
        f.require(p, key)
            .and_then(|v| string(p, &format!("{path}.{key}"), v))
            .filter(|s| {
                let empty = s.trim().is_empty();
                if empty {
                    p.push(&format!("{path}.{key}"), "must not be empty");
                }
                !empty
            })
            .map(Secret::new)
    };
    let check = match family.as_deref() {
        Some("twilio") => {
            secret(&mut f, p, "auth_token").map(|auth_token| ReceiptCheck::Twilio { auth_token })
        }
        Some("vonage") => {
            let method = match f.get("signature_method") {
                None => Some(VonageMethod::Md5Hash),
                Some(v) => string(p, &format!("{path}.signature_method"), v).and_then(|s| {
                    let found = VonageMethod::NAMES.iter().find(|(n, _)| *n == s);
                    if found.is_none() {
                        p.push(
                            &format!("{path}.signature_method"),
                            format!("'{s}' is not one of md5hash, md5, sha1, sha256, sha512"),
                        );
                    }
                    found.map(|(_, m)| *m)
                }),
            };
            let signature_secret = secret(&mut f, p, "signature_secret");
            match (signature_secret, method) {
                (Some(signature_secret), Some(method)) => Some(ReceiptCheck::Vonage {
                    signature_secret,
                    method,
                }),
                _ => None,
            }
        }
        Some("messagebird") => secret(&mut f, p, "signing_key")
            .map(|signing_key| ReceiptCheck::MessageBird { signing_key }),
        Some("plivo") => {
            secret(&mut f, p, "auth_token").map(|auth_token| ReceiptCheck::Plivo { auth_token })
        }
        Some("sinch") => {
            let username = f
                .require(p, "username")
                .and_then(|v| string(p, &format!("{path}.username"), v));
            let password = secret(&mut f, p, "password");
            match (username, password) {
                (Some(username), Some(password)) => {
                    Some(ReceiptCheck::Sinch { username, password })
                }
                _ => None,
            }
        }
        Some(other) => {
            p.push(
                &format!("{path}.family"),
                format!("'{other}' is not one of twilio, vonage, messagebird, plivo, sinch"),
            );
            None
        }
        None => None,
    };
    f.finish(p);
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (ReceiptsConfig, Vec<String>) {
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        let mut p = Problems(Vec::new());
        let cfg = parse_receipts(Some(&v), &mut p);
        let problems =
            p.0.iter()
                .map(|x| format!("{}: {}", x.path, x.message))
                .collect();
        (cfg, problems)
    }

    #[test]
    fn every_family_reads_with_its_keys() {
        let (cfg, problems) = parse(
            "public_url: https://mfa.example.org/\nresend_after_seconds: 60\n\
             resend_on_undelivered: true\nproviders:\n\
             \x20 tw: {family: twilio, auth_token: t}\n\
             \x20 vo: {family: vonage, signature_secret: s, signature_method: sha256}\n\
             \x20 mb: {family: messagebird, signing_key: k}\n\
             \x20 pl: {family: plivo, auth_token: t}\n\
             \x20 si: {family: sinch, username: u, password: p}\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(cfg.public_url, "https://mfa.example.org");
        assert_eq!(
            (cfg.resend_after_seconds, cfg.resend_on_undelivered),
            (60, true)
        );
        let families: Vec<_> = cfg.providers.values().map(ReceiptCheck::family).collect();
        assert_eq!(
            families,
            ["messagebird", "plivo", "sinch", "twilio", "vonage"]
        );
        assert!(matches!(
            cfg.providers["vo"],
            ReceiptCheck::Vonage {
                method: VonageMethod::Sha256Hmac,
                ..
            }
        ));
    }

    #[test]
    fn a_wrong_entry_is_named_by_its_field() {
        let (_, problems) = parse(
            "providers:\n\
             \x20 tw: {family: twilio}\n\
             \x20 xx: {family: carrier-pigeon}\n\
             \x20 vo: {family: vonage, signature_secret: s, signature_method: crc32}\n\
             \x20 Bad_Name: {family: plivo, auth_token: t}\n\
             \x20 si: {family: sinch, username: u, password: ''}\n",
        );
        let expected = [
            "receipts.providers.tw.auth_token: missing",
            "receipts.providers.xx.family: 'carrier-pigeon' is not one of",
            "receipts.providers.vo.signature_method: 'crc32' is not one of",
            "receipts.providers.Bad_Name: a provider's name is 1 to 40",
            "receipts.providers.si.password: must not be empty",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(e)),
                "{e} in {problems:?}"
            );
        }
    }
}

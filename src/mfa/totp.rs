//! Authenticator apps (RFC 6238): SHA-1, 6 digits, 30-second steps, which every app supports.
//! A code is checked against the current step plus or minus the configured drift; the step it
//! matched is returned so that the caller can refuse a step already used.

use rand::rngs::OsRng;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const DIGITS: usize = 6;
pub const PERIOD: u64 = 30;
/// RFC 4226 recommends 160 bits.
const SECRET_BYTES: usize = 20;

/// What an app needs to enrol: the secret (base32), the `otpauth://` URI and its QR code.
/// Its `Debug` leaves them out: each holds the secret.
#[derive(Clone)]
pub struct Enrolment {
    pub secret: Vec<u8>,
    pub secret_base32: String,
    pub uri: String,
    /// PNG, base64.
    pub qr: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment(***)")
    }
}

pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut secret);
    secret
}

fn totp(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, String> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        PERIOD,
        secret.to_vec(),
        Some(issuer.to_string()),
        account.to_string(),
    )
    .map_err(|e| e.to_string())
}

/// The enrolment data of `secret` for `account` at `issuer`.
pub fn enrolment(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Enrolment, String> {
    let t = totp(&secret, issuer, account)?;
    // The parameters are spelled out even where they are the defaults of the key-URI format:
    // some apps assume otherwise when they are absent.
    let uri = format!(
        "{}&algorithm=SHA1&digits={DIGITS}&period={PERIOD}",
        t.get_url()
    );
    let qr = totp_rs::qrcodegen_image::draw_base64(&uri)?;
    Ok(Enrolment {
        secret_base32: t.get_secret_base32(),
        uri,
        qr,
        secret,
    })
}

/// The code of `secret` at step `step`.
pub fn code_at_step(secret: &[u8], step: u64) -> String {
    // The issuer and account do not enter the code.
    match totp(secret, "x", "x") {
        Ok(t) => t.generate(step * PERIOD),
        Err(_) => String::new(),
    }
}

/// The step `code` matches within `drift` steps of `now`, if any, newest first. Every candidate
/// is computed and compared in constant time.
pub fn matching_step(secret: &[u8], code: &str, now: u64, drift: u64) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = now / PERIOD;
    let mut found = None;
    for step in current.saturating_sub(drift)..=current + drift {
        let eq: bool = code_at_step(secret, step)
            .as_bytes()
            .ct_eq(code.as_bytes())
            .into();
        if eq {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 column (the seed "12345678901234567890"), 8 digits; an app's
    /// 6-digit code is the same HOTP value taken modulo 10^6, i.e. its last 6 digits.
    #[test]
    fn rfc_6238_sha1_vectors() {
        let seed = b"12345678901234567890";
        for (time, eight) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let t = TOTP::new_unchecked(Algorithm::SHA1, 8, 1, 30, seed.to_vec(), None, "x".into());
            assert_eq!(t.generate(time), eight, "8 digits at {time}");
            assert_eq!(
                code_at_step(seed, time / PERIOD),
                &eight[2..],
                "6 digits at {time}"
            );
        }
    }

    #[test]
    fn a_code_matches_within_the_drift_only() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let step = now / PERIOD;
        let code = |s| code_at_step(&secret, s);
        assert_eq!(matching_step(&secret, &code(step), now, 1), Some(step));
        assert_eq!(
            matching_step(&secret, &code(step - 1), now, 1),
            Some(step - 1)
        );
        assert_eq!(
            matching_step(&secret, &code(step + 1), now, 1),
            Some(step + 1)
        );
        assert_eq!(matching_step(&secret, &code(step + 2), now, 1), None);
        assert_eq!(matching_step(&secret, &code(step - 1), now, 0), None);
        assert_eq!(matching_step(&secret, "12345", now, 1), None);
        assert_eq!(matching_step(&secret, "abcdef", now, 1), None);
    }

    #[test]
    fn the_uri_names_issuer_and_account_and_holds_the_secret() {
        let e = enrolment(new_secret(), "Example", "alice").unwrap();
        assert!(
            e.uri.starts_with("otpauth://totp/Example:alice?"),
            "{}",
            e.uri
        );
        assert!(e.uri.contains(&format!("secret={}", e.secret_base32)));
        assert!(e.uri.contains("issuer=Example"));
        assert!(
            e.uri.ends_with("&algorithm=SHA1&digits=6&period=30"),
            "{}",
            e.uri
        );
        assert!(!e.qr.is_empty());
        assert_eq!(e.secret.len(), 20);
        let shown = format!("{e:?}");
        assert!(
            !shown.contains(&e.secret_base32),
            "Debug shows no secret: {shown}"
        );
    }
}

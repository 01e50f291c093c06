//! One-time codes, mfaTokens and recovery codes: generated from the OS CSPRNG, stored only as
//! keyed hashes, compared in constant time; authenticator secrets and grants sealed
//! ([`crate::store::seal`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::seal::{derive, open, seal};
use crate::store::SessionKey;

/// Keys derived from the server secret.
#[derive(Clone)]
pub struct Keys {
    secret: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    pub fn new(server_secret: [u8; 32]) -> Keys {
        Keys {
            secret: server_secret,
        }
    }

    /// HMAC-SHA256 over `parts`, each length-prefixed, under a purpose label (the store's
    /// one derivation).
    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        derive(&self.secret, purpose, parts)
    }

    /// The storage key of a session: its mfaToken never reaches the disk.
    pub fn session_key(&self, mfa_token: &str) -> SessionKey {
        SessionKey(self.mac("mfa-token", &[mfa_token.as_bytes()]))
    }

    /// A code's hash, bound to its session: the same code in another session does not match.
    pub fn code_hash(&self, session: &SessionKey, code: &str) -> String {
        hex::encode(self.mac("otp-code", &[&session.0, code.as_bytes()]))
    }

    /// The keyed hash that names a destination (phone number, address) in the send limits.
    pub fn destination_hash(&self, destination: &str) -> String {
        hex::encode(self.mac("destination", &[destination.as_bytes()]))
    }

    /// Encrypts a session's grant with a key derived from its mfaToken (never stored), bound
    /// to the session: the data directory alone does not reveal it.
    pub fn seal_grant(
        &self,
        mfa_token: &str,
        session: &SessionKey,
        grant: &[u8],
    ) -> Option<String> {
        let key = self.mac("grant-key", &[mfa_token.as_bytes()]);
        seal(&key, &session.0, grant)
    }

    /// The grant sealed by [`Keys::seal_grant`], if the token and session match.
    pub fn open_grant(
        &self,
        mfa_token: &str,
        session: &SessionKey,
        sealed: &str,
    ) -> Option<Vec<u8>> {
        let key = self.mac("grant-key", &[mfa_token.as_bytes()]);
        open(&key, &session.0, sealed)
    }

    /// Encrypts a TOTP secret under a key derived from the server secret, bound to its user.
    pub fn seal_totp(&self, username: &str, secret: &[u8]) -> Option<String> {
        seal(&self.mac("totp-key", &[]), username.as_bytes(), secret)
    }

    /// The TOTP secret sealed by [`Keys::seal_totp`] for this user.
    pub fn open_totp(&self, username: &str, sealed: &str) -> Option<Vec<u8>> {
        open(&self.mac("totp-key", &[]), username.as_bytes(), sealed)
    }

    /// A recovery code's hash, bound to its user.
    pub fn recovery_hash(&self, username: &str, normalized_code: &str) -> String {
        hex::encode(self.mac(
            "recovery-code",
            &[username.as_bytes(), normalized_code.as_bytes()],
        ))
    }
}

/// Constant-time equality of two hex hashes.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The index of the first of `candidates` equal to `hash`, looking at every candidate whatever
/// the outcome.
pub fn find_hash<'a>(hash: &str, candidates: impl Iterator<Item = &'a str>) -> Option<usize> {
    let mut found: Option<usize> = None;
    for (i, c) in candidates.enumerate() {
        let eq = same_hash(hash, c);
        if eq && found.is_none() {
            found = Some(i);
        }
    }
    found
}

/// SHA-256 comparison of an api key with the configured hashes, in constant time.
pub fn api_key_matches(key: &str, hashes: &[[u8; 32]]) -> bool {
    let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut any = subtle::Choice::from(0);
    for h in hashes {
        any |= digest.ct_eq(h);
    }
    any.into()
}

/// A new mfaToken: 256 bits from the OS CSPRNG, base64url.
pub fn new_mfa_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random id (enrolments): 128 bits, hex.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A one-time code of `length` digits, uniform over the whole code space.
pub fn new_code(length: u32) -> String {
    let space = 10u64.pow(length);
    let n = OsRng.gen_range(0..space);
    format!("{n:0width$}", width = length as usize)
}

/// Crockford's base32 alphabet: no i, l, o, u, so codes read aloud or copied by hand survive.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 12 characters of 5 bits: 60 bits each.
const RECOVERY_LEN: usize = 12;

/// `count` distinct recovery codes, shown as `xxxx-xxxx-xxxx`.
pub fn new_recovery_codes(count: usize) -> Vec<String> {
    let mut codes: Vec<String> = Vec::with_capacity(count);
    while codes.len() < count {
        let raw: String = (0..RECOVERY_LEN)
            .map(|_| RECOVERY_ALPHABET[OsRng.gen_range(0..32)] as char)
            .collect();
        let shown = format!("{}-{}-{}", &raw[0..4], &raw[4..8], &raw[8..12]);
        if !codes.contains(&shown) {
            codes.push(shown);
        }
    }
    codes
}

/// The canonical form of a typed recovery code: case, dashes and spaces do not matter, and the
/// look-alikes i/l and o read as 1 and 0.
pub fn normalize_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};

    type HmacSha256 = Hmac<Sha256>;

    #[test]
    fn the_padded_hmac_key_is_the_server_secret_itself() {
        let keys = Keys::new([42; 32]);
        let mut plain = <HmacSha256 as Mac>::new_from_slice(&[42; 32]).unwrap();
        plain.update(b"purpose");
        plain.update(&3u64.to_be_bytes());
        plain.update(b"abc");
        let expected: [u8; 32] = plain.finalize().into_bytes().into();
        assert_eq!(keys.mac("purpose", &[b"abc"]), expected);
    }

    #[test]
    fn codes_have_the_configured_length_and_cover_the_space() {
        let mut first_digits = [0u32; 10];
        for _ in 0..2000 {
            let c = new_code(6);
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            first_digits[(c.as_bytes()[0] - b'0') as usize] += 1;
        }
        // Leading zeros are kept: every first digit shows up.
        assert!(first_digits.iter().all(|&n| n > 0), "{first_digits:?}");
    }

    #[test]
    fn mfa_tokens_carry_256_bits() {
        let t = new_mfa_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&t).unwrap().len(), 32);
        assert_ne!(t, new_mfa_token());
    }

    #[test]
    fn recovery_codes_are_distinct_readable_and_normalize_back() {
        let codes = new_recovery_codes(10);
        assert_eq!(codes.len(), 10);
        let mut sorted = codes.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 10);
        for c in &codes {
            assert_eq!(c.len(), 14);
            assert_eq!(
                normalize_recovery_code(&c.to_uppercase()),
                c.replace('-', "")
            );
        }
        assert_eq!(normalize_recovery_code("IlO0-abcd"), "1100abcd");
    }

    #[test]
    fn a_code_hash_is_bound_to_its_session() {
        let keys = Keys::new([7; 32]);
        let a = keys.session_key("token-a");
        let b = keys.session_key("token-b");
        assert_ne!(keys.code_hash(&a, "123456"), keys.code_hash(&b, "123456"));
        assert!(same_hash(
            &keys.code_hash(&a, "123456"),
            &keys.code_hash(&a, "123456")
        ));
    }

    #[test]
    fn a_sealed_grant_opens_only_with_its_token_and_session() {
        let keys = Keys::new([7; 32]);
        let session = keys.session_key("token-a");
        let sealed = keys
            .seal_grant("token-a", &session, b"{\"token\":\"g\"}")
            .unwrap();
        assert!(!sealed.contains("token"));
        assert_eq!(
            keys.open_grant("token-a", &session, &sealed).unwrap(),
            b"{\"token\":\"g\"}"
        );
        assert!(keys.open_grant("token-b", &session, &sealed).is_none());
        assert!(keys
            .open_grant("token-a", &keys.session_key("token-b"), &sealed)
            .is_none());
    }

    #[test]
    fn find_hash_returns_the_first_match() {
        assert_eq!(find_hash("bb", ["aa", "bb", "bb"].into_iter()), Some(1));
        assert_eq!(find_hash("cc", ["aa", "bb"].into_iter()), None);
    }

    #[test]
    fn api_keys_are_compared_by_their_sha256() {
        let h: [u8; 32] = Sha256::digest(b"key-1").into();
        assert!(api_key_matches("key-1", &[[0; 32], h]));
        assert!(!api_key_matches("key-2", &[h]));
    }
}

//! Sealing: how a value is kept at rest so that only the server secret opens it, and only for
//! what it belongs to. A key is derived from the server secret per purpose (HMAC-SHA256 under
//! a purpose label); a value is sealed with ChaCha20-Poly1305 under that key, a random nonce,
//! and bound (as associated data) to its owner: a sealed value copied into another user's
//! record does not open. The flows seal authenticator secrets and grants with it
//! ([`crate::mfa::secrets`]); the store seals the personal values of its records ([`Seal`]).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

use super::StoreError;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed by the server secret over a purpose label and `parts`, each
/// length-prefixed: the one derivation of every key and keyed hash.
pub(crate) fn derive(server_secret: &[u8; 32], purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
    // RFC 2104 pads a key shorter than the block (64 bytes for SHA-256) with zeros: the padded
    // array is the same key, and `new` on a whole block cannot fail.
    let mut key = [0u8; 64];
    key[..32].copy_from_slice(server_secret);
    let mut mac = <HmacSha256 as KeyInit>::new(&key.into());
    mac.update(purpose.as_bytes());
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// ChaCha20-Poly1305 under `key` with a random nonce, bound to `aad`: base64url of nonce and
/// ciphertext.
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], msg: &[u8]) -> Option<String> {
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode([nonce.as_slice(), &sealed].concat()))
}

/// What [`seal`] sealed, if the key and `aad` match.
pub(crate) fn open(key: &[u8; 32], aad: &[u8], sealed: &str) -> Option<Vec<u8>> {
    let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = raw.split_at(12);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

/// What a record's sealed part belongs to: the kind of record (a profile's user data does not
/// open as a session's) and its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// The user data of an enrolment.
    Profile,
    /// The personal values of a pending session (an enrolment's user data, captured values).
    Session,
}

impl Sealed {
    fn purpose(self) -> &'static str {
        match self {
            Sealed::Profile => "profile-user-data-key",
            Sealed::Session => "session-personal-values-key",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Sealed::Profile => "profile",
            Sealed::Session => "pending session",
        }
    }
}

/// The keys that seal the personal values of stored records (phone numbers, addresses,
/// languages, messages, captured values), derived from the server secret. Its `Debug` shows no
/// key.
#[derive(Clone)]
pub struct Seal {
    profile: [u8; 32],
    session: [u8; 32],
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seal(***)")
    }
}

impl Seal {
    pub fn new(server_secret: [u8; 32]) -> Seal {
        Seal {
            profile: derive(&server_secret, Sealed::Profile.purpose(), &[]),
            session: derive(&server_secret, Sealed::Session.purpose(), &[]),
        }
    }

    fn key(&self, kind: Sealed) -> &[u8; 32] {
        match kind {
            Sealed::Profile => &self.profile,
            Sealed::Session => &self.session,
        }
    }

    /// `value` as JSON, sealed for `username`'s record of this kind.
    pub fn seal<T: Serialize>(
        &self,
        kind: Sealed,
        username: &str,
        value: &T,
    ) -> Result<String, StoreError> {
        let json = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        seal(self.key(kind), username.as_bytes(), &json).ok_or_else(|| {
            StoreError::Backend(format!(
                "the {} of {username:?} cannot be sealed",
                kind.name()
            ))
        })
    }

    /// What [`Seal::seal`] sealed for `username`'s record of this kind. Refused when the server
    /// secret is not the one it was sealed with, or the value was sealed for another user.
    pub fn open<T: DeserializeOwned>(
        &self,
        kind: Sealed,
        username: &str,
        sealed: &str,
    ) -> Result<T, StoreError> {
        let json = open(self.key(kind), username.as_bytes(), sealed).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the sealed personal values of the {} of {username:?} do not open: the server \
                 secret (storage.secret, or the data directory's server-secret file) is not the \
                 one they were sealed with, or they were sealed for another user",
                kind.name()
            ))
        })?;
        serde_json::from_slice(&json).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn phone() -> BTreeMap<String, String> {
        BTreeMap::from([("phone".to_string(), "+41791231212".to_string())])
    }

    #[test]
    fn a_sealed_value_opens_for_its_user_only() {
        let seal = Seal::new([7; 32]);
        let sealed = seal.seal(Sealed::Profile, "alice", &phone()).unwrap();
        assert!(!sealed.contains("4179"));
        let opened: BTreeMap<String, String> =
            seal.open(Sealed::Profile, "alice", &sealed).unwrap();
        assert_eq!(opened, phone());
        let err = seal
            .open::<BTreeMap<String, String>>(Sealed::Profile, "bob", &sealed)
            .unwrap_err();
        assert!(err.to_string().contains("sealed for another user"), "{err}");
        // Nor does a profile's user data open as a session's.
        assert!(seal
            .open::<BTreeMap<String, String>>(Sealed::Session, "alice", &sealed)
            .is_err());
    }

    #[test]
    fn a_wrong_server_secret_fails_clearly() {
        let sealed = Seal::new([7; 32])
            .seal(Sealed::Profile, "alice", &phone())
            .unwrap();
        let err = Seal::new([8; 32])
            .open::<BTreeMap<String, String>>(Sealed::Profile, "alice", &sealed)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a stored record cannot be read: the sealed personal values of the profile of \
             \"alice\" do not open: the server secret (storage.secret, or the data directory's \
             server-secret file) is not the one they were sealed with, or they were sealed for \
             another user"
        );
        assert!(!err.to_string().contains("4179"));
    }

    #[test]
    fn the_same_value_seals_differently_each_time() {
        let seal = Seal::new([7; 32]);
        let a = seal.seal(Sealed::Profile, "alice", &phone()).unwrap();
        let b = seal.seal(Sealed::Profile, "alice", &phone()).unwrap();
        assert_ne!(a, b);
    }
}

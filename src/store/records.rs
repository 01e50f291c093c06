//! Every persisted shape, versioned by a `"v"` tag. Version 1 is the shape of the first
//! release, personal values (user data, captured values) in clear; version 2 is version 1 with
//! those values emptied and kept sealed for the record's user in a `sealed` field
//! ([`super::seal`]). Both are read; a record with personal values is written as version 2,
//! one without as version 1 (nothing to seal, nothing to spend on it), so an old record is
//! resealed on its next write. The flows convert records to their typed state at the edge
//! (`crate::mfa::session`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Method;

use super::seal::{Seal, Sealed};
use super::StoreError;

/// A user's enrolment, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredProfile {
    /// The user data in clear (written by releases before 0.2, and when there is none).
    #[serde(rename = "1")]
    V1(Profile),
    /// The user data sealed for the user.
    #[serde(rename = "2")]
    V2(SealedProfile),
}

/// A profile of version 2: its `user_data` is empty, the user data is in `sealed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedProfile {
    #[serde(flatten)]
    pub profile: Profile,
    pub sealed: String,
}

impl StoredProfile {
    /// What `username`'s profile is stored as: version 2, its user data sealed with `seal`,
    /// or version 1 when it has none (or without `seal`: a store that keeps nothing at rest).
    pub fn sealed(
        profile: &Profile,
        username: &str,
        seal: Option<&Seal>,
    ) -> Result<StoredProfile, StoreError> {
        let Some(seal) = seal.filter(|_| !profile.user_data.is_empty()) else {
            return Ok(StoredProfile::V1(profile.clone()));
        };
        let sealed = seal.seal(Sealed::Profile, username, &profile.user_data)?;
        Ok(StoredProfile::V2(SealedProfile {
            profile: Profile {
                user_data: BTreeMap::new(),
                ..profile.clone()
            },
            sealed,
        }))
    }

    /// `username`'s profile, its user data opened with `seal`.
    pub fn open(self, username: &str, seal: Option<&Seal>) -> Result<Profile, StoreError> {
        match self {
            StoredProfile::V1(profile) => Ok(profile),
            StoredProfile::V2(SealedProfile {
                mut profile,
                sealed,
            }) => {
                profile.user_data =
                    seal.ok_or_else(no_seal)?
                        .open(Sealed::Profile, username, &sealed)?;
                Ok(profile)
            }
        }
    }
}

/// A sealed record read by a store that was given no [`Seal`].
fn no_seal() -> StoreError {
    StoreError::Corrupt("a sealed record, and no server secret to open it".to_string())
}

/// A user's enrolment. Its `Debug` shows no user data (phone numbers, addresses) and no hash.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// What was given at activate (phone, language, message, ...).
    pub user_data: BTreeMap<String, String>,
    /// Keyed hashes (hex) of the recovery codes.
    pub recovery_codes: Vec<StoredRecoveryCode>,
    pub enrolled_at: u64,
    /// Random id of this enrolment: a new one on every change.
    pub enrolment: String,
    /// The methods enrolled, in enrolment order (`sms`, `email`, `totp`); the first is the
    /// preferred one. Empty in records written before methods existed: the primary channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Method>,
    /// The authenticator app's secret, if one is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<TotpRecord>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("user_data", &self.user_data.keys().collect::<Vec<_>>())
            .field("recovery_codes", &self.recovery_codes.len())
            .field("enrolled_at", &self.enrolled_at)
            .field("enrolment", &self.enrolment)
            .field("methods", &self.methods)
            .field("totp", &self.totp.is_some())
            .finish()
    }
}

/// An enrolled authenticator: the secret sealed under the server secret, and the last step
/// used (a step is used once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpRecord {
    pub sealed: String,
    pub last_step: u64,
}

impl fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TotpRecord(***, last_step: {})", self.last_step)
    }
}

/// A recovery code as stored: its keyed hash, and when it was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecoveryCode {
    pub hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<u64>,
}

/// A pending MFA session, stored under the keyed hash of its mfaToken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredSession {
    /// Personal values in clear (or none).
    #[serde(rename = "1")]
    V1(SessionV1),
    /// Personal values sealed for the session's user.
    #[serde(rename = "2")]
    V2(SealedSession),
}

/// A session of version 2: version 1 with its enrolment's user data and its captured values
/// emptied, and both kept in `sealed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSession {
    #[serde(flatten)]
    pub session: SessionV1,
    pub sealed: String,
}

/// The personal values of a session, as sealed.
#[derive(Default, Serialize, Deserialize)]
struct SessionValues {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    user_data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    captured: BTreeMap<String, String>,
}

impl StoredSession {
    /// What `session` is stored as: version 2, its personal values sealed with `seal` for its
    /// user, or version 1 when it has none (or without `seal`).
    pub fn sealed(session: &SessionV1, seal: Option<&Seal>) -> Result<StoredSession, StoreError> {
        let mut clear = session.clone();
        let values = SessionValues {
            user_data: match &mut clear.kind {
                SessionKindV1::Activate { user_data, .. } => std::mem::take(user_data),
                SessionKindV1::Login { .. } => BTreeMap::new(),
            },
            captured: std::mem::take(&mut clear.captured),
        };
        let Some(seal) =
            seal.filter(|_| !values.user_data.is_empty() || !values.captured.is_empty())
        else {
            return Ok(StoredSession::V1(session.clone()));
        };
        let sealed = seal.seal(Sealed::Session, &session.username, &values)?;
        Ok(StoredSession::V2(SealedSession {
            session: clear,
            sealed,
        }))
    }

    /// The session, its personal values opened with `seal`.
    pub fn open(self, seal: Option<&Seal>) -> Result<SessionV1, StoreError> {
        match self {
            StoredSession::V1(session) => Ok(session),
            StoredSession::V2(SealedSession {
                mut session,
                sealed,
            }) => {
                let values: SessionValues =
                    seal.ok_or_else(no_seal)?
                        .open(Sealed::Session, &session.username, &sealed)?;
                if let SessionKindV1::Activate { user_data, .. } = &mut session.kind {
                    *user_data = values.user_data;
                }
                session.captured = values.captured;
                Ok(session)
            }
        }
    }

    /// When the session ends, read without opening it (for the sweeper).
    pub fn expires_at(&self) -> u64 {
        match self {
            StoredSession::V1(s) | StoredSession::V2(SealedSession { session: s, .. }) => {
                s.expires_at
            }
        }
    }
}

/// A pending session, version 1: the outstanding challenge as independent fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionV1 {
    pub username: String,
    pub kind: SessionKindV1,
    pub created_at: u64,
    pub expires_at: u64,
    /// The code sent in single mode, as a keyed hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<StoredCode>,
    /// Codes tried on this session, counted before they are checked.
    #[serde(default)]
    pub attempts: u32,
    /// When this session last sent a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<u64>,
    /// What the last challenge's answer held (`capture`), for the verify endpoint.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub captured: BTreeMap<String, String>,
    /// The method the last challenge went by (`sms`, `email`, `sms+email`); none: the primary
    /// channel (Pryv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenged: Option<Method>,
}

/// What a version-1 session waits for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionKindV1 {
    /// After a successful first factor: verify releases the grant.
    Login {
        /// The upstream's login answer (proxy mode), sealed with a key derived from the
        /// mfaToken, which is never stored.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sealed_grant: Option<String>,
        /// The enrolment the session was made for.
        enrolment: String,
    },
    /// An enrolment in progress: confirm saves the user data.
    Activate {
        user_data: BTreeMap<String, String>,
        /// The enrolment this one replaces (none: MFA was off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<String>,
        /// The method being enrolled; none: the primary channel (Pryv).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        method: Option<Method>,
        /// For `totp`: the new secret, sealed under the server secret.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        totp: Option<String>,
    },
}

/// A code sent by the daemon itself: its keyed hash and deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCode {
    pub hash: String,
    pub expires_at: u64,
}

/// One public request in the attempts log (Kazoo's): who, what, how it ended; never a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    /// Time-ordered: newer ids sort after older ones.
    #[serde(default)]
    pub id: String,
    pub time: u64,
    pub username: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    /// `ok`, or the error id.
    pub outcome: String,
    /// The error message given to the client (empty on success).
    pub reason: String,
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes as the first release wrote them: they read, and write back unchanged.
    #[test]
    fn version_1_records_round_trip_byte_for_byte() {
        let profile = r#"{"v":"1","user_data":{"phone":"+41791231212"},"recovery_codes":[{"hash":"aa"},{"hash":"bb","used_at":5}],"enrolled_at":1,"enrolment":"e1","methods":["sms","totp"],"totp":{"sealed":"s","last_step":7}}"#;
        let read: StoredProfile = serde_json::from_str(profile).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), profile);
        let legacy =
            r#"{"v":"1","user_data":{},"recovery_codes":[],"enrolled_at":1,"enrolment":"e1"}"#;
        let read: StoredProfile = serde_json::from_str(legacy).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), legacy);
        for session in [
            r#"{"v":"1","username":"alice","kind":{"kind":"login","sealed_grant":"g","enrolment":"e1"},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":1,"last_sent_at":1,"challenged":"sms+email"}"#,
            r#"{"v":"1","username":"alice","kind":{"kind":"activate","user_data":{"email":"a@b.cd"},"replaces":"e0","method":"email"},"created_at":1,"expires_at":2,"attempts":0,"captured":{"id":"x"},"challenged":"email"}"#,
        ] {
            let read: StoredSession = serde_json::from_str(session).unwrap();
            assert_eq!(serde_json::to_string(&read).unwrap(), session);
        }
    }

    fn profile_with(user_data: &[(&str, &str)]) -> Profile {
        Profile {
            user_data: user_data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            recovery_codes: vec![StoredRecoveryCode {
                hash: "aa".into(),
                used_at: None,
            }],
            enrolled_at: 1,
            enrolment: "e1".into(),
            methods: vec![],
            totp: None,
        }
    }

    #[test]
    fn a_profile_with_user_data_is_written_sealed_for_its_user() {
        let seal = Seal::new([7; 32]);
        let profile = profile_with(&[("phone", "+41791231212"), ("email", "a@b.cd")]);
        let stored = StoredProfile::sealed(&profile, "alice", Some(&seal)).unwrap();
        let json = serde_json::to_string(&stored).unwrap();
        assert!(
            json.starts_with(r#"{"v":"2","user_data":{},"recovery_codes""#),
            "{json}"
        );
        assert!(
            !json.contains("41791231212") && !json.contains("a@b.cd"),
            "{json}"
        );
        let read: StoredProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(read.clone().open("alice", Some(&seal)).unwrap(), profile);
        // Copied into bob's record, it does not open.
        assert!(read.clone().open("bob", Some(&seal)).is_err());
        assert!(read.open("alice", None).is_err());
    }

    #[test]
    fn a_profile_without_user_data_and_an_old_clear_one_are_version_1() {
        let seal = Seal::new([7; 32]);
        let totp_only = profile_with(&[]);
        let stored = StoredProfile::sealed(&totp_only, "bob", Some(&seal)).unwrap();
        assert_eq!(stored, StoredProfile::V1(totp_only));
        // Written by v0.1: read as it is, with its user data in clear.
        let old: StoredProfile = serde_json::from_str(
            r#"{"v":"1","user_data":{"phone":"+41791231212"},"recovery_codes":[],"enrolled_at":1,"enrolment":"e1"}"#,
        )
        .unwrap();
        let opened = old.open("alice", Some(&seal)).unwrap();
        assert_eq!(opened.user_data["phone"], "+41791231212");
        // And resealed when written again.
        let rewritten = StoredProfile::sealed(&opened, "alice", Some(&seal)).unwrap();
        assert!(matches!(rewritten, StoredProfile::V2(_)));
    }

    #[test]
    fn a_session_with_personal_values_is_written_sealed_and_one_without_as_before() {
        let seal = Seal::new([7; 32]);
        let enrolment = r#"{"v":"1","username":"alice","kind":{"kind":"activate","user_data":{"email":"a@b.cd"},"replaces":"e0","method":"email"},"created_at":1,"expires_at":2,"attempts":0,"captured":{"id":"x-41791231212"},"challenged":"email"}"#;
        let StoredSession::V1(session) = serde_json::from_str(enrolment).unwrap() else {
            panic!("version 1")
        };
        let stored = StoredSession::sealed(&session, Some(&seal)).unwrap();
        assert_eq!(stored.expires_at(), 2);
        let json = serde_json::to_string(&stored).unwrap();
        assert!(
            !json.contains("a@b.cd") && !json.contains("41791231212"),
            "{json}"
        );
        assert!(json.starts_with(r#"{"v":"2","username":"alice""#), "{json}");
        let read: StoredSession = serde_json::from_str(&json).unwrap();
        assert_eq!(read.clone().open(Some(&seal)).unwrap(), session);
        let mut moved = read;
        if let StoredSession::V2(s) = &mut moved {
            s.session.username = "bob".into();
        }
        assert!(moved.open(Some(&seal)).is_err());

        let login = r#"{"v":"1","username":"alice","kind":{"kind":"login","sealed_grant":"g","enrolment":"e1"},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":1,"last_sent_at":1,"challenged":"sms+email"}"#;
        let StoredSession::V1(session) = serde_json::from_str(login).unwrap() else {
            panic!("version 1")
        };
        let stored = StoredSession::sealed(&session, Some(&seal)).unwrap();
        assert_eq!(serde_json::to_string(&stored).unwrap(), login);
    }

    #[test]
    fn a_profile_debug_shows_no_user_data() {
        let profile: StoredProfile = serde_json::from_str(
            r#"{"v":"1","user_data":{"phone":"+41791231212"},"recovery_codes":[],"enrolled_at":1,"enrolment":"e1","totp":{"sealed":"sealed-secret","last_step":7}}"#,
        )
        .unwrap();
        let printed = format!("{profile:?}");
        assert!(!printed.contains("+4179") && !printed.contains("sealed-secret"));
    }
}

//! Every persisted shape, versioned by a `"v"` tag. The bytes on disk are those of the
//! first release: a record of version 1 is read and written as it always was, and the flows
//! convert it to their typed state at the edge (`crate::mfa::session`). A later version would
//! be a new variant, read from the old one with `From<…V1>`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Method;

/// A user's enrolment, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredProfile {
    #[serde(rename = "1")]
    V1(Profile),
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
    /// For an enrolment code an admin issued (`POST /api/users/{username}/enrolment-code`):
    /// when it stops working. Such a code is not one of the user's set of recovery codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl StoredRecoveryCode {
    /// Not used yet, and not expired at `now`.
    pub fn usable_at(&self, now: u64) -> bool {
        self.used_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// One of the user's own set (not an enrolment code an admin issued).
    pub fn is_own(&self) -> bool {
        self.expires_at.is_none()
    }
}

/// A pending MFA session, stored under the keyed hash of its mfaToken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "v")]
pub enum StoredSession {
    #[serde(rename = "1")]
    V1(SessionV1),
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
    /// For an admin action (`/api/users/...`): the name of the admin token that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes as the first release wrote them: they read, and write back unchanged.
    #[test]
    fn version_1_records_round_trip_byte_for_byte() {
        let profile = r#"{"v":"1","user_data":{"phone":"+41791231212"},"recovery_codes":[{"hash":"aa"},{"hash":"bb","used_at":5},{"hash":"cc","expires_at":9}],"enrolled_at":1,"enrolment":"e1","methods":["sms","totp"],"totp":{"sealed":"s","last_step":7}}"#;
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

//! A pending session as the flows see it: what it waits for ([`Pending`]) and the challenge
//! it holds ([`Outstanding`]), converted from and to the stored record at the edge.

use std::collections::BTreeMap;

use crate::config::Mode;
use crate::domain::Method;
use crate::snapshot::Snapshot;
use crate::store::{SessionKindV1, SessionV1, StoredCode};

/// A pending MFA session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Session {
    pub username: String,
    pub pending: Pending,
    pub created_at: u64,
    pub expires_at: u64,
    /// Codes tried on this session, counted before they are checked.
    pub attempts: u32,
    /// When this session last sent a code.
    pub last_sent_at: Option<u64>,
    pub outstanding: Outstanding,
}

/// What a session waits for.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Pending {
    /// An enrolment in progress: confirm saves it.
    Enrol {
        /// The method being enrolled; none: the primary channel (Pryv's format).
        method: Option<Method>,
        user_data: BTreeMap<String, String>,
        /// The enrolment this one replaces (none: MFA was off). The session dies when the
        /// user's enrolment is no longer that one.
        replaces: Option<String>,
        /// For an authenticator: the new secret, sealed under the server secret.
        secret: Option<String>,
    },
    /// A login past its first factor: verify releases the grant.
    Login {
        /// The enrolment the session was made for: it dies with it.
        enrolment: String,
        /// The upstream's answer (proxy mode), sealed under a key from the mfaToken.
        grant: Option<String>,
    },
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pending::Enrol { method, .. } => write!(f, "Pending::Enrol({method:?})"),
            Pending::Login { .. } => f.write_str("Pending::Login"),
        }
    }
}

/// The challenge a session holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outstanding {
    /// Nothing sent yet.
    None,
    /// A code the daemon made and sent (single mode): its keyed hash and deadline.
    OwnCode {
        code: StoredCode,
        /// The method it went by; none: the primary channel (Pryv's format).
        method: Option<Method>,
    },
    /// A code the provider made (challenge-verify mode), and what its answer held for the
    /// verify endpoint.
    ProviderCode {
        method: Option<Method>,
        captured: BTreeMap<String, String>,
        /// The provider that started the verification (its name): the verify goes to it.
        /// None in a record from before providers had names: the channel's first provider.
        provider: Option<String>,
    },
}

/// The key under which a version-1 record's `captured` values keep the provider that started
/// the verification: not a variable name, so no capture can be called so, and a record
/// without it (written before) reads as it always did.
const PROVIDER_KEY: &str = "@provider";

impl Outstanding {
    /// The method the last challenge went by, if it named one.
    pub fn method(&self) -> Option<Method> {
        match self {
            Outstanding::None => None,
            Outstanding::OwnCode { method, .. } | Outstanding::ProviderCode { method, .. } => {
                *method
            }
        }
    }

    /// The provider that started a verification, when the session names one.
    pub fn provider(&self) -> Option<&str> {
        match self {
            Outstanding::ProviderCode { provider, .. } => provider.as_deref(),
            _ => None,
        }
    }

    pub fn own_code(&self) -> Option<&StoredCode> {
        match self {
            Outstanding::OwnCode { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn captured(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Outstanding::ProviderCode { captured, .. } => Some(captured),
            _ => None,
        }
    }
}

impl Session {
    /// Reads a version-1 record. Its challenge is in independent fields: a record in which a
    /// challenge by one channel followed one by another may hold both a code and captured
    /// values; the mode of the channel last challenged (as the configuration has it now)
    /// says which is current, as it did when the record was checked.
    pub fn from_v1(record: SessionV1, snap: &Snapshot) -> Session {
        let SessionV1 {
            username,
            kind,
            created_at,
            expires_at,
            code,
            attempts,
            last_sent_at,
            captured,
            challenged,
        } = record;
        let pending = match kind {
            SessionKindV1::Login {
                sealed_grant,
                enrolment,
            } => Pending::Login {
                enrolment,
                grant: sealed_grant,
            },
            SessionKindV1::Activate {
                user_data,
                replaces,
                method,
                totp,
            } => Pending::Enrol {
                method,
                user_data,
                replaces,
                secret: totp,
            },
        };
        let empty = captured.is_empty();
        let mut captured = captured;
        let provider = captured.remove(PROVIDER_KEY);
        let outstanding = match (code, empty) {
            (None, true) if challenged.is_none() => Outstanding::None,
            (None, _) => Outstanding::ProviderCode {
                method: challenged,
                captured,
                provider,
            },
            (Some(_), false) if !sends_own_code(snap, challenged) => Outstanding::ProviderCode {
                method: challenged,
                captured,
                provider,
            },
            (Some(code), _) => Outstanding::OwnCode {
                code,
                method: challenged,
            },
        };
        Session {
            username,
            pending,
            created_at,
            expires_at,
            attempts,
            last_sent_at,
            outstanding,
        }
    }

    /// The record of version 1 that holds this session.
    pub fn to_v1(&self) -> SessionV1 {
        let kind = match &self.pending {
            Pending::Enrol {
                method,
                user_data,
                replaces,
                secret,
            } => SessionKindV1::Activate {
                user_data: user_data.clone(),
                replaces: replaces.clone(),
                method: *method,
                totp: secret.clone(),
            },
            Pending::Login { enrolment, grant } => SessionKindV1::Login {
                sealed_grant: grant.clone(),
                enrolment: enrolment.clone(),
            },
        };
        let (code, captured) = match &self.outstanding {
            Outstanding::None => (None, BTreeMap::new()),
            Outstanding::OwnCode { code, .. } => (Some(code.clone()), BTreeMap::new()),
            Outstanding::ProviderCode {
                captured, provider, ..
            } => {
                let mut all = captured.clone();
                if let Some(name) = provider {
                    all.insert(PROVIDER_KEY.to_string(), name.clone());
                }
                (None, all)
            }
        };
        SessionV1 {
            username: self.username.clone(),
            kind,
            created_at: self.created_at,
            expires_at: self.expires_at,
            code,
            attempts: self.attempts,
            last_sent_at: self.last_sent_at,
            captured,
            challenged: self.outstanding.method(),
        }
    }

    pub fn is_enrolment(&self) -> bool {
        matches!(self.pending, Pending::Enrol { .. })
    }
}

/// Whether a challenge by `method` (none: the primary channel) is checked against the
/// daemon's own code: two channels at once, or a channel in single mode.
fn sends_own_code(snap: &Snapshot, method: Option<Method>) -> bool {
    match method.unwrap_or(Method::Channel(snap.config.mfa.channel)) {
        Method::Dual => true,
        Method::Channel(c) => snap
            .channel(c)
            .is_none_or(|(cfg, _)| cfg.mode == Mode::Single),
        Method::Totp => true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;
    use crate::store::StoredSession;

    fn read(json: &str) -> SessionV1 {
        serde_json::from_str::<StoredSession>(json)
            .unwrap()
            .open(None)
            .unwrap()
    }

    #[test]
    fn version_1_sessions_convert_both_ways_unchanged() {
        let h = Harness::new();
        for json in [
            // A login before any challenge; after an SMS challenge; after a provider's.
            r#"{"v":"1","username":"alice","kind":{"kind":"login","enrolment":"e1"},"created_at":1,"expires_at":2,"attempts":0}"#,
            r#"{"v":"1","username":"alice","kind":{"kind":"login","sealed_grant":"g","enrolment":"e1"},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":1,"last_sent_at":1,"challenged":"sms"}"#,
            r#"{"v":"1","username":"alice","kind":{"kind":"login","enrolment":"e1"},"created_at":1,"expires_at":2,"attempts":0,"last_sent_at":1,"captured":{"id":"x"},"challenged":"email"}"#,
            // Enrolments in Pryv's format (no method), by an authenticator, by two channels.
            r#"{"v":"1","username":"alice","kind":{"kind":"activate","user_data":{"phone":"+41791231212"}},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":0,"last_sent_at":1}"#,
            r#"{"v":"1","username":"alice","kind":{"kind":"activate","user_data":{},"replaces":"e0","method":"totp","totp":"sealed"},"created_at":1,"expires_at":2,"attempts":0}"#,
            r#"{"v":"1","username":"alice","kind":{"kind":"activate","user_data":{},"method":"sms+email"},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":0,"last_sent_at":1,"challenged":"sms+email"}"#,
        ] {
            let record = read(json);
            let typed = Session::from_v1(record.clone(), &h.snap);
            assert_eq!(typed.to_v1(), record, "{json}");
            let bytes = serde_json::to_string(&StoredSession::V1(typed.to_v1())).unwrap();
            assert_eq!(bytes, json);
        }
    }

    #[test]
    fn the_provider_that_started_a_verification_is_kept_beside_the_captured_values() {
        let h = Harness::new();
        let json = r#"{"v":"1","username":"alice","kind":{"kind":"login","enrolment":"e1"},"created_at":1,"expires_at":2,"attempts":0,"last_sent_at":1,"captured":{"@provider":"twilio-verify","id":"x"},"challenged":"email"}"#;
        let record = read(json);
        let typed = Session::from_v1(record.clone(), &h.snap);
        assert_eq!(typed.outstanding.provider(), Some("twilio-verify"));
        assert_eq!(
            typed.outstanding.captured().unwrap().len(),
            1,
            "only the capture"
        );
        assert_eq!(typed.to_v1(), record);
        // A record from before: no provider, the channel's first is asked.
        let old = read(
            r#"{"v":"1","username":"alice","kind":{"kind":"login","enrolment":"e1"},"created_at":1,"expires_at":2,"attempts":0,"last_sent_at":1,"captured":{"id":"x"},"challenged":"email"}"#,
        );
        assert_eq!(Session::from_v1(old, &h.snap).outstanding.provider(), None);
    }

    #[test]
    fn a_code_and_captured_values_together_are_read_by_the_mode_of_the_last_channel() {
        let h = Harness::new();
        // SMS is in single mode here: the code is current, the captured values are stale.
        let both = read(
            r#"{"v":"1","username":"alice","kind":{"kind":"login","enrolment":"e1"},"created_at":1,"expires_at":2,"code":{"hash":"h","expires_at":3},"attempts":0,"captured":{"id":"x"},"challenged":"sms"}"#,
        );
        let typed = Session::from_v1(both, &h.snap);
        assert!(typed.outstanding.own_code().is_some());
        assert!(typed.outstanding.captured().is_none());
    }
}

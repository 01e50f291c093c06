//! What a user proves with, parsed from a request once: codes, recovery codes, mfaTokens and
//! step-up proofs. None of them prints its value: their `Debug` is redacted.

use std::fmt;

/// Writes `Name(***)`: a credential's `Debug` never shows the secret.
macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(***)"))
            }
        }
    };
}

/// A one-time code as the client typed it (sent by a channel, or from an authenticator app).
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub fn new(raw: String) -> OtpCode {
        OtpCode(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

redacted_debug!(OtpCode);

/// The token of a pending MFA session, handed out by login and activate.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaToken(String);

impl MfaToken {
    pub fn new(raw: String) -> MfaToken {
        MfaToken(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

redacted_debug!(MfaToken);

/// One of the recovery codes given at confirm, as the client typed it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub fn new(raw: String) -> RecoveryCode {
        RecoveryCode(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

redacted_debug!(RecoveryCode);

/// The rest of a client's JSON body, forwarded to the upstream as it is (a recover in proxy
/// mode logs in with it): it holds the password, so it is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct ForwardedBody(bytes::Bytes);

impl ForwardedBody {
    pub fn new(raw: bytes::Bytes) -> ForwardedBody {
        ForwardedBody(raw)
    }
    pub fn into_bytes(self) -> bytes::Bytes {
        self.0
    }
}

redacted_debug!(ForwardedBody);

/// Proof of presence for changes to an enrolment. Its `Debug` leaves the proof out.
#[derive(Clone, PartialEq, Eq)]
pub enum StepUp {
    /// Proxy mode: the user's password, checked by a login to the upstream.
    Password { password: String, app_id: String },
    /// A recovery code (used up by the step-up), or a current code of the enrolled
    /// authenticator app.
    Code(String),
}

impl fmt::Debug for StepUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepUp::Password { .. } => "StepUp::Password(***)",
            StepUp::Code(_) => "StepUp::Code(***)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credential_prints_its_value() {
        let printed = format!(
            "{:?} {:?} {:?} {:?} {:?}",
            OtpCode::new("123456".into()),
            MfaToken::new("tok-secret".into()),
            RecoveryCode::new("abcd-efgh".into()),
            StepUp::Code("654321".into()),
            StepUp::Password {
                password: "hunter2".into(),
                app_id: "app".into()
            },
        );
        for secret in ["123456", "tok-secret", "abcd-efgh", "654321", "hunter2"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}

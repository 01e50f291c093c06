//! What the flows answer when they succeed.

use crate::domain::{Method, MfaToken, Username};
use crate::provider::Reply;

use super::totp;

/// What a login gives.
#[derive(Debug)]
pub enum LoginOutcome {
    /// MFA is on: the grant waits for a verify.
    MfaRequired {
        mfa_token: MfaToken,
        /// The methods the user can answer with, preferred first.
        methods: Vec<Method>,
    },
    /// Proxy mode, MFA off: the upstream's answer as it came.
    Passed(Reply),
    /// Standalone mode, MFA off.
    Inactive,
}

/// What a successful verify releases.
#[derive(Debug)]
pub enum Verified {
    /// Proxy mode: the upstream's login answer, kept since the login.
    Grant(Reply),
    /// Standalone mode.
    User(Username),
}

/// What activate answers: the mfaToken, and for an authenticator what the app needs.
#[derive(Debug)]
pub struct Activation {
    pub mfa_token: MfaToken,
    pub totp: Option<totp::Enrolment>,
}

/// What confirm answers: the new recovery codes (shown once) and the methods now enrolled.
pub struct Confirmed {
    pub recovery_codes: Vec<String>,
    pub methods: Vec<Method>,
}

impl std::fmt::Debug for Confirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmed")
            .field("recovery_codes", &"***")
            .field("methods", &self.methods)
            .finish()
    }
}

/// What `GET /{username}/mfa` shows: what is enrolled, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub enabled: bool,
    pub methods: Vec<Method>,
    pub enrolled_at: Option<u64>,
    pub recovery_codes_remaining: Option<usize>,
}

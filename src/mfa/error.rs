//! Why a flow did not succeed, as data: which field, which rule. The words a client reads are
//! written by `crate::http::error` alone.

use crate::config::{Channel, Mode};
use crate::domain::Method;
use crate::provider::Reply;
use crate::store::StoreError;

/// Why a flow did not succeed. The web layer turns each into one Pryv-style error.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("no access token given")]
    MissingToken,
    #[error("unknown, expired or foreign mfa session")]
    InvalidSession,
    #[error("too many wrong codes on one session")]
    SessionLocked,
    #[error("the api key is not valid")]
    InvalidApiKey,
    #[error("the token is not accepted for this operation")]
    NotPersonal,
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    #[error("invalid parameter: {0:?}")]
    InvalidParameter(Invalid),
    #[error("wrong or expired code")]
    InvalidCode,
    #[error("wrong recovery code")]
    InvalidRecoveryCode,
    #[error("a step-up is needed: {0:?}")]
    StepUpRequired(StepUpNeeded),
    #[error("too many attempts: {remaining} s to wait")]
    TooManyAttempts { remaining: u64 },
    #[error("messaging service failure: {0:?}")]
    Messaging(Messaging),
    #[error("the upstream refused with status {}", .0.status)]
    UpstreamRefused(Reply),
    #[error("the upstream failed: {0}")]
    UpstreamUnavailable(String),
    /// The store cannot be reached now (its database is down): the same request may
    /// succeed later. Nothing the flow would have answered after it leaves (no grant).
    #[error("storage unavailable: {0}")]
    StorageUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// An engine that cannot be reached is [`FlowError::StorageUnavailable`] (503, try again);
/// any other store failure stays internal (500).
impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => FlowError::StorageUnavailable(reason),
            other => FlowError::Internal(other.to_string()),
        }
    }
}

impl From<Invalid> for FlowError {
    fn from(e: Invalid) -> Self {
        FlowError::InvalidParameter(e)
    }
}

/// A parameter that breaks a rule. Fields are named, values never carried (a phone number
/// or an address must not come back in an answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// A user-data key the configuration does not allow (shortened, printable).
    UnknownParameter {
        key: String,
        allowed: Vec<String>,
    },
    /// A value that must be a string (user data, `method`).
    NotAString {
        field: String,
    },
    TooLong {
        field: String,
        max: usize,
    },
    ContainsNul {
        field: String,
    },
    NotE164 {
        field: String,
    },
    NotEmail {
        field: String,
    },
    /// None of `fields` was given (one of them is needed).
    Missing {
        fields: Vec<String>,
    },
    /// A phone number under a prefix of `mfa.destinations.deny`.
    DestinationDenied {
        field: String,
        prefix: String,
    },
    /// A phone number under no prefix of `mfa.destinations.allow`.
    DestinationNotAllowed {
        field: String,
        allowed: Vec<String>,
    },
    /// A channel `mfa.channels` does not configure.
    ChannelNotConfigured {
        channel: Channel,
    },
    MethodNotEnrolled {
        method: Method,
        enrolled: Vec<Method>,
    },
    /// A name that is not a method (shortened, without control characters).
    UnknownMethod {
        name: String,
    },
    TotpNotEnabled,
    /// `sms+email` sends one code on both channels: `channel` is in another mode.
    DualNeedsSingleMode {
        channel: Channel,
        mode: Mode,
    },
    /// A user-data value that cannot be placed in a header.
    NotForHeader {
        variable: String,
        header: String,
    },
    /// A user-data value (or code) that would leave its url path segment empty, `.` or `..`.
    NotForPath {
        variable: String,
    },
    MfaNotActive,
}

/// What a step-up would have accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepUpNeeded {
    /// None was given: the password, a recovery code or an authenticator code.
    AnyProof,
    /// A password without an upstream to check it.
    NotAPassword,
}

/// How the messaging service failed a send or a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Messaging {
    /// It answered, outside the endpoint's `success`.
    Refused { status: u16 },
    /// Its challenge answer is not JSON, so nothing can be captured.
    ChallengeNotJson,
    /// Its challenge answer lacks a value the configuration captures.
    CaptureMissing { name: String, json_path: String },
    /// The request could not be rendered (the template layer's reason).
    Render(String),
    /// The request got no answer (the provider layer's reason).
    Send(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_store_is_storage_unavailable_and_any_other_failure_internal() {
        let down = FlowError::from(StoreError::Unavailable("connection refused".into()));
        assert!(
            matches!(&down, FlowError::StorageUnavailable(r) if r == "connection refused"),
            "{down:?}"
        );
        for other in [
            StoreError::Backend("disk full".into()),
            StoreError::Corrupt("bad json".into()),
        ] {
            let e = FlowError::from(other);
            assert!(matches!(e, FlowError::Internal(_)), "{e:?}");
        }
    }
}

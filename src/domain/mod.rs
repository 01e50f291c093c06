//! Values parsed once at the edge, so that inner code never re-validates strings.

use std::fmt;

use regex::Regex;

mod channel;
mod credentials;
mod method;
pub mod names;
mod secret;

pub use channel::{Channel, Destination};
pub use credentials::{ForwardedBody, MfaToken, OtpCode, RecoveryCode, StepUp};
pub use method::Method;
pub use secret::{Secret, Secrets};

/// A username that matched the configured pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 100;

    pub fn parse(raw: &str, pattern: &Regex) -> Option<Username> {
        (raw.len() <= Self::MAX_LEN && pattern.is_match(raw)).then(|| Username(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bearer credential from a request (mfaToken, personal token or api key): never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    pub fn new(raw: String) -> AccessToken {
        AccessToken(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_must_match_the_pattern_and_stay_short() {
        let re = Regex::new(crate::config::DEFAULT_USERNAME_PATTERN).unwrap();
        assert!(Username::parse("alice-01", &re).is_some());
        assert!(Username::parse("a/../b", &re).is_none());
        assert!(Username::parse("", &re).is_none());
        assert!(Username::parse(&"a".repeat(101), &re).is_none());
    }
}

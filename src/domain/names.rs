//! The lexical names of the template dialect: what a variable may be called, and the names the
//! daemon fills itself. Both the configuration (user-data fields, captures, preset vars) and the
//! templates check names against these, so they sit below both.

use std::sync::OnceLock;

use regex::Regex;

/// Names that user data may not use: they are filled by the daemon itself (`message` is not
/// one: a user-data `message`, which Pryv clients send, wins over the message texts).
pub const RESERVED_VARIABLES: [&str; 12] = [
    "code",
    "username",
    "token",
    "method",
    "password",
    "appId",
    "subject",
    "html",
    "locale",
    "message_type",
    "send_id",
    "status_callback",
];

/// Whether `name` can be a template variable: letters, digits and `_`, not starting with a
/// digit.
pub fn is_variable_name(name: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[A-Za-z_][A-Za-z0-9_]*$").ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name))
}

/// Whether `name` is one the daemon fills itself.
pub fn is_reserved(name: &str) -> bool {
    RESERVED_VARIABLES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_name_is_an_identifier() {
        for good in ["phone", "_x", "a1", "appId"] {
            assert!(is_variable_name(good), "{good}");
        }
        for bad in ["", "1a", "a-b", "a.b", "a b", "é"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_daemon_s_own_names_are_reserved_but_message_is_not() {
        assert!(is_reserved("code"));
        assert!(is_reserved("locale"));
        assert!(is_reserved("send_id"));
        assert!(is_reserved("status_callback"));
        assert!(!is_reserved("message"));
        assert!(!is_reserved("phone"));
    }
}

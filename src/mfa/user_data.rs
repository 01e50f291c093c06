//! User data given at activate, checked against `mfa.user_data`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::config::{Channel, UserDataRules};
use crate::domain::Destination;

use super::error::{FlowError, Invalid};

/// An E.164 phone number: `+`, a first digit that is not 0, then 6 to 14 more digits.
pub fn is_e164_number(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// User data as a client gave it: each key with its value, if the value is text.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GivenUserData(Vec<(String, Option<String>)>);

impl GivenUserData {
    /// Each key with its value; `None` for a value that is not a string.
    pub fn new(entries: Vec<(String, Option<String>)>) -> GivenUserData {
        GivenUserData(entries)
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for GivenUserData {
    fn from(body: serde_json::Map<String, serde_json::Value>) -> GivenUserData {
        GivenUserData(
            body.into_iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, Some(s)),
                    _ => (k, None),
                })
                .collect(),
        )
    }
}

impl std::fmt::Debug for GivenUserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        write!(f, "GivenUserData({keys:?})")
    }
}

/// Checks user data given at activate; errors name the field, never carry its value.
/// With `check_required` false (an authenticator's enrolment, which sends nothing), the
/// required fields may be left out.
pub fn parse(
    given: &GivenUserData,
    rules: &UserDataRules,
    check_required: bool,
) -> Result<BTreeMap<String, String>, FlowError> {
    let mut out = BTreeMap::new();
    for (key, value) in &given.0 {
        if !rules.allowed.contains(key) {
            return Err(Invalid::UnknownParameter {
                key: printable(key),
                allowed: rules.allowed.iter().cloned().collect(),
            }
            .into());
        }
        let field = || key.clone();
        let Some(s) = value else {
            return Err(Invalid::NotAString { field: field() }.into());
        };
        if s.chars().count() > rules.max_length {
            return Err(Invalid::TooLong {
                field: field(),
                max: rules.max_length,
            }
            .into());
        }
        if s.contains('\0') {
            return Err(Invalid::ContainsNul { field: field() }.into());
        }
        if rules.phone_fields.contains(key) && !is_e164_number(s) {
            return Err(Invalid::NotE164 { field: field() }.into());
        }
        if rules.email_fields.contains(key) && !is_email_address(s) {
            return Err(Invalid::NotEmail { field: field() }.into());
        }
        out.insert(key.clone(), s.clone());
    }
    for key in rules.required.iter().filter(|_| check_required) {
        if out.get(key).is_none_or(|v| v.is_empty()) {
            return Err(Invalid::Missing {
                fields: vec![key.clone()],
            }
            .into());
        }
    }
    Ok(out)
}

/// A send by `channel` needs somewhere to go: one of the phone fields (SMS, voice, WhatsApp)
/// or email fields (email), when the configuration names some.
pub fn require_destination(
    user_data: &BTreeMap<String, String>,
    rules: &UserDataRules,
    channel: Channel,
) -> Result<(), FlowError> {
    let fields = match channel.destination() {
        Destination::Phone => &rules.phone_fields,
        Destination::Email => &rules.email_fields,
    };
    if fields.is_empty()
        || fields
            .iter()
            .any(|f| user_data.get(f).is_some_and(|v| !v.is_empty()))
    {
        return Ok(());
    }
    Err(Invalid::Missing {
        fields: fields.iter().cloned().collect(),
    }
    .into())
}

/// An address a provider can deliver to: `local@domain`, the local part without spaces, quotes
/// or brackets (no quoted forms), the domain a DNS name with a dot (IDNs in their `xn--` form),
/// 254 characters at most.
pub fn is_email_address(s: &str) -> bool {
    // The pattern is a literal, proven by the unit tests: were it ever refused, no address would
    // pass (refused, never sent).
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(re) = RE
        .get_or_init(|| {
            Regex::new(
                r#"^[^\s@<>()\[\],;:"\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"#,
            )
            .ok()
        })
        .as_ref()
    else {
        return false;
    };
    s.len() <= 254
        && !s.chars().any(char::is_control)
        && !s.starts_with('.')
        && !s.contains("..")
        && !s.contains(".@")
        && re.is_match(s)
}

/// A key as it may be shown back: short, without control characters.
fn printable(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> UserDataRules {
        UserDataRules {
            required: vec!["phone".into()],
            allowed: ["phone", "language", "email"]
                .into_iter()
                .map(String::from)
                .collect(),
            phone_fields: ["phone"].into_iter().map(String::from).collect(),
            email_fields: ["email"].into_iter().map(String::from).collect(),
            max_length: 20,
        }
    }

    fn body(v: serde_json::Value) -> GivenUserData {
        v.as_object().unwrap().clone().into()
    }

    fn invalid(r: Result<BTreeMap<String, String>, FlowError>) -> Invalid {
        match r {
            Err(FlowError::InvalidParameter(i)) => i,
            other => panic!("{other:?}"),
        }
    }

    fn field(name: &str) -> String {
        name.to_string()
    }

    #[test]
    fn valid_user_data_is_kept() {
        let d = parse(
            &body(serde_json::json!({"phone": "+41791231212", "language": "fr"})),
            &rules(),
            true,
        )
        .unwrap();
        assert_eq!(d["language"], "fr");
    }

    #[test]
    fn each_problem_names_the_field_without_echoing_the_value() {
        let i = invalid(parse(
            &body(serde_json::json!({"phone": "0791231212"})),
            &rules(),
            true,
        ));
        assert_eq!(
            i,
            Invalid::NotE164 {
                field: field("phone")
            }
        );
        assert!(!format!("{i:?}").contains("0791231212"));
        let i = invalid(parse(
            &body(serde_json::json!({"phone": "+41791231212", "colour": "x"})),
            &rules(),
            true,
        ));
        assert!(matches!(i, Invalid::UnknownParameter { key, .. } if key == "colour"));
        let i = invalid(parse(
            &body(serde_json::json!({"language": "fr"})),
            &rules(),
            true,
        ));
        assert_eq!(
            i,
            Invalid::Missing {
                fields: vec![field("phone")]
            }
        );
        // An authenticator's enrolment sends nothing: nothing is required.
        assert!(parse(&body(serde_json::json!({})), &rules(), false).is_ok());
        let i = invalid(parse(
            &body(serde_json::json!({"phone": "+41791231212", "language": "x".repeat(21)})),
            &rules(),
            true,
        ));
        assert_eq!(
            i,
            Invalid::TooLong {
                field: field("language"),
                max: 20
            }
        );
        let i = invalid(parse(
            &body(serde_json::json!({"phone": 41791231212u64})),
            &rules(),
            true,
        ));
        assert_eq!(
            i,
            Invalid::NotAString {
                field: field("phone")
            }
        );
    }

    #[test]
    fn phone_numbers_are_e164() {
        for ok in ["+41791231212", "+1234567", "+123456789012345"] {
            assert!(is_e164_number(ok), "{ok}");
        }
        for bad in [
            "",
            "+",
            "41791231212",
            "+0791231212",
            "+123456",
            "+1234567890123456",
            "+4179 123",
            "+4179123121a",
            "++41791231212",
            "+٤١٧٩١٢٣١٢١٢",
        ] {
            assert!(!is_e164_number(bad), "{bad:?}");
        }
    }

    #[test]
    fn email_addresses_are_checked() {
        for ok in [
            "alice@example.com",
            "a.b+tag@sub.example.co.uk",
            "x@xn--bcher-kva.ch",
            "o'hara@example.org",
        ] {
            assert!(is_email_address(ok), "{ok}");
        }
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "alice@example..com",
            "al ice@example.com",
            "alice@exa mple.com",
            "alice@example.com\r\nBcc: x@y.z",
            "\"a\"@example.com",
            ".alice@example.com",
            "alice.@example.com",
            "a..b@example.com",
            "alice@-example.com",
            "alice@example.com>",
        ] {
            assert!(!is_email_address(bad), "{bad:?}");
        }
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(63));
        assert!(is_email_address(&long));
        assert!(!is_email_address(&format!(
            "{}@example.com",
            "a".repeat(65)
        )));
    }

    #[test]
    fn an_email_field_must_hold_an_address() {
        let r = rules();
        assert!(parse(
            &body(json!({"phone": "+41791231212", "email": "a@example.com"})),
            &r,
            true
        )
        .is_ok());
        let err = parse(
            &body(json!({"phone": "+41791231212", "email": "nope"})),
            &r,
            true,
        )
        .unwrap_err();
        let FlowError::InvalidParameter(i) = err else {
            panic!()
        };
        assert_eq!(
            i,
            Invalid::NotEmail {
                field: field("email")
            }
        );
    }
}

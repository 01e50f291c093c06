//! User data given at activate, checked against `mfa.user_data`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;

use crate::config::UserDataRules;

use super::FlowError;

fn e164() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^\+[1-9][0-9]{6,14}$").expect("static regex"))
}

/// Checks an activate body; errors name the field, never echo its value.
pub fn parse(
    body: &serde_json::Map<String, serde_json::Value>,
    rules: &UserDataRules,
) -> Result<BTreeMap<String, String>, FlowError> {
    let mut out = BTreeMap::new();
    for (key, value) in body {
        if !rules.allowed.contains(key) {
            let allowed: Vec<&str> = rules.allowed.iter().map(String::as_str).collect();
            return Err(FlowError::InvalidParameter(format!(
                "Unknown parameter: {}. Allowed: {}.",
                printable(key),
                allowed.join(", ")
            )));
        }
        let serde_json::Value::String(s) = value else {
            return Err(invalid(key, "must be a string"));
        };
        if s.chars().count() > rules.max_length {
            return Err(invalid(
                key,
                &format!("must be at most {} characters", rules.max_length),
            ));
        }
        if s.contains('\0') {
            return Err(invalid(key, "must not contain a NUL character"));
        }
        if rules.phone_fields.contains(key) && !e164().is_match(s) {
            return Err(invalid(
                key,
                "must be an E.164 phone number such as +41791231212",
            ));
        }
        out.insert(key.clone(), s.clone());
    }
    for key in &rules.required {
        if out.get(key).is_none_or(|v| v.is_empty()) {
            return Err(FlowError::InvalidParameter(format!(
                "Missing parameter: {key}."
            )));
        }
    }
    Ok(out)
}

fn invalid(key: &str, what: &str) -> FlowError {
    FlowError::InvalidParameter(format!("Invalid parameter: {key}: {what}."))
}

/// A key as it may be shown back: short, without control characters.
fn printable(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> UserDataRules {
        UserDataRules {
            required: vec!["phone".into()],
            allowed: ["phone", "language"]
                .into_iter()
                .map(String::from)
                .collect(),
            phone_fields: ["phone"].into_iter().map(String::from).collect(),
            max_length: 20,
        }
    }

    fn body(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    fn message(r: Result<BTreeMap<String, String>, FlowError>) -> String {
        match r {
            Err(FlowError::InvalidParameter(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn valid_user_data_is_kept() {
        let d = parse(
            &body(serde_json::json!({"phone": "+41791231212", "language": "fr"})),
            &rules(),
        )
        .unwrap();
        assert_eq!(d["language"], "fr");
    }

    #[test]
    fn each_problem_names_the_field_without_echoing_the_value() {
        let m = message(parse(
            &body(serde_json::json!({"phone": "0791231212"})),
            &rules(),
        ));
        assert!(m.contains("phone") && m.contains("E.164") && !m.contains("0791231212"));
        let m = message(parse(
            &body(serde_json::json!({"phone": "+41791231212", "colour": "x"})),
            &rules(),
        ));
        assert!(m.contains("Unknown parameter: colour"));
        let m = message(parse(
            &body(serde_json::json!({"language": "fr"})),
            &rules(),
        ));
        assert_eq!(m, "Missing parameter: phone.");
        let m = message(parse(
            &body(serde_json::json!({"phone": "+41791231212", "language": "x".repeat(21)})),
            &rules(),
        ));
        assert!(m.contains("at most 20"));
        let m = message(parse(
            &body(serde_json::json!({"phone": 41791231212u64})),
            &rules(),
        ));
        assert!(m.contains("must be a string"));
    }
}

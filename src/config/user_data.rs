//! `mfa.user_data`: the fields a client may enrol with, which hold phone numbers or email
//! addresses, and how long a value may be.

use std::collections::BTreeSet;

use serde_yaml::Value;

use super::walk::{string_list, Fields, Problems};
use crate::domain::names::{is_reserved, is_variable_name};

#[derive(Debug, Clone)]
pub struct UserDataRules {
    pub required: Vec<String>,
    /// Always includes `required`.
    pub allowed: BTreeSet<String>,
    pub phone_fields: BTreeSet<String>,
    /// Fields that must be an email address.
    pub email_fields: BTreeSet<String>,
    pub max_length: usize,
}

pub(super) fn parse_user_data(value: Option<&Value>, p: &mut Problems) -> UserDataRules {
    let mut rules = UserDataRules {
        required: vec!["phone".to_string()],
        allowed: ["phone", "language", "message"]
            .into_iter()
            .map(String::from)
            .collect(),
        phone_fields: ["phone"].into_iter().map(String::from).collect(),
        email_fields: ["email"].into_iter().map(String::from).collect(),
        max_length: 256,
    };
    let Some(v) = value else {
        return rules;
    };
    let Some(mut f) = Fields::of(p, "mfa.user_data", v) else {
        return rules;
    };
    let required = f
        .get("required")
        .map(|v| string_list(p, "mfa.user_data.required", v));
    let allowed = f
        .get("allowed")
        .map(|v| string_list(p, "mfa.user_data.allowed", v));
    let phones = f
        .get("phone_fields")
        .map(|v| string_list(p, "mfa.user_data.phone_fields", v));
    let emails = f
        .get("email_fields")
        .map(|v| string_list(p, "mfa.user_data.email_fields", v));
    if let Some(n) = f.integer(p, "max_length", 1..=4096) {
        rules.max_length = n as usize;
    }
    f.finish(p);
    // Without an explicit `allowed`, a given `required` list is also what is allowed.
    match (allowed, required) {
        (Some(allowed), required) => {
            rules.allowed = allowed.into_iter().collect();
            if let Some(required) = required {
                rules.required = required;
            }
        }
        (None, Some(required)) => {
            rules.allowed = required.iter().cloned().collect();
            rules.required = required;
        }
        (None, None) => {}
    }
    rules.allowed.extend(rules.required.iter().cloned());
    if let Some(phones) = phones {
        rules.phone_fields = phones.into_iter().collect();
    } else {
        rules.phone_fields.retain(|f| rules.allowed.contains(f));
    }
    if let Some(emails) = emails {
        rules.email_fields = emails.into_iter().collect();
    } else {
        rules.email_fields.retain(|f| rules.allowed.contains(f));
    }
    for (list, names) in [
        ("required", rules.required.iter().collect::<Vec<_>>()),
        ("allowed", rules.allowed.iter().collect()),
        ("phone_fields", rules.phone_fields.iter().collect()),
        ("email_fields", rules.email_fields.iter().collect()),
    ] {
        for name in names {
            let path = format!("mfa.user_data.{list}");
            if !is_variable_name(name) {
                p.push(&path, format!("'{name}' is not a valid field name (letters, digits and _, not starting with a digit)"));
            } else if is_reserved(name) {
                p.push(
                    &path,
                    format!("'{name}' is reserved: the daemon fills it itself"),
                );
            }
        }
    }
    for (list, fields) in [
        ("phone_fields", &rules.phone_fields),
        ("email_fields", &rules.email_fields),
    ] {
        for name in fields {
            if !rules.allowed.contains(name) {
                p.push(
                    &format!("mfa.user_data.{list}"),
                    format!("'{name}' is not an allowed user data field"),
                );
            }
        }
    }
    for name in rules.phone_fields.intersection(&rules.email_fields) {
        p.push(
            "mfa.user_data.email_fields",
            format!("'{name}' cannot be both a phone number and an email address"),
        );
    }
    for name in &rules.phone_fields {
        let digits = format!("{name}_digits");
        if rules.allowed.contains(&digits) {
            p.push(
                "mfa.user_data.allowed",
                format!("'{digits}' is filled by the daemon (the digits of {name})"),
            );
        }
    }
    rules
}

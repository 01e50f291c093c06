//! `${ENV_VAR}` references in `platform.yml`, so that the file can be committed without secrets.
//!
//! Substitution happens on parsed string scalars (never on the raw text), so a variable's
//! value can never change the structure of the document. Every substituted value is kept as a
//! secret: it is masked wherever a request is shown.

use serde_yaml::Value;

use super::walk::{join, Problems};
use crate::domain::names::is_variable_name;

/// Each `${...}` in `s`: where it starts and ends, and what is between the braces.
fn references(s: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = s[from..].find("${") {
        let start = from + open;
        let Some(close) = s[start + 2..].find('}') else {
            break;
        };
        let end = start + 2 + close + 1;
        out.push((start, end, &s[start + 2..end - 1]));
        from = end;
    }
    out
}

/// Replaces every `${NAME}` in the string scalars of `value`; returns the substituted values.
pub(crate) fn substitute(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Vec<String> {
    let mut secrets = Vec::new();
    walk(value, path, lookup, problems, &mut secrets);
    secrets
}

fn walk(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
    secrets: &mut Vec<String>,
) {
    match value {
        Value::String(s) => {
            if let Some(replaced) = substitute_str(s, path, lookup, problems, secrets) {
                *s = replaced;
            }
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                walk(item, &format!("{path}[{i}]"), lookup, problems, secrets);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().unwrap_or("?");
                walk(v, &join(path, key), lookup, problems, secrets);
            }
        }
        _ => {}
    }
}

fn substitute_str(
    s: &str,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
    secrets: &mut Vec<String>,
) -> Option<String> {
    if !s.contains("${") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (start, end, name) in references(s) {
        out.push_str(&s[last..start]);
        last = end;
        if !is_variable_name(name) {
            problems.push(path, format!("'${{{name}}}' is not a valid environment variable reference (letters, digits and _ only)"));
            continue;
        }
        match lookup(name) {
            Some(v) if v.contains("{{") => problems.push(
                path,
                format!("environment variable {name} holds '{{{{', which a template would read as a placeholder"),
            ),
            Some(v) => {
                if !v.is_empty() {
                    secrets.push(v.clone());
                }
                out.push_str(&v);
            }
            None => problems.push(path, format!("environment variable {name} is not set")),
        }
    }
    out.push_str(&s[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_references_in_nested_strings_and_records_the_secret() {
        let mut v: Value = serde_yaml::from_str("a: { b: 'Bearer ${TOKEN}' }").unwrap();
        let mut problems = Problems::default();
        let secrets = substitute(&mut v, "", &env, &mut problems);
        assert!(problems.0.is_empty());
        assert_eq!(v["a"]["b"].as_str(), Some("Bearer s3cret"));
        assert_eq!(secrets, vec!["s3cret".to_string()]);
    }

    #[test]
    fn a_reference_runs_to_the_first_closing_brace_and_an_unclosed_one_is_text() {
        assert_eq!(references("a ${X} b ${Y}"), vec![(2, 6, "X"), (9, 13, "Y")]);
        assert_eq!(references("${a${b}"), vec![(0, 7, "a${b")]);
        assert_eq!(references("${open"), vec![]);
        assert_eq!(references("x}${}"), vec![(2, 5, "")]);
    }

    #[test]
    fn an_unset_variable_is_a_problem_named_by_its_path() {
        let mut v: Value = serde_yaml::from_str("a: { b: '${NOPE}' }").unwrap();
        let mut problems = Problems::default();
        substitute(&mut v, "", &env, &mut problems);
        assert_eq!(problems.0.len(), 1);
        assert_eq!(problems.0[0].path, "a.b");
        assert!(problems.0[0].message.contains("NOPE is not set"));
    }
}

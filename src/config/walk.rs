//! A small validating walker over a YAML tree.
//!
//! Every accessor records a problem (with the dotted path of the value) instead of stopping at
//! the first one, so that `mfa-bridge check` can print everything that is wrong at once.

use serde_yaml::{Mapping, Value};

use super::Problem;

#[derive(Default)]
pub(crate) struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.to_string(),
            message: message.into(),
        });
    }
}

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else if path.ends_with(':') {
        // A file's own keys: `templates/providers/x.yml:endpoints`.
        format!("{path}{key}")
    } else {
        format!("{path}.{key}")
    }
}

/// The fields of one YAML mapping. Keys that are read are marked as known; `finish` reports
/// the others as unknown keys.
pub(crate) struct Fields<'a> {
    pub path: String,
    map: &'a Mapping,
    known: Vec<String>,
}

impl<'a> Fields<'a> {
    /// `None` (with a problem recorded) unless `value` is a mapping.
    pub fn of(problems: &mut Problems, path: &str, value: &'a Value) -> Option<Fields<'a>> {
        match value {
            Value::Mapping(map) => Some(Fields {
                path: path.to_string(),
                map,
                known: Vec::new(),
            }),
            Value::Null => Some(Fields {
                path: path.to_string(),
                map: empty_mapping(),
                known: Vec::new(),
            }),
            other => {
                problems.push(path, format!("must be a mapping, found {}", kind(other)));
                None
            }
        }
    }

    pub fn path_of(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value under `key`, if present and not null.
    pub fn get(&mut self, key: &str) -> Option<&'a Value> {
        self.known.push(key.to_string());
        match self.map.get(key) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The whole number under `key`, if present and within `range` (else a problem).
    pub fn integer(
        &mut self,
        problems: &mut Problems,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u64> {
        let value = self.get(key)?;
        integer(problems, &self.path_of(key), value, range)
    }

    pub fn require(&mut self, problems: &mut Problems, key: &str) -> Option<&'a Value> {
        let value = self.get(key);
        if value.is_none() {
            problems.push(&self.path_of(key), "missing");
        }
        value
    }

    /// Every (key, value) pair; keys that are not strings are reported.
    pub fn entries(&self, problems: &mut Problems) -> Vec<(String, &'a Value)> {
        let mut out = Vec::new();
        for (k, v) in self.map {
            match k {
                Value::String(s) => out.push((s.clone(), v)),
                other => problems.push(
                    &self.path,
                    format!("keys must be strings, found {}", kind(other)),
                ),
            }
        }
        out
    }

    pub fn finish(self, problems: &mut Problems) {
        for key in self.map.keys() {
            let name = match key {
                Value::String(s) => s.clone(),
                other => format!("{other:?}"),
            };
            if !self.known.contains(&name) {
                let expected = self.known.join(", ");
                problems.push(
                    &join(&self.path, &name),
                    format!("unknown key (expected one of: {expected})"),
                );
            }
        }
    }
}

fn empty_mapping() -> &'static Mapping {
    static EMPTY: std::sync::OnceLock<Mapping> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Mapping::new)
}

pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

pub(crate) fn string(problems: &mut Problems, path: &str, value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        other => {
            problems.push(path, format!("must be a string, found {}", kind(other)));
            None
        }
    }
}

pub(crate) fn integer(
    problems: &mut Problems,
    path: &str,
    value: &Value,
    range: std::ops::RangeInclusive<u64>,
) -> Option<u64> {
    match value.as_u64() {
        Some(n) if range.contains(&n) => Some(n),
        Some(n) => {
            problems.push(
                path,
                format!("{n} is out of range ({} to {})", range.start(), range.end()),
            );
            None
        }
        None => {
            // A negative or fractional number is shown as written; anything else by its kind.
            let found = match value {
                Value::Number(n) => n.to_string(),
                other => kind(other).to_string(),
            };
            problems.push(
                path,
                format!(
                    "must be a whole number from {} to {}, found {found}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }
}

pub(crate) fn string_list(problems: &mut Problems, path: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| string(problems, &format!("{path}[{i}]"), v))
            .collect(),
        other => {
            problems.push(path, format!("must be a list, found {}", kind(other)));
            Vec::new()
        }
    }
}

pub(crate) fn string_map(
    problems: &mut Problems,
    path: &str,
    value: &Value,
) -> Vec<(String, String)> {
    let Some(fields) = Fields::of(problems, path, value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in fields.entries(problems) {
        let p = join(path, &key);
        if let Some(s) = string(problems, &p, v) {
            out.push((key, s));
        }
    }
    out
}

//! The settings each instance keeps from its own `platform.yml` whatever the shared version
//! says: where it listens, its storage and its log. A shared version is the whole file; before
//! it runs on a host, these keys are replaced by the host's own (the rest of the text, comments
//! included, is the version's), so that three daemons on one machine can share one
//! configuration and still listen on three ports.

use serde_yaml::{Mapping, Value};

use crate::config::yaml_edit;

/// The per-instance keys, as paths from the root of `platform.yml`.
pub const PER_INSTANCE: [&[&str]; 4] = [
    &["server", "listen"],
    &["admin", "listen"],
    &["storage"],
    &["log"],
];

/// `shared` with the [`PER_INSTANCE`] keys of `local` (a key absent from `local` is removed).
/// Unchanged when `local` is not a YAML mapping (the host's file is broken: the version runs
/// as it is). An error when `shared` itself is not YAML.
pub fn with_local_keys(shared: &str, local: &str) -> Result<String, String> {
    let Ok(local) = serde_yaml::from_str::<Value>(local) else {
        return Ok(shared.to_string());
    };
    if !local.is_mapping() {
        return Ok(shared.to_string());
    }
    let mut intended: Value =
        serde_yaml::from_str(shared).map_err(|e| format!("the version is not YAML: {e}"))?;
    if !intended.is_mapping() {
        return Ok(shared.to_string());
    }
    for path in PER_INSTANCE {
        set(&mut intended, path, lookup(&local, path).cloned());
    }
    yaml_edit::rewrite(shared, &intended).map_err(|e| e.to_string())
}

fn lookup<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

/// Sets (or with `None` removes) the value at `path`, making the mappings on the way.
fn set(root: &mut Value, path: &[&str], value: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = root;
    for key in parents {
        let Some(map) = at.as_mapping_mut() else {
            return;
        };
        if value.is_none() && !map.contains_key(*key) {
            return;
        }
        at = map
            .entry(Value::from(*key))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    let Some(map) = at.as_mapping_mut() else {
        return;
    };
    match value {
        Some(v) => {
            map.insert(Value::from(*last), v);
        }
        None => {
            map.remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_listen_storage_and_log_replace_the_versions() {
        let shared = "# shared\nserver:\n  listen: 127.0.0.1:7000 # one\n  max_connections: 9\n\
                      storage:\n  path: /a\nmfa:\n  mode: x\n";
        let local =
            "server:\n  listen: 127.0.0.1:7100\nstorage:\n  path: /b\nlog:\n  format: json\n\
                     mfa:\n  mode: y\n";
        let out = with_local_keys(shared, local).unwrap();
        let v: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(v["server"]["listen"], Value::from("127.0.0.1:7100"));
        assert_eq!(v["server"]["max_connections"], Value::from(9));
        assert_eq!(v["storage"]["path"], Value::from("/b"));
        assert_eq!(v["log"]["format"], Value::from("json"));
        assert_eq!(
            v["mfa"]["mode"],
            Value::from("x"),
            "the rest is the version's"
        );
        assert!(out.starts_with("# shared\n"), "{out}");
    }

    #[test]
    fn a_key_the_host_lacks_is_removed_and_a_broken_host_file_changes_nothing() {
        let shared = "admin:\n  listen: 127.0.0.1:7001\n  tokens: []\nlog:\n  format: json\n";
        let local = "admin:\n  tokens: []\n";
        let v: Value = serde_yaml::from_str(&with_local_keys(shared, local).unwrap()).unwrap();
        assert!(v["admin"].get("listen").is_none());
        assert!(v.get("log").is_none());
        assert_eq!(with_local_keys(shared, "[unclosed").unwrap(), shared);
    }
}

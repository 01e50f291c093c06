use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::server::anchor;
use super::*;

/// The configuration of `yaml` (templates from `base_dir`), or its problems.
fn load(
    yaml: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let parsed = Config::parse(&Source::text(yaml, base_dir), env);
    match parsed.config {
        Some(c) if parsed.problems.is_empty() => Ok(c),
        _ => Err(ConfigErrors(parsed.problems)),
    }
}

fn problems(yaml: &str) -> Vec<String> {
    match load(yaml, Path::new("/tmp"), &|_| None) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.iter().map(|p| p.to_string()).collect(),
    }
}

const MINIMAL: &str = r#"
storage: { path: ./data }
api_keys: [ { name: local, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  mode: single
  endpoints:
    single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }
"#;

#[test]
fn a_minimal_standalone_configuration_loads_with_defaults() {
    let c = load(MINIMAL, Path::new("/etc/mfa"), &|_| None).unwrap();
    assert_eq!(c.storage.path, PathBuf::from("/etc/mfa/./data"));
    assert_eq!(c.mfa.code.length, 6);
    assert_eq!(c.mfa.code.ttl, Duration::from_secs(300));
    assert!(c.mfa.user_data.allowed.contains("phone"));
    assert!(!c.is_proxy());
    assert!(c.storage.strict_durability);
    assert_eq!(c.storage.cache_bytes, 2 * 1024 * 1024);
}

#[test]
fn storage_durability_and_cache_are_read_and_checked() {
    let yaml = MINIMAL.replace(
        "storage: { path: ./data }",
        "storage: { path: ./data, durability: periodic, cache_mb: 16 }",
    );
    let c = load(&yaml, Path::new("/"), &|_| None).unwrap();
    assert!(!c.storage.strict_durability);
    assert_eq!(c.storage.cache_bytes, 16 * 1024 * 1024);
    let p = problems(&MINIMAL.replace(
        "storage: { path: ./data }",
        "storage: { path: ./data, durability: sometimes, cache_mb: 0 }",
    ));
    assert!(
        p.iter()
            .any(|l| l.starts_with("storage.durability:") && l.contains("strict or periodic")),
        "{p:?}"
    );
    assert!(
        p.iter().any(|l| l.starts_with("storage.cache_mb:")),
        "{p:?}"
    );
}

fn on_storage(storage: &str) -> String {
    MINIMAL.replace("storage: { path: ./data }", storage)
}

#[test]
fn the_postgres_backend_reads_its_url_from_the_environment_with_defaults() {
    let yaml =
        on_storage("storage: { backend: postgres, url: '${DATABASE_URL}', secret: '${SECRET}' }");
    let env = |name: &str| match name {
        "DATABASE_URL" => Some("postgres://mfa:pw@db:5432/mfa?sslmode=verify-full".to_string()),
        "SECRET" => Some("s".repeat(40)),
        _ => None,
    };
    let c = load(&yaml, Path::new("/etc/mfa"), &env).unwrap();
    let storage::Backend::Postgres(pg) = &c.storage.backend else {
        panic!("not postgres: {:?}", c.storage.backend);
    };
    assert_eq!(
        pg.url.expose(),
        "postgres://mfa:pw@db:5432/mfa?sslmode=verify-full"
    );
    assert_eq!(pg.pool_size, storage::DEFAULT_POOL_SIZE);
    assert_eq!(pg.connect_timeout, storage::DEFAULT_CONNECT_TIMEOUT);
    assert_eq!(pg.statement_timeout, storage::DEFAULT_STATEMENT_TIMEOUT);
    // The data directory keeps the local files only: beside the configuration by default.
    assert_eq!(c.storage.path, PathBuf::from("/etc/mfa/data"));
    assert_eq!(c.storage.backend.name(), "postgres");
    let sled = load(MINIMAL, Path::new("/etc/mfa"), &|_| None).unwrap();
    assert_eq!(sled.storage.backend.name(), "sled");
}

#[test]
fn the_postgres_backend_names_every_bad_value() {
    let p = problems(&on_storage(
        "storage: { backend: postgres, url: 'mysql://db/x', pool_size: 0, \
         connect_timeout_ms: 5, statement_timeout_ms: -1 }",
    ));
    for expected in [
        "storage.secret: required with backend: postgres",
        "storage.url: must be a postgres:// URL",
        "storage.pool_size:",
        "storage.connect_timeout_ms:",
        "storage.statement_timeout_ms:",
    ] {
        assert!(
            p.iter().any(|l| l.starts_with(expected)),
            "{expected}: {p:?}"
        );
    }
    let secret = "0123456789abcdef0123456789abcdef";
    let p = problems(&on_storage(&format!(
        "storage: {{ backend: postgres, secret: {secret} }}"
    )));
    assert!(
        p.iter().any(|l| l.starts_with("storage.url: missing")),
        "{p:?}"
    );
    let p = problems(&on_storage(&format!(
        "storage: {{ backend: postgres, secret: {secret}, \
         url: 'postgres://u:hunter2@db/x?sslmode=sometimes' }}"
    )));
    assert!(
        p.iter()
            .any(|l| l.starts_with("storage.url:") && l.contains("sslmode")),
        "{p:?}"
    );
    assert!(p.iter().all(|l| !l.contains("hunter2")), "{p:?}");
    let p = problems(&on_storage("storage: { backend: mysql, path: ./data }"));
    assert!(
        p.iter()
            .any(|l| l.starts_with("storage.backend:") && l.contains("sled or postgres")),
        "{p:?}"
    );
    let p = problems(&on_storage(
        "storage: { path: ./data, url: 'postgres://db/x' }",
    ));
    assert!(
        p.iter()
            .any(|l| l.starts_with("storage.url: only with backend: postgres")),
        "{p:?}"
    );
}

#[test]
fn every_problem_is_named_by_its_path() {
    let yaml = r#"
storage: { path: ./data, colour: blue }
api_keys: [ { name: local, key_sha256: "xyz" } ]
mfa:
  mode: challenge-verify
  code: { length: 2 }
  endpoints:
    challenge: { url: 'http://x/', method: FETCH }
    verify: { method: POST, bogus: 1 }
"#;
    let found = problems(yaml);
    let expect = [
        "storage.colour: unknown key",
        "api_keys[0].key_sha256: must be 64 hexadecimal",
        "mfa.code.length: 2 is out of range",
        "mfa.endpoints.challenge.method: unsupported method 'FETCH'",
        "mfa.endpoints.verify.url: missing",
        "mfa.endpoints.verify.bogus: unknown key",
    ];
    for e in expect {
        assert!(
            found.iter().any(|f| f.starts_with(e)),
            "expected a problem starting with {e:?} in {found:#?}"
        );
    }
}

#[test]
fn standalone_mode_without_api_keys_is_refused() {
    let yaml = MINIMAL.replace(
            "api_keys: [ { name: local, key_sha256: \"0000000000000000000000000000000000000000000000000000000000000000\" } ]\n",
            "",
        );
    let found = problems(&yaml);
    assert!(
        found.iter().any(|f| f.starts_with("api_keys: missing")),
        "{found:?}"
    );
}

#[test]
fn reserved_names_cannot_be_user_data() {
    let yaml = format!("{MINIMAL}  user_data: {{ required: [code] }}\n");
    let found = problems(&yaml);
    assert!(
        found.iter().any(|f| f.contains("'code' is reserved")),
        "{found:?}"
    );
}

#[test]
fn a_username_pattern_matches_whole_names_whether_anchored_or_not() {
    for pattern in [DEFAULT_USERNAME_PATTERN, "[a-z]+", "^[a-z]+", "[a-z]+$"] {
        let re = Regex::new(&anchor(pattern)).unwrap();
        assert!(re.is_match("alice"), "{pattern}");
        for bad in ["-alice", "alice!", "a/../admin", "bad~user"] {
            assert!(!re.is_match(bad), "{pattern} accepted {bad}");
        }
    }
}

#[test]
fn the_server_secret_is_text_or_a_key_file_never_both() {
    let url = "url: 'postgres://db/x'";
    let c = load(
        &on_storage(&format!(
            "storage: {{ backend: postgres, {url}, secret_file: keys/mfa.key }}"
        )),
        Path::new("/etc/mfa"),
        &|_| None,
    )
    .unwrap();
    assert!(
        matches!(&c.storage.secret, Some(crate::store::SecretSetting::KeyFile(p)) if p == Path::new("/etc/mfa/keys/mfa.key")),
        "{:?}",
        c.storage.secret
    );
    let p = problems(&on_storage(&format!(
        "storage: {{ backend: postgres, {url}, secret_file: k, \
         secret: 0123456789abcdef0123456789abcdef }}"
    )));
    assert!(
        p.iter().any(|l| l.starts_with(
            "storage.secret_file: give storage.secret or storage.secret_file, not both"
        )),
        "{p:?}"
    );
}

//! Provider presets: `endpoints: { preset: NAME, base_url: URL, vars: {...} }`, read from
//! `templates/providers/NAME.yml`.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::channel::parse_channel;
use super::endpoint::{parse_endpoint, EndpointKind, EndpointSpec, Endpoints};
use super::library::Library;
use super::mfa::Mode;
use super::walk::{kind, string, Fields, Problems};
use crate::domain::names::{is_reserved, is_variable_name};
use crate::domain::Channel;

/// The preset the endpoints come from.
#[derive(Debug, Clone)]
pub struct PresetUse {
    pub name: String,
    pub description: String,
    pub reference: String,
    /// Every declared var with its value (given, or the preset's default): template variables.
    pub vars: BTreeMap<String, String>,
}

/// `endpoints: { preset: NAME, base_url: URL, vars: {...} }`: the preset's mode, channel and
/// endpoints, with the vars given.
pub(super) fn parse_preset_at(
    endpoints: &Value,
    at: &str,
    library: &Library,
    p: &mut Problems,
) -> Option<(Mode, Channel, Endpoints, PresetUse)> {
    let mut f = Fields::of(p, at, endpoints)?;
    let name_path = f.path_of("preset");
    let name = f.get("preset").and_then(|v| string(p, &name_path, v));
    let base_url = f.get("base_url").and_then(|v| {
        let path = f.path_of("base_url");
        let s = string(p, &path, v)?;
        check_base_url(&s).map_err(|m| p.push(&path, m)).ok()
    });
    let given = f.get("vars");
    f.finish(p);
    let name = name?;
    let Some(file) = library.preset(&name) else {
        p.push(
            &name_path,
            format!(
                "unknown preset '{name}' (known: {})",
                library.preset_names().join(", ")
            ),
        );
        return None;
    };
    let root: Value = match super::yaml::parse(&file.text) {
        Ok(v) => v,
        Err(e) => {
            let at = match &e {
                super::yaml::YamlError::TooDeep { line } => format!(" (line {line})"),
                super::yaml::YamlError::Syntax(_) => String::new(),
            };
            p.push(&file.path, format!("{e}{at}"));
            return None;
        }
    };
    let base = format!("{}:", file.path);
    let mut pf = Fields::of(p, &base, &root)?;
    let description = pf
        .require(p, "description")
        .and_then(|v| string(p, &format!("{base}description"), v));
    let reference = pf
        .require(p, "reference")
        .and_then(|v| string(p, &format!("{base}reference"), v));
    let channel = pf
        .require(p, "channel")
        .and_then(|v| parse_channel(p, &format!("{base}channel"), v));
    let mode = pf
        .require(p, "mode")
        .and_then(|v| Mode::parse(p, &format!("{base}mode"), v));
    let declared = pf
        .get("vars")
        .map(|v| declared_vars(v, &format!("{base}vars"), p))
        .unwrap_or_default();
    let endpoints_value = pf.require(p, "endpoints");
    pf.finish(p);

    let vars = bind_vars(&name, &declared, given, &format!("{at}.vars"), p);
    let endpoints = match (mode, endpoints_value) {
        (Some(mode), Some(v)) => preset_endpoints(
            v,
            mode,
            &format!("{base}endpoints"),
            base_url.as_deref(),
            at,
            p,
        ),
        _ => None,
    };
    Some((
        mode?,
        channel?,
        endpoints?,
        PresetUse {
            name,
            description: description?,
            reference: reference?,
            vars: vars?,
        },
    ))
}

struct DeclaredVar {
    meaning: String,
    default: Option<String>,
}

fn declared_vars(v: &Value, path: &str, p: &mut Problems) -> BTreeMap<String, DeclaredVar> {
    let mut out = BTreeMap::new();
    let Some(f) = Fields::of(p, path, v) else {
        return out;
    };
    for (name, value) in f.entries(p) {
        let vp = format!("{path}.{name}");
        if !is_variable_name(&name) {
            p.push(&vp, "not a valid variable name (letters, digits and _)");
            continue;
        }
        if is_reserved(&name) || name == "message" {
            p.push(&vp, format!("'{name}' is filled by the daemon itself"));
            continue;
        }
        let declared = match value {
            Value::String(meaning) => DeclaredVar {
                meaning: meaning.clone(),
                default: None,
            },
            other => {
                let Some(mut vf) = Fields::of(p, &vp, other) else {
                    continue;
                };
                let meaning = vf
                    .require(p, "meaning")
                    .and_then(|v| string(p, &format!("{vp}.meaning"), v));
                let default = vf
                    .get("default")
                    .and_then(|v| scalar(v, &format!("{vp}.default"), p));
                vf.finish(p);
                let Some(meaning) = meaning else { continue };
                DeclaredVar { meaning, default }
            }
        };
        out.insert(name, declared);
    }
    out
}

fn scalar(v: &Value, path: &str, p: &mut Problems) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            p.push(path, format!("must be a string, found {}", kind(other)));
            None
        }
    }
}

/// The given vars against the declared ones: every declared var without a default is needed,
/// an undeclared one is refused.
fn bind_vars(
    preset: &str,
    declared: &BTreeMap<String, DeclaredVar>,
    given: Option<&Value>,
    at: &str,
    p: &mut Problems,
) -> Option<BTreeMap<String, String>> {
    let before = p.0.len();
    let mut values = BTreeMap::new();
    let mut given_map = BTreeMap::new();
    if let Some(v) = given {
        if let Some(f) = Fields::of(p, at, v) {
            for (name, value) in f.entries(p) {
                let path = format!("{at}.{name}");
                if !declared.contains_key(&name) {
                    let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                    p.push(
                        &path,
                        format!(
                            "unknown var for preset {preset} (it takes: {})",
                            known.join(", ")
                        ),
                    );
                    continue;
                }
                if let Some(s) = scalar(value, &path, p) {
                    given_map.insert(name, s);
                }
            }
        }
    }
    for (name, d) in declared {
        let path = format!("{at}.{name}");
        match (given_map.remove(name), &d.default) {
            (Some(v), _) if v.is_empty() => {
                if p.0.iter().any(|problem| problem.path == path) {
                    // An unset ${ENV} reference, reported on this path already: the var is
                    // given, so the preset's templates that use it are not blamed as well.
                    values.insert(name.clone(), v);
                } else {
                    p.push(&path, format!("must not be empty ({})", d.meaning));
                }
            }
            (Some(v), _) => {
                values.insert(name.clone(), v);
            }
            (None, Some(default)) => {
                values.insert(name.clone(), default.clone());
            }
            (None, None) => p.push(
                &path,
                format!("missing: preset {preset} needs it ({})", d.meaning),
            ),
        }
    }
    (p.0.len() == before).then_some(values)
}

fn preset_endpoints(
    v: &Value,
    mode: Mode,
    path: &str,
    base_url: Option<&str>,
    at: &str,
    p: &mut Problems,
) -> Option<Endpoints> {
    let mut f = Fields::of(p, path, v)?;
    let endpoint = |f: &mut Fields, key: &str, kind: EndpointKind, p: &mut Problems| {
        let ep = format!("{path}.{key}");
        let mut spec = f
            .require(p, key)
            .and_then(|v| parse_endpoint(v, &ep, kind, p))?;
        rebase(&mut spec, base_url, at, p)?;
        Some(spec)
    };
    let out = match mode {
        Mode::Single => endpoint(&mut f, "single", EndpointKind::Single, p)
            .map(|s| Endpoints::Single(Box::new(s))),
        Mode::ChallengeVerify => {
            let challenge = endpoint(&mut f, "challenge", EndpointKind::Challenge, p);
            let verify = endpoint(&mut f, "verify", EndpointKind::Verify, p);
            match (challenge, verify) {
                (Some(c), Some(v)) => Some(Endpoints::ChallengeVerify {
                    challenge: Box::new(c),
                    verify: Box::new(v),
                }),
                _ => None,
            }
        }
    };
    f.finish(p);
    out
}

/// The scheme and authority a preset URL must start with, literally.
/// (`http://` or `https://`, a host of letters, digits, `.` and `-`, an optional port; then the
/// end, `/` or `?`.)
fn origin_of(url: &str) -> Option<&str> {
    let after_scheme = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let host = after_scheme
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        .count();
    if host == 0 {
        return None;
    }
    let mut end = url.len() - after_scheme.len() + host;
    if let Some(port) = url[end..].strip_prefix(':') {
        let digits = port.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 {
            end += 1 + digits;
        }
    }
    let rest = &url[end..];
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then(|| &url[..end])
}

/// Replaces the origin of a preset endpoint's URL with `base_url`.
fn rebase(
    spec: &mut EndpointSpec,
    base_url: Option<&str>,
    at: &str,
    p: &mut Problems,
) -> Option<()> {
    let Some(origin) = origin_of(&spec.url) else {
        p.push(
            &format!("{}.url", spec.path),
            "a preset URL must begin with a literal https://host (what base_url replaces)",
        );
        return None;
    };
    match base_url {
        Some(base) => spec.url = format!("{base}{}", &spec.url[origin.len()..]),
        // A host under `.invalid` (RFC 2606) says the preset has no host of its own.
        None if origin
            .split(':')
            .nth(1)
            .is_some_and(|h| h.ends_with(".invalid")) =>
        {
            p.push(
                &format!("{at}.base_url"),
                format!(
                    "missing: this preset has no fixed host ({origin}): give the URL of your gateway"
                ),
            );
            return None;
        }
        None => {}
    }
    Some(())
}

fn check_base_url(s: &str) -> Result<String, String> {
    let trimmed = s.trim().trim_end_matches('/');
    if trimmed.contains("{{") {
        return Err("must be a URL, not a template".into());
    }
    match reqwest::Url::parse(trimmed) {
        Ok(u) if (u.scheme() == "http" || u.scheme() == "https") && u.host().is_some() => {
            if u.query().is_some() || u.fragment().is_some() {
                Err("must not hold a query or a fragment".into())
            } else {
                Ok(trimmed.to_string())
            }
        }
        Ok(u) => Err(format!(
            "scheme '{}' is not supported (http or https)",
            u.scheme()
        )),
        Err(e) => Err(format!("not a URL ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_origin_is_its_literal_scheme_and_host() {
        assert_eq!(
            origin_of("https://api.twilio.com/2010-04-01/x"),
            Some("https://api.twilio.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:4010/x"),
            Some("http://127.0.0.1:4010")
        );
        assert_eq!(origin_of("https://{{ host }}/x"), None);
        assert_eq!(origin_of("https://api.example.com{{ path }}"), None);
        assert_eq!(origin_of("outbox:sms"), None);
    }

    #[test]
    fn a_base_url_is_an_http_origin_with_an_optional_path() {
        assert_eq!(
            check_base_url("http://127.0.0.1:4010/").unwrap(),
            "http://127.0.0.1:4010"
        );
        assert_eq!(
            check_base_url("https://proxy.example.com/twilio").unwrap(),
            "https://proxy.example.com/twilio"
        );
        assert!(check_base_url("ftp://example.com").is_err());
        assert!(check_base_url("https://example.com/?a=b").is_err());
        assert!(check_base_url("not a url").is_err());
    }
}

//! `upstream` (proxy mode: the operator's login API and access check) and `api_keys`
//! (standalone mode: the keys the integrator's backend authenticates with).

use std::collections::BTreeSet;
use std::fmt;

use serde_yaml::Value;

use super::endpoint::{parse_endpoint, EndpointKind, EndpointSpec};
use super::walk::{kind, string, Fields, Problems};

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub login: EndpointSpec,
    pub access_check: EndpointSpec,
}

#[derive(Clone)]
pub struct ApiKey {
    pub name: String,
    pub key_sha256: [u8; 32],
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

pub(super) fn parse_upstream(v: &Value, p: &mut Problems) -> Option<UpstreamConfig> {
    let mut f = Fields::of(p, "upstream", v)?;
    let login = f
        .require(p, "login")
        .and_then(|v| parse_endpoint(v, "upstream.login", EndpointKind::UpstreamLogin, p));
    let access_check = f
        .require(p, "access_check")
        .and_then(|v| parse_endpoint(v, "upstream.access_check", EndpointKind::AccessCheck, p));
    f.finish(p);
    Some(UpstreamConfig {
        login: login?,
        access_check: access_check?,
    })
}

pub(super) fn parse_api_keys(v: &Value, p: &mut Problems) -> Vec<ApiKey> {
    let Value::Sequence(items) = v else {
        p.push("api_keys", format!("must be a list, found {}", kind(v)));
        return Vec::new();
    };
    let mut keys = Vec::new();
    let mut names = BTreeSet::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("api_keys[{i}]");
        let Some(mut f) = Fields::of(p, &path, item) else {
            continue;
        };
        let name = f
            .require(p, "name")
            .and_then(|v| string(p, &format!("{path}.name"), v));
        let hash = f
            .require(p, "key_sha256")
            .and_then(|v| string(p, &format!("{path}.key_sha256"), v))
            .and_then(|s| {
                let mut out = [0u8; 32];
                match hex::decode_to_slice(s.trim(), &mut out) {
                    Ok(()) => Some(out),
                    Err(_) => {
                        p.push(
                            &format!("{path}.key_sha256"),
                            "must be 64 hexadecimal characters (the SHA-256 of the key: printf %s KEY | sha256sum)",
                        );
                        None
                    }
                }
            });
        f.finish(p);
        if let (Some(name), Some(key_sha256)) = (name, hash) {
            if !names.insert(name.clone()) {
                p.push(
                    &format!("{path}.name"),
                    format!("duplicate api key name '{name}'"),
                );
            }
            keys.push(ApiKey { name, key_sha256 });
        }
    }
    keys
}

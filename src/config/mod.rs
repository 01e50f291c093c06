//! `platform.yml`: its schema, validated as a whole into a typed [`Config`], one file per
//! section.
//!
//! Parsing never stops at the first problem: every problem is collected with the dotted path
//! of the value it concerns (`mfa.endpoints.verify.url: missing`). Templates are checked by
//! [`crate::template`], which adds its own problems to the same list; the one loading entry,
//! [`crate::snapshot::Snapshot::load`], does both.

mod atomic_write;
mod channel;
mod endpoint;
mod env;
mod events;
mod fallback;
mod library;
mod log;
mod messages;
mod mfa;
mod outbound;
mod preset;
mod problem;
mod provider;
mod receipt_names;
mod receipts;
mod server;
mod storage;
mod upstream;
mod user_data;
mod walk;
pub mod yaml;
pub mod yaml_edit;

pub use crate::domain::names::RESERVED_VARIABLES;
pub use crate::domain::{Channel, Secret, Secrets};
pub use atomic_write::write_atomically;
pub use channel::ChannelEndpoints;
pub use endpoint::{Capture, EndpointSpec, Endpoints, HttpMethod, Predicate};
pub use events::{EventsConfig, WebhookEndpoint, WebhookKey, EVENT_TYPES};
pub use library::{Library, LibraryFile};
pub use log::{LogConfig, LogFormat};
pub use messages::{shipped_texts, MessagePart, MessageText, MessagesConfig};
pub use mfa::{
    AttemptPolicy, CodeConfig, DestinationRules, MfaConfig, Mode, SendLimits, TotpConfig,
};
pub use outbound::OutboundConfig;
pub use preset::PresetUse;
pub use problem::{ConfigErrors, Problem};
pub use provider::ProviderConfig;
pub use receipts::{ReceiptCheck, ReceiptsConfig, VonageMethod};
pub use server::{
    AdminConfig, AdminToken, ServerConfig, DEFAULT_ADMIN_TOKEN_NAME, DEFAULT_USERNAME_PATTERN,
};
pub use storage::{Backend, PostgresConfig, StorageConfig};
pub use upstream::{ApiKey, UpstreamConfig};
pub use user_data::UserDataRules;

use std::path::{Path, PathBuf};

use serde_yaml::Value;

use walk::{Fields, Problems};

/// How `${NAME}` references are resolved: the process environment in production
/// ([`process_env`]), given values in tests.
pub type EnvLookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// The process environment, as an [`EnvLookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A configuration to load: the text of `platform.yml`, the folder it is in (a relative
/// `storage.path` is resolved there) and the template library (`templates/` beside it over the
/// compiled-in files).
#[derive(Debug, Clone)]
pub struct Source {
    pub yaml: String,
    pub base_dir: PathBuf,
    pub library: Library,
    /// Files of the library that could not be read: reported with the configuration's problems.
    pub library_problems: Vec<Problem>,
}

impl Source {
    /// A configuration text, with the library of `templates/` in `base_dir`.
    pub fn text(yaml: impl Into<String>, base_dir: &Path) -> Source {
        let (library, library_problems) = Library::read(&base_dir.join("templates"));
        Source {
            yaml: yaml.into(),
            base_dir: base_dir.to_path_buf(),
            library,
            library_problems,
        }
    }

    /// The file `path`: its text, with the library of `templates/` beside it.
    pub fn read(path: &Path) -> Result<Source, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![Problem {
                path: path.display().to_string(),
                message: format!("cannot read: {e}"),
            }])
        })?;
        Ok(Source::text(
            text,
            path.parent().unwrap_or_else(|| Path::new(".")),
        ))
    }
}

/// What [`Config::parse`] could read: the whole configuration when it is valid, and the
/// sections it could read either way.
#[derive(Debug)]
pub struct Parsed {
    pub config: Option<Config>,
    pub mfa: Option<MfaConfig>,
    pub upstream: Option<UpstreamConfig>,
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub outbound: OutboundConfig,
    /// Present: proxy mode (the first factor is checked by the operator's login API).
    pub upstream: Option<UpstreamConfig>,
    /// Standalone mode: the integrator's backend authenticates with one of these.
    pub api_keys: Vec<ApiKey>,
    pub mfa: MfaConfig,
    /// The admin listener (API, panel, health, metrics); absent: none.
    pub admin: Option<AdminConfig>,
    /// Values that came from `${ENV}` references: masked wherever a request is shown.
    pub secrets: Secrets,
    /// How the process log is written (read at start).
    pub log: LogConfig,
    /// How delivery receipts are checked, and when a code is re-sent.
    pub receipts: ReceiptsConfig,
    /// The webhook endpoints that get events (`events`; none: nothing is queued).
    pub events: EventsConfig,
}

impl Config {
    /// Everything that could be read from a configuration, even when some of it is wrong: so
    /// that the endpoint templates of a file with other problems are still checked.
    pub fn parse(source: &Source, env: &dyn Fn(&str) -> Option<String>) -> Parsed {
        let mut problems = Problems(source.library_problems.clone());
        let mut root: Value = match yaml::parse(&source.yaml) {
            Ok(v) => v,
            Err(e) => {
                let path = e.location().unwrap_or_else(|| "platform.yml".to_string());
                problems.push(&path, e.to_string());
                return Parsed {
                    config: None,
                    mfa: None,
                    upstream: None,
                    problems: problems.0,
                };
            }
        };
        let secrets = env::substitute(&mut root, "", env, &mut problems);
        let (config, mfa, upstream) = parse_root(
            &root,
            &source.base_dir,
            secrets,
            &source.library,
            &mut problems,
        );
        if config.is_none() && problems.0.is_empty() {
            problems.push("platform.yml", "invalid configuration");
        }
        Parsed {
            config,
            mfa,
            upstream,
            problems: problems.0,
        }
    }

    pub fn is_proxy(&self) -> bool {
        self.upstream.is_some()
    }
}

fn parse_root(
    root: &Value,
    base_dir: &Path,
    secrets: Vec<String>,
    library: &Library,
    p: &mut Problems,
) -> (Option<Config>, Option<MfaConfig>, Option<UpstreamConfig>) {
    let Some(mut f) = Fields::of(p, "", root) else {
        return (None, None, None);
    };
    let server = server::parse_server(f.get("server"), p);
    let storage = f
        .require(p, "storage")
        .and_then(|v| storage::parse_storage(v, base_dir, p));
    let outbound = outbound::parse_outbound(f.get("outbound"), p);
    let upstream = f
        .get("upstream")
        .and_then(|v| upstream::parse_upstream(v, p));
    let api_keys = f.get("api_keys").map(|v| upstream::parse_api_keys(v, p));
    let mfa = f
        .require(p, "mfa")
        .and_then(|v| mfa::parse_mfa(v, library, p));
    let admin = f.get("admin").and_then(|v| server::parse_admin(v, p));
    let log = log::parse_log(f.get("log"), p);
    let mut receipts = receipts::parse_receipts(f.get("receipts"), p);
    let events = events::parse_events(f.get("events"), p);
    f.finish(p);
    // The receipts are checked against the url the providers were told (`{{ status_callback }}`,
    // from `server.public_url`) unless `receipts.public_url` says otherwise.
    if let Some(public_url) = server.as_ref().and_then(|s| s.public_url.as_ref()) {
        if receipts.public_url.is_empty() {
            receipts.public_url = public_url.clone();
        }
    }

    if let Some(mfa) = &mfa {
        receipt_names::check_receipt_providers(&receipts, mfa, p);
    }

    let api_keys = api_keys.unwrap_or_default();
    if root.get("upstream").is_none() && api_keys.is_empty() && root.get("api_keys").is_none() {
        p.push(
            "api_keys",
            "missing: standalone mode (no upstream) needs at least one api key",
        );
    }
    let config = match (server, storage, outbound, mfa.clone()) {
        (Some(server), Some(storage), Some(outbound), Some(mfa)) => Some(Config {
            server,
            storage,
            outbound,
            upstream: upstream.clone(),
            api_keys,
            mfa,
            admin,
            secrets: Secrets::new(secrets),
            log,
            receipts,
            events,
        }),
        _ => None,
    };
    (config, mfa, upstream)
}

#[cfg(test)]
mod tests;

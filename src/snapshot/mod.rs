//! One immutable snapshot of the configuration and its compiled templates, and the one way to
//! load it ([`Snapshot::load`]). A request reads the snapshot once, so no request mixes two
//! configurations; a reload ([`reload`]) builds and validates a whole new snapshot, then swaps
//! it in.

mod channels;
mod providers;
pub mod reload;
pub mod shared;

use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};

use crate::config::{Channel, Config, ConfigErrors, MfaConfig, Problem, Source};
use crate::template::Templates;

pub use providers::CompiledProvider;

/// A validated configuration with its templates compiled: what every request runs on.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Config,
    pub templates: Templates,
    /// The channels of `mfa.channels`, each as its own configuration and templates.
    pub channels: Vec<(MfaConfig, Templates)>,
    /// Every provider of every channel, compiled on its own, `mfa.endpoints`' first.
    pub providers: Vec<CompiledProvider>,
    /// The configuration text it was built from (`${ENV}` references unresolved).
    pub source: String,
    /// SHA-256 (hex) of `source` and of the local template files: changes when either does.
    pub source_hash: String,
}

impl Snapshot {
    /// The one way to load a configuration (the daemon at start, a reload, an admin change,
    /// the tests): validates the text with `${ENV}` references resolved by `env`, compiles its
    /// templates, and answers every problem at once.
    pub fn load(
        source: &Source,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Snapshot, ConfigErrors> {
        let parsed = Config::parse(source, env);
        let config = match parsed.config {
            Some(c) if parsed.problems.is_empty() => c,
            _ => {
                // The endpoints that could be read are checked too: every problem at once.
                let mut problems = parsed.problems;
                if let Some(mfa) = &parsed.mfa {
                    if let Err(more) = Templates::compile_parts(mfa, parsed.upstream.as_ref()) {
                        problems.extend(more);
                    }
                }
                return Err(ConfigErrors(problems));
            }
        };
        let templates = Templates::compile(&config).map_err(ConfigErrors)?;
        let mut channels = compile_channels(&config.mfa).map_err(ConfigErrors)?;
        for (mfa, t) in &mut channels {
            t.set_status_callback(config.server.status_callback(&mfa.provider));
        }
        let providers = providers::compile_providers(&config).map_err(ConfigErrors)?;
        // What runs depends on the file and on the local templates: both are in the hash, so
        // that an edit of either is seen as a change.
        let mut hash = Sha256::new();
        hash.update(source.yaml.as_bytes());
        hash.update(source.library.fingerprint());
        Ok(Snapshot {
            config,
            templates,
            channels,
            providers,
            source: source.yaml.clone(),
            source_hash: hex::encode(hash.finalize()),
        })
    }
}

impl Snapshot {
    /// The configuration and templates that deliver by `channel`, if it is configured.
    pub fn channel(&self, channel: Channel) -> Option<(&MfaConfig, &Templates)> {
        if self.config.mfa.channel == channel {
            return Some((&self.config.mfa, &self.templates));
        }
        self.channels
            .iter()
            .find(|(mfa, _)| mfa.channel == channel)
            .map(|(mfa, t)| (mfa, t))
    }
}

/// Each channel of `mfa.channels`, compiled on its own.
fn compile_channels(mfa: &MfaConfig) -> Result<Vec<(MfaConfig, Templates)>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for extra in &mfa.channels {
        let Some(cfg) = mfa.for_channel(extra.channel) else {
            continue;
        };
        match Templates::compile_parts(&cfg, None) {
            Ok(t) => out.push((cfg, t)),
            Err(mut p) => {
                for problem in &mut p {
                    problem.path = problem.path.replacen(
                        "mfa.endpoints",
                        &format!("mfa.channels.{}", extra.channel.name()),
                        1,
                    );
                }
                problems.append(&mut p);
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The snapshot in force, shared by every request. A reload replaces the `Arc` inside; a request
/// takes its own clone once, so it runs on one snapshot from start to end.
#[derive(Debug, Clone)]
pub struct SharedSnapshot(Arc<RwLock<Arc<Snapshot>>>);

impl SharedSnapshot {
    pub fn new(snapshot: Snapshot) -> SharedSnapshot {
        SharedSnapshot(Arc::new(RwLock::new(Arc::new(snapshot))))
    }

    pub fn current(&self) -> Arc<Snapshot> {
        // The lock guards a plain `Arc` swap: a panic elsewhere cannot leave it half-written.
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, snapshot: Snapshot) {
        let next = Arc::new(snapshot);
        match self.0.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod library_tests;

//! Every provider of every channel, compiled on its own (its endpoints, its preset's vars, its
//! `{{ status_callback }}`): what a send tries in turn, and what a challenge-verify session's
//! verify goes back to, by name.

use crate::config::{Channel, Config, MfaConfig, Problem};
use crate::template::Templates;

use super::Snapshot;

/// One provider, compiled: the configuration as it sees it ([`MfaConfig::for_provider`]: its
/// mode, endpoints, preset and name) and its templates.
#[derive(Debug)]
pub struct CompiledProvider {
    pub config: MfaConfig,
    pub templates: Templates,
    /// `priority` (lower first) and `weight` (share among equal priorities).
    pub priority: u32,
    pub weight: u32,
}

impl Snapshot {
    /// The providers of `channel` as written (the first one first); none when the channel is
    /// not configured.
    pub fn providers_of(&self, channel: Channel) -> Vec<&CompiledProvider> {
        self.providers
            .iter()
            .filter(|p| p.config.channel == channel)
            .collect()
    }

    /// The provider named `name`, if the configuration has it.
    pub fn provider_named(&self, name: &str) -> Option<&CompiledProvider> {
        self.providers.iter().find(|p| p.config.provider == name)
    }
}

/// Every provider of the configuration compiled, `mfa.endpoints`' first. The problems of a
/// channel's first provider are those of the channel's own compilation: only the others' are
/// answered here.
pub(super) fn compile_providers(config: &Config) -> Result<Vec<CompiledProvider>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let channels =
        std::iter::once(config.mfa.channel).chain(config.mfa.channels.iter().map(|c| c.channel));
    for channel in channels {
        let Some(cfg) = config.mfa.for_channel(channel) else {
            continue;
        };
        for (i, provider) in cfg.providers.iter().enumerate() {
            let view = cfg.for_provider(provider);
            match Templates::compile_parts(&view, None) {
                Ok(mut templates) => {
                    templates.set_status_callback(config.server.status_callback(&provider.name));
                    out.push(CompiledProvider {
                        config: view,
                        templates,
                        priority: provider.priority,
                        weight: provider.weight,
                    });
                }
                Err(more) if i > 0 => {
                    for problem in more {
                        let known = problems
                            .iter()
                            .any(|p| p.path == problem.path && p.message == problem.message);
                        if !known {
                            problems.push(problem);
                        }
                    }
                }
                Err(_) => {}
            }
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

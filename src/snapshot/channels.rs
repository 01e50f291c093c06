//! The channels a configuration delivers on, by name: the primary one (`mfa.endpoints`) first,
//! then those of `mfa.channels`. What `render --channel` and the admin API choose from.

use crate::config::{Channel, MfaConfig};
use crate::template::Templates;

use super::Snapshot;

impl Snapshot {
    /// Every configured channel, the primary one first.
    pub fn channel_list(&self) -> Vec<Channel> {
        let mut out = vec![self.config.mfa.channel];
        out.extend(self.channels.iter().map(|(mfa, _)| mfa.channel));
        out
    }

    /// The configuration and templates of the channel named (`sms`, `email`), the primary
    /// channel's when none is named. An unknown or unconfigured name is refused with a sentence
    /// that names the configured channels.
    pub fn channel_named(&self, name: Option<&str>) -> Result<(&MfaConfig, &Templates), String> {
        let Some(name) = name else {
            return Ok((&self.config.mfa, &self.templates));
        };
        Channel::from_name(name)
            .and_then(|c| self.channel(c))
            .ok_or_else(|| {
                let configured: Vec<&str> = self.channel_list().iter().map(|c| c.name()).collect();
                format!(
                    "Channel '{}' is not configured (configured: {}).",
                    name.chars()
                        .filter(|c| !c.is_control())
                        .take(32)
                        .collect::<String>(),
                    configured.join(", ")
                )
            })
    }
}

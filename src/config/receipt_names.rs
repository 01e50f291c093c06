//! `receipts.providers.NAME` must name a provider of this configuration (of `mfa.endpoints` or
//! `mfa.channels.*`): only a configured provider is told where to post receipts
//! (`{{ status_callback }}` ends in its name), so an entry for any other name is a typo that
//! leaves the real provider's receipts refused.

use super::mfa::MfaConfig;
use super::receipts::ReceiptsConfig;
use super::walk::Problems;

/// The names of every provider of `mfa`, in the order written (primary channel first).
pub(super) fn provider_names(mfa: &MfaConfig) -> Vec<&str> {
    mfa.providers
        .iter()
        .chain(mfa.channels.iter().flat_map(|c| c.providers.iter()))
        .map(|p| p.name.as_str())
        .collect()
}

/// One problem per entry of `receipts.providers` that names no configured provider, listing
/// the configured ones.
pub(super) fn check_receipt_providers(
    receipts: &ReceiptsConfig,
    mfa: &MfaConfig,
    p: &mut Problems,
) {
    let names = provider_names(mfa);
    for name in receipts.providers.keys() {
        if !names.contains(&name.as_str()) {
            p.push(
                &format!("receipts.providers.{name}"),
                format!(
                    "names no configured provider (of mfa.endpoints or mfa.channels): the providers are {}",
                    names.join(", ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{Config, Source};

    fn problems(yaml: &str) -> Vec<String> {
        let parsed = Config::parse(&Source::text(yaml, Path::new("/tmp")), &|_| None);
        parsed.problems.iter().map(|p| p.to_string()).collect()
    }

    const BASE: &str = r#"
storage: { path: ./data }
api_keys: [ { name: local, key_sha256: "0000000000000000000000000000000000000000000000000000000000000000" } ]
mfa:
  mode: single
  endpoints:
    - name: sms-main
      single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }
    - name: sms-backup
      single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }
  channels:
    email:
      name: mail-main
      single: { url: 'outbox:email?to={{ email }}', method: POST, body: 'code {{ code }}' }
"#;

    #[test]
    fn receipts_of_configured_providers_of_any_channel_are_taken() {
        let yaml = format!(
            "{BASE}receipts:\n  providers:\n    sms-backup: {{ family: sinch, username: u, password: p }}\n    mail-main: {{ family: sinch, username: u, password: p }}\n"
        );
        assert_eq!(problems(&yaml), Vec::<String>::new());
    }

    #[test]
    fn receipts_of_an_unknown_provider_are_refused_naming_the_configured_ones() {
        let yaml = format!(
            "{BASE}receipts:\n  providers:\n    sms-mian: {{ family: sinch, username: u, password: p }}\n"
        );
        let problems = problems(&yaml);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &problems[0];
        assert!(
            p.starts_with("receipts.providers.sms-mian: names no configured provider"),
            "{p}"
        );
        assert!(p.contains("sms-main, sms-backup, mail-main"), "{p}");
    }
}

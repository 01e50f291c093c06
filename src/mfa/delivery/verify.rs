//! Where a challenge-verify session's verify goes: to the provider that started the
//! verification, kept in the session by name (with what its challenge answer captured).

use std::collections::BTreeMap;

use crate::snapshot::Snapshot;
use crate::store::SessionKey;
use crate::template::Templates;

use super::super::error::Messaging;
use super::super::state::Outstanding;
use super::super::update::Change;
use super::super::{FlowError, Mfa};

impl Mfa {
    /// Keeps what a challenge's answer held, and the provider that took it, with its
    /// session, for the verify endpoint.
    pub(in crate::mfa) async fn keep_captures(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        captured: BTreeMap<String, String>,
        provider: &str,
    ) -> Result<(), FlowError> {
        self.update_session(snap, key, |current| {
            let Some(current) = current else {
                return Ok((Change::Keep, ()));
            };
            let method = match &current.outstanding {
                Outstanding::ProviderCode { method, .. } => *method,
                // A provider's challenge in Pryv's format (no method named) before its
                // answer came: on disk, nothing tells it from no challenge at all.
                Outstanding::None => None,
                // A newer challenge by the daemon's own code replaced this one.
                Outstanding::OwnCode { .. } => return Ok((Change::Keep, ())),
            };
            let mut updated = current.clone();
            updated.outstanding = Outstanding::ProviderCode {
                method,
                captured: captured.clone(),
                provider: Some(provider.to_string()),
            };
            Ok((Change::Put(updated), ()))
        })
        .await
    }
}

/// The templates of the provider that started the verification (kept in the session; a
/// session from before names none: the channel's first provider, `first`). One no longer
/// configured (removed by a reload) cannot check the code: a clear error says to ask for a new
/// one.
pub(in crate::mfa) fn verify_templates<'s>(
    snap: &'s Snapshot,
    first: &'s Templates,
    provider: Option<&str>,
) -> Result<&'s Templates, FlowError> {
    let Some(name) = provider else {
        return Ok(first);
    };
    match snap.provider_named(name) {
        Some(p) => Ok(&p.templates),
        None => {
            tracing::warn!(
                provider = name,
                "the provider that started this verification is no longer configured"
            );
            Err(FlowError::Messaging(Messaging::Send(format!(
                "the provider '{name}' that started this verification is no longer configured: ask for a new code"
            ))))
        }
    }
}

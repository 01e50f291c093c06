//! Who may call: the credential check of the routes that change or show an enrolment, and
//! every secret a user proves counted as an *attempt* before it is checked.

use std::future::Future;

use bytes::Bytes;

use crate::domain::{AccessToken, Username};
use crate::provider::Reply;
use crate::snapshot::Snapshot;
use crate::template::RenderError;
use crate::upstream::{self, Access, ClientHeaders, UpstreamError};

use super::{limits, secrets, FlowError, Mfa};

impl Mfa {
    /// Checks the credential for activate, deactivate, status and recovery codes (and
    /// standalone login and recover): an api key in standalone mode, a personal token (via the
    /// upstream access check) in proxy mode.
    pub async fn authorize(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        let token = token.ok_or(FlowError::MissingToken)?;
        if snap.config.upstream.is_none() {
            let hashes: Vec<[u8; 32]> = snap.config.api_keys.iter().map(|k| k.key_sha256).collect();
            return if secrets::api_key_matches(token.expose(), &hashes) {
                Ok(())
            } else {
                Err(FlowError::InvalidApiKey)
            };
        }
        match upstream::check_access(
            snap,
            &self.sender,
            username.as_str(),
            token.expose(),
            client,
        )
        .await
        {
            Ok(Access::Granted) => Ok(()),
            Ok(Access::NotAccepted) => Err(FlowError::NotPersonal),
            Ok(Access::Refused(reply)) => Err(FlowError::UpstreamRefused(reply)),
            // A token that cannot even be placed in a header is no valid token.
            Err(UpstreamError::Render(RenderError::HeaderValue { .. })) => {
                Err(FlowError::NotPersonal)
            }
            Err(e) => Err(FlowError::UpstreamUnavailable(e.to_string())),
        }
    }

    /// Runs `check` as one attempt of `username`: counted first (refused unchecked during a
    /// wait), the tally reset on success, and flushed before the answer either way.
    pub(super) async fn attempt<T>(
        &self,
        snap: &Snapshot,
        username: &Username,
        check: impl Future<Output = Result<T, FlowError>>,
    ) -> Result<T, FlowError> {
        let now = self.clock.now();
        let policy = snap.config.mfa.attempts;
        let key = limits::tally_key(username.as_str());
        let (mut refused, mut wait) = (None, None);
        self.store
            .update_counter(&key, &mut |old| {
                let old = limits::read_tally(old);
                let (tally, r) = limits::count_attempt(old, now, &policy);
                refused = r;
                wait = super::event::wait_begun(old.as_ref(), &tally, now);
                limits::write_tally(tally)
            })
            .await?;
        if let Some(remaining) = refused {
            self.store.flush().await?;
            tracing::info!(user = %username, remaining, "attempt refused during a wait");
            return Err(FlowError::TooManyAttempts { remaining });
        }
        let result = check.await;
        if result.is_ok() {
            self.store.update_counter(&key, &mut |_| None).await?;
        }
        self.store.flush().await?;
        self.emit_attempt(snap, username, &result, wait).await;
        result
    }

    /// A login to the upstream with `body` as the client's (JSON).
    pub(super) async fn upstream_login(
        &self,
        snap: &Snapshot,
        username: &Username,
        body: Bytes,
        client: &ClientHeaders,
    ) -> Result<Reply, FlowError> {
        // Not sent while storage is down: what the login is for (a recovery) could not be done.
        self.store.ping().await?;
        let json = ClientHeaders {
            content_type: Some("application/json".into()),
            ..client.clone()
        };
        let reply = upstream::login(snap, &self.sender, username.as_str(), body, &json)
            .await
            .map_err(|e| FlowError::UpstreamUnavailable(e.to_string()))?;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(FlowError::UpstreamRefused(reply))
        }
    }
}

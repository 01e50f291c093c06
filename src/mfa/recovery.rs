//! Recovery codes: a new set at confirm and on request, one used up by a step-up, or all of
//! MFA turned off by one (recover).

use crate::domain::{AccessToken, ForwardedBody, RecoveryCode, StepUp, Username};
use crate::events::EventType::Deactivated;
use crate::snapshot::Snapshot;
use crate::store::StoredRecoveryCode;
use crate::upstream::ClientHeaders;

use super::error::Invalid;
use super::update::Change;
use super::{secrets, FlowError, Mfa};

/// How many recovery codes a set holds.
pub const RECOVERY_CODE_COUNT: usize = 10;

impl Mfa {
    /// `POST /{username}/mfa/recover`: a recovery code (with the password in proxy mode, the
    /// api key in standalone mode) turns MFA off. In proxy mode the rest of the client's body
    /// (`forwarded`) is the login that proves the password.
    pub async fn recover(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        recovery_code: Option<RecoveryCode>,
        forwarded: ForwardedBody,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        if snap.config.upstream.is_none() {
            self.authorize(snap, username, token, client).await?;
        }
        let recovery_code = recovery_code.ok_or(FlowError::MissingParameter("recoveryCode"))?;
        if snap.config.upstream.is_some() {
            self.upstream_login(snap, username, forwarded.into_bytes(), client)
                .await?;
        }
        self.attempt(snap, username, async {
            match self
                .use_recovery_code(username, recovery_code.expose(), true)
                .await
            {
                Err(FlowError::InvalidCode) => Err(FlowError::InvalidRecoveryCode),
                other => other,
            }
        })
        .await?;
        tracing::info!(user = %username, "MFA deactivated with a recovery code");
        self.emit_enrolment(snap, username, Deactivated, None, &[], "recovery-code")
            .await;
        Ok(())
    }

    /// `POST /{username}/mfa/recovery-codes`: a new set, with a step-up; the old set stops
    /// working.
    pub async fn new_recovery_codes(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        step_up: Option<StepUp>,
        client: &ClientHeaders,
    ) -> Result<Vec<String>, FlowError> {
        self.authorize(snap, username, token, client).await?;
        if self.store.profile(username.as_str()).await?.is_none() {
            return Err(Invalid::MfaNotActive.into());
        }
        self.step_up(snap, username, step_up, client).await?;
        let codes = secrets::new_recovery_codes(RECOVERY_CODE_COUNT);
        let hashes = self.hash_recovery_codes(username, &codes);
        self.update_profile(username, None, |current| {
            let mut updated = current.ok_or(Invalid::MfaNotActive)?.clone();
            updated.recovery_codes = hashes.clone();
            Ok((Change::Put(updated), ()))
        })
        .await?;
        tracing::info!(user = %username, "new recovery codes issued");
        Ok(codes)
    }

    /// Uses up one of the user's recovery codes; with `deactivate`, the whole enrolment goes
    /// with it. `InvalidCode` when it matches no unused code.
    pub(super) async fn use_recovery_code(
        &self,
        username: &Username,
        code: &str,
        deactivate: bool,
    ) -> Result<(), FlowError> {
        let hash = self
            .keys
            .recovery_hash(username.as_str(), &secrets::normalize_recovery_code(code));
        let now = self.clock.now();
        self.update_profile(username, None, |current| {
            let current = current.ok_or(FlowError::InvalidCode)?;
            let unused: Vec<(usize, &str)> = current
                .recovery_codes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.usable_at(now))
                .map(|(i, c)| (i, c.hash.as_str()))
                .collect();
            let Some(found) = secrets::find_hash(&hash, unused.iter().map(|(_, h)| *h)) else {
                tracing::info!(user = %username, "wrong recovery code");
                return Err(FlowError::InvalidCode);
            };
            if deactivate {
                return Ok((Change::Delete, ()));
            }
            let mut updated = current.clone();
            updated.recovery_codes[unused[found].0].used_at = Some(now);
            Ok((Change::Put(updated), ()))
        })
        .await
    }

    pub(super) fn hash_recovery_codes(
        &self,
        username: &Username,
        codes: &[String],
    ) -> Vec<StoredRecoveryCode> {
        codes
            .iter()
            .map(|c| StoredRecoveryCode {
                hash: self
                    .keys
                    .recovery_hash(username.as_str(), &secrets::normalize_recovery_code(c)),
                used_at: None,
                expires_at: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn a_recovery_code_is_used_once() {
        let h = Harness::new();
        let codes = h.enrol("alice").await;
        let alice = h.user("alice");
        let step_up = || Some(StepUp::Code(codes[0].clone()));
        let client = ClientHeaders::default();

        h.mfa
            .step_up(&h.snap, &alice, step_up(), &client)
            .await
            .unwrap();
        let again = h.mfa.step_up(&h.snap, &alice, step_up(), &client).await;
        assert!(matches!(again, Err(FlowError::InvalidCode)), "{again:?}");

        let status = h
            .mfa
            .status(&h.snap, &alice, Some(&Harness::api_key()), &client)
            .await
            .unwrap();
        assert_eq!(
            status.recovery_codes_remaining,
            Some(RECOVERY_CODE_COUNT - 1)
        );
    }

    #[tokio::test]
    async fn recover_turns_mfa_off_with_an_unused_code_only() {
        let h = Harness::new();
        let codes = h.enrol("alice").await;
        let alice = h.user("alice");
        let client = ClientHeaders::default();
        let key = Harness::api_key();
        let recover = |code: &str| {
            h.mfa.recover(
                &h.snap,
                &alice,
                Some(&key),
                Some(RecoveryCode::new(code.to_string())),
                ForwardedBody::new(bytes::Bytes::new()),
                &client,
            )
        };

        let wrong = recover("not-a-code").await;
        assert!(
            matches!(wrong, Err(FlowError::InvalidRecoveryCode)),
            "{wrong:?}"
        );
        recover(&codes[3]).await.unwrap();
        assert!(crate::store::Store::profile(&*h.store, "alice")
            .await
            .unwrap()
            .is_none());
    }
}

//! The step-up: proof of presence before a change to an existing enrolment.

use crate::domain::{StepUp, Username};
use crate::snapshot::Snapshot;
use crate::upstream::ClientHeaders;

use super::error::StepUpNeeded;
use super::{FlowError, Mfa};

impl Mfa {
    /// Checks a step-up proof, as one attempt: the password by a login to the upstream, or a
    /// code (of the authenticator app, else a recovery code, which it uses up).
    pub(super) async fn step_up(
        &self,
        snap: &Snapshot,
        username: &Username,
        proof: Option<StepUp>,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        match proof {
            None => Err(FlowError::StepUpRequired(StepUpNeeded::AnyProof)),
            Some(StepUp::Password { .. }) if snap.config.upstream.is_none() => {
                Err(FlowError::StepUpRequired(StepUpNeeded::NotAPassword))
            }
            Some(StepUp::Password { password, app_id }) => {
                let body = serde_json::json!({
                    "username": username.as_str(),
                    "password": password,
                    "appId": app_id,
                });
                self.attempt(snap, username, async {
                    self.upstream_login(snap, username, body.to_string().into(), client)
                        .await
                        .map(|_| ())
                })
                .await
            }
            Some(StepUp::Code(code)) => {
                self.attempt(snap, username, async {
                    if self.use_totp(snap, username, &code, None).await? {
                        return Ok(());
                    }
                    self.use_recovery_code(username, &code, false).await
                })
                .await
            }
        }
    }
}

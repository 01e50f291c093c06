//! Turning MFA off (all of it, or one method), and showing what is enrolled.

use crate::domain::{AccessToken, Method, StepUp, Username};
use crate::events::EventType::Deactivated;
use crate::snapshot::Snapshot;
use crate::upstream::ClientHeaders;

use super::error::Invalid;
use super::method::{enrolled_methods, require_enrolled};
use super::outcome::Status;
use super::update::Change;
use super::{secrets, FlowError, Mfa};

/// What a deactivate asks for, parsed from its body. The method's parse error is raised where
/// the flow looks at it (after the credential check), as before.
#[derive(Debug)]
pub struct DeactivateInput {
    pub method: Result<Option<Method>, Invalid>,
    pub step_up: Option<StepUp>,
}

impl Mfa {
    /// `POST /{username}/mfa/deactivate`: with a step-up when MFA is on. With a `method`,
    /// only that method goes (the others stay; the last one takes MFA with it). Answers the
    /// methods left.
    pub async fn deactivate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        input: DeactivateInput,
        client: &ClientHeaders,
    ) -> Result<Option<Vec<Method>>, FlowError> {
        self.authorize(snap, username, token, client).await?;
        let method = input.method?;
        let Some(profile) = self.store.profile(username.as_str()).await? else {
            return Ok(method.map(|_| Vec::new()));
        };
        if let Some(m) = method {
            require_enrolled(m, &enrolled_methods(snap, &profile.value))?;
        }
        self.step_up(snap, username, input.step_up, client).await?;
        let Some(m) = method else {
            self.update_profile(username, None, |_| Ok((Change::Delete, ())))
                .await?;
            tracing::info!(user = %username, "MFA deactivated");
            self.emit_enrolment(snap, username, Deactivated, None, &[], "user")
                .await;
            return Ok(None);
        };
        let Some(left) = self.remove_method(snap, username, m).await? else {
            return Ok(Some(Vec::new()));
        };
        tracing::info!(user = %username, method = m.name(), "MFA method removed");
        self.emit_enrolment(snap, username, Deactivated, Some(m), &left, "user")
            .await;
        Ok(Some(left))
    }

    /// Removes `m` from `username`'s enrolment (the last method takes the enrolment with it),
    /// with no proof asked: the caller checked it. Answers the methods left; `None` when
    /// nothing was enrolled any more, `Some([])` when the enrolment went.
    pub(super) async fn remove_method(
        &self,
        snap: &Snapshot,
        username: &Username,
        m: Method,
    ) -> Result<Option<Vec<Method>>, FlowError> {
        let removed = m.enrolled_as();
        self.update_profile(username, None, |current| {
            let Some(current) = current else {
                return Ok((Change::Keep, None));
            };
            let left: Vec<Method> = enrolled_methods(snap, current)
                .into_iter()
                .filter(|e| !removed.contains(e))
                .collect();
            if left.is_empty() {
                return Ok((Change::Delete, Some(left)));
            }
            let mut p = current.clone();
            p.methods = left.clone();
            if m == Method::Totp {
                p.totp = None;
            }
            // Sessions opened for the old enrolment die with it.
            p.enrolment = secrets::new_id();
            Ok((Change::Put(p), Some(left)))
        })
        .await
    }

    /// `GET /{username}/mfa`.
    pub async fn status(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        client: &ClientHeaders,
    ) -> Result<Status, FlowError> {
        self.authorize(snap, username, token, client).await?;
        Ok(match self.store.profile(username.as_str()).await? {
            None => Status {
                enabled: false,
                methods: Vec::new(),
                enrolled_at: None,
                recovery_codes_remaining: None,
            },
            Some(p) => Status {
                enabled: true,
                methods: enrolled_methods(snap, &p.value),
                enrolled_at: Some(p.value.enrolled_at),
                recovery_codes_remaining: Some(
                    p.value
                        .recovery_codes
                        .iter()
                        .filter(|c| c.used_at.is_none() && c.is_own())
                        .count(),
                ),
            },
        })
    }
}

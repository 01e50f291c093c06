//! Helping a user: what an operator sees of one user (enrolment, pending sessions, the wait in
//! force, the last attempts) and what the operator may do on the user's behalf (reset all of
//! MFA or one method, clear a wait, issue an enrolment code).
//!
//! These run for the admin API, whose token is the proof: no step-up is asked. They never
//! show or take a secret of the user's (no code, no user data value, no hash); the enrolment
//! code is shown once, to the operator, and stored as a keyed hash like a recovery code.

use crate::domain::{Method, Username};
use crate::events::EventType::Deactivated;
use crate::snapshot::Snapshot;
use crate::store::{AttemptFilter, AttemptRecord, SessionKindV1};

use super::limits::{self, Tally};
use super::method::{enrolled_methods, require_enrolled};
use super::update::Change;
use super::{secrets, FlowError, Mfa};

/// How many attempts-log entries a user's lookup shows.
pub const LAST_ATTEMPTS: usize = 20;
/// How long an enrolment code works when the operator does not say.
pub const DEFAULT_ENROLMENT_CODE_SECONDS: u64 = 24 * 3600;
/// The longest an enrolment code may work.
pub const MAX_ENROLMENT_CODE_SECONDS: u64 = 7 * 24 * 3600;

/// What the operator sees of one user.
#[derive(Debug, Clone)]
pub struct UserView {
    /// `None`: MFA is off.
    pub enrolment: Option<EnrolmentView>,
    /// The user's pending sessions (logins waiting for a verify, enrolments for a confirm).
    pub sessions: Vec<PendingView>,
    /// The user's tally of wrong attempts, while it has not lapsed.
    pub tally: Option<WaitView>,
    /// The newest entries of the attempts log about the user, newest first.
    pub attempts: Vec<AttemptRecord>,
}

/// An enrolment, without a secret: the names of the user data fields, not their values.
#[derive(Debug, Clone)]
pub struct EnrolmentView {
    pub methods: Vec<Method>,
    pub enrolled_at: u64,
    pub recovery_codes_remaining: usize,
    /// When the enrolment code an operator issued stops working, if one is still usable.
    pub enrolment_code_expires_at: Option<u64>,
    pub user_data_fields: Vec<String>,
}

/// A pending session, without its key or code.
#[derive(Debug, Clone)]
pub struct PendingView {
    /// `login` or `enrolment`.
    pub kind: &'static str,
    /// For an enrolment, the method being enrolled; for a login, the last challenge's.
    pub method: Option<Method>,
    pub created_at: u64,
    pub expires_at: u64,
    pub wrong_codes: u32,
}

/// A user's wrong attempts, and the wait they set.
#[derive(Debug, Clone, Copy)]
pub struct WaitView {
    pub failures: u32,
    pub last_at: u64,
    /// Attempts before this instant are refused unchecked (0: no wait).
    pub locked_until: u64,
    /// Seconds of wait left now (0: none in force).
    pub remaining: u64,
}

/// What a reset did.
#[derive(Debug, Clone)]
pub struct Reset {
    /// The methods left (none: MFA is off).
    pub methods_left: Vec<Method>,
    /// Pending sessions ended with it.
    pub sessions_ended: usize,
}

/// An enrolment code, shown once.
pub struct EnrolmentCode {
    pub code: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for EnrolmentCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnrolmentCode(***, expires_at: {})", self.expires_at)
    }
}

impl Mfa {
    /// Everything the operator may see of `username`; `None` when nothing is known of the
    /// user (no enrolment, no pending session, no tally, no request of the user's logged).
    pub async fn support_view(
        &self,
        snap: &Snapshot,
        username: &Username,
    ) -> Result<Option<UserView>, FlowError> {
        let now = self.clock.now();
        let enrolment = self
            .store
            .profile(username.as_str())
            .await?
            .map(|p| EnrolmentView {
                methods: enrolled_methods(snap, &p.value),
                enrolled_at: p.value.enrolled_at,
                recovery_codes_remaining: p
                    .value
                    .recovery_codes
                    .iter()
                    .filter(|c| c.is_own() && c.usable_at(now))
                    .count(),
                enrolment_code_expires_at: p
                    .value
                    .recovery_codes
                    .iter()
                    .filter(|c| !c.is_own() && c.usable_at(now))
                    .filter_map(|c| c.expires_at)
                    .max(),
                user_data_fields: p.value.user_data.keys().cloned().collect(),
            });
        let mut sessions: Vec<PendingView> = self
            .store
            .sessions_of(username.as_str())
            .await?
            .into_iter()
            .map(|(_, s)| s.value)
            .filter(|s| s.expires_at > now)
            .map(|s| {
                let (kind, method) = match &s.kind {
                    SessionKindV1::Login { .. } => ("login", s.challenged),
                    SessionKindV1::Activate { method, .. } => ("enrolment", *method),
                };
                PendingView {
                    kind,
                    method,
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                    wrong_codes: s.attempts,
                }
            })
            .collect();
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        let tally = self.tally(snap, username).await?.map(|t| WaitView {
            failures: t.failures,
            last_at: t.last_at,
            locked_until: t.locked_until,
            remaining: t.locked_until.saturating_sub(now),
        });
        let attempts = self
            .store
            .find_attempts(&AttemptFilter::of_user(username.as_str()), LAST_ATTEMPTS)
            .await?;
        // An admin's own requests about a name do not make it a user (a full page of them
        // may hide older entries of the user's: then it counts as known).
        let attempted =
            attempts.iter().any(|a| a.admin.is_none()) || attempts.len() >= LAST_ATTEMPTS;
        if enrolment.is_none() && sessions.is_empty() && tally.is_none() && !attempted {
            return Ok(None);
        }
        Ok(Some(UserView {
            enrolment,
            sessions,
            tally,
            attempts,
        }))
    }

    /// Resets `username`'s MFA: all of it (the enrolment and every pending session go), or
    /// one method (the others stay; login sessions of the old enrolment die with it). `None`
    /// when MFA is off; an invalid parameter when the method is not enrolled.
    pub async fn support_reset(
        &self,
        snap: &Snapshot,
        username: &Username,
        method: Option<Method>,
    ) -> Result<Option<Reset>, FlowError> {
        let Some(profile) = self.store.profile(username.as_str()).await? else {
            return Ok(None);
        };
        if let Some(m) = method {
            require_enrolled(m, &enrolled_methods(snap, &profile.value))?;
            let methods_left = self
                .remove_method(snap, username, m)
                .await?
                .unwrap_or_default();
            tracing::info!(user = %username, method = m.name(), "MFA method reset by an admin");
            self.emit_enrolment(snap, username, Deactivated, Some(m), &methods_left, "admin")
                .await;
            return Ok(Some(Reset {
                methods_left,
                sessions_ended: 0,
            }));
        }
        self.update_profile(username, None, |_| Ok((Change::Delete, ())))
            .await?;
        let mut sessions_ended = 0;
        for (key, read) in self.store.sessions_of(username.as_str()).await? {
            // A session another request changed meanwhile is gone with the enrolment anyway
            // (a login) or cannot be confirmed any more (an enrolment: it replaced another).
            if self.store.swap_session(&key, &read, None).await? {
                sessions_ended += 1;
            }
        }
        self.store.flush().await?;
        tracing::info!(user = %username, sessions_ended, "MFA reset by an admin");
        self.emit_enrolment(snap, username, Deactivated, None, &[], "admin")
            .await;
        Ok(Some(Reset {
            methods_left: Vec::new(),
            sessions_ended,
        }))
    }

    /// Clears `username`'s tally of wrong attempts, and with it the wait in force. Answers the
    /// tally that was cleared (`None`: there was none).
    pub async fn support_clear_wait(
        &self,
        snap: &Snapshot,
        username: &Username,
    ) -> Result<Option<WaitView>, FlowError> {
        let now = self.clock.now();
        let Some(old) = self.tally(snap, username).await? else {
            return Ok(None);
        };
        self.store
            .update_counter(&limits::tally_key(username.as_str()), &mut |_| None)
            .await?;
        self.store.flush().await?;
        tracing::info!(user = %username, failures = old.failures, "wait cleared by an admin");
        Ok(Some(WaitView {
            failures: old.failures,
            last_at: old.last_at,
            locked_until: old.locked_until,
            remaining: old.locked_until.saturating_sub(now),
        }))
    }

    /// Issues an enrolment code for `username`: one code, working for `seconds`, that the user
    /// gives as the step-up `code` of an activate (to enrol a new phone or app) or as the
    /// `recoveryCode` of a recover, once. It replaces any code issued before; the user's own
    /// recovery codes stay. `None` when MFA is off (activate needs no step-up then).
    pub async fn support_enrolment_code(
        &self,
        username: &Username,
        seconds: u64,
    ) -> Result<Option<EnrolmentCode>, FlowError> {
        let now = self.clock.now();
        let expires_at = now.saturating_add(seconds.min(MAX_ENROLMENT_CODE_SECONDS));
        let code = secrets::new_recovery_codes(1).concat();
        let mut hashed = self.hash_recovery_codes(username, std::slice::from_ref(&code));
        for h in &mut hashed {
            h.expires_at = Some(expires_at);
        }
        let issued = self
            .update_profile(username, None, |current| {
                let Some(current) = current else {
                    return Ok((Change::Keep, false));
                };
                let mut p = current.clone();
                p.recovery_codes.retain(|c| c.is_own());
                p.recovery_codes.extend(hashed.iter().cloned());
                Ok((Change::Put(p), true))
            })
            .await?;
        if !issued {
            return Ok(None);
        }
        tracing::info!(user = %username, expires_at, "enrolment code issued by an admin");
        Ok(Some(EnrolmentCode { code, expires_at }))
    }

    /// `username`'s tally, while it has not lapsed.
    async fn tally(
        &self,
        snap: &Snapshot,
        username: &Username,
    ) -> Result<Option<Tally>, FlowError> {
        let now = self.clock.now();
        let window = snap.config.mfa.attempts.window_seconds;
        let raw = self
            .store
            .counter(&limits::tally_key(username.as_str()))
            .await?;
        Ok(limits::read_tally(raw.as_deref())
            .filter(|t| now < t.last_at.saturating_add(window) || t.locked_until > now))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;
    use crate::domain::StepUp;

    #[tokio::test]
    async fn an_enrolment_code_is_a_step_up_once_and_a_new_one_replaces_it() {
        let h = Harness::new();
        h.enrol("alice").await;
        let alice = h.user("alice");
        let first = h
            .mfa
            .support_enrolment_code(&alice, 60)
            .await
            .unwrap()
            .unwrap();
        let second = h
            .mfa
            .support_enrolment_code(&alice, 60)
            .await
            .unwrap()
            .unwrap();
        let step_up = |code: &str| Some(StepUp::Code(code.to_string()));
        let client = crate::upstream::ClientHeaders::default();
        let r = h
            .mfa
            .step_up(&h.snap, &alice, step_up(&first.code), &client)
            .await;
        assert!(matches!(r, Err(FlowError::InvalidCode)), "{r:?}");
        h.mfa
            .step_up(&h.snap, &alice, step_up(&second.code), &client)
            .await
            .unwrap();
        let r = h
            .mfa
            .step_up(&h.snap, &alice, step_up(&second.code), &client)
            .await;
        assert!(matches!(r, Err(FlowError::InvalidCode)), "used once: {r:?}");
        let view = h.mfa.support_view(&h.snap, &alice).await.unwrap().unwrap();
        let enrolment = view.enrolment.unwrap();
        assert_eq!(enrolment.recovery_codes_remaining, 10);
        assert_eq!(enrolment.enrolment_code_expires_at, None);
    }

    #[tokio::test]
    async fn an_enrolment_code_stops_working_when_it_expires() {
        let h = Harness::new();
        h.enrol("alice").await;
        let alice = h.user("alice");
        let code = h
            .mfa
            .support_enrolment_code(&alice, 60)
            .await
            .unwrap()
            .unwrap();
        h.clock.advance(60);
        let client = crate::upstream::ClientHeaders::default();
        let r = h
            .mfa
            .step_up(&h.snap, &alice, Some(StepUp::Code(code.code)), &client)
            .await;
        assert!(matches!(r, Err(FlowError::InvalidCode)), "{r:?}");
    }

    #[tokio::test]
    async fn a_user_of_whom_nothing_is_known_has_no_view_and_no_code() {
        let h = Harness::new();
        let bob = h.user("bob");
        assert!(h.mfa.support_view(&h.snap, &bob).await.unwrap().is_none());
        assert!(h
            .mfa
            .support_enrolment_code(&bob, 60)
            .await
            .unwrap()
            .is_none());
        assert!(h
            .mfa
            .support_reset(&h.snap, &bob, None)
            .await
            .unwrap()
            .is_none());
        assert!(h
            .mfa
            .support_clear_wait(&h.snap, &bob)
            .await
            .unwrap()
            .is_none());
    }
}

//! Codes: a new one for a challenge, and the check of one against a session (the daemon's
//! own code, the provider's verify endpoint, or the user's authenticator app).

use crate::config::{Endpoints, Mode};
use crate::domain::{Method, Username};
use crate::snapshot::Snapshot;
use crate::store::{Profile, SessionKey, StoredCode, Versioned};
use crate::template::{EndpointId, RenderError, SendInput};

use super::method::{method_or_primary, route};
use super::send::{provider_refused, render_error, send_error};
use super::session::SessionData;
use super::state::{Pending, Session};
use super::update::Change;
use super::{secrets, totp, FlowError, Mfa};

/// The longest code checked: anything longer is wrong without a look.
const MAX_CODE_LEN: usize = 64;

/// How counting one attempt on a session ended.
enum Counted {
    Session(Session),
    /// That attempt was one too many: the session is gone.
    Locked,
}

impl Mfa {
    /// A new code for a challenge by `method` when its channels are in single mode (the
    /// previous one stops working); none when the provider makes it. Two channels at once
    /// share one code, so both must be in single mode.
    pub(super) fn new_code_for(
        &self,
        snap: &Snapshot,
        method: Method,
        key: &SessionKey,
        now: u64,
    ) -> Result<Option<(String, StoredCode)>, FlowError> {
        let modes = method
            .channels()
            .into_iter()
            .map(|c| route(snap, c).map(|(cfg, _)| cfg.mode))
            .collect::<Result<Vec<_>, _>>()?;
        if !modes.contains(&Mode::Single) {
            return Ok(None);
        }
        let code = secrets::new_code(snap.config.mfa.code.length);
        let stored = StoredCode {
            hash: self.keys.code_hash(key, &code),
            expires_at: now + snap.config.mfa.code.ttl.as_secs(),
        };
        Ok(Some((code, stored)))
    }

    /// One attempt at a session's code: counted on the session first, checked, and on
    /// success the session is used up. The wrong code that reaches the ceiling deletes it.
    pub(super) async fn check_session_code(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        data: &SessionData,
        code: &str,
    ) -> Result<Option<u64>, FlowError> {
        let ceiling = snap.config.mfa.attempts.per_session;
        let counted = self
            .update_session(snap, key, |current| {
                let mut updated = current.ok_or(FlowError::InvalidSession)?.clone();
                updated.attempts = updated.attempts.saturating_add(1);
                Ok(if updated.attempts > ceiling {
                    (Change::Delete, Counted::Locked)
                } else {
                    (Change::Put(updated.clone()), Counted::Session(updated))
                })
            })
            .await?;
        let Counted::Session(counted) = counted else {
            return Err(FlowError::SessionLocked);
        };
        match self
            .check_code(snap, username, key, &counted, data, code)
            .await
        {
            Ok(step) => {
                if self.delete_session(snap, key).await? {
                    Ok(step)
                } else {
                    Err(FlowError::InvalidSession)
                }
            }
            Err(FlowError::InvalidCode) if counted.attempts >= ceiling => {
                self.delete_session(snap, key).await?;
                tracing::info!(user = %username, "session closed after too many wrong codes");
                Err(FlowError::SessionLocked)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks a code. A login session takes a code of the user's authenticator at any time,
    /// else the code of its last challenge: against the session's own code when the channel
    /// is in single mode, with the provider's verify endpoint in challenge-verify mode. An
    /// authenticator's enrolment takes a code of its new secret, and answers the step it
    /// matched.
    async fn check_code(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        session: &Session,
        data: &SessionData,
        code: &str,
    ) -> Result<Option<u64>, FlowError> {
        if code.is_empty() || code.len() > MAX_CODE_LEN {
            return Err(FlowError::InvalidCode);
        }
        let challenged = match &session.pending {
            Pending::Login { .. } => {
                if self
                    .use_totp(snap, username, code, data.profile.clone())
                    .await?
                {
                    return Ok(None);
                }
                session.outstanding.method()
            }
            Pending::Enrol {
                method: Some(Method::Totp),
                secret: Some(sealed),
                ..
            } => {
                let secret = self
                    .keys
                    .open_totp(username.as_str(), sealed)
                    .ok_or_else(|| {
                        FlowError::Internal("the pending secret does not open".into())
                    })?;
                let drift = snap.config.mfa.totp.drift;
                return match totp::matching_step(&secret, code, self.clock.now(), drift) {
                    Some(step) => Ok(Some(step)),
                    None => {
                        tracing::info!(user = %username, "authenticator code refused");
                        Err(FlowError::InvalidCode)
                    }
                };
            }
            Pending::Enrol { method, .. } => *method,
        };
        let method = method_or_primary(snap, challenged);
        let channel = match method {
            // Nothing was sent: only an authenticator code can answer.
            Method::Totp => return Err(FlowError::InvalidCode),
            Method::Dual => crate::config::Channel::Sms,
            Method::Channel(c) => c,
        };
        let (cfg, templates) = route(snap, channel)?;
        match (&cfg.endpoints, method) {
            (Endpoints::Single(_), _) | (_, Method::Dual) => {
                let Some(stored) = session.outstanding.own_code() else {
                    return Err(FlowError::InvalidCode);
                };
                let matches = secrets::same_hash(&stored.hash, &self.keys.code_hash(key, code));
                if matches && stored.expires_at > self.clock.now() {
                    Ok(None)
                } else {
                    tracing::info!(user = %username, expired = matches, "code refused");
                    Err(FlowError::InvalidCode)
                }
            }
            (Endpoints::ChallengeVerify { .. }, _) => {
                let templates = super::delivery::verify_templates(
                    snap,
                    templates,
                    session.outstanding.provider(),
                )?;
                let no_capture = Default::default();
                let vars = templates
                    .vars_for(
                        EndpointId::Verify,
                        &SendInput {
                            username: username.as_str(),
                            user_data: &data.user_data,
                            code: Some(code),
                            captured: Some(session.outstanding.captured().unwrap_or(&no_capture)),
                        },
                    )
                    .map_err(render_error)?;
                let request = templates
                    .render(EndpointId::Verify, &vars)
                    .map_err(|e| match e {
                        // A code that cannot be placed where the template puts it is wrong.
                        RenderError::HeaderValue { .. } | RenderError::PathSegment { .. } => {
                            FlowError::InvalidCode
                        }
                        other => render_error(other),
                    })?;
                let reply = self
                    .sender
                    .send(&request, snap.config.outbound.timeout, &snap.config.secrets)
                    .await
                    .map_err(send_error)?;
                if reply.satisfies(templates.predicate(EndpointId::Verify)) {
                    Ok(None)
                } else if reply.status >= 500 || reply.status == 401 || reply.status == 403 {
                    // The provider failed, or refused our credentials: not the user's code.
                    tracing::warn!(status = reply.status, "the verify endpoint failed");
                    Err(provider_refused(reply.status))
                } else {
                    tracing::info!(user = %username, status = reply.status, "the verify endpoint refused the code");
                    Err(FlowError::InvalidCode)
                }
            }
        }
    }

    /// A code of the user's enrolled authenticator: `true` if it matches a step not used yet,
    /// which is then used (compare-and-swap: of two concurrent uses of one code, one wins).
    /// `known` is the profile as the caller already read it (no second read), if any.
    pub(super) async fn use_totp(
        &self,
        snap: &Snapshot,
        username: &Username,
        code: &str,
        known: Option<Versioned<Profile>>,
    ) -> Result<bool, FlowError> {
        let drift = snap.config.mfa.totp.drift;
        self.update_profile(username, known, |current| {
            let Some(record) = current.and_then(|p| p.totp.as_ref()) else {
                return Ok((Change::Keep, false));
            };
            let secret = self
                .keys
                .open_totp(username.as_str(), &record.sealed)
                .ok_or_else(|| {
                    FlowError::Internal("the authenticator secret does not open".into())
                })?;
            let Some(step) = totp::matching_step(&secret, code, self.clock.now(), drift) else {
                return Ok((Change::Keep, false));
            };
            if step <= record.last_step {
                tracing::info!(user = %username, "authenticator code already used");
                return Ok((Change::Keep, false));
            }
            let mut updated = current.cloned().ok_or(FlowError::InvalidCode)?;
            if let Some(t) = updated.totp.as_mut() {
                t.last_step = step;
            }
            Ok((Change::Put(updated), true))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Harness, PER_SESSION};
    use super::*;
    use crate::domain::OtpCode;

    fn wrong(code: &OtpCode) -> OtpCode {
        let flipped: String = code
            .expose()
            .chars()
            .map(|c| if c == '0' { '1' } else { '0' })
            .collect();
        OtpCode::new(flipped)
    }

    #[tokio::test]
    async fn a_code_is_single_use() {
        let h = Harness::new();
        h.enrol("alice").await;
        let token = h.login_and_challenge("alice").await;
        let code = h.last_code();
        let alice = h.user("alice");

        h.mfa
            .verify(&h.snap, &alice, Some(&token), Some(code.clone()))
            .await
            .unwrap();
        let again = h
            .mfa
            .verify(&h.snap, &alice, Some(&token), Some(code.clone()))
            .await;
        assert!(matches!(again, Err(FlowError::InvalidSession)), "{again:?}");

        let other = h.login_and_challenge("alice").await;
        let old_code = h
            .mfa
            .verify(&h.snap, &alice, Some(&other), Some(code))
            .await;
        assert!(
            matches!(old_code, Err(FlowError::InvalidCode)),
            "{old_code:?}"
        );
    }

    #[tokio::test]
    async fn a_session_dies_after_its_ceiling_of_wrong_codes() {
        let h = Harness::new();
        h.enrol("alice").await;
        let token = h.login_and_challenge("alice").await;
        let code = h.last_code();
        let alice = h.user("alice");

        for n in 1..=PER_SESSION {
            let r = h
                .mfa
                .verify(&h.snap, &alice, Some(&token), Some(wrong(&code)))
                .await;
            if n < PER_SESSION {
                assert!(matches!(r, Err(FlowError::InvalidCode)), "{n}: {r:?}");
            } else {
                assert!(matches!(r, Err(FlowError::SessionLocked)), "{n}: {r:?}");
            }
        }
        let right = h
            .mfa
            .verify(&h.snap, &alice, Some(&token), Some(code))
            .await;
        assert!(matches!(right, Err(FlowError::InvalidSession)), "{right:?}");
    }

    #[tokio::test]
    async fn attempts_are_counted_before_the_code_is_looked_at() {
        let h = Harness::new();
        h.enrol("alice").await;
        let token = h.login_and_challenge("alice").await;
        let code = h.last_code();
        let alice = h.user("alice");
        // Refused without a look (too long): counted all the same.
        let too_long = OtpCode::new("1".repeat(MAX_CODE_LEN + 1));

        for _ in 1..PER_SESSION {
            let r = h
                .mfa
                .verify(&h.snap, &alice, Some(&token), Some(too_long.clone()))
                .await;
            assert!(matches!(r, Err(FlowError::InvalidCode)), "{r:?}");
        }
        let (_, session) = h.mfa.session(&h.snap, &alice, Some(&token)).await.unwrap();
        assert_eq!(session.attempts, PER_SESSION - 1);
        let last = h
            .mfa
            .verify(&h.snap, &alice, Some(&token), Some(too_long))
            .await;
        assert!(matches!(last, Err(FlowError::SessionLocked)), "{last:?}");
        let right = h
            .mfa
            .verify(&h.snap, &alice, Some(&token), Some(code))
            .await;
        assert!(matches!(right, Err(FlowError::InvalidSession)), "{right:?}");
    }

    #[tokio::test]
    async fn an_expired_code_is_refused() {
        let h = Harness::new();
        h.enrol("alice").await;
        let token = h.login_and_challenge("alice").await;
        let code = h.last_code();
        h.clock.advance(h.snap.config.mfa.code.ttl.as_secs());
        let r = h
            .mfa
            .verify(&h.snap, &h.user("alice"), Some(&token), Some(code))
            .await;
        assert!(matches!(r, Err(FlowError::InvalidCode)), "{r:?}");
    }
}

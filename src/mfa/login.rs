//! Login: the first factor (the upstream's login, or the api key), then a challenge sent on
//! request, and the verify that releases what the login held back.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::domain::{AccessToken, Method, MfaToken, OtpCode, Username};
use crate::provider::Reply;
use crate::snapshot::Snapshot;
use crate::upstream::{self, ClientHeaders};

use super::error::Invalid;
use super::method::{check_available, enrolled_methods, method_or_primary, require_enrolled};
use super::outcome::{LoginOutcome, Verified};
use super::session::SessionData;
use super::state::Pending;
use super::update::Change;
use super::{secrets, FlowError, Mfa};

/// The upstream's login answer as held in a session, before sealing.
#[derive(Serialize, Deserialize)]
struct Grant {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Mfa {
    /// `POST /{username}/login`.
    pub async fn login(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        body: Bytes,
        client: &ClientHeaders,
    ) -> Result<LoginOutcome, FlowError> {
        let grant = if snap.config.upstream.is_some() {
            // Storage first: with its database down, the login could not be held (nor its
            // session written), so it is not sent to the upstream, where it would count as a
            // password used for nothing. An embedded store answers at once.
            self.store.ping().await?;
            let reply = upstream::login(snap, &self.sender, username.as_str(), body, client)
                .await
                .map_err(|e| FlowError::UpstreamUnavailable(e.to_string()))?;
            if !reply.is_success() {
                return Err(FlowError::UpstreamRefused(reply));
            }
            Some(reply)
        } else {
            self.authorize(snap, username, token, client).await?;
            None
        };
        let Some(profile) = self.store.profile(username.as_str()).await? else {
            return Ok(match grant {
                Some(reply) => LoginOutcome::Passed(reply),
                None => LoginOutcome::Inactive,
            });
        };
        let now = self.clock.now();
        let mfa_token = secrets::new_mfa_token();
        let key = self.keys.session_key(&mfa_token);
        let sealed_grant = match grant {
            None => None,
            Some(r) => {
                // A pending session holds the grant: its size is bounded.
                let limit = snap.config.storage.max_grant_bytes;
                if r.body.len() > limit {
                    tracing::warn!(
                        user = %username,
                        bytes = r.body.len(),
                        limit,
                        "the upstream's login answer is larger than storage.max_grant_bytes: not held"
                    );
                    return Err(FlowError::UpstreamUnavailable(format!(
                        "login answer of {} bytes, over storage.max_grant_bytes ({limit})",
                        r.body.len()
                    )));
                }
                let plain = serde_json::to_vec(&Grant {
                    status: r.status,
                    content_type: r.content_type,
                    body: r.body.to_vec(),
                })
                .map_err(|e| FlowError::Internal(e.to_string()))?;
                Some(
                    self.keys
                        .seal_grant(&mfa_token, &key, &plain)
                        .ok_or_else(|| FlowError::Internal("sealing the grant failed".into()))?,
                )
            }
        };
        let methods = enrolled_methods(snap, &profile.value);
        let session = self.new_session(
            snap,
            username,
            Pending::Login {
                enrolment: profile.value.enrolment,
                grant: sealed_grant,
            },
            now,
        );
        self.open_session(&key, &session).await?;
        tracing::info!(user = %username, "login needs the second factor");
        Ok(LoginOutcome::MfaRequired {
            mfa_token: MfaToken::new(mfa_token),
            methods,
        })
    }

    /// `POST /{username}/mfa/challenge`: sends a new challenge for a pending session, by the
    /// method asked (an enrolled one) or the user's preferred one. Answers the method used.
    /// `asked`'s parse error counts only where a method is chosen (a login session).
    pub async fn challenge(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&MfaToken>,
        asked: Result<Option<Method>, Invalid>,
    ) -> Result<Method, FlowError> {
        let (key, session) = self.session(snap, username, mfa_token).await?;
        let SessionData { user_data, profile } = self.session_data(username, &session).await?;
        let method = match (&session.pending, profile) {
            // An enrolment in progress is challenged by the method being enrolled.
            (Pending::Enrol { method, .. }, _) => method_or_primary(snap, *method),
            (Pending::Login { .. }, None) => return Err(FlowError::InvalidSession),
            (Pending::Login { .. }, Some(profile)) => {
                let enrolled = enrolled_methods(snap, &profile.value);
                let method = match asked? {
                    Some(method) => method,
                    None => *enrolled.first().ok_or(FlowError::InvalidSession)?,
                };
                require_enrolled(method, &enrolled)?;
                check_available(snap, method)?;
                method
            }
        };
        if method == Method::Totp {
            // The code is in the user's app: nothing to send.
            return Ok(method);
        }
        let now = self.clock.now();
        if let Some(last) = session.last_sent_at {
            let next = last.saturating_add(snap.config.mfa.send_limits.min_interval_seconds);
            if now < next {
                return Err(FlowError::TooManyAttempts {
                    remaining: next - now,
                });
            }
        }
        self.check_destinations(snap, &user_data)?;
        let challenge = self
            .prepare_challenge(snap, Some(method), username, &user_data, &key, now)
            .await?;
        let mut updated = session.clone();
        updated.last_sent_at = Some(now);
        updated.outstanding = challenge.outstanding;
        // Only over the session as read: another challenge or a verify meanwhile wins.
        let written = self
            .update_session(snap, &key, |current| {
                Ok(match current {
                    Some(c) if *c == session => (Change::Put(updated.clone()), true),
                    _ => (Change::Keep, false),
                })
            })
            .await?;
        if !written {
            self.release_all(&challenge.reservations).await?;
            return Err(FlowError::InvalidSession);
        }
        // The send is counted on disk before it leaves.
        self.store.flush().await?;
        self.deliver(snap, &key, challenge.sends, challenge.reservations)
            .await?;
        Ok(method)
    }

    /// `POST /{username}/mfa/verify`: the code of a login session; releases the grant.
    pub async fn verify(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&MfaToken>,
        code: Option<OtpCode>,
    ) -> Result<Verified, FlowError> {
        let token = mfa_token.ok_or(FlowError::MissingToken)?;
        let (key, session) = self.session(snap, username, Some(token)).await?;
        let Pending::Login { grant, .. } = &session.pending else {
            return Err(FlowError::InvalidSession);
        };
        let sealed_grant = grant.clone();
        let data = self.session_data(username, &session).await?;
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        self.attempt(snap, username, async {
            self.check_session_code(snap, username, &key, &data, code.expose())
                .await
        })
        .await?;
        tracing::info!(user = %username, "second factor verified");
        let Some(sealed) = sealed_grant else {
            return Ok(Verified::User(username.clone()));
        };
        let plain = self
            .keys
            .open_grant(token.expose(), &key, &sealed)
            .ok_or_else(|| FlowError::Internal("the held grant does not open".into()))?;
        let grant: Grant =
            serde_json::from_slice(&plain).map_err(|e| FlowError::Internal(e.to_string()))?;
        Ok(Verified::Grant(Reply {
            status: grant.status,
            content_type: grant.content_type,
            body: Bytes::from(grant.body),
            retry_after: None,
        }))
    }
}

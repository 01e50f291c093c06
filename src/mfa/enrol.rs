//! Enrolment: activate opens an enrolment session and sends its first challenge (or hands an
//! authenticator its secret); confirm checks the code and saves the enrolment.

use crate::domain::{AccessToken, Method, MfaToken, OtpCode, StepUp, Username};
use crate::events::EventType::Enrolled;
use crate::snapshot::Snapshot;
use crate::store::{Profile, TotpRecord};
use crate::upstream::ClientHeaders;

use super::error::Invalid;
use super::method::{check_available, enrolled_methods, method_or_primary};
use super::outcome::{Activation, Confirmed};
use super::recovery::RECOVERY_CODE_COUNT;
use super::state::Pending;
use super::update::Change;
use super::user_data::{self, GivenUserData};
use super::{secrets, totp, FlowError, Mfa};

/// What an activate asks for, parsed from its body. The method's parse error is raised where
/// the flow looks at it (after the credential check), as before.
#[derive(Debug)]
pub struct ActivateInput {
    pub method: Result<Option<Method>, Invalid>,
    pub step_up: Option<StepUp>,
    pub user_data: GivenUserData,
}

impl Mfa {
    /// `POST /{username}/mfa/activate`: checks the user data, opens an enrolment session and
    /// sends the first challenge (an authenticator gets its secret instead). Replacing or adding
    /// to an enrolment needs a step-up.
    pub async fn activate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        input: ActivateInput,
        client: &ClientHeaders,
    ) -> Result<Activation, FlowError> {
        self.authorize(snap, username, token, client).await?;
        let named = input.method?;
        let method = method_or_primary(snap, named);
        check_available(snap, method)?;
        // Checks without side effects first: a step-up code is not spent on a bad request.
        let rules = &snap.config.mfa.user_data;
        let user_data = user_data::parse(&input.user_data, rules, method != Method::Totp)?;
        for channel in method.channels() {
            user_data::require_destination(&user_data, rules, channel)?;
        }
        self.check_destinations(snap, &user_data)?;
        let existing = self.store.profile(username.as_str()).await?;
        if existing.is_some() {
            self.step_up(snap, username, input.step_up, client).await?;
        }

        let now = self.clock.now();
        let mfa_token = secrets::new_mfa_token();
        let key = self.keys.session_key(&mfa_token);
        let enrolment = match method {
            Method::Totp => {
                let issuer = snap
                    .config
                    .mfa
                    .totp
                    .issuer
                    .clone()
                    .unwrap_or_else(|| snap.config.mfa.messages.app_name.clone());
                Some(
                    totp::enrolment(totp::new_secret(), &issuer, username.as_str())
                        .map_err(FlowError::Internal)?,
                )
            }
            _ => None,
        };
        let secret = match &enrolment {
            Some(e) => Some(
                self.keys
                    .seal_totp(username.as_str(), &e.secret)
                    .ok_or_else(|| FlowError::Internal("sealing the secret failed".into()))?,
            ),
            None => None,
        };
        let mut session = self.new_session(
            snap,
            username,
            Pending::Enrol {
                method: named,
                user_data: user_data.clone(),
                replaces: existing.map(|p| p.value.enrolment),
                secret,
            },
            now,
        );
        if method == Method::Totp {
            self.open_session(&key, &session).await?;
            tracing::info!(user = %username, "authenticator enrolment started");
            return Ok(Activation {
                mfa_token: MfaToken::new(mfa_token),
                totp: enrolment,
            });
        }
        let challenge = self
            .prepare_challenge(snap, named, username, &user_data, &key, now)
            .await?;
        session.last_sent_at = Some(now);
        session.outstanding = challenge.outstanding;
        // On disk with the sends it reserved, before they leave.
        self.open_session(&key, &session).await?;
        if let Err(e) = self
            .deliver(snap, &key, challenge.sends, challenge.reservations)
            .await
        {
            self.delete_session(snap, &key).await?;
            return Err(e);
        }
        tracing::info!(user = %username, method = method.name(), "enrolment started");
        Ok(Activation {
            mfa_token: MfaToken::new(mfa_token),
            totp: None,
        })
    }

    /// `POST /{username}/mfa/confirm`: the code of an enrolment session; saves the enrolment
    /// (keeping the methods already enrolled) and answers a new set of recovery codes and the
    /// methods.
    pub async fn confirm(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&MfaToken>,
        code: Option<OtpCode>,
    ) -> Result<Confirmed, FlowError> {
        let (key, session) = self.session(snap, username, mfa_token).await?;
        let Pending::Enrol {
            method,
            replaces,
            secret,
            ..
        } = &session.pending
        else {
            return Err(FlowError::InvalidSession);
        };
        let (replaces, secret) = (replaces.clone(), secret.clone());
        let method = method_or_primary(snap, *method);
        let data = self.session_data(username, &session).await?;
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        let step = self
            .attempt(snap, username, async {
                self.check_session_code(snap, username, &key, &data, code.expose())
                    .await
            })
            .await?;
        let user_data = data.user_data;

        let codes = secrets::new_recovery_codes(RECOVERY_CODE_COUNT);
        let recovery_codes = self.hash_recovery_codes(username, &codes);
        let enrolled_at = self.clock.now();
        let methods = self
            .update_profile(username, None, |current| {
                // The enrolment must still be the one this activation was allowed to replace.
                if current.map(|p| &p.enrolment) != replaces.as_ref() {
                    return Err(FlowError::InvalidSession);
                }
                let mut methods = current
                    .map(|p| enrolled_methods(snap, p))
                    .unwrap_or_default();
                for m in method.enrolled_as() {
                    if !methods.contains(&m) {
                        methods.push(m);
                    }
                }
                let mut merged = current.map(|p| p.user_data.clone()).unwrap_or_default();
                merged.extend(user_data.clone());
                let totp = match (&secret, step) {
                    (Some(sealed), Some(step)) => Some(TotpRecord {
                        sealed: sealed.clone(),
                        last_step: step,
                    }),
                    _ => current.and_then(|p| p.totp.clone()),
                };
                let profile = Profile {
                    user_data: merged,
                    recovery_codes: recovery_codes.clone(),
                    enrolled_at,
                    enrolment: secrets::new_id(),
                    methods: methods.clone(),
                    totp,
                };
                Ok((Change::Put(profile), methods))
            })
            .await?;
        tracing::info!(user = %username, method = method.name(), "MFA enrolled");
        self.emit_enrolment(snap, username, Enrolled, Some(method), &methods, "user")
            .await;
        Ok(Confirmed {
            recovery_codes: codes,
            methods,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Harness, PHONE};
    use super::*;

    /// Activates SMS for an enrolled user, with a recovery code as the step-up.
    async fn reactivate(h: &Harness, recovery_code: &str) -> MfaToken {
        let input = ActivateInput {
            method: Ok(None),
            step_up: Some(StepUp::Code(recovery_code.to_string())),
            user_data: GivenUserData::new(vec![("phone".into(), Some(PHONE.into()))]),
        };
        h.mfa
            .activate(
                &h.snap,
                &h.user("alice"),
                Some(&Harness::api_key()),
                input,
                &ClientHeaders::default(),
            )
            .await
            .unwrap()
            .mfa_token
    }

    #[tokio::test]
    async fn an_enrolment_replaced_meanwhile_kills_the_pending_one() {
        let h = Harness::new();
        let codes = h.enrol("alice").await;
        let alice = h.user("alice");

        let first = reactivate(&h, &codes[0]).await;
        let first_code = h.last_code();
        let second = reactivate(&h, &codes[1]).await;
        let second_code = h.last_code();
        h.mfa
            .confirm(&h.snap, &alice, Some(&second), Some(second_code))
            .await
            .unwrap();

        let late = h
            .mfa
            .confirm(&h.snap, &alice, Some(&first), Some(first_code))
            .await;
        assert!(matches!(late, Err(FlowError::InvalidSession)), "{late:?}");
    }

    #[tokio::test]
    async fn a_second_activation_needs_a_step_up_and_spends_nothing_without_one() {
        let h = Harness::new();
        h.enrol("alice").await;
        let input = ActivateInput {
            method: Ok(None),
            step_up: None,
            user_data: GivenUserData::new(vec![("phone".into(), Some(PHONE.into()))]),
        };
        let r = h
            .mfa
            .activate(
                &h.snap,
                &h.user("alice"),
                Some(&Harness::api_key()),
                input,
                &ClientHeaders::default(),
            )
            .await;
        assert!(
            matches!(r, Err(FlowError::StepUpRequired(_))),
            "{:?}",
            r.map(|_| ())
        );
    }

    #[tokio::test]
    async fn an_enrolment_by_a_providers_code_checks_it_with_what_the_challenge_answered() {
        use super::super::testing::{FakeProvider, PROVIDER_CODE, REQUEST_ID};
        let provider = FakeProvider::start().await;
        let h = Harness::with_endpoints("challenge-verify", &provider.endpoints());

        let token = h.activate("alice").await;
        let codes = h
            .mfa
            .confirm(
                &h.snap,
                &h.user("alice"),
                Some(&token),
                Some(OtpCode::new(PROVIDER_CODE.into())),
            )
            .await
            .unwrap()
            .recovery_codes;

        assert_eq!(codes.len(), crate::mfa::RECOVERY_CODE_COUNT);
        let bodies = provider.bodies.lock().unwrap().clone();
        assert_eq!(bodies.len(), 2, "{bodies:?}");
        assert!(bodies[1].contains(REQUEST_ID), "{bodies:?}");
    }
}

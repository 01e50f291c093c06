//! The MFA flows: login, activate, confirm, challenge, verify, deactivate, recover, and the
//! enrolment's status and recovery codes.
//!
//! No HTTP here: the web layer parses requests into these calls and maps [`FlowError`] to
//! Pryv-style answers. Every flow takes the configuration snapshot it runs under.
//!
//! Every secret a user proves (a code, a recovery code, a step-up password) is an *attempt*:
//! counted on the user's tally before it is checked, refused unchecked during a wait, and
//! flushed to disk before the answer.

pub mod limits;
pub mod secrets;
pub mod totp;
pub mod user_data;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::config::{Channel, Endpoints, MfaConfig, Mode};
use crate::domain::{AccessToken, Username};
use crate::provider::{Reply, SendError, Sender};
use crate::snapshot::Snapshot;
use crate::store::{
    Profile, RecoveryCode, Session, SessionKey, SessionKind, Store, StoreError, StoredCode,
    TotpRecord, Versioned,
};
use crate::template::{EndpointId, OutboundRequest, RenderError, SendInput, Templates};
use crate::upstream::{self, Access, ClientHeaders, UpstreamError};

use secrets::Keys;

pub const RECOVERY_CODE_COUNT: usize = 10;

/// Why a flow did not succeed. The web layer turns each into one Pryv-style error.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("no access token given")]
    MissingToken,
    #[error("unknown, expired or foreign mfa session")]
    InvalidSession,
    #[error("too many wrong codes on one session")]
    SessionLocked,
    #[error("the api key is not valid")]
    InvalidApiKey,
    #[error("the token is not accepted for this operation")]
    NotPersonal,
    #[error("missing parameter {0}")]
    MissingParameter(&'static str),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("wrong or expired code")]
    InvalidCode,
    #[error("wrong recovery code")]
    InvalidRecoveryCode,
    #[error("a step-up is needed: {0}")]
    StepUpRequired(&'static str),
    #[error("too many attempts: {remaining} s to wait")]
    TooManyAttempts { remaining: u64 },
    #[error("messaging service failure: {0}")]
    Messaging(String),
    #[error("the upstream refused with status {}", .0.status)]
    UpstreamRefused(Reply),
    #[error("the upstream failed: {0}")]
    UpstreamUnavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        FlowError::Internal(e.to_string())
    }
}

/// What a login gives.
#[derive(Debug)]
pub enum LoginOutcome {
    /// MFA is on: the grant waits for a verify.
    MfaRequired {
        mfa_token: String,
        /// The methods the user can answer with, preferred first.
        methods: Vec<String>,
    },
    /// Proxy mode, MFA off: the upstream's answer as it came.
    Passed(Reply),
    /// Standalone mode, MFA off.
    Inactive,
}

/// What a successful verify releases.
#[derive(Debug)]
pub enum Verified {
    /// Proxy mode: the upstream's login answer, kept since the login.
    Grant(Reply),
    /// Standalone mode.
    User(Username),
}

/// A way to receive or produce a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A code sent by a channel (`sms`, `email`).
    Channel(Channel),
    /// The same code by SMS and email (`sms+email`).
    Dual,
    /// An authenticator app (`totp`).
    Totp,
}

impl Method {
    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "sms" => Some(Method::Channel(Channel::Sms)),
            "email" => Some(Method::Channel(Channel::Email)),
            "sms+email" => Some(Method::Dual),
            "totp" => Some(Method::Totp),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Channel(c) => c.name(),
            Method::Dual => "sms+email",
            Method::Totp => "totp",
        }
    }

    /// The channels a challenge by this method sends on.
    pub fn channels(self) -> Vec<Channel> {
        match self {
            Method::Channel(c) => vec![c],
            Method::Dual => vec![Channel::Sms, Channel::Email],
            Method::Totp => Vec::new(),
        }
    }

    /// The names this method stands for in an enrolment.
    fn enrolled_names(self) -> Vec<&'static str> {
        match self {
            Method::Dual => vec!["sms", "email"],
            other => vec![other.name()],
        }
    }
}

/// What activate answers: the mfaToken, and for an authenticator what the app needs.
#[derive(Debug)]
pub struct Activation {
    pub mfa_token: String,
    pub totp: Option<totp::Enrolment>,
}

/// See [`Mfa::session_data`].
struct SessionData {
    user_data: BTreeMap<String, String>,
    profile: Option<Versioned<Profile>>,
}

/// One send of a challenge, rendered.
struct Prepared {
    channel: Channel,
    request: OutboundRequest,
}

/// Proof of presence for changes to an enrolment. Its `Debug` leaves the proof out.
#[derive(Clone, PartialEq, Eq)]
pub enum StepUp {
    /// Proxy mode: the user's password, checked by a login to the upstream.
    Password { password: String, app_id: String },
    /// A recovery code (used up by the step-up), or a current code of the enrolled
    /// authenticator app.
    Code(String),
}

impl std::fmt::Debug for StepUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StepUp::Password { .. } => "StepUp::Password(***)",
            StepUp::Code(_) => "StepUp::Code(***)",
        })
    }
}

impl StepUp {
    /// Takes `password`, `appId` and `code` out of a request body.
    pub fn take_from(body: &mut serde_json::Map<String, serde_json::Value>) -> Option<StepUp> {
        let text = |v: serde_json::Value| match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let password = body.remove("password").map(text);
        let app_id = body.remove("appId").map(text);
        let code = body.remove("code").map(text);
        match (password, code) {
            (_, Some(code)) => Some(StepUp::Code(code)),
            (Some(password), None) => Some(StepUp::Password {
                password,
                app_id: app_id.unwrap_or_else(|| "mfa-bridge".to_string()),
            }),
            (None, None) => None,
        }
    }
}

/// What `GET /{username}/mfa` shows: what is enrolled, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<usize>,
}

/// The upstream's login answer as held in a session, before sealing.
#[derive(Serialize, Deserialize)]
struct Grant {
    status: u16,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// Sends reserved on the send limits, to give back if nothing reached the provider.
struct Reservation {
    at: u64,
    keys: Vec<Vec<u8>>,
}

/// The MFA service: storage, the outbound client, keys and the clock.
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn Store>,
    sender: Sender,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

impl Mfa {
    pub fn new(store: Arc<dyn Store>, sender: Sender, keys: Keys, clock: Arc<dyn Clock>) -> Mfa {
        Mfa {
            store,
            sender,
            keys,
            clock,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The time on the service's clock (seconds since the epoch).
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// A real send of a test message to `user_data` (the admin panel's test send), counted on
    /// the send limits. Answers the provider's reply and the request as sent.
    pub async fn test_send(
        &self,
        snap: &Snapshot,
        user_data: &BTreeMap<String, String>,
    ) -> Result<(Reply, OutboundRequest), FlowError> {
        let username = Username::parse("admin-test-send", &snap.config.server.username_pattern)
            .ok_or_else(|| FlowError::Internal("the test-send user name is refused".into()))?;
        self.check_destinations(snap, user_data)?;
        let channel = snap.config.mfa.channel;
        let code = (snap.config.mfa.mode == Mode::Single)
            .then(|| secrets::new_code(snap.config.mfa.code.length));
        let request = self.render_send(snap, channel, &username, user_data, code.as_deref())?;
        let reservation = self
            .reserve_sends(snap, channel, &username, user_data, self.clock.now())
            .await?;
        self.store.flush().await?;
        let reply = self.transmit(snap, &request, reservation).await?;
        Ok((reply, request))
    }

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
            SessionKind::Login {
                sealed_grant,
                enrolment: profile.value.enrolment,
            },
            now,
        );
        self.store.insert_session(&key, &session).await?;
        tracing::info!(user = %username, "login needs the second factor");
        Ok(LoginOutcome::MfaRequired { mfa_token, methods })
    }

    /// `POST /{username}/mfa/activate`: checks the user data, opens an enrolment session and
    /// sends the first challenge (an authenticator gets its secret instead). Replacing or adding
    /// to an enrolment needs a step-up.
    pub async fn activate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        mut body: serde_json::Map<String, serde_json::Value>,
        client: &ClientHeaders,
    ) -> Result<Activation, FlowError> {
        self.authorize(snap, username, token, client).await?;
        let named = take_method(&mut body)?;
        let step_up = StepUp::take_from(&mut body);
        let method = named.unwrap_or(Method::Channel(snap.config.mfa.channel));
        check_available(snap, method)?;
        // Checks without side effects first: a step-up code is not spent on a bad request.
        let rules = &snap.config.mfa.user_data;
        let user_data = user_data::parse(&body, rules, method != Method::Totp)?;
        for channel in method.channels() {
            user_data::require_destination(&user_data, rules, channel)?;
        }
        self.check_destinations(snap, &user_data)?;
        let existing = self.store.profile(username.as_str()).await?;
        if existing.is_some() {
            self.step_up(snap, username, step_up, client).await?;
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
        let sealed = match &enrolment {
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
            SessionKind::Activate {
                user_data: user_data.clone(),
                replaces: existing.map(|p| p.value.enrolment),
                method: named.map(|m| m.name().to_string()),
                totp: sealed,
            },
            now,
        );
        if method == Method::Totp {
            self.store.insert_session(&key, &session).await?;
            self.store.flush().await?;
            tracing::info!(user = %username, "authenticator enrolment started");
            return Ok(Activation {
                mfa_token,
                totp: enrolment,
            });
        }
        let code = self.new_code_for(snap, method, &key, &mut session, now)?;
        let prepared = self.prepare_sends(snap, method, username, &user_data, code.as_deref())?;
        let reservations = self
            .reserve_all(snap, username, &user_data, &prepared, now)
            .await?;
        session.last_sent_at = Some(now);
        session.challenged = named.map(|m| m.name().to_string());
        self.store.insert_session(&key, &session).await?;
        // An enrolment in progress costs a message: it survives even a crash. Login sessions
        // rely on the periodic flush (and the one at shutdown) instead.
        self.store.flush().await?;
        if let Err(e) = self.deliver(snap, &key, prepared, reservations).await {
            self.delete_session(&key).await?;
            return Err(e);
        }
        tracing::info!(user = %username, method = method.name(), "enrolment started");
        Ok(Activation {
            mfa_token,
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
        mfa_token: Option<&AccessToken>,
        code: Option<String>,
    ) -> Result<(Vec<String>, Vec<String>), FlowError> {
        let (key, session) = self.session(username, mfa_token).await?;
        let SessionKind::Activate {
            replaces,
            method,
            totp: sealed,
            ..
        } = &session.value.kind
        else {
            return Err(FlowError::InvalidSession);
        };
        let (replaces, sealed) = (replaces.clone(), sealed.clone());
        let method = method_or_primary(snap, method.as_deref()).ok_or(FlowError::InvalidSession)?;
        let data = self.session_data(username, &session).await?;
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        let step = self
            .attempt(snap, username, async {
                self.check_session_code(snap, username, &key, &data, &code)
                    .await
            })
            .await?;
        let user_data = data.user_data;

        let codes = secrets::new_recovery_codes(RECOVERY_CODE_COUNT);
        let recovery_codes = self.hash_recovery_codes(username, &codes);
        // The enrolment must still be the one this activation was allowed to replace.
        loop {
            let current = self.store.profile(username.as_str()).await?;
            if current.as_ref().map(|p| &p.value.enrolment) != replaces.as_ref() {
                return Err(FlowError::InvalidSession);
            }
            let mut methods = current
                .as_ref()
                .map(|p| enrolled_methods(snap, &p.value))
                .unwrap_or_default();
            for name in method.enrolled_names() {
                if !methods.iter().any(|m| m == name) {
                    methods.push(name.to_string());
                }
            }
            let mut merged = current
                .as_ref()
                .map(|p| p.value.user_data.clone())
                .unwrap_or_default();
            merged.extend(user_data.clone());
            let totp = match (&sealed, step) {
                (Some(sealed), Some(step)) => Some(TotpRecord {
                    sealed: sealed.clone(),
                    last_step: step,
                }),
                _ => current.as_ref().and_then(|p| p.value.totp.clone()),
            };
            let profile = Profile {
                user_data: merged,
                recovery_codes: recovery_codes.clone(),
                enrolled_at: self.clock.now(),
                enrolment: secrets::new_id(),
                methods: methods.clone(),
                totp,
            };
            if self
                .store
                .swap_profile(username.as_str(), current.as_ref(), Some(&profile))
                .await?
            {
                tracing::info!(user = %username, method = method.name(), "MFA enrolled");
                return Ok((codes, methods));
            }
        }
    }

    /// `POST /{username}/mfa/challenge`: sends a new challenge for a pending session, by the
    /// method asked (an enrolled one) or the user's preferred one. Answers the method used.
    pub async fn challenge(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&AccessToken>,
        asked: Option<String>,
    ) -> Result<&'static str, FlowError> {
        let (key, session) = self.session(username, mfa_token).await?;
        let SessionData { user_data, profile } = self.session_data(username, &session).await?;
        let method = match (&session.value.kind, profile) {
            // An enrolment in progress is challenged by the method being enrolled.
            (SessionKind::Activate { method, .. }, _) => {
                method_or_primary(snap, method.as_deref()).ok_or(FlowError::InvalidSession)?
            }
            (SessionKind::Login { .. }, None) => return Err(FlowError::InvalidSession),
            (SessionKind::Login { .. }, Some(profile)) => {
                let enrolled = enrolled_methods(snap, &profile.value);
                let name = match asked {
                    Some(name) => name,
                    None => enrolled.first().cloned().ok_or(FlowError::InvalidSession)?,
                };
                let method = Method::parse(&name).ok_or_else(|| unknown_method(&name))?;
                require_enrolled(method, &enrolled)?;
                check_available(snap, method)?;
                method
            }
        };
        if method == Method::Totp {
            // The code is in the user's app: nothing to send.
            return Ok(method.name());
        }
        let now = self.clock.now();
        if let Some(last) = session.value.last_sent_at {
            let next = last.saturating_add(snap.config.mfa.send_limits.min_interval_seconds);
            if now < next {
                return Err(FlowError::TooManyAttempts {
                    remaining: next - now,
                });
            }
        }
        self.check_destinations(snap, &user_data)?;
        let mut updated = session.value.clone();
        let code = self.new_code_for(snap, method, &key, &mut updated, now)?;
        let prepared = self.prepare_sends(snap, method, username, &user_data, code.as_deref())?;
        let reservations = self
            .reserve_all(snap, username, &user_data, &prepared, now)
            .await?;
        updated.last_sent_at = Some(now);
        updated.challenged = Some(method.name().to_string());
        if !self
            .store
            .swap_session(&key, &session, Some(&updated))
            .await?
        {
            for reservation in &reservations {
                self.release_sends(reservation).await?;
            }
            return Err(FlowError::InvalidSession);
        }
        // The send is counted on disk before it leaves.
        self.store.flush().await?;
        self.deliver(snap, &key, prepared, reservations).await?;
        Ok(method.name())
    }

    /// Transmits prepared sends (their reservations flushed); each reply must satisfy its
    /// endpoint, and what a challenge answer holds (`capture`) is kept with the session.
    async fn deliver(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        prepared: Vec<Prepared>,
        reservations: Vec<Reservation>,
    ) -> Result<(), FlowError> {
        for (p, reservation) in prepared.into_iter().zip(reservations) {
            let (cfg, templates) = route(snap, p.channel)?;
            let reply = self.transmit(snap, &p.request, reservation).await?;
            accepted(templates, &p.request, &reply)?;
            let captured = captures(cfg, &reply)?;
            self.keep_captures(key, captured).await?;
        }
        Ok(())
    }

    /// Keeps what a challenge's answer held with its session, for the verify endpoint.
    async fn keep_captures(
        &self,
        key: &SessionKey,
        captured: BTreeMap<String, String>,
    ) -> Result<(), FlowError> {
        if captured.is_empty() {
            return Ok(());
        }
        loop {
            let Some(current) = self.store.session(key).await? else {
                return Ok(());
            };
            let mut updated = current.value.clone();
            updated.captured = captured.clone();
            if self
                .store
                .swap_session(key, &current, Some(&updated))
                .await?
            {
                return Ok(());
            }
        }
    }

    /// `POST /{username}/mfa/verify`: the code of a login session; releases the grant.
    pub async fn verify(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&AccessToken>,
        code: Option<String>,
    ) -> Result<Verified, FlowError> {
        let token = mfa_token.ok_or(FlowError::MissingToken)?;
        let (key, session) = self.session(username, Some(token)).await?;
        let SessionKind::Login { sealed_grant, .. } = &session.value.kind else {
            return Err(FlowError::InvalidSession);
        };
        let sealed_grant = sealed_grant.clone();
        let data = self.session_data(username, &session).await?;
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        self.attempt(snap, username, async {
            self.check_session_code(snap, username, &key, &data, &code)
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
        }))
    }

    /// `POST /{username}/mfa/deactivate`: with a step-up when MFA is on. With a `method`,
    /// only that method goes (the others stay; the last one takes MFA with it). Answers the
    /// methods left.
    pub async fn deactivate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        mut body: serde_json::Map<String, serde_json::Value>,
        client: &ClientHeaders,
    ) -> Result<Option<Vec<String>>, FlowError> {
        self.authorize(snap, username, token, client).await?;
        let method = take_method(&mut body)?;
        let Some(profile) = self.store.profile(username.as_str()).await? else {
            return Ok(method.map(|_| Vec::new()));
        };
        if let Some(m) = method {
            require_enrolled(m, &enrolled_methods(snap, &profile.value))?;
        }
        let step_up = StepUp::take_from(&mut body);
        self.step_up(snap, username, step_up, client).await?;
        let Some(m) = method else {
            self.replace_profile(username, None).await?;
            tracing::info!(user = %username, "MFA deactivated");
            return Ok(None);
        };
        loop {
            let Some(current) = self.store.profile(username.as_str()).await? else {
                return Ok(Some(Vec::new()));
            };
            let removed = m.enrolled_names();
            let left: Vec<String> = enrolled_methods(snap, &current.value)
                .into_iter()
                .filter(|e| !removed.contains(&e.as_str()))
                .collect();
            let updated = if left.is_empty() {
                None
            } else {
                let mut p = current.value.clone();
                p.methods = left.clone();
                if m == Method::Totp {
                    p.totp = None;
                }
                // Sessions opened for the old enrolment die with it.
                p.enrolment = secrets::new_id();
                Some(p)
            };
            if self
                .store
                .swap_profile(username.as_str(), Some(&current), updated.as_ref())
                .await?
            {
                tracing::info!(user = %username, method = m.name(), "MFA method removed");
                return Ok(Some(left));
            }
        }
    }

    /// `POST /{username}/mfa/recover`: a recovery code (with the password in proxy mode, the
    /// api key in standalone mode) turns MFA off.
    pub async fn recover(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        mut body: serde_json::Map<String, serde_json::Value>,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        if snap.config.upstream.is_none() {
            self.authorize(snap, username, token, client).await?;
        }
        let recovery_code = match body.remove("recoveryCode") {
            None | Some(serde_json::Value::Null) => {
                return Err(FlowError::MissingParameter("recoveryCode"))
            }
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
        };
        if snap.config.upstream.is_some() {
            let forwarded =
                serde_json::to_vec(&body).map_err(|e| FlowError::Internal(e.to_string()))?;
            self.upstream_login(snap, username, forwarded.into(), client)
                .await?;
        }
        self.attempt(snap, username, async {
            match self.use_recovery_code(username, &recovery_code, true).await {
                Err(FlowError::InvalidCode) => Err(FlowError::InvalidRecoveryCode),
                other => other,
            }
        })
        .await?;
        tracing::info!(user = %username, "MFA deactivated with a recovery code");
        Ok(())
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
                        .filter(|c| c.used_at.is_none())
                        .count(),
                ),
            },
        })
    }

    /// `POST /{username}/mfa/recovery-codes`: a new set, with a step-up; the old set stops
    /// working.
    pub async fn new_recovery_codes(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        mut body: serde_json::Map<String, serde_json::Value>,
        client: &ClientHeaders,
    ) -> Result<Vec<String>, FlowError> {
        self.authorize(snap, username, token, client).await?;
        if self.store.profile(username.as_str()).await?.is_none() {
            return Err(FlowError::InvalidParameter(
                "MFA is not active for this user.".into(),
            ));
        }
        let step_up = StepUp::take_from(&mut body);
        self.step_up(snap, username, step_up, client).await?;
        let codes = secrets::new_recovery_codes(RECOVERY_CODE_COUNT);
        let hashes = self.hash_recovery_codes(username, &codes);
        loop {
            let Some(current) = self.store.profile(username.as_str()).await? else {
                return Err(FlowError::InvalidParameter(
                    "MFA is not active for this user.".into(),
                ));
            };
            let mut updated = current.value.clone();
            updated.recovery_codes = hashes.clone();
            if self
                .store
                .swap_profile(username.as_str(), Some(&current), Some(&updated))
                .await?
            {
                tracing::info!(user = %username, "new recovery codes issued");
                return Ok(codes);
            }
        }
    }

    /// Deletes expired sessions and counters.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.store
            .sweep(self.clock.now(), limits::counter_expired)
            .await
    }

    // --- attempts and step-up --------------------------------------------------------------

    /// Runs `check` as one attempt of `username`: counted first (refused unchecked during a
    /// wait), the tally reset on success, and flushed before the answer either way.
    async fn attempt<T>(
        &self,
        snap: &Snapshot,
        username: &Username,
        check: impl Future<Output = Result<T, FlowError>>,
    ) -> Result<T, FlowError> {
        let now = self.clock.now();
        let policy = snap.config.mfa.attempts;
        let key = limits::tally_key(username.as_str());
        let mut refused = None;
        self.store
            .update_counter(&key, &mut |old| {
                let (tally, r) = limits::count_attempt(limits::read_tally(old), now, &policy);
                refused = r;
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
        result
    }

    /// Checks a step-up proof for a change to an existing enrolment.
    async fn step_up(
        &self,
        snap: &Snapshot,
        username: &Username,
        proof: Option<StepUp>,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        match proof {
            None => Err(FlowError::StepUpRequired(
                "give the password, a recovery code or an authenticator code",
            )),
            Some(StepUp::Password { .. }) if snap.config.upstream.is_none() => Err(
                FlowError::StepUpRequired("without an upstream, give a recovery code"),
            ),
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

    /// A login to the upstream with `body` as the client's (JSON).
    async fn upstream_login(
        &self,
        snap: &Snapshot,
        username: &Username,
        body: Bytes,
        client: &ClientHeaders,
    ) -> Result<Reply, FlowError> {
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

    /// Uses up one of the user's recovery codes; with `deactivate`, the whole enrolment goes
    /// with it. `InvalidCode` when it matches no unused code.
    async fn use_recovery_code(
        &self,
        username: &Username,
        code: &str,
        deactivate: bool,
    ) -> Result<(), FlowError> {
        let hash = self
            .keys
            .recovery_hash(username.as_str(), &secrets::normalize_recovery_code(code));
        loop {
            let Some(current) = self.store.profile(username.as_str()).await? else {
                return Err(FlowError::InvalidCode);
            };
            let unused: Vec<(usize, &str)> = current
                .value
                .recovery_codes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.used_at.is_none())
                .map(|(i, c)| (i, c.hash.as_str()))
                .collect();
            let Some(found) = secrets::find_hash(&hash, unused.iter().map(|(_, h)| *h)) else {
                tracing::info!(user = %username, "wrong recovery code");
                return Err(FlowError::InvalidCode);
            };
            let updated = if deactivate {
                None
            } else {
                let mut p = current.value.clone();
                p.recovery_codes[unused[found].0].used_at = Some(self.clock.now());
                Some(p)
            };
            if self
                .store
                .swap_profile(username.as_str(), Some(&current), updated.as_ref())
                .await?
            {
                return Ok(());
            }
        }
    }

    fn hash_recovery_codes(&self, username: &Username, codes: &[String]) -> Vec<RecoveryCode> {
        codes
            .iter()
            .map(|c| RecoveryCode {
                hash: self
                    .keys
                    .recovery_hash(username.as_str(), &secrets::normalize_recovery_code(c)),
                used_at: None,
            })
            .collect()
    }

    // --- sessions -------------------------------------------------------------------------

    fn new_session(
        &self,
        snap: &Snapshot,
        username: &Username,
        kind: SessionKind,
        now: u64,
    ) -> Session {
        Session {
            username: username.as_str().to_string(),
            kind,
            created_at: now,
            expires_at: now + snap.config.mfa.session_ttl.as_secs(),
            code: None,
            attempts: 0,
            last_sent_at: None,
            captured: BTreeMap::new(),
            challenged: None,
        }
    }

    /// The live session of `mfa_token`, if it belongs to `username`.
    async fn session(
        &self,
        username: &Username,
        mfa_token: Option<&AccessToken>,
    ) -> Result<(SessionKey, Versioned<Session>), FlowError> {
        let token = mfa_token.ok_or(FlowError::MissingToken)?;
        if token.expose().len() > 256 {
            return Err(FlowError::InvalidSession);
        }
        let key = self.keys.session_key(token.expose());
        let session = self
            .store
            .session(&key)
            .await?
            .ok_or(FlowError::InvalidSession)?;
        if session.value.username != username.as_str()
            || session.value.expires_at <= self.clock.now()
        {
            return Err(FlowError::InvalidSession);
        }
        Ok((key, session))
    }

    /// What a session's challenges and checks work with: the user data (the enrolment's, or
    /// the pending one's) and, for a login session, the enrolment as read.
    async fn session_data(
        &self,
        username: &Username,
        session: &Versioned<Session>,
    ) -> Result<SessionData, FlowError> {
        match &session.value.kind {
            SessionKind::Activate {
                user_data,
                replaces,
                ..
            } => {
                // An activation dies when the enrolment it would replace changed meanwhile.
                let current = self.store.profile(username.as_str()).await?;
                if current.as_ref().map(|p| &p.value.enrolment) != replaces.as_ref() {
                    return Err(FlowError::InvalidSession);
                }
                Ok(SessionData {
                    user_data: user_data.clone(),
                    profile: None,
                })
            }
            SessionKind::Login { enrolment, .. } => {
                let profile = self
                    .store
                    .profile(username.as_str())
                    .await?
                    .ok_or(FlowError::InvalidSession)?;
                // A login session dies with the enrolment it was made for.
                if profile.value.enrolment != *enrolment {
                    return Err(FlowError::InvalidSession);
                }
                Ok(SessionData {
                    user_data: profile.value.user_data.clone(),
                    profile: Some(profile),
                })
            }
        }
    }

    /// Deletes a session if it is still there; `false` if it was gone.
    async fn delete_session(&self, key: &SessionKey) -> Result<bool, FlowError> {
        loop {
            let Some(current) = self.store.session(key).await? else {
                return Ok(false);
            };
            if self.store.swap_session(key, &current, None).await? {
                return Ok(true);
            }
        }
    }

    async fn replace_profile(
        &self,
        username: &Username,
        new: Option<&Profile>,
    ) -> Result<(), FlowError> {
        loop {
            let current = self.store.profile(username.as_str()).await?;
            if current.is_none() && new.is_none() {
                return Ok(());
            }
            if self
                .store
                .swap_profile(username.as_str(), current.as_ref(), new)
                .await?
            {
                return Ok(());
            }
        }
    }

    // --- codes ----------------------------------------------------------------------------

    /// A new code for the session (the previous one stops working) when the method's
    /// channels are in single mode; none when the provider makes it. Two channels at once
    /// share one code, so both must be in single mode.
    fn new_code_for(
        &self,
        snap: &Snapshot,
        method: Method,
        key: &SessionKey,
        session: &mut Session,
        now: u64,
    ) -> Result<Option<String>, FlowError> {
        let modes = method
            .channels()
            .into_iter()
            .map(|c| route(snap, c).map(|(cfg, _)| cfg.mode))
            .collect::<Result<Vec<_>, _>>()?;
        if !modes.contains(&Mode::Single) {
            return Ok(None);
        }
        let code = secrets::new_code(snap.config.mfa.code.length);
        session.code = Some(StoredCode {
            hash: self.keys.code_hash(key, &code),
            expires_at: now + snap.config.mfa.code.ttl.as_secs(),
        });
        Ok(Some(code))
    }

    /// One attempt at a session's code: counted on the session first, checked, and on
    /// success the session is used up. The wrong code that reaches the ceiling deletes it.
    async fn check_session_code(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        data: &SessionData,
        code: &str,
    ) -> Result<Option<u64>, FlowError> {
        let ceiling = snap.config.mfa.attempts.per_session;
        let counted = loop {
            let Some(current) = self.store.session(key).await? else {
                return Err(FlowError::InvalidSession);
            };
            let mut updated = current.value.clone();
            updated.attempts = updated.attempts.saturating_add(1);
            if updated.attempts > ceiling {
                self.delete_session(key).await?;
                return Err(FlowError::SessionLocked);
            }
            if self
                .store
                .swap_session(key, &current, Some(&updated))
                .await?
            {
                break updated;
            }
        };
        match self
            .check_code(snap, username, key, &counted, data, code)
            .await
        {
            Ok(step) => {
                if self.delete_session(key).await? {
                    Ok(step)
                } else {
                    Err(FlowError::InvalidSession)
                }
            }
            Err(FlowError::InvalidCode) if counted.attempts >= ceiling => {
                self.delete_session(key).await?;
                tracing::info!(user = %username, "session closed after too many wrong codes");
                Err(FlowError::SessionLocked)
            }
            Err(e) => Err(e),
        }
    }

    /// Checks a code. A login session takes a code of the user's authenticator at any time,
    /// else the code of its last challenge: against the session's stored hash when the
    /// channel is in single mode, with the provider's verify endpoint in challenge-verify
    /// mode. An authenticator's enrolment takes a code of its new secret, and answers the step
    /// it matched.
    async fn check_code(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        session: &Session,
        data: &SessionData,
        code: &str,
    ) -> Result<Option<u64>, FlowError> {
        if code.is_empty() || code.len() > 64 {
            return Err(FlowError::InvalidCode);
        }
        let user_data = &data.user_data;
        let challenged = match &session.kind {
            SessionKind::Login { .. } => {
                if self
                    .use_totp(snap, username, code, data.profile.clone())
                    .await?
                {
                    return Ok(None);
                }
                session.challenged.as_deref()
            }
            SessionKind::Activate {
                method,
                totp: Some(sealed),
                ..
            } if method.as_deref() == Some("totp") => {
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
            SessionKind::Activate { method, .. } => method.as_deref(),
        };
        let method = method_or_primary(snap, challenged).ok_or(FlowError::InvalidCode)?;
        let channel = match method {
            // Nothing was sent: only an authenticator code can answer.
            Method::Totp => return Err(FlowError::InvalidCode),
            Method::Dual => Channel::Sms,
            Method::Channel(c) => c,
        };
        let (cfg, templates) = route(snap, channel)?;
        match (&cfg.endpoints, method) {
            (Endpoints::Single(_), _) | (_, Method::Dual) => {
                let Some(stored) = &session.code else {
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
                let vars = templates
                    .vars_for(
                        EndpointId::Verify,
                        &SendInput {
                            username: username.as_str(),
                            user_data,
                            code: Some(code),
                            captured: Some(&session.captured),
                        },
                    )
                    .map_err(render_error)?;
                let request = templates
                    .render(EndpointId::Verify, &vars)
                    .map_err(|e| match e {
                        // A code that cannot be placed where the template puts it is wrong.
                        RenderError::HeaderValue { .. } => FlowError::InvalidCode,
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
    async fn use_totp(
        &self,
        snap: &Snapshot,
        username: &Username,
        code: &str,
        mut known: Option<Versioned<Profile>>,
    ) -> Result<bool, FlowError> {
        loop {
            let current = match known.take() {
                Some(p) => p,
                None => match self.store.profile(username.as_str()).await? {
                    Some(p) => p,
                    None => return Ok(false),
                },
            };
            let Some(record) = &current.value.totp else {
                return Ok(false);
            };
            let secret = self
                .keys
                .open_totp(username.as_str(), &record.sealed)
                .ok_or_else(|| {
                    FlowError::Internal("the authenticator secret does not open".into())
                })?;
            let drift = snap.config.mfa.totp.drift;
            let Some(step) = totp::matching_step(&secret, code, self.clock.now(), drift) else {
                return Ok(false);
            };
            if step <= record.last_step {
                tracing::info!(user = %username, "authenticator code already used");
                return Ok(false);
            }
            let mut updated = current.value.clone();
            if let Some(t) = updated.totp.as_mut() {
                t.last_step = step;
            }
            if self
                .store
                .swap_profile(username.as_str(), Some(&current), Some(&updated))
                .await?
            {
                return Ok(true);
            }
        }
    }

    // --- sends ----------------------------------------------------------------------------

    /// The phone numbers in `user_data` must pass `mfa.destinations`.
    fn check_destinations(
        &self,
        snap: &Snapshot,
        user_data: &BTreeMap<String, String>,
    ) -> Result<(), FlowError> {
        let rules = &snap.config.mfa.destinations;
        for field in &snap.config.mfa.user_data.phone_fields {
            let Some(number) = user_data.get(field) else {
                continue;
            };
            if let Some(prefix) = rules.deny.iter().find(|p| number.starts_with(p.as_str())) {
                return Err(FlowError::InvalidParameter(format!(
                    "Invalid parameter: {field}: this destination is refused by mfa.destinations.deny ({prefix})."
                )));
            }
            if !rules.allow.is_empty()
                && !rules.allow.iter().any(|p| number.starts_with(p.as_str()))
            {
                return Err(FlowError::InvalidParameter(format!(
                    "Invalid parameter: {field}: this destination is not in mfa.destinations.allow ({}).",
                    rules.allow.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Renders the single (with `code`) or challenge request of a channel for `user_data`.
    fn render_send(
        &self,
        snap: &Snapshot,
        channel: Channel,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        code: Option<&str>,
    ) -> Result<OutboundRequest, FlowError> {
        let (cfg, templates) = route(snap, channel)?;
        let (endpoint, code) = match &cfg.endpoints {
            Endpoints::Single(_) => (
                EndpointId::Single,
                Some(code.ok_or_else(|| FlowError::Internal("no code to send".into()))?),
            ),
            Endpoints::ChallengeVerify { .. } => (EndpointId::Challenge, None),
        };
        let vars = templates
            .vars_for(
                endpoint,
                &SendInput {
                    username: username.as_str(),
                    user_data,
                    code,
                    captured: None,
                },
            )
            .map_err(render_error)?;
        templates.render(endpoint, &vars).map_err(render_error)
    }

    /// The sends of a challenge by `method`: one per channel, with the one code.
    fn prepare_sends(
        &self,
        snap: &Snapshot,
        method: Method,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        code: Option<&str>,
    ) -> Result<Vec<Prepared>, FlowError> {
        method
            .channels()
            .into_iter()
            .map(|channel| {
                Ok(Prepared {
                    channel,
                    request: self.render_send(snap, channel, username, user_data, code)?,
                })
            })
            .collect()
    }

    /// Reserves every prepared send on the send limits; none if one is refused.
    async fn reserve_all(
        &self,
        snap: &Snapshot,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        prepared: &[Prepared],
        now: u64,
    ) -> Result<Vec<Reservation>, FlowError> {
        let mut reservations = Vec::new();
        for p in prepared {
            match self
                .reserve_sends(snap, p.channel, username, user_data, now)
                .await
            {
                Ok(r) => reservations.push(r),
                Err(e) => {
                    for r in &reservations {
                        self.release_sends(r).await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(reservations)
    }

    /// Reserves one send for the user and for the destination on the send limits.
    async fn reserve_sends(
        &self,
        snap: &Snapshot,
        channel: Channel,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        now: u64,
    ) -> Result<Reservation, FlowError> {
        let limits = snap.config.mfa.send_limits;
        let destination = self
            .keys
            .destination_hash(&destination_of(snap, channel, user_data));
        let buckets = [
            (
                limits::user_sends_key(username.as_str()),
                3600,
                limits.per_user_per_hour,
            ),
            (
                limits::destination_sends_key(&destination),
                86_400,
                limits.per_destination_per_day,
            ),
        ];
        let mut reservation = Reservation {
            at: now,
            keys: Vec::new(),
        };
        for (key, window, limit) in buckets {
            let mut outcome = Ok(());
            self.store
                .update_counter(&key, &mut |old| {
                    let (log, o) =
                        limits::reserve_send(limits::read_sends(old), now, window, limit);
                    outcome = o;
                    limits::write_sends(log)
                })
                .await?;
            if let Err(remaining) = outcome {
                self.release_sends(&reservation).await?;
                tracing::info!(user = %username, remaining, "send refused by the send limits");
                return Err(FlowError::TooManyAttempts { remaining });
            }
            reservation.keys.push(key);
        }
        Ok(reservation)
    }

    async fn release_sends(&self, reservation: &Reservation) -> Result<(), FlowError> {
        for key in &reservation.keys {
            self.store
                .update_counter(key, &mut |old| {
                    limits::release_send(limits::read_sends(old), reservation.at)
                        .and_then(limits::write_sends)
                })
                .await?;
        }
        Ok(())
    }

    /// Sends a reserved request (its reservation already flushed). A send that reached the
    /// provider stays counted, even when the provider failed; one that never left is given
    /// back.
    async fn transmit(
        &self,
        snap: &Snapshot,
        request: &OutboundRequest,
        reservation: Reservation,
    ) -> Result<Reply, FlowError> {
        let sent = self
            .sender
            .send(request, snap.config.outbound.timeout, &snap.config.secrets)
            .await;
        if let Err(e) = &sent {
            if matches!(e, SendError::Connect | SendError::Outbox(_)) {
                self.release_sends(&reservation).await?;
            }
        }
        sent.map_err(send_error)
    }
}

/// A send's reply must satisfy the endpoint's `success` predicate (any 2xx without one).
pub fn accepted(
    templates: &Templates,
    request: &OutboundRequest,
    reply: &Reply,
) -> Result<(), FlowError> {
    if reply.satisfies(templates.predicate(request.endpoint)) {
        Ok(())
    } else {
        tracing::warn!(endpoint = %request.endpoint, status = reply.status, "the messaging service refused the send");
        Err(provider_refused(reply.status))
    }
}

fn provider_refused(status: u16) -> FlowError {
    FlowError::Messaging(format!("the messaging service answered {status}"))
}

/// The values a challenge endpoint's `capture` reads from its JSON answer: all of them, or the
/// provider failed.
fn captures(cfg: &MfaConfig, reply: &Reply) -> Result<BTreeMap<String, String>, FlowError> {
    let Endpoints::ChallengeVerify { challenge, .. } = &cfg.endpoints else {
        return Ok(BTreeMap::new());
    };
    if challenge.capture.is_empty() {
        return Ok(BTreeMap::new());
    }
    let body: serde_json::Value = serde_json::from_slice(&reply.body).map_err(|_| {
        FlowError::Messaging("the messaging service's challenge answer is not JSON".into())
    })?;
    let mut out = BTreeMap::new();
    for c in &challenge.capture {
        let value = match c.parsed.query(&body).first() {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v @ serde_json::Value::Number(_)) => v.to_string(),
            _ => {
                tracing::warn!(capture = %c.name, "the challenge answer lacks a captured value");
                return Err(FlowError::Messaging(format!(
                    "the messaging service's challenge answer has no {} ({})",
                    c.name, c.json_path
                )));
            }
        };
        out.insert(c.name.clone(), value);
    }
    Ok(out)
}

/// What the per-destination send limit counts for a send by `channel`: the phone numbers
/// (SMS) or the addresses (email, whatever their case: `A@x.org` is `a@x.org`'s mailbox), else
/// the whole user data.
fn destination_of(
    snap: &Snapshot,
    channel: Channel,
    user_data: &BTreeMap<String, String>,
) -> String {
    let rules = &snap.config.mfa.user_data;
    let destinations: Vec<String> = match channel {
        Channel::Sms => rules
            .phone_fields
            .iter()
            .filter_map(|f| user_data.get(f).cloned())
            .collect(),
        Channel::Email => rules
            .email_fields
            .iter()
            .filter_map(|f| user_data.get(f).map(|a| a.to_lowercase()))
            .collect(),
    };
    if destinations.is_empty() {
        serde_json::to_string(user_data).unwrap_or_default()
    } else {
        destinations.join(",")
    }
}

/// The configuration and templates of a channel.
fn route(snap: &Snapshot, channel: Channel) -> Result<(&MfaConfig, &Templates), FlowError> {
    snap.channel(channel).ok_or_else(|| {
        FlowError::InvalidParameter(format!(
            "Invalid parameter: method: {} is not configured (mfa.channels).",
            channel.name()
        ))
    })
}

/// The methods of an enrolment, preferred first; an enrolment from before methods existed
/// has the primary channel's.
pub fn enrolled_methods(snap: &Snapshot, profile: &Profile) -> Vec<String> {
    if profile.methods.is_empty() {
        vec![snap.config.mfa.primary_method().to_string()]
    } else {
        profile.methods.clone()
    }
}

/// The method a session names (`sms`, `sms+email`, ...), or the primary channel's when it
/// names none (Pryv's format); `None` for a name that is not a method.
fn method_or_primary(snap: &Snapshot, name: Option<&str>) -> Option<Method> {
    match name {
        None => Some(Method::Channel(snap.config.mfa.channel)),
        Some(name) => Method::parse(name),
    }
}

/// Every method `method` stands for must be among `enrolled`.
fn require_enrolled(method: Method, enrolled: &[String]) -> Result<(), FlowError> {
    if method
        .enrolled_names()
        .iter()
        .all(|n| enrolled.iter().any(|e| e == n))
    {
        return Ok(());
    }
    Err(FlowError::InvalidParameter(format!(
        "Invalid parameter: method: {} is not enrolled for this user (enrolled: {}).",
        method.name(),
        enrolled.join(", ")
    )))
}

fn unknown_method(name: &str) -> FlowError {
    FlowError::InvalidParameter(format!(
        "Invalid parameter: method: '{}' is not a method (sms, email, sms+email or totp).",
        name.chars()
            .filter(|c| !c.is_control())
            .take(32)
            .collect::<String>()
    ))
}

/// Takes `method` out of a request body.
fn take_method(
    body: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<Option<Method>, FlowError> {
    match body.remove("method") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(name)) => Method::parse(&name)
            .map(Some)
            .ok_or_else(|| unknown_method(&name)),
        Some(_) => Err(FlowError::InvalidParameter(
            "Invalid parameter: method: must be a string.".into(),
        )),
    }
}

/// The configuration offers `method`: its channels are configured (both in single mode for
/// two at once), or authenticators are enabled.
fn check_available(snap: &Snapshot, method: Method) -> Result<(), FlowError> {
    match method {
        Method::Totp if !snap.config.mfa.totp.enabled => Err(FlowError::InvalidParameter(
            "Invalid parameter: method: totp is not enabled (mfa.totp.enabled).".into(),
        )),
        Method::Totp => Ok(()),
        Method::Channel(c) => route(snap, c).map(|_| ()),
        Method::Dual => {
            for c in method.channels() {
                let (cfg, _) = route(snap, c)?;
                if cfg.mode != Mode::Single {
                    return Err(FlowError::InvalidParameter(format!(
                        "Invalid parameter: method: sms+email sends one code on both channels, so both must be in single mode ({} is {}).",
                        c.name(),
                        cfg.mode.name()
                    )));
                }
            }
            Ok(())
        }
    }
}

fn render_error(e: RenderError) -> FlowError {
    match e {
        RenderError::HeaderValue {
            header, variable, ..
        } => FlowError::InvalidParameter(format!(
            "Invalid parameter: {variable}: cannot be sent in the {header} header (printable ASCII only)."
        )),
        other => FlowError::Messaging(other.to_string()),
    }
}

fn send_error(e: SendError) -> FlowError {
    FlowError::Messaging(e.to_string())
}

//! The MFA flows: login, activate, confirm, challenge, verify, deactivate, recover.
//!
//! No HTTP here: the web layer parses requests into these calls and maps [`FlowError`] to
//! Pryv-style answers. Every flow takes the configuration snapshot it runs under.

pub mod secrets;
pub mod user_data;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;

use crate::clock::Clock;
use crate::config::{Endpoints, Mode};
use crate::domain::{AccessToken, Username};
use crate::provider::{Reply, SendError, Sender};
use crate::snapshot::Snapshot;
use crate::store::{
    Grant, Profile, RecoveryCode, Session, SessionKey, SessionKind, Store, StoreError, StoredCode,
    Versioned,
};
use crate::template::{self, EndpointId, RenderError, Vars};
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
    MfaRequired { mfa_token: String },
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

    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Checks the credential for activate, deactivate and standalone recover: an api key in
    /// standalone mode, a personal token (via the upstream access check) in proxy mode.
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
        let kind = SessionKind::Login {
            grant: grant.map(|r| Grant {
                status: r.status,
                content_type: r.content_type,
                body: STANDARD.encode(&r.body),
            }),
            enrolment: profile.value.enrolment,
        };
        let mfa_token = self.open_session(snap, username, kind, None).await?;
        tracing::info!(user = %username, "login needs the second factor");
        Ok(LoginOutcome::MfaRequired { mfa_token })
    }

    /// `POST /{username}/mfa/activate`: checks the user data, opens an enrolment session and
    /// sends the first challenge.
    pub async fn activate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        body: &serde_json::Map<String, serde_json::Value>,
        client: &ClientHeaders,
    ) -> Result<String, FlowError> {
        self.authorize(snap, username, token, client).await?;
        let user_data = user_data::parse(body, &snap.config.mfa.user_data)?;
        let kind = SessionKind::Activate {
            user_data: user_data.clone(),
        };
        let mfa_token = self
            .open_session(snap, username, kind, Some(&user_data))
            .await?;
        tracing::info!(user = %username, "enrolment started");
        Ok(mfa_token)
    }

    /// `POST /{username}/mfa/confirm`: the code of an enrolment session; saves the enrolment
    /// and answers its recovery codes.
    pub async fn confirm(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&AccessToken>,
        code: Option<String>,
    ) -> Result<Vec<String>, FlowError> {
        let (key, session) = self.session(username, mfa_token).await?;
        let SessionKind::Activate { user_data } = &session.value.kind else {
            return Err(FlowError::InvalidSession);
        };
        let user_data = user_data.clone();
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        self.check_code(snap, username, &key, &session, &user_data, &code)
            .await?;
        self.consume(&key, &session).await?;

        let codes = secrets::new_recovery_codes(RECOVERY_CODE_COUNT);
        let profile = Profile {
            user_data,
            recovery_codes: codes
                .iter()
                .map(|c| RecoveryCode {
                    hash: self
                        .keys
                        .recovery_hash(username.as_str(), &secrets::normalize_recovery_code(c)),
                    used_at: None,
                })
                .collect(),
            enrolled_at: self.clock.now(),
            enrolment: secrets::new_id(),
        };
        self.replace_profile(username, Some(&profile)).await?;
        tracing::info!(user = %username, "MFA enrolled");
        Ok(codes)
    }

    /// `POST /{username}/mfa/challenge`: sends a new challenge for a pending session.
    pub async fn challenge(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&AccessToken>,
    ) -> Result<(), FlowError> {
        let (key, session) = self.session(username, mfa_token).await?;
        let user_data = self.session_user_data(username, &session).await?;
        self.send_challenge(snap, username, &key, Some(session), &user_data)
            .await
    }

    /// `POST /{username}/mfa/verify`: the code of a login session; releases the grant.
    pub async fn verify(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&AccessToken>,
        code: Option<String>,
    ) -> Result<Verified, FlowError> {
        let (key, session) = self.session(username, mfa_token).await?;
        let SessionKind::Login { grant, .. } = &session.value.kind else {
            return Err(FlowError::InvalidSession);
        };
        let grant = grant.clone();
        let user_data = self.session_user_data(username, &session).await?;
        let code = code.ok_or(FlowError::MissingParameter("code"))?;
        self.check_code(snap, username, &key, &session, &user_data, &code)
            .await?;
        self.consume(&key, &session).await?;
        tracing::info!(user = %username, "second factor verified");
        Ok(match grant {
            Some(g) => Verified::Grant(Reply {
                status: g.status,
                content_type: g.content_type,
                body: Bytes::from(
                    STANDARD
                        .decode(g.body)
                        .map_err(|e| FlowError::Internal(e.to_string()))?,
                ),
            }),
            None => Verified::User(username.clone()),
        })
    }

    /// `POST /{username}/mfa/deactivate`.
    pub async fn deactivate(
        &self,
        snap: &Snapshot,
        username: &Username,
        token: Option<&AccessToken>,
        client: &ClientHeaders,
    ) -> Result<(), FlowError> {
        self.authorize(snap, username, token, client).await?;
        self.replace_profile(username, None).await?;
        tracing::info!(user = %username, "MFA deactivated");
        Ok(())
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
            Some(_) => return Err(FlowError::InvalidRecoveryCode),
        };
        if snap.config.upstream.is_some() {
            let forwarded =
                serde_json::to_vec(&body).map_err(|e| FlowError::Internal(e.to_string()))?;
            let json = ClientHeaders {
                content_type: Some("application/json".into()),
                ..client.clone()
            };
            let reply = upstream::login(
                snap,
                &self.sender,
                username.as_str(),
                forwarded.into(),
                &json,
            )
            .await
            .map_err(|e| FlowError::UpstreamUnavailable(e.to_string()))?;
            if !reply.is_success() {
                return Err(FlowError::UpstreamRefused(reply));
            }
        }
        let hash = self.keys.recovery_hash(
            username.as_str(),
            &secrets::normalize_recovery_code(&recovery_code),
        );
        loop {
            let Some(current) = self.store.profile(username.as_str()).await? else {
                return Err(FlowError::InvalidRecoveryCode);
            };
            let unused = current
                .value
                .recovery_codes
                .iter()
                .filter(|c| c.used_at.is_none())
                .map(|c| c.hash.as_str());
            if secrets::find_hash(&hash, unused).is_none() {
                tracing::info!(user = %username, "wrong recovery code");
                return Err(FlowError::InvalidRecoveryCode);
            }
            if self
                .store
                .swap_profile(username.as_str(), Some(&current), None)
                .await?
            {
                tracing::info!(user = %username, "MFA deactivated with a recovery code");
                return Ok(());
            }
        }
    }

    // --- sessions -------------------------------------------------------------------------

    /// Opens a session and, for an enrolment, sends its first challenge.
    async fn open_session(
        &self,
        snap: &Snapshot,
        username: &Username,
        kind: SessionKind,
        challenge_with: Option<&BTreeMap<String, String>>,
    ) -> Result<String, FlowError> {
        let now = self.clock.now();
        let mfa_token = secrets::new_mfa_token();
        let key = self.keys.session_key(&mfa_token);
        let session = Session {
            username: username.as_str().to_string(),
            kind,
            created_at: now,
            expires_at: now + snap.config.mfa.session_ttl.as_secs(),
            code: None,
        };
        match challenge_with {
            None => self.store.insert_session(&key, &session).await?,
            Some(user_data) => {
                // The session is written with its code before the send, so that a code
                // delivered fast is already checkable.
                let (session, code) = self.with_new_code(snap, &key, session, now);
                self.store.insert_session(&key, &session).await?;
                // An enrolment in progress costs a message: it survives even a crash. Login
                // sessions rely on the periodic flush (and the one at shutdown) instead.
                self.store.flush().await?;
                let sent = self
                    .deliver(snap, username, user_data, code.as_deref())
                    .await;
                if let Err(e) = sent {
                    if let Some(current) = self.store.session(&key).await? {
                        self.store.swap_session(&key, &current, None).await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(mfa_token)
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

    /// The user data a session's challenges go to: the enrolment's, or the pending one's.
    async fn session_user_data(
        &self,
        username: &Username,
        session: &Versioned<Session>,
    ) -> Result<BTreeMap<String, String>, FlowError> {
        match &session.value.kind {
            SessionKind::Activate { user_data } => Ok(user_data.clone()),
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
                Ok(profile.value.user_data)
            }
        }
    }

    /// Deletes a session once its code was accepted; only one request can do so.
    async fn consume(
        &self,
        key: &SessionKey,
        session: &Versioned<Session>,
    ) -> Result<(), FlowError> {
        if self.store.swap_session(key, session, None).await? {
            Ok(())
        } else {
            Err(FlowError::InvalidSession)
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

    // --- codes and challenges ---------------------------------------------------------------

    /// In single mode, a new code for the session (the previous one stops working).
    fn with_new_code(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        mut session: Session,
        now: u64,
    ) -> (Session, Option<String>) {
        if snap.config.mfa.mode != Mode::Single {
            return (session, None);
        }
        let code = secrets::new_code(snap.config.mfa.code.length);
        session.code = Some(StoredCode {
            hash: self.keys.code_hash(key, &code),
            expires_at: now + snap.config.mfa.code.ttl.as_secs(),
        });
        (session, Some(code))
    }

    /// Sends a challenge for an existing session.
    async fn send_challenge(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        session: Option<Versioned<Session>>,
        user_data: &BTreeMap<String, String>,
    ) -> Result<(), FlowError> {
        let mut code = None;
        if let Some(current) = session {
            let (updated, new_code) =
                self.with_new_code(snap, key, current.value.clone(), self.clock.now());
            if new_code.is_some() {
                if !self
                    .store
                    .swap_session(key, &current, Some(&updated))
                    .await?
                {
                    return Err(FlowError::InvalidSession);
                }
                code = new_code;
            }
        }
        self.deliver(snap, username, user_data, code.as_deref())
            .await
    }

    /// Renders and sends the single (with `code`) or challenge request.
    async fn deliver(
        &self,
        snap: &Snapshot,
        username: &Username,
        user_data: &BTreeMap<String, String>,
        code: Option<&str>,
    ) -> Result<(), FlowError> {
        let (endpoint, vars) = match (&snap.config.mfa.endpoints, code) {
            (Endpoints::Single(_), Some(code)) => {
                let mut vars: Vars = user_data
                    .iter()
                    .map(|(k, v)| (k.clone(), template::fill_code(v, code)))
                    .collect();
                vars.insert("code".into(), code.to_string());
                (EndpointId::Single, vars)
            }
            (Endpoints::ChallengeVerify { .. }, None) => (EndpointId::Challenge, user_data.clone()),
            _ => return Err(FlowError::Internal("mode and code disagree".into())),
        };
        let mut vars = vars;
        vars.insert("username".into(), username.as_str().to_string());
        let request = snap
            .templates
            .render(endpoint, &vars)
            .map_err(render_error)?;
        let reply = self
            .sender
            .send(&request, snap.config.outbound.timeout, &snap.config.secrets)
            .await
            .map_err(send_error)?;
        if reply.satisfies(snap.templates.predicate(endpoint)) {
            Ok(())
        } else {
            tracing::warn!(endpoint = %endpoint, status = reply.status, "the messaging service refused the send");
            Err(FlowError::Messaging(format!(
                "the messaging service answered {}",
                reply.status
            )))
        }
    }

    /// Checks a code: against the session's stored hash in single mode, with the provider's
    /// verify endpoint in challenge-verify mode.
    async fn check_code(
        &self,
        snap: &Snapshot,
        username: &Username,
        key: &SessionKey,
        session: &Versioned<Session>,
        user_data: &BTreeMap<String, String>,
        code: &str,
    ) -> Result<(), FlowError> {
        if code.is_empty() || code.len() > 64 {
            return Err(FlowError::InvalidCode);
        }
        match &snap.config.mfa.endpoints {
            Endpoints::Single(_) => {
                let Some(stored) = &session.value.code else {
                    return Err(FlowError::InvalidCode);
                };
                let matches = secrets::same_hash(&stored.hash, &self.keys.code_hash(key, code));
                if matches && stored.expires_at > self.clock.now() {
                    Ok(())
                } else {
                    tracing::info!(user = %username, expired = matches, "code refused");
                    Err(FlowError::InvalidCode)
                }
            }
            Endpoints::ChallengeVerify { .. } => {
                let mut vars: Vars = user_data.clone();
                vars.insert("username".into(), username.as_str().to_string());
                vars.insert("code".into(), code.to_string());
                let request =
                    snap.templates
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
                if reply.satisfies(snap.templates.predicate(EndpointId::Verify)) {
                    Ok(())
                } else if reply.status >= 500 {
                    tracing::warn!(status = reply.status, "the verify endpoint failed");
                    Err(FlowError::Messaging(format!(
                        "the messaging service answered {}",
                        reply.status
                    )))
                } else {
                    tracing::info!(user = %username, status = reply.status, "the verify endpoint refused the code");
                    Err(FlowError::InvalidCode)
                }
            }
        }
    }

    /// Deletes expired sessions.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.store.sweep(self.clock.now()).await
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

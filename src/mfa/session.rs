//! Pending sessions: opening one, finding the one of an mfaToken, and what its challenges
//! and checks work with.

use std::collections::BTreeMap;

use crate::domain::{MfaToken, Username};
use crate::snapshot::Snapshot;
use crate::store::{Profile, SessionKey, Versioned};

use super::state::{Outstanding, Pending, Session};
use super::update::Change;
use super::{FlowError, Mfa};

/// The longest mfaToken looked up: anything longer is no token of ours.
const MAX_TOKEN_LEN: usize = 256;

/// What a session's challenges and checks work with: the user data (the enrolment's, or the
/// pending one's) and, for a login session, the enrolment as read.
pub(super) struct SessionData {
    pub user_data: BTreeMap<String, String>,
    pub profile: Option<Versioned<Profile>>,
}

impl Mfa {
    /// A new session for `username`, waiting for `pending`, with nothing sent yet.
    pub(super) fn new_session(
        &self,
        snap: &Snapshot,
        username: &Username,
        pending: Pending,
        now: u64,
    ) -> Session {
        Session {
            username: username.as_str().to_string(),
            pending,
            created_at: now,
            expires_at: now + snap.config.mfa.session_ttl.as_secs(),
            attempts: 0,
            last_sent_at: None,
            outstanding: Outstanding::None,
        }
    }

    /// Stores a new session. An enrolment in progress costs a message (or holds a new
    /// secret): it is on disk before the answer, even across a crash. Login sessions rely on
    /// the periodic flush (and the one at shutdown) instead.
    pub(super) async fn open_session(
        &self,
        key: &SessionKey,
        session: &Session,
    ) -> Result<(), FlowError> {
        self.store.insert_session(key, &session.to_v1()).await?;
        if session.is_enrolment() {
            self.store.flush().await?;
        }
        Ok(())
    }

    /// The live session of `mfa_token`, if it belongs to `username`.
    pub(super) async fn session(
        &self,
        snap: &Snapshot,
        username: &Username,
        mfa_token: Option<&MfaToken>,
    ) -> Result<(SessionKey, Session), FlowError> {
        let token = mfa_token.ok_or(FlowError::MissingToken)?;
        if token.expose().len() > MAX_TOKEN_LEN {
            return Err(FlowError::InvalidSession);
        }
        let key = self.keys.session_key(token.expose());
        let record = self
            .store
            .session(&key)
            .await?
            .ok_or(FlowError::InvalidSession)?;
        let session = Session::from_v1(record.value, snap);
        if session.username != username.as_str() || session.expires_at <= self.clock.now() {
            return Err(FlowError::InvalidSession);
        }
        Ok((key, session))
    }

    /// What a session's challenges and checks work with. A session dies with the enrolment
    /// it was made for (a login), or when the enrolment it would replace changed meanwhile.
    pub(super) async fn session_data(
        &self,
        username: &Username,
        session: &Session,
    ) -> Result<SessionData, FlowError> {
        let current = self.store.profile(username.as_str()).await?;
        match &session.pending {
            Pending::Enrol {
                user_data,
                replaces,
                ..
            } => {
                if current.as_ref().map(|p| &p.value.enrolment) != replaces.as_ref() {
                    return Err(FlowError::InvalidSession);
                }
                Ok(SessionData {
                    user_data: user_data.clone(),
                    profile: None,
                })
            }
            Pending::Login { enrolment, .. } => {
                let profile = current.ok_or(FlowError::InvalidSession)?;
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
    pub(super) async fn delete_session(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
    ) -> Result<bool, FlowError> {
        self.update_session(snap, key, |current| {
            Ok(match current {
                None => (Change::Keep, false),
                Some(_) => (Change::Delete, true),
            })
        })
        .await
    }
}

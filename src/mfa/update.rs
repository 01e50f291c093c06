//! The one compare-and-swap loop of each record kind: read, decide, write if nobody wrote
//! meanwhile, else again, a bounded number of times.
//!
//! Durability is the store's and these helpers' business, not the callers': a profile written
//! here is on disk when the helper returns (the store flushes every profile it swaps). A
//! session changed here is not flushed: login sessions rely on the periodic flush, and the
//! flows that need a session on disk (an enrolment opened, a challenge sent) write it with
//! [`Mfa::open_session`] or flush the send they make.

use crate::domain::Username;
use crate::snapshot::Snapshot;
use crate::store::{Profile, SessionKey, Versioned};

use super::state::Session;
use super::{FlowError, Mfa};

/// How many times a compare-and-swap is tried before the update gives up: enough for any
/// honest contention on one user's records, few enough that a livelock ends.
pub(super) const MAX_TRIES: usize = 16;

/// What an update does with the record it read.
pub(super) enum Change<R> {
    /// Nothing to write.
    Keep,
    Put(R),
    Delete,
}

impl Mfa {
    /// Reads `username`'s profile (or starts from `known`, a read the caller already made),
    /// asks `decide` what to change and what to answer, and writes the change if the profile
    /// is still the one read; else reads again. An error from `decide` ends the update with
    /// nothing written.
    pub(super) async fn update_profile<T>(
        &self,
        username: &Username,
        mut known: Option<Versioned<Profile>>,
        mut decide: impl FnMut(Option<&Profile>) -> Result<(Change<Profile>, T), FlowError>,
    ) -> Result<T, FlowError> {
        for _ in 0..MAX_TRIES {
            let current = match known.take() {
                Some(p) => Some(p),
                None => self.store.profile(username.as_str()).await?,
            };
            let (change, answer) = decide(current.as_ref().map(|p| &p.value))?;
            let new = match change {
                Change::Keep => return Ok(answer),
                Change::Put(p) => Some(p),
                Change::Delete if current.is_none() => return Ok(answer),
                Change::Delete => None,
            };
            if self
                .store
                .swap_profile(username.as_str(), current.as_ref(), new.as_ref())
                .await?
            {
                return Ok(answer);
            }
        }
        Err(gave_up("profile", username))
    }

    /// Reads the session under `key`, asks `decide` what to change and what to answer, and
    /// writes the change if the session is still the one read; else reads again. `decide`
    /// sees `None` when the session is gone (nothing can then be written).
    pub(super) async fn update_session<T>(
        &self,
        snap: &Snapshot,
        key: &SessionKey,
        mut decide: impl FnMut(Option<&Session>) -> Result<(Change<Session>, T), FlowError>,
    ) -> Result<T, FlowError> {
        let mut username = None;
        for _ in 0..MAX_TRIES {
            let current = self.store.session(key).await?;
            let typed = current
                .as_ref()
                .map(|s| Session::from_v1(s.value.clone(), snap));
            let (change, answer) = decide(typed.as_ref())?;
            let (Some(current), Some(typed)) = (current, typed) else {
                return match change {
                    Change::Keep => Ok(answer),
                    _ => Err(FlowError::Internal(
                        "a session gone cannot be changed".into(),
                    )),
                };
            };
            let new = match change {
                Change::Keep => return Ok(answer),
                Change::Put(s) => Some(s.to_v1()),
                Change::Delete => None,
            };
            username = Some(typed.username);
            if self.store.swap_session(key, &current, new.as_ref()).await? {
                return Ok(answer);
            }
        }
        tracing::error!(
            user = username.as_deref().unwrap_or(""),
            tries = MAX_TRIES,
            "a session kept changing under its update: gave up"
        );
        Err(FlowError::Internal(format!(
            "a session kept changing under its update ({MAX_TRIES} tries)"
        )))
    }
}

fn gave_up(record: &str, username: &Username) -> FlowError {
    tracing::error!(user = %username, tries = MAX_TRIES, record, "a record kept changing under its update: gave up");
    FlowError::Internal(format!(
        "the {record} kept changing under its update ({MAX_TRIES} tries)"
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::Harness;
    use super::*;

    #[tokio::test]
    async fn a_profile_update_retries_a_lost_race_and_gives_up_bounded() {
        let h = Harness::new();
        h.enrol("alice").await;
        let alice = h.user("alice");
        let touch = |p: Option<&Profile>| {
            let mut p = p.cloned().ok_or(FlowError::InvalidSession)?;
            p.enrolled_at += 1;
            Ok((Change::Put(p), ()))
        };

        h.store.lose_next_swaps(MAX_TRIES - 1);
        h.mfa.update_profile(&alice, None, touch).await.unwrap();

        h.store.lose_next_swaps(MAX_TRIES);
        let r = h.mfa.update_profile(&alice, None, touch).await;
        assert!(matches!(r, Err(FlowError::Internal(_))), "{r:?}");
        h.store.lose_next_swaps(0);
    }

    #[tokio::test]
    async fn a_session_update_retries_a_lost_race_and_gives_up_bounded() {
        let h = Harness::new();
        h.enrol("alice").await;
        let token = h.login_and_challenge("alice").await;
        let key = h.mfa.keys.session_key(token.expose());
        let count = |s: Option<&Session>| {
            let mut s = s.cloned().ok_or(FlowError::InvalidSession)?;
            s.attempts += 1;
            Ok((Change::Put(s), ()))
        };

        h.store.lose_next_swaps(MAX_TRIES - 1);
        h.mfa.update_session(&h.snap, &key, count).await.unwrap();

        h.store.lose_next_swaps(MAX_TRIES);
        let r = h.mfa.update_session(&h.snap, &key, count).await;
        assert!(matches!(r, Err(FlowError::Internal(_))), "{r:?}");
        h.store.lose_next_swaps(0);
        let (_, session) = h
            .mfa
            .session(&h.snap, &h.user("alice"), Some(&token))
            .await
            .unwrap();
        assert_eq!(session.attempts, 1);
    }

    #[tokio::test]
    async fn an_enrolment_session_is_flushed_and_a_login_session_is_not() {
        let h = Harness::new();
        h.enrol("alice").await;

        let before = h.store.flushes();
        h.activate("bob").await;
        assert!(
            h.store.flushes() > before,
            "an enrolment is on disk before the answer"
        );

        let before = h.store.flushes();
        h.mfa
            .login(
                &h.snap,
                &h.user("alice"),
                Some(&Harness::api_key()),
                bytes::Bytes::new(),
                &crate::upstream::ClientHeaders::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            h.store.flushes(),
            before,
            "a login session waits for the periodic flush"
        );
    }
}

//! A store that fails on demand: it wraps another and answers [`StoreError::Unavailable`]
//! while its [`FaultSwitch`] says the engine is down, as a database server stopped would.
//!
//! For tests of what the daemon does without its database (503 `storage-unavailable`, never a
//! grant without a verified code, service back without a restart): the daemon never builds
//! one. It is in the library, not under `cfg(test)`, because the black-box tests (`tests/api`)
//! reach it through [`crate::startup::Application::with_store_faults`].

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    AttemptFilter, AttemptRecord, BackupRecord, CounterExpired, Profile, SendFilter, SendRecord,
    SessionKey, SessionV1, Store, StoreError, Versioned,
};

/// The budget that means "up": every call goes through.
const UP: i64 = -1;

#[derive(Debug)]
struct Budget {
    /// Calls still let through: [`UP`] for all of them, 0 for none (down).
    left: AtomicI64,
    /// Calls that reached the wrapped store, since the switch was made.
    passed: AtomicU64,
}

/// Says whether a [`FaultyStore`] is up or down; clones share the one state, so a test keeps
/// one and flips the store the daemon runs on.
#[derive(Debug, Clone)]
pub struct FaultSwitch(Arc<Budget>);

impl Default for FaultSwitch {
    fn default() -> FaultSwitch {
        FaultSwitch(Arc::new(Budget {
            left: AtomicI64::new(UP),
            passed: AtomicU64::new(0),
        }))
    }
}

impl FaultSwitch {
    /// A switch that is up.
    pub fn new() -> FaultSwitch {
        FaultSwitch::default()
    }

    /// Every call goes through again (the database is back).
    pub fn up(&self) {
        self.0.left.store(UP, Ordering::SeqCst);
    }

    /// Every call fails with [`StoreError::Unavailable`] (the database is down).
    pub fn down(&self) {
        self.0.left.store(0, Ordering::SeqCst);
    }

    /// The next `calls` calls go through, then every one fails: the database dies in the
    /// middle of a flow, after its `calls`-th store call.
    pub fn fail_after(&self, calls: u64) {
        let calls = i64::try_from(calls).unwrap_or(i64::MAX);
        self.0.left.store(calls, Ordering::SeqCst);
    }

    /// Whether the next call fails.
    pub fn is_down(&self) -> bool {
        self.0.left.load(Ordering::SeqCst) == 0
    }

    /// How many calls reached the wrapped store so far.
    pub fn passed(&self) -> u64 {
        self.0.passed.load(Ordering::SeqCst)
    }

    /// Lets one call through, or says why not.
    fn pass(&self) -> Result<(), StoreError> {
        let went =
            self.0
                .left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                    0 => None,
                    UP => Some(UP),
                    n => Some(n - 1),
                });
        match went {
            Ok(_) => {
                self.0.passed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(_) => Err(StoreError::Unavailable(
                "the store is switched off (fault injection)".into(),
            )),
        }
    }
}

/// Another store behind a [`FaultSwitch`]: while the switch is down, every call fails before
/// reaching it (nothing is read or written); up, every call is the wrapped store's.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    switch: FaultSwitch,
}

impl FaultyStore {
    pub fn new(inner: Arc<dyn Store>, switch: FaultSwitch) -> FaultyStore {
        FaultyStore { inner, switch }
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn profile(&self, username: &str) -> Result<Option<Versioned<Profile>>, StoreError> {
        self.switch.pass()?;
        self.inner.profile(username).await
    }

    async fn swap_profile(
        &self,
        username: &str,
        expected: Option<&Versioned<Profile>>,
        new: Option<&Profile>,
    ) -> Result<bool, StoreError> {
        self.switch.pass()?;
        self.inner.swap_profile(username, expected, new).await
    }

    async fn session(&self, key: &SessionKey) -> Result<Option<Versioned<SessionV1>>, StoreError> {
        self.switch.pass()?;
        self.inner.session(key).await
    }

    async fn insert_session(
        &self,
        key: &SessionKey,
        session: &SessionV1,
    ) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.insert_session(key, session).await
    }

    async fn swap_session(
        &self,
        key: &SessionKey,
        expected: &Versioned<SessionV1>,
        new: Option<&SessionV1>,
    ) -> Result<bool, StoreError> {
        self.switch.pass()?;
        self.inner.swap_session(key, expected, new).await
    }

    async fn sessions_of(
        &self,
        username: &str,
    ) -> Result<Vec<(SessionKey, Versioned<SessionV1>)>, StoreError> {
        self.switch.pass()?;
        self.inner.sessions_of(username).await
    }

    async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.switch.pass()?;
        self.inner.counter(key).await
    }

    async fn update_counter(
        &self,
        key: &[u8],
        update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
    ) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.update_counter(key, update).await
    }

    async fn sweep(&self, now: u64, expired: CounterExpired) -> Result<usize, StoreError> {
        self.switch.pass()?;
        self.inner.sweep(now, expired).await
    }

    async fn log_attempt(&self, record: AttemptRecord) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.log_attempt(record).await
    }

    async fn attempts(&self, limit: usize) -> Result<Vec<AttemptRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.attempts(limit).await
    }

    async fn find_attempts(
        &self,
        filter: &AttemptFilter,
        limit: usize,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.find_attempts(filter, limit).await
    }

    async fn attempt(&self, id: &str) -> Result<Option<AttemptRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.attempt(id).await
    }

    async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError> {
        self.switch.pass()?;
        self.inner.sweep_attempts(before).await
    }

    async fn put_send(&self, record: &SendRecord) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.put_send(record).await
    }

    async fn send(&self, id: &str) -> Result<Option<SendRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.send(id).await
    }

    async fn send_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<SendRecord>, StoreError> {
        self.switch.pass()?;
        self.inner
            .send_by_provider_message(provider, message_id)
            .await
    }

    async fn find_sends(
        &self,
        filter: &SendFilter,
        limit: usize,
    ) -> Result<Vec<SendRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.find_sends(filter, limit).await
    }

    async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError> {
        self.switch.pass()?;
        self.inner.sweep_sends(before).await
    }

    fn pending_sessions(&self) -> usize {
        self.inner.pending_sessions()
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.flush().await
    }

    async fn export(&self) -> Result<Vec<BackupRecord>, StoreError> {
        self.switch.pass()?;
        self.inner.export().await
    }

    async fn import(&self, records: Vec<BackupRecord>) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.import(records).await
    }

    /// Down while the switch is down, without using up a call of [`FaultSwitch::fail_after`]
    /// (a readiness probe must not move the point where a flow's store dies).
    async fn ping(&self) -> Result<(), StoreError> {
        if self.switch.is_down() {
            return Err(StoreError::Unavailable(
                "the store is switched off (fault injection)".into(),
            ));
        }
        self.inner.ping().await
    }

    async fn flush_all(&self) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.flush_all().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::MemoryStore;
    use super::*;

    fn faulty() -> (FaultyStore, FaultSwitch) {
        let switch = FaultSwitch::new();
        let store = FaultyStore::new(Arc::new(MemoryStore::new()), switch.clone());
        (store, switch)
    }

    fn unavailable<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Unavailable(_)))
    }

    #[tokio::test]
    async fn down_every_call_fails_as_unavailable_and_up_it_is_the_wrapped_stores() {
        let (store, switch) = faulty();
        assert!(store.counter(b"k").await.unwrap().is_none());

        switch.down();
        assert!(unavailable(store.counter(b"k").await));
        assert!(unavailable(store.profile("alice").await));
        assert!(unavailable(store.flush().await));
        assert!(unavailable(store.ping().await));
        let r = store
            .update_counter(b"k", &mut |_| Some(b"1".to_vec()))
            .await;
        assert!(unavailable(r));

        switch.up();
        assert!(store.ping().await.is_ok());
        assert_eq!(
            store.counter(b"k").await.unwrap(),
            None,
            "a write refused while down left nothing behind"
        );
    }

    #[tokio::test]
    async fn fail_after_lets_that_many_calls_through_then_none_and_a_ping_uses_none() {
        let (store, switch) = faulty();
        switch.fail_after(2);
        assert!(store.ping().await.is_ok());
        assert!(store.counter(b"a").await.is_ok());
        assert!(store.ping().await.is_ok());
        assert!(store.counter(b"b").await.is_ok());
        assert!(switch.is_down());
        assert!(unavailable(store.counter(b"c").await));
        assert!(unavailable(store.ping().await));
        assert_eq!(switch.passed(), 2);
    }
}

//! Whether storage answers now: `/ready` on the public listener (what a load balancer or a
//! Kubernetes readiness probe asks), and the storage part of `/health` and `/api/status` on
//! the admin one. The store is asked ([`Store::ping`]) at most once every [`FRESH_FOR`], with a
//! time-out, so that probes polling every instance cannot load the database.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::time::Instant;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

use super::error::storage_unavailable;
use super::AppState;

/// How long a probe's answer is reused.
pub const FRESH_FOR: Duration = Duration::from_millis(250);

/// How long a probe waits for the store: longer is an unavailable store (a database that
/// does not answer is no better than one that refuses).
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// What a probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageState {
    /// The store answered.
    Ok,
    /// The engine cannot be reached (down, unreachable, or slower than [`PING_TIMEOUT`]):
    /// requests that need it answer 503 until it is back.
    Unavailable,
    /// The store answered with another failure (its data or its disk, not the network).
    Failing,
}

impl StorageState {
    /// As `/health` and `/api/status` say it.
    pub fn name(self) -> &'static str {
        match self {
            StorageState::Ok => "ok",
            StorageState::Unavailable => "unavailable",
            StorageState::Failing => "failing",
        }
    }
}

/// The last probe and when it ended. Cloning shares it (the public and admin listeners ask
/// the same one).
#[derive(Clone)]
pub struct Readiness {
    // An async lock, held across the probe on purpose: callers that come while a probe runs
    // wait for its answer instead of each asking the database.
    last: Arc<tokio::sync::Mutex<Option<(Instant, StorageState)>>>,
    fresh_for: Duration,
    ping_timeout: Duration,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new(FRESH_FOR, PING_TIMEOUT)
    }
}

impl Readiness {
    /// A probe reused for `fresh_for`, waiting `ping_timeout` for the store (the daemon's:
    /// [`FRESH_FOR`] and [`PING_TIMEOUT`], its [`Default`]).
    pub fn new(fresh_for: Duration, ping_timeout: Duration) -> Readiness {
        Readiness {
            last: Arc::default(),
            fresh_for,
            ping_timeout,
        }
    }

    /// The state of `store`: the last probe's if it is fresh, else a new probe's (which sets
    /// the `mfa_bridge_storage_ready` gauge).
    pub async fn storage(&self, store: &dyn Store, metrics: &Metrics) -> StorageState {
        let mut last = self.last.lock().await;
        if let Some((at, state)) = *last {
            if at.elapsed() < self.fresh_for {
                return state;
            }
        }
        let state = probe(store, self.ping_timeout).await;
        metrics
            .storage_ready
            .set(i64::from(state == StorageState::Ok));
        *last = Some((Instant::now(), state));
        state
    }
}

async fn probe(store: &dyn Store, timeout: Duration) -> StorageState {
    match tokio::time::timeout(timeout, store.ping()).await {
        Ok(Ok(())) => StorageState::Ok,
        Ok(Err(StoreError::Unavailable(reason))) => {
            tracing::warn!(%reason, "readiness: storage unavailable");
            StorageState::Unavailable
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "readiness: storage failing");
            StorageState::Failing
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "readiness: storage did not answer in time"
            );
            StorageState::Unavailable
        }
    }
}

/// `GET /ready`: 200 `{"ready": true}` when storage answers, else 503 `storage-unavailable`
/// with `Retry-After` (the instance is alive but cannot serve: take it out of rotation).
pub async fn ready(State(state): State<AppState>) -> Response {
    let storage = state
        .readiness
        .storage(state.mfa.store().as_ref(), &state.metrics)
        .await;
    match storage {
        StorageState::Ok => Json(json!({ "ready": true })).into_response(),
        StorageState::Unavailable | StorageState::Failing => storage_unavailable(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FaultSwitch, FaultyStore, MemoryStore};

    fn faulty() -> (FaultyStore, FaultSwitch) {
        let switch = FaultSwitch::new();
        let store = FaultyStore::new(Arc::new(MemoryStore::new()), switch.clone());
        (store, switch)
    }

    #[tokio::test]
    async fn a_fresh_probe_is_reused_without_asking_the_store() {
        let (store, switch) = faulty();
        let metrics = Metrics::new().unwrap();
        let readiness = Readiness::new(Duration::from_secs(3600), PING_TIMEOUT);
        assert_eq!(readiness.storage(&store, &metrics).await, StorageState::Ok);
        assert_eq!(metrics.storage_ready.get(), 1);

        switch.down();
        assert_eq!(
            readiness.storage(&store, &metrics).await,
            StorageState::Ok,
            "the last probe is fresh: the store is not asked"
        );
    }

    #[tokio::test]
    async fn a_stale_probe_asks_again_and_follows_the_store_down_and_up() {
        let (store, switch) = faulty();
        let metrics = Metrics::new().unwrap();
        let readiness = Readiness::new(Duration::ZERO, PING_TIMEOUT);
        assert_eq!(readiness.storage(&store, &metrics).await, StorageState::Ok);

        switch.down();
        assert_eq!(
            readiness.storage(&store, &metrics).await,
            StorageState::Unavailable
        );
        assert_eq!(metrics.storage_ready.get(), 0);

        switch.up();
        assert_eq!(readiness.storage(&store, &metrics).await, StorageState::Ok);
        assert_eq!(metrics.storage_ready.get(), 1);
    }

    /// A store whose ping never ends (a database behind a dropped route).
    struct Silent(MemoryStore);

    #[async_trait::async_trait]
    impl Store for Silent {
        async fn profile(
            &self,
            username: &str,
        ) -> Result<Option<crate::store::Versioned<crate::store::Profile>>, StoreError> {
            self.0.profile(username).await
        }
        async fn swap_profile(
            &self,
            username: &str,
            expected: Option<&crate::store::Versioned<crate::store::Profile>>,
            new: Option<&crate::store::Profile>,
        ) -> Result<bool, StoreError> {
            self.0.swap_profile(username, expected, new).await
        }
        async fn session(
            &self,
            key: &crate::store::SessionKey,
        ) -> Result<Option<crate::store::Versioned<crate::store::SessionV1>>, StoreError> {
            self.0.session(key).await
        }
        async fn insert_session(
            &self,
            key: &crate::store::SessionKey,
            session: &crate::store::SessionV1,
        ) -> Result<(), StoreError> {
            self.0.insert_session(key, session).await
        }
        async fn swap_session(
            &self,
            key: &crate::store::SessionKey,
            expected: &crate::store::Versioned<crate::store::SessionV1>,
            new: Option<&crate::store::SessionV1>,
        ) -> Result<bool, StoreError> {
            self.0.swap_session(key, expected, new).await
        }
        async fn sessions_of(
            &self,
            username: &str,
        ) -> Result<
            Vec<(
                crate::store::SessionKey,
                crate::store::Versioned<crate::store::SessionV1>,
            )>,
            StoreError,
        > {
            self.0.sessions_of(username).await
        }
        async fn counter(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            self.0.counter(key).await
        }
        async fn update_counter(
            &self,
            key: &[u8],
            update: &mut (dyn for<'a> FnMut(Option<&'a [u8]>) -> Option<Vec<u8>> + Send),
        ) -> Result<(), StoreError> {
            self.0.update_counter(key, update).await
        }
        async fn sweep(
            &self,
            now: u64,
            expired: crate::store::CounterExpired,
        ) -> Result<usize, StoreError> {
            self.0.sweep(now, expired).await
        }
        async fn log_attempt(&self, record: crate::store::AttemptRecord) -> Result<(), StoreError> {
            self.0.log_attempt(record).await
        }
        async fn attempts(
            &self,
            limit: usize,
        ) -> Result<Vec<crate::store::AttemptRecord>, StoreError> {
            self.0.attempts(limit).await
        }
        async fn find_attempts(
            &self,
            filter: &crate::store::AttemptFilter,
            limit: usize,
        ) -> Result<Vec<crate::store::AttemptRecord>, StoreError> {
            self.0.find_attempts(filter, limit).await
        }
        async fn attempt(
            &self,
            id: &str,
        ) -> Result<Option<crate::store::AttemptRecord>, StoreError> {
            self.0.attempt(id).await
        }
        async fn sweep_attempts(&self, before: u64) -> Result<usize, StoreError> {
            self.0.sweep_attempts(before).await
        }
        async fn put_send(&self, record: &crate::store::SendRecord) -> Result<(), StoreError> {
            self.0.put_send(record).await
        }
        async fn send(&self, id: &str) -> Result<Option<crate::store::SendRecord>, StoreError> {
            self.0.send(id).await
        }
        async fn send_by_provider_message(
            &self,
            provider: &str,
            message_id: &str,
        ) -> Result<Option<crate::store::SendRecord>, StoreError> {
            self.0.send_by_provider_message(provider, message_id).await
        }
        async fn find_sends(
            &self,
            filter: &crate::store::SendFilter,
            limit: usize,
        ) -> Result<Vec<crate::store::SendRecord>, StoreError> {
            self.0.find_sends(filter, limit).await
        }
        async fn sweep_sends(&self, before: u64) -> Result<usize, StoreError> {
            self.0.sweep_sends(before).await
        }
        fn pending_sessions(&self) -> usize {
            self.0.pending_sessions()
        }
        async fn flush(&self) -> Result<(), StoreError> {
            self.0.flush().await
        }
        async fn export(&self) -> Result<Vec<crate::store::BackupRecord>, StoreError> {
            self.0.export().await
        }
        async fn import(&self, records: Vec<crate::store::BackupRecord>) -> Result<(), StoreError> {
            self.0.import(records).await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            std::future::pending().await
        }
    }

    #[tokio::test]
    async fn a_store_that_does_not_answer_in_time_is_unavailable() {
        let metrics = Metrics::new().unwrap();
        let state = Readiness::new(Duration::ZERO, Duration::from_millis(20))
            .storage(&Silent(MemoryStore::new()), &metrics)
            .await;
        assert_eq!(state, StorageState::Unavailable);
        assert_eq!(metrics.storage_ready.get(), 0);
    }
}

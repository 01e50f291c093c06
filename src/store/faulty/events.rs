//! [`FaultyStore`]'s events queue: the wrapped store's, behind the same switch.

use async_trait::async_trait;

use super::FaultyStore;
use crate::store::{EventDelivery, EventQueue, StoreError};

#[async_trait]
impl EventQueue for FaultyStore {
    async fn enqueue_events(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.enqueue_events(deliveries).await
    }

    async fn claim_events(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        self.switch.pass()?;
        self.inner.claim_events(now, lease_until, limit).await
    }

    async fn settle_event(&self, delivery: &EventDelivery) -> Result<(), StoreError> {
        self.switch.pass()?;
        self.inner.settle_event(delivery).await
    }

    async fn recent_events(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError> {
        self.switch.pass()?;
        self.inner.recent_events(limit).await
    }

    async fn pending_events(&self) -> Result<u64, StoreError> {
        self.switch.pass()?;
        self.inner.pending_events().await
    }

    async fn sweep_events(&self, before: u64) -> Result<usize, StoreError> {
        self.switch.pass()?;
        self.inner.sweep_events(before).await
    }
}

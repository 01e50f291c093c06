//! [`MemoryStore`]'s events queue: a map by `seq` under the store's one lock, so a claim is
//! atomic.

use std::sync::atomic::Ordering;

use async_trait::async_trait;

use super::super::event_queue::{heads, settled};
use super::super::{DeliveryStatus, EventDelivery, EventQueue, StoreError};
use super::MemoryStore;

#[async_trait]
impl EventQueue for MemoryStore {
    async fn enqueue_events(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for mut d in deliveries {
            d.seq = self.ids.fetch_add(1, Ordering::SeqCst) + 1;
            tables.events.insert(d.seq, d);
        }
        Ok(())
    }

    async fn claim_events(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        let mut tables = self.tables();
        // Settled deliveries are passed over by the claim rule itself.
        let due: Vec<u64> = heads(tables.events.values(), now, limit)
            .into_iter()
            .map(|d| d.seq)
            .collect();
        let mut out = Vec::with_capacity(due.len());
        for seq in due {
            if let Some(d) = tables.events.get_mut(&seq) {
                d.lease_until = lease_until;
                out.push(d.clone());
            }
        }
        Ok(out)
    }

    async fn settle_event(&self, delivery: &EventDelivery) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if let Some(stored) = tables.events.remove(&delivery.seq) {
            tables
                .events
                .insert(delivery.seq, settled(stored, delivery));
        }
        Ok(())
    }

    async fn recent_events(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError> {
        Ok(self
            .tables()
            .events
            .values()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    async fn pending_events(&self) -> Result<u64, StoreError> {
        Ok(self
            .tables()
            .events
            .values()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .count() as u64)
    }

    async fn sweep_events(&self, before: u64) -> Result<usize, StoreError> {
        let mut tables = self.tables();
        let n = tables.events.len();
        tables
            .events
            .retain(|_, d| d.status == DeliveryStatus::Pending || d.updated_at >= before);
        Ok(n - tables.events.len())
    }
}

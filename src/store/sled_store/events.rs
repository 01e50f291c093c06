//! [`SledStore`]'s events queue: the tree `events` (seq big-endian -> the delivery, JSON) and
//! the index `events_pending` (the seqs of the pending ones), written together in one
//! transaction. A claim leases each delivery by compare-and-swap on its bytes, so two claims
//! never hand out the same one.

use async_trait::async_trait;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{backend, SledStore};
use crate::store::event_queue::{settled, Heads};
use crate::store::{decode, encode, DeliveryStatus, EventDelivery, EventQueue, Store, StoreError};

impl SledStore {
    fn event_trees(&self) -> Result<(sled::Tree, sled::Tree), StoreError> {
        Ok((
            self.ids.open_tree("events").map_err(backend)?,
            self.ids.open_tree("events_pending").map_err(backend)?,
        ))
    }

    fn enqueue_blocking(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError> {
        let (events, pending) = self.event_trees()?;
        let mut rows = Vec::with_capacity(deliveries.len());
        for mut d in deliveries {
            d.seq = self.ids.generate_id().map_err(backend)? + 1;
            rows.push((d.seq.to_be_bytes(), encode(&d)?));
        }
        (&events, &pending)
            .transaction(|(events, pending)| {
                for (key, raw) in &rows {
                    events.insert(key.as_slice(), raw.as_slice())?;
                    pending.insert(key.as_slice(), &[] as &[u8])?;
                }
                Ok::<_, ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => backend(e),
                TransactionError::Abort(()) => StoreError::Backend("aborted".into()),
            })
    }

    fn claim_blocking(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        let (events, pending) = self.event_trees()?;
        // Read oldest first, and no further than needed: once `limit` are taken, the later
        // pending deliveries cannot change which.
        let mut rule = Heads::new(now, limit);
        let mut due = Vec::new();
        for entry in pending.iter() {
            if rule.full() {
                break;
            }
            let (key, _) = entry.map_err(backend)?;
            if let Some(raw) = events.get(&key).map_err(backend)? {
                let d = decode::<EventDelivery>(&raw)?;
                if rule.offer(&d) {
                    due.push((d, raw));
                }
            }
        }
        let mut out = Vec::with_capacity(due.len());
        for (d, raw) in due {
            let leased = EventDelivery { lease_until, ..d };
            let swapped = events
                .compare_and_swap(leased.seq.to_be_bytes(), Some(raw), Some(encode(&leased)?))
                .map_err(backend)?;
            // Another claim leased (or the worker settled) it meanwhile: it is not ours.
            if swapped.is_ok() {
                out.push(leased);
            }
        }
        Ok(out)
    }

    fn settle_blocking(&self, delivery: &EventDelivery) -> Result<(), StoreError> {
        let (events, pending) = self.event_trees()?;
        let key = delivery.seq.to_be_bytes();
        loop {
            let Some(raw) = events.get(key).map_err(backend)? else {
                return Ok(());
            };
            let new = settled(decode(&raw)?, delivery);
            if events
                .compare_and_swap(key, Some(raw), Some(encode(&new)?))
                .map_err(backend)?
                .is_ok()
            {
                if new.status != DeliveryStatus::Pending {
                    pending.remove(key).map_err(backend)?;
                }
                return Ok(());
            }
        }
    }

    fn recent_blocking(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError> {
        let (events, _) = self.event_trees()?;
        let mut out = Vec::new();
        for entry in events.iter().rev().take(limit) {
            let (_, raw) = entry.map_err(backend)?;
            out.push(decode(&raw)?);
        }
        Ok(out)
    }

    fn sweep_events_blocking(&self, before: u64) -> Result<usize, StoreError> {
        let (events, _) = self.event_trees()?;
        let mut removed = 0;
        for entry in events.iter() {
            let (key, raw) = entry.map_err(backend)?;
            let d: EventDelivery = decode(&raw)?;
            if d.status != DeliveryStatus::Pending
                && d.updated_at < before
                && events
                    .compare_and_swap(&key, Some(raw), None::<Vec<u8>>)
                    .map_err(backend)?
                    .is_ok()
            {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Runs `work` on a clone of the store off the runtime (sled blocks).
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&SledStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(&store))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
    }
}

#[async_trait]
impl EventQueue for SledStore {
    async fn enqueue_events(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.blocking(move |s| s.enqueue_blocking(deliveries))
            .await?;
        // On disk before the answer, under strict durability (as the answer's own records).
        self.flush().await
    }

    async fn claim_events(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError> {
        self.blocking(move |s| s.claim_blocking(now, lease_until, limit))
            .await
    }

    async fn settle_event(&self, delivery: &EventDelivery) -> Result<(), StoreError> {
        let delivery = delivery.clone();
        self.blocking(move |s| s.settle_blocking(&delivery)).await
    }

    async fn recent_events(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError> {
        self.blocking(move |s| s.recent_blocking(limit)).await
    }

    async fn pending_events(&self) -> Result<u64, StoreError> {
        self.blocking(|s| Ok(s.event_trees()?.1.len() as u64)).await
    }

    async fn sweep_events(&self, before: u64) -> Result<usize, StoreError> {
        self.blocking(move |s| s.sweep_events_blocking(before))
            .await
    }
}

//! The queue of events waiting to be delivered to the operator's webhook endpoints
//! (`events:` in `platform.yml`, [`crate::events`]): one [`EventDelivery`] per event and
//! endpoint, written on the request path (and nothing more), read and settled by the events
//! worker in the background.
//!
//! The rules every engine keeps (`event_contract_tests.rs`):
//! - **Order per user and endpoint.** Only the first pending delivery of an (endpoint, user)
//!   pair is ever handed out ([`heads`]): a failing one holds back the later ones of that
//!   user at that endpoint, never those of other users or other endpoints.
//! - **One deliverer at a time.** A delivery handed out is leased until a time: no other
//!   claim (of this instance or another on the same database) gets it before the lease ends
//!   or the delivery is settled. A worker that dies mid-delivery leaves a lease that ends by
//!   itself, so a delivery is made at least once.
//! - **Kept after the end.** Delivered and given-up deliveries stay for the admin view until
//!   they are swept.

use std::collections::HashSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet accepted by the endpoint: due at `next_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Attempts or age ran out (or the endpoint is no longer configured): not tried again.
    GivenUp,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::GivenUp => "given_up",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryStatus> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "given_up" => Some(DeliveryStatus::GivenUp),
            _ => None,
        }
    }
}

/// One event on its way to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventDelivery {
    /// The order of enqueueing, given by the store (0 until it is stored): the key.
    pub seq: u64,
    /// The event's id, sent as `webhook-id`: the same on every attempt (receivers dedupe by
    /// it) and at every endpoint.
    pub id: String,
    /// The endpoint's name (`events.endpoints[].name`).
    pub endpoint: String,
    pub username: String,
    /// `mfa.verified`, `send.sent`, ...
    pub event_type: String,
    /// The body as it is signed and sent (JSON text): built once, so every attempt sends the
    /// same bytes.
    pub payload: String,
    pub created_at: u64,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not tried before this time (s).
    pub next_at: u64,
    /// Handed out to a worker until this time (s); 0: not leased.
    pub lease_until: u64,
    /// Why the last attempt failed (a status, `timeout`, `unreachable`, ...).
    pub last_error: Option<String>,
    pub updated_at: u64,
}

/// The store's side of the events queue. Every [`super::Store`] is one.
#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Appends `deliveries` in their order (each given its `seq`), as durably as the store
    /// writes an answer's records.
    async fn enqueue_events(&self, deliveries: Vec<EventDelivery>) -> Result<(), StoreError>;

    /// Hands out at most `limit` deliveries that are due at `now`: each the first pending one
    /// of its (endpoint, user), not leased, `next_at` reached. Each is leased until
    /// `lease_until` before it is answered (oldest first).
    async fn claim_events(
        &self,
        now: u64,
        lease_until: u64,
        limit: usize,
    ) -> Result<Vec<EventDelivery>, StoreError>;

    /// Writes the outcome of an attempt on the delivery of `delivery.seq` (status, attempts,
    /// next time, last error, `updated_at`), its lease released.
    async fn settle_event(&self, delivery: &EventDelivery) -> Result<(), StoreError>;

    /// The newest `limit` deliveries, whatever their status, newest first.
    async fn recent_events(&self, limit: usize) -> Result<Vec<EventDelivery>, StoreError>;

    /// How many deliveries are pending.
    async fn pending_events(&self) -> Result<u64, StoreError>;

    /// Deletes the delivered and given-up deliveries settled before `before`; returns how
    /// many went. Pending ones stay, whatever their age (the worker gives them up).
    async fn sweep_events(&self, before: u64) -> Result<usize, StoreError>;
}

/// The rule of a claim, for engines that walk the pending deliveries themselves: offered the
/// pending deliveries oldest first, it takes the first of each (endpoint, user) when it is due
/// at `now` and not leased, up to `limit`. A delivery offered that is already settled (an
/// engine whose settle writes the record before it leaves the pending index can be read in
/// between) is passed over: it is neither handed out again nor holds back its user's next.
pub(super) struct Heads {
    now: u64,
    limit: usize,
    seen: HashSet<(String, String)>,
    taken: usize,
}

impl Heads {
    pub(super) fn new(now: u64, limit: usize) -> Heads {
        Heads {
            now,
            limit,
            seen: HashSet::new(),
            taken: 0,
        }
    }

    /// Whether `d` (the next pending delivery, by order) is handed out.
    pub(super) fn offer(&mut self, d: &EventDelivery) -> bool {
        if d.status != DeliveryStatus::Pending {
            return false;
        }
        if self.full() || !self.seen.insert((d.endpoint.clone(), d.username.clone())) {
            return false;
        }
        let due = d.next_at <= self.now && d.lease_until <= self.now;
        self.taken += usize::from(due);
        due
    }

    /// Whether `limit` are taken: later deliveries change nothing.
    pub(super) fn full(&self) -> bool {
        self.taken >= self.limit
    }
}

/// Of `pending` (the pending deliveries, oldest first), those a claim at `now` hands out
/// ([`Heads`]).
pub(super) fn heads<'a>(
    pending: impl IntoIterator<Item = &'a EventDelivery>,
    now: u64,
    limit: usize,
) -> Vec<&'a EventDelivery> {
    let mut rule = Heads::new(now, limit);
    pending.into_iter().filter(|d| rule.offer(d)).collect()
}

/// The record of `delivery` with the outcome of `settled` written over it.
pub(super) fn settled(mut stored: EventDelivery, settled: &EventDelivery) -> EventDelivery {
    stored.status = settled.status;
    stored.attempts = settled.attempts;
    stored.next_at = settled.next_at;
    stored.last_error = settled.last_error.clone();
    stored.updated_at = settled.updated_at;
    stored.lease_until = 0;
    stored
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn delivery(endpoint: &str, username: &str, n: u64) -> EventDelivery {
        EventDelivery {
            seq: 0,
            id: format!("evt_{username}_{n}"),
            endpoint: endpoint.into(),
            username: username.into(),
            event_type: "mfa.verified".into(),
            payload: format!("{{\"n\":{n}}}"),
            created_at: 100,
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_at: 100,
            lease_until: 0,
            last_error: None,
            updated_at: 100,
        }
    }

    fn numbered(list: Vec<EventDelivery>) -> Vec<EventDelivery> {
        list.into_iter()
            .enumerate()
            .map(|(i, mut d)| {
                d.seq = i as u64 + 1;
                d
            })
            .collect()
    }

    fn seqs(list: Vec<&EventDelivery>) -> Vec<u64> {
        list.iter().map(|d| d.seq).collect()
    }

    #[test]
    fn only_the_first_pending_delivery_of_a_user_at_an_endpoint_is_handed_out() {
        let pending = numbered(vec![
            delivery("a", "alice", 1),
            delivery("a", "bob", 1),
            delivery("a", "alice", 2),
            delivery("b", "alice", 1),
        ]);
        assert_eq!(seqs(heads(&pending, 100, 10)), vec![1, 2, 4]);
    }

    #[test]
    fn a_delivery_not_yet_due_or_leased_holds_back_the_later_ones_of_its_user_only() {
        let mut pending = numbered(vec![
            delivery("a", "alice", 1),
            delivery("a", "alice", 2),
            delivery("a", "bob", 1),
            delivery("a", "carol", 1),
        ]);
        pending[0].next_at = 160;
        pending[3].lease_until = 130;
        assert_eq!(seqs(heads(&pending, 120, 10)), vec![3]);
        assert_eq!(seqs(heads(&pending, 130, 10)), vec![3, 4]);
        assert_eq!(seqs(heads(&pending, 160, 10)), vec![1, 3, 4]);
    }

    #[test]
    fn a_delivery_settled_but_still_indexed_as_pending_is_not_handed_out_again() {
        let mut pending = numbered(vec![delivery("a", "alice", 1), delivery("a", "alice", 2)]);
        pending[0].status = DeliveryStatus::Delivered;
        assert_eq!(seqs(heads(&pending, 100, 10)), vec![2]);
        pending[0].status = DeliveryStatus::GivenUp;
        assert_eq!(seqs(heads(&pending, 100, 10)), vec![2]);
    }

    #[test]
    fn a_claim_hands_out_at_most_its_limit_oldest_first() {
        let pending = numbered((0..5).map(|i| delivery("a", &format!("u{i}"), 1)).collect());
        assert_eq!(seqs(heads(&pending, 100, 2)), vec![1, 2]);
    }

    #[test]
    fn statuses_read_back_as_written() {
        for s in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::GivenUp,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("sent"), None);
    }
}

//! The contract of every [`EventQueue`] ([`super::event_queue`]): each case a function over a
//! fresh store, and `event_contract!` runs them all as tests of one engine, beside
//! `store_contract!`.

use std::collections::HashSet;
use std::sync::Arc;

use super::event_queue::tests::delivery;
use super::{DeliveryStatus, EventDelivery, Store};

macro_rules! event_contract {
    ($open:expr) => {
        event_contract!(@case $open, events_are_handed_out_in_order_per_user_and_endpoint);
        event_contract!(@case $open, a_leased_event_is_not_handed_out_again_before_its_lease_ends);
        event_contract!(@case $open, a_failed_event_holds_back_its_user_until_it_is_due_again);
        event_contract!(@case $open, settled_events_are_kept_for_the_view_then_swept);
        event_contract!(@case $open, concurrent_claims_never_hand_out_one_event_twice);
    };
    (@case $open:expr, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let opened: $crate::store::contract_tests::Opened = $open;
            $crate::store::event_contract_tests::$case(opened.0).await;
        }
    };
}
pub(super) use event_contract;

fn names(list: &[EventDelivery]) -> Vec<String> {
    list.iter().map(|d| d.id.clone()).collect()
}

async fn settle(store: &Arc<dyn Store>, mut d: EventDelivery, status: DeliveryStatus, at: u64) {
    d.status = status;
    d.attempts += 1;
    d.next_at = at;
    d.updated_at = at;
    store.settle_event(&d).await.unwrap();
}

pub(super) async fn events_are_handed_out_in_order_per_user_and_endpoint(store: Arc<dyn Store>) {
    store
        .enqueue_events(vec![
            delivery("hook", "alice", 1),
            delivery("hook", "bob", 1),
            delivery("hook", "alice", 2),
            delivery("other", "alice", 1),
        ])
        .await
        .unwrap();
    assert_eq!(store.pending_events().await.unwrap(), 4);
    let first = store.claim_events(100, 110, 10).await.unwrap();
    assert_eq!(
        names(&first),
        vec!["evt_alice_1", "evt_bob_1", "evt_alice_1"]
    );
    assert!(first.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(first.iter().all(|d| d.lease_until == 110));
    for d in first {
        settle(&store, d, DeliveryStatus::Delivered, 101).await;
    }
    let next = store.claim_events(101, 111, 10).await.unwrap();
    assert_eq!(names(&next), vec!["evt_alice_2"]);
    assert_eq!(next[0].endpoint, "hook");
    assert_eq!(store.pending_events().await.unwrap(), 1);
}

pub(super) async fn a_leased_event_is_not_handed_out_again_before_its_lease_ends(
    store: Arc<dyn Store>,
) {
    store
        .enqueue_events(vec![delivery("hook", "alice", 1)])
        .await
        .unwrap();
    assert_eq!(store.claim_events(100, 130, 10).await.unwrap().len(), 1);
    assert!(store.claim_events(129, 160, 10).await.unwrap().is_empty());
    let again = store.claim_events(130, 160, 10).await.unwrap();
    assert_eq!(
        names(&again),
        vec!["evt_alice_1"],
        "a lease that ended is taken over"
    );
}

pub(super) async fn a_failed_event_holds_back_its_user_until_it_is_due_again(
    store: Arc<dyn Store>,
) {
    store
        .enqueue_events(vec![
            delivery("hook", "alice", 1),
            delivery("hook", "alice", 2),
            delivery("hook", "bob", 1),
        ])
        .await
        .unwrap();
    let claimed = store.claim_events(100, 110, 1).await.unwrap();
    assert_eq!(names(&claimed), vec!["evt_alice_1"]);
    let mut failed = claimed[0].clone();
    failed.last_error = Some("500".into());
    settle(&store, failed, DeliveryStatus::Pending, 150).await;
    let bob = store.claim_events(101, 111, 10).await.unwrap();
    assert_eq!(
        names(&bob),
        vec!["evt_bob_1"],
        "alice's second event waits for her first; bob's does not"
    );
    settle(&store, bob[0].clone(), DeliveryStatus::Delivered, 102).await;
    let retried = store.claim_events(150, 160, 10).await.unwrap();
    assert_eq!(names(&retried), vec!["evt_alice_1"]);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("500"));
    settle(&store, retried[0].clone(), DeliveryStatus::GivenUp, 151).await;
    assert_eq!(
        names(&store.claim_events(151, 161, 10).await.unwrap()),
        vec!["evt_alice_2"],
        "a given-up event no longer holds back the next"
    );
}

pub(super) async fn settled_events_are_kept_for_the_view_then_swept(store: Arc<dyn Store>) {
    store
        .enqueue_events(vec![
            delivery("hook", "alice", 1),
            delivery("hook", "bob", 1),
            delivery("hook", "carol", 1),
        ])
        .await
        .unwrap();
    let claimed = store.claim_events(100, 110, 2).await.unwrap();
    settle(&store, claimed[0].clone(), DeliveryStatus::Delivered, 200).await;
    settle(&store, claimed[1].clone(), DeliveryStatus::GivenUp, 300).await;
    let recent = store.recent_events(10).await.unwrap();
    assert_eq!(
        names(&recent),
        vec!["evt_carol_1", "evt_bob_1", "evt_alice_1"]
    );
    assert_eq!(recent[2].status, DeliveryStatus::Delivered);
    assert_eq!(recent[2].lease_until, 0);
    assert_eq!(recent[1].status, DeliveryStatus::GivenUp);
    assert_eq!(
        names(&store.recent_events(1).await.unwrap()),
        vec!["evt_carol_1"]
    );

    assert_eq!(store.sweep_events(250).await.unwrap(), 1);
    assert_eq!(store.sweep_events(10_000).await.unwrap(), 1);
    assert_eq!(
        names(&store.recent_events(10).await.unwrap()),
        vec!["evt_carol_1"],
        "a pending event is never swept"
    );
    assert_eq!(store.pending_events().await.unwrap(), 1);
}

pub(super) async fn concurrent_claims_never_hand_out_one_event_twice(store: Arc<dyn Store>) {
    let users = 40;
    store
        .enqueue_events(
            (0..users)
                .map(|i| delivery("hook", &format!("u{i}"), 1))
                .collect(),
        )
        .await
        .unwrap();
    let claims: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_events(100, 200, 7).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for claim in claims {
        for d in claim.await.unwrap() {
            assert!(seen.insert(d.seq), "{} was handed out twice", d.id);
        }
    }
    let rest = store.claim_events(100, 200, 100).await.unwrap();
    for d in rest {
        assert!(seen.insert(d.seq), "{} was handed out twice", d.id);
    }
    assert_eq!(seen.len(), users);
}

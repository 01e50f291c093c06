//! The contract every [`Store`] keeps, whatever its engine: each case is a function over a
//! fresh store, and `store_contract!` runs them all as tests of one engine (see the tests of
//! `sled_store.rs` and `memory.rs`). A new engine passes these before anything else.

use std::sync::Arc;
use std::time::Duration;

mod sends;

use super::{AttemptFilter, AttemptRecord, Profile, SessionKey, SessionKindV1, SessionV1, Store};
pub(super) use sends::{
    a_send_moves_forward_and_is_found_by_its_message_id,
    concurrent_updates_of_a_send_are_never_lost, the_message_log_finds_newest_first_by_each_filter,
    the_message_log_sweeps_by_time_and_forgets_the_message_ids,
};

/// The attempts-log cap every engine is opened with in the contract.
pub(super) const ATTEMPTS_LOG_CAP: usize = 5;

/// A fresh store, and what must live as long as it does (its directory).
pub(super) type Opened = (Arc<dyn Store>, Box<dyn std::any::Any + Send>);

/// Runs every case of the contract against the store that `$open` (an expression giving an
/// [`Opened`]) makes anew for each test.
macro_rules! store_contract {
    ($open:expr) => {
        store_contract!(@case $open, a_session_can_be_consumed_only_once);
        store_contract!(@case $open, a_profile_is_replaced_only_over_the_one_read);
        store_contract!(@case $open, the_sweep_removes_only_what_is_over);
        store_contract!(@case $open, a_consumed_session_is_not_swept_again);
        store_contract!(@case $open, concurrent_counter_updates_are_never_lost);
        store_contract!(@case $open, many_concurrent_flushes_all_complete);
        store_contract!(@case $open, the_attempts_log_reads_newest_first_and_sweeps_by_time);
        store_contract!(@case $open, the_attempts_log_keeps_its_cap_dropping_the_oldest);
        store_contract!(@case $open, the_sessions_of_a_user_are_hers_only);
        store_contract!(@case $open, a_counter_reads_as_last_stored);
        store_contract!(@case $open, the_attempts_log_finds_by_user_outcome_route_and_time);
        store_contract!(@case $open, a_running_store_answers_a_ping);
        store_contract!(@case $open, a_send_moves_forward_and_is_found_by_its_message_id);
        store_contract!(@case $open, the_message_log_finds_newest_first_by_each_filter);
        store_contract!(@case $open, the_message_log_sweeps_by_time_and_forgets_the_message_ids);
        store_contract!(@case $open, concurrent_updates_of_a_send_are_never_lost);
    };
    (@case $open:expr, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let opened: $crate::store::contract_tests::Opened = $open;
            $crate::store::contract_tests::$case(opened.0).await;
        }
    };
}
pub(super) use store_contract;

pub(super) fn session(expires_at: u64) -> SessionV1 {
    SessionV1 {
        username: "alice".into(),
        kind: SessionKindV1::Login {
            sealed_grant: None,
            enrolment: "e".into(),
        },
        created_at: 0,
        expires_at,
        code: None,
        attempts: 0,
        last_sent_at: None,
        captured: Default::default(),
        challenged: None,
    }
}

fn profile(enrolment: &str) -> Profile {
    Profile {
        user_data: [("phone".to_string(), "+41791231212".to_string())].into(),
        recovery_codes: vec![],
        enrolled_at: 1,
        enrolment: enrolment.into(),
        methods: vec![],
        totp: None,
    }
}

pub(super) async fn a_session_can_be_consumed_only_once(store: Arc<dyn Store>) {
    let key = SessionKey([1; 32]);
    store.insert_session(&key, &session(100)).await.unwrap();
    assert_eq!(store.pending_sessions(), 1);
    let read = store.session(&key).await.unwrap().unwrap();
    assert!(store.swap_session(&key, &read, None).await.unwrap());
    assert!(!store.swap_session(&key, &read, None).await.unwrap());
    assert!(store.session(&key).await.unwrap().is_none());
    assert_eq!(store.pending_sessions(), 0);
}

pub(super) async fn a_profile_is_replaced_only_over_the_one_read(store: Arc<dyn Store>) {
    assert!(store
        .swap_profile("alice", None, Some(&profile("e1")))
        .await
        .unwrap());
    assert!(
        !store
            .swap_profile("alice", None, Some(&profile("e2")))
            .await
            .unwrap(),
        "created twice"
    );
    let read = store.profile("alice").await.unwrap().unwrap();
    assert_eq!(read.value, profile("e1"));
    assert!(store
        .swap_profile("alice", Some(&read), Some(&profile("e2")))
        .await
        .unwrap());
    assert!(
        !store
            .swap_profile("alice", Some(&read), None)
            .await
            .unwrap(),
        "deleted over a stale read"
    );
    let read = store.profile("alice").await.unwrap().unwrap();
    assert_eq!(read.value.enrolment, "e2");
    assert!(store
        .swap_profile("alice", Some(&read), None)
        .await
        .unwrap());
    assert!(store.profile("alice").await.unwrap().is_none());
}

pub(super) async fn the_sweep_removes_only_what_is_over(store: Arc<dyn Store>) {
    store
        .insert_session(&SessionKey([1; 32]), &session(10))
        .await
        .unwrap();
    store
        .insert_session(&SessionKey([2; 32]), &session(20))
        .await
        .unwrap();
    for (key, value) in [(b"over", 1u8), (b"live", 2u8)] {
        store
            .update_counter(key, &mut |_| Some(vec![value]))
            .await
            .unwrap();
    }
    assert_eq!(store.sweep(15, |raw, _| raw == [1]).await.unwrap(), 2);
    assert!(store.session(&SessionKey([1; 32])).await.unwrap().is_none());
    assert!(store.session(&SessionKey([2; 32])).await.unwrap().is_some());
    assert_eq!(store.pending_sessions(), 1);
    let mut live = None;
    store
        .update_counter(b"live", &mut |old| {
            live = old.map(<[u8]>::to_vec);
            old.map(<[u8]>::to_vec)
        })
        .await
        .unwrap();
    assert_eq!(live, Some(vec![2]));
}

/// A session consumed before its deadline is gone once: the sweep that passes its deadline
/// later removes nothing and counts nothing (sled leaves its expiry entry to the sweep).
pub(super) async fn a_consumed_session_is_not_swept_again(store: Arc<dyn Store>) {
    let key = SessionKey([3; 32]);
    store.insert_session(&key, &session(10)).await.unwrap();
    let read = store.session(&key).await.unwrap().unwrap();
    assert!(store.swap_session(&key, &read, None).await.unwrap());
    assert_eq!(store.pending_sessions(), 0);
    assert_eq!(store.sweep(15, |_, _| false).await.unwrap(), 0);
    assert_eq!(store.pending_sessions(), 0);
    assert!(store.session(&key).await.unwrap().is_none());
}

pub(super) async fn concurrent_counter_updates_are_never_lost(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .update_counter(b"n", &mut |old| Some(vec![old.map_or(0, |b| b[0]) + 1]))
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut seen = 0;
    store
        .update_counter(b"n", &mut |old| {
            seen = old.map_or(0, |b| b[0]);
            old.map(<[u8]>::to_vec)
        })
        .await
        .unwrap();
    assert_eq!(seen, 50);
}

pub(super) async fn many_concurrent_flushes_all_complete(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..64u8)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .update_counter(&[i], &mut |_| Some(vec![i]))
                    .await
                    .unwrap();
                store.flush().await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("a flush never completed")
            .unwrap();
    }
}

fn attempt_at(time: u64) -> AttemptRecord {
    AttemptRecord {
        id: String::new(),
        time,
        username: "alice".into(),
        method: "POST".into(),
        route: "/r".into(),
        status: 200,
        outcome: "ok".into(),
        reason: String::new(),
        duration_ms: 0.0,
        admin: None,
    }
}

async fn logged_times(store: &Arc<dyn Store>) -> Vec<u64> {
    let all = store.attempts(1000).await.unwrap();
    all.iter().map(|a| a.time).collect()
}

pub(super) async fn the_attempts_log_reads_newest_first_and_sweeps_by_time(store: Arc<dyn Store>) {
    for time in [1, 2, 3] {
        store.log_attempt(attempt_at(time)).await.unwrap();
    }
    let newest = store.attempts(2).await.unwrap();
    assert_eq!(newest.iter().map(|a| a.time).collect::<Vec<_>>(), [3, 2]);
    let first = store.attempt(&newest[0].id).await.unwrap().unwrap();
    assert_eq!(first.time, 3);
    assert_eq!(store.sweep_attempts(3).await.unwrap(), 2);
    assert_eq!(store.attempts(10).await.unwrap().len(), 1);
}

pub(super) async fn the_attempts_log_keeps_its_cap_dropping_the_oldest(store: Arc<dyn Store>) {
    for time in 1..=20 {
        store.log_attempt(attempt_at(time)).await.unwrap();
    }
    assert_eq!(logged_times(&store).await, [20, 19, 18, 17, 16]);
    // The sweep's removals are counted: after it, the log fills up to the cap again, not more.
    assert_eq!(store.sweep_attempts(18).await.unwrap(), 2);
    for time in 21..=22 {
        store.log_attempt(attempt_at(time)).await.unwrap();
    }
    assert_eq!(logged_times(&store).await, [22, 21, 20, 19, 18]);
    store.log_attempt(attempt_at(23)).await.unwrap();
    assert_eq!(logged_times(&store).await, [23, 22, 21, 20, 19]);
    assert_eq!(ATTEMPTS_LOG_CAP, 5);
}

pub(super) async fn the_sessions_of_a_user_are_hers_only(store: Arc<dyn Store>) {
    let mut bob = session(100);
    bob.username = "bob".into();
    // A name that holds another's as a part of it is not that other user.
    let mut alice2 = session(100);
    alice2.username = "alice2".into();
    store
        .insert_session(&SessionKey([1; 32]), &session(100))
        .await
        .unwrap();
    store
        .insert_session(&SessionKey([2; 32]), &bob)
        .await
        .unwrap();
    store
        .insert_session(&SessionKey([3; 32]), &alice2)
        .await
        .unwrap();
    store
        .insert_session(&SessionKey([4; 32]), &session(200))
        .await
        .unwrap();
    let mut keys: Vec<[u8; 32]> = store
        .sessions_of("alice")
        .await
        .unwrap()
        .iter()
        .map(|(k, s)| {
            assert_eq!(s.value.username, "alice");
            k.0
        })
        .collect();
    keys.sort();
    assert_eq!(keys, [[1; 32], [4; 32]]);
    assert!(store.sessions_of("carol").await.unwrap().is_empty());
    // What is listed can be removed with the bytes it was read from.
    for (key, read) in store.sessions_of("alice").await.unwrap() {
        assert!(store.swap_session(&key, &read, None).await.unwrap());
    }
    assert!(store.sessions_of("alice").await.unwrap().is_empty());
    assert_eq!(store.pending_sessions(), 2);
}

pub(super) async fn a_counter_reads_as_last_stored(store: Arc<dyn Store>) {
    assert_eq!(store.counter(b"k").await.unwrap(), None);
    store
        .update_counter(b"k", &mut |_| Some(vec![7, 8]))
        .await
        .unwrap();
    assert_eq!(store.counter(b"k").await.unwrap(), Some(vec![7, 8]));
    // An update that leaves the value as it was keeps it (sled then writes nothing).
    let mut seen = None;
    store
        .update_counter(b"k", &mut |old| {
            seen = old.map(<[u8]>::to_vec);
            old.map(<[u8]>::to_vec)
        })
        .await
        .unwrap();
    assert_eq!(seen, Some(vec![7, 8]));
    assert_eq!(store.counter(b"k").await.unwrap(), Some(vec![7, 8]));
    store.update_counter(b"k", &mut |_| None).await.unwrap();
    assert_eq!(store.counter(b"k").await.unwrap(), None);
    store.update_counter(b"k", &mut |_| None).await.unwrap();
    assert_eq!(store.counter(b"k").await.unwrap(), None);
}

pub(super) async fn the_attempts_log_finds_by_user_outcome_route_and_time(store: Arc<dyn Store>) {
    for (time, username, outcome) in [
        (10, "alice", "ok"),
        (11, "bob", "invalid-code"),
        (12, "alice", "invalid-code"),
        (13, "alice", "ok"),
    ] {
        let mut record = attempt_at(time);
        record.username = username.into();
        record.outcome = outcome.into();
        store.log_attempt(record).await.unwrap();
    }
    let times = |found: Vec<AttemptRecord>| found.iter().map(|a| a.time).collect::<Vec<_>>();
    let alice = AttemptFilter::of_user("alice");
    assert_eq!(
        times(store.find_attempts(&alice, 10).await.unwrap()),
        [13, 12, 10]
    );
    assert_eq!(
        times(store.find_attempts(&alice, 2).await.unwrap()),
        [13, 12]
    );
    let wrong = AttemptFilter {
        outcome: Some("invalid-code".into()),
        ..AttemptFilter::all()
    };
    assert_eq!(
        times(store.find_attempts(&wrong, 10).await.unwrap()),
        [12, 11]
    );
    let window = AttemptFilter {
        from: Some(11),
        to: Some(12),
        route: Some("/R".into()),
        ..AttemptFilter::all()
    };
    assert_eq!(
        times(store.find_attempts(&window, 10).await.unwrap()),
        [12, 11]
    );
    let elsewhere = AttemptFilter {
        route: Some("/login".into()),
        ..AttemptFilter::all()
    };
    assert!(store
        .find_attempts(&elsewhere, 10)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn a_running_store_answers_a_ping(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    store
        .insert_session(&SessionKey([1; 32]), &session(100))
        .await
        .unwrap();
    store.ping().await.unwrap();
}

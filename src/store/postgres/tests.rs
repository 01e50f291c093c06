//! [`PgStore`] on a throwaway PostgreSQL: the contract of every store, then what only a shared
//! database has to keep: several instances (separate pools) racing on one record, the
//! migrations applied by several at once, the fingerprint of the secret.

use std::sync::Arc;
use std::time::Duration;

use super::super::contract_tests::{store_contract, ATTEMPTS_LOG_CAP};
use super::*;
use crate::store::SessionKindV1;

use crate::test_postgres;

fn settings(url: &str) -> PgSettings {
    PgSettings {
        url: Secret::new(url.to_string()),
        pool_size: 8,
        connect_timeout: Duration::from_secs(10),
        statement_timeout: Duration::from_secs(30),
        strict_durability: true,
    }
}

/// An instance of the daemon's store on the database at `url`: a pool of its own.
async fn instance(url: &str, secret: [u8; 32]) -> PgStore {
    PgStore::open(&settings(url), &secret)
        .await
        .unwrap()
        .with_attempts_log_cap(ATTEMPTS_LOG_CAP)
}

store_contract!({
    let url = test_postgres::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(instance(&url, [9; 32]).await);
    (store, Box::new(()))
});

use super::super::event_contract_tests::event_contract;
event_contract!({
    let url = test_postgres::fresh_database().await;
    let store: Arc<dyn Store> = Arc::new(instance(&url, [9; 32]).await);
    (store, Box::new(()))
});

fn session() -> SessionV1 {
    SessionV1 {
        username: "alice".into(),
        kind: SessionKindV1::Login {
            sealed_grant: None,
            enrolment: "e".into(),
        },
        created_at: 0,
        expires_at: 100,
        code: None,
        attempts: 0,
        last_sent_at: None,
        captured: [("ip".to_string(), "192.0.2.1".to_string())].into(),
        challenged: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_64_instances_spending_one_session_exactly_one_wins() {
    let url = test_postgres::fresh_database().await;
    let first = instance(&url, [9; 32]).await;
    let key = SessionKey([5; 32]);
    first.insert_session(&key, &session()).await.unwrap();
    let mut stores = vec![first];
    for _ in 0..3 {
        stores.push(instance(&url, [9; 32]).await);
    }
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let store = stores[i % stores.len()].clone();
            tokio::spawn(async move {
                let read = store.session(&key).await.unwrap();
                match read {
                    Some(read) => store.swap_session(&key, &read, None).await.unwrap(),
                    None => false,
                }
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
    assert!(stores[2].session(&key).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_counter_updates_from_three_instances_all_count() {
    let url = test_postgres::fresh_database().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(instance(&url, [9; 32]).await);
    }
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move {
                store
                    .update_counter(b"n", &mut |old| {
                        let n = old.map_or(0, |b| u32::from_be_bytes(b.try_into().unwrap()));
                        Some((n + 1).to_be_bytes().to_vec())
                    })
                    .await
                    .unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        stores[1].counter(b"n").await.unwrap(),
        Some(50u32.to_be_bytes().to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_migrating_a_new_database_together_all_succeed() {
    let url = test_postgres::fresh_database().await;
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let pool = connect(&settings(&url)).await.unwrap();
                migrate(&pool).await.unwrap()
            })
        })
        .collect();
    let mut applied = Vec::new();
    for t in tasks {
        applied.push(t.await.unwrap());
    }
    assert!(applied.iter().any(|a| a.iter().any(|m| m.version == 1)));
    // Once applied, a migration is not applied again.
    let pool = connect(&settings(&url)).await.unwrap();
    assert_eq!(migrate(&pool).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_with_another_secret_refuses_the_database() {
    let url = test_postgres::fresh_database().await;
    let first = instance(&url, [9; 32]).await;
    first
        .insert_session(&SessionKey([1; 32]), &session())
        .await
        .unwrap();
    instance(&url, [9; 32]).await;

    let Err(e) = PgStore::open(&settings(&url), &[8; 32]).await else {
        panic!("an instance with another secret opened the database");
    };

    let message = e.to_string();
    assert!(message.contains("storage.secret"), "{message}");
    assert!(message.contains("another server secret"), "{message}");
    let stored: String =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'secret_fingerprint'")
            .fetch_one(first.pool())
            .await
            .unwrap();
    assert_eq!(stored, fingerprint::fingerprint(&[9; 32]).unwrap());
    assert!(!stored.contains(&hex::encode([9u8; 32])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_values_are_sealed_in_the_table_and_open_on_another_instance() {
    let url = test_postgres::fresh_database().await;
    let first = instance(&url, [9; 32]).await;
    let key = SessionKey([3; 32]);
    first.insert_session(&key, &session()).await.unwrap();
    let record: String = sqlx::query_scalar("SELECT record::text FROM sessions")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert!(!record.contains("192.0.2.1"), "{record}");

    let second = instance(&url, [9; 32]).await;

    let read = second.session(&key).await.unwrap().unwrap();
    assert_eq!(read.value, session());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_answers_while_the_server_runs_and_says_unavailable_once_it_stops() {
    let server = test_postgres::TestServer::start();
    let url = server.fresh_database().await;
    let store = instance(&url, [9; 32]).await;
    store.ping().await.unwrap();

    server.stop_immediate();

    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.session(&SessionKey([1; 32])).await,
        Err(StoreError::Unavailable(_))
    ));
    server.start_again();
    tokio::time::timeout(Duration::from_secs(30), async {
        while store.ping().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the store serves again once the database is back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_imports_into_another_database_as_it_was() {
    let from = instance(&test_postgres::fresh_database().await, [9; 32]).await;
    let key = SessionKey([4; 32]);
    from.insert_session(&key, &session()).await.unwrap();
    from.update_counter(b"c", &mut |_| Some(vec![1, 2]))
        .await
        .unwrap();
    let mut entry = AttemptRecord {
        id: String::new(),
        time: 42,
        username: "alice".into(),
        method: "POST".into(),
        route: "/alice/mfa/verify".into(),
        status: 400,
        outcome: "invalid-code".into(),
        reason: String::new(),
        duration_ms: 1.5,
        admin: None,
    };
    from.log_attempt(entry.clone()).await.unwrap();
    let records = from.export().await.unwrap();
    let to = instance(&test_postgres::fresh_database().await, [9; 32]).await;

    to.import(records).await.unwrap();

    assert_eq!(to.session(&key).await.unwrap().unwrap().value, session());
    assert_eq!(to.pending_sessions(), 1);
    assert_eq!(to.counter(b"c").await.unwrap(), Some(vec![1, 2]));
    let logged = to.attempts(10).await.unwrap();
    entry.id = logged[0].id.clone();
    assert_eq!(logged, [entry]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_are_those_of_every_connection() {
    let url = test_postgres::fresh_database().await;
    let periodic = PgSettings {
        strict_durability: false,
        statement_timeout: Duration::from_millis(1500),
        ..settings(&url)
    };
    let pool = connect(&periodic).await.unwrap();
    let shown: (String, String) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), current_setting('statement_timeout')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(shown, ("off".to_string(), "1500ms".to_string()));
    let strict = connect(&settings(&url)).await.unwrap();
    let commit: String = sqlx::query_scalar("SELECT current_setting('synchronous_commit')")
        .fetch_one(&strict)
        .await
        .unwrap();
    assert_eq!(commit, "on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_export_imports_into_postgres_and_opens_under_the_same_secret() {
    let dir = tempfile::tempdir().unwrap();
    let sled = crate::store::SledStore::open(dir.path())
        .unwrap()
        .with_seal(Seal::new([9; 32]));
    let profile = Profile {
        user_data: [("phone".to_string(), "+41791231212".to_string())].into(),
        recovery_codes: vec![],
        enrolled_at: 7,
        enrolment: "e1".into(),
        methods: vec![],
        totp: None,
    };
    assert!(sled
        .swap_profile("alice", None, Some(&profile))
        .await
        .unwrap());
    let key = SessionKey([6; 32]);
    sled.insert_session(&key, &session()).await.unwrap();
    sled.update_counter(b"k", &mut |_| Some(vec![3]))
        .await
        .unwrap();
    let records = sled.export().await.unwrap();
    let url = test_postgres::fresh_database().await;
    let pg = instance(&url, [9; 32]).await;

    pg.import(records).await.unwrap();

    assert_eq!(pg.profile("alice").await.unwrap().unwrap().value, profile);
    assert_eq!(pg.session(&key).await.unwrap().unwrap().value, session());
    assert_eq!(pg.counter(b"k").await.unwrap(), Some(vec![3]));
    let stored: String = sqlx::query_scalar("SELECT record::text FROM profiles")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    assert!(!stored.contains("41791231212"), "{stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_keeps_its_expiry_in_a_column_and_the_sweep_deletes_by_it() {
    fn over_from_first_byte(raw: &[u8], now: u64) -> bool {
        raw.first().is_some_and(|&b| now >= u64::from(b))
    }
    fn never(_: &[u8], _: u64) -> bool {
        false
    }
    let url = test_postgres::fresh_database().await;
    let store = instance(&url, [9; 32])
        .await
        .with_counter_expiry(over_from_first_byte);
    store
        .update_counter(b"c", &mut |_| Some(vec![10]))
        .await
        .unwrap();
    let expires_at: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM counters")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(expires_at, Some(10));

    // The column decides, not the function the sweep is given.
    assert_eq!(store.sweep(9, never).await.unwrap(), 0);
    assert_eq!(store.sweep(10, never).await.unwrap(), 1);
    assert_eq!(store.counter(b"c").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_database_is_verified_against_the_configured_authority() {
    let server = test_postgres::TestServer::start_with_tls();
    let url = server.fresh_database().await;
    let cert = server.certificate().display().to_string();
    let verified = format!("{url}?sslmode=verify-full&sslrootcert={cert}");
    let store = instance(&verified, [3; 32]).await;
    store.ping().await.unwrap();
    let tls: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(tls, "the connection is encrypted");

    // A certificate the client cannot verify (another authority) is refused, and so is TLS
    // demanded of a server without it.
    let other = test_postgres::TestServer::start_with_tls();
    let wrong_ca = format!(
        "{url}?sslmode=verify-full&sslrootcert={}",
        other.certificate().display()
    );
    let quick = |url: &str| PgSettings {
        connect_timeout: Duration::from_secs(2),
        ..settings(url)
    };
    let refused = connect(&quick(&wrong_ca)).await;
    assert!(
        refused.is_err(),
        "a certificate of another authority was accepted"
    );
    let plain = test_postgres::TestServer::start();
    let plain_url = plain.fresh_database().await;
    let refused = connect(&quick(&format!("{plain_url}?sslmode=require"))).await;
    assert!(
        refused.is_err(),
        "sslmode=require reached a server without TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_four_instances_claiming_events_together_each_event_goes_to_one() {
    use crate::store::EventQueue;
    let url = test_postgres::fresh_database().await;
    let first = instance(&url, [9; 32]).await;
    let users = 60;
    first
        .enqueue_events(
            (0..users)
                .map(|i| crate::store::event_queue::tests::delivery("hook", &format!("u{i}"), 1))
                .collect(),
        )
        .await
        .unwrap();
    let mut claims = Vec::new();
    for _ in 0..4 {
        let store = instance(&url, [9; 32]).await;
        for _ in 0..4 {
            let store = store.clone();
            claims.push(tokio::spawn(async move {
                store.claim_events(100, 200, 5).await.unwrap()
            }));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for claim in claims {
        for d in claim.await.unwrap() {
            assert!(seen.insert(d.seq), "{} went to two claims", d.id);
        }
    }
    for d in first.claim_events(100, 200, 100).await.unwrap() {
        assert!(seen.insert(d.seq), "{} went to two claims", d.id);
    }
    assert_eq!(seen.len(), users);
}

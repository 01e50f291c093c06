//! The throwaway PostgreSQL of the tests works: a database of its own per test, and a server
//! that comes back after a crash-like stop.

use sqlx::Connection;

use crate::postgres::{fresh_database, TestServer};

#[tokio::test]
async fn each_test_gets_an_empty_database_of_its_own() {
    let (a, b) = (fresh_database().await, fresh_database().await);
    assert_ne!(a, b);
    let mut c = sqlx::PgConnection::connect(&a).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(tables, 0);
}

#[tokio::test]
async fn a_server_stopped_immediately_keeps_what_was_committed() {
    let server = TestServer::start();
    let url = server.fresh_database().await;
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    for statement in ["CREATE TABLE t (v int)", "INSERT INTO t VALUES (7)"] {
        sqlx::query(statement).execute(&mut c).await.unwrap();
    }
    server.stop_immediate();
    assert!(sqlx::query("SELECT 1").execute(&mut c).await.is_err());
    server.start_again();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    let v: i32 = sqlx::query_scalar("SELECT v FROM t")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(v, 7);
}

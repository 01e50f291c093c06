//! mfa-bridge: a second factor in front of any login.
//!
//! Modules follow the data: [`domain`] and [`store`] underneath, then [`config`] ->
//! [`template`] -> [`snapshot`] (the one loading entry, and hot reload) -> [`provider`] /
//! [`upstream`] -> [`events`] (signed webhooks, queued) -> [`mfa`] (the flows) -> [`http`] (the Pryv-compatible routes) and [`admin`];
//! [`startup`] builds the whole.

// Library code never panics on bad input or a broken invariant it could report instead, never
// holds a lock across an await, and reads the time only through `clock::Clock` (clippy.toml).
// Tests may unwrap.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(clippy::await_holding_lock, clippy::disallowed_methods)]

pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod metrics;
pub mod mfa;
pub mod provider;
pub mod snapshot;
pub mod startup;
pub mod store;
pub mod template;
pub mod upstream;

/// The tests' throwaway PostgreSQL (shared with the black-box tests, which include the same
/// file): one module for every unit test that needs a database.
#[cfg(test)]
#[path = "../tests/support/postgres.rs"]
pub(crate) mod test_postgres;

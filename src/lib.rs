//! mfa-bridge: a second factor in front of any login.
//!
//! Modules follow the data: [`domain`] and [`store`] underneath, then [`config`] ->
//! [`template`] -> [`snapshot`] (the one loading entry, and hot reload) -> [`provider`] /
//! [`upstream`] -> [`mfa`] (the flows) -> [`http`] (the Pryv-compatible routes) and [`admin`];
//! [`startup`] builds the whole.

pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod mfa;
pub mod provider;
pub mod snapshot;
pub mod startup;
pub mod store;
pub mod template;
pub mod upstream;

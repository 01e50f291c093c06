//! mfa-bridge: a second factor in front of any login.
//!
//! Modules follow the data: [`config`] -> [`template`] -> [`provider`] / [`upstream`] ->
//! [`mfa`] (the flows) -> [`http`] (the Pryv-compatible routes), with [`store`] underneath.

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

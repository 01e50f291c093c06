//! Black-box tests of mfa-bridge: the application (in process, through the same start-up path
//! as the binary) or the binary itself, against fake providers and upstreams on loopback.

mod abuse;
mod admin;
mod at_rest;
mod attempts;
mod backup;
mod binary;
mod challenge_verify;
mod channels;
mod config_writes;
mod conformance;
mod destinations;
mod durability;
mod errors;
mod fakes;
mod helpers;
mod hostile_values;
mod instances;
mod log_format;
mod logs;
mod matrix;
mod messages;
mod methods;
mod openapi;
mod openapi_check;
mod outbox;
#[path = "../support/postgres.rs"]
mod postgres;
mod postgres_harness;
mod presets;
mod prism;
mod proxy_single;
mod refusals;
mod reload;
mod seed_examples;
mod send_limits;
mod sessions;
mod standalone;
mod status;
mod step_up;
mod templates;
mod tokens;
mod totp;
mod upgrade;
mod users;
mod walk_through;

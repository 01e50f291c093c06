//! Black-box tests of mfa-bridge: the application (in process, through the same start-up path
//! as the binary) or the binary itself, against fake providers and upstreams on loopback.

mod binary;
mod challenge_verify;
mod errors;
mod fakes;
mod helpers;
mod matrix;
mod outbox;
mod proxy_single;
mod seed_examples;
mod sessions;
mod standalone;
mod templates;
mod tokens;

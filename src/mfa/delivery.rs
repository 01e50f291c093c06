//! Delivery of one send through the providers of its channel: the order they are tried in
//! ([`plan`]), the tries themselves with their retries, fail-overs and deadline ([`engine`]),
//! the record of every try in the message log ([`log`]), and the providers with their circuit
//! breakers as `/api/status` shows them ([`status`]).

mod engine;
mod log;
mod plan;
mod status;
mod verify;

pub(super) use engine::{Job, Undelivered};
pub(super) use log::send_record;
pub use status::ProviderStatus;
pub(super) use verify::verify_templates;

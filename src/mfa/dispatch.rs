//! Dispatch: one send delivered through the providers of its channel: the order they are
//! tried in ([`plan`]), the tries with their retries, fail-overs and deadline ([`engine`]), the
//! channel fallback ([`fallback`]), the record of every try in the message log ([`log`]),
//! the verify's way back to the provider that started it ([`verify`]), and the providers with
//! their circuit breakers as `/api/status` shows them ([`status`]).

mod engine;
mod event;
mod fallback;
mod log;
mod overdue;
mod plan;
mod resend;
mod status;
mod verify;

pub(super) use engine::{Job, Undelivered};
pub use event::send_event;
pub(super) use log::send_record;
pub use resend::Resend;
pub use status::ProviderStatus;
pub(super) use verify::verify_templates;

#[cfg(test)]
mod log_tests;

//! The MFA flows: login, activate, confirm, challenge, verify, deactivate, recover, and the
//! enrolment's status and recovery codes.
//!
//! No HTTP here: the web layer parses requests into these calls and maps [`FlowError`] to
//! Pryv-style answers. Every flow takes the configuration snapshot it runs under.
//!
//! Every secret a user proves (a code, a recovery code, a step-up password) is an *attempt*:
//! counted on the user's tally before it is checked, refused unchecked during a wait, and
//! flushed to disk before the answer.
//!
//! One concept per file: `access` (who may call, attempts), `step_up`, `recovery`,
//! `session` and `state` (pending sessions, typed), `update` (the compare-and-swap helpers
//! and the durability rule), `code`, `send`, `enrol` (activate, confirm), `login` (login,
//! challenge, verify), `deactivate` (and status), `method`, `support` (what the admin API does for a user), [`error`], [`outcome`].

mod access;
mod code;
mod deactivate;
mod delivery;
mod dispatch;
mod enrol;
pub mod error;
mod event;
pub mod limits;
mod login;
mod method;
pub mod outcome;
mod recovery;
pub mod secrets;
mod send;
mod session;
mod state;
mod step_up;
mod support;
#[cfg(test)]
mod testing;
pub mod totp;
mod update;
pub mod user_data;

use std::sync::Arc;

use crate::clock::Clock;
use crate::provider::Sender;
use crate::store::{Store, StoreError};

pub use crate::domain::{Method, StepUp};
pub use deactivate::DeactivateInput;
pub use delivery::ChannelDelivery;
pub use dispatch::{send_event, ProviderStatus, Resend};
pub use enrol::ActivateInput;
pub use error::{FlowError, Invalid, Messaging, StepUpNeeded};
pub use method::enrolled_methods;
pub use outcome::{Activation, Confirmed, LoginOutcome, Status, Verified};
pub use recovery::RECOVERY_CODE_COUNT;
pub use send::accepted;
pub use support::{
    EnrolmentCode, EnrolmentView, PendingView, Reset, UserView, WaitView,
    DEFAULT_ENROLMENT_CODE_SECONDS, LAST_ATTEMPTS, MAX_ENROLMENT_CODE_SECONDS,
};

use secrets::Keys;

/// The MFA service: storage, the outbound client, keys and the clock.
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn Store>,
    sender: Sender,
    keys: Keys,
    clock: Arc<dyn Clock>,
}

impl Mfa {
    pub fn new(store: Arc<dyn Store>, sender: Sender, keys: Keys, clock: Arc<dyn Clock>) -> Mfa {
        Mfa {
            store,
            sender,
            keys,
            clock,
        }
    }

    /// The same service over another store: the store it had, wrapped (a test's
    /// [`crate::store::FaultyStore`], through [`crate::startup::Application::with_store_faults`]).
    pub fn with_store(&self, store: Arc<dyn Store>) -> Mfa {
        Mfa {
            store,
            ..self.clone()
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The fingerprint of the server secret that keys the stored records (for backups).
    pub fn key_fingerprint(&self) -> String {
        self.keys.fingerprint()
    }

    /// The time on the service's clock (seconds since the epoch).
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Deletes expired sessions and counters.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.store
            .sweep(self.clock.now(), limits::counter_expired)
            .await
    }
}

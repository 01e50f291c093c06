//! The seam through which a test makes storage fail: the application, built as the daemon
//! builds it, then its store wrapped in a [`FaultyStore`] that a [`FaultSwitch`] turns off and
//! on (a database down, then back). The daemon never calls it; the black-box tests of a store
//! outage do (`tests/api/storage_down.rs`).

use std::sync::Arc;

use crate::store::{FaultSwitch, FaultyStore, Store};

use super::Application;

impl Application {
    /// This application with every store call going through `switch` first: while it is
    /// down, each fails as [`crate::store::StoreError::Unavailable`], the sweeper's included.
    pub fn with_store_faults(mut self, switch: &FaultSwitch) -> Application {
        let store: Arc<dyn Store> = Arc::new(FaultyStore::new(
            Arc::clone(self.state.mfa.store()),
            switch.clone(),
        ));
        self.state.mfa = self.state.mfa.with_store(store);
        self
    }
}

//! A stand-in for the peer's results (Pryv's service-mfa measured beside the daemon), so that
//! the targets table can already read the figure it needs: flows per peer core. The `peer`
//! branch brings the real `PeerResults`; when it is merged, this file goes and `results.rs`
//! imports theirs.

use serde::Serialize;

/// Never built: the suite does not measure the peer yet.
#[derive(Serialize)]
#[allow(dead_code)]
pub struct PeerResults;

impl PeerResults {
    /// Full flows per second of peer CPU (flows/s ÷ the peer's cores) at concurrency `c`.
    pub fn flows_per_core(&self, _c: usize) -> Option<f64> {
        None
    }
}

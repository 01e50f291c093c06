//! The public router on an in-memory setup (memory store, manual clock, the outbox as the
//! provider), driven in process with `tower::ServiceExt::oneshot`: what the `token` and `body`
//! targets send their requests to.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use mfa_bridge::clock::ManualClock;
use mfa_bridge::config::Source;
use mfa_bridge::http::{router, AppState};
use mfa_bridge::metrics::Metrics;
use mfa_bridge::mfa::secrets::Keys;
use mfa_bridge::mfa::Mfa;
use mfa_bridge::provider::Sender;
use mfa_bridge::snapshot::{SharedSnapshot, Snapshot};
use mfa_bridge::store::MemoryStore;
use tower::ServiceExt;

/// Standalone, single mode, codes delivered to the outbox (a file in the temporary folder);
/// the API key is `fuzz-key` (the seeds give it, so that a request can get past the key check).
const PLATFORM_YML: &str = r#"
storage: { path: ./data }
api_keys: [ { name: local, key_sha256: "231e9b2f757db8d48ecd0711b60135e1cc57a3a807be9dc12638856f17a7872c" } ]
mfa:
  mode: single
  endpoints:
    single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }
"#;

/// The router and the runtime it runs on.
pub struct Server {
    router: Router,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    panic!("the fuzz setup failed ({what}): {e}")
}

impl Server {
    pub fn new() -> Server {
        let dir = tempfile::tempdir().unwrap_or_else(|e| fail("temporary folder", e));
        let snapshot = Snapshot::load(&Source::text(PLATFORM_YML, dir.path()), &|_| None)
            .unwrap_or_else(|e| fail("configuration", format!("{e:?}")));
        let metrics = Metrics::new().unwrap_or_else(|e| fail("metrics", e));
        let clock = Arc::new(ManualClock::starting_at(1_700_000_000));
        let data_dir = snapshot.config.storage.path.clone();
        let _ = std::fs::create_dir_all(&data_dir);
        let sender = Sender::new(
            &snapshot.config.outbound,
            &data_dir,
            metrics.clone(),
            clock.clone(),
        )
        .unwrap_or_else(|e| fail("sender", e));
        let mfa = Mfa::new(
            Arc::new(MemoryStore::new()),
            sender,
            Keys::new([7; 32]),
            clock,
        );
        let state = AppState {
            snapshot: SharedSnapshot::new(snapshot),
            mfa,
            metrics,
            readiness: mfa_bridge::http::Readiness::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| fail("runtime", e));
        Server {
            router: router(state),
            runtime,
            _dir: dir,
        }
    }

    /// The status of the answer to `request`. A `500` is a finding: the router turns a
    /// handler's panic into `500 unexpected-error`, so the target panics on it.
    pub fn send(&self, request: Request<Body>) -> StatusCode {
        let status = self
            .runtime
            .block_on(self.router.clone().oneshot(request))
            .map(|r| r.status())
            .unwrap_or_else(|e| match e {});
        if status.is_server_error() {
            panic!("the router answered {status}");
        }
        status
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

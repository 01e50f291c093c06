//! A service for unit tests of the flows: the in-memory store, a manual clock, sends into the
//! development outbox of a temporary directory, standalone mode with one api key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::ManualClock;
use crate::config::{process_env, Source};
use crate::domain::{AccessToken, MfaToken, OtpCode, Username};
use crate::metrics::Metrics;
use crate::provider::Sender;
use crate::snapshot::Snapshot;
use crate::store::MemoryStore;
use crate::upstream::ClientHeaders;

use super::secrets::Keys;
use super::user_data::GivenUserData;
use super::{ActivateInput, LoginOutcome, Mfa};

pub const API_KEY: &str = "unit-test-api-key";
pub const PHONE: &str = "+41791231212";
/// Wrong codes a session takes before it dies.
pub const PER_SESSION: u32 = 3;

pub struct Harness {
    pub mfa: Mfa,
    pub store: Arc<MemoryStore>,
    pub clock: ManualClock,
    pub snap: Snapshot,
    dir: tempfile::TempDir,
}

impl Harness {
    /// Single mode: codes of the daemon's own, sent to the development outbox.
    pub fn new() -> Harness {
        Harness::with_endpoints(
            "single",
            "    single: { url: 'outbox:sms?to={{ phone }}', method: POST, body: 'code {{ code }}' }",
        )
    }

    /// `mode` with these `mfa.endpoints` (YAML lines, indented by four).
    pub fn with_endpoints(mode: &str, endpoints: &str) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            r#"
storage: {{ path: ./data }}
api_keys: [ {{ name: local, key_sha256: "{}" }} ]
mfa:
  mode: {mode}
  attempts: {{ per_session: {PER_SESSION}, free_failures: 100, base_seconds: 1, max_seconds: 900, window_seconds: 86400 }}
  send_limits: {{ min_interval_seconds: 0, per_user_per_hour: 1000, per_destination_per_day: 1000 }}
  endpoints:
{endpoints}
"#,
            hex::encode(Sha256::digest(API_KEY.as_bytes()))
        );
        let snap = Snapshot::load(&Source::text(yaml, dir.path()), &process_env).unwrap();
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::starting_at(1_700_000_000);
        let sender = Sender::new(
            &snap.config.outbound,
            dir.path(),
            Metrics::new().unwrap(),
            Arc::new(clock.clone()),
        )
        .unwrap();
        let mfa = Mfa::new(
            store.clone(),
            sender,
            Keys::new([7; 32]),
            Arc::new(clock.clone()),
        );
        Harness {
            mfa,
            store,
            clock,
            snap,
            dir,
        }
    }

    pub fn user(&self, name: &str) -> Username {
        Username::parse(name, &self.snap.config.server.username_pattern).unwrap()
    }

    pub fn api_key() -> AccessToken {
        AccessToken::new(API_KEY.into())
    }

    /// The code of the last send in the outbox.
    pub fn last_code(&self) -> OtpCode {
        last_code_in(self.dir.path())
    }

    /// Activates SMS for `name` (first enrolment: no step-up), without confirming.
    pub async fn activate(&self, name: &str) -> MfaToken {
        let user_data: BTreeMap<String, Option<String>> =
            [("phone".to_string(), Some(PHONE.to_string()))].into();
        let input = ActivateInput {
            method: Ok(None),
            step_up: None,
            user_data: GivenUserData::new(user_data.into_iter().collect()),
        };
        self.mfa
            .activate(
                &self.snap,
                &self.user(name),
                Some(&Self::api_key()),
                input,
                &ClientHeaders::default(),
            )
            .await
            .unwrap()
            .mfa_token
    }

    /// Enrols `name` by SMS; answers the recovery codes.
    pub async fn enrol(&self, name: &str) -> Vec<String> {
        let token = self.activate(name).await;
        let code = self.last_code();
        self.mfa
            .confirm(&self.snap, &self.user(name), Some(&token), Some(code))
            .await
            .unwrap()
            .recovery_codes
    }

    /// A login of an enrolled user, and a challenge sent on it.
    pub async fn login_and_challenge(&self, name: &str) -> MfaToken {
        let outcome = self
            .mfa
            .login(
                &self.snap,
                &self.user(name),
                Some(&Self::api_key()),
                bytes::Bytes::new(),
                &ClientHeaders::default(),
            )
            .await
            .unwrap();
        let LoginOutcome::MfaRequired { mfa_token, .. } = outcome else {
            panic!("MFA is not required: {outcome:?}");
        };
        self.mfa
            .challenge(&self.snap, &self.user(name), Some(&mfa_token), Ok(None))
            .await
            .unwrap();
        mfa_token
    }
}

fn last_code_in(dir: &Path) -> OtpCode {
    let text = std::fs::read_to_string(dir.join("outbox.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let body = line["body"].as_str().unwrap();
    OtpCode::new(body.trim_start_matches("code ").to_string())
}

/// A provider in challenge-verify mode on 127.0.0.1:0: a challenge answers a request id, a
/// verify is approved for [`PROVIDER_CODE`] with that id. Keeps every body it received.
pub struct FakeProvider {
    pub base: String,
    pub bodies: Arc<std::sync::Mutex<Vec<String>>>,
}

pub const PROVIDER_CODE: &str = "424242";
pub const REQUEST_ID: &str = "req-0123";

impl FakeProvider {
    pub async fn start() -> FakeProvider {
        use axum::routing::post;
        let bodies: Arc<std::sync::Mutex<Vec<String>>> = Default::default();
        let challenge_bodies = bodies.clone();
        let verify_bodies = bodies.clone();
        let app = axum::Router::new()
            .route(
                "/challenge",
                post(move |body: String| async move {
                    challenge_bodies.lock().unwrap().push(body);
                    axum::Json(serde_json::json!({ "request_id": REQUEST_ID }))
                }),
            )
            .route(
                "/verify",
                post(move |body: String| async move {
                    let approved = body.contains(REQUEST_ID) && body.contains(PROVIDER_CODE);
                    verify_bodies.lock().unwrap().push(body);
                    axum::Json(serde_json::json!({
                        "status": if approved { "approved" } else { "pending" }
                    }))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeProvider { base, bodies }
    }

    /// `mfa.endpoints` for this provider, capturing the request id.
    pub fn endpoints(&self) -> String {
        let base = &self.base;
        format!(
            r#"    challenge: {{ url: '{base}/challenge', method: POST, headers: {{ content-type: application/json }}, body: '{{"phone":"{{{{ phone }}}}"}}', capture: {{ request_id: request_id }} }}
    verify: {{ url: '{base}/verify', method: POST, headers: {{ content-type: application/json }}, body: '{{"id":"{{{{ request_id }}}}","code":"{{{{ code }}}}"}}', success: {{ status: [200], json_path: status, equals: approved }} }}"#
        )
    }
}

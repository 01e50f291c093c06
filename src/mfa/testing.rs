//! A service for unit tests of the flows: the in-memory store, a manual clock, sends into the
//! development outbox of a temporary directory, standalone mode with one api key.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::clock::ManualClock;
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
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            r#"
storage: {{ path: ./data }}
api_keys: [ {{ name: local, key_sha256: "{}" }} ]
mfa:
  mode: single
  attempts: {{ per_session: {PER_SESSION}, free_failures: 100, base_seconds: 1, max_seconds: 900, window_seconds: 86400 }}
  send_limits: {{ min_interval_seconds: 0, per_user_per_hour: 1000, per_destination_per_day: 1000 }}
  endpoints:
    single: {{ url: 'outbox:sms?to={{{{ phone }}}}', method: POST, body: 'code {{{{ code }}}}' }}
"#,
            hex::encode(Sha256::digest(API_KEY.as_bytes()))
        );
        let snap = Snapshot::from_yaml_str(&yaml, dir.path()).unwrap();
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::starting_at(1_700_000_000);
        let sender = Sender::new(&snap.config.outbound, dir.path(), Metrics::new()).unwrap();
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

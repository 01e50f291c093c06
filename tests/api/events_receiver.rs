//! A fake webhook receiver for the events tests: it records every delivery with what it
//! answered, answers as the test decides (from the delivery and those before it), and checks
//! Standard Webhooks signatures with an HMAC-SHA256 of its own (built on SHA-256 here, not on
//! the daemon's `hmac` crate), so that a signing mistake shared by both sides cannot pass.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::fakes::{FakeServer, Recorded, Reply};

/// The raw signing key of the tests' endpoints (32 bytes).
const KEY: &[u8; 32] = b"events-test-key-0123456789abcdef";

/// The endpoints' secret as an operator writes it: `whsec_` and the key in base64.
pub fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

/// One delivery as the receiver got it.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub raw: String,
    pub body: Value,
    /// What the receiver answered (0: it never answered).
    pub status: u16,
}

impl Received {
    pub fn event_type(&self) -> String {
        self.body["type"].as_str().unwrap_or_default().to_string()
    }

    pub fn username(&self) -> String {
        self.body["data"]["username"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether `webhook-signature` holds a `v1` signature of this delivery under the tests' key,
    /// computed here from the spec: HMAC-SHA256 of `{id}.{timestamp}.{body}`, base64.
    pub fn signature_is_valid(&self) -> bool {
        let signed = format!("{}.{}.{}", self.id, self.timestamp, self.raw);
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(hmac_sha256(KEY, signed.as_bytes()))
        );
        self.signature.split(' ').any(|s| s == expected)
    }
}

/// HMAC (RFC 2104) over SHA-256.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

type Decide = Arc<dyn Fn(&Received, &[Received]) -> Reply + Send + Sync>;

/// A receiver on a loopback port.
#[derive(Clone)]
pub struct Receiver {
    server: FakeServer,
    log: Arc<Mutex<Vec<Received>>>,
    decide: Arc<Mutex<Decide>>,
}

impl Receiver {
    /// A receiver that answers what `decide` says for each delivery, given those before it.
    pub async fn start(
        decide: impl Fn(&Received, &[Received]) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let log: Arc<Mutex<Vec<Received>>> = Arc::default();
        let decide: Arc<Mutex<Decide>> = Arc::new(Mutex::new(Arc::new(decide)));
        let server = FakeServer::start({
            let (log, decide) = (Arc::clone(&log), Arc::clone(&decide));
            move |request: &Recorded| {
                let mut received = read(request);
                let decide = Arc::clone(&decide.lock().unwrap());
                let mut log = log.lock().unwrap();
                let reply = decide(&received, &log);
                received.status = match &reply {
                    Reply::Json(status, _) | Reply::Empty(status) => *status,
                    Reply::Hang => 0,
                };
                log.push(received);
                reply
            }
        })
        .await;
        Receiver {
            server,
            log,
            decide,
        }
    }

    /// A receiver that accepts everything.
    pub async fn accepting() -> Receiver {
        Receiver::start(|_, _| Reply::Empty(204)).await
    }

    /// From now on, answers what `decide` says.
    pub fn answer(&self, decide: impl Fn(&Received, &[Received]) -> Reply + Send + Sync + 'static) {
        *self.decide.lock().unwrap() = Arc::new(decide);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// Polls (every 50 ms, for up to `seconds`) until `done` holds of what was received,
    /// calling `meanwhile` between looks (to move a clock); panics saying `what` otherwise.
    pub async fn wait_until(
        &self,
        seconds: u64,
        what: &str,
        meanwhile: impl Fn(),
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            if std::time::Instant::now() > deadline {
                panic!("{what}: not within {seconds} s; received:\n{received:#?}");
            }
            meanwhile();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn read(request: &Recorded) -> Received {
    let header = |name: &str| request.header(name).unwrap_or_default();
    let raw = request.body_text();
    Received {
        path: request.path.clone(),
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: serde_json::from_str(&raw).unwrap_or(json!(null)),
        raw,
        status: 0,
    }
}

/// The event types of `user` in `list`, in order.
pub fn types_of(list: &[Received], user: &str) -> Vec<String> {
    list.iter()
        .filter(|r| r.username() == user)
        .map(Received::event_type)
        .collect()
}

/// `events:` with these endpoints (the secret as a `${EVENTS_SECRET}` reference).
pub fn events_section(endpoints: Value) -> Value {
    json!({"endpoints": endpoints})
}

/// The environment that resolves `${EVENTS_SECRET}`.
pub fn events_env() -> Vec<(&'static str, String)> {
    vec![("EVENTS_SECRET", secret())]
}

#[test]
fn the_receivers_own_hmac_matches_rfc_4231_test_case_2() {
    let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(
        hex::encode(mac),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

//! Fake HTTP servers on `127.0.0.1:0`: they record every request they receive (method, raw path
//! and query, headers, body bytes) and answer as each test tells them, per path.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

/// The password the fake upstream accepts.
pub const GOOD_PASSWORD: &str = "good-password";
/// The token the fake upstream's access check calls personal.
pub const PERSONAL_TOKEN: &str = "personal-token";
/// The token the fake upstream's access check calls an app token.
pub const APP_TOKEN: &str = "app-token";
/// The code the fake provider approves in challenge-verify mode.
pub const PROVIDER_VALID_CODE: &str = "424242";

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// Path and query exactly as they arrived on the wire (still percent-encoded).
    pub uri: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn body_json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body received by the fake is not JSON ({e}): {:?}",
                self.body_text()
            )
        })
    }

    /// Query decoded as `application/x-www-form-urlencoded`, keys and values in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Body decoded as `application/x-www-form-urlencoded`, keys and values in order.
    pub fn form_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// Path and query with percent-encoding undone (to look for text in them).
    pub fn decoded_uri(&self) -> String {
        percent_decode_str(&self.uri)
            .decode_utf8_lossy()
            .into_owned()
    }

    /// Path split on `/`, each segment percent-decoded.
    pub fn path_segments(&self) -> Vec<String> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect()
    }
}

/// What a fake answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// This status with this JSON body.
    Json(u16, Value),
    /// This status with no body.
    Empty(u16),
    /// Never answer (for time-outs).
    Hang,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json(status, body)
    }
}

type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    routes: Mutex<HashMap<String, Responder>>,
    default: Responder,
}

/// A fake HTTP server on a random loopback port.
#[derive(Clone)]
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl FakeServer {
    pub async fn start(default: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeServer {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            routes: Mutex::new(HashMap::new()),
            default: Arc::new(default),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a fake server on 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake server address");
        let router = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeServer { addr, shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, answer `reply` to every request whose path (without query) is `path`.
    pub fn reply_on(&self, path: &str, reply: Reply) {
        self.respond_on(path, move |_| reply.clone());
    }

    /// From now on, answer requests to `path` with what `responder` says.
    pub fn respond_on(
        &self,
        path: &str,
        responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Arc::new(responder));
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the fake server has received no request")
    }
}

impl Recorded {
    /// Reads a whole request as it arrived.
    pub async fn read(request: Request) -> Recorded {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX)
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        Recorded {
            method: parts.method.to_string(),
            uri: parts
                .uri
                .path_and_query()
                .map(|pq| pq.as_str().to_string())
                .unwrap_or_else(|| parts.uri.path().to_string()),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().map(str::to_string),
            headers: parts.headers,
            body,
        }
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let recorded = Recorded::read(request).await;
    let responder = shared
        .routes
        .lock()
        .unwrap()
        .get(&recorded.path)
        .cloned()
        .unwrap_or_else(|| shared.default.clone());
    let reply = responder(&recorded);
    shared.requests.lock().unwrap().push(recorded);
    match reply {
        Reply::Json(status, body) => (status_code(status), axum::Json(body)).into_response(),
        Reply::Empty(status) => status_code(status).into_response(),
        Reply::Hang => {
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).expect("a valid status code")
}

// ---------------------------------------------------------------------------------------------
// The fake SMS provider

/// Default provider: `/verify` approves [`PROVIDER_VALID_CODE`] and answers a Twilio-like
/// `{"status":"pending"}` for any other code; every other path answers `200 {"id": ...}`.
pub async fn start_provider() -> FakeServer {
    FakeServer::start(|request: &Recorded| {
        if request.path == "/verify" {
            let code = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|b| b.get("code").cloned());
            if code == Some(json!(PROVIDER_VALID_CODE)) {
                Reply::json(200, json!({"sid": "VE1", "status": "approved"}))
            } else {
                Reply::json(200, json!({"sid": "VE1", "status": "pending"}))
            }
        } else {
            Reply::json(200, json!({"id": "message-1", "status": "queued"}))
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The fake upstream (a Pryv core)

/// What the fake upstream answers to a successful login of `username`.
pub fn upstream_grant(username: &str) -> Value {
    json!({
        "token": format!("grant-token-{username}"),
        "apiEndpoint": format!("https://grant-token-{username}@pryv.example/{username}/"),
    })
}

/// What the fake upstream answers to a wrong password.
pub fn invalid_credentials() -> Value {
    json!({"error": {"id": "invalid-credentials", "message": "The given username/password pair is invalid."}})
}

/// `POST /{u}/auth/login` and `GET /{u}/access-info`, as described in the module docs.
pub async fn start_upstream() -> FakeServer {
    FakeServer::start(|request: &Recorded| {
        let segments = request.path_segments();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("POST", [username, "auth", "login"]) => {
                let password = serde_json::from_slice::<Value>(&request.body)
                    .ok()
                    .and_then(|b| b.get("password").cloned());
                if password == Some(json!(GOOD_PASSWORD)) {
                    Reply::json(200, upstream_grant(username))
                } else {
                    Reply::json(401, invalid_credentials())
                }
            }
            ("GET", [_username, "access-info"]) => {
                match request.header("authorization").as_deref() {
                    Some(PERSONAL_TOKEN) => {
                        Reply::json(200, json!({"type": "personal", "name": "pryv-browser"}))
                    }
                    Some(APP_TOKEN) => Reply::json(200, json!({"type": "app", "name": "some-app"})),
                    _ => Reply::json(
                        403,
                        json!({"error": {"id": "invalid-access-token", "message": "Cannot find access from token."}}),
                    ),
                }
            }
            _ => Reply::json(
                404,
                json!({"error": {"id": "unknown-resource", "message": "not found"}}),
            ),
        }
    })
    .await
}

/// A loopback URL on which nothing listens.
pub fn unreachable_base_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to release");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

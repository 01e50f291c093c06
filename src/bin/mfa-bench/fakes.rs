//! Fast fakes (hyper, HTTP/1.1 keep-alive, on a multi-threaded runtime of their own whose
//! threads are named so that their CPU time can be told apart from the client's): the fake
//! upstream (a fake Pryv core, `fake_core`), the fake provider, and the ceiling server.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, service::service_fn, Method, Request, Response};
use hyper_util::rt::TokioIo;

use crate::fake_core::CoreState;

/// The names of the fakes' and the ceiling's threads (their CPU time is read by name).
pub const FAKES_THREADS: &str = "bench-fakes";
pub const CEILING_THREADS: &str = "bench-ceiling";

/// The code the fake provider approves in challenge-verify mode.
pub const VALID_CODE: &str = "424242";

type Handler = Arc<dyn Fn(&Method, &str, &[u8]) -> (u16, Bytes) + Send + Sync>;

/// A tokio runtime with named worker threads, shut down without blocking when dropped (so that
/// it may be dropped from async code).
pub struct NamedRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl NamedRuntime {
    pub fn new(thread_name: &str, workers: usize) -> NamedRuntime {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .expect("build a tokio runtime");
        NamedRuntime {
            runtime: Some(runtime),
        }
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime alive").handle()
    }
}

impl Drop for NamedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Binds `listen` and serves `handler` on `runtime`, counting requests in `served`.
fn spawn_server(
    runtime: &tokio::runtime::Handle,
    listen: &str,
    handler: Handler,
    served: Arc<AtomicU64>,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            let served = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handler = handler.clone();
                    let served = served.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let (status, answer) = handler(&parts.method, parts.uri.path(), &body);
                        served.fetch_add(1, Ordering::Relaxed);
                        let response = Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(answer))
                            .expect("a response");
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

/// What the fake provider remembers per phone number: the last code and text of a single-mode
/// send.
#[derive(Default)]
pub struct ProviderState {
    last: Mutex<HashMap<String, (String, String)>>,
    challenges: AtomicU64,
}

impl ProviderState {
    pub fn last_text(&self, phone: &str) -> Option<String> {
        self.last.lock().unwrap().get(phone).map(|(_, t)| t.clone())
    }
}

/// The first run of at least four digits in `text`: the code in "Your code is 123456. It
/// expires in 5 minutes."
pub fn code_in(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 4 {
                return Some(&text[start..i]);
            }
        } else {
            i += 1;
        }
    }
    None
}

fn json(status: u16, value: serde_json::Value) -> (u16, Bytes) {
    (status, Bytes::from(value.to_string()))
}

fn provider_handler(state: Arc<ProviderState>) -> Handler {
    Arc::new(move |method, path, body| match (method, path) {
        (&Method::POST, "/sms") => {
            let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
                return json(400, serde_json::json!({"error": "body is not JSON"}));
            };
            let to = value["to"].as_str().unwrap_or_default();
            let text = value["text"].as_str().unwrap_or_default();
            match code_in(text) {
                Some(code) if !to.is_empty() => {
                    state
                        .last
                        .lock()
                        .unwrap()
                        .insert(to.to_string(), (code.to_string(), text.to_string()));
                    json(200, serde_json::json!({"status": "sent"}))
                }
                _ => json(400, serde_json::json!({"error": "no to or no code"})),
            }
        }
        (&Method::GET, p) if p.starts_with("/codes/") || p.starts_with("/texts/") => {
            let phone = percent_encoding::percent_decode_str(&p[7..]).decode_utf8_lossy();
            let last = state.last.lock().unwrap().get(phone.as_ref()).cloned();
            match last {
                Some((code, text)) => (
                    200,
                    Bytes::from(if p.starts_with("/codes/") { code } else { text }),
                ),
                None => json(404, serde_json::json!({"error": "no code for this phone"})),
            }
        }
        (&Method::POST, "/challenge") => {
            let n = state.challenges.fetch_add(1, Ordering::Relaxed);
            json(200, serde_json::json!({"request_id": format!("req-{n}")}))
        }
        (&Method::POST, "/verify") => {
            let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let status = if value["code"].as_str() == Some(VALID_CODE) {
                "approved"
            } else {
                "pending"
            };
            json(200, serde_json::json!({"status": status}))
        }
        _ => json(404, serde_json::json!({"error": "no such route"})),
    })
}

/// The fake upstream: the routes of Pryv core our daemon and Pryv's service-mfa call (see
/// `fake_core`).
fn upstream_handler(core: Arc<CoreState>) -> Handler {
    Arc::new(move |method, path, body| core.answer(method, path, body))
}

/// The fake upstream and the fake provider, on their own runtime.
pub struct Fakes {
    /// Kept alive as long as the fakes serve.
    _runtime: NamedRuntime,
    pub provider_url: String,
    pub upstream_url: String,
    pub provider: Arc<ProviderState>,
    pub served: Arc<AtomicU64>,
}

impl Fakes {
    pub fn start(listen_provider: &str, listen_upstream: &str, workers: usize) -> Fakes {
        let runtime = NamedRuntime::new(FAKES_THREADS, workers);
        let provider = Arc::new(ProviderState::default());
        let served = Arc::new(AtomicU64::new(0));
        let provider_addr = spawn_server(
            runtime.handle(),
            listen_provider,
            provider_handler(provider.clone()),
            served.clone(),
        )
        .unwrap_or_else(|e| panic!("bind the fake provider on {listen_provider}: {e}"));
        let upstream_addr = spawn_server(
            runtime.handle(),
            listen_upstream,
            upstream_handler(Arc::new(CoreState::default())),
            served.clone(),
        )
        .unwrap_or_else(|e| panic!("bind the fake upstream on {listen_upstream}: {e}"));
        Fakes {
            _runtime: runtime,
            provider_url: format!("http://{provider_addr}"),
            upstream_url: format!("http://{upstream_addr}"),
            provider,
            served,
        }
    }

    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }
}

/// The ceiling: `{"ok":true}` to any request, on its own runtime.
pub struct Ceiling {
    _runtime: NamedRuntime,
    pub url: String,
    pub served: Arc<AtomicU64>,
}

impl Ceiling {
    pub fn start(listen: &str, workers: usize) -> Ceiling {
        let runtime = NamedRuntime::new(CEILING_THREADS, workers);
        let served = Arc::new(AtomicU64::new(0));
        let body = Bytes::from_static(br#"{"ok":true}"#);
        let handler: Handler = Arc::new(move |_, _, _| (200, body.clone()));
        let address = spawn_server(runtime.handle(), listen, handler, served.clone())
            .unwrap_or_else(|e| panic!("bind the ceiling server on {listen}: {e}"));
        Ceiling {
            _runtime: runtime,
            url: format!("http://{address}"),
            served,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::code_in;

    #[test]
    fn finds_the_code_not_the_minutes() {
        assert_eq!(
            code_in("Your mfa-bridge code is 042137. It expires in 5 minutes."),
            Some("042137")
        );
        assert_eq!(code_in("rev 17: 123456"), Some("123456"));
        assert_eq!(code_in("no code"), None);
    }
}

//! A provider that misbehaves on purpose, on a random loopback port: each request takes the
//! next [`Fault`] of its script (then the default), and is recorded as it arrived. Written on
//! raw TCP, so that it can also reset a connection after reading the request. With
//! [`FaultyProvider::honouring_idempotency_keys`] it behaves as a provider that supports
//! `Idempotency-Key`: a key it has sent a message for is answered again without a second
//! message.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the provider does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers this status with a JSON body (and these headers); a 2xx sends a message.
    Answer {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Never answers; no message.
    Hang,
    /// Waits, then does what the inner fault says.
    Slow(Duration, Box<Fault>),
    /// Reads the request, then resets the connection; no message.
    Reset,
    /// Sends the message, then never answers (the answer is lost: ambiguous for the sender).
    AcceptThenHang,
}

impl Fault {
    /// `200 {"sid": ID}`: accepted.
    pub fn accepted(id: &str) -> Fault {
        Fault::answer(200, &format!(r#"{{"sid":"{id}","status":"queued"}}"#))
    }

    pub fn answer(status: u16, body: &str) -> Fault {
        Fault::Answer {
            status,
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    /// `503` with `Retry-After: SECONDS`.
    pub fn unavailable_retry_after(seconds: u64) -> Fault {
        Fault::Answer {
            status: 503,
            body: r#"{"message":"try later"}"#.to_string(),
            headers: vec![("Retry-After".to_string(), seconds.to_string())],
        }
    }
}

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Seen {
    /// When the request had arrived in full.
    pub at: std::time::Instant,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Fault>,
    seen: Vec<Seen>,
    /// Messages sent to the user (one per accepted request, or per key when keys are honoured).
    messages: usize,
    keys_sent: BTreeSet<String>,
}

#[derive(Clone)]
pub struct FaultyProvider {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    default: Arc<Mutex<Fault>>,
    honours_keys: bool,
}

impl FaultyProvider {
    /// A provider that does `default` for every request not scripted.
    pub async fn start(default: Fault) -> FaultyProvider {
        FaultyProvider::start_with(default, false).await
    }

    /// A provider that honours `Idempotency-Key`.
    pub async fn honouring_idempotency_keys(default: Fault) -> FaultyProvider {
        FaultyProvider::start_with(default, true).await
    }

    async fn start_with(default: Fault, honours_keys: bool) -> FaultyProvider {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the faulty provider");
        let provider = FaultyProvider {
            addr: listener.local_addr().expect("its address"),
            state: Default::default(),
            default: Arc::new(Mutex::new(default)),
            honours_keys,
        };
        let serving = provider.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let p = serving.clone();
                tokio::spawn(async move { p.serve(stream).await });
            }
        });
        provider
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests do these, in order (then the default again).
    pub fn script(&self, faults: Vec<Fault>) {
        self.state.lock().unwrap().script.extend(faults);
    }

    /// From now on, requests not scripted do `fault`.
    pub fn set_default(&self, fault: Fault) {
        *self.default.lock().unwrap() = fault;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Messages that reached the user.
    pub fn messages(&self) -> usize {
        self.state.lock().unwrap().messages
    }

    async fn serve(&self, mut stream: TcpStream) {
        // Kept-alive connections: one request after the other.
        loop {
            let Some(seen) = read_request(&mut stream).await else {
                return;
            };
            let key = seen.header("Idempotency-Key");
            let (fault, replay) = {
                let mut state = self.state.lock().unwrap();
                state.seen.push(seen);
                let replay =
                    self.honours_keys && key.as_ref().is_some_and(|k| state.keys_sent.contains(k));
                let fault = match state.script.pop_front() {
                    Some(f) => f,
                    None => self.default.lock().unwrap().clone(),
                };
                (fault, replay)
            };
            if replay {
                // The message went out already: the same answer, no second message.
                let answer = respond(200, r#"{"sid":"replayed","status":"queued"}"#, &[]);
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            if !self.act(&mut stream, fault, key).await {
                return;
            }
        }
    }

    /// Does `fault`; `false` when the connection is done.
    async fn act(&self, stream: &mut TcpStream, mut fault: Fault, key: Option<String>) -> bool {
        while let Fault::Slow(wait, inner) = fault {
            tokio::time::sleep(wait).await;
            fault = *inner;
        }
        match fault {
            Fault::Answer {
                status,
                body,
                headers,
            } => {
                if (200..300).contains(&status) {
                    self.sent(key);
                }
                stream
                    .write_all(respond(status, &body, &headers).as_bytes())
                    .await
                    .is_ok()
            }
            Fault::Hang => {
                std::future::pending::<()>().await;
                false
            }
            Fault::AcceptThenHang => {
                self.sent(key);
                std::future::pending::<()>().await;
                false
            }
            Fault::Reset => {
                // A zero linger does not block on drop (nothing is left to send): the close is
                // a reset.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                false
            }
            Fault::Slow(..) => false,
        }
    }

    fn sent(&self, key: Option<String>) {
        let mut state = self.state.lock().unwrap();
        state.messages += 1;
        if let Some(k) = key {
            state.keys_sent.insert(k);
        }
    }
}

fn respond(status: u16, body: &str, headers: &[(String, String)]) -> String {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    format!("{head}\r\n{body}")
}

/// Reads one HTTP/1.1 request (head and a `content-length` body); `None` at the end of the
/// connection.
async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()?
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        at: std::time::Instant::now(),
        path,
        headers,
        body: String::from_utf8_lossy(&buffer[head_end..head_end + length]).to_string(),
    })
}

//! The load client: one HTTP/1.1 keep-alive connection per worker (hyper's low-level client,
//! no pool), TCP_NODELAY, a per-request time-out, and errors sorted by kind.

use std::{fmt, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{client::conn::http1::SendRequest, Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// What went wrong with one exchange, before any status is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetError {
    /// The TCP connection could not be made.
    Connect,
    /// No whole answer within the time-out.
    Timeout,
    /// The connection broke or the answer was malformed.
    Io,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetError::Connect => "connection error",
            NetError::Timeout => "timeout",
            NetError::Io => "connection broken",
        })
    }
}

/// A base URL reduced to what the client needs: `http://127.0.0.1:PORT[/prefix]`.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    pub prefix: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url}: only http:// base URLs are supported"))?;
        let (host, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let addr: SocketAddr = host
            .parse()
            .map_err(|_| format!("{url}: the host must be IP:PORT (e.g. 127.0.0.1:7000)"))?;
        Ok(Target {
            addr,
            host: host.to_string(),
            prefix: prefix.to_string(),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}{}", self.host, self.prefix)
    }
}

/// One keep-alive connection; reconnects on the next request after a failure.
pub struct Conn {
    target: Target,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened, reconnects included.
    pub connects: u64,
}

pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Conn {
    pub fn new(target: Target, timeout: Duration) -> Conn {
        Conn {
            target,
            timeout,
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), NetError> {
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| NetError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| NetError::Connect)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.sender = Some(sender);
        self.connects += 1;
        Ok(())
    }

    /// One exchange; `path` is appended to the target's prefix. The body is read whole.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, NetError> {
        let outcome =
            tokio::time::timeout(self.timeout, self.exchange(method, path, headers, body))
                .await
                .unwrap_or(Err(NetError::Timeout));
        if outcome.is_err() {
            // Never reuse a connection in an unknown state.
            self.sender = None;
        }
        outcome
    }

    async fn exchange(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, NetError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            self.connect().await?;
        }
        let sender = self.sender.as_mut().expect("connected");
        sender.ready().await.map_err(|_| NetError::Io)?;
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.target.prefix, path))
            .header("host", self.target.host.as_str());
        let has_body = body.is_some();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if has_body
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| NetError::Io)?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| NetError::Io)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| NetError::Io)?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// Percent-encodes one path segment (a phone number's `+` becomes `%2B`).
pub fn encode_segment(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

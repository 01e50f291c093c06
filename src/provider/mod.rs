//! Sends an [`OutboundRequest`]: over HTTP with one shared client, or, for `outbox:` urls, into
//! the development outbox file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::clock::Clock;
use crate::config::{OutboundConfig, Predicate, Secrets};
use crate::metrics::Metrics;
use crate::template::OutboundRequest;

pub mod breaker;
pub mod request;
pub mod retry;

pub use breaker::{Breaker, BreakerPolicy, BreakerState, Breakers};

/// An answer from a provider or upstream. Its `Debug` leaves the body out: an upstream's
/// login answer is a grant (a personal token).
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
    /// What the answer's `Retry-After` asked (in seconds), if it had one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("content_type", &self.content_type)
            .field("body", &format_args!("({} bytes)", self.body.len()))
            .finish()
    }
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the reply satisfies `predicate`; without one, any 2xx does.
    pub fn satisfies(&self, predicate: Option<&Predicate>) -> bool {
        let Some(p) = predicate else {
            return self.is_success();
        };
        let status_ok = match &p.status {
            Some(list) => list.contains(&self.status),
            None => self.is_success(),
        };
        if !status_ok {
            return false;
        }
        match &p.json {
            None => true,
            Some((_, path, expected)) => {
                let Ok(body) = serde_json::from_slice::<serde_json::Value>(&self.body) else {
                    return false;
                };
                let nodes = path.query(&body);
                nodes.first().is_some_and(|found| found == expected)
            }
        }
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("timed out")]
    Timeout,
    #[error("could not connect")]
    Connect,
    #[error("request failed: {0}")]
    Other(String),
    #[error("could not write the development outbox: {0}")]
    Outbox(String),
    /// The answer's body is longer than `outbound.max_answer_bytes`: it was not read further.
    #[error("answer larger than {limit} bytes (outbound.max_answer_bytes)")]
    TooLarge { limit: usize },
}

/// The daemon's one outbound HTTP client (connection reuse, time-outs, no redirects). Cloning
/// shares it: one reference count (every request's state holds a copy).
#[derive(Clone)]
pub struct Sender(Arc<Shared>);

/// What every copy of a [`Sender`] shares.
struct Shared {
    client: reqwest::Client,
    metrics: Metrics,
    outbox: PathBuf,
    outbox_lock: Arc<tokio::sync::Mutex<()>>,
    /// What the outbox stamps its lines with.
    clock: Arc<dyn Clock>,
    /// `outbound.max_answer_bytes`, as at start.
    max_answer_bytes: usize,
    /// The circuit breaker of each provider (this instance's).
    breakers: Breakers,
}

impl Sender {
    pub fn new(
        outbound: &OutboundConfig,
        data_dir: &std::path::Path,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
    ) -> Result<Sender, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(outbound.connect_timeout)
            .timeout(outbound.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("mfa-bridge/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let metrics_for_breakers = metrics.clone();
        Ok(Sender(Arc::new(Shared {
            client,
            metrics,
            outbox: data_dir.join("outbox.jsonl"),
            outbox_lock: Default::default(),
            clock,
            max_answer_bytes: outbound.max_answer_bytes,
            breakers: Breakers::new(metrics_for_breakers),
        })))
    }

    /// The daemon's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The circuit breakers of the providers.
    pub fn breakers(&self) -> &Breakers {
        &self.0.breakers
    }

    /// Sends `request`, with `timeout` as the whole deadline.
    pub async fn send(
        &self,
        request: &OutboundRequest,
        timeout: Duration,
        secrets: &Secrets,
    ) -> Result<Reply, SendError> {
        if request.url.starts_with("outbox:") {
            return self.write_outbox(request, secrets).await;
        }
        let body = request.body.clone().map(Bytes::from);
        self.exchange(request, body, timeout).await
    }

    /// Sends `request` with a client's body forwarded as received (the login proxy).
    pub async fn forward(
        &self,
        request: &OutboundRequest,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Reply, SendError> {
        self.exchange(request, Some(body), timeout).await
    }

    /// One HTTP exchange, counted in the metrics and logged (never its url or body).
    async fn exchange(
        &self,
        request: &OutboundRequest,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, SendError> {
        let started = Instant::now();
        let result = self.send_http(request, body, timeout).await;
        let elapsed = started.elapsed();
        let ms = elapsed.as_millis() as u64;
        let endpoint = request.endpoint.name();
        let outcome = match &result {
            Ok(r) => match r.status {
                200..=299 => "2xx",
                400..=499 => "4xx",
                500..=599 => "5xx",
                _ => "other",
            },
            Err(SendError::Timeout) => "timeout",
            Err(SendError::Connect) => "unreachable",
            Err(SendError::TooLarge { .. }) => "too_large",
            Err(_) => "error",
        };
        self.0
            .metrics
            .sends
            .with_label_values(&[endpoint, outcome])
            .inc();
        match &result {
            Ok(r) => {
                self.0
                    .metrics
                    .provider_latency
                    .with_label_values(&[endpoint])
                    .observe(elapsed.as_secs_f64());
                tracing::debug!(endpoint, status = r.status, ms, "answered");
            }
            Err(e) => tracing::warn!(endpoint, error = %e, ms, "outbound request failed"),
        }
        result
    }

    async fn send_http(
        &self,
        request: &OutboundRequest,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, SendError> {
        let builder = request::build(&self.0.client, request, body, timeout);
        let response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        let body = read_bounded(response, self.0.max_answer_bytes).await?;
        Ok(Reply {
            status,
            content_type,
            body,
            retry_after,
        })
    }

    /// Development sink: the rendered request as one JSON line, so that the shipped
    /// configuration works without a provider account. Never for production.
    async fn write_outbox(
        &self,
        request: &OutboundRequest,
        secrets: &Secrets,
    ) -> Result<Reply, SendError> {
        let mut entry = request.describe(secrets);
        entry["time"] = serde_json::Value::from(self.0.clock.now());
        entry["development_only"] = serde_json::Value::Bool(true);
        let mut line = entry.to_string();
        line.push('\n');
        let _guard = self.0.outbox_lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.0.outbox)
            .await
            .map_err(|e| SendError::Outbox(e.to_string()))?;
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| SendError::Outbox(e.to_string()))?;
        file.flush()
            .await
            .map_err(|e| SendError::Outbox(e.to_string()))?;
        self.0
            .metrics
            .sends
            .with_label_values(&[request.endpoint.name(), "outbox"])
            .inc();
        tracing::warn!(
            endpoint = %request.endpoint,
            file = %self.0.outbox.display(),
            "DEVELOPMENT ONLY: the request was written to the outbox, not sent to a provider"
        );
        Ok(Reply {
            status: 200,
            content_type: Some("application/json".into()),
            body: Bytes::from_static(b"{}"),
            retry_after: None,
        })
    }
}

/// Reads `response`'s body, chunk by chunk, up to `limit` bytes: an answer that says or turns
/// out to be longer is refused as soon as that is known, and its connection dropped, so that
/// no more than `limit` bytes (and one chunk) are ever held.
async fn read_bounded(mut response: reqwest::Response, limit: usize) -> Result<Bytes, SendError> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(SendError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(SendError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn classify(e: reqwest::Error) -> SendError {
    if e.is_timeout() {
        SendError::Timeout
    } else if e.is_connect() {
        SendError::Connect
    } else {
        // The error's text may quote the url, which can hold secrets: keep only its kind.
        SendError::Other(
            if e.is_body() || e.is_decode() {
                "invalid answer body"
            } else if e.is_request() {
                "could not send the request"
            } else {
                "unexpected error"
            }
            .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json_path::JsonPath;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: None,
            body: Bytes::from(body.to_string()),
            retry_after: None,
        }
    }

    #[test]
    fn without_a_predicate_any_2xx_succeeds() {
        assert!(reply(201, "").satisfies(None));
        assert!(!reply(302, "").satisfies(None));
        assert!(!reply(500, "").satisfies(None));
    }

    #[test]
    fn a_json_predicate_needs_the_value_not_just_a_2xx() {
        let p = Predicate {
            status: None,
            json: Some((
                "status".into(),
                JsonPath::parse("$.status").unwrap(),
                serde_json::json!("approved"),
            )),
        };
        assert!(reply(200, r#"{"status":"approved"}"#).satisfies(Some(&p)));
        assert!(!reply(200, r#"{"status":"pending"}"#).satisfies(Some(&p)));
        assert!(!reply(200, "not json").satisfies(Some(&p)));
        assert!(!reply(404, r#"{"status":"approved"}"#).satisfies(Some(&p)));
    }

    #[test]
    fn a_status_predicate_accepts_only_the_listed_statuses() {
        let p = Predicate {
            status: Some(vec![202]),
            json: None,
        };
        assert!(reply(202, "").satisfies(Some(&p)));
        assert!(!reply(200, "").satisfies(Some(&p)));
    }
}

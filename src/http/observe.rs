//! What every request leaves behind: one log line, its metrics, and for a route that names a
//! user, an entry in the attempts log.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use tower::{Layer, Service};

use crate::domain::Username;
use crate::store::AttemptRecord;

use super::error::Outcome;
use super::unwind::answer_panics;
use super::AppState;

/// The longest reason an attempts-log entry keeps, in characters.
const MAX_REASON_CHARS: usize = 300;
/// The longest method an attempts-log entry keeps (a client may send any token).
const MAX_METHOD_CHARS: usize = 16;

/// The route label of a request that matched none.
const NO_ROUTE: &str = "(no route)";

/// `text`, cut to `max` characters (an ellipsis says it was).
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", &text[..end]),
    }
}

/// One log line per request (method, route pattern, status, milliseconds; never the query
/// string, which may hold a token, nor the body), its metrics, and, for a route that names a
/// user, an entry in the attempts log. Refused requests are logged too (that is what the log is
/// for); what they cost in storage is bounded by the log's cap (`storage.attempts_log_max_entries`,
/// see [`crate::store::Store::log_attempt`]), and each entry's size: the username, the method and the reason (which may quote a
/// parameter's name, as the client sent it) are cut to a few hundred characters.
///
/// A handler's panic is answered here too ([`answer_panics`]), inside the observation, so that
/// its `500` is logged and counted like any other answer.
async fn observe<S>(state: AppState, request: Request, mut inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    let method = request.method().clone();
    // A shared handle, not a copy: the text is the router's own.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or(NO_ROUTE, MatchedPath::as_str);
    let username = matched
        .as_ref()
        .filter(|_| route.starts_with("/{username}"))
        .and_then(|_| request.uri().path().split('/').nth(1))
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(Username::MAX_LEN)
                .collect::<String>()
        });
    let started = Instant::now();
    let response = answer_panics(async move {
        match inner.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    })
    .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status_code = response.status();
    let status = status_code.as_u16();
    tracing::info!(
        method = %method,
        route = %route,
        status,
        ms = format!("{ms:.1}"),
        "request"
    );
    let outcome = response.extensions().get::<Outcome>().cloned();
    let outcome_id = outcome.as_ref().map_or("ok", |o| o.id.as_str());
    state
        .metrics
        .requests
        .with_label_values(&[route, status_code.as_str()])
        .inc();
    if route.ends_with("/mfa/verify") || route.ends_with("/mfa/confirm") {
        state
            .metrics
            .verifies
            .with_label_values(&[outcome_id])
            .inc();
    }
    let storage_down = outcome_id == "storage-unavailable";
    if storage_down {
        state.metrics.storage_unavailable.inc();
    }
    // Not while storage is down: the entry could not be written, and trying would hold the
    // answer for another time-out. The line above records the request.
    if let Some(username) = username.filter(|_| !storage_down) {
        let record = AttemptRecord {
            id: String::new(),
            time: state.mfa.now(),
            username,
            method: cut(method.as_str(), MAX_METHOD_CHARS),
            route: route.to_string(),
            status,
            outcome: outcome_id.to_string(),
            reason: outcome.map_or_else(String::new, |o| cut(&o.message, MAX_REASON_CHARS)),
            duration_ms: (ms * 10.0).round() / 10.0,
            admin: None,
        };
        if let Err(e) = state.mfa.store().log_attempt(record).await {
            tracing::error!(error = %e, "writing the attempts log failed");
        }
    }
    response
}

/// The one layer around the public routes: [`observe`] (which answers panics too). One hand-written
/// layer, not `from_fn` ones: each of those cost per request a copy of the state, two boxed
/// services and a boxed future (measured in the issue 16 profile).
#[derive(Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> ObserveLayer {
        ObserveLayer { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            state: self.state.clone(),
        }
    }
}

/// A service under [`ObserveLayer`].
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The service that was polled ready serves this request; its copy the next one.
        let copy = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, copy);
        let state = self.state.clone();
        Box::pin(async move { Ok(observe(state, request, ready).await) })
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_long_text_is_cut_on_a_character_boundary() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("ééééé", 3), "ééé…");
        assert_eq!(cut(&"k".repeat(10_000), 300).chars().count(), 301);
    }
}

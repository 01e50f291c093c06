//! What every request leaves behind: one log line, its metrics, and for a route that names a
//! user, an entry in the attempts log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::domain::Username;
use crate::store::AttemptRecord;

use super::error::Outcome;
use super::AppState;

/// The longest reason an attempts-log entry keeps, in characters.
const MAX_REASON_CHARS: usize = 300;
/// The longest method an attempts-log entry keeps (a client may send any token).
const MAX_METHOD_CHARS: usize = 16;

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
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let username = route
        .as_deref()
        .filter(|r| r.starts_with("/{username}"))
        .and_then(|_| request.uri().path().split('/').nth(1))
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(Username::MAX_LEN)
                .collect::<String>()
        });
    let route = route.unwrap_or_else(|| "(no route)".to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
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
        .with_label_values(&[route.as_str(), &status.to_string()])
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
            route,
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

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

/// One log line per request (method, route pattern, status, milliseconds; never the query
/// string, which may hold a token, nor the body), its metrics, and, for a route that names a
/// user, an entry in the attempts log.
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
    if let Some(username) = username {
        let record = AttemptRecord {
            id: String::new(),
            time: state.mfa.now(),
            username,
            method: method.to_string(),
            route,
            status,
            outcome: outcome_id.to_string(),
            reason: outcome.map(|o| o.message).unwrap_or_default(),
            duration_ms: (ms * 10.0).round() / 10.0,
        };
        if let Err(e) = state.mfa.store().log_attempt(record).await {
            tracing::error!(error = %e, "writing the attempts log failed");
        }
    }
    response
}

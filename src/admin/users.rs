//! `/api/users/{username}`: helping a user. A lookup (enrolled methods, enrolled at, recovery
//! codes left, pending sessions, the wait in force, the last attempts), and three actions:
//! reset (all of MFA, or one method), clear the wait, issue an enrolment code.
//!
//! Every action is recorded in the attempts log with the name of the admin token that made it,
//! its route and outcome, whether it succeeded or was refused. Lookups show no user data value
//! and no secret, and are not recorded.

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value as Json_};

use crate::domain::{Method, Username};
use crate::http::Outcome;
use crate::mfa::{
    PendingView, WaitView, DEFAULT_ENROLMENT_CODE_SECONDS, MAX_ENROLMENT_CODE_SECONDS,
};
use crate::store::AttemptRecord;

use super::attempts::attempt_summary;
use super::error::AdminError;
use super::{AdminName, AdminState};

/// The shortest life an enrolment code may be given, in seconds.
const MIN_ENROLMENT_CODE_SECONDS: u64 = 60;

/// Records an admin action (a POST under `/api/users/{username}/`) in the attempts log: the
/// user, the route, the outcome (`ok` and what was done, or the error id and its message) and
/// the admin token's name. Other requests pass untouched.
pub(super) async fn record(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    let is_action = request.method() == axum::http::Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| p.as_str().starts_with("/api/users/{username}/"));
    if !is_action {
        return next.run(request).await;
    }
    let admin = request.extensions().get::<AdminName>().map(|a| a.0.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_string());
    let method = request.method().to_string();
    let username = request
        .uri()
        .path()
        .split('/')
        .nth(3)
        .map(|raw| {
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .take(Username::MAX_LEN)
                .collect::<String>()
        })
        .unwrap_or_default();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let outcome = response.extensions().get::<Outcome>().cloned();
    let entry = AttemptRecord {
        id: String::new(),
        time: state.app.mfa.now(),
        username,
        method,
        route,
        status: response.status().as_u16(),
        outcome: outcome
            .as_ref()
            .map_or_else(|| "ok".into(), |o| o.id.clone()),
        reason: outcome.map_or_else(String::new, |o| o.message),
        duration_ms: (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
        admin,
    };
    // Refused because storage is out of reach: its entry could not be written either (the
    // process log has the request), as for the public routes.
    if entry.outcome == "storage-unavailable" {
        tracing::info!(user = %entry.username, route = %entry.route, "admin action refused: storage unavailable");
        return response;
    }
    if let Err(e) = state.app.mfa.store().log_attempt(entry).await {
        tracing::error!(error = %e, "writing the attempts log failed");
    }
    response
}

/// A success, with what was done for the attempts log.
fn done(body: Json_, what: String) -> Response {
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(Outcome {
        id: "ok".into(),
        message: what,
    });
    response
}

fn username(state: &AdminState, raw: &str) -> Result<Username, AdminError> {
    let snap = state.app.snapshot();
    Username::parse(raw, &snap.config.server.username_pattern).ok_or_else(|| {
        AdminError::BadRequest(
            "Invalid username: it does not match server.username_pattern.".into(),
        )
    })
}

fn unknown(username: &Username) -> AdminError {
    AdminError::UnknownUser(format!(
        "No user '{username}': no MFA enrolment, pending session, wait or logged attempt."
    ))
}

/// 404 when nothing is known of the user, else 409: MFA is off, so there is nothing to change.
async fn not_enrolled(state: &AdminState, username: &Username, what: &str) -> AdminError {
    let snap = state.app.snapshot();
    match state.app.mfa.support_view(&snap, username).await {
        Ok(None) => unknown(username),
        Ok(Some(_)) => AdminError::NotEnrolled(format!("MFA is off for '{username}': {what}.")),
        Err(e) => e.into(),
    }
}

/// The body's object, or an empty one for no body.
fn object(body: &[u8]) -> Result<serde_json::Map<String, Json_>, AdminError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match super::error::json_body::<Json_>(body)? {
        Json_::Object(map) => Ok(map),
        _ => Err(AdminError::BadRequest(
            "The body must be a JSON object.".into(),
        )),
    }
}

pub(super) async fn lookup(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
) -> Result<Json<Json_>, AdminError> {
    let username = username(&state, &raw)?;
    let snap = state.app.snapshot();
    let view = state
        .app
        .mfa
        .support_view(&snap, &username)
        .await?
        .ok_or_else(|| unknown(&username))?;
    let mut body = json!({
        "username": username.as_str(),
        "enabled": view.enrolment.is_some(),
        "sessions": view.sessions.iter().map(session_json).collect::<Vec<_>>(),
        "wait": view.tally.as_ref().map(wait_json),
        "attempts": view.attempts.iter().map(attempt_summary).collect::<Vec<_>>(),
    });
    if let Some(e) = &view.enrolment {
        body["methods"] = json!(e.methods);
        body["enrolledAt"] = json!(e.enrolled_at);
        body["recoveryCodesRemaining"] = json!(e.recovery_codes_remaining);
        body["enrolmentCodeExpiresAt"] = json!(e.enrolment_code_expires_at);
        body["userDataFields"] = json!(e.user_data_fields);
    }
    Ok(Json(body))
}

fn session_json(s: &PendingView) -> Json_ {
    json!({
        "kind": s.kind, "method": s.method, "createdAt": s.created_at,
        "expiresAt": s.expires_at, "wrongCodes": s.wrong_codes,
    })
}

fn wait_json(w: &WaitView) -> Json_ {
    json!({
        "failures": w.failures, "lastAt": w.last_at, "lockedUntil": w.locked_until,
        "remainingSeconds": w.remaining,
    })
}

/// `{"method": "all"}` or `{"method": "<one enrolled method>"}`.
pub(super) async fn reset(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let username = username(&state, &raw)?;
    let method = match object(&body)?.get("method") {
        None | Some(Json_::Null) => return Err(AdminError::BadRequest(
            "Missing parameter: method (\"all\", or one method: sms, email, sms+email or totp)."
                .into(),
        )),
        Some(Json_::String(s)) if s == "all" => None,
        Some(Json_::String(s)) if Method::parse(s).is_some() => Method::parse(s),
        Some(_) => {
            return Err(AdminError::BadRequest(format!(
                "Invalid parameter 'method': \"all\" or one of {}.",
                Method::NAMES
            )))
        }
    };
    let snap = state.app.snapshot();
    let Some(reset) = state
        .app
        .mfa
        .support_reset(&snap, &username, method)
        .await?
    else {
        return Err(not_enrolled(&state, &username, "nothing to reset").await);
    };
    let what = match method {
        None => format!(
            "MFA reset: all methods removed, {} pending session(s) ended",
            reset.sessions_ended
        ),
        Some(m) if reset.methods_left.is_empty() => {
            format!("method {m} removed, the last one: MFA is off")
        }
        Some(m) => format!("method {m} removed"),
    };
    Ok(done(
        json!({
            "username": username.as_str(),
            "enabled": !reset.methods_left.is_empty(),
            "methods": reset.methods_left,
            "sessionsEnded": reset.sessions_ended,
        }),
        what,
    ))
}

pub(super) async fn clear_wait(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
) -> Result<Response, AdminError> {
    let username = username(&state, &raw)?;
    let snap = state.app.snapshot();
    match state.app.mfa.support_clear_wait(&snap, &username).await? {
        Some(old) => Ok(done(
            json!({ "username": username.as_str(), "cleared": true, "was": wait_json(&old) }),
            format!(
                "wait cleared ({} wrong attempt(s), {} s of wait left)",
                old.failures, old.remaining
            ),
        )),
        None => match state.app.mfa.support_view(&snap, &username).await? {
            None => Err(unknown(&username)),
            Some(_) => Ok(done(
                json!({ "username": username.as_str(), "cleared": false }),
                "no wrong attempt to clear".into(),
            )),
        },
    }
}

/// `{"ttlSeconds": N}` (optional): how long the code works.
pub(super) async fn enrolment_code(
    State(state): State<AdminState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let username = username(&state, &raw)?;
    let range = MIN_ENROLMENT_CODE_SECONDS..=MAX_ENROLMENT_CODE_SECONDS;
    let seconds = match object(&body)?.get("ttlSeconds") {
        None | Some(Json_::Null) => DEFAULT_ENROLMENT_CODE_SECONDS,
        Some(v) => v.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
            AdminError::BadRequest(format!(
                "Invalid parameter 'ttlSeconds': a whole number of seconds from {} to {}.",
                range.start(),
                range.end()
            ))
        })?,
    };
    let Some(issued) = state
        .app
        .mfa
        .support_enrolment_code(&username, seconds)
        .await?
    else {
        return Err(not_enrolled(
            &state,
            &username,
            "the user enrols with activate, no code is needed",
        )
        .await);
    };
    Ok(done(
        json!({
            "username": username.as_str(),
            "code": issued.code,
            "expiresAt": issued.expires_at,
        }),
        format!("enrolment code issued, valid until {}", issued.expires_at),
    ))
}

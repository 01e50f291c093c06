//! The Pryv-compatible routes: each parses its body at the edge ([`super::wire`]), runs one
//! flow and writes its answer.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::domain::MfaToken;
use crate::mfa::{LoginOutcome, Verified};

use super::body::{JsonBody, RawBody};
use super::error::{passthrough, ApiError};
use super::wire::{self, MessageResponse};
use super::{AppState, Call};

fn found(body: impl serde::Serialize) -> Response {
    (StatusCode::FOUND, Json(body)).into_response()
}

fn ok(body: impl serde::Serialize) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn deactivated() -> Response {
    ok(MessageResponse {
        message: "MFA deactivated.",
        methods: None,
    })
}

/// The mfaToken of a request (read where every token is read).
fn mfa_token(c: &Call) -> Option<MfaToken> {
    c.token
        .as_ref()
        .map(|t| MfaToken::new(t.expose().to_string()))
}

pub async fn login(
    State(state): State<AppState>,
    c: Call,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let outcome = state
        .mfa
        .login(&c.snapshot, &c.username, c.token.as_ref(), body, &c.client)
        .await?;
    Ok(match outcome {
        LoginOutcome::MfaRequired { mfa_token, methods } => found(wire::MfaRequiredResponse {
            methods,
            mfa_token: mfa_token.expose().to_string(),
        }),
        LoginOutcome::Passed(reply) => passthrough(reply),
        LoginOutcome::Inactive => ok(wire::InactiveResponse { mfa: "inactive" }),
    })
}

pub async fn activate(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = wire::activate_request(&body)?;
    let activation = state
        .mfa
        .activate(&c.snapshot, &c.username, c.token.as_ref(), input, &c.client)
        .await?;
    let mfa_token = activation.mfa_token.expose().to_string();
    Ok(match activation.totp {
        None => found(wire::MfaTokenResponse { mfa_token }),
        Some(t) => found(wire::TotpActivateResponse {
            mfa_token,
            qr: t.qr,
            secret: t.secret_base32,
            uri: t.uri,
        }),
    })
}

pub async fn confirm(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let code = wire::code_request(&body)?;
    let confirmed = state
        .mfa
        .confirm(&c.snapshot, &c.username, mfa_token(&c).as_ref(), code)
        .await?;
    Ok(ok(wire::ConfirmResponse {
        methods: confirmed.methods,
        recovery_codes: confirmed.recovery_codes,
    }))
}

pub async fn challenge(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let asked = wire::challenge_request(&body)?;
    let method = state
        .mfa
        .challenge(&c.snapshot, &c.username, mfa_token(&c).as_ref(), asked)
        .await?;
    Ok(ok(wire::ChallengeResponse {
        message: "Please verify the MFA challenge.",
        method,
    }))
}

pub async fn verify(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let code = wire::code_request(&body)?;
    let verified = state
        .mfa
        .verify(&c.snapshot, &c.username, mfa_token(&c).as_ref(), code)
        .await?;
    Ok(match verified {
        Verified::Grant(reply) => passthrough(reply),
        Verified::User(user) => ok(wire::VerifiedResponse {
            username: user.as_str().to_string(),
            verified: true,
        }),
    })
}

pub async fn deactivate(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let input = wire::deactivate_request(&body)?;
    let left = state
        .mfa
        .deactivate(&c.snapshot, &c.username, c.token.as_ref(), input, &c.client)
        .await?;
    Ok(match left {
        Some(methods) if !methods.is_empty() => ok(MessageResponse {
            message: "MFA method removed.",
            methods: Some(methods),
        }),
        _ => deactivated(),
    })
}

pub async fn status(State(state): State<AppState>, c: Call) -> Result<Response, ApiError> {
    let status = state
        .mfa
        .status(&c.snapshot, &c.username, c.token.as_ref(), &c.client)
        .await?;
    Ok(ok(wire::StatusResponse::from(status)))
}

pub async fn recovery_codes(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let step_up = wire::recovery_codes_request(&body)?;
    let codes = state
        .mfa
        .new_recovery_codes(
            &c.snapshot,
            &c.username,
            c.token.as_ref(),
            step_up,
            &c.client,
        )
        .await?;
    Ok(ok(wire::RecoveryCodesResponse {
        recovery_codes: codes,
    }))
}

pub async fn recover(
    State(state): State<AppState>,
    c: Call,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let (recovery_code, forwarded) = wire::recover_request(&body)?;
    state
        .mfa
        .recover(
            &c.snapshot,
            &c.username,
            c.token.as_ref(),
            recovery_code,
            forwarded,
            &c.client,
        )
        .await?;
    Ok(deactivated())
}

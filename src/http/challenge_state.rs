//! `GET /{username}/mfa/challenge` (mfaToken): where the session's code stands on each
//! channel — `sent` (a provider took it), `delivered` or `undelivered` (its receipt said so),
//! `failed` (no provider took it), `queued` (being handed over) — so that a client can offer
//! another channel rather than have the user wait for a code that will not come.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::domain::MfaToken;
use crate::mfa::ChannelDelivery;

use super::error::ApiError;
use super::{AppState, Call};

#[derive(Serialize)]
struct DeliveryResponse {
    sends: Vec<ChannelDeliveryResponse>,
}

#[derive(Serialize)]
struct ChannelDeliveryResponse {
    channel: String,
    status: &'static str,
    provider: String,
    at: u64,
    attempts: usize,
}

impl From<ChannelDelivery> for ChannelDeliveryResponse {
    fn from(d: ChannelDelivery) -> Self {
        ChannelDeliveryResponse {
            channel: d.channel,
            status: d.status.as_str(),
            provider: d.provider,
            at: d.at,
            attempts: d.attempts,
        }
    }
}

pub async fn challenge_state(State(state): State<AppState>, c: Call) -> Result<Response, ApiError> {
    let token = c
        .token
        .as_ref()
        .map(|t| MfaToken::new(t.expose().to_string()));
    let sends = state
        .mfa
        .delivery(&c.snapshot, &c.username, token.as_ref())
        .await?;
    let body = DeliveryResponse {
        sends: sends.into_iter().map(Into::into).collect(),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

//! `POST /receipts/{provider}` (and `GET`, as MessageBird and Vonage may call it) on the
//! public listener: a provider's delivery receipt moves the status of the send it names.
//!
//! A receipt is taken only from a provider listed under `receipts.providers`, and only when
//! its family's signature (or credentials) verifies: anything else is refused (401), changes
//! nothing and is counted (`mfa_bridge_receipts_total{outcome="refused"}`). The send is found
//! by the provider's message id ([`crate::store::Store::send_by_provider_message`]).
//!
//! A provider may call before the send is recorded with its message id (a fast one answers
//! its receipt while the daemon is still writing the send's answer). Such a receipt, once its
//! signature held, waits for the record a few seconds, polling the store (shared by every
//! instance, so whichever instance made the send), then is applied; if the record never
//! appears it is acknowledged and dropped (`outcome="unknown-message"`). Waiting in the
//! request was chosen over a queue kept in memory: nothing to lose at a restart, nothing shared
//! to bound, and only verified receipts wait.

mod messagebird;
mod plivo;
mod request;
mod sinch;
mod twilio;
mod vonage;

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::config::ReceiptCheck;
use crate::store::{SendRecord, SendStatus, Store, StoreError};

use super::AppState;
pub use request::{Receipt, ReceiptRequest};

/// How long a verified receipt waits for its send to be recorded.
const WAIT_FOR_SEND: Duration = Duration::from_secs(5);
/// How often it looks meanwhile.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Whether two signatures are the same, in constant time.
fn same(given: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// What happened to a receipt, as the metric and the log say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Refused,
    UnknownProvider,
    UnknownMessage,
    Unreadable,
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Refused => "refused",
            Outcome::UnknownProvider => "unknown-provider",
            Outcome::UnknownMessage => "unknown-message",
            Outcome::Unreadable => "unreadable",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Whether the family's signature of `req` verifies.
fn verifies(check: &ReceiptCheck, req: &ReceiptRequest, now: u64) -> bool {
    match check {
        ReceiptCheck::Twilio { auth_token } => twilio::verify(req, auth_token.expose()),
        ReceiptCheck::Vonage {
            signature_secret,
            method,
        } => vonage::verify(req, *method, signature_secret.expose(), now),
        ReceiptCheck::MessageBird { signing_key } => {
            messagebird::verify(req, signing_key.expose(), now)
        }
        ReceiptCheck::Plivo { auth_token } => plivo::verify(req, auth_token.expose()),
        ReceiptCheck::Sinch { username, password } => {
            sinch::verify(req, username, password.expose())
        }
    }
}

/// What the receipt says, read as its family writes it.
fn read(check: &ReceiptCheck, req: &ReceiptRequest) -> Option<Receipt> {
    match check {
        ReceiptCheck::Twilio { .. } => twilio::read(req),
        ReceiptCheck::Vonage { .. } => vonage::read(req),
        ReceiptCheck::MessageBird { .. } => messagebird::read(req),
        ReceiptCheck::Plivo { .. } => plivo::read(req),
        ReceiptCheck::Sinch { .. } => sinch::read(req),
    }
}

/// The url the provider called, as it signed it: `receipts.public_url` (or `http://` and the
/// `Host` header when unset), the path and the query.
fn called_url(public_url: &str, headers: &HeaderMap, uri: &Uri) -> String {
    let base = if public_url.is_empty() {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    } else {
        public_url.to_string()
    };
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{base}{path_and_query}")
}

fn acknowledged(outcome: Outcome) -> Response {
    (StatusCode::OK, Json(json!({ "receipt": outcome.as_str() }))).into_response()
}

pub async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let snapshot = state.snapshot();
    let count = |provider: &str, outcome: Outcome| {
        state
            .metrics
            .receipts
            .with_label_values(&[provider, outcome.as_str()])
            .inc();
    };
    let Some(check) = snapshot.config.receipts.providers.get(&provider) else {
        // The label is fixed: a made-up name must not make a new series.
        count("(unknown)", Outcome::UnknownProvider);
        return super::error::error(
            StatusCode::NOT_FOUND,
            "unknown-provider",
            "No receipts are taken for this provider.",
        );
    };
    let url = called_url(&snapshot.config.receipts.public_url, &headers, &uri);
    let req = ReceiptRequest::new(method.as_str(), url, uri.query(), headers, body.to_vec());
    let now = state.mfa.now();
    if !verifies(check, &req, now) {
        count(&provider, Outcome::Refused);
        tracing::warn!(provider = %provider, family = check.family(), "a receipt whose signature does not verify was refused");
        return super::error::error(
            StatusCode::UNAUTHORIZED,
            "invalid-signature",
            "The receipt's signature does not verify.",
        );
    }
    let Some(receipt) = read(check, &req) else {
        count(&provider, Outcome::Unreadable);
        return super::error::error(
            StatusCode::BAD_REQUEST,
            "invalid-receipt",
            "The receipt names no message.",
        );
    };
    let Some(status) = receipt.status else {
        count(&provider, Outcome::Ignored);
        return acknowledged(Outcome::Ignored);
    };
    match apply(state.mfa.store().as_ref(), now, &provider, &receipt, status).await {
        Ok(Some(record)) => {
            count(&provider, Outcome::Applied);
            tracing::info!(provider = %provider, send = %record.id, status = %record.status, "receipt applied");
            if let Some(event) = crate::mfa::send_event(&record) {
                let (store, events) = (state.mfa.store().as_ref(), &snapshot.config.events);
                crate::events::emit(store, events, now, event).await;
            }
            if matches!(status, SendStatus::Undelivered | SendStatus::Failed) {
                after_undelivered(&state, record);
            }
            acknowledged(Outcome::Applied)
        }
        Ok(None) => {
            count(&provider, Outcome::UnknownMessage);
            tracing::info!(provider = %provider, "a receipt for a message not in the message log was dropped");
            acknowledged(Outcome::UnknownMessage)
        }
        Err(e) => {
            tracing::error!(error = %e, "applying a receipt failed");
            super::error::storage_unavailable()
        }
    }
}

/// Moves the send that `receipt` names to `status` (waiting a little for a send not recorded
/// yet); the record as it is then, or `None` when no send has that message id.
async fn apply(
    store: &dyn Store,
    now: u64,
    provider: &str,
    receipt: &Receipt,
    status: SendStatus,
) -> Result<Option<SendRecord>, StoreError> {
    let mut waited = Duration::ZERO;
    let found = loop {
        let found = store
            .send_by_provider_message(provider, &receipt.message_id)
            .await?;
        if found.is_some() || waited >= WAIT_FOR_SEND {
            break found;
        }
        tokio::time::sleep(POLL_EVERY).await;
        waited += POLL_EVERY;
    };
    let Some(record) = found else { return Ok(None) };
    let update = SendRecord {
        status,
        updated_at: now,
        error: receipt.error.clone(),
        ..record.clone()
    };
    store.put_send(&update).await?;
    store.send(&record.id).await
}

/// Where a receipt saying `undelivered` (or `failed`) ends: with
/// `receipts.resend_on_undelivered`, the code is re-sent through the next provider or the
/// fallback channel ([`crate::mfa::Mfa::resend`]), off the receipt's request (the provider
/// gets its answer at once); else the receipt is recorded and logged.
fn after_undelivered(state: &AppState, record: SendRecord) {
    let snapshot = state.snapshot();
    let rule = snapshot.config.receipts.resend_on_undelivered;
    tracing::warn!(
        send = %record.id,
        provider = %record.provider,
        channel = %record.channel,
        resend_on_undelivered = rule,
        "a receipt says the code will not arrive"
    );
    if rule {
        let mfa = state.mfa.clone();
        tokio::spawn(async move { mfa.resend(&snapshot, &record, "undelivered").await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn sent() -> SendRecord {
        SendRecord {
            challenge: "0011223344556677".into(),
            provider: "tw".into(),
            provider_message_id: Some("SM1".into()),
            http_status: Some(201),
            latency_ms: Some(50),
            ..crate::store::sends::sample("s1-1", 10, SendStatus::Sent)
        }
    }

    fn receipt() -> Receipt {
        Receipt {
            message_id: "SM1".into(),
            status: Some(SendStatus::Delivered),
            error: None,
        }
    }

    #[tokio::test]
    async fn a_receipt_that_comes_before_its_send_is_applied_once_the_send_is_recorded() {
        let (store, receipt) = (MemoryStore::new(), receipt());
        let applying = apply(&store, 20, "tw", &receipt, SendStatus::Delivered);
        tokio::pin!(applying);
        // The first look finds nothing: the receipt waits.
        assert!(
            tokio::time::timeout(Duration::from_millis(1), &mut applying)
                .await
                .is_err()
        );
        store.put_send(&sent()).await.unwrap();
        let applied = applying.await.unwrap().unwrap();
        assert_eq!(applied.status, SendStatus::Delivered);
        assert_eq!(applied.updated_at, 20);
        assert_eq!(applied.provider_message_id.as_deref(), Some("SM1"));
    }

    #[tokio::test]
    async fn a_receipt_for_another_provider_or_message_finds_nothing() {
        let (store, receipt) = (MemoryStore::new(), receipt());
        store.put_send(&sent()).await.unwrap();
        let other = apply(&store, 20, "vonage", &receipt, SendStatus::Delivered);
        assert_eq!(other.await.unwrap(), None);
        assert_eq!(
            store.send("s1-1").await.unwrap().unwrap().status,
            SendStatus::Sent
        );
    }
}

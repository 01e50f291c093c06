//! The answer to a handler that panics: library code does not panic (clippy denies it), but a
//! dependency may; the client then gets `500 unexpected-error` as for any internal failure,
//! instead of a connection closed without an answer, and the log gets the panic's message.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};

use crate::mfa::FlowError;

use super::error::ApiError;

/// Runs `future` (the rest of the stack); a panic while it runs becomes `500 unexpected-error`.
pub async fn answer_panics(future: impl Future<Output = Response>) -> Response {
    let future = std::pin::pin!(future);
    match (Unwinding(future)).await {
        Ok(response) => response,
        Err(payload) => ApiError::Flow(FlowError::Internal(format!(
            "a request handler panicked: {}",
            message(payload.as_ref())
        )))
        .into_response(),
    }
}

/// A future whose panic, while it is polled, is its output.
struct Unwinding<F>(F);

impl<F: Future + Unpin> Future for Unwinding<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = Pin::new(&mut self.0);
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// A panic's message, when it is text.
fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn a_handler_that_panics_answers_unexpected_error_with_its_outcome() {
        let response = answer_panics(async {
            let fail = true;
            if fail {
                panic!("boom");
            }
            "never".into_response()
        })
        .await;

        assert_eq!(response.status(), 500);
        let outcome = response.extensions().get::<super::super::error::Outcome>();
        assert_eq!(outcome.map(|o| o.id.as_str()), Some("unexpected-error"));
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["id"], "unexpected-error");
        assert_eq!(v["error"]["message"], "Unexpected error.");
    }
}

//! The Pryv token forms (src/http/auth.rs: raw, `Bearer`, `Basic`, the `auth` query), through
//! the router: `GET /{username}/mfa` with an `Authorization` header and a query string from the
//! input. Whatever they hold, the answer is a Pryv-style refusal or a status, never a 5xx.
//!
//! Input, NUL-separated: the `Authorization` value (raw bytes; a header value the HTTP types
//! refuse is left out), the query string, the username.

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};

use crate::input::raw_fields;
use crate::server::Server;

/// One input, sent to `server`.
pub fn run(server: &Server, data: &[u8]) {
    let f = raw_fields(data, 3);
    let query = String::from_utf8_lossy(f[1]);
    let username = String::from_utf8_lossy(f[2]);
    let username = if username.is_empty() {
        "alice".into()
    } else {
        username
    };
    let mut uri = format!("/{username}/mfa");
    if !f[1].is_empty() {
        uri = format!("{uri}?{query}");
    }
    let mut builder = Request::builder().method("GET").uri(uri);
    if let Ok(value) = HeaderValue::from_bytes(f[0]) {
        builder = builder.header(header::AUTHORIZATION, value);
    }
    // A URI the HTTP types cannot parse never reaches the server.
    if let Ok(request) = builder.body(Body::empty()) {
        server.send(request);
    }
}

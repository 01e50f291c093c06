//! Request body parsing: the public router's body readers (src/http/body.rs, the wire types of
//! src/http/wire.rs), driven with `POST` requests to each route whose body, content type and
//! token come from the input. Whatever they hold, the answer is a Pryv-style refusal or a
//! status, never a 5xx.
//!
//! Input, NUL-separated: the route (by its first byte), the content type (raw bytes; left out
//! when empty or not a header value), the `Authorization` value (likewise), the body (raw, the
//! rest of the input).

use axum::body::Body;
use axum::http::{header, HeaderValue, Request};

use crate::input::raw_fields;
use crate::server::Server;

const ROUTES: [&str; 8] = [
    "login",
    "mfa/activate",
    "mfa/confirm",
    "mfa/challenge",
    "mfa/verify",
    "mfa/deactivate",
    "mfa/recover",
    "mfa/recovery-codes",
];

/// One input, sent to `server`.
pub fn run(server: &Server, data: &[u8]) {
    let f = raw_fields(data, 4);
    let route = ROUTES[usize::from(f[0].first().copied().unwrap_or(0)) % ROUTES.len()];
    let mut builder = Request::builder()
        .method("POST")
        .uri(format!("/alice/{route}"));
    for (name, value) in [(header::CONTENT_TYPE, f[1]), (header::AUTHORIZATION, f[2])] {
        if let (false, Ok(v)) = (value.is_empty(), HeaderValue::from_bytes(value)) {
            builder = builder.header(name, v);
        }
    }
    if let Ok(request) = builder.body(Body::from(f[3].to_vec())) {
        server.send(request);
    }
}

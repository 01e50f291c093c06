//! The HTTP request an [`OutboundRequest`] becomes: built in this one place, so that what the
//! daemon sends and what the encoding properties check (`request/tests.rs`) are the same
//! request, without a network.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;

use crate::config::HttpMethod;
use crate::template::OutboundRequest;

/// The reqwest request for `request` with `body` (the rendered one, or a client's body forwarded
/// as received), on `client`, with `timeout` as its whole deadline.
pub fn build(
    client: &reqwest::Client,
    request: &OutboundRequest,
    body: Option<Bytes>,
    timeout: Duration,
) -> reqwest::RequestBuilder {
    let method = match request.method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    };
    let mut builder = client.request(method, &request.url).timeout(timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    builder
}

#[cfg(test)]
mod tests;

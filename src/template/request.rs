//! What a rendering produces: an [`OutboundRequest`] for one configured endpoint
//! ([`EndpointId`]), and how it is shown to a person.

use std::fmt;

use serde_json::json;

use crate::config::HttpMethod;
use crate::domain::Secrets;

/// Which configured request a template belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointId {
    Single,
    Challenge,
    Verify,
    UpstreamLogin,
    AccessCheck,
}

impl EndpointId {
    pub const ALL: [EndpointId; 5] = [
        EndpointId::Single,
        EndpointId::Challenge,
        EndpointId::Verify,
        EndpointId::UpstreamLogin,
        EndpointId::AccessCheck,
    ];

    /// The name used on the command line (`render --endpoint NAME`) and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            EndpointId::Single => "single",
            EndpointId::Challenge => "challenge",
            EndpointId::Verify => "verify",
            EndpointId::UpstreamLogin => "login",
            EndpointId::AccessCheck => "access_check",
        }
    }

    pub fn from_name(name: &str) -> Option<EndpointId> {
        EndpointId::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A request ready to send. Its `Debug` leaves values out: they may hold codes and secrets.
#[derive(Clone)]
pub struct OutboundRequest {
    pub endpoint: EndpointId,
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundRequest")
            .field("endpoint", &self.endpoint)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl OutboundRequest {
    /// The request as JSON for a person to read: `${ENV}` secrets and credential headers masked.
    pub fn describe(&self, secrets: &Secrets) -> serde_json::Value {
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if is_credential_header(name) {
                    "***".to_string()
                } else {
                    secrets.mask(value)
                };
                (name.clone(), serde_json::Value::String(shown))
            })
            .collect();
        json!({
            "endpoint": self.endpoint.name(),
            "method": self.method.as_str(),
            "url": secrets.mask(&self.url),
            "headers": headers,
            "body": self.body.as_deref().map(|b| secrets.mask(b)),
        })
    }
}

/// Headers whose whole value is a credential.
pub fn is_credential_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "authorization"
        || n == "proxy-authorization"
        || n == "cookie"
        || n.contains("token")
        || n.contains("secret")
        || n.contains("api-key")
        || n.contains("apikey")
        || n.ends_with("-key")
}

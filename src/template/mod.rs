//! Endpoint templates: compiled once per configuration snapshot, rendered into an
//! [`OutboundRequest`] with every substituted value encoded for where it lands.
//!
//! - url: percent-encoded as a URL component; refused where it would leave its path segment empty,
//!   `.` or `..` (normalisation would drop the segment);
//! - header: refused unless printable ASCII (no CR/LF), so a value can never add a header, and,
//!   for a value the request brings, if it begins or ends with a space (HTTP drops those);
//! - body declared JSON (by content-type, or because the template is JSON text): escaped as the
//!   inside of a JSON string; declared form-urlencoded: form-encoded; otherwise as is.
//!
//! Templates are handlebars, restricted to plain `{{ name }}` placeholders: no helpers, blocks,
//! partials or triple-stash (which would bypass encoding). A value is substituted once and
//! never rendered again.

mod compile;
mod encoding;
mod messages;
mod omit;
mod preview;
mod render;
mod request;
mod segment;
pub mod sms;
mod syntax;
mod vars;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use handlebars::Handlebars;

use crate::config::Predicate;
use crate::domain::Channel;

pub use crate::domain::names::is_variable_name;
pub use encoding::BodyKind;
pub use messages::Message;
pub use preview::{preview, Preview};
pub use render::RenderError;
pub use request::{is_credential_header, EndpointId, OutboundRequest};
pub use sms::SmsInfo;
pub use syntax::describe_parse_error;
pub use vars::{fill_code, with_send_id, SendInput, Vars, DELIVERY_VARIABLES, SAMPLE_SEND_ID};

use compile::CompiledEndpoint;
use messages::Messages;
use render::invalid;
use syntax::parse;

/// Every endpoint template of one configuration, compiled.
pub struct Templates {
    endpoints: BTreeMap<EndpointId, CompiledEndpoint>,
    /// The preset's vars: given to every MFA endpoint.
    constants: Vars,
    phone_fields: Vec<String>,
    /// Names the challenge captures for the verify endpoint.
    captures: BTreeSet<String>,
    channel: Channel,
    /// `{{ status_callback }}`: where this provider posts its receipts (empty: nowhere).
    status_callback: String,
    messages: Messages,
    url: Handlebars<'static>,
    header: Handlebars<'static>,
    json: Handlebars<'static>,
    form: Handlebars<'static>,
    plain: Handlebars<'static>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("endpoints", &self.endpoints.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Templates {
    /// The variables an endpoint's templates name.
    pub fn variables(&self, endpoint: EndpointId) -> BTreeSet<String> {
        self.endpoints
            .get(&endpoint)
            .map(|e| e.variables.clone())
            .unwrap_or_default()
    }

    /// The success predicate (`success`, or `accept` for the access check) of an endpoint.
    pub fn predicate(&self, endpoint: EndpointId) -> Option<&Predicate> {
        self.endpoints
            .get(&endpoint)
            .and_then(|e| e.predicate.as_ref())
    }

    /// The message texts for a language (with the fallback chain) and a code.
    pub fn message(&self, language: Option<&str>, code: &str) -> Result<Message, RenderError> {
        self.messages
            .render(self.channel, language, code)
            .map_err(|reason| invalid(EndpointId::Single, "message", reason))
    }

    /// The channel the single endpoint delivers on.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Things worth knowing that do not stop the configuration (an SMS text longer than one
    /// segment).
    pub fn warnings(&self) -> &[String] {
        &self.messages.warnings
    }
}

#[cfg(test)]
mod tests;

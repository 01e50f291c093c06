//! Rendering a compiled endpoint into an [`OutboundRequest`], every value encoded for where it
//! lands, and what can go wrong doing so ([`RenderError`]).

use super::compile::CompiledEndpoint;
use super::encoding::{self, BodyKind};
use super::omit::omit_empty;
use super::segment::broken_slot;
use super::{EndpointId, OutboundRequest, Templates, Vars};

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{variable} cannot be placed in header {header} of {endpoint}: only printable ASCII, not beginning or ending with a space, is allowed there")]
    HeaderValue {
        endpoint: EndpointId,
        header: String,
        variable: String,
    },
    /// The value would leave its url path segment empty, `.` or `..`, which normalisation
    /// removes: the request would go elsewhere.
    #[error("{variable} cannot be a path segment of the url of {endpoint}: it must not be empty, '.' or '..'")]
    PathSegment {
        endpoint: EndpointId,
        variable: String,
    },
    #[error("{endpoint} is not configured")]
    NotConfigured { endpoint: EndpointId },
    #[error("{endpoint}: the rendered {part} is not valid ({reason})")]
    Invalid {
        endpoint: EndpointId,
        part: &'static str,
        reason: String,
    },
}

pub(super) fn invalid(endpoint: EndpointId, part: &'static str, reason: String) -> RenderError {
    RenderError::Invalid {
        endpoint,
        part,
        reason,
    }
}

impl Templates {
    pub(super) fn render_url(
        &self,
        e: &CompiledEndpoint,
        id: EndpointId,
        vars: &Vars,
    ) -> Result<String, RenderError> {
        let url = self
            .url
            .render(&e.url, vars)
            .map_err(|err| invalid(id, "url", err.to_string()))?;
        let url = url.trim().to_string();
        if let Some(rest) = url.strip_prefix("outbox:") {
            if rest.is_empty() || rest.starts_with('?') {
                return Err(invalid(
                    id,
                    "url",
                    "outbox: needs a name, e.g. outbox:sms".into(),
                ));
            }
            return Ok(url);
        }
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(url),
            Ok(u) => Err(invalid(
                id,
                "url",
                format!(
                    "scheme '{}' is not supported (http, https or outbox:)",
                    u.scheme()
                ),
            )),
            Err(err) => Err(invalid(id, "url", format!("not a URL ({err})"))),
        }
    }

    /// Whether a request brings this variable's value (user data, the code, the token...), as
    /// opposed to the configuration (the preset's vars) or the provider (what a challenge
    /// captured).
    fn brought_by_request(&self, variable: &str) -> bool {
        !self.constants.contains_key(variable) && !self.captures.contains(variable)
    }

    /// A path segment left empty or a dot segment: the fault of the value a request brings
    /// (named), or, when the segment holds only the preset's vars or captured values, of the
    /// configuration or the provider.
    fn path_segment_error(&self, endpoint: EndpointId, variables: &[String]) -> RenderError {
        match variables.iter().find(|v| self.brought_by_request(v)) {
            Some(variable) => RenderError::PathSegment {
                endpoint,
                variable: variable.clone(),
            },
            None => invalid(
                endpoint,
                "url",
                format!(
                    "{} leave a path segment empty, '.' or '..'",
                    variables.join(", ")
                ),
            ),
        }
    }

    /// Renders the request an endpoint would send with these variables.
    pub fn render(
        &self,
        endpoint: EndpointId,
        vars: &Vars,
    ) -> Result<OutboundRequest, RenderError> {
        let e = self
            .endpoints
            .get(&endpoint)
            .ok_or(RenderError::NotConfigured { endpoint })?;
        let url = self.render_url(e, endpoint, vars)?;
        if let Some(slot) = broken_slot(&url, &e.path_slots) {
            return Err(self.path_segment_error(endpoint, &slot.variables));
        }
        let mut headers = Vec::with_capacity(e.headers.len());
        for h in &e.headers {
            for var in &h.variables {
                if let Some(value) = vars.get(var) {
                    // HTTP drops the spaces around a header value: one the request brings must
                    // not begin or end with one, or it would arrive as another value.
                    let spaced = self.brought_by_request(var)
                        && (value.starts_with(' ') || value.ends_with(' '));
                    if spaced || !value.bytes().all(encoding::is_header_byte) {
                        return Err(RenderError::HeaderValue {
                            endpoint,
                            header: h.name.clone(),
                            variable: var.clone(),
                        });
                    }
                }
            }
            let value = self
                .header
                .render(&h.template, vars)
                .map_err(|err| invalid(endpoint, "header", err.to_string()))?;
            headers.push((h.name.clone(), value));
        }
        if let Some((user, pass)) = &e.basic_auth {
            let render = |name: &str| {
                self.header
                    .render(name, vars)
                    .map_err(|err| invalid(endpoint, "basic_auth", err.to_string()))
            };
            let (user, pass) = (render(user)?, render(pass)?);
            if user.contains(':') {
                return Err(invalid(
                    endpoint,
                    "basic_auth",
                    "the username must not hold ':'".into(),
                ));
            }
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            headers.push(("authorization".to_string(), format!("Basic {token}")));
        }
        let body = match &e.body {
            None => None,
            Some((kind, name)) => {
                let registry = match kind {
                    BodyKind::Json => &self.json,
                    BodyKind::Form => &self.form,
                    BodyKind::Plain => &self.plain,
                };
                let text = registry
                    .render(name, vars)
                    .map_err(|err| invalid(endpoint, "body", err.to_string()))?;
                if *kind == BodyKind::Json {
                    serde_json::from_str::<serde_json::Value>(&text)
                        .map_err(|err| invalid(endpoint, "body", format!("not JSON: {err}")))?;
                }
                Some(omit_empty(*kind, text, &e.omit_empty))
            }
        };
        Ok(OutboundRequest {
            endpoint,
            method: e.method,
            url,
            headers,
            body,
        })
    }
}

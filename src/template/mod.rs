//! Endpoint templates: compiled once per configuration snapshot, rendered into an
//! [`OutboundRequest`] with every substituted value encoded for where it lands.
//!
//! - url: percent-encoded as a URL component;
//! - header: refused unless printable ASCII (no CR/LF), so a value can never add a header;
//! - body declared JSON (by content-type, or because the template is JSON text): escaped as the
//!   inside of a JSON string; declared form-urlencoded: form-encoded; otherwise as is.
//!
//! Templates are handlebars, restricted to plain `{{ name }}` placeholders: no helpers, blocks,
//! partials or triple-stash (which would bypass encoding). A value is substituted once and
//! never rendered again.

mod encoding;
mod messages;
pub mod sms;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::Handlebars;
use regex::Regex;
use serde_json::json;

use crate::config::{
    Config, EndpointSpec, Endpoints, HttpMethod, MfaConfig, Predicate, Problem, UpstreamConfig,
};
use crate::domain::{Channel, Secrets};

pub use crate::domain::names::is_variable_name;
pub use encoding::BodyKind;
pub use messages::Message;
use messages::Messages;
pub use sms::SmsInfo;

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

/// Variables and their values for one rendering.
pub type Vars = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("{variable} cannot be placed in header {header} of {endpoint}: only printable ASCII is allowed there")]
    HeaderValue {
        endpoint: EndpointId,
        header: String,
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

/// In single mode a user-data value may hold `{{ code }}` (the seed's
/// `"message": "Your code is {{ code }}"`): only that placeholder is filled, literally.
pub fn fill_code(value: &str, code: &str) -> String {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| Regex::new(r"\{\{\s*code\s*\}\}").expect("static regex"));
    re.replace_all(value, regex::NoExpand(code)).into_owned()
}

/// What a send is made of: the rest (message texts, digits, preset vars) is computed by
/// [`Templates::vars_for`].
pub struct SendInput<'a> {
    pub username: &'a str,
    pub user_data: &'a BTreeMap<String, String>,
    /// The code (single and verify endpoints).
    pub code: Option<&'a str>,
    /// What the challenge's answer held (`capture`), for the verify endpoint.
    pub captured: Option<&'a BTreeMap<String, String>>,
}

/// Variables the single endpoint computes from the message texts.
const MESSAGE_VARIABLES: [&str; 4] = ["message", "message_type", "subject", "html"];

struct CompiledEndpoint {
    method: HttpMethod,
    /// Every variable its url, headers and body name.
    variables: BTreeSet<String>,
    url: String,
    headers: Vec<CompiledHeader>,
    /// Template names of the basic-auth username and password.
    basic_auth: Option<(String, String)>,
    body: Option<(BodyKind, String)>,
    predicate: Option<Predicate>,
    /// Whether the message texts must be rendered for it.
    uses_message: bool,
}

struct CompiledHeader {
    name: String,
    template: String,
    variables: BTreeSet<String>,
}

/// Every endpoint template of one configuration, compiled.
pub struct Templates {
    endpoints: BTreeMap<EndpointId, CompiledEndpoint>,
    /// The preset's vars: given to every MFA endpoint.
    constants: Vars,
    phone_fields: Vec<String>,
    /// Names the challenge captures for the verify endpoint.
    captures: BTreeSet<String>,
    channel: Channel,
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

fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    let mut h = Handlebars::new();
    h.register_escape_fn(escape);
    h
}

/// The variables each endpoint can be given.
fn provided_variables(mfa: &MfaConfig, endpoint: EndpointId) -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    vars.insert("username".to_string());
    match endpoint {
        EndpointId::Single | EndpointId::Challenge | EndpointId::Verify => {
            vars.extend(mfa.user_data.allowed.iter().cloned());
            vars.extend(
                mfa.user_data
                    .phone_fields
                    .iter()
                    .map(|f| format!("{f}_digits")),
            );
            vars.insert("locale".to_string());
            if let Some(preset) = &mfa.preset {
                vars.extend(preset.vars.keys().cloned());
            }
        }
        EndpointId::AccessCheck => {
            vars.insert("token".to_string());
        }
        EndpointId::UpstreamLogin => {}
    }
    match endpoint {
        EndpointId::Single => {
            vars.insert("code".to_string());
            vars.insert("message".to_string());
            vars.insert("message_type".to_string());
            if mfa.channel == Channel::Email {
                vars.insert("subject".to_string());
                vars.insert("html".to_string());
            }
        }
        EndpointId::Verify => {
            vars.insert("code".to_string());
            if let Endpoints::ChallengeVerify { challenge, .. } = &mfa.endpoints {
                vars.extend(challenge.capture.iter().map(|c| c.name.clone()));
            }
        }
        _ => {}
    }
    vars
}

impl Templates {
    pub fn compile(config: &Config) -> Result<Templates, Vec<Problem>> {
        Templates::compile_parts(&config.mfa, config.upstream.as_ref())
    }

    /// Compiles the endpoints of these sections (a configuration's, or those that could be
    /// read from a file with other problems).
    pub fn compile_parts(
        mfa: &MfaConfig,
        upstream: Option<&UpstreamConfig>,
    ) -> Result<Templates, Vec<Problem>> {
        let mut problems = Vec::new();
        let messages = match Messages::compile(mfa) {
            Ok(m) => m,
            Err(mut p) => {
                problems.append(&mut p);
                Messages::empty(mfa)
            }
        };
        let mut t = Templates {
            endpoints: BTreeMap::new(),
            constants: mfa
                .preset
                .as_ref()
                .map(|p| p.vars.clone())
                .unwrap_or_default(),
            phone_fields: mfa.user_data.phone_fields.iter().cloned().collect(),
            captures: match &mfa.endpoints {
                Endpoints::ChallengeVerify { challenge, .. } => {
                    challenge.capture.iter().map(|c| c.name.clone()).collect()
                }
                Endpoints::Single(_) => BTreeSet::new(),
            },
            channel: mfa.channel,
            messages,
            url: registry(encoding::url),
            header: registry(encoding::none),
            json: registry(encoding::json),
            form: registry(encoding::form),
            plain: registry(encoding::none),
        };
        let mut specs: Vec<(EndpointId, &EndpointSpec)> = Vec::new();
        match &mfa.endpoints {
            Endpoints::Single(s) => specs.push((EndpointId::Single, s)),
            Endpoints::ChallengeVerify { challenge, verify } => {
                specs.push((EndpointId::Challenge, challenge));
                specs.push((EndpointId::Verify, verify));
            }
        }
        if let Some(up) = upstream {
            specs.push((EndpointId::UpstreamLogin, &up.login));
            specs.push((EndpointId::AccessCheck, &up.access_check));
        }
        for (id, spec) in specs {
            let provided = provided_variables(mfa, id);
            match t.compile_endpoint(id, spec, &provided) {
                Ok(c) => {
                    t.endpoints.insert(id, c);
                }
                Err(mut p) => problems.append(&mut p),
            }
        }
        if problems.is_empty() {
            Ok(t)
        } else {
            Err(problems)
        }
    }

    fn compile_endpoint(
        &mut self,
        id: EndpointId,
        spec: &EndpointSpec,
        provided: &BTreeSet<String>,
    ) -> Result<CompiledEndpoint, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });

        let mut used = BTreeSet::new();
        // url
        let url_name = format!("{}.url", id.name());
        let url_path = format!("{}.url", spec.path);
        match parse(&spec.url, provided) {
            Ok(tpl) => {
                used.extend(variables_of(&tpl));
                self.url.register_template(&url_name, tpl)
            }
            Err(msg) => problem(url_path.clone(), msg),
        }

        // headers
        let mut headers = Vec::new();
        for (i, (name, value)) in spec.headers.iter().enumerate() {
            let hp = format!("{}.headers.{name}", spec.path);
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                problem(hp.clone(), "not a valid header name".to_string());
                continue;
            }
            if !value.bytes().all(encoding::is_header_byte) {
                problem(
                    hp.clone(),
                    "header values must be printable ASCII (no line breaks)".to_string(),
                );
                continue;
            }
            match parse(value, provided) {
                Ok(tpl) => {
                    let variables = variables_of(&tpl);
                    used.extend(variables.iter().cloned());
                    let tname = format!("{}.header.{i}", id.name());
                    self.header.register_template(&tname, tpl);
                    headers.push(CompiledHeader {
                        name: name.clone(),
                        template: tname,
                        variables,
                    });
                }
                Err(msg) => problem(hp, msg),
            }
        }

        // basic auth
        let mut basic_auth = None;
        if let Some((user, pass)) = &spec.basic_auth {
            let bp = format!("{}.basic_auth", spec.path);
            let user_tpl = parse(user, provided).map_err(|m| (format!("{bp}.username"), m));
            let pass_tpl = parse(pass, provided).map_err(|m| (format!("{bp}.password"), m));
            match (user_tpl, pass_tpl) {
                (Ok(u), Ok(p)) => {
                    used.extend(variables_of(&u));
                    used.extend(variables_of(&p));
                    let names = (
                        format!("{}.basic.username", id.name()),
                        format!("{}.basic.password", id.name()),
                    );
                    self.header.register_template(&names.0, u);
                    self.header.register_template(&names.1, p);
                    basic_auth = Some(names);
                }
                (u, p) => {
                    for (path, message) in [u.err(), p.err()].into_iter().flatten() {
                        problem(path, message);
                    }
                }
            }
        }

        // body
        let mut body = None;
        if let Some(text) = &spec.body {
            let bp = format!("{}.body", spec.path);
            let content_type = spec
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.as_str());
            match parse(text, provided) {
                Ok(tpl) => {
                    let kind = BodyKind::of(content_type, text);
                    let tname = format!("{}.body", id.name());
                    let registry = match kind {
                        BodyKind::Json => &mut self.json,
                        BodyKind::Form => &mut self.form,
                        BodyKind::Plain => &mut self.plain,
                    };
                    let variables = variables_of(&tpl);
                    used.extend(variables.iter().cloned());
                    registry.register_template(&tname, tpl);
                    if kind == BodyKind::Json {
                        if let Err(msg) = check_json_body(registry, &tname, &variables) {
                            problem(bp, msg);
                        }
                    }
                    body = Some((kind, tname));
                }
                Err(msg) => problem(bp, msg),
            }
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        let compiled = CompiledEndpoint {
            method: spec.method,
            uses_message: MESSAGE_VARIABLES.iter().any(|v| used.contains(*v)),
            variables: used,
            url: url_name,
            headers,
            basic_auth,
            body,
            predicate: spec.predicate.clone(),
        };
        // The url must be a URL for any values.
        let sample: Vars = provided
            .iter()
            .map(|v| (v.clone(), "sample".to_string()))
            .collect();
        match self.render_url(&compiled, id, &sample) {
            Ok(_) => Ok(compiled),
            Err(e) => Err(vec![Problem {
                path: url_path,
                message: match e {
                    RenderError::Invalid { reason, .. } => reason,
                    other => other.to_string(),
                },
            }]),
        }
    }

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

    /// Every variable of one send: the user data (in single mode with `{{ code }}` filled in
    /// its values, as the seed does), `NAME_digits` of the phone fields, the preset's vars,
    /// `username`, `code`, `locale`, what the challenge captured (verify), and for the single
    /// endpoint the message texts in the user's language (`message`, `message_type`, and
    /// `subject`, `html` for email). A user-data `message` wins over the texts.
    pub fn vars_for(&self, endpoint: EndpointId, input: &SendInput) -> Result<Vars, RenderError> {
        let mut vars = Vars::new();
        for (k, v) in input.user_data {
            let value = match (endpoint, input.code) {
                (EndpointId::Single, Some(code)) => fill_code(v, code),
                _ => v.clone(),
            };
            vars.insert(k.clone(), value);
        }
        for field in &self.phone_fields {
            if let Some(number) = input.user_data.get(field) {
                vars.insert(
                    format!("{field}_digits"),
                    number.trim_start_matches('+').to_string(),
                );
            }
        }
        for (k, v) in &self.constants {
            vars.insert(k.clone(), v.clone());
        }
        vars.insert("username".into(), input.username.to_string());
        if let Some(code) = input.code {
            vars.insert("code".into(), code.to_string());
        }
        if endpoint == EndpointId::Verify {
            if let Some(captured) = input.captured {
                vars.extend(captured.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
        let language = input.user_data.get("language").map(String::as_str);
        vars.insert("locale".into(), self.messages.resolve(language).to_string());
        let uses_message = self
            .endpoints
            .get(&endpoint)
            .is_some_and(|e| e.uses_message);
        if endpoint == EndpointId::Single && uses_message {
            let code = input.code.unwrap_or_default();
            let message = self.message(language, code)?;
            if vars.get("message").is_none_or(|m| m.trim().is_empty()) {
                vars.insert("message".into(), message.text);
            }
            let info = SmsInfo::of(&vars["message"]);
            vars.insert("message_type".into(), info.message_type().into());
            if let Some(subject) = message.subject {
                vars.insert("subject".into(), subject);
            }
            if let Some(html) = message.html {
                vars.insert("html".into(), html);
            }
        }
        Ok(vars)
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

    /// Variables for showing what an endpoint would send (`render`, the admin preview): the
    /// sample values as user data (`username` and `code` taken out, defaulting to
    /// `sample-user` and `123456`), then everything a real send computes.
    pub fn sample_vars(
        &self,
        data: &serde_json::Map<String, serde_json::Value>,
        endpoint: EndpointId,
    ) -> Result<Vars, RenderError> {
        let mut user_data: BTreeMap<String, String> = data
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect();
        let username = user_data
            .remove("username")
            .unwrap_or_else(|| "sample-user".into());
        let code = user_data.remove("code").unwrap_or_else(|| "123456".into());
        let code = matches!(endpoint, EndpointId::Single | EndpointId::Verify).then_some(code);
        let mut vars = self.vars_for(
            endpoint,
            &SendInput {
                username: &username,
                user_data: &user_data,
                code: code.as_deref(),
                captured: None,
            },
        )?;
        // Captured values are unknown before a challenge: shown by name.
        if endpoint == EndpointId::Verify {
            for name in &self.captures {
                vars.entry(name.clone())
                    .or_insert_with(|| format!("<{name} from the challenge>"));
            }
        }
        Ok(vars)
    }

    fn render_url(
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
        let mut headers = Vec::with_capacity(e.headers.len());
        for h in &e.headers {
            for var in &h.variables {
                if let Some(value) = vars.get(var) {
                    if !value.bytes().all(encoding::is_header_byte) {
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
                Some(text)
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

/// What `render` and the admin preview show: the request, and for a single endpoint the
/// message it carries with its SMS cost.
#[derive(Debug)]
pub struct Preview {
    pub request: serde_json::Value,
    pub warnings: Vec<String>,
    pub message: Option<serde_json::Value>,
    pub sms: Option<SmsInfo>,
}

/// Renders an endpoint for sample data, as a real send would (see [`Templates::sample_vars`]).
pub fn preview(
    templates: &Templates,
    secrets: &Secrets,
    endpoint: EndpointId,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<Preview, RenderError> {
    let vars = templates.sample_vars(data, endpoint)?;
    let mut warnings: Vec<String> = templates
        .variables(endpoint)
        .into_iter()
        .filter(|v| !vars.contains_key(v))
        .map(|v| format!("{{{{ {v} }}}} is not in the sample data: it renders empty."))
        .collect();
    let request = templates.render(endpoint, &vars)?;
    let uses = |name: &str| templates.variables(endpoint).contains(name);
    let mut message = None;
    let mut sms = None;
    if endpoint == EndpointId::Single && (uses("message") || uses("subject") || uses("html")) {
        let text = vars.get("message").cloned().unwrap_or_default();
        message = Some(json!({
            "language": vars.get("locale"),
            "text": text,
            "subject": vars.get("subject"),
            "html": vars.get("html"),
        }));
        if templates.channel() == Channel::Sms {
            let info = SmsInfo::of(&text);
            if let Some(w) = info.warning() {
                warnings.push(w);
            }
            sms = Some(info);
        }
    }
    Ok(Preview {
        request: request.describe(secrets),
        warnings,
        message,
        sms,
    })
}

fn invalid(endpoint: EndpointId, part: &'static str, reason: String) -> RenderError {
    RenderError::Invalid {
        endpoint,
        part,
        reason,
    }
}

/// Parses a template and checks that it only holds plain placeholders for provided variables.
fn parse(source: &str, provided: &BTreeSet<String>) -> Result<Template, String> {
    let tpl = Template::compile(source).map_err(|e| describe_parse_error(&e))?;
    for element in &tpl.elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) => {
                let name = placeholder_name(h).ok_or_else(|| {
                    "only plain placeholders such as {{ phone }} are allowed (no helpers or paths)"
                        .to_string()
                })?;
                if !provided.contains(&name) {
                    let known: Vec<&str> = provided.iter().map(String::as_str).collect();
                    return Err(format!(
                        "'{{{{ {name} }}}}' names a variable that is never provided here (available: {})",
                        known.join(", ")
                    ));
                }
            }
            TemplateElement::HtmlExpression(_) => {
                return Err(
                    "'{{{ }}}' (unescaped output) is not allowed: every value is encoded for where it lands"
                        .to_string(),
                )
            }
            _ => {
                return Err(
                    "only plain placeholders such as {{ phone }} are allowed (no blocks, partials or decorators)"
                        .to_string(),
                )
            }
        }
    }
    Ok(tpl)
}

/// One line: where and why a template does not parse (handlebars' own text spans many lines).
pub fn describe_parse_error(e: &handlebars::TemplateError) -> String {
    let reason = e.reason().to_string();
    let reason = reason.lines().next().unwrap_or("").trim();
    match e.pos() {
        Some((line, column)) => {
            format!("template does not parse at line {line}, column {column}: {reason}")
        }
        None => format!("template does not parse: {reason}"),
    }
}

fn placeholder_name(h: &handlebars::template::HelperTemplate) -> Option<String> {
    if !h.params.is_empty() || !h.hash.is_empty() || h.block || h.template.is_some() {
        return None;
    }
    let name = match &h.name {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(path) => match path {
            handlebars::Path::Relative((segs, raw)) if segs.len() == 1 => raw.clone(),
            _ => return None,
        },
        _ => return None,
    };
    is_variable_name(&name).then_some(name)
}

fn variables_of(tpl: &Template) -> BTreeSet<String> {
    tpl.elements
        .iter()
        .filter_map(|e| match e {
            TemplateElement::Expression(h) => placeholder_name(h),
            _ => None,
        })
        .collect()
}

/// A JSON body must stay JSON whatever the values: every placeholder must sit inside a JSON
/// string. Rendering with marker values and parsing proves it.
fn check_json_body(
    registry: &Handlebars<'static>,
    name: &str,
    variables: &BTreeSet<String>,
) -> Result<(), String> {
    let markers: Vars = variables
        .iter()
        .map(|v| (v.clone(), format!("MFABRIDGE_MARKER_{v}")))
        .collect();
    let text = registry
        .render(name, &markers)
        .map_err(|e| format!("template does not render: {e}"))?;
    serde_json::from_str::<serde_json::Value>(&text).map(|_| ()).map_err(|e| {
        format!(
            "a JSON body must be valid JSON with every placeholder inside a string, e.g. {{\"to\":\"{{{{ phone }}}}\"}} ({e})"
        )
    })
}

#[cfg(test)]
mod tests;

//! Compiling a configuration's endpoints once per snapshot: every template parsed in the
//! dialect, registered in the registry of where it lands, and proven at load (a url is a URL
//! for any values, a JSON body stays JSON).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use handlebars::Handlebars;

use super::encoding::{self, BodyKind};
use super::messages::Messages;
use super::segment::{path_slots, PathSlot};
use super::syntax::{check_json_body, parse, variables_of};
use super::vars::{provided_variables, MESSAGE_VARIABLES};
use super::{EndpointId, RenderError, Templates, Vars};
use crate::config::{
    Config, EndpointSpec, Endpoints, HttpMethod, MfaConfig, Predicate, Problem, UpstreamConfig,
};

pub(super) struct CompiledEndpoint {
    pub(super) method: HttpMethod,
    /// Every variable its url, headers and body name.
    pub(super) variables: BTreeSet<String>,
    pub(super) url: String,
    /// The url's path segments that hold values (each must stay a segment).
    pub(super) path_slots: Vec<PathSlot>,
    pub(super) headers: Vec<CompiledHeader>,
    /// Template names of the basic-auth username and password.
    pub(super) basic_auth: Option<(String, String)>,
    pub(super) body: Option<(BodyKind, String)>,
    pub(super) predicate: Option<Predicate>,
    /// Whether the message texts must be rendered for it.
    pub(super) uses_message: bool,
    /// Body fields left out when they render empty (`omit_empty`).
    pub(super) omit_empty: Vec<String>,
}

pub(super) struct CompiledHeader {
    pub(super) name: String,
    pub(super) template: String,
    pub(super) variables: BTreeSet<String>,
}

/// An empty registry with this escape function. `Handlebars::new` boxes and registers every
/// built-in helper, and a configuration load makes seven registries: cloning one made once
/// per process shares the helpers instead (our templates call none: `syntax` refuses them).
pub(super) fn registry(escape: fn(&str) -> String) -> Handlebars<'static> {
    static BLANK: OnceLock<Handlebars<'static>> = OnceLock::new();
    let mut h = BLANK.get_or_init(Handlebars::new).clone();
    h.register_escape_fn(escape);
    h
}

impl Templates {
    /// Compiles a configuration's primary channel (its first provider) and upstream.
    pub fn compile(config: &Config) -> Result<Templates, Vec<Problem>> {
        let mut t = Templates::compile_parts(&config.mfa, config.upstream.as_ref())?;
        t.status_callback = config.server.status_callback(&config.mfa.provider);
        Ok(t)
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
            status_callback: String::new(),
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
        let mut url_slots = Vec::new();
        match parse(&spec.url, provided) {
            Ok(tpl) => {
                let variables = variables_of(&tpl);
                used.extend(variables.iter().cloned());
                self.url.register_template(&url_name, tpl);
                url_slots = path_slots(&self.url, &url_name, &variables);
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
            path_slots: url_slots,
            headers,
            basic_auth,
            body,
            predicate: spec.predicate.clone(),
            omit_empty: spec.omit_empty.clone(),
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
}

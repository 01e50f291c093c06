//! The variables of one send: what the caller gives ([`SendInput`]) and what the daemon
//! computes from it (digits, preset vars, locale, message texts).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use regex::Regex;

use super::{EndpointId, RenderError, SmsInfo, Templates};
use crate::config::{Endpoints, MfaConfig};
use crate::domain::Channel;

/// Variables and their values for one rendering.
pub type Vars = BTreeMap<String, String>;

/// In single mode a user-data value may hold `{{ code }}` (the seed's
/// `"message": "Your code is {{ code }}"`): only that placeholder is filled, literally.
pub fn fill_code(value: &str, code: &str) -> String {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    match RE.get_or_init(|| Regex::new(r"\{\{\s*code\s*\}\}").ok()) {
        Some(re) => re.replace_all(value, regex::NoExpand(code)).into_owned(),
        // The pattern is a constant that compiles (a unit test fills a code with it).
        None => value.to_string(),
    }
}

/// Gives the variables of a send its id (`{{ send_id }}`): the same for every try of one
/// challenge's send on one channel.
pub fn with_send_id(vars: &mut Vars, send_id: &str) {
    vars.insert("send_id".into(), send_id.to_string());
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
pub(super) const MESSAGE_VARIABLES: [&str; 4] = ["message", "message_type", "subject", "html"];

/// Variables of the sending endpoints (single, challenge) that tie a send to its records: the
/// stable id of the send (the same across retries: an `Idempotency-Key`) and the url the
/// provider posts its delivery receipts to.
pub const DELIVERY_VARIABLES: [&str; 2] = ["send_id", "status_callback"];

/// What `{{ send_id }}` shows in a preview: a real one is new for each send.
pub const SAMPLE_SEND_ID: &str = "sample-send-id-0000000000000000";

/// The variables each endpoint can be given.
pub(super) fn provided_variables(mfa: &MfaConfig, endpoint: EndpointId) -> BTreeSet<String> {
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
    if matches!(endpoint, EndpointId::Single | EndpointId::Challenge) {
        vars.extend(DELIVERY_VARIABLES.map(String::from));
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
        if matches!(endpoint, EndpointId::Single | EndpointId::Challenge) {
            // The send's id is the caller's (`with_send_id`); the receipts url is the
            // provider's.
            vars.insert("status_callback".into(), self.status_callback.clone());
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

    /// The url this provider's templates give as `{{ status_callback }}`
    /// (`{server.public_url}/receipts/{provider}`, empty without a public url).
    pub fn set_status_callback(&mut self, url: String) {
        self.status_callback = url;
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
        if matches!(endpoint, EndpointId::Single | EndpointId::Challenge) {
            with_send_id(&mut vars, SAMPLE_SEND_ID);
        }
        // Captured values are unknown before a challenge: shown by name.
        if endpoint == EndpointId::Verify {
            for name in &self.captures {
                vars.entry(name.clone())
                    .or_insert_with(|| format!("<{name} from the challenge>"));
            }
        }
        Ok(vars)
    }
}

//! Message texts (`templates/messages/CHANNEL.LANG.hbs`), compiled per snapshot and chosen by
//! the user's language: the exact tag, then its base language, then the configured default.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use handlebars::template::Template;
use handlebars::Handlebars;

use crate::config::{Channel, MessagePart, MfaConfig, Problem};

use super::compile::registry;
use super::{parse, SmsInfo, Vars};

/// The texts of one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The language chosen (as in the file name).
    pub language: String,
    /// The SMS text, or the email's text body.
    pub text: String,
    pub subject: Option<String>,
    pub html: Option<String>,
}

pub(super) struct Messages {
    /// Plain texts (SMS, subject, text body): values as they are.
    plain: Handlebars<'static>,
    /// HTML bodies: values HTML-escaped.
    html: Handlebars<'static>,
    /// Lowercased language tag → the tag as written, for the channel in use.
    languages: BTreeMap<String, String>,
    /// Compiled (channel, lowercased language, part).
    parts: BTreeSet<(&'static str, String, MessagePart)>,
    default_language: String,
    app_name: String,
    ttl_minutes: String,
    pub(super) warnings: Vec<String>,
}

/// The placeholders a message text may use.
fn provided() -> BTreeSet<String> {
    ["code", "ttl_minutes", "app_name"]
        .into_iter()
        .map(String::from)
        .collect()
}

/// A message text, parsed. The shipped texts are parsed once per process: every load (start,
/// each reload, each admin preview and check) would otherwise parse them again, and parsing
/// them was most of a load's time (FUZZING.md).
fn parse_text(source: &str) -> Result<Template, String> {
    static SHIPPED: OnceLock<HashMap<String, Template>> = OnceLock::new();
    let shipped = SHIPPED.get_or_init(|| {
        let provided = provided();
        crate::config::shipped_texts()
            .into_iter()
            .filter_map(|t| Some((t.source.clone(), parse(&t.source, &provided).ok()?)))
            .collect()
    });
    match shipped.get(source) {
        Some(tpl) => Ok(tpl.clone()),
        None => parse(source, &provided()),
    }
}

fn template_name(channel: Channel, language: &str, part: MessagePart) -> String {
    format!(
        "{}.{}.{part:?}",
        channel.name(),
        language.to_ascii_lowercase()
    )
}

impl Messages {
    /// No texts (used while reporting other problems).
    pub(super) fn empty(mfa: &MfaConfig) -> Messages {
        Messages {
            plain: registry(super::encoding::none),
            html: registry(handlebars::html_escape),
            languages: BTreeMap::new(),
            parts: BTreeSet::new(),
            default_language: mfa.messages.default_language.clone(),
            app_name: mfa.messages.app_name.clone(),
            ttl_minutes: mfa.code.ttl.as_secs().div_ceil(60).to_string(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn compile(mfa: &MfaConfig) -> Result<Messages, Vec<Problem>> {
        let mut m = Messages::empty(mfa);
        let mut problems = Vec::new();
        for text in &mfa.messages.texts {
            let tpl = match parse_text(&text.source) {
                Ok(t) => t,
                Err(message) => {
                    problems.push(Problem {
                        path: text.path.clone(),
                        message,
                    });
                    continue;
                }
            };
            let name = template_name(text.channel, &text.language, text.part);
            match text.part {
                MessagePart::Html => m.html.register_template(&name, tpl),
                _ => m.plain.register_template(&name, tpl),
            }
            m.parts.insert((
                text.channel.name(),
                text.language.to_ascii_lowercase(),
                text.part,
            ));
            if text.channel == mfa.channel.texts() {
                m.languages
                    .insert(text.language.to_ascii_lowercase(), text.language.clone());
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let default = mfa.messages.default_language.to_ascii_lowercase();
        if !m.languages.contains_key(&default) {
            problems.push(Problem {
                path: "mfa.messages.default_language".into(),
                message: format!(
                    "there is no {} message in '{}' (templates/messages/{}.{}.hbs); languages found: {}",
                    mfa.channel.texts().name(),
                    mfa.messages.default_language,
                    mfa.channel.texts().name(),
                    mfa.messages.default_language,
                    m.languages.values().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
            return Err(problems);
        }
        // What a text costs with a code of the configured length.
        if mfa.channel == Channel::Sms {
            let sample_code = "0".repeat(mfa.code.length as usize);
            for language in m.languages.values() {
                if let Ok(message) = m.render(Channel::Sms, Some(language), &sample_code) {
                    if let Some(w) = SmsInfo::of(&message.text).warning() {
                        m.warnings
                            .push(format!("templates/messages/sms.{language}.hbs: {w}"));
                    }
                }
            }
        }
        Ok(m)
    }

    /// The language a requested tag resolves to: exact tag, base language, default.
    pub(super) fn resolve(&self, requested: Option<&str>) -> &str {
        if let Some(tag) = requested.map(|t| t.trim().replace('_', "-").to_ascii_lowercase()) {
            if let Some(found) = self.languages.get(&tag) {
                return found;
            }
            if let Some(base) = tag.split('-').next() {
                if let Some(found) = self.languages.get(base) {
                    return found;
                }
            }
        }
        self.languages
            .get(&self.default_language.to_ascii_lowercase())
            .map(String::as_str)
            .unwrap_or(&self.default_language)
    }

    pub(super) fn render(
        &self,
        channel: Channel,
        requested: Option<&str>,
        code: &str,
    ) -> Result<Message, String> {
        // Voice and WhatsApp carry the SMS texts.
        let channel = channel.texts();
        let language = self.resolve(requested).to_string();
        let lower = language.to_ascii_lowercase();
        let mut vars = Vars::new();
        vars.insert("code".into(), code.to_string());
        vars.insert("ttl_minutes".into(), self.ttl_minutes.clone());
        vars.insert("app_name".into(), self.app_name.clone());
        let has = |part| self.parts.contains(&(channel.name(), lower.clone(), part));
        let render = |registry: &Handlebars<'static>, part| {
            registry
                .render(&template_name(channel, &language, part), &vars)
                .map_err(|e| format!("message {}.{language}: {e}", channel.name()))
        };
        let text = render(&self.plain, MessagePart::Text)?;
        let (text, subject, html) = match channel {
            Channel::Sms | Channel::Voice | Channel::Whatsapp => {
                (text.trim().to_string(), None, None)
            }
            Channel::Email => {
                let text = text.trim_end().to_string() + "\n";
                let subject = render(&self.plain, MessagePart::Subject)?;
                let html = if has(MessagePart::Html) {
                    render(&self.html, MessagePart::Html)?
                } else {
                    text_as_html(&text)
                };
                (text, Some(subject.trim().to_string()), Some(html))
            }
        };
        Ok(Message {
            language,
            text,
            subject,
            html,
        })
    }
}

/// An email's text body as HTML, for a language without an HTML file.
fn text_as_html(text: &str) -> String {
    let escaped = handlebars::html_escape(text.trim_end());
    format!("<pre style=\"font-family: sans-serif; white-space: pre-wrap\">{escaped}</pre>")
}

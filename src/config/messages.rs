//! `mfa.messages` (default language, application name) and the message texts of the library
//! (`templates/messages/CHANNEL.LANG.hbs`).

use serde_yaml::Value;

use super::library::Library;
use super::walk::{string, Fields, Problems};
use crate::domain::Channel;

/// `mfa.messages` and the message files.
#[derive(Debug, Clone)]
pub struct MessagesConfig {
    pub default_language: String,
    pub app_name: String,
    pub texts: Vec<MessageText>,
}

/// One message template: an SMS text, or a part of an email.
#[derive(Debug, Clone)]
pub struct MessageText {
    pub channel: Channel,
    /// The language tag as in the file name (`fr`, `de-CH`).
    pub language: String,
    pub part: MessagePart,
    /// The file, for problems.
    pub path: String,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessagePart {
    /// The SMS text, or the email's text body.
    Text,
    Subject,
    Html,
}

/// A language tag as message file names use it: 2 or 3 letters, then `-` and 2 to 8 letters or
/// digits any number of times (`en`, `de-CH`, `zh-Hant-TW`).
pub(super) fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let language = parts.next().unwrap_or_default();
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(super) fn parse_messages(
    value: Option<&Value>,
    library: &Library,
    p: &mut Problems,
) -> MessagesConfig {
    let mut config = MessagesConfig {
        default_language: "en".into(),
        app_name: "mfa-bridge".into(),
        texts: Vec::new(),
    };
    if let Some(mut f) = value.and_then(|v| Fields::of(p, "mfa.messages", v)) {
        if let Some(v) = f.get("default_language") {
            let path = f.path_of("default_language");
            if let Some(tag) = string(p, &path, v) {
                if is_language_tag(&tag) {
                    config.default_language = tag;
                } else {
                    p.push(
                        &path,
                        format!("'{tag}' is not a language tag such as en or de-CH"),
                    );
                }
            }
        }
        if let Some(v) = f.get("app_name") {
            let path = f.path_of("app_name");
            if let Some(name) = string(p, &path, v) {
                if name.trim().is_empty() || name.chars().any(char::is_control) {
                    p.push(&path, "must be a non-empty name on one line");
                } else {
                    config.app_name = name;
                }
            }
        }
        f.finish(p);
    }
    for (name, file) in library.messages() {
        // CHANNEL.LANG[.html]
        let (stem, html) = match name.strip_suffix(".html") {
            Some(stem) => (stem, true),
            None => (name, false),
        };
        let Some((channel, language)) = stem.split_once('.') else {
            p.push(
                &file.path,
                "a message file is named CHANNEL.LANG.hbs, e.g. sms.fr.hbs",
            );
            continue;
        };
        let Some(channel) = Channel::from_name(channel) else {
            p.push(
                &file.path,
                format!("unknown channel '{channel}' in the file name (expected sms or email)"),
            );
            continue;
        };
        if !is_language_tag(language) {
            p.push(
                &file.path,
                format!("'{language}' in the file name is not a language tag such as en or de-CH"),
            );
            continue;
        }
        let text = |part, source: &str| MessageText {
            channel,
            language: language.to_string(),
            part,
            path: file.path.clone(),
            source: source.to_string(),
        };
        match (channel, html) {
            (Channel::Voice | Channel::Whatsapp, _) => {
                p.push(
                    &file.path,
                    format!(
                        "{} sends the SMS texts: name the file sms.{language}.hbs",
                        channel.name()
                    ),
                );
            }
            (Channel::Sms, true) => {
                p.push(&file.path, "an SMS has no HTML body");
            }
            (Channel::Sms, false) => config.texts.push(text(MessagePart::Text, &file.text)),
            (Channel::Email, true) => config.texts.push(text(MessagePart::Html, &file.text)),
            (Channel::Email, false) => {
                let mut lines = file.text.splitn(2, '\n');
                let first = lines.next().unwrap_or("").trim_end_matches('\r');
                let rest = lines.next().unwrap_or("");
                let Some(subject) = first.strip_prefix("Subject:") else {
                    p.push(
                        &file.path,
                        "an email message starts with a line 'Subject: ...', then a blank line, then the text",
                    );
                    continue;
                };
                let body = rest
                    .strip_prefix("\r\n")
                    .or_else(|| rest.strip_prefix('\n'))
                    .unwrap_or(rest);
                config
                    .texts
                    .push(text(MessagePart::Subject, subject.trim()));
                config.texts.push(text(MessagePart::Text, body));
            }
        }
    }
    config
}

/// The texts of the shipped message files (compiled in), as a configuration without a
/// `templates/messages/` folder of its own has them.
pub fn shipped_texts() -> Vec<MessageText> {
    parse_messages(None, &Library::builtin(), &mut Problems::default()).texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        for ok in ["en", "fr", "de-CH", "zh-Hant-TW", "gsw"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english1", "fr_FR", "fr-", "../x"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}

//! `log`: how the daemon writes its log (to standard error). `text` (the default) is for a
//! person at a terminal or journalctl; `json` is for a log collector: one JSON object per line,
//! whatever a message holds.

use serde_yaml::Value;

use super::walk::{string, Fields, Problems};

/// The shape of each log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines, colored on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `time`, `level`, `target`, `message`, `fields`, `spans`.
    Json,
}

impl LogFormat {
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    pub format: LogFormat,
}

pub(super) fn parse_log(v: Option<&Value>, p: &mut Problems) -> LogConfig {
    let Some(v) = v else {
        return LogConfig::default();
    };
    let Some(mut f) = Fields::of(p, "log", v) else {
        return LogConfig::default();
    };
    let format = match f.get("format") {
        None => LogFormat::Text,
        Some(v) => match string(p, "log.format", v).as_deref() {
            Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                p.push(
                    "log.format",
                    format!("unknown format '{other}' (expected: text or json)"),
                );
                LogFormat::Text
            }
            None => LogFormat::Text,
        },
    };
    f.finish(p);
    LogConfig { format }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> (LogConfig, Vec<String>) {
        let value: Value = serde_yaml::from_str(yaml).unwrap();
        let mut p = Problems(Vec::new());
        let config = parse_log(value.get("log"), &mut p);
        (
            config,
            p.0.iter()
                .map(|x| format!("{}: {}", x.path, x.message))
                .collect(),
        )
    }

    #[test]
    fn the_format_is_text_unless_json_is_asked_for() {
        assert_eq!(parse("other: 1").0.format, LogFormat::Text);
        assert_eq!(parse("log: {}").0.format, LogFormat::Text);
        assert_eq!(parse("log: {format: json}").0.format, LogFormat::Json);
        assert_eq!(parse("log: {format: text}").1, Vec::<String>::new());
    }

    #[test]
    fn an_unknown_format_or_key_is_named() {
        assert_eq!(
            parse("log: {format: xml}").1,
            ["log.format: unknown format 'xml' (expected: text or json)"]
        );
        assert!(parse("log: {level: debug}").1[0].contains("level"));
    }
}

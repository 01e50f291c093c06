//! Reading YAML text into a tree, bounded: the one way a configuration's text (platform.yml, a
//! preset file) becomes a [`Value`].
//!
//! The YAML scanner (`unsafe-libyaml`, under `serde_yaml`) spends time in proportion to the
//! depth of open flow collections (`{` and `[`) for every token, so a text of nested braces
//! costs the square of its length: fuzzing found 22 KB of `{` taking 15 s of a core (FUZZING.md).
//! Flow collections in a real configuration nest a few levels deep, so text nested deeper than
//! [`MAX_FLOW_DEPTH`] is refused before the parser sees it, which keeps every parse linear.

use serde_yaml::Value;

/// The deepest nesting of flow collections (`{…}`, `[…]`) a configuration may have.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Why a text is not read.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    #[error("flow collections ({{ and [) nested more than {MAX_FLOW_DEPTH} deep")]
    TooDeep { line: usize },
    #[error("not valid YAML: {0}")]
    Syntax(#[from] serde_yaml::Error),
}

impl YamlError {
    /// Where the problem is, for a problem's path: `line L column C` when known.
    pub fn location(&self) -> Option<String> {
        match self {
            YamlError::TooDeep { line } => Some(format!("line {line}")),
            YamlError::Syntax(e) => e
                .location()
                .map(|l| format!("line {} column {}", l.line(), l.column())),
        }
    }
}

/// `text` as a YAML tree, refused when its flow collections nest deeper than
/// [`MAX_FLOW_DEPTH`].
pub fn parse(text: &str) -> Result<Value, YamlError> {
    check_depth(text)?;
    Ok(serde_yaml::from_str(text)?)
}

/// Follows the flow collections of `text` as YAML opens them: a `{` or `[` opens one where a
/// node starts (after `: `, `- `, `? `, at the start of a line, or anywhere inside another flow
/// collection, outside quotes and comments); a brace inside a plain scalar of a block (a
/// template's `{{ code }}` in a URL) does not. Conservative: what it counts deeper than YAML
/// would only ever refuse text nested absurdly deep anyway.
fn check_depth(text: &str) -> Result<(), YamlError> {
    let mut depth = 0usize;
    let mut line = 1usize;
    // Whether the next non-blank character starts a node (where YAML reads indicators).
    let mut node_start = true;
    let mut chars = text.chars().peekable();
    let mut previous = '\n';
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                line += 1;
                node_start = true;
            }
            ' ' | '\t' | '\r' => {}
            '#' if previous.is_whitespace() => {
                // A comment, to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
                node_start = true;
                previous = '\n';
                continue;
            }
            '\'' | '"' if node_start || depth > 0 && previous_is_separator(previous) => {
                line += skip_quoted(&mut chars, c);
                node_start = false;
            }
            '{' | '[' if node_start || depth > 0 => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Err(YamlError::TooDeep { line });
                }
                node_start = true;
            }
            '}' | ']' if depth > 0 => {
                depth -= 1;
                node_start = false;
            }
            ',' if depth > 0 => node_start = true,
            ':' | '-' | '?' if chars.peek().is_none_or(|n| n.is_whitespace()) => {
                node_start = true;
            }
            _ => node_start = false,
        }
        previous = c;
    }
    Ok(())
}

fn previous_is_separator(previous: char) -> bool {
    matches!(previous, '{' | '[' | ',' | ':') || previous.is_whitespace()
}

/// Skips a quoted scalar opened by `quote`; returns the line breaks it held.
fn skip_quoted(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, quote: char) -> usize {
    let mut lines = 0;
    while let Some(c) = chars.next() {
        match c {
            '\n' => lines += 1,
            // An escape: the next character is part of the scalar.
            '\\' if quote == '"' => lines += usize::from(chars.next() == Some('\n')),
            // `''` is a quote inside a single-quoted scalar.
            '\'' if quote == '\'' && chars.peek() == Some(&'\'') => {
                chars.next();
            }
            c if c == quote => break,
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_with_templates_and_flow_collections_is_read() {
        let text = r#"
server: { listen: '127.0.0.1:0' }   # a comment with { and [
mfa:
  endpoints:
    single:
      url: https://sms.example/{{ phone }}/send?x={{ code }}
      headers: { content-type: application/json, x-list: "[a, {b}]" }
      body: '{"to": "{{ phone }}", "it''s": [1, [2, [3]]]}'
  list: [a, {b: [c, {d: e}]}]
  json: |
    {
      "to": "{{ phone }}",
      "nested": { "it's": ["{", "["] }
    }
after: [1]
"#;
        let value = parse(text).unwrap();
        assert_eq!(value["mfa"]["list"][1]["b"][1]["d"], "e");
        assert_eq!(value["after"][0], 1);
    }

    #[test]
    fn flow_collections_nested_past_the_bound_are_refused_with_their_line() {
        let ok = format!(
            "a:\n  b: {}{}\n",
            "[".repeat(MAX_FLOW_DEPTH),
            "]".repeat(MAX_FLOW_DEPTH)
        );
        parse(&ok).unwrap();
        let deep = format!("a:\n  b: {}\n", "{".repeat(MAX_FLOW_DEPTH + 1));
        let e = parse(&deep).unwrap_err();
        assert!(matches!(e, YamlError::TooDeep { line: 2 }), "{e}");
        assert_eq!(e.location().as_deref(), Some("line 2"));
    }

    #[test]
    fn the_fuzzers_slow_input_is_refused_at_once() {
        // What AFL++ found (fuzz/target/afl/config, 2026-12-02): `storage: ` and 12 537 `{`,
        // which the YAML scanner took 6.5 s (instrumented) to reject; 100 000 took 143 s.
        let text = format!("storage: {}\nmfa: x\n", "{".repeat(100_000));
        assert!(matches!(parse(&text), Err(YamlError::TooDeep { line: 1 })));
    }

    #[test]
    fn braces_in_quotes_comments_and_plain_scalars_do_not_count() {
        let many = "{".repeat(200);
        let text = format!(
            "a: '{many}'\nb: \"{many}\"\n# {many}\nc: text with {many} inside\nd: [x, '{many}']\n"
        );
        parse(&text).unwrap();
    }
}

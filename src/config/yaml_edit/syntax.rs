//! The pieces of YAML syntax the editor reads and writes on one line: indentation, a key
//! before its colon, a comment after a value, and a value in flow style.

use serde_yaml::Value;

/// A line with something other than blanks and a comment.
pub(super) fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

pub(super) fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The key at the start of `rest` (a line without its indentation) and the byte just past its
/// colon: a plain, single-quoted or double-quoted key. None for anything else (a sequence
/// item, a complex `?` key, an anchor, a tag, a flow collection).
pub(super) fn key_of(rest: &str) -> Option<(Value, usize)> {
    let bytes = rest.as_bytes();
    let end = match bytes.first()? {
        b'\'' => closing_quote(rest, b'\'')?,
        b'"' => closing_quote(rest, b'"')?,
        b'?' | b'-' | b'{' | b'[' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`'
        | b'#' => return None,
        _ => (0..bytes.len()).find(|&i| bytes[i] == b':' && ends_token(bytes, i + 1))?,
    };
    let colon = end + rest[end..].find(':')?;
    if !rest[end..colon].trim().is_empty() || !ends_token(bytes, colon + 1) {
        return None;
    }
    let text = rest[..end].trim_end();
    if text.is_empty() || text.contains(" #") {
        return None;
    }
    let key: Value = serde_yaml::from_str(text).ok()?;
    (!key.is_mapping() && !key.is_sequence()).then_some((key, colon + 1))
}

/// Whether the byte at `i` ends a `:` indicator: a blank, a line break, or the end.
fn ends_token(bytes: &[u8], i: usize) -> bool {
    matches!(bytes.get(i), None | Some(b' ' | b'\t' | b'\n' | b'\r'))
}

/// One past the quote that closes the quoted scalar opening `s` (`''` and `\"` are escapes).
fn closing_quote(s: &str, quote: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The comment closing `after` (what follows a key's colon, without the line break), with
/// the blanks before it; empty when there is none. Quoted scalars are skipped: where the value
/// opens with a quote, and inside a flow collection.
pub(super) fn comment_of(after: &str) -> &str {
    let value = after.trim_start();
    let skipped = after.len() - value.len();
    let bytes = value.as_bytes();
    let flow = matches!(bytes.first(), Some(b'{' | b'['));
    let mut i = 0;
    while i < bytes.len() {
        let opens = i == 0 || (flow && matches!(bytes[i - 1], b'{' | b'[' | b',' | b' ' | b'\t'));
        match bytes[i] {
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t') => {
                return &after[after[..skipped + i].trim_end().len()..];
            }
            quote @ (b'\'' | b'"') if opens => {
                i += closing_quote(&value[i..], quote).unwrap_or(bytes.len());
            }
            _ => i += 1,
        }
    }
    ""
}

/// `value` in flow style on one line (`{ a: 1, b: [x, y] }`); strings plain where they read
/// back as themselves, else double-quoted. None for a tagged value.
pub(super) fn flow(value: &Value) -> Option<String> {
    Some(match value {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_alphanumeric() || "_-./+@$~()".contains(c))
                && !s.starts_with(['-', '@'])
                && serde_yaml::from_str::<Value>(s).ok().as_ref() == Some(value);
            if plain {
                s.clone()
            } else {
                serde_json::to_string(s).ok()?
            }
        }
        Value::Sequence(items) => {
            let items: Option<Vec<String>> = items.iter().map(flow).collect();
            format!("[{}]", items?.join(", "))
        }
        Value::Mapping(m) if m.is_empty() => "{}".to_string(),
        Value::Mapping(m) => {
            let pairs: Option<Vec<String>> = m
                .iter()
                .map(|(k, v)| Some(format!("{}: {}", flow(k)?, flow(v)?)))
                .collect();
            format!("{{ {} }}", pairs?.join(", "))
        }
        Value::Tagged(_) => return None,
        scalar => serde_yaml::to_string(scalar).ok()?.trim_end().to_string(),
    })
}

/// Whether `value` holds a string a block scalar could not write safely where the editor puts
/// it: one that ends with a line break (`|+` keeps it, and would take in the blank lines after
/// the node too) or that has a line starting with a blank (an indentation indicator, counted
/// from where serde_yaml wrote it, not from where the editor does). Such a value is written
/// in flow style, its strings double-quoted.
pub(super) fn awkward(value: &Value) -> bool {
    match value {
        Value::String(s) => {
            s.contains('\n')
                && (s.ends_with('\n') || s.split('\n').any(|l| l.starts_with([' ', '\t'])))
        }
        Value::Sequence(items) => items.iter().any(awkward),
        Value::Mapping(m) => m.iter().any(|(k, v)| awkward(k) || awkward(v)),
        Value::Tagged(t) => awkward(&t.value),
        _ => false,
    }
}

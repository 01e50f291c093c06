//! A YAML document changed in place: the text of a configuration file turned into the text of
//! an intended value by patching only the nodes that differ, so that the operator's comments,
//! key order, quoting and flow or block style survive wherever the change does not reach.
//!
//! The editor reads the block structure of the text by indentation: a block mapping is a run
//! of `key: value` lines at one indentation, each entry owning the more indented lines below
//! it (and a block sequence written at the key's own indentation). Where two values differ, it
//! descends while both are block mappings; there it deletes the entries that went (with the
//! comment lines directly above them), appends the new ones after the last entry, and rewrites
//! a changed entry whole, keeping the key as written, the comment on the key line, and flow
//! style (`{ a: 1 }`) where the old value had it and the new one fits on the line. Anything it
//! cannot read as a block mapping (a flow mapping, a mapping inside a sequence) is rewritten
//! as one node at the nearest entry that holds it. A document whose top level it cannot read
//! is written anew if it has no comment to lose, and refused otherwise.
//!
//! The result is always parsed again and compared with the intended value: an edit that would
//! write anything else is refused with an [`EditError`], never written.

use serde_yaml::{Mapping, Value};

/// Why a document could not be edited into the intended value: nothing is to be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EditError(pub String);

/// The longest line a flow-style value is kept on (or half as long again as the line was, if
/// the operator wrote a longer one); a longer one is written in block style.
const MAX_FLOW_LINE: usize = 100;

/// `text` (a YAML document) changed so that it parses to `intended`, touching only the nodes
/// whose value changes. Answers `text` itself when it already parses to `intended`.
pub fn rewrite(text: &str, intended: &Value) -> Result<String, EditError> {
    let old: Value = serde_yaml::from_str(text)
        .map_err(|e| EditError(format!("the file is not valid YAML: {e}")))?;
    if &old == intended {
        return Ok(text.to_string());
    }
    let document = Document::new(text);
    let mut edits = Vec::new();
    let patched = match (&old, intended) {
        (Value::Mapping(o), Value::Mapping(n)) if !n.is_empty() => document
            .mapping_edits(
                document.body_start(),
                document.lines.len(),
                o,
                n,
                &mut edits,
            )
            .ok()
            .map(|()| document.apply(edits))
            .transpose()?,
        _ => None,
    };
    let result = match patched {
        Some(text) => text,
        // Not a layout this editor reads: written anew only when no comment would be lost.
        None if !text.contains('#') => {
            serde_yaml::to_string(intended).map_err(|e| EditError(e.to_string()))?
        }
        None => {
            return Err(EditError(
                "its layout is not one this editor reads (the top level must be a block \
                 mapping, `key: value` lines), and writing it anew would lose its comments"
                    .into(),
            ))
        }
    };
    let reread: Value = serde_yaml::from_str(&result)
        .map_err(|e| EditError(format!("the edited file would not be valid YAML: {e}")))?;
    if &reread != intended {
        return Err(EditError(
            "the edited file would not read back as the intended configuration".into(),
        ));
    }
    Ok(result)
}

/// One entry of a block mapping as written: its key, and the lines it spans.
#[derive(Debug)]
struct Entry {
    key: Value,
    /// The key's line.
    line: usize,
    /// One past its last content line (the comment and blank lines after it are not its own).
    end: usize,
    indent: usize,
    /// The byte just past the `:` after the key, in the key's line.
    colon: usize,
}

/// How a rewritten collection is laid out.
#[derive(Debug, Clone, Copy)]
struct Style {
    /// How much deeper than its key a block collection is indented.
    step: usize,
    /// The longest line a flow-style collection is written on (0: block style).
    flow_width: usize,
}

/// A replacement of the lines `start..end` of the original text (an insertion when equal).
#[derive(Debug)]
struct Edit {
    start: usize,
    end: usize,
    lines: Vec<String>,
}

/// The text cut into lines, each with its line break.
struct Document<'a> {
    lines: Vec<&'a str>,
    /// The line break the file uses.
    newline: &'static str,
}

impl<'a> Document<'a> {
    fn new(text: &'a str) -> Document<'a> {
        Document {
            lines: text.split_inclusive('\n').collect(),
            newline: if text.contains("\r\n") { "\r\n" } else { "\n" },
        }
    }

    /// The first line of the document's content: after a leading `---` (and the directives
    /// before it), if any.
    fn body_start(&self) -> usize {
        let first = self.lines.iter().position(|l| is_content(l));
        match first {
            Some(i) if self.lines[i].trim_end() == "---" || self.lines[i].starts_with('%') => self
                .lines
                .iter()
                .position(|l| l.trim_end() == "---")
                .map_or(i, |d| d + 1),
            _ => 0,
        }
    }

    /// The entries of the block mapping on lines `from..to`, if these lines are one.
    fn entries(&self, from: usize, to: usize) -> Option<Vec<Entry>> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut indent = None;
        for (i, line) in self.lines.iter().enumerate().take(to).skip(from) {
            if !is_content(line) {
                continue;
            }
            let own = indent_of(line);
            let level = *indent.get_or_insert(own);
            let rest = &line[own..];
            if own < level || rest.starts_with('\t') || line.trim_end() == "---" {
                return None;
            }
            let sequence_item = rest.starts_with("- ") || rest.trim_end() == "-";
            if own > level || sequence_item {
                let last = entries.last_mut()?;
                if own == level && !self.value_is_below(last) {
                    return None;
                }
                last.end = i + 1;
                continue;
            }
            let (key, colon) = key_of(rest)?;
            entries.push(Entry {
                key,
                line: i,
                end: i + 1,
                indent: own,
                colon: own + colon,
            });
        }
        Some(entries)
    }

    /// Whether `entry`'s value is written on the lines below its key (nothing but a comment
    /// after the colon).
    fn value_is_below(&self, entry: &Entry) -> bool {
        let after = self.lines[entry.line][entry.colon..].trim();
        after.is_empty() || after.starts_with('#')
    }

    /// The edits that turn the block mapping on lines `from..to`, which holds `old`, into
    /// `new` (not empty). Err when the lines are not a block mapping this editor reads.
    fn mapping_edits(
        &self,
        from: usize,
        to: usize,
        old: &Mapping,
        new: &Mapping,
        edits: &mut Vec<Edit>,
    ) -> Result<(), ()> {
        let entries = self.entries(from, to).ok_or(())?;
        let found = |key: &Value| entries.iter().filter(|e| &e.key == key).count() == 1;
        if entries.len() != old.len() || !old.keys().all(found) {
            return Err(());
        }
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Err(());
        };
        let mut own = Vec::new();
        for entry in &entries {
            let before = old.get(&entry.key).ok_or(())?;
            match new.get(&entry.key) {
                None => own.push(Edit {
                    start: self.attached_comments(entry, entry.line == first.line),
                    end: entry.end,
                    lines: Vec::new(),
                }),
                Some(after) if after == before => {}
                Some(after) => self.value_edits(entry, before, after, &mut own)?,
            }
        }
        let mut added = Vec::new();
        for (key, value) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
            let written = format!("{}{}:", " ".repeat(first.indent), flow(key).ok_or(())?);
            let style = Style {
                step: 2,
                flow_width: 0,
            };
            added.extend(self.render_entry(&written, first.indent, style, value, "")?);
        }
        if !added.is_empty() {
            own.push(Edit {
                start: last.end,
                end: last.end,
                lines: added,
            });
        }
        edits.extend(own);
        Ok(())
    }

    /// The edits that change `entry`'s value from `old` to `new`: within it when both are
    /// block mappings this editor reads, else the entry rewritten whole.
    fn value_edits(
        &self,
        entry: &Entry,
        old: &Value,
        new: &Value,
        edits: &mut Vec<Edit>,
    ) -> Result<(), ()> {
        if let (Value::Mapping(o), Value::Mapping(n)) = (old, new) {
            if !o.is_empty() && !n.is_empty() && self.value_is_below(entry) {
                let mut within = Vec::new();
                if self
                    .mapping_edits(entry.line + 1, entry.end, o, n, &mut within)
                    .is_ok()
                {
                    edits.extend(within);
                    return Ok(());
                }
            }
        }
        let line = self.lines[entry.line];
        let after = line[entry.colon..].trim_end_matches(['\n', '\r']);
        let value_text = after.trim_start();
        let flow_style = value_text.starts_with('{') || value_text.starts_with('[');
        let comment = comment_of(after);
        let step = (entry.line + 1..entry.end)
            .find(|&i| is_content(self.lines[i]))
            .map(|i| indent_of(self.lines[i]).saturating_sub(entry.indent))
            .filter(|&s| s > 0 && self.value_is_below(entry))
            .unwrap_or(2);
        let width = MAX_FLOW_LINE.max(line.trim_end().len() * 3 / 2);
        let style = Style {
            step,
            flow_width: if flow_style { width } else { 0 },
        };
        let lines = self.render_entry(&line[..entry.colon], entry.indent, style, new, comment)?;
        edits.push(Edit {
            start: entry.line,
            end: entry.end,
            lines,
        });
        Ok(())
    }

    /// The first line of `entry` with the comment lines directly above it at its indentation
    /// (none for the first entry of a mapping: those comments speak of the mapping).
    fn attached_comments(&self, entry: &Entry, first: bool) -> usize {
        let mut start = entry.line;
        while !first && start > 0 {
            let above = self.lines[start - 1];
            if above.trim_start().starts_with('#') && indent_of(above) == entry.indent {
                start -= 1;
            } else {
                break;
            }
        }
        start
    }

    /// The lines of an entry: `written` (the indentation, key and colon), then `value` on the
    /// same line when it is a scalar on one line, an empty collection, or a collection in flow
    /// style that fits `style.flow_width`; else in block style below, `style.step` deeper than
    /// `indent`.
    fn render_entry(
        &self,
        written: &str,
        indent: usize,
        style: Style,
        value: &Value,
        comment: &str,
    ) -> Result<Vec<String>, ()> {
        let nl = self.newline;
        let collection = value.is_mapping() || value.is_sequence();
        let inline = match value {
            Value::Mapping(m) if m.is_empty() => Some("{}".to_string()),
            Value::Sequence(s) if s.is_empty() => Some("[]".to_string()),
            _ if collection => flow(value)
                .filter(|f| written.len() + 1 + f.len() + comment.len() <= style.flow_width),
            _ => None,
        };
        if let Some(text) = inline {
            return Ok(vec![format!("{written} {text}{comment}{nl}")]);
        }
        let block = serde_yaml::to_string(value).map_err(|_| ())?;
        let mut lines = block.lines();
        let mut out = Vec::new();
        if collection {
            out.push(format!("{written}{comment}{nl}"));
            let pad = " ".repeat(indent + style.step);
            out.extend(lines.map(|l| format!("{pad}{l}{nl}")));
        } else {
            let head = lines.next().ok_or(())?;
            out.push(format!("{written} {head}{comment}{nl}"));
            let pad = " ".repeat(indent);
            out.extend(lines.map(|l| format!("{pad}{l}{nl}")));
        }
        Ok(out)
    }

    /// The original text with `edits` (disjoint line ranges) made.
    fn apply(&self, mut edits: Vec<Edit>) -> Result<String, EditError> {
        edits.sort_by_key(|e| (e.start, e.end));
        let mut out = String::new();
        let mut next = 0;
        for edit in edits {
            if edit.start < next {
                return Err(EditError("two changes of the file overlap".into()));
            }
            self.lines[next..edit.start]
                .iter()
                .for_each(|l| out.push_str(l));
            if !out.is_empty() && !out.ends_with('\n') {
                out.push_str(self.newline);
            }
            edit.lines.iter().for_each(|l| out.push_str(l));
            next = edit.end;
        }
        self.lines[next..].iter().for_each(|l| out.push_str(l));
        Ok(out)
    }
}

/// A line with something other than blanks and a comment.
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && !t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The key at the start of `rest` (a line without its indentation) and the byte just past its
/// colon: a plain, single-quoted or double-quoted key. None for anything else (a sequence
/// item, a complex `?` key, an anchor, a tag, a flow collection).
fn key_of(rest: &str) -> Option<(Value, usize)> {
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
fn comment_of(after: &str) -> &str {
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
fn flow(value: &Value) -> Option<String> {
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

#[cfg(test)]
mod tests;

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
//! style (`{ a: 1 }`) where the old value had it and the new one fits on the line. A block
//! sequence that keeps its length is edited item by item, within an item written as
//! `- key: value` lines. Anything else (a flow mapping, a sequence that grows or shrinks) is
//! rewritten as one node at the nearest entry or item that holds it. A document whose top
//! level it cannot read is written anew if it has no comment to lose, and refused otherwise.
//!
//! The result is always parsed again and compared with the intended value: an edit that would
//! write anything else is refused with an [`EditError`], never written.

use serde_yaml::{Mapping, Value};

use syntax::{awkward, comment_of, flow, indent_of, is_content, key_of};

mod syntax;

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
    let old: Value =
        super::yaml::parse(text).map_err(|e| EditError(format!("the file cannot be read: {e}")))?;
    if &old == intended {
        return Ok(text.to_string());
    }
    let document = Document::new(text);
    let mut edits = Vec::new();
    let patched = match (&old, intended) {
        (Value::Mapping(o), Value::Mapping(n)) if !n.is_empty() => document
            .mapping_edits(
                Span {
                    from: document.body_start(),
                    to: document.lines.len(),
                    item: false,
                },
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

/// Lines `from..to` of the text; `item` when the first is a sequence item's dash line.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: usize,
    to: usize,
    item: bool,
}

impl Span {
    /// The lines below `entry`'s key that its value holds.
    fn below(entry: &Entry) -> Span {
        Span {
            from: entry.line + 1,
            to: entry.end,
            item: false,
        }
    }
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

    /// The entries of the block mapping on `span`, if its lines are one.
    fn entries(&self, span: Span) -> Option<Vec<Entry>> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut indent = None;
        for (i, line) in self.lines.iter().enumerate().take(span.to).skip(span.from) {
            if !is_content(line) {
                continue;
            }
            let own = match indent_of(line) {
                // `- key: value`: the mapping starts after the dash and its blanks.
                dash if span.item && i == span.from => {
                    let after = line.get(dash + 1..)?;
                    let blanks = after.len() - after.trim_start_matches(' ').len();
                    if blanks == 0 || !is_content(&after[blanks..]) {
                        return None;
                    }
                    dash + 1 + blanks
                }
                own => own,
            };
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

    /// The edits that turn the block mapping on `span`, which holds `old`, into `new` (not
    /// empty). Err when the lines are not a block mapping this editor reads.
    fn mapping_edits(
        &self,
        span: Span,
        old: &Mapping,
        new: &Mapping,
        edits: &mut Vec<Edit>,
    ) -> Result<(), ()> {
        let entries = self.entries(span).ok_or(())?;
        let found = |key: &Value| entries.iter().filter(|e| &e.key == key).count() == 1;
        if entries.len() != old.len() || !old.keys().all(found) {
            return Err(());
        }
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return Err(());
        };
        if span.item && !new.contains_key(&first.key) {
            // The entry on the dash line: its removal would take the dash with it.
            return Err(());
        }
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
                    .mapping_edits(Span::below(entry), o, n, &mut within)
                    .is_ok()
                {
                    edits.extend(within);
                    return Ok(());
                }
            }
        }
        if let (Value::Sequence(o), Value::Sequence(n)) = (old, new) {
            if o.len() == n.len() && self.value_is_below(entry) {
                let mut within = Vec::new();
                if self
                    .sequence_edits(Span::below(entry), o, n, &mut within)
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
        let new = &ordered_like(new, old);
        let lines = self.render_entry(&line[..entry.colon], entry.indent, style, new, comment)?;
        edits.push(Edit {
            start: entry.line,
            end: entry.end,
            lines,
        });
        Ok(())
    }

    /// The edits that turn the block sequence on `span`, which holds `old`, into `new` of the
    /// same length: within an item that is a block mapping on its dash line (`- key: value`)
    /// this editor reads, else each changed item rewritten whole.
    fn sequence_edits(
        &self,
        span: Span,
        old: &[Value],
        new: &[Value],
        edits: &mut Vec<Edit>,
    ) -> Result<(), ()> {
        let items = self.items(span).ok_or(())?;
        if items.len() != old.len() {
            return Err(());
        }
        for ((item, before), after) in items.into_iter().zip(old).zip(new) {
            if before == after {
                continue;
            }
            if let (Value::Mapping(o), Value::Mapping(n)) = (before, after) {
                let mut within = Vec::new();
                if !o.is_empty()
                    && !n.is_empty()
                    && self.mapping_edits(item, o, n, &mut within).is_ok()
                {
                    edits.extend(within);
                    continue;
                }
            }
            let pad = " ".repeat(indent_of(self.lines[item.from]));
            let nl = self.newline;
            let lines = if awkward(after) {
                vec![format!("{pad}- {}{nl}", flow(after).ok_or(())?)]
            } else {
                let block =
                    serde_yaml::to_string(&Value::Sequence(vec![after.clone()])).map_err(|_| ())?;
                block.lines().map(|l| format!("{pad}{l}{nl}")).collect()
            };
            edits.push(Edit {
                start: item.from,
                end: item.to,
                lines,
            });
        }
        Ok(())
    }

    /// The items of the block sequence on `span`, each from its dash line to its last content
    /// line, if the lines are one.
    fn items(&self, span: Span) -> Option<Vec<Span>> {
        let mut items: Vec<Span> = Vec::new();
        let mut indent = None;
        for (i, line) in self.lines.iter().enumerate().take(span.to).skip(span.from) {
            if !is_content(line) {
                continue;
            }
            let own = indent_of(line);
            let level = *indent.get_or_insert(own);
            let rest = &line[own..];
            if own < level || rest.starts_with('\t') {
                return None;
            }
            if own > level {
                items.last_mut()?.to = i + 1;
            } else if rest.starts_with("- ") || rest.trim_end() == "-" {
                items.push(Span {
                    from: i,
                    to: i + 1,
                    item: true,
                });
            } else {
                return None;
            }
        }
        Some(items)
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
            // On one line whatever its length: a block scalar could be misread here.
            _ if awkward(value) => flow(value),
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

/// `new` with the keys of each of its mappings in the order `old` has them where it has them
/// (the keys it lacks after): a node rewritten whole keeps the operator's order.
fn ordered_like(new: &Value, old: &Value) -> Value {
    match (new, old) {
        (Value::Mapping(n), Value::Mapping(o)) => {
            let kept = o
                .iter()
                .filter_map(|(k, ov)| n.get(k).map(|nv| (k.clone(), ordered_like(nv, ov))));
            let added = n.iter().filter(|(k, _)| !o.contains_key(*k));
            Value::Mapping(
                kept.chain(added.map(|(k, v)| (k.clone(), v.clone())))
                    .collect(),
            )
        }
        (Value::Sequence(n), Value::Sequence(o)) => Value::Sequence(
            n.iter()
                .enumerate()
                .map(|(i, nv)| {
                    o.get(i)
                        .map_or_else(|| nv.clone(), |ov| ordered_like(nv, ov))
                })
                .collect(),
        ),
        _ => new.clone(),
    }
}

#[cfg(test)]
mod tests;

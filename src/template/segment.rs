//! The path segments of a url template that hold values ([`PathSlot`]), and the check that a
//! rendered url keeps each of them a segment.
//!
//! Percent-encoding keeps a value inside its segment (it can hold no `/`, `?` or `#`), but not
//! every segment survives: URL normalisation removes a `.` segment and a `..` one with the segment
//! before it (`%2e` counts as a dot), and servers merge an empty one (`//`) into its neighbour. So
//! `https://p.example/users/{{ id }}/codes` with `id` = `..` would reach `/codes`. A value that
//! would leave its segment empty or a dot segment is refused instead.

use std::collections::BTreeSet;

use handlebars::Handlebars;

use super::Vars;

/// A path segment of a url template that holds variables: its index in the path, and the
/// variables in it, in the order of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathSlot {
    index: usize,
    pub(super) variables: Vec<String>,
}

/// The slots of the url template `name` (registered in `registry`, the url one) whose variables
/// are `variables`: found by rendering it with a marker for each variable (markers are letters
/// and digits, which the url encoding leaves as they are). Empty if it does not render (the
/// load reports that).
pub(super) fn path_slots(
    registry: &Handlebars<'static>,
    name: &str,
    variables: &BTreeSet<String>,
) -> Vec<PathSlot> {
    let markers: Vec<(String, String)> = variables
        .iter()
        .enumerate()
        .map(|(i, v)| (v.clone(), format!("MFABRIDGEMARKER{i}X")))
        .collect();
    let values: Vars = markers.iter().cloned().collect();
    let Ok(url) = registry.render(name, &values) else {
        return Vec::new();
    };
    path_segments(url.trim())
        .into_iter()
        .enumerate()
        .filter_map(|(index, segment)| {
            let mut found: Vec<(usize, String)> = markers
                .iter()
                .filter_map(|(v, m)| segment.find(m.as_str()).map(|at| (at, v.clone())))
                .collect();
            found.sort();
            let variables: Vec<String> = found.into_iter().map(|(_, v)| v).collect();
            (!variables.is_empty()).then_some(PathSlot { index, variables })
        })
        .collect()
}

/// The first slot that the rendered `url` leaves empty or a dot segment.
pub(super) fn broken_slot<'a>(url: &str, slots: &'a [PathSlot]) -> Option<&'a PathSlot> {
    if slots.is_empty() {
        return None;
    }
    let segments = path_segments(url);
    slots.iter().find(|slot| {
        segments
            .get(slot.index)
            .is_none_or(|segment| is_vanishing(segment))
    })
}

/// Whether normalisation drops or merges this raw segment: empty, or `.`/`..` in any spelling.
fn is_vanishing(segment: &str) -> bool {
    let s = segment.to_ascii_lowercase();
    matches!(
        s.as_str(),
        "" | "." | ".." | "%2e" | ".%2e" | "%2e." | "%2e%2e"
    )
}

/// The raw segments of a url's path (between its authority and its query or fragment), split
/// where a URL parser splits them: on `/`, and on `\` as in http and https urls.
fn path_segments(url: &str) -> Vec<&str> {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let Some(at) = rest.find(['/', '\\', '?', '#']) else {
        return Vec::new();
    };
    let Some(path) = rest[at..].strip_prefix(['/', '\\']) else {
        return Vec::new();
    };
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    path.split(['/', '\\']).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segments_of_a_url_are_those_of_its_path_only() {
        let all = path_segments;
        assert_eq!(all("https://h.example/a/b?x=/y#/z"), ["a", "b"]);
        assert_eq!(all("https://h.example/"), [""]);
        assert_eq!(all("https://h.example?x=/y"), Vec::<&str>::new());
        assert_eq!(all("https://h.example/a\\b//c"), ["a", "b", "", "c"]);
    }

    #[test]
    fn empty_and_dot_segments_in_any_spelling_vanish() {
        for s in ["", ".", "..", "%2e", "%2E", ".%2E", "%2e.", "%2E%2e"] {
            assert!(is_vanishing(s), "{s:?}");
        }
        for s in ["...", "%252e", ".a", "%2e%2e%2e", "x"] {
            assert!(!is_vanishing(s), "{s:?}");
        }
    }
}

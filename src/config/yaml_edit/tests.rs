use proptest::prelude::*;
use serde_yaml::{Mapping, Value};

use super::*;

/// The shipped, commented configuration.
const SHIPPED: &str = include_str!("../../../platform.yml");

fn parse(text: &str) -> Value {
    serde_yaml::from_str(text).expect("valid YAML")
}

/// The value at the dotted `path` (a number is an item of a sequence), made a mapping on the
/// way where needed.
fn at<'a>(value: &'a mut Value, path: &str) -> &'a mut Value {
    path.split('.').fold(value, |v, key| {
        let index = key.parse::<usize>().ok();
        let items = v.as_sequence().map_or(0, |s| s.len());
        if let (Some(i), true) = (index, index < Some(items)) {
            return &mut v.as_sequence_mut().expect("a sequence")[i];
        }
        if !v.is_mapping() {
            *v = Value::Mapping(Mapping::new());
        }
        let map = v.as_mapping_mut().expect("a mapping");
        map.entry(key.into()).or_insert(Value::Null)
    })
}

/// The shipped file with `path` set to `value`, rewritten; the result and the intended value.
fn set(path: &str, value: Value) -> (String, Value) {
    let mut intended = parse(SHIPPED);
    *at(&mut intended, path) = value;
    let text = rewrite(SHIPPED, &intended).expect("an edit in place");
    assert_eq!(parse(&text), intended);
    (text, intended)
}

/// The shipped file with `key` removed from the mapping at `parent`, rewritten.
fn remove(parent: &str, key: &str) -> String {
    let mut intended = parse(SHIPPED);
    at(&mut intended, parent)
        .as_mapping_mut()
        .expect("a mapping")
        .remove(key);
    let text = rewrite(SHIPPED, &intended).expect("an edit in place");
    assert_eq!(parse(&text), intended);
    text
}

/// The lines of `after` that are not in `before` and those of `before` not in `after`, in
/// order, as a line diff would show them (both files share a prefix and a suffix).
fn changed_lines(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let (b, a): (Vec<&str>, Vec<&str>) = (before.lines().collect(), after.lines().collect());
    let prefix = b.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let suffix = b[prefix..]
        .iter()
        .rev()
        .zip(a[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let own = |lines: &[&str]| -> Vec<String> {
        lines[prefix..lines.len() - suffix]
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    (own(&b), own(&a))
}

#[test]
fn an_unchanged_document_is_answered_as_written() {
    assert_eq!(rewrite(SHIPPED, &parse(SHIPPED)).as_deref(), Ok(SHIPPED));
}

#[test]
fn a_changed_field_rewrites_its_line_alone() {
    let (text, _) = set(
        "mfa.endpoints.single.body",
        Value::String(r#"{"to": "{{ phone }}", "msg": "{{ message }}"}"#.into()),
    );
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(
        gone,
        vec![r#"      body: '{"to": "{{ phone }}", "text": "{{ message }}"}'"#]
    );
    assert_eq!(
        came,
        vec![r#"      body: '{"to": "{{ phone }}", "msg": "{{ message }}"}'"#]
    );
}

#[test]
fn a_value_in_flow_style_stays_in_flow_style() {
    let (text, _) = set("mfa.code.length", Value::from(8));
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(gone, vec!["  code: { length: 6, ttl_seconds: 300 }"]);
    assert_eq!(came, vec!["  code: { length: 8, ttl_seconds: 300 }"]);

    let (text, _) = set("mfa.user_data.allowed", parse("[phone, language, email]"));
    let (_, came) = changed_lines(SHIPPED, &text);
    assert_eq!(came, vec!["    allowed: [phone, language, email]"]);
}

#[test]
fn a_rewritten_node_keeps_the_order_of_its_keys() {
    // The new value lists its keys in another order (as a JSON body sorted by name would).
    let (text, _) = set(
        "mfa.attempts",
        parse("{base_seconds: 2, free_failures: 3, max_seconds: 900, per_session: 5, window_seconds: 86400}"),
    );
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(
        came,
        vec![gone[0].replace("base_seconds: 1", "base_seconds: 2")]
    );
}

#[test]
fn a_flow_value_on_a_line_the_operator_made_long_stays_on_it() {
    let (text, _) = set("mfa.attempts.per_session", Value::from(6));
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(gone.len(), 1);
    assert_eq!(
        came,
        vec![gone[0].replace("per_session: 5", "per_session: 6")]
    );
}

#[test]
fn a_flow_value_too_long_for_its_line_is_written_in_block_style() {
    let long = "x".repeat(120);
    let (text, _) = set(
        "mfa.sessions",
        parse(&format!("{{ttl_seconds: 60, note: {long}}}")),
    );
    let (_, came) = changed_lines(SHIPPED, &text);
    assert_eq!(
        came,
        vec![
            "  sessions:".to_string(),
            "    ttl_seconds: 60".to_string(),
            format!("    note: {long}")
        ]
    );
}

#[test]
fn a_removed_key_takes_its_lines_and_its_comment_and_nothing_else() {
    let text = remove("mfa", "send_limits");
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert!(came.is_empty(), "{came:?}");
    assert_eq!(gone.len(), 1);
    assert!(gone[0].starts_with("  send_limits: "));

    // The comment directly above a removed entry goes with it.
    let text = remove("mfa", "attempts");
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert!(came.is_empty(), "{came:?}");
    assert!(gone[0].starts_with("  # Brute-force"));
    assert!(gone[1].starts_with("  attempts: "));
    assert_eq!(gone.len(), 2);
}

#[test]
fn a_mapping_left_empty_is_written_as_an_empty_mapping() {
    let text = remove("mfa.endpoints.single", "headers");
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(
        gone,
        vec!["      headers:", "        content-type: application/json"]
    );
    assert!(came.is_empty());

    let mut intended = parse(SHIPPED);
    *at(&mut intended, "mfa.endpoints.single.headers") = Value::Mapping(Mapping::new());
    let text = rewrite(SHIPPED, &intended).expect("an edit in place");
    let (_, came) = changed_lines(SHIPPED, &text);
    assert_eq!(came, vec!["      headers: {}"]);
}

#[test]
fn a_new_key_goes_after_the_last_entry_of_its_mapping() {
    let endpoint = parse("{url: 'outbox:challenge', method: POST}");
    let (text, _) = set("mfa.endpoints.challenge", endpoint);
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert!(gone.is_empty());
    assert_eq!(
        came,
        vec![
            "    challenge:",
            "      url: outbox:challenge",
            "      method: POST"
        ]
    );
    let at_line = text.lines().position(|l| l == "    challenge:");
    let body_line = text.lines().position(|l| l.starts_with("      body: "));
    assert_eq!(at_line, body_line.map(|b| b + 1));
}

#[test]
fn values_that_need_quoting_are_quoted_and_read_back() {
    for value in [
        "a: b",
        "a #b",
        "#start",
        "line one\nline two\n",
        "two\nlines",
        "grüezi 🌍 日本",
        " leading space",
        "yes",
        "0123",
        "",
        "${TWILIO_AUTH_TOKEN}",
        "- dash",
        "'quoted'",
        "\"double\"",
        "back\\slash",
        "{ not: a mapping }",
        "trailing space ",
        "tab\there",
    ] {
        let (text, _) = set("mfa.endpoints.single.body", Value::String(value.into()));
        for comment in SHIPPED.lines().filter(|l| l.trim_start().starts_with('#')) {
            assert!(text.contains(comment), "{comment} lost for {value:?}");
        }
        // Also in flow style, as a value and as a new key.
        set("mfa.code.note", Value::String(value.into()));
        if !value.is_empty() {
            set(&format!("mfa.messages.{value}"), Value::from(1));
        }
    }
}

#[test]
fn a_string_a_block_scalar_would_misplace_is_written_double_quoted_on_its_line() {
    // `|+` would take in the blank line after the node; `|2` counts from serde_yaml's column.
    let text = "a:\n  b: 1\n\nc: 2\n";
    for value in ["\n", "ends\n", "x\n  indented", "x\n\tindented"] {
        let intended = parse(&format!(
            "{{a: {{b: 1, n: {{_: {}}}}}, c: 2}}",
            flow(&value.into()).unwrap_or_default()
        ));
        let out = rewrite(text, &intended).expect("an edit in place");
        let quoted = serde_json::to_string(value).unwrap_or_default();
        assert_eq!(out, format!("a:\n  b: 1\n  n: {{ _: {quoted} }}\n\nc: 2\n"));
    }
}

#[test]
fn a_comment_on_a_changed_line_is_kept() {
    let text = "a: 1  # the answer\nb:   # a mapping\n  c: 2\n";
    let intended = parse("{a: 2, b: [x, y]}");
    let out = rewrite(text, &intended).expect("an edit in place");
    assert_eq!(out, "a: 2  # the answer\nb:   # a mapping\n  - x\n  - y\n");
}

#[test]
fn a_comment_is_told_from_a_hash_inside_a_value() {
    assert_eq!(comment_of(" 1  # c"), "  # c");
    assert_eq!(comment_of(" # only"), " # only");
    assert_eq!(comment_of(""), "");
    assert_eq!(comment_of(" a#b"), "");
    assert_eq!(comment_of(" 'a #b' # c"), " # c");
    assert_eq!(comment_of(" \"a \\\" #b\"\t# c"), "\t# c");
    assert_eq!(comment_of(" { a: 'x #y', b: \"z #\" } # c"), " # c");
    assert_eq!(comment_of(" [don't #x]"), " #x]");
    assert_eq!(comment_of(" it's # c"), " # c");
}

#[test]
fn quoted_keys_and_windows_line_breaks_are_read() {
    let text = "'a key': 1\r\n\"b\\\"\": 2\r\nc: 3\r\n";
    let mut intended = parse(text);
    *at(&mut intended, "c") = Value::from(4);
    let out = rewrite(text, &intended).expect("an edit in place");
    assert_eq!(out, "'a key': 1\r\n\"b\\\"\": 2\r\nc: 4\r\n");
}

#[test]
fn a_sequence_written_at_its_keys_indentation_is_one_entry() {
    let text = "list:\n- a\n- b\n# after\nnext: 1\n";
    let out = rewrite(text, &parse("{list: [a, b], next: 2}")).expect("an edit in place");
    assert_eq!(out, "list:\n- a\n- b\n# after\nnext: 2\n");
    let out = rewrite(text, &parse("{list: [c], next: 1}")).expect("an edit in place");
    assert_eq!(out, "list:\n  - c\n# after\nnext: 1\n");
}

#[test]
fn a_sequence_of_the_same_length_is_edited_item_by_item() {
    // Inside an item written as `- key: value` lines: the comment in the list stays.
    let mut intended = parse(SHIPPED);
    intended["api_keys"][0]["name"] = Value::String("production".into());
    let text = rewrite(SHIPPED, &intended).expect("an edit in place");
    let (gone, came) = changed_lines(SHIPPED, &text);
    assert_eq!(gone, vec!["  - name: local-development"]);
    assert_eq!(came, vec!["  - name: production"]);

    // An item's new key goes after its last entry; a scalar item is rewritten alone.
    let text = "list:\n  # first\n  - a: 1\n    b: 2\n  - plain # note\n  - c: 3\n";
    let intended = parse("{list: [{a: 1, b: 2, z: 9}, other, {c: 4}]}");
    let out = rewrite(text, &intended).expect("an edit in place");
    assert_eq!(
        out,
        "list:\n  # first\n  - a: 1\n    b: 2\n    z: 9\n  - other\n  - c: 4\n"
    );

    // The entry on the dash line cannot go alone: the item is rewritten whole.
    let out = rewrite(text, &parse("{list: [{b: 2}, plain, {c: 3}]}")).expect("rewritten");
    assert_eq!(
        out,
        "list:\n  # first\n  - b: 2\n  - plain # note\n  - c: 3\n"
    );

    // A sequence that grows is rewritten as one node.
    let out = rewrite(text, &parse("{list: [x, y, z, w]}")).expect("rewritten");
    assert_eq!(out, "list:\n  - x\n  - y\n  - z\n  - w\n");
}

#[test]
fn a_document_that_is_not_a_block_mapping_is_written_anew() {
    let out = rewrite("{a: 1, b: 2}\n", &parse("{a: 1, b: 3}")).expect("written anew");
    assert_eq!(parse(&out), parse("{a: 1, b: 3}"));
    let error = rewrite("# mine\n{a: 1, b: 2}\n", &parse("{a: 1, b: 3}"));
    assert!(error.is_err_and(|e| e.0.contains("would lose its comments")));
    let out = rewrite("---\na: 1 # kept\n", &parse("{a: 1, b: 2}")).expect("in place");
    assert_eq!(out, "---\na: 1 # kept\nb: 2\n");
}

#[test]
fn a_document_that_is_not_yaml_is_refused() {
    assert!(rewrite("a: [\n", &parse("{a: 1}")).is_err());
}

#[test]
fn an_edit_that_would_break_an_alias_is_refused_not_written() {
    let text = "base: &base\n  x: 1\ncopy: *base\n";
    let error = rewrite(text, &parse("{base: {x: 2}, copy: {x: 1}}"));
    assert!(error.is_err(), "{error:?}");
}

/// The dotted paths of every mapping entry and sequence item of a value.
fn paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    if let Value::Sequence(items) = value {
        for (i, item) in items.iter().enumerate() {
            let path = format!("{prefix}.{i}");
            paths(item, &path, out);
            out.push(path);
        }
    }
    if let Value::Mapping(map) = value {
        for (key, child) in map {
            if let Some(key) = key.as_str() {
                let path = if prefix.is_empty() {
                    key.to_string()
                } else {
                    format!("{prefix}.{key}")
                };
                paths(child, &path, out);
                out.push(path);
            }
        }
    }
}

/// A value the property test writes: scalars with awkward text, and small collections.
fn any_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        "[ -~]{0,12}".prop_map(Value::String),
        "[a-z:#'\"\n é{}\\[\\],&*!|>%@-]{0,10}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    scalar.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Sequence),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..3).prop_map(|pairs| {
                Value::Mapping(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
            }),
        ]
    })
}

/// The dotted paths of the scalars of a value, inside mappings only.
fn scalar_paths(value: &Value) -> Vec<String> {
    let mut all = Vec::new();
    paths(value, "", &mut all);
    let mut doc = value.clone();
    all.into_iter()
        .filter(|p| {
            let v = at(&mut doc, p);
            !v.is_mapping() && !v.is_sequence()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random edits of the shipped file (a value set, a key added, a key removed, one to three
    /// at a time) are made in place: the result reads back as the intended value, and every
    /// comment not inside a changed node is still there.
    #[test]
    fn random_edits_of_the_shipped_file_read_back_as_intended(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any_value()), 1..4)
    ) {
        let mut intended = parse(SHIPPED);
        let mut all = Vec::new();
        paths(&intended, "", &mut all);
        for (index, kind, value) in edits {
            let path = index.get(&all).clone();
            match kind {
                0 => *at(&mut intended, &path) = value,
                1 => *at(&mut intended, &format!("{path}.added")) = value,
                _ => {
                    let (parent, key) = path.rsplit_once('.').unwrap_or(("", &path));
                    let parent = if parent.is_empty() { &mut intended } else { at(&mut intended, parent) };
                    match (parent, key.parse::<usize>()) {
                        (Value::Sequence(items), Ok(i)) if i < items.len() => {
                            items.remove(i);
                        }
                        (Value::Mapping(map), _) => {
                            map.remove(key);
                        }
                        _ => {}
                    }
                }
            }
        }
        let text = rewrite(SHIPPED, &intended);
        prop_assert!(text.is_ok(), "{text:?}");
        prop_assert_eq!(parse(&text.unwrap_or_default()), intended);
    }

    /// A scalar of the shipped file set to another one-line scalar changes that line alone.
    #[test]
    fn a_scalar_set_to_another_changes_its_line_alone(
        index in any::<prop::sample::Index>(),
        value in prop_oneof![
            "[ -~]{0,12}".prop_map(Value::String),
            "[a-zé:#'\" ]{1,8}".prop_map(Value::String),
            any::<u16>().prop_map(Value::from),
        ],
    ) {
        let mut intended = parse(SHIPPED);
        let path = index.get(&scalar_paths(&intended)).clone();
        prop_assume!(*at(&mut intended, &path) != value);
        *at(&mut intended, &path) = value;
        let text = rewrite(SHIPPED, &intended);
        prop_assert!(text.is_ok(), "{text:?}");
        let text = text.unwrap_or_default();
        prop_assert_eq!(parse(&text), intended);
        let (gone, came) = changed_lines(SHIPPED, &text);
        prop_assert_eq!((gone.len(), came.len()), (1, 1), "{:?} -> {:?}", gone, came);
    }
}

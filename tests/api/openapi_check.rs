//! What `tests/api/openapi.rs` checks the description with: the description itself
//! (`docs/openapi.yaml`), the routes and error ids read from the source, and a small JSON-schema
//! check written for the subset of JSON Schema the description uses (and only that subset: a
//! keyword outside it fails [`unsupported_keywords`], so nothing in the description goes
//! unchecked).

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::helpers::TestResponse;

/// The keywords [`validate`] understands; `description` and `title` are read by people only.
const KEYWORDS: &[&str] = &[
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "allOf",
    "minimum",
    "pattern",
    "description",
    "title",
];

/// A file of the repository, read whole.
pub fn source(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// `docs/openapi.yaml`, as JSON.
pub fn description() -> Value {
    serde_yaml::from_str(&source("docs/openapi.yaml")).expect("docs/openapi.yaml parses")
}

/// Every `(path, METHOD)` that the router in `file` declares with `.route(path, get(..).post(..))`,
/// its paths written as OpenAPI writes them (`{*path}` is `{path}`).
pub fn routes_in_source(file: &str) -> BTreeSet<(String, String)> {
    let text = source(file);
    let method = Regex::new(r"(?:^|[^A-Za-z0-9_])(get|post|put|patch|delete|head|options)\(")
        .expect("a regex");
    let literal = Regex::new(r#""([^"]*)""#).expect("a regex");
    let mut routes = BTreeSet::new();
    let starts: Vec<usize> = text.match_indices(".route(").map(|(i, _)| i).collect();
    for start in &starts {
        let open = start + ".route".len();
        let mut depth = 0;
        let mut end = open;
        for (i, c) in text[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let call = &text[open + 1..end];
        let path = literal.captures(call).expect("a route has a path literal");
        let after = &call[path.get(0).expect("the literal").end()..];
        let openapi_path = path[1].replace("{*", "{");
        let methods: Vec<String> = method
            .captures_iter(after)
            .map(|m| m[1].to_uppercase())
            .collect();
        assert!(
            !methods.is_empty(),
            "no method found for {openapi_path} in {file}"
        );
        for m in methods {
            routes.insert((openapi_path.clone(), m));
        }
    }
    assert!(!starts.is_empty(), "no .route( in {file}");
    routes
}

/// Every `(path, METHOD)` of the description whose operation has this tag.
pub fn described_routes(description: &Value, tag: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in description["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if method == "parameters" {
                continue;
            }
            let tags = operation["tags"]
                .as_array()
                .expect("every operation has tags");
            if tags.iter().any(|t| t == tag) {
                routes.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    routes
}

/// The error ids a file of the source answers with: `error(StatusCode::X, "id", ..)`,
/// `(StatusCode::X, "id", ..)` and `"id": "id"` (its tests left out).
pub fn error_ids_in_source(file: &str) -> BTreeSet<String> {
    let text = source(file);
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let patterns = [
        r#"StatusCode::[A-Z_]+,\s*"([a-z]+(?:-[a-z]+)*)""#,
        r#""id":\s*"([a-z]+(?:-[a-z]+)*)""#,
    ];
    let mut ids = BTreeSet::new();
    for p in patterns {
        for c in Regex::new(p).expect("a regex").captures_iter(code) {
            ids.insert(c[1].to_string());
        }
    }
    assert!(!ids.is_empty(), "no error id found in {file}");
    ids
}

/// The error ids of the description's `components/responses` whose names start with `prefix`
/// (`Error` for the public API, `AdminError` for the admin API).
pub fn described_error_ids(description: &Value, prefix: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for (name, response) in description["components"]["responses"]
        .as_object()
        .expect("components/responses")
    {
        if !name.starts_with(prefix) {
            continue;
        }
        let schema = resolve(
            description,
            &response["content"]["application/json"]["schema"],
        );
        let id = resolve(description, &schema["properties"]["error"]);
        let values = id["properties"]["id"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: error.id has no enum"));
        ids.extend(
            values
                .iter()
                .map(|v| v.as_str().expect("an id").to_string()),
        );
    }
    ids
}

/// The ids of the README's "Errors" table.
pub fn readme_error_ids() -> BTreeSet<String> {
    let readme = source("README.md");
    let section = readme
        .split("\n### Errors\n")
        .nth(1)
        .expect("README has an Errors section");
    let section = section.split("\n## ").next().unwrap_or_default();
    let row = Regex::new(r"(?m)^\|[^|]*\|\s*`([a-z-]+)`\s*\|").expect("a regex");
    row.captures_iter(section)
        .map(|c| c[1].to_string())
        .collect()
}

/// `node` with its `$ref` followed (within the description).
pub fn resolve<'a>(description: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = description
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{r} points nowhere"));
            resolve(description, target)
        }
        None => node,
    }
}

/// Every place in the description where a schema keyword outside [`KEYWORDS`] is used.
pub fn unsupported_keywords(description: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for (name, schema) in description["components"]["schemas"]
        .as_object()
        .expect("components/schemas")
    {
        walk_schema(schema, &format!("schemas/{name}"), &mut found);
    }
    let mut contents = Vec::new();
    collect_contents(description, "", &mut contents);
    for (at, schema) in contents {
        walk_schema(&schema, &at, &mut found);
    }
    found
}

fn collect_contents(node: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "schema" {
                    out.push((format!("{at}/schema"), v.clone()));
                } else {
                    collect_contents(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                collect_contents(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn walk_schema(schema: &Value, at: &str, found: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        found.push(format!("{at}: not an object"));
        return;
    };
    for (k, v) in map {
        if !KEYWORDS.contains(&k.as_str()) {
            found.push(format!("{at}: {k}"));
        }
        match k.as_str() {
            "properties" => {
                for (p, s) in v.as_object().into_iter().flatten() {
                    walk_schema(s, &format!("{at}/{p}"), found);
                }
            }
            "items" => walk_schema(v, &format!("{at}/items"), found),
            "anyOf" | "allOf" => {
                for (i, s) in v.as_array().into_iter().flatten().enumerate() {
                    walk_schema(s, &format!("{at}/{k}/{i}"), found);
                }
            }
            "additionalProperties" if !v.is_boolean() => {
                walk_schema(v, &format!("{at}/additionalProperties"), found)
            }
            _ => {}
        }
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("unknown type {other}"),
    }
}

/// Why `value` does not conform to `schema` (empty when it does).
pub fn validate(description: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    let schema = resolve(description, schema);
    let mut errors = Vec::new();
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("{at}: type must be a string or a list"),
        };
        if !names.iter().any(|n| type_matches(n, value)) {
            errors.push(format!("{at}: {value} is not of type {t}"));
            return errors;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{at}: {value} is not {c}"));
        }
    }
    if let (Some(min), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) {
        if n < min {
            errors.push(format!("{at}: {n} is below {min}"));
        }
    }
    if let (Some(p), Some(text)) = (
        schema.get("pattern").and_then(Value::as_str),
        value.as_str(),
    ) {
        if !Regex::new(p).expect("a pattern").is_match(text) {
            errors.push(format!("{at}: {text:?} does not match {p}"));
        }
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().expect("a property name");
            if !object.contains_key(name) {
                errors.push(format!("{at}: {name} is required"));
            }
        }
        for (k, v) in object {
            match properties.and_then(|p| p.get(k)) {
                Some(s) => errors.extend(validate(description, s, v, &format!("{at}.{k}"))),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: {k} is not a described property"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            errors.extend(validate(description, items, v, &format!("{at}[{i}]")));
        }
    }
    for s in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        errors.extend(validate(description, s, value, at));
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        let failures: Vec<Vec<String>> = any
            .iter()
            .map(|s| validate(description, s, value, at))
            .collect();
        if failures.iter().all(|f| !f.is_empty()) {
            errors.push(format!("{at}: matches none of anyOf: {failures:?}"));
        }
    }
    errors
}

/// Asserts that `response` is an answer the description gives for `METHOD path`: its status
/// (or its `NXX` range) is described, its content type is one of the described ones, its
/// required headers are there, and its JSON body conforms to the described schema.
pub fn assert_conforms(description: &Value, path: &str, method: &str, response: &TestResponse) {
    let operation = &description["paths"][path][method.to_lowercase()];
    assert!(operation.is_object(), "{method} {path} is not described");
    let status = response.status.to_string();
    let range = format!("{}XX", &status[..1]);
    let described = operation["responses"]
        .get(&status)
        .or_else(|| operation["responses"].get(&range))
        .unwrap_or_else(|| {
            panic!(
                "{method} {path}: status {status} is not described (body {})",
                response.text
            )
        });
    let described = resolve(description, described);
    let what = format!("{method} {path} {status}");
    for (name, header) in described["headers"].as_object().into_iter().flatten() {
        if header["required"] == Value::Bool(true) {
            assert!(
                response.headers.contains_key(name.as_str()),
                "{what}: the header {name} is missing"
            );
        }
    }
    let Some(content) = described.get("content").and_then(Value::as_object) else {
        assert!(
            response.text.is_empty(),
            "{what}: a body where none is described"
        );
        return;
    };
    let content_type = response
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    let media = content
        .get(media_type)
        .or_else(|| content.get("*/*"))
        .unwrap_or_else(|| panic!("{what}: content type {content_type:?} is not described"));
    if media_type == "application/json" {
        let body: Value = serde_json::from_str(&response.text)
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {}", response.text));
        let errors = validate(description, &media["schema"], &body, "body");
        assert!(
            errors.is_empty(),
            "{what}: {errors:#?}\nbody: {}",
            response.text
        );
    }
}

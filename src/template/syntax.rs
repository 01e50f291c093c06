//! The restricted template dialect: handlebars with plain `{{ name }}` placeholders only (no
//! helpers, blocks, partials or triple-stash, which would bypass encoding), each naming a
//! variable the endpoint is given.

use std::collections::BTreeSet;

use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::Handlebars;

use super::Vars;
use crate::domain::names::is_variable_name;

/// Parses a template and checks that it only holds plain placeholders for provided variables.
pub(super) fn parse(source: &str, provided: &BTreeSet<String>) -> Result<Template, String> {
    let tpl = Template::compile(source).map_err(|e| describe_parse_error(&e))?;
    for element in &tpl.elements {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) => {
                let name = placeholder_name(h).ok_or_else(|| {
                    "only plain placeholders such as {{ phone }} are allowed (no helpers or paths)"
                        .to_string()
                })?;
                if !provided.contains(&name) {
                    let known: Vec<&str> = provided.iter().map(String::as_str).collect();
                    return Err(format!(
                        "'{{{{ {name} }}}}' names a variable that is never provided here (available: {})",
                        known.join(", ")
                    ));
                }
            }
            TemplateElement::HtmlExpression(_) => {
                return Err(
                    "'{{{ }}}' (unescaped output) is not allowed: every value is encoded for where it lands"
                        .to_string(),
                )
            }
            _ => {
                return Err(
                    "only plain placeholders such as {{ phone }} are allowed (no blocks, partials or decorators)"
                        .to_string(),
                )
            }
        }
    }
    Ok(tpl)
}

/// One line: where and why a template does not parse (handlebars' own text spans many lines).
pub fn describe_parse_error(e: &handlebars::TemplateError) -> String {
    let reason = e.reason().to_string();
    let reason = reason.lines().next().unwrap_or("").trim();
    match e.pos() {
        Some((line, column)) => {
            format!("template does not parse at line {line}, column {column}: {reason}")
        }
        None => format!("template does not parse: {reason}"),
    }
}

pub(super) fn placeholder_name(h: &handlebars::template::HelperTemplate) -> Option<String> {
    if !h.params.is_empty() || !h.hash.is_empty() || h.block || h.template.is_some() {
        return None;
    }
    let name = match &h.name {
        Parameter::Name(n) => n.clone(),
        Parameter::Path(path) => match path {
            handlebars::Path::Relative((segs, raw)) if segs.len() == 1 => raw.clone(),
            _ => return None,
        },
        _ => return None,
    };
    is_variable_name(&name).then_some(name)
}

pub(super) fn variables_of(tpl: &Template) -> BTreeSet<String> {
    tpl.elements
        .iter()
        .filter_map(|e| match e {
            TemplateElement::Expression(h) => placeholder_name(h),
            _ => None,
        })
        .collect()
}

/// A JSON body must stay JSON whatever the values: every placeholder must sit inside a JSON
/// string. Rendering with marker values and parsing proves it.
pub(super) fn check_json_body(
    registry: &Handlebars<'static>,
    name: &str,
    variables: &BTreeSet<String>,
) -> Result<(), String> {
    let markers: Vars = variables
        .iter()
        .map(|v| (v.clone(), format!("MFABRIDGE_MARKER_{v}")))
        .collect();
    let text = registry
        .render(name, &markers)
        .map_err(|e| format!("template does not render: {e}"))?;
    serde_json::from_str::<serde_json::Value>(&text).map(|_| ()).map_err(|e| {
        format!(
            "a JSON body must be valid JSON with every placeholder inside a string, e.g. {{\"to\":\"{{{{ phone }}}}\"}} ({e})"
        )
    })
}

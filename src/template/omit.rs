//! `omit_empty`: body fields left out of a rendered request when their value is empty, so that
//! an optional parameter (Twilio's `StatusCallback` when `server.public_url` is unset) is not
//! sent as an empty one, which some providers refuse.

use super::encoding::BodyKind;

/// `body` without the fields named in `names` whose value is empty: the top-level keys of a
/// JSON object whose value is `""` or `null`, or the `name=` pairs of a form. Other bodies,
/// and bodies with no such field, are answered unchanged (byte for byte).
pub(super) fn omit_empty(kind: BodyKind, body: String, names: &[String]) -> String {
    if names.is_empty() {
        return body;
    }
    match kind {
        BodyKind::Json => omit_json(body, names),
        BodyKind::Form => omit_form(body, names),
        BodyKind::Plain => body,
    }
}

fn omit_json(body: String, names: &[String]) -> String {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(&body) else {
        return body;
    };
    let before = object.len();
    object.retain(|key, value| {
        let empty = value.is_null() || value.as_str().is_some_and(str::is_empty);
        !(empty && names.iter().any(|n| n == key))
    });
    if object.len() == before {
        return body;
    }
    serde_json::Value::Object(object).to_string()
}

fn omit_form(body: String, names: &[String]) -> String {
    let pairs: Vec<&str> = body.split('&').collect();
    let kept: Vec<&str> = pairs
        .iter()
        .copied()
        .filter(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name: String = form_urlencoded::parse(format!("{name}=").as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !(value.is_empty() && names.contains(&name))
        })
        .collect();
    if kept.len() == pairs.len() {
        return body;
    }
    kept.join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_empty_form_field_that_is_listed_is_left_out() {
        let body = "To=%2B41&StatusCallback=&Body=hi".to_string();
        assert_eq!(
            omit_empty(BodyKind::Form, body, &names(&["StatusCallback"])),
            "To=%2B41&Body=hi"
        );
    }

    #[test]
    fn a_form_field_with_a_value_or_not_listed_stays() {
        let body = "To=&StatusCallback=https%3A%2F%2Fx".to_string();
        assert_eq!(
            omit_empty(BodyKind::Form, body.clone(), &names(&["StatusCallback"])),
            body
        );
    }

    #[test]
    fn an_empty_json_key_that_is_listed_is_left_out() {
        let body = r#"{"to":"+41","callback":"","other":""}"#.to_string();
        let out = omit_empty(BodyKind::Json, body, &names(&["callback"]));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"to": "+41", "other": ""}));
    }

    #[test]
    fn a_json_body_without_empty_listed_keys_is_unchanged() {
        let body = r#"{ "to": "+41", "callback": "https://x" }"#.to_string();
        assert_eq!(
            omit_empty(BodyKind::Json, body.clone(), &names(&["callback"])),
            body
        );
    }
}

//! What a test send must be given: somewhere to send to. By SMS, a phone number in one of the
//! phone fields (`mfa.user_data.phone_fields`); by email, an address in one of the email fields.
//! Without it the provider would receive an empty `To` and could even answer success.

use serde_json::{Map, Value as Json_};

use super::channels::destination_fields;
use super::error::AdminError;
use crate::config::{Channel, UserDataRules};
use crate::domain::Destination;
use crate::mfa::user_data::{is_e164_number, is_email_address};
use crate::template::{EndpointId, Templates};

/// Fields the daemon fills itself or that choose the text, not where it goes.
const NOT_DESTINATIONS: [&str; 2] = ["language", "message"];

/// Refuses test-send data without a valid destination for `channel`, naming the field
/// (`data.phone`), never its value. With no destination field configured for the channel, every
/// user-data field the endpoint's templates use must be given instead.
pub(super) fn check_destination(
    rules: &UserDataRules,
    channel: Channel,
    templates: &Templates,
    endpoint: EndpointId,
    data: &Map<String, Json_>,
) -> Result<(), AdminError> {
    let fields = destination_fields(rules, channel);
    if fields.is_empty() {
        let used = templates.variables(endpoint);
        for field in rules
            .allowed
            .iter()
            .filter(|f| used.contains(*f) && !NOT_DESTINATIONS.contains(&f.as_str()))
        {
            if !data.get(field).is_some_and(given) {
                return Err(AdminError::BadRequest(format!(
                    "data.{field}: missing: the {} endpoint sends to {{{{ {field} }}}}.",
                    endpoint.name()
                )));
            }
        }
        return Ok(());
    }
    let (what, example, valid): (&str, &str, fn(&str) -> bool) = match channel.destination() {
        Destination::Phone => (
            "an E.164 phone number",
            "+41791231212",
            is_e164_number as fn(&str) -> bool,
        ),
        Destination::Email => ("an email address", "alice@example.com", is_email_address),
    };
    let mut found = false;
    for field in &fields {
        match data.get(field) {
            None | Some(Json_::Null) => {}
            Some(Json_::String(s)) if s.is_empty() => {}
            Some(Json_::String(s)) if valid(s) => found = true,
            Some(_) => {
                return Err(AdminError::BadRequest(format!(
                "data.{field}: must be {what} such as {example} (a test send by {} goes to it).",
                channel.name()
            )))
            }
        }
    }
    if found {
        return Ok(());
    }
    let named: Vec<String> = fields.iter().map(|f| format!("data.{f}")).collect();
    Err(AdminError::BadRequest(format!(
        "{}: missing: a test send by {} needs {what} to send to.",
        named.join(" or "),
        channel.name()
    )))
}

/// A value given: a non-empty string, or anything else (refused later, by its type).
fn given(value: &Json_) -> bool {
    match value {
        Json_::Null => false,
        Json_::String(s) => !s.is_empty(),
        _ => true,
    }
}

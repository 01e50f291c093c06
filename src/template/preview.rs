//! What `render` and the admin preview show for sample data: the request (secrets masked), the
//! message it carries and its SMS cost, and warnings.

use serde_json::json;

use super::{EndpointId, RenderError, SmsInfo, Templates};
use crate::domain::{Channel, Secrets};

/// What `render` and the admin preview show: the request, and for a single endpoint the
/// message it carries with its SMS cost.
#[derive(Debug)]
pub struct Preview {
    pub request: serde_json::Value,
    pub warnings: Vec<String>,
    pub message: Option<serde_json::Value>,
    pub sms: Option<SmsInfo>,
}

/// Renders an endpoint for sample data, as a real send would (see [`Templates::sample_vars`]).
pub fn preview(
    templates: &Templates,
    secrets: &Secrets,
    endpoint: EndpointId,
    data: &serde_json::Map<String, serde_json::Value>,
) -> Result<Preview, RenderError> {
    let vars = templates.sample_vars(data, endpoint)?;
    let mut warnings: Vec<String> = templates
        .variables(endpoint)
        .into_iter()
        .filter(|v| !vars.contains_key(v))
        .map(|v| format!("{{{{ {v} }}}} is not in the sample data: it renders empty."))
        .collect();
    let request = templates.render(endpoint, &vars)?;
    let uses = |name: &str| templates.variables(endpoint).contains(name);
    let mut message = None;
    let mut sms = None;
    if endpoint == EndpointId::Single && (uses("message") || uses("subject") || uses("html")) {
        let text = vars.get("message").cloned().unwrap_or_default();
        message = Some(json!({
            "language": vars.get("locale"),
            "text": text,
            "subject": vars.get("subject"),
            "html": vars.get("html"),
        }));
        if templates.channel() == Channel::Sms {
            let info = SmsInfo::of(&text);
            if let Some(w) = info.warning() {
                warnings.push(w);
            }
            sms = Some(info);
        }
    }
    Ok(Preview {
        request: request.describe(secrets),
        warnings,
        message,
        sms,
    })
}

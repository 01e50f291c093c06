//! The JSON of each route, both ways: request bodies parsed into domain types at the edge,
//! answers as `…Response` types (fields in the order the answers have always had).

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::{ForwardedBody, Method, OtpCode, RecoveryCode, StepUp};
use crate::mfa::user_data::GivenUserData;
use crate::mfa::{ActivateInput, DeactivateInput, FlowError, Invalid, Status};

use super::body::is_blank;
use super::ApiError;

/// The app id a step-up password logs in with when the body names none.
const STEP_UP_APP_ID: &str = "mfa-bridge";

/// A JSON object body; an empty body is an empty object.
fn object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if is_blank(body) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::InvalidBody),
        Err(e) => Err(ApiError::MalformedJson {
            line: e.line(),
            column: e.column(),
        }),
    }
}

/// A value as text: a string as it is, anything else as its JSON.
fn text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// `method`, taken out of a body: absent or null is none; a name that is no method, or a
/// value that is not a string, is an error the flow raises where it looks at the method.
fn take_method(body: &mut Map<String, Value>) -> Result<Option<Method>, Invalid> {
    match body.remove("method") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) => {
            Method::parse(&name)
                .map(Some)
                .ok_or_else(|| Invalid::UnknownMethod {
                    name: name.chars().filter(|c| !c.is_control()).take(32).collect(),
                })
        }
        Some(_) => Err(Invalid::NotAString {
            field: "method".into(),
        }),
    }
}

/// `password`, `appId` and `code`, taken out of a body: a code wins over a password.
fn take_step_up(body: &mut Map<String, Value>) -> Option<StepUp> {
    let password = body.remove("password").map(text);
    let app_id = body.remove("appId").map(text);
    let code = body.remove("code").map(text);
    match (password, code) {
        (_, Some(code)) => Some(StepUp::Code(code)),
        (Some(password), None) => Some(StepUp::Password {
            password,
            app_id: app_id.unwrap_or_else(|| STEP_UP_APP_ID.to_string()),
        }),
        (None, None) => None,
    }
}

/// The body of `activate`: `method`, a step-up, and the rest is user data.
pub fn activate_request(body: &Bytes) -> Result<ActivateInput, ApiError> {
    let mut body = object(body)?;
    let method = take_method(&mut body);
    let step_up = take_step_up(&mut body);
    Ok(ActivateInput {
        method,
        step_up,
        user_data: GivenUserData::from(body),
    })
}

/// The body of `deactivate`: `method` and a step-up.
pub fn deactivate_request(body: &Bytes) -> Result<DeactivateInput, ApiError> {
    let mut body = object(body)?;
    Ok(DeactivateInput {
        method: take_method(&mut body),
        step_up: take_step_up(&mut body),
    })
}

/// The body of `recovery-codes`: a step-up.
pub fn recovery_codes_request(body: &Bytes) -> Result<Option<StepUp>, ApiError> {
    Ok(take_step_up(&mut object(body)?))
}

/// The method a challenge asks for: none, one, or a value that is no method (an error the
/// flow raises once the session is checked).
pub type AskedMethod = Result<Option<Method>, Invalid>;

/// The body of `challenge`: the `method` asked. Pryv's challenge read no body, but Pryv read
/// every JSON body and refused one that is not JSON: so does this one.
pub fn challenge_request(body: &Bytes) -> Result<AskedMethod, ApiError> {
    Ok(take_method(&mut object(body)?))
}

/// The `code` of a confirm or verify body (a string, or a number as some clients send it).
pub fn code_request(body: &Bytes) -> Result<Option<OtpCode>, ApiError> {
    Ok(match object(body)?.remove("code") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(OtpCode::new(s)),
        Some(Value::Number(n)) => Some(OtpCode::new(n.to_string())),
        Some(_) => Some(OtpCode::new(String::new())),
    })
}

/// The body of `recover`: `recoveryCode`, and the rest, which in proxy mode is the login
/// forwarded to the upstream (username, password, appId, ...).
pub fn recover_request(body: &Bytes) -> Result<(Option<RecoveryCode>, ForwardedBody), ApiError> {
    let mut body = object(body)?;
    let code = match body.remove("recoveryCode") {
        None | Some(Value::Null) => None,
        Some(v) => Some(RecoveryCode::new(text(v))),
    };
    let rest = serde_json::to_vec(&body)
        .map_err(|e| ApiError::Flow(FlowError::Internal(e.to_string())))?;
    Ok((code, ForwardedBody::new(rest.into())))
}

#[derive(Serialize)]
pub struct MfaRequiredResponse {
    pub methods: Vec<Method>,
    #[serde(rename = "mfaToken")]
    pub mfa_token: String,
}

#[derive(Serialize)]
pub struct InactiveResponse {
    pub mfa: &'static str,
}

#[derive(Serialize)]
pub struct MfaTokenResponse {
    #[serde(rename = "mfaToken")]
    pub mfa_token: String,
}

/// What an authenticator app needs: the secret, the otpauth:// URI and its QR code.
#[derive(Serialize)]
pub struct TotpActivateResponse {
    #[serde(rename = "mfaToken")]
    pub mfa_token: String,
    pub qr: String,
    pub secret: String,
    pub uri: String,
}

#[derive(Serialize)]
pub struct ConfirmResponse {
    pub methods: Vec<Method>,
    #[serde(rename = "recoveryCodes")]
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize)]
pub struct ChallengeResponse {
    pub message: &'static str,
    pub method: Method,
}

#[derive(Serialize)]
pub struct VerifiedResponse {
    pub username: String,
    pub verified: bool,
}

#[derive(Serialize)]
pub struct MessageResponse {
    pub message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<Method>>,
}

#[derive(Serialize)]
pub struct RecoveryCodesResponse {
    #[serde(rename = "recoveryCodes")]
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_codes_remaining: Option<usize>,
}

impl From<Status> for StatusResponse {
    fn from(s: Status) -> StatusResponse {
        StatusResponse {
            enabled: s.enabled,
            methods: s.methods,
            enrolled_at: s.enrolled_at,
            recovery_codes_remaining: s.recovery_codes_remaining,
        }
    }
}

//! The fake Pryv core behind the fake upstream. Our daemon's proxy mode calls two routes of it
//! (`POST /{username}/auth/login`, `GET /{username}/access-info`); Pryv's service-mfa (the
//! peer, see `peer/`) also keeps its MFA data in the user's private profile, so the fake core
//! serves `GET` and `PUT /{username}/profile/private` too, with the profiles in memory.
//!
//! Answers are shaped as Pryv core's: `{"profile": {...}, "meta": {...}}`; a `PUT` body is the
//! update, whose top-level keys replace the profile's and whose `null` values delete them. Any
//! access token is accepted, as for the login.

use std::{collections::HashMap, sync::Mutex};

use bytes::Bytes;
use hyper::Method;
use serde_json::{json, Map, Value};

/// The login's answer (the same token for every user).
const LOGIN: &[u8] =
    br#"{"token":"ck-fake-token-0000","apiEndpoint":"http://ck-fake-token-0000@127.0.0.1/user/"}"#;
/// access-info's answer: a personal access, which both services require for activation.
const ACCESS_INFO: &[u8] = br#"{"type":"personal"}"#;

const PROFILE_SUFFIX: &str = "/profile/private";

/// The private profiles, per user name.
#[derive(Default)]
pub struct CoreState {
    profiles: Mutex<HashMap<String, Map<String, Value>>>,
}

impl CoreState {
    /// A copy of `username`'s private profile (empty for a user never written).
    pub fn profile(&self, username: &str) -> Map<String, Value> {
        self.lock().get(username).cloned().unwrap_or_default()
    }

    /// Applies `update` to `username`'s private profile as Pryv core's `profile.update` does,
    /// and returns the profile after it.
    pub fn update(&self, username: &str, update: Map<String, Value>) -> Map<String, Value> {
        let mut profiles = self.lock();
        let profile = profiles.entry(username.to_string()).or_default();
        for (key, value) in update {
            if value.is_null() {
                profile.remove(&key);
            } else {
                profile.insert(key, value);
            }
        }
        profile.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Map<String, Value>>> {
        // A panic while holding the lock leaves the map whole (each change is one insert).
        self.profiles
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer to one request to the fake core: (status, JSON body).
    pub fn answer(&self, method: &Method, path: &str, body: &[u8]) -> (u16, Bytes) {
        if method == Method::POST && path.ends_with("/auth/login") {
            return (200, Bytes::from_static(LOGIN));
        }
        if method == Method::GET && path.ends_with("/access-info") {
            return (200, Bytes::from_static(ACCESS_INFO));
        }
        let Some(username) = profile_owner(path) else {
            return error(404, "unknown-resource", "no such route");
        };
        match *method {
            Method::GET => with_meta(json!({ "profile": self.profile(username) })),
            Method::PUT => match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(update)) => {
                    with_meta(json!({ "profile": self.update(username, update) }))
                }
                _ => error(
                    400,
                    "invalid-parameters-format",
                    "the profile update must be a JSON object",
                ),
            },
            _ => error(404, "unknown-resource", "no such route"),
        }
    }
}

/// The user name in `.../{username}/profile/private`.
fn profile_owner(path: &str) -> Option<&str> {
    let rest = path.strip_suffix(PROFILE_SUFFIX)?;
    let username = &rest[rest.rfind('/')? + 1..];
    (!username.is_empty()).then_some(username)
}

/// `value` with Pryv's `meta` (without `serverTime`: no client of the fake reads it).
fn with_meta(mut value: Value) -> (u16, Bytes) {
    value["meta"] = json!({"apiVersion": "1.9.0", "serial": "mfa-bench"});
    (200, Bytes::from(value.to_string()))
}

/// Pryv's error shape: `{"error": {"id", "message"}, "meta"}`.
fn error(status: u16, id: &str, message: &str) -> (u16, Bytes) {
    let (_, body) = with_meta(json!({"error": {"id": id, "message": message}}));
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(answer: &(u16, Bytes)) -> Value {
        serde_json::from_slice(&answer.1).expect("a JSON answer")
    }

    #[test]
    fn a_profile_update_is_read_back_for_that_user_only() {
        let core = CoreState::default();
        let put = core.answer(
            &Method::PUT,
            "/alice/profile/private",
            br#"{"mfa":{"content":{"phone":"+41790000000"},"recoveryCodes":["a","b"]}}"#,
        );
        assert_eq!(put.0, 200);
        assert_eq!(
            body(&put)["profile"]["mfa"]["content"]["phone"],
            "+41790000000"
        );
        let get = core.answer(&Method::GET, "/alice/profile/private", b"");
        assert_eq!(get.0, 200);
        assert_eq!(body(&get)["profile"]["mfa"]["recoveryCodes"][1], "b");
        assert!(body(&get)["meta"]["apiVersion"].is_string());
        let other = core.answer(&Method::GET, "/bob/profile/private", b"");
        assert_eq!(body(&other)["profile"], json!({}));
    }

    #[test]
    fn an_update_keeps_other_keys_and_null_deletes_a_key() {
        let core = CoreState::default();
        core.answer(
            &Method::PUT,
            "/u/profile/private",
            br#"{"a":1,"mfa":{"x":1}}"#,
        );
        core.answer(&Method::PUT, "/u/profile/private", br#"{"mfa":null}"#);
        assert_eq!(
            core.profile("u"),
            json!({"a": 1}).as_object().cloned().unwrap()
        );
    }

    #[test]
    fn a_profile_update_that_is_not_an_object_is_refused() {
        let core = CoreState::default();
        let answer = core.answer(&Method::PUT, "/u/profile/private", b"[1]");
        assert_eq!(answer.0, 400);
        assert_eq!(body(&answer)["error"]["id"], "invalid-parameters-format");
        assert!(core.profile("u").is_empty());
    }

    #[test]
    fn login_and_access_info_answer_as_before_behind_a_prefix() {
        let core = CoreState::default();
        let login = core.answer(&Method::POST, "/core/alice/auth/login", b"{}");
        assert_eq!(login, (200, Bytes::from_static(LOGIN)));
        let access = core.answer(&Method::GET, "/alice/access-info", b"");
        assert_eq!(body(&access)["type"], "personal");
        assert_eq!(core.answer(&Method::GET, "/profile/private", b"").0, 404);
        assert_eq!(
            core.answer(&Method::DELETE, "/u/profile/private", b"").0,
            404
        );
    }
}

//! Where a request's token is read from, as Pryv reads it: the `Authorization` header (raw,
//! `Bearer x`, or Basic with the token as user name), else the `auth` query parameter. A
//! credential that is there but cannot be read is refused, never taken for a missing one.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::domain::AccessToken;

use super::error::Unreadable;

/// The token of a request: the header wins over the query. `Ok(None)` when neither holds one.
pub fn token(headers: &HeaderMap, query: Option<&str>) -> Result<Option<AccessToken>, Unreadable> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| Unreadable::Header("Authorization"))?
                .trim();
            if value.is_empty() {
                None
            } else {
                parse_authorization(value)?
            }
        }
    };
    let token = match from_header {
        Some(token) => Some(token),
        None => auth_query(query)?.filter(|q| !q.is_empty()),
    };
    Ok(token.map(AccessToken::new))
}

/// The token of an `Authorization` value; `None` for Basic credentials with an empty user.
fn parse_authorization(value: &str) -> Result<Option<String>, Unreadable> {
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => return Ok(Some(value.to_string())),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok((!rest.is_empty()).then(|| rest.to_string()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let text = STANDARD
            .decode(rest)
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .ok_or(Unreadable::BasicCredentials)?;
        let user = text.split(':').next().unwrap_or_default();
        return Ok((!user.is_empty()).then(|| user.to_string()));
    }
    Ok(Some(value.to_string()))
}

/// The first `auth` parameter of a query string, percent-decoded (`+` is a space): a value
/// that is not UTF-8 once decoded cannot be read (it is refused, not replaced by U+FFFD).
fn auth_query(query: Option<&str>) -> Result<Option<String>, Unreadable> {
    let Some(query) = query else {
        return Ok(None);
    };
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if decoded(key).as_deref() != Some("auth") {
            continue;
        }
        return decoded(value).map(Some).ok_or(Unreadable::AuthQuery);
    }
    Ok(None)
}

/// A query component as `application/x-www-form-urlencoded` decodes it; `None` if not UTF-8.
fn decoded(component: &str) -> Option<String> {
    let spaced = component.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    fn read(h: &HeaderMap, q: Option<&str>) -> Option<String> {
        token(h, q).unwrap().map(|t| t.expose().to_string())
    }

    #[test]
    fn the_token_is_read_every_way_pryv_accepts() {
        assert_eq!(read(&with("abc"), None).as_deref(), Some("abc"));
        assert_eq!(read(&with("Bearer abc"), None).as_deref(), Some("abc"));
        let basic = format!("Basic {}", STANDARD.encode("abc:"));
        assert_eq!(read(&with(&basic), None).as_deref(), Some("abc"));
        assert_eq!(
            read(&HeaderMap::new(), Some("auth=abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(read(&HeaderMap::new(), Some("auth=")), None);
        assert_eq!(read(&HeaderMap::new(), None), None);
    }

    #[test]
    fn the_query_is_decoded_as_a_form_and_its_first_auth_wins() {
        let q = |query: &str| read(&HeaderMap::new(), Some(query));
        assert_eq!(q("x=1&auth=a%2Bb+c&auth=other").as_deref(), Some("a+b c"));
        assert_eq!(q("au%74h=k").as_deref(), Some("k"));
        assert_eq!(q("auth").as_deref(), None);
        assert_eq!(q("x=%FF&auth=ok").as_deref(), Some("ok"));
    }

    #[test]
    fn the_header_wins_over_the_query() {
        assert_eq!(
            read(&with("Bearer h"), Some("auth=q")).as_deref(),
            Some("h")
        );
    }

    #[test]
    fn a_credential_that_cannot_be_read_is_refused_not_missing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes("tök".as_bytes()).unwrap(),
        );
        assert!(matches!(
            token(&h, Some("auth=q")),
            Err(Unreadable::Header("Authorization"))
        ));
        assert!(matches!(
            token(&with("Basic !!!"), None),
            Err(Unreadable::BasicCredentials)
        ));
        let latin1 = format!("Basic {}", STANDARD.encode([0xe9, b':']));
        assert!(matches!(
            token(&with(&latin1), None),
            Err(Unreadable::BasicCredentials)
        ));
        assert!(matches!(
            token(&HeaderMap::new(), Some("auth=%FF")),
            Err(Unreadable::AuthQuery)
        ));
    }
}

//! Where a request's token is read from, as Pryv reads it: the `Authorization` header (raw,
//! `Bearer x`, or Basic with the token as user name), else the `auth` query parameter.

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::domain::AccessToken;

pub fn token(headers: &HeaderMap, auth_query: Option<&str>) -> Option<AccessToken> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .and_then(parse_authorization);
    from_header
        .or_else(|| auth_query.filter(|q| !q.is_empty()).map(String::from))
        .map(AccessToken::new)
}

fn parse_authorization(value: &str) -> Option<String> {
    let (scheme, rest) = match value.split_once(' ') {
        Some((s, r)) => (s, r.trim()),
        None => return Some(value.to_string()),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return (!rest.is_empty()).then(|| rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let user = text.split(':').next().unwrap_or_default();
        return (!user.is_empty()).then(|| user.to_string());
    }
    Some(value.to_string())
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
        token(h, q).map(|t| t.expose().to_string())
    }

    #[test]
    fn the_token_is_read_every_way_pryv_accepts() {
        assert_eq!(read(&with("abc"), None).as_deref(), Some("abc"));
        assert_eq!(read(&with("Bearer abc"), None).as_deref(), Some("abc"));
        let basic = format!("Basic {}", STANDARD.encode("abc:"));
        assert_eq!(read(&with(&basic), None).as_deref(), Some("abc"));
        assert_eq!(read(&HeaderMap::new(), Some("abc")).as_deref(), Some("abc"));
        assert_eq!(read(&HeaderMap::new(), Some("")), None);
        assert_eq!(read(&HeaderMap::new(), None), None);
    }

    #[test]
    fn the_header_wins_over_the_query() {
        assert_eq!(read(&with("Bearer h"), Some("q")).as_deref(), Some("h"));
    }
}

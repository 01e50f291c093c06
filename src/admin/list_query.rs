//! The query string of the admin lists (attempts, messages, events): `limit`, and filters
//! that each list reads its own way. An empty value is no filter.

use super::error::AdminError;

/// How many records a list holds when the query does not say.
pub(super) const DEFAULT_LIMIT: usize = 100;
/// The most records a list holds.
pub(super) const MAX_LIMIT: usize = 1000;

/// Reads `query`: answers its `limit` (`DEFAULT_LIMIT` when absent, clamped to 1 to
/// `MAX_LIMIT`), and hands every other key with a non-empty value (trimmed) to `filter`, which
/// takes it, refuses it with the sentence to answer, or ignores a key it does not know.
pub(super) fn read_list_query(
    query: Option<&str>,
    mut filter: impl FnMut(&str, String) -> Result<(), AdminError>,
) -> Result<usize, AdminError> {
    let mut limit = DEFAULT_LIMIT;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let value = value.trim().to_string();
        if value.is_empty() {
            continue;
        }
        if key == "limit" {
            limit = value.parse::<usize>().map_err(|_| {
                AdminError::BadRequest(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}."
                ))
            })?;
        } else {
            filter(&key, value)?;
        }
    }
    Ok(limit.clamp(1, MAX_LIMIT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_clamped_and_empty_values_are_no_filter() {
        let mut seen = Vec::new();
        let limit = read_list_query(Some("limit=5000&user=&status=%20sent%20&x=1"), |k, v| {
            seen.push((k.to_string(), v));
            Ok(())
        })
        .ok();
        assert_eq!(limit, Some(MAX_LIMIT));
        assert_eq!(
            seen,
            [("status".into(), "sent".into()), ("x".into(), "1".into())]
        );
        assert_eq!(
            read_list_query(None, |_, _| Ok(())).ok(),
            Some(DEFAULT_LIMIT)
        );
        assert_eq!(
            read_list_query(Some("limit=0"), |_, _| Ok(())).ok(),
            Some(1)
        );
        assert!(read_list_query(Some("limit=many"), |_, _| Ok(())).is_err());
    }

    #[test]
    fn a_refused_filter_value_is_the_answer() {
        let refused = read_list_query(Some("status=lost"), |_, v| {
            Err(AdminError::BadRequest(format!("no status {v}")))
        });
        assert!(matches!(refused, Err(AdminError::BadRequest(m)) if m == "no status lost"));
    }
}

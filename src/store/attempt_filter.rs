//! Which entries of the attempts log a reader wants: by user, outcome, route and time range.
//! The same rule for every engine, so that an engine only chooses how to walk its log.

use super::AttemptRecord;

/// A query over the attempts log; every part left `None` keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptFilter {
    /// The username, exactly.
    pub username: Option<String>,
    /// `ok` or an error id, exactly.
    pub outcome: Option<String>,
    /// A part of the route (`verify` keeps `/{username}/mfa/verify`), case-insensitive.
    pub route: Option<String>,
    /// Entries at or after this time (seconds since the epoch).
    pub from: Option<u64>,
    /// Entries at or before this time.
    pub to: Option<u64>,
}

impl AttemptFilter {
    /// Everything.
    pub fn all() -> AttemptFilter {
        AttemptFilter::default()
    }

    /// Only `username`'s entries.
    pub fn of_user(username: &str) -> AttemptFilter {
        AttemptFilter {
            username: Some(username.to_string()),
            ..AttemptFilter::default()
        }
    }

    /// The first and last time of the range, for engines that store the log in time order.
    pub fn time_range(&self) -> (u64, u64) {
        (self.from.unwrap_or(0), self.to.unwrap_or(u64::MAX))
    }

    pub fn matches(&self, record: &AttemptRecord) -> bool {
        let (from, to) = self.time_range();
        (from..=to).contains(&record.time)
            && self.username.as_ref().is_none_or(|u| *u == record.username)
            && self.outcome.as_ref().is_none_or(|o| *o == record.outcome)
            && self.route.as_ref().is_none_or(|r| {
                record
                    .route
                    .to_ascii_lowercase()
                    .contains(&r.to_ascii_lowercase())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(username: &str, route: &str, outcome: &str, time: u64) -> AttemptRecord {
        AttemptRecord {
            id: String::new(),
            time,
            username: username.into(),
            method: "POST".into(),
            route: route.into(),
            status: 200,
            outcome: outcome.into(),
            reason: String::new(),
            duration_ms: 0.0,
            admin: None,
        }
    }

    #[test]
    fn every_part_of_a_filter_must_hold() {
        let verify = record("alice", "/{username}/mfa/verify", "invalid-code", 50);
        assert!(AttemptFilter::all().matches(&verify));
        assert!(AttemptFilter::of_user("alice").matches(&verify));
        assert!(!AttemptFilter::of_user("alic").matches(&verify));
        let f = AttemptFilter {
            route: Some("VERIFY".into()),
            outcome: Some("invalid-code".into()),
            from: Some(50),
            to: Some(50),
            ..AttemptFilter::default()
        };
        assert!(f.matches(&verify));
        for other in [
            AttemptFilter {
                from: Some(51),
                ..f.clone()
            },
            AttemptFilter {
                to: Some(49),
                ..f.clone()
            },
            AttemptFilter {
                outcome: Some("ok".into()),
                ..f.clone()
            },
            AttemptFilter {
                route: Some("login".into()),
                ..f.clone()
            },
        ] {
            assert!(!other.matches(&verify), "{other:?}");
        }
    }
}

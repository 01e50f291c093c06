//! The events the flows emit ([`crate::events`]): each flow calls one of these once, after
//! what the event tells has happened. Queuing is all that happens on the request's path.

use crate::domain::{Method, Username};
use crate::events::{self, Event, EventType};
use crate::snapshot::Snapshot;

use super::limits::Tally;
use super::{FlowError, Mfa};

impl Mfa {
    /// Queues `event` for the webhook endpoints of `snap`.
    pub(super) async fn emit(&self, snap: &Snapshot, event: Event) {
        events::emit(&*self.store, &snap.config.events, self.clock.now(), event).await;
    }

    /// The events of one checked attempt that `result` ended: a refused code, and the wait it
    /// started (`wait`: the seconds of a wait this attempt's count began). Attempts refused
    /// unchecked during a wait emit nothing: the wait's start told it, and a caller repeating
    /// them cannot make the queue grow.
    pub(super) async fn emit_attempt<T>(
        &self,
        snap: &Snapshot,
        username: &Username,
        result: &Result<T, FlowError>,
        wait: Option<u64>,
    ) {
        let reason = match result {
            Err(FlowError::InvalidCode) => "wrong-code",
            Err(FlowError::InvalidRecoveryCode) => "wrong-recovery-code",
            Err(FlowError::SessionLocked) => "session-locked",
            _ => return,
        };
        let user = username.as_str();
        let refused = Event::new(EventType::Refused, user).with("reason", reason);
        self.emit(snap, refused).await;
        if let Some(seconds) = wait {
            let started = Event::new(EventType::WaitStarted, user).with("seconds", seconds);
            self.emit(snap, started).await;
        }
    }

    /// `mfa.enrolled` (`methods`: all enrolled now) or `mfa.deactivated` (`methods`: those
    /// left, none when MFA went; `by`: who did it).
    pub(super) async fn emit_enrolment(
        &self,
        snap: &Snapshot,
        username: &Username,
        kind: EventType,
        method: Option<Method>,
        methods: &[Method],
        by: &str,
    ) {
        let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
        let mut event = Event::new(kind, username.as_str())
            .with("methods", names)
            .with("by", by);
        if let Some(m) = method {
            event = event.with("method", m.name());
        }
        self.emit(snap, event).await;
    }
}

/// The seconds of the wait that counting an attempt at `now` began: `old` (the tally before)
/// had no wait in force, `new` has one.
pub(super) fn wait_begun(old: Option<&Tally>, new: &Tally, now: u64) -> Option<u64> {
    let waiting_before = old.is_some_and(|t| t.locked_until > now);
    (!waiting_before && new.locked_until > now).then(|| new.locked_until - now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(locked_until: u64) -> Tally {
        Tally {
            failures: 4,
            last_at: 100,
            locked_until,
            expires_at: 1000,
        }
    }

    #[test]
    fn a_wait_begins_only_when_none_was_in_force() {
        assert_eq!(wait_begun(None, &tally(104), 100), Some(4));
        assert_eq!(wait_begun(Some(&tally(90)), &tally(108), 100), Some(8));
        assert_eq!(wait_begun(Some(&tally(104)), &tally(108), 100), None);
        assert_eq!(wait_begun(Some(&tally(0)), &tally(0), 100), None);
    }
}

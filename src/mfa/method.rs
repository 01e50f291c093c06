//! Which methods a user has and the configuration offers, and where each one's sends go.

use crate::config::{Channel, MfaConfig, Mode};
use crate::domain::Method;
use crate::snapshot::Snapshot;
use crate::store::Profile;
use crate::template::Templates;

use super::error::{FlowError, Invalid};

/// The methods of an enrolment, preferred first; an enrolment from before methods existed
/// has the primary channel's.
pub fn enrolled_methods(snap: &Snapshot, profile: &Profile) -> Vec<Method> {
    if profile.methods.is_empty() {
        vec![Method::Channel(snap.config.mfa.channel)]
    } else {
        profile.methods.clone()
    }
}

/// The method a session names, or the primary channel's when it names none (Pryv's format).
pub(super) fn method_or_primary(snap: &Snapshot, named: Option<Method>) -> Method {
    named.unwrap_or(Method::Channel(snap.config.mfa.channel))
}

/// Every method `method` stands for must be among `enrolled`.
pub(super) fn require_enrolled(method: Method, enrolled: &[Method]) -> Result<(), FlowError> {
    if method.enrolled_as().iter().all(|m| enrolled.contains(m)) {
        return Ok(());
    }
    Err(Invalid::MethodNotEnrolled {
        method,
        enrolled: enrolled.to_vec(),
    }
    .into())
}

/// The configuration offers `method`: its channels are configured (both in single mode for
/// two at once), or authenticators are enabled.
pub(super) fn check_available(snap: &Snapshot, method: Method) -> Result<(), FlowError> {
    match method {
        Method::Totp if !snap.config.mfa.totp.enabled => Err(Invalid::TotpNotEnabled.into()),
        Method::Totp => Ok(()),
        Method::Channel(c) => route(snap, c).map(|_| ()),
        Method::Dual => {
            for c in method.channels() {
                let (cfg, _) = route(snap, c)?;
                if cfg.mode != Mode::Single {
                    return Err(Invalid::DualNeedsSingleMode {
                        channel: c,
                        mode: cfg.mode,
                    }
                    .into());
                }
            }
            Ok(())
        }
    }
}

/// The configuration and templates of a channel.
pub(super) fn route(
    snap: &Snapshot,
    channel: Channel,
) -> Result<(&MfaConfig, &Templates), FlowError> {
    snap.channel(channel)
        .ok_or(FlowError::InvalidParameter(Invalid::ChannelNotConfigured {
            channel,
        }))
}

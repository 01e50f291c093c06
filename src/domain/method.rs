//! A way to receive or produce a second-factor code, named on the wire and on disk as today
//! (`sms`, `email`, `sms+email`, `totp`), plus `voice` and `whatsapp`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Channel;

/// A way to receive or produce a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A code sent by a channel (`sms`, `email`, `voice`, `whatsapp`).
    Channel(Channel),
    /// The same code by SMS and email (`sms+email`).
    Dual,
    /// An authenticator app (`totp`).
    Totp,
}

impl Method {
    /// Every method, in the order the client sentences list them.
    pub const NAMES: &'static str = "sms, email, voice, whatsapp, sms+email or totp";

    pub fn parse(name: &str) -> Option<Method> {
        match name {
            "sms+email" => Some(Method::Dual),
            "totp" => Some(Method::Totp),
            other => Channel::from_name(other).map(Method::Channel),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Method::Channel(c) => c.name(),
            Method::Dual => "sms+email",
            Method::Totp => "totp",
        }
    }

    /// The channels a challenge by this method sends on.
    pub fn channels(self) -> Vec<Channel> {
        match self {
            Method::Channel(c) => vec![c],
            Method::Dual => vec![Channel::Sms, Channel::Email],
            Method::Totp => Vec::new(),
        }
    }

    /// The methods this one stands for in an enrolment (`sms+email` is `sms` and `email`).
    pub fn enrolled_as(self) -> Vec<Method> {
        match self {
            Method::Dual => vec![
                Method::Channel(Channel::Sms),
                Method::Channel(Channel::Email),
            ],
            other => vec![other],
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Method {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Method {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Method, D::Error> {
        let name = String::deserialize(deserializer)?;
        Method::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown method '{name}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_keep_todays_names_on_disk() {
        for name in ["sms", "email", "voice", "whatsapp", "sms+email", "totp"] {
            let m = Method::parse(name).unwrap();
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{name}\""));
            assert_eq!(
                serde_json::from_str::<Method>(&format!("\"{name}\"")).unwrap(),
                m
            );
        }
        assert!(serde_json::from_str::<Method>("\"fax\"").is_err());
    }

    #[test]
    fn sms_and_email_stand_for_both_channels() {
        assert_eq!(Method::Dual.enrolled_as().len(), 2);
        assert_eq!(Method::Totp.channels(), Vec::new());
    }
}

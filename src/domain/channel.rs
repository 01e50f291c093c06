//! How a code reaches a person: by SMS or by email.

/// What an endpoint delivers, and so which message texts fill `{{ message }}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    /// The name in `platform.yml`, in message file names and as a method name.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    /// The channel of this name (`sms`, `email`).
    pub fn from_name(name: &str) -> Option<Channel> {
        match name {
            "sms" => Some(Channel::Sms),
            "email" => Some(Channel::Email),
            _ => None,
        }
    }
}

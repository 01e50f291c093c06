//! How a code reaches a person: by SMS, by email, by a voice call or by WhatsApp.

/// What an endpoint delivers, and so which message texts fill `{{ message }}` and which user
/// data field it sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Sms,
    Email,
    /// A call that reads the code out (Twilio Verify `Channel=call`, Vonage Verify's voice
    /// workflows).
    Voice,
    /// A WhatsApp message (Twilio Verify `Channel=whatsapp`, Twilio Messaging to `whatsapp:`).
    Whatsapp,
}

/// What a channel sends to: a phone number or an email address (the user data fields of
/// `mfa.user_data.phone_fields` or `email_fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Phone,
    Email,
}

impl Channel {
    /// Every channel, in the order lists of them are written.
    pub const ALL: [Channel; 4] = [
        Channel::Sms,
        Channel::Email,
        Channel::Voice,
        Channel::Whatsapp,
    ];

    /// The channel names, as an error message lists them.
    pub const NAMES: &'static str = "sms, email, voice or whatsapp";

    /// The name in `platform.yml`, in message file names and as a method name.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Voice => "voice",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// The channel of this name (`sms`, `email`, `voice`, `whatsapp`).
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }

    /// What a send on this channel goes to: a voice call and a WhatsApp message go to a phone
    /// number, as an SMS does.
    pub fn destination(self) -> Destination {
        match self {
            Channel::Sms | Channel::Voice | Channel::Whatsapp => Destination::Phone,
            Channel::Email => Destination::Email,
        }
    }

    /// The channel whose message texts (`templates/messages/CHANNEL.LANG.hbs`) a send on this
    /// one carries: a voice call and a WhatsApp message carry the SMS texts (`sms.LANG.hbs`),
    /// one short line with the code, which a text-to-speech provider reads out as it stands.
    pub fn texts(self) -> Channel {
        match self {
            Channel::Sms | Channel::Voice | Channel::Whatsapp => Channel::Sms,
            Channel::Email => Channel::Email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_is_found_by_its_name_and_listed_in_names() {
        for channel in Channel::ALL {
            assert_eq!(Channel::from_name(channel.name()), Some(channel));
            assert!(Channel::NAMES.contains(channel.name()), "{channel:?}");
        }
        assert_eq!(Channel::from_name("fax"), None);
        assert_eq!(Channel::from_name("SMS"), None);
    }

    #[test]
    fn voice_and_whatsapp_go_to_a_phone_with_the_sms_texts() {
        for channel in [Channel::Voice, Channel::Whatsapp] {
            assert_eq!(channel.destination(), Destination::Phone);
            assert_eq!(channel.texts(), Channel::Sms);
        }
        assert_eq!(Channel::Email.destination(), Destination::Email);
        assert_eq!(Channel::Email.texts(), Channel::Email);
    }
}

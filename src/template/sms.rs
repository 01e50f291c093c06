//! How an SMS text travels: GSM 03.38 (7-bit) when every character is in its alphabet, UCS-2
//! otherwise, and how many segments that takes (a concatenated SMS loses room to its header).

use serde::Serialize;

/// The basic GSM 7-bit alphabet (one septet each).
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (an escape septet, then one: two septets each).
const GSM_EXTENDED: &str = "\u{c}^{}\\[~]|€";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SmsEncoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// What an SMS text costs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmsInfo {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
    /// The characters that forced UCS-2, if any (at most a few, for the warning).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_gsm: Vec<char>,
}

impl SmsInfo {
    pub fn of(text: &str) -> SmsInfo {
        let mut septets = 0;
        let mut non_gsm = Vec::new();
        for c in text.chars() {
            if GSM_BASIC.contains(c) {
                septets += 1;
            } else if GSM_EXTENDED.contains(c) {
                septets += 2;
            } else if !non_gsm.contains(&c) && non_gsm.len() < 5 {
                non_gsm.push(c);
            }
        }
        if non_gsm.is_empty() {
            SmsInfo {
                encoding: SmsEncoding::Gsm7,
                units: septets,
                segments: segments(septets, 160, 153),
                non_gsm,
            }
        } else {
            let units = text.encode_utf16().count();
            SmsInfo {
                encoding: SmsEncoding::Ucs2,
                units,
                segments: segments(units, 70, 67),
                non_gsm,
            }
        }
    }

    /// `Vonage`'s `type`: `text` for GSM-7, `unicode` otherwise.
    pub fn message_type(&self) -> &'static str {
        match self.encoding {
            SmsEncoding::Gsm7 => "text",
            SmsEncoding::Ucs2 => "unicode",
        }
    }

    /// A warning for a text longer than one segment.
    pub fn warning(&self) -> Option<String> {
        if self.segments <= 1 {
            return None;
        }
        let (encoding, single) = match self.encoding {
            SmsEncoding::Gsm7 => ("GSM-7", 160),
            SmsEncoding::Ucs2 => ("UCS-2", 70),
        };
        let why = if self.non_gsm.is_empty() {
            String::new()
        } else {
            let chars: String = self.non_gsm.iter().collect();
            format!(" (UCS-2 because of: {chars})")
        };
        Some(format!(
            "the SMS takes {} segments: {} {encoding} units, one segment holds {single}{why}; each segment is billed",
            self.segments, self.units
        ))
    }
}

fn segments(units: usize, single: usize, each: usize) -> usize {
    if units <= single {
        1
    } else {
        units.div_ceil(each)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_is_gsm7_one_segment_up_to_160() {
        let info = SmsInfo::of(&"a".repeat(160));
        assert_eq!(info.encoding, SmsEncoding::Gsm7);
        assert_eq!((info.units, info.segments), (160, 1));
        let info = SmsInfo::of(&"a".repeat(161));
        assert_eq!((info.units, info.segments), (161, 2));
        assert_eq!(SmsInfo::of(&"a".repeat(306)).segments, 2);
        assert_eq!(SmsInfo::of(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        let info = SmsInfo::of("€[]");
        assert_eq!(info.encoding, SmsEncoding::Gsm7);
        assert_eq!(info.units, 6);
        assert_eq!(SmsInfo::of(&"€".repeat(80)).segments, 1);
        assert_eq!(SmsInfo::of(&"€".repeat(81)).segments, 2);
    }

    #[test]
    fn accents_of_the_gsm_alphabet_stay_gsm7_others_force_ucs2() {
        let fr = SmsInfo::of("Votre code de vérification est 123456. Il expire à 10h.");
        assert_eq!(fr.encoding, SmsEncoding::Gsm7);
        let es = SmsInfo::of("Tu código es 123456");
        assert_eq!(es.encoding, SmsEncoding::Ucs2);
        assert_eq!(es.non_gsm, vec!['ó']);
        assert_eq!(es.message_type(), "unicode");
        assert_eq!(SmsInfo::of(&"ó".repeat(70)).segments, 1);
        assert_eq!(SmsInfo::of(&"ó".repeat(71)).segments, 2);
        assert_eq!(SmsInfo::of(&"ó".repeat(134)).segments, 2);
        assert_eq!(SmsInfo::of(&"ó".repeat(135)).segments, 3);
    }

    #[test]
    fn characters_outside_the_basic_plane_count_two_ucs2_units() {
        let info = SmsInfo::of("code 😀");
        assert_eq!(info.encoding, SmsEncoding::Ucs2);
        assert_eq!(info.units, 7);
    }

    #[test]
    fn a_warning_only_above_one_segment() {
        assert_eq!(SmsInfo::of("short").warning(), None);
        let w = SmsInfo::of(&"ó".repeat(71)).warning().unwrap();
        assert!(
            w.contains("2 segments") && w.contains("UCS-2") && w.contains('ó'),
            "{w}"
        );
    }
}

//! Values that must never be shown: a [`Secret`] whose `Debug` is redacted, and the
//! [`Secrets`] to mask wherever a request is shown to a person (the values of `${ENV}`
//! references in `platform.yml`).

use std::fmt;

/// A string that must never be printed: `Debug` is redacted.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Values to mask in anything shown to a person.
#[derive(Clone, Default)]
pub struct Secrets(Vec<String>);

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} values)", self.0.len())
    }
}

impl Secrets {
    pub fn new(values: Vec<String>) -> Secrets {
        Secrets(values)
    }

    /// Replaces every occurrence of a secret (and of its percent- or form-encoded form) by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.0 {
            if secret.len() < 4 {
                continue;
            }
            let encoded =
                percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            let form: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for variant in [secret.as_str(), encoded.as_str(), form.as_str()] {
                if out.contains(variant) {
                    out = out.replace(variant, "***");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_plain_and_encoded_forms() {
        let s = Secrets::new(vec!["a b+c/d".to_string()]);
        assert_eq!(s.mask("x a b+c/d y"), "x *** y");
        assert_eq!(s.mask("x=a%20b%2Bc%2Fd"), "x=***");
        assert_eq!(s.mask("x=a+b%2Bc%2Fd"), "x=***");
    }

    #[test]
    fn a_secret_s_debug_hides_its_value() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter22".into())),
            "Secret(***)"
        );
    }
}

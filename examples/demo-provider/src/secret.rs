//! Random values (tokens, codes, session and request ids), the digests the state is keyed by,
//! constant-time comparison and the PKCE check.
//!
//! The state never holds a token, code or id in clear: it is keyed by the SHA-256 digest of the
//! value, so looking one up compares digests rather than the secret itself.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// How many random bytes go into every token, code and id.
const RANDOM_BYTES: usize = 32;

/// A freshly drawn random value, handed out once (in a response, a cookie or a form) and then
/// known to the state only by its [`Key`].
pub(crate) struct Secret(String);

/// The SHA-256 digest of a secret value, used as the key of the in-memory maps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key([u8; 32]);

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed")]
pub(crate) struct RandomUnavailable;

impl Secret {
    /// Draws 32 random bytes, encoded base64url without padding.
    pub(crate) fn generate() -> Result<Self, RandomUnavailable> {
        let mut bytes = [0_u8; RANDOM_BYTES];
        getrandom::fill(&mut bytes).map_err(|_| RandomUnavailable)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The value, to be sent to its one recipient.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The key under which the state remembers this value.
    pub(crate) fn key(&self) -> Key {
        Key::of(&self.0)
    }

    /// Gives up the value, to be sent to its one recipient.
    pub(crate) fn into_exposed(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Secret(<redacted>)")
    }
}

impl Key {
    /// The key of a value presented by a client or a browser.
    pub(crate) fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Key(<digest>)")
    }
}

/// Compares two secrets (passwords, client secrets) in time that does not depend on where they
/// differ, nor on their lengths.
pub(crate) fn secrets_match(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    presented.as_slice().ct_eq(expected.as_slice()).into()
}

/// Whether a string is a well-formed PKCE code verifier or S256 challenge: 43 to 128 characters
/// from the unreserved set (RFC 7636 §4.1 and §4.2).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    let allowed =
        |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
    (43..=128).contains(&value.len()) && value.bytes().all(allowed)
}

/// The S256 check of RFC 7636 §4.6: `BASE64URL-NOPAD(SHA256(verifier)) == challenge`.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
            challenge
        ));
    }

    #[test]
    fn pkce_values_are_length_and_alphabet_checked() {
        assert!(is_pkce_value(&"a".repeat(43)));
        assert!(!is_pkce_value(&"a".repeat(42)));
        assert!(!is_pkce_value(&"a".repeat(129)));
        assert!(!is_pkce_value(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn generated_secrets_are_43_characters_and_differ() {
        let first = Secret::generate().unwrap();
        let second = Secret::generate().unwrap();
        assert_eq!(first.expose().len(), 43);
        assert_ne!(first.expose(), second.expose());
        assert_eq!(first.key(), Key::of(first.expose()));
    }

    #[test]
    fn debug_output_hides_the_value() {
        let secret = Secret::generate().unwrap();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_match("hunter2", "hunter2"));
        assert!(!secrets_match("hunter2", "hunter3"));
        assert!(!secrets_match("", "hunter2"));
    }
}

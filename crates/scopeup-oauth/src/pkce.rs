//! PKCE (RFC 7636) with the S256 method only: verifiers drawn from the `Random` port, so that no
//! OS randomness is needed, and their challenges.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use scopeup_core::{PkceVerifier, Random, RandomError};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A fresh code verifier: 32 random bytes, base64url-encoded without padding (43 characters).
pub fn pkce_verifier(random: &dyn Random) -> Result<PkceVerifier, RandomError> {
    let mut bytes = Zeroizing::new([0_u8; 32]);
    random.fill(bytes.as_mut())?;
    Ok(PkceVerifier::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

/// The S256 code challenge of a verifier: the base64url-encoded SHA-256 of its text.
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.expose_secret().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::CountingRandom;

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_verifier_is_43_url_safe_characters_from_the_random_port() {
        let verifier = pkce_verifier(&CountingRandom).unwrap();
        let text = verifier.expose_secret();
        assert_eq!(text.len(), 43);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(text, URL_SAFE_NO_PAD.encode((0..32).collect::<Vec<u8>>()));
    }
}

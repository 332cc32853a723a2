//! Secret values: tokens, codes, verifiers and client secrets.
//!
//! Each is its own type so that it cannot be passed where another is meant. None implements
//! `Display`; `Debug` prints only the type name; comparison is constant-time; memory is zeroed on
//! drop. The value is reached through an explicit `expose_secret`. They serialize as plain
//! strings because grants must be stored; the store's sealing layer encrypts every record before
//! it reaches a backend.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value. Every call site is a place where the secret leaves its type:
            /// keep them few and never log the result.
            pub fn expose_secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
            }
        }

        impl Eq for $name {}
    };
}

secret_string!(
    /// An OAuth access token issued by a provider.
    AccessToken
);
secret_string!(
    /// An OAuth refresh token issued by a provider.
    RefreshToken
);
secret_string!(
    /// An OAuth client secret.
    ClientSecret
);
secret_string!(
    /// An authorization code returned to the callback.
    AuthorizationCode
);
secret_string!(
    /// A PKCE code verifier (RFC 7636).
    PkceVerifier
);

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    left.len() == right.len() && bool::from(left.ct_eq(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    // No secret can be formatted for display, so none can end up in a message by accident.
    static_assertions::assert_not_impl_any!(AccessToken: std::fmt::Display);
    static_assertions::assert_not_impl_any!(RefreshToken: std::fmt::Display);
    static_assertions::assert_not_impl_any!(ClientSecret: std::fmt::Display);
    static_assertions::assert_not_impl_any!(AuthorizationCode: std::fmt::Display);
    static_assertions::assert_not_impl_any!(PkceVerifier: std::fmt::Display);

    #[test]
    fn debug_never_shows_the_value() {
        let token = AccessToken::new("gho_secret_value");
        assert_eq!(format!("{token:?}"), "AccessToken(<redacted>)");
        assert_eq!(
            format!("{:?}", Some(RefreshToken::new("r"))),
            "Some(RefreshToken(<redacted>))"
        );
    }

    #[test]
    fn comparison_and_access() {
        assert_eq!(AccessToken::new("a"), AccessToken::new("a"));
        assert_ne!(AccessToken::new("a"), AccessToken::new("ab"));
        assert_eq!(ClientSecret::new("s").expose_secret(), "s");
    }
}

//! The error of the upstream OAuth operations, with the provider's own words kept apart from
//! ours.
//!
//! Text that came from a provider (error codes, descriptions, issuers) is cleaned with
//! [`upstream_text`](scopeup_core::refusal::upstream_text) before it is stored here; it is still
//! untrusted and must be escaped wherever it is shown.

use scopeup_core::HttpError;
use scopeup_core::refusal::upstream_text;

/// An upstream OAuth operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The provider answered with an OAuth error response (RFC 6749 §5.2, RFC 7009 §2.2.1),
    /// whatever the HTTP status: GitHub sends its token errors with 200.
    #[error("provider answered with oauth error `{error}`")]
    Provider {
        /// The error code, such as `invalid_grant`.
        error: String,
        /// The provider's `error_description`, for display.
        description: Option<String>,
    },
    /// The provider answered with a status the operation does not expect, and no OAuth error.
    #[error("provider answered with unexpected status {status}")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },
    /// No complete answer came back.
    #[error("http exchange with the provider failed")]
    Transport(#[from] HttpError),
    /// The provider answered with something this crate cannot read.
    #[error("provider sent an invalid {what}")]
    InvalidResponse {
        /// What could not be read.
        what: &'static str,
    },
    /// The identity answer holds no account id at the configured pointer.
    #[error("identity answer holds no usable account id")]
    IdentityMissing,
    /// Authorization server metadata could not be found or used.
    #[error("discovery for issuer `{issuer}` failed")]
    Discovery {
        /// The issuer asked about, as given.
        issuer: String,
        /// Why.
        #[source]
        reason: DiscoveryError,
    },
    /// An endpoint would carry credentials in clear text: it is neither `https` nor `http` to a
    /// loopback address.
    #[error("{endpoint} endpoint is neither https nor loopback http")]
    InsecureEndpoint {
        /// Which endpoint (`token`, `revocation`, `identity` or `issuer`).
        endpoint: &'static str,
    },
}

/// Why discovery found no usable metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// No well-known location answered with a JSON metadata document.
    #[error("no metadata document at any well-known location")]
    NotFound,
    /// Every document found names another issuer (RFC 8414 §3.3 forbids using it).
    #[error("metadata names issuer `{found}` instead")]
    IssuerMismatch {
        /// The issuer the last mismatching document named.
        found: String,
    },
    /// The document for this issuer lacks a required field or holds a malformed one.
    #[error("metadata document is malformed or incomplete")]
    Malformed,
    /// The server lists its PKCE methods and S256 is not among them.
    #[error("authorization server does not support pkce s256")]
    NoS256,
    /// The issuer has a query or a fragment, which RFC 8414 §2 forbids.
    #[error("issuer has a query or a fragment")]
    InvalidIssuer,
    /// The metadata names no userinfo endpoint, so the account behind a token cannot be learned
    /// from it; configure the provider's identity lookup by hand.
    #[error("metadata names no userinfo endpoint")]
    NoUserinfoEndpoint,
}

impl OAuthError {
    /// Whether the provider refused the grant itself (`invalid_grant`): the authorization code
    /// or refresh token is expired, revoked or already used, and only a new authorization helps.
    ///
    /// GitHub's own names for this, `bad_verification_code` and `bad_refresh_token`, count too.
    pub fn is_invalid_grant(&self) -> bool {
        match self {
            Self::Provider { error, .. } => {
                matches!(
                    error.as_str(),
                    "invalid_grant" | "bad_verification_code" | "bad_refresh_token"
                )
            }
            _ => false,
        }
    }

    /// The OAuth error code, where the provider sent one.
    pub fn provider_error(&self) -> Option<&str> {
        match self {
            Self::Provider { error, .. } => Some(error),
            _ => None,
        }
    }

    // A provider's error response, cleaned for keeping.
    pub(crate) fn provider(error: &str, description: Option<&str>) -> Self {
        Self::Provider {
            error: upstream_text(error),
            description: description
                .map(upstream_text)
                .filter(|text| !text.is_empty()),
        }
    }
}

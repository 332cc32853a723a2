//! The engine's errors. Each says what failed without repeating its source's text; the inbound
//! adapter decides the HTTP status.

use scopeup_core::{ProviderId, RandomError, StoreError};

/// An engine operation failed. Stored grants are never lost by an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The provider id is not configured.
    #[error("provider `{provider}` is not configured")]
    UnknownProvider {
        /// The id asked for.
        provider: ProviderId,
    },
    /// The store failed, is unreachable, or holds a record that does not open.
    #[error("a store operation failed")]
    Store(#[from] StoreError),
    /// The secure random source failed.
    #[error("could not draw random bytes")]
    Random(#[from] RandomError),
    /// A stored record could not be decoded.
    #[error("a stored record could not be decoded")]
    Record(#[source] serde_json::Error),
    /// The provider could not refresh the grant.
    #[error("the provider could not refresh the grant")]
    Refresh(#[source] scopeup_oauth::OAuthError),
    /// Another instance held the grant's refresh lease for longer than the engine waits.
    #[error("another instance is refreshing the grant")]
    RefreshBusy,
    /// A record changed under the engine too many times in a row.
    #[error("too much contention on a stored record")]
    Contention,
}

/// The engine could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The public URL is not usable.
    #[error("public URL {reason}")]
    PublicUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A provider's redirect URI is not the engine's callback.
    #[error("provider `{provider}` must use the redirect URI {expected}")]
    RedirectUriMismatch {
        /// The provider.
        provider: ProviderId,
        /// The engine's callback URL.
        expected: String,
    },
    /// Two providers share an id.
    #[error("provider `{provider}` is configured twice")]
    DuplicateProvider {
        /// The repeated id.
        provider: ProviderId,
    },
    /// No HTTP client was given.
    #[error("an HTTP client is required")]
    MissingHttpClient,
    /// No clock was given on a target without a system clock.
    #[error("a clock is required on this target")]
    MissingClock,
    /// No sleep port was given on a target without a default timer.
    #[error("a sleep port is required on this target")]
    MissingSleep,
    /// No random source was given on a target without an operating system one.
    #[error("a random source is required on this target")]
    MissingRandom,
}

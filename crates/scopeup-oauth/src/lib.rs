//! The upstream OAuth 2 client of scopeup: a provider described as data plus a small trait for
//! its quirks, and the protocol run over scopeup's [`HttpClient`](scopeup_core::HttpClient)
//! port.
//!
//! - [`pkce_verifier`] and [`pkce_challenge`]: PKCE S256, with randomness from the
//!   [`Random`](scopeup_core::Random) port;
//! - [`authorize_url`]: the URL to send the user's browser to, with the provider's extras;
//! - [`exchange_code`] and [`refresh`]: the token endpoint, through the `oauth2` crate, reading
//!   the *granted* scopes from the response (a refresh never asks for more);
//! - [`fetch_account`]: which upstream account a token belongs to;
//! - [`revoke`]: RFC 7009 revocation;
//! - [`discover`]: RFC 8414 and OpenID Connect discovery, and
//!   [`ProviderConfig::from_metadata`] to build a configuration from it;
//! - [`presets`]: GitHub, Google, Slack, Cloudflare and generic discovery, each with its
//!   endpoints, scope catalog, authorize extras and refusal classifier.
//!
//! Choosing scopes, storing state and grants, and deciding whether an answer is acceptable
//! (the right account, not a narrower grant) are the engine's part, in the `scopeup` crate.
//!
//! Endpoints that receive credentials must be `https`, or `http` to a loopback address for
//! development. Nothing here needs an async runtime, the system clock or OS randomness, so the
//! crate builds for `wasm32-unknown-unknown`.
//!
//! ```
//! use scopeup_core::{AuthorizationCode, HttpClient, PkceVerifier, Random, ScopeSet};
//! use scopeup_oauth::{AuthorizeContext, OAuthError, Provider, TokenResponse};
//!
//! // At the picker's submit: a verifier to keep with the state, and the URL to redirect to.
//! fn start(
//!     provider: &Provider,
//!     random: &dyn Random,
//!     requested: &ScopeSet,
//!     state: &str,
//! ) -> Result<(PkceVerifier, url::Url), scopeup_core::RandomError> {
//!     let verifier = scopeup_oauth::pkce_verifier(random)?;
//!     let context = AuthorizeContext { holds_refresh_token: false };
//!     let url = scopeup_oauth::authorize_url(provider, requested, state, &verifier, &context);
//!     Ok((verifier, url))
//! }
//!
//! // At the callback: the code and the verifier kept with the state.
//! async fn finish(
//!     http: &dyn HttpClient,
//!     provider: &Provider,
//!     code: &AuthorizationCode,
//!     verifier: &PkceVerifier,
//! ) -> Result<(TokenResponse, scopeup_core::AccountId), OAuthError> {
//!     let tokens = scopeup_oauth::exchange_code(http, provider, code, verifier).await?;
//!     let account = scopeup_oauth::fetch_account(http, provider, &tokens.access_token).await?;
//!     Ok((tokens, account))
//! }
//! # let _ = (start, finish);
//! ```
//!
//! # Features
//!
//! - `reqwest` (off by default): [`ReqwestHttpClient`], an `HttpClient` for native targets with
//!   a timeout, a body size limit and no redirects.
//!
//! # Limits
//!
//! Only client secrets authenticate the client (`client_secret_basic`, `client_secret_post`);
//! `private_key_jwt` and mutual TLS are not supported. The account is learned from a JSON
//! identity endpoint; ID tokens are not read.

mod account;
mod authorize;
mod discovery;
mod error;
mod pkce;
pub mod presets;
mod provider;
#[cfg(feature = "reqwest")]
mod reqwest_client;
mod revoke;
#[cfg(test)]
mod test_support;
mod token;
mod transport;

pub use crate::account::fetch_account;
pub use crate::authorize::authorize_url;
pub use crate::discovery::{AuthorizationServerMetadata, discover};
pub use crate::error::{DiscoveryError, OAuthError};
pub use crate::pkce::{pkce_challenge, pkce_verifier};
pub use crate::provider::{
    AuthorizeContext, ClientAuthMethod, ClientSettings, DEFAULT_ACCOUNT_ID_POINTER,
    GenericBehaviour, IdentityLookup, Provider, ProviderBehaviour, ProviderConfig,
};
#[cfg(feature = "reqwest")]
pub use crate::reqwest_client::{HttpClientBuildError, HttpClientConfig, ReqwestHttpClient};
pub use crate::revoke::{RevocableToken, RevocationOutcome, revoke};
pub use crate::token::{TokenResponse, exchange_code, refresh};

#[cfg(all(test, not(target_arch = "wasm32")))]
mod send_tests {
    //! The operations' futures must be `Send` on native targets, where hosts spawn them.

    use scopeup_core::{AccessToken, AuthorizationCode, HttpClient, PkceVerifier, RefreshToken};

    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn operation_futures_are_send() {
        let http = crate::test_support::FakeHttp::new();
        let http: &dyn HttpClient = &http;
        let provider = crate::test_support::provider();
        let (code, verifier) = (AuthorizationCode::new("c"), PkceVerifier::new("v"));
        let (access, refresh_token) = (AccessToken::new("a"), RefreshToken::new("r"));
        let issuer = crate::test_support::url("https://auth.example");

        assert_send(&exchange_code(http, &provider, &code, &verifier));
        assert_send(&refresh(http, &provider, &refresh_token));
        assert_send(&fetch_account(http, &provider, &access));
        assert_send(&revoke(http, &provider, RevocableToken::Access(&access)));
        assert_send(&discover(http, &issuer));
    }
}

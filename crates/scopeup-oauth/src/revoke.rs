//! Token revocation (RFC 7009), for the superseded token after an upgrade and for tokens a host
//! drops.

use scopeup_core::{AccessToken, HttpClient, RefreshToken};

use crate::error::OAuthError;
use crate::provider::Provider;
use crate::token::ErrorBody;
use crate::transport::{check_endpoint, client_form};

/// A token to revoke, which also says what kind it is for the `token_type_hint`.
#[derive(Debug, Clone, Copy)]
pub enum RevocableToken<'a> {
    /// An access token.
    Access(&'a AccessToken),
    /// A refresh token; revoking it usually revokes the access tokens issued from it.
    Refresh(&'a RefreshToken),
}

/// What a revocation request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationOutcome {
    /// The provider accepted the request. RFC 7009 answers the same for a token that was
    /// already invalid.
    Revoked,
    /// The provider has no revocation endpoint configured; nothing was sent.
    NotSupported,
}

/// Asks the provider to revoke a token, authenticating the client as configured. Without a
/// revocation endpoint it sends nothing and says so.
#[tracing::instrument(
    name = "Provider::revoke",
    level = "debug",
    skip_all,
    fields(provider = %provider.config.id, hint = token.hint())
)]
pub async fn revoke(
    http: &dyn HttpClient,
    provider: &Provider,
    token: RevocableToken<'_>,
) -> Result<RevocationOutcome, OAuthError> {
    let Some(endpoint) = &provider.config.revocation_endpoint else {
        tracing::debug!("provider has no revocation endpoint");
        return Ok(RevocationOutcome::NotSupported);
    };
    check_endpoint(endpoint, "revocation")?;

    let fields = [("token", token.secret()), ("token_type_hint", token.hint())];
    let request = client_form(&provider.config, endpoint.clone(), &fields);
    let response = http.send(request).await?;
    tracing::debug!(status = response.status, "revocation endpoint answered");

    if response.is_success() {
        return Ok(RevocationOutcome::Revoked);
    }
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(error) => Err(OAuthError::provider(
            &error.error,
            error.error_description.as_deref(),
        )),
        Err(_) => Err(OAuthError::UnexpectedStatus {
            status: response.status,
        }),
    }
}

impl RevocableToken<'_> {
    /// The `token_type_hint` value (RFC 7009 §2.1).
    pub fn hint(&self) -> &'static str {
        match self {
            Self::Access(_) => "access_token",
            Self::Refresh(_) => "refresh_token",
        }
    }

    fn secret(&self) -> &str {
        match self {
            Self::Access(token) => token.expose_secret(),
            Self::Refresh(token) => token.expose_secret(),
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use scopeup_core::HttpResponse;

    use super::*;
    use crate::provider::ClientAuthMethod;
    use crate::test_support::{FakeHttp, block_on, form, header, provider};

    const REVOKE: &str = "https://auth.example/revoke";

    #[test]
    fn revoke_sends_the_token_and_its_hint_with_client_auth() {
        let http = FakeHttp::new().route(REVOKE, HttpResponse::new(200));
        let token = RefreshToken::new("rt");
        let outcome = block_on(revoke(&http, &provider(), RevocableToken::Refresh(&token)));
        assert_eq!(outcome.unwrap(), RevocationOutcome::Revoked);

        let request = &http.requests()[0];
        let body = form(request);
        assert_eq!(body["token"], "rt");
        assert_eq!(body["token_type_hint"], "refresh_token");
        let basic = format!("Basic {}", STANDARD.encode("scopeup-client:s3cret"));
        assert_eq!(header(request, "authorization"), Some(basic.as_str()));
        assert_eq!(
            header(request, "content-type"),
            Some("application/x-www-form-urlencoded")
        );
    }

    #[test]
    fn revoke_with_post_auth_puts_the_client_in_the_body() {
        let mut provider = provider();
        provider.config.client_auth = ClientAuthMethod::Post;
        let http = FakeHttp::new().route(REVOKE, HttpResponse::new(200));
        let token = AccessToken::new("at");
        block_on(revoke(&http, &provider, RevocableToken::Access(&token))).unwrap();

        let request = &http.requests()[0];
        let body = form(request);
        assert_eq!(body["token_type_hint"], "access_token");
        assert_eq!(body["client_id"], "scopeup-client");
        assert_eq!(body["client_secret"], "s3cret");
        assert_eq!(header(request, "authorization"), None);
    }

    #[test]
    fn revoke_without_an_endpoint_is_not_supported_and_sends_nothing() {
        let mut provider = provider();
        provider.config.revocation_endpoint = None;
        let http = FakeHttp::new();
        let token = AccessToken::new("at");
        let outcome = block_on(revoke(&http, &provider, RevocableToken::Access(&token)));
        assert_eq!(outcome.unwrap(), RevocationOutcome::NotSupported);
        assert!(http.requests().is_empty());
    }

    #[test]
    fn a_refused_revocation_is_a_provider_error() {
        let body = r#"{"error":"unsupported_token_type"}"#;
        let http = FakeHttp::new().route(REVOKE, HttpResponse::new(400).with_body(body));
        let token = AccessToken::new("at");
        let error = block_on(revoke(&http, &provider(), RevocableToken::Access(&token)));
        assert_eq!(
            error.unwrap_err().provider_error(),
            Some("unsupported_token_type")
        );
    }
}

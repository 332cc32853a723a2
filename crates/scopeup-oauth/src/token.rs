//! The token endpoint: authorization code exchange and refresh, run by `oauth2` over the
//! `HttpClient` port, and the token response as scopeup keeps it.
//!
//! The granted scopes are read from the response (RFC 6749 §5.1) through the provider's
//! behaviour, so that GitHub's comma-separated list parses. Whether the grant is wide enough is
//! the engine's decision.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{EndpointNotSet, EndpointSet, RequestTokenError, TokenResponse as _};
use scopeup_core::{
    AccessToken, AuthorizationCode, HttpClient, HttpError, PkceVerifier, RefreshToken, ScopeSet,
};
use serde::Deserialize;

use crate::error::OAuthError;
use crate::provider::{ClientAuthMethod, Provider, ProviderConfig};
use crate::transport::{PortClient, check_endpoint};

/// What the token endpoint granted. `Debug` shows no token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: AccessToken,
    /// The refresh token, if one was issued. A refresh that returns none keeps the old one
    /// valid (RFC 6749 §6).
    pub refresh_token: Option<RefreshToken>,
    /// The access token's lifetime from the moment of the response, if the provider said.
    pub expires_in: Option<Duration>,
    /// The scopes granted, as the response's `scope` states them. `None` when the response had
    /// no `scope`, which RFC 6749 §5.1 allows only when the grant is exactly what was requested.
    pub granted_scopes: Option<ScopeSet>,
}

/// Redeems an authorization code with its PKCE verifier, authenticating the client as
/// configured and sending the configured redirect URI.
#[tracing::instrument(
    name = "Provider::exchange_code",
    level = "debug",
    skip_all,
    fields(provider = %provider.config.id)
)]
pub async fn exchange_code(
    http: &dyn HttpClient,
    provider: &Provider,
    code: &AuthorizationCode,
    verifier: &PkceVerifier,
) -> Result<TokenResponse, OAuthError> {
    check_endpoint(&provider.config.token_endpoint, "token")?;
    let client = token_client(&provider.config);
    let port = PortClient::new(http);

    let answer = client
        .exchange_code(oauth2::AuthorizationCode::new(
            code.expose_secret().to_owned(),
        ))
        .set_pkce_verifier(oauth2::PkceCodeVerifier::new(
            verifier.expose_secret().to_owned(),
        ))
        .request_async(&port)
        .await;

    read_answer(provider, answer, port.last_status())
}

/// Redeems a refresh token. No `scope` is sent, so the new access token has the grant's scopes
/// and never more: a refresh is not a way to widen a grant.
#[tracing::instrument(
    name = "Provider::refresh",
    level = "debug",
    skip_all,
    fields(provider = %provider.config.id)
)]
pub async fn refresh(
    http: &dyn HttpClient,
    provider: &Provider,
    refresh_token: &RefreshToken,
) -> Result<TokenResponse, OAuthError> {
    check_endpoint(&provider.config.token_endpoint, "token")?;
    let client = token_client(&provider.config);
    let port = PortClient::new(http);

    let refresh_token = oauth2::RefreshToken::new(refresh_token.expose_secret().to_owned());
    let answer = client
        .exchange_refresh_token(&refresh_token)
        .request_async(&port)
        .await;

    read_answer(provider, answer, port.last_status())
}

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn token_client(config: &ProviderConfig) -> TokenClient {
    let auth_type = match config.client_auth {
        ClientAuthMethod::Basic => oauth2::AuthType::BasicAuth,
        ClientAuthMethod::Post => oauth2::AuthType::RequestBody,
    };
    let client = BasicClient::new(oauth2::ClientId::new(config.client_id.clone()))
        .set_token_uri(oauth2::TokenUrl::from_url(config.token_endpoint.clone()))
        .set_redirect_uri(oauth2::RedirectUrl::from_url(config.redirect_uri.clone()))
        .set_auth_type(auth_type);
    match &config.client_secret {
        Some(secret) => {
            client.set_client_secret(oauth2::ClientSecret::new(secret.expose_secret().to_owned()))
        }
        None => client,
    }
}

// Turns what `oauth2` made of the answer into ours.
fn read_answer(
    provider: &Provider,
    answer: Result<BasicTokenResponse, RequestTokenError<HttpError, BasicErrorResponse>>,
    status: Option<u16>,
) -> Result<TokenResponse, OAuthError> {
    let response = match answer {
        Ok(response) => response,
        Err(RequestTokenError::ServerResponse(error)) => {
            let description = error.error_description().map(String::as_str);
            let error = OAuthError::provider(error.error().as_ref(), description);
            tracing::debug!(?status, %error, "token endpoint refused");
            return Err(error);
        }
        Err(RequestTokenError::Request(error)) => return Err(OAuthError::Transport(error)),
        Err(RequestTokenError::Parse(_, body)) => return Err(unreadable_answer(&body, status)),
        Err(RequestTokenError::Other(_)) => return Err(unreadable_answer(&[], status)),
    };

    let access_token = response.access_token().secret();
    if access_token.is_empty() {
        return Err(OAuthError::InvalidResponse {
            what: "token response",
        });
    }
    // `oauth2` split the `scope` value on single spaces; joining on them restores it exactly.
    let granted_scopes = match response.scopes() {
        Some(scopes) => {
            let raw = scopes
                .iter()
                .map(|scope| scope.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let parsed = provider.behaviour.parse_granted_scopes(&raw);
            Some(parsed.map_err(|_| OAuthError::InvalidResponse {
                what: "granted scope",
            })?)
        }
        None => None,
    };
    tracing::debug!(
        granted = ?granted_scopes,
        refresh_token = response.refresh_token().is_some(),
        expires_in = ?response.expires_in(),
        "token endpoint granted"
    );

    Ok(TokenResponse {
        access_token: AccessToken::new(access_token.as_str()),
        refresh_token: response
            .refresh_token()
            .map(|token| RefreshToken::new(token.secret().as_str())),
        expires_in: response.expires_in(),
        granted_scopes,
    })
}

// An answer `oauth2` could not read: an OAuth error with a 200 (GitHub), an error page, or a
// malformed success.
fn unreadable_answer(body: &[u8], status: Option<u16>) -> OAuthError {
    if let Ok(error) = serde_json::from_slice::<ErrorBody>(body) {
        let error = OAuthError::provider(&error.error, error.error_description.as_deref());
        tracing::debug!(?status, %error, "token endpoint refused");
        return error;
    }
    match status {
        Some(200) | None => OAuthError::InvalidResponse {
            what: "token response",
        },
        Some(status) => OAuthError::UnexpectedStatus { status },
    }
}

/// The RFC 6749 §5.2 error body, read wherever a provider puts one.
#[derive(Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: String,
    #[serde(default)]
    pub(crate) error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use scopeup_core::{HttpResponse, ScopeError};

    use super::*;
    use crate::provider::ProviderBehaviour;
    use crate::test_support::{FakeHttp, block_on, form, header, provider, set};

    const TOKEN: &str = "https://auth.example/token";

    struct CommaScopes;

    impl ProviderBehaviour for CommaScopes {
        fn parse_granted_scopes(&self, raw: &str) -> Result<ScopeSet, ScopeError> {
            ScopeSet::parse_delimited(raw, |c| c == ',')
        }
    }

    fn json(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(status)
            .with_header("Content-Type", "application/json; charset=utf-8")
            .with_body(body)
    }

    fn exchange(http: &FakeHttp, provider: &Provider) -> Result<TokenResponse, OAuthError> {
        let code = AuthorizationCode::new("the-code");
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        block_on(exchange_code(http, provider, &code, &verifier))
    }

    #[test]
    fn code_exchange_sends_the_verifier_and_basic_client_auth() {
        let body = serde_json::json!({
            "access_token": "at",
            "token_type": "Bearer",
            "refresh_token": "rt",
            "expires_in": 3600,
            "scope": "notes:read notes:write",
        });
        let http = FakeHttp::new().route(TOKEN, json(200, &body.to_string()));
        let response = exchange(&http, &provider()).unwrap();

        let request = &http.requests()[0];
        let body = form(request);
        assert_eq!(body["grant_type"], "authorization_code");
        assert_eq!(body["code"], "the-code");
        assert_eq!(
            body["code_verifier"],
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(body["redirect_uri"], "https://host.example/oauth/callback");
        assert!(!body.contains_key("client_secret"));
        let basic = format!("Basic {}", STANDARD.encode("scopeup-client:s3cret"));
        assert_eq!(header(request, "authorization"), Some(basic.as_str()));

        assert_eq!(response.access_token.expose_secret(), "at");
        assert_eq!(response.refresh_token.unwrap().expose_secret(), "rt");
        assert_eq!(response.expires_in, Some(Duration::from_secs(3600)));
        assert_eq!(response.granted_scopes, Some(set("notes:read notes:write")));
    }

    #[test]
    fn code_exchange_with_post_auth_sends_the_secret_in_the_body() {
        let mut provider = provider();
        provider.config.client_auth = ClientAuthMethod::Post;
        let http = FakeHttp::new().route(
            TOKEN,
            json(200, r#"{"access_token":"at","token_type":"bearer"}"#),
        );
        exchange(&http, &provider).unwrap();

        let request = &http.requests()[0];
        let body = form(request);
        assert_eq!(body["client_id"], "scopeup-client");
        assert_eq!(body["client_secret"], "s3cret");
        assert_eq!(header(request, "authorization"), None);
    }

    #[test]
    fn a_public_client_sends_only_its_id() {
        let mut provider = provider();
        provider.config.client_secret = None;
        let http = FakeHttp::new().route(
            TOKEN,
            json(200, r#"{"access_token":"at","token_type":"bearer"}"#),
        );
        exchange(&http, &provider).unwrap();

        let body = form(&http.requests()[0]);
        assert_eq!(body["client_id"], "scopeup-client");
        assert!(!body.contains_key("client_secret"));
        assert_eq!(header(&http.requests()[0], "authorization"), None);
    }

    #[test]
    fn a_response_without_scope_means_as_requested() {
        let http = FakeHttp::new().route(
            TOKEN,
            json(200, r#"{"access_token":"at","token_type":"bearer"}"#),
        );
        let response = exchange(&http, &provider()).unwrap();
        assert_eq!(response.granted_scopes, None);
        assert_eq!(response.refresh_token, None);
        assert_eq!(response.expires_in, None);
    }

    #[test]
    fn a_comma_separated_scope_parses_through_a_behaviour_that_splits_commas() {
        let body = r#"{"access_token":"gho_x","token_type":"bearer","scope":"repo,read:org"}"#;
        let http = FakeHttp::new().route(TOKEN, json(200, body));

        let github = Provider::new(provider().config, Arc::new(CommaScopes));
        let response = exchange(&http, &github).unwrap();
        assert_eq!(response.granted_scopes, Some(set("read:org repo")));

        // The generic behaviour reads the same text as one scope, as RFC 6749 would.
        let generic = exchange(&http, &provider()).unwrap();
        assert_eq!(generic.granted_scopes, Some(set("repo,read:org")));
    }

    #[test]
    fn an_error_body_with_400_is_a_provider_error() {
        let body = r#"{"error":"invalid_grant","error_description":"code was already used"}"#;
        let http = FakeHttp::new().route(TOKEN, json(400, body));
        let error = exchange(&http, &provider()).unwrap_err();

        assert!(error.is_invalid_grant());
        let OAuthError::Provider { error, description } = error else {
            panic!()
        };
        assert_eq!(error, "invalid_grant");
        assert_eq!(description.as_deref(), Some("code was already used"));
    }

    #[test]
    fn an_error_body_with_200_is_a_provider_error() {
        // GitHub answers token errors with 200 and an `error` field.
        let body = serde_json::json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/",
        });
        let http = FakeHttp::new().route(TOKEN, json(200, &body.to_string()));
        let error = exchange(&http, &provider()).unwrap_err();

        assert_eq!(error.provider_error(), Some("bad_verification_code"));
        assert!(error.is_invalid_grant());
    }

    #[test]
    fn an_error_page_is_an_unexpected_status_and_garbage_is_an_invalid_response() {
        let page = HttpResponse::new(502)
            .with_header("content-type", "text/html")
            .with_body("<html>bad gateway</html>");
        let http = FakeHttp::new().route(TOKEN, page);
        assert!(matches!(
            exchange(&http, &provider()),
            Err(OAuthError::UnexpectedStatus { status: 502 })
        ));

        let empty = FakeHttp::new().route(TOKEN, HttpResponse::new(503));
        assert!(matches!(
            exchange(&empty, &provider()),
            Err(OAuthError::UnexpectedStatus { status: 503 })
        ));

        let garbage = FakeHttp::new().route(TOKEN, json(200, r#"{"token":"x"}"#));
        assert!(matches!(
            exchange(&garbage, &provider()),
            Err(OAuthError::InvalidResponse {
                what: "token response"
            })
        ));

        let bad_scope = FakeHttp::new().route(
            TOKEN,
            json(
                200,
                r#"{"access_token":"a","token_type":"bearer","scope":"a\"b"}"#,
            ),
        );
        assert!(matches!(
            exchange(&bad_scope, &provider()),
            Err(OAuthError::InvalidResponse {
                what: "granted scope"
            })
        ));
    }

    #[test]
    fn a_transport_failure_is_reported_as_such() {
        let http = FakeHttp::new().fail(TOKEN, || HttpError::Timeout);
        assert!(matches!(
            exchange(&http, &provider()),
            Err(OAuthError::Transport(HttpError::Timeout))
        ));
    }

    #[test]
    fn a_clear_text_token_endpoint_is_refused_before_anything_is_sent() {
        let mut provider = provider();
        provider.config.token_endpoint = "http://auth.example/token".parse().unwrap();
        let http = FakeHttp::new();
        assert!(matches!(
            exchange(&http, &provider),
            Err(OAuthError::InsecureEndpoint { endpoint: "token" })
        ));
        assert!(http.requests().is_empty());
    }

    #[test]
    fn refresh_sends_no_scope_parameter() {
        let http = FakeHttp::new().route(
            TOKEN,
            json(
                200,
                r#"{"access_token":"at2","token_type":"bearer","refresh_token":"rt2"}"#,
            ),
        );
        let response = block_on(refresh(&http, &provider(), &RefreshToken::new("rt1"))).unwrap();

        let body = form(&http.requests()[0]);
        assert_eq!(body["grant_type"], "refresh_token");
        assert_eq!(body["refresh_token"], "rt1");
        assert!(!body.contains_key("scope"));
        assert_eq!(response.access_token.expose_secret(), "at2");
        assert_eq!(response.refresh_token.unwrap().expose_secret(), "rt2");
    }

    #[test]
    fn debug_output_shows_no_token() {
        let response = TokenResponse {
            access_token: AccessToken::new("secret-access"),
            refresh_token: Some(RefreshToken::new("secret-refresh")),
            expires_in: None,
            granted_scopes: None,
        };
        let debug = format!("{response:?}");
        assert!(!debug.contains("secret-"));
    }
}

//! Which upstream account a token belongs to, asked of the provider's identity endpoint. The
//! engine compares the answer with the account the principal is bound to.

use scopeup_core::{AccessToken, AccountId, HttpClient, HttpMethod, HttpRequest};

use crate::error::OAuthError;
use crate::provider::Provider;
use crate::transport::{USER_AGENT, check_endpoint};

/// Asks the identity endpoint who `access_token` belongs to: a `GET` with the token as a bearer
/// credential, answered with JSON in which the behaviour finds the account id at the configured
/// pointer.
#[tracing::instrument(
    name = "Provider::fetch_account",
    level = "debug",
    skip_all,
    fields(provider = %provider.config.id)
)]
pub async fn fetch_account(
    http: &dyn HttpClient,
    provider: &Provider,
    access_token: &AccessToken,
) -> Result<AccountId, OAuthError> {
    let lookup = &provider.config.identity;
    check_endpoint(&lookup.url, "identity")?;

    let request = HttpRequest::new(HttpMethod::Get, lookup.url.clone())
        .with_header(
            "authorization",
            format!("Bearer {}", access_token.expose_secret()),
        )
        .with_header("accept", "application/json")
        .with_header("user-agent", USER_AGENT);
    let response = http.send(request).await?;
    if !response.is_success() {
        tracing::debug!(status = response.status, "identity endpoint refused");
        return Err(OAuthError::UnexpectedStatus {
            status: response.status,
        });
    }

    let identity: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|_| OAuthError::InvalidResponse {
            what: "identity response",
        })?;
    let account = provider
        .behaviour
        .account_id(&identity, &lookup.account_id_pointer);
    tracing::debug!(found = account.is_some(), "identity endpoint answered");
    account.ok_or(OAuthError::IdentityMissing)
}

#[cfg(test)]
mod tests {
    use scopeup_core::HttpResponse;

    use super::*;
    use crate::test_support::{FakeHttp, block_on, header, provider};

    const USERINFO: &str = "https://auth.example/userinfo";

    fn account(http: &FakeHttp, pointer: &str) -> Result<AccountId, OAuthError> {
        let mut provider = provider();
        provider.config.identity.account_id_pointer = pointer.to_owned();
        block_on(fetch_account(http, &provider, &AccessToken::new("at")))
    }

    fn answer(body: &str) -> FakeHttp {
        FakeHttp::new().route(USERINFO, HttpResponse::new(200).with_body(body))
    }

    #[test]
    fn account_id_is_read_by_pointer_from_a_string() {
        let http = answer(r#"{"sub":"alice","name":"Alice"}"#);
        assert_eq!(account(&http, "/sub").unwrap().as_str(), "alice");

        let request = &http.requests()[0];
        assert_eq!(request.method, HttpMethod::Get);
        assert_eq!(header(request, "authorization"), Some("Bearer at"));
        assert_eq!(header(request, "accept"), Some("application/json"));
        assert!(header(request, "user-agent").is_some());
    }

    #[test]
    fn account_id_is_read_by_pointer_from_a_number() {
        // GitHub's `/user` answers with a numeric `id`.
        let http = answer(r#"{"login":"octocat","id":583231}"#);
        assert_eq!(account(&http, "/id").unwrap().as_str(), "583231");
    }

    #[test]
    fn an_answer_without_the_account_id_is_refused() {
        let http = answer(r#"{"name":"Alice"}"#);
        assert!(matches!(
            account(&http, "/sub"),
            Err(OAuthError::IdentityMissing)
        ));

        let not_json = answer("<html>");
        assert!(matches!(
            account(&not_json, "/sub"),
            Err(OAuthError::InvalidResponse { .. })
        ));

        let refused = FakeHttp::new().route(USERINFO, HttpResponse::new(401));
        assert!(matches!(
            account(&refused, "/sub"),
            Err(OAuthError::UnexpectedStatus { status: 401 })
        ));
    }
}

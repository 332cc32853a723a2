//! Authorization server metadata (RFC 8414) and how to find it: the RFC 8414 location first,
//! then OpenID Connect discovery, then the well-known suffix appended to the issuer, which some
//! servers use although RFC 8414 does not.

use scopeup_core::{HttpClient, HttpMethod, HttpRequest};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{DiscoveryError, OAuthError};
use crate::transport::{USER_AGENT, check_endpoint};

/// The parts of an authorization server's metadata that scopeup uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier, exactly as the server states it.
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Url,
    /// The token endpoint.
    pub token_endpoint: Url,
    /// The OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<Url>,
    /// The RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<Url>,
    /// The scopes the server says it supports; informative, servers need not list all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes_supported: Option<Vec<String>>,
    /// The PKCE methods the server supports; absent means the server does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// Whether the server sends the RFC 9207 `iss` parameter with authorization responses.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The client authentication methods of the token endpoint; absent means
    /// `client_secret_basic` (RFC 8414 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// Fetches and checks the metadata of `issuer`.
///
/// The first `200` JSON document whose `issuer` names the same URL is used (RFC 8414 §3.3); both
/// sides are compared in the form [`Url`] serialises them, so `https://a.example` and
/// `https://a.example/` are the same issuer but `https://a.example/x` and `https://a.example/x/`
/// are not. Documents for other issuers are skipped. A server that lists its PKCE methods without
/// S256 is refused. A transport failure ends the search, since every location is on the same
/// host.
#[tracing::instrument(
    name = "AuthorizationServerMetadata::discover",
    level = "debug",
    skip_all,
    fields(issuer = %issuer)
)]
pub async fn discover(
    http: &dyn HttpClient,
    issuer: &Url,
) -> Result<AuthorizationServerMetadata, OAuthError> {
    let failure = |reason| OAuthError::Discovery {
        issuer: issuer.to_string(),
        reason,
    };
    if issuer.query().is_some() || issuer.fragment().is_some() {
        return Err(failure(DiscoveryError::InvalidIssuer));
    }
    check_endpoint(issuer, "issuer")?;

    let mut mismatch = None;
    let mut malformed = false;
    for location in well_known_locations(issuer) {
        // Fetch one candidate; anything but a 200 means "not here".
        let request = HttpRequest::new(HttpMethod::Get, location.clone())
            .with_header("accept", "application/json")
            .with_header("user-agent", USER_AGENT);
        let response = http.send(request).await?;
        tracing::debug!(%location, status = response.status, "metadata candidate");
        if response.status != 200 {
            continue;
        }

        // Check the issuer before reading anything else.
        let Ok(document) = serde_json::from_slice::<serde_json::Value>(&response.body) else {
            malformed = true;
            continue;
        };
        let Some(found) = document.get("issuer").and_then(serde_json::Value::as_str) else {
            malformed = true;
            continue;
        };
        if !same_issuer(found, issuer) {
            tracing::debug!(%location, "metadata names another issuer");
            mismatch = Some(scopeup_core::refusal::upstream_text(found));
            continue;
        }

        // This is the issuer's own document: it must be usable.
        let metadata: AuthorizationServerMetadata =
            serde_json::from_value(document).map_err(|_| failure(DiscoveryError::Malformed))?;
        if let Some(methods) = &metadata.code_challenge_methods_supported
            && !methods.iter().any(|method| method == "S256")
        {
            return Err(failure(DiscoveryError::NoS256));
        }
        return Ok(metadata);
    }

    let reason = match (mismatch, malformed) {
        (Some(found), _) => DiscoveryError::IssuerMismatch { found },
        (None, true) => DiscoveryError::Malformed,
        (None, false) => DiscoveryError::NotFound,
    };
    Err(failure(reason))
}

// The candidate locations, in order, without repeats: RFC 8414 path insertion, OpenID Connect
// appending, and the RFC 8414 suffix appended.
fn well_known_locations(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |new_path: String| {
        let mut location = issuer.clone();
        location.set_path(&new_path);
        location
    };
    let candidates = [
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
        at(format!("{path}/.well-known/oauth-authorization-server")),
    ];

    let mut locations: Vec<Url> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !locations.contains(&candidate) {
            locations.push(candidate);
        }
    }
    locations
}

fn same_issuer(found: &str, issuer: &Url) -> bool {
    Url::parse(found).is_ok_and(|found| found.as_str() == issuer.as_str())
}

#[cfg(test)]
mod tests {
    use scopeup_core::HttpResponse;
    use serde_json::json;

    use super::*;
    use crate::provider::{ClientAuthMethod, ClientSettings, ProviderConfig};
    use crate::test_support::{FakeHttp, block_on, url};

    fn document(issuer: &str) -> HttpResponse {
        let body = json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "revocation_endpoint": format!("{issuer}/revoke"),
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        });
        HttpResponse::new(200)
            .with_header("content-type", "application/json")
            .with_body(body.to_string())
    }

    #[test]
    fn discovery_tries_path_insertion_first() {
        let http = FakeHttp::new().route(
            "https://auth.example/.well-known/oauth-authorization-server/tenant",
            document("https://auth.example/tenant"),
        );
        let metadata = block_on(discover(&http, &url("https://auth.example/tenant"))).unwrap();

        assert_eq!(metadata.issuer, "https://auth.example/tenant");
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "https://auth.example/tenant/token"
        );
        assert!(metadata.authorization_response_iss_parameter_supported);
        let asked: Vec<String> = http.requests().iter().map(|r| r.url.to_string()).collect();
        assert_eq!(
            asked,
            ["https://auth.example/.well-known/oauth-authorization-server/tenant"]
        );
        assert_eq!(http.requests()[0].method, HttpMethod::Get);
    }

    #[test]
    fn discovery_falls_back_to_openid_then_to_the_appended_suffix() {
        let openid = FakeHttp::new().route(
            "http://127.0.0.1:8080/demo/.well-known/openid-configuration",
            document("http://127.0.0.1:8080/demo"),
        );
        assert!(block_on(discover(&openid, &url("http://127.0.0.1:8080/demo"))).is_ok());

        let appended = FakeHttp::new().route(
            "https://auth.example/t/.well-known/oauth-authorization-server",
            document("https://auth.example/t"),
        );
        assert!(block_on(discover(&appended, &url("https://auth.example/t/"))).is_err());
        assert!(block_on(discover(&appended, &url("https://auth.example/t"))).is_ok());
        let asked: Vec<String> = appended
            .requests()
            .iter()
            .map(|r| r.url.to_string())
            .collect();
        assert_eq!(
            asked[3..],
            [
                "https://auth.example/.well-known/oauth-authorization-server/t",
                "https://auth.example/t/.well-known/openid-configuration",
                "https://auth.example/t/.well-known/oauth-authorization-server",
            ]
        );
    }

    #[test]
    fn an_issuer_without_a_path_is_the_same_with_or_without_its_slash() {
        let http = FakeHttp::new().route(
            "https://auth.example/.well-known/oauth-authorization-server",
            document("https://auth.example"),
        );
        assert!(block_on(discover(&http, &url("https://auth.example"))).is_ok());
        assert_eq!(http.requests().len(), 1);
    }

    #[test]
    fn discovery_refuses_an_issuer_mismatch() {
        let http = FakeHttp::new().route(
            "https://auth.example/.well-known/oauth-authorization-server/tenant",
            document("https://evil.example/tenant"),
        );
        let error = block_on(discover(&http, &url("https://auth.example/tenant"))).unwrap_err();

        let OAuthError::Discovery { reason, .. } = error else {
            panic!("{error:?}")
        };
        assert_eq!(
            reason,
            DiscoveryError::IssuerMismatch {
                found: "https://evil.example/tenant".into()
            }
        );
        assert_eq!(
            http.requests().len(),
            3,
            "every location is tried before giving up"
        );
    }

    #[test]
    fn discovery_refuses_a_server_without_s256() {
        let mut body: serde_json::Value =
            serde_json::from_slice(&document("https://auth.example").body).unwrap();
        body["code_challenge_methods_supported"] = json!(["plain"]);
        let http = FakeHttp::new().route(
            "https://auth.example/.well-known/oauth-authorization-server",
            HttpResponse::new(200).with_body(body.to_string()),
        );
        let error = block_on(discover(&http, &url("https://auth.example"))).unwrap_err();
        assert!(matches!(
            error,
            OAuthError::Discovery {
                reason: DiscoveryError::NoS256,
                ..
            }
        ));
    }

    #[test]
    fn discovery_without_any_document_is_not_found() {
        let error = block_on(discover(&FakeHttp::new(), &url("https://auth.example"))).unwrap_err();
        assert!(matches!(
            error,
            OAuthError::Discovery {
                reason: DiscoveryError::NotFound,
                ..
            }
        ));

        let insecure =
            block_on(discover(&FakeHttp::new(), &url("http://auth.example"))).unwrap_err();
        assert!(matches!(
            insecure,
            OAuthError::InsecureEndpoint { endpoint: "issuer" }
        ));
    }

    #[test]
    fn configuration_is_filled_from_metadata() {
        let metadata: AuthorizationServerMetadata =
            serde_json::from_slice(&document("https://auth.example").body).unwrap();
        let settings = ClientSettings {
            id: scopeup_core::ProviderId::new("demo").unwrap(),
            display_name: "Demo".into(),
            client_id: "client".into(),
            client_secret: None,
            redirect_uri: url("https://host.example/oauth/callback"),
            catalog: serde_json::from_str(r#"{"groups": []}"#).unwrap(),
            baseline: Default::default(),
        };
        let config = ProviderConfig::from_metadata(&metadata, settings).unwrap();

        assert_eq!(config.issuer.as_deref(), Some("https://auth.example"));
        assert_eq!(
            config.authorization_endpoint.as_str(),
            "https://auth.example/authorize"
        );
        assert_eq!(
            config.revocation_endpoint.unwrap().as_str(),
            "https://auth.example/revoke"
        );
        assert_eq!(
            config.identity.url.as_str(),
            "https://auth.example/userinfo"
        );
        assert_eq!(config.identity.account_id_pointer, "/sub");
        assert_eq!(config.client_auth, ClientAuthMethod::Post);
        assert!(config.iss_parameter_supported);
    }
}

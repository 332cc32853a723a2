//! The authorization request (RFC 6749 §4.1.1) with PKCE S256 and the provider's extra
//! parameters. Choosing the scopes and storing the state and verifier is the engine's part.

use scopeup_core::{PkceVerifier, ScopeSet};
use url::Url;

use crate::pkce::pkce_challenge;
use crate::provider::{AuthorizeContext, Provider};

// Parameters the request sets itself; a provider's extras may not replace them.
const PROTOCOL_PARAMETERS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// The URL to send the user's browser to: `response_type=code`, the client id, the configured
/// redirect URI, the scopes as the behaviour writes them (joined by spaces unless the provider
/// wants otherwise; left out when empty), the state, the S256
/// challenge of `verifier`, then the behaviour's extras for `context`.
///
/// Extras named like one of these parameters are dropped, so a behaviour cannot widen the scope
/// or replace the state. An OpenID Connect request for `offline_access` also carries
/// `prompt=consent` unless the extras set `prompt`: OpenID Connect Core §11 requires it, and
/// providers that follow it (oidc-provider, for one) silently drop `offline_access`, and with
/// it the refresh token, from a request without it.
pub fn authorize_url(
    provider: &Provider,
    scopes: &ScopeSet,
    state: &str,
    verifier: &PkceVerifier,
    context: &AuthorizeContext,
) -> Url {
    let config = &provider.config;
    let extras = provider.behaviour.authorize_extras(context);
    let mut url = config.authorization_endpoint.clone();

    let mut query = url.query_pairs_mut();
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", config.redirect_uri.as_str());
    if !scopes.is_empty() {
        query.append_pair("scope", &provider.behaviour.scope_parameter(scopes));
    }
    query
        .append_pair("state", state)
        .append_pair("code_challenge", &pkce_challenge(verifier))
        .append_pair("code_challenge_method", "S256");
    let mut sets_prompt = false;
    for (name, value) in &extras {
        if PROTOCOL_PARAMETERS.contains(&name.as_str()) {
            tracing::debug!(provider = %config.id, parameter = %name, "dropped an authorize extra");
            continue;
        }
        sets_prompt |= name == "prompt";
        query.append_pair(name, value);
    }
    let offline_oidc = ["openid", "offline_access"]
        .iter()
        .all(|wanted| scopes.iter().any(|scope| scope.as_str() == *wanted));
    if offline_oidc && !sets_prompt {
        query.append_pair("prompt", "consent");
    }
    drop(query);

    url
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::provider::ProviderBehaviour;
    use crate::test_support::{provider, set};

    struct Offline;

    impl ProviderBehaviour for Offline {
        fn authorize_extras(&self, context: &AuthorizeContext) -> Vec<(String, String)> {
            let mut extras = vec![
                ("access_type".to_owned(), "offline".to_owned()),
                ("scope".to_owned(), "admin".to_owned()),
            ];
            if !context.holds_refresh_token {
                extras.push(("prompt".to_owned(), "consent".to_owned()));
            }
            extras
        }
    }

    fn query(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    #[test]
    fn authorize_url_holds_the_s256_challenge_state_exact_redirect_and_space_joined_scopes() {
        let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        let url = authorize_url(
            &provider(),
            &set("notes:write notes:read"),
            "opaque-state",
            &verifier,
            &AuthorizeContext::default(),
        );

        assert!(url.as_str().starts_with("https://auth.example/authorize?"));
        let pairs: HashMap<String, String> = query(&url).into_iter().collect();
        assert_eq!(pairs["response_type"], "code");
        assert_eq!(pairs["client_id"], "scopeup-client");
        assert_eq!(pairs["redirect_uri"], "https://host.example/oauth/callback");
        assert_eq!(pairs["scope"], "notes:read notes:write");
        assert_eq!(pairs["state"], "opaque-state");
        assert_eq!(
            pairs["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert!(url.as_str().contains("scope=notes%3Aread+notes%3Awrite"));
        assert!(!url.as_str().contains(verifier.expose_secret()));
    }

    #[test]
    fn authorize_extras_are_appended_but_cannot_replace_protocol_parameters() {
        let provider = Provider::new(provider().config, Arc::new(Offline));
        let verifier = PkceVerifier::new("v".repeat(43));
        let first = authorize_url(
            &provider,
            &set("notes:read"),
            "s",
            &verifier,
            &AuthorizeContext {
                holds_refresh_token: false,
            },
        );
        let pairs = query(&first);
        assert!(pairs.contains(&("access_type".into(), "offline".into())));
        assert!(pairs.contains(&("prompt".into(), "consent".into())));
        let scopes: Vec<&str> = pairs
            .iter()
            .filter(|(name, _)| name == "scope")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(scopes, ["notes:read"]);

        let again = authorize_url(
            &provider,
            &set("notes:read"),
            "s",
            &verifier,
            &AuthorizeContext {
                holds_refresh_token: true,
            },
        );
        assert!(!query(&again).iter().any(|(name, _)| name == "prompt"));
    }

    #[test]
    fn an_openid_request_for_offline_access_asks_for_consent_once() {
        let verifier = PkceVerifier::new("v".repeat(43));
        let prompts = |provider: &Provider, scopes: &str| -> Vec<String> {
            let url = authorize_url(
                provider,
                &set(scopes),
                "s",
                &verifier,
                &AuthorizeContext::default(),
            );
            query(&url)
                .into_iter()
                .filter(|(name, _)| name == "prompt")
                .map(|(_, value)| value)
                .collect()
        };

        assert_eq!(
            prompts(&provider(), "openid notes:read offline_access"),
            ["consent"]
        );
        assert!(prompts(&provider(), "notes:read offline_access").is_empty());
        assert!(prompts(&provider(), "openid notes:read").is_empty());

        // A behaviour that sets `prompt` itself keeps its own value, once.
        let offline = Provider::new(provider().config, Arc::new(Offline));
        assert_eq!(
            prompts(&offline, "openid notes:read offline_access"),
            ["consent"]
        );
    }

    #[test]
    fn an_empty_scope_set_leaves_the_parameter_out() {
        let verifier = PkceVerifier::new("v".repeat(43));
        let url = authorize_url(
            &provider(),
            &ScopeSet::new(),
            "s",
            &verifier,
            &AuthorizeContext::default(),
        );
        assert!(!query(&url).iter().any(|(name, _)| name == "scope"));
    }
}

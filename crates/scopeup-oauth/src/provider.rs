//! A provider: its configuration as data ([`ProviderConfig`]) and its quirks as a small trait
//! ([`ProviderBehaviour`]), so that presets and hosts describe providers without the engine
//! branching on names.
//!
//! Presets for particular providers build on these types; this module has only the generic,
//! standards-following behaviour.

use std::fmt;
use std::sync::Arc;

use scopeup_core::ports::MaybeSendSync;
use scopeup_core::refusal::BearerClassifier;
use scopeup_core::{
    AccountId, Catalog, ClientSecret, HttpResponse, ProviderId, Refusal, RefusalClassifier,
    ScopeError, ScopeSet, UpstreamCall,
};
use url::Url;

use crate::discovery::AuthorizationServerMetadata;
use crate::error::{DiscoveryError, OAuthError};

/// The JSON pointer to the account id in an OpenID Connect userinfo answer.
pub const DEFAULT_ACCOUNT_ID_POINTER: &str = "/sub";

/// One upstream provider: what it is, and how it deviates from the standards.
#[derive(Clone)]
pub struct Provider {
    /// Endpoints, client credentials, scopes and account lookup.
    pub config: ProviderConfig,
    /// The provider's quirks.
    pub behaviour: Arc<dyn ProviderBehaviour>,
}

/// Everything about a provider that is data. Build it with a struct literal, from discovered
/// metadata with [`ProviderConfig::from_metadata`], or from a preset.
///
/// Endpoints that receive credentials (token, revocation, identity) must be `https`, or `http` to
/// a loopback address for development; the operations refuse anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The host's name for the provider.
    pub id: ProviderId,
    /// The name users see, such as "GitHub".
    pub display_name: String,
    /// The issuer identifier, exactly as the provider states it (RFC 8414 `issuer`), compared
    /// character for character with the RFC 9207 `iss` parameter. `None` where the provider has
    /// no metadata.
    pub issuer: Option<String>,
    /// Where the user's browser is sent to authorize.
    pub authorization_endpoint: Url,
    /// Where codes and refresh tokens are redeemed.
    pub token_endpoint: Url,
    /// The OpenID Connect userinfo endpoint, if the provider has one.
    pub userinfo_endpoint: Option<Url>,
    /// The RFC 7009 revocation endpoint, if the provider has one.
    pub revocation_endpoint: Option<Url>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<ClientSecret>,
    /// How the client authenticates at the token and revocation endpoints.
    pub client_auth: ClientAuthMethod,
    /// The callback URL registered at the provider, fixed by configuration and never taken from
    /// a request.
    pub redirect_uri: Url,
    /// The scopes the picker may offer.
    pub catalog: Catalog,
    /// The scopes a first connect asks for.
    pub baseline: ScopeSet,
    /// How to learn which account a token belongs to.
    pub identity: IdentityLookup,
    /// Whether the provider sends the RFC 9207 `iss` parameter to the callback (from its
    /// metadata's `authorization_response_iss_parameter_supported`); when it does, a callback
    /// without it must be refused.
    pub iss_parameter_supported: bool,
}

/// How the client authenticates to the token and revocation endpoints (RFC 6749 §2.3.1). Without
/// a client secret, either way sends only `client_id` in the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret (`client_secret_basic`).
    #[default]
    Basic,
    /// `client_id` and `client_secret` in the form body (`client_secret_post`).
    Post,
}

/// Where the account id behind a token is found: a `GET` with the token as a bearer credential,
/// answered with JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLookup {
    /// The URL to ask (OpenID userinfo, GitHub's `/user`, …).
    pub url: Url,
    /// The JSON pointer (RFC 6901) to the account id in the answer, `/sub` for userinfo.
    pub account_id_pointer: String,
}

/// The host's side of a provider that discovery cannot tell: who the provider is to the host,
/// the client registration and the scopes to offer.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The host's name for the provider.
    pub id: ProviderId,
    /// The name users see.
    pub display_name: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, for confidential clients.
    pub client_secret: Option<ClientSecret>,
    /// The registered callback URL.
    pub redirect_uri: Url,
    /// The scopes the picker may offer.
    pub catalog: Catalog,
    /// The scopes a first connect asks for.
    pub baseline: ScopeSet,
}

/// What an authorization request is made in view of, for [`ProviderBehaviour::authorize_extras`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorizeContext {
    /// Whether the principal's grant already holds a refresh token. Google, for one, only issues
    /// a new one with `prompt=consent`.
    pub holds_refresh_token: bool,
}

/// A provider's quirks. Every method has the standards-following default, so a provider
/// implements only where it deviates.
pub trait ProviderBehaviour: MaybeSendSync {
    /// Classifies a refused upstream call, given the scopes the token held. The default reads
    /// the RFC 6750 `WWW-Authenticate: Bearer` challenge.
    fn classify(&self, response: &HttpResponse, held: &ScopeSet) -> Refusal {
        BearerClassifier::default().classify(response, held)
    }

    /// Classifies a refused call whose request the tool knows. The default ignores the request
    /// and uses [`ProviderBehaviour::classify`]; a provider whose refusals do not name the
    /// missing scope (Cloudflare) looks up which scopes could cover the call.
    fn classify_call(
        &self,
        call: &UpstreamCall,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> Refusal {
        let _ = call;
        self.classify(response, held)
    }

    /// Whether an upstream answer is a refusal to classify. The default is any status but 2xx;
    /// Slack answers refusals with `200` and `"ok": false` in the body.
    fn is_refusal(&self, response: &HttpResponse) -> bool {
        !response.is_success()
    }

    /// The `scope` parameter of an authorization request. The default joins the scopes with
    /// spaces (RFC 6749 §3.3); Slack wants commas.
    fn scope_parameter(&self, scopes: &ScopeSet) -> String {
        scopes.to_string()
    }

    /// Extra query parameters for the authorization request (Google's `access_type=offline`,
    /// say). Names of the protocol's own parameters are ignored. The default adds none.
    fn authorize_extras(&self, context: &AuthorizeContext) -> Vec<(String, String)> {
        let _ = context;
        Vec::new()
    }

    /// Parses the `scope` value of a token response. The default splits on spaces, as RFC 6749
    /// §3.3 says; a GitHub behaviour splits on commas, since GitHub lists granted scopes as
    /// `repo,gist`.
    fn parse_granted_scopes(&self, raw: &str) -> Result<ScopeSet, ScopeError> {
        ScopeSet::parse(raw)
    }

    /// Finds the account id in an identity answer. The default follows the JSON pointer and
    /// accepts a string or an integer (GitHub's user ids are numbers).
    fn account_id(&self, identity: &serde_json::Value, pointer: &str) -> Option<AccountId> {
        account_id_at(identity, pointer)
    }

    /// Whether the tokens an upgrade replaces may be revoked (RFC 7009) once the new grant is
    /// stored. The default is no: many providers keep one grant per user and client and add the
    /// new consent to it, and RFC 7009 §2.1 has them invalidate every token of a grant when one
    /// of its refresh tokens is revoked, which would revoke the upgrade itself (oidc-provider
    /// does exactly this). Say yes only for a provider whose every authorization is a grant of
    /// its own.
    fn revokes_superseded_tokens(&self) -> bool {
        false
    }
}

/// The standards-following behaviour: every default of [`ProviderBehaviour`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GenericBehaviour;

impl Provider {
    /// A provider with its own behaviour.
    pub fn new(config: ProviderConfig, behaviour: Arc<dyn ProviderBehaviour>) -> Self {
        Self { config, behaviour }
    }

    /// A provider that follows the standards: [`GenericBehaviour`].
    pub fn generic(config: ProviderConfig) -> Self {
        Self::new(config, Arc::new(GenericBehaviour))
    }
}

impl ProviderConfig {
    /// A configuration from discovered metadata and the host's settings: endpoints, issuer and
    /// RFC 9207 support from the metadata, the account from userinfo's `sub`. Client
    /// authentication is HTTP Basic unless the metadata lists only `client_secret_post` of the
    /// two.
    ///
    /// Fails with [`DiscoveryError::NoUserinfoEndpoint`] when the metadata has no userinfo
    /// endpoint; build such a configuration by hand with the provider's own identity lookup.
    pub fn from_metadata(
        metadata: &AuthorizationServerMetadata,
        client: ClientSettings,
    ) -> Result<Self, OAuthError> {
        let Some(userinfo) = metadata.userinfo_endpoint.clone() else {
            return Err(OAuthError::Discovery {
                issuer: metadata.issuer.clone(),
                reason: DiscoveryError::NoUserinfoEndpoint,
            });
        };

        let methods = metadata
            .token_endpoint_auth_methods_supported
            .as_deref()
            .unwrap_or(&[]);
        let offers = |method: &str| methods.iter().any(|offered| offered == method);
        let client_auth = if offers("client_secret_post") && !offers("client_secret_basic") {
            ClientAuthMethod::Post
        } else {
            ClientAuthMethod::Basic
        };

        Ok(Self {
            id: client.id,
            display_name: client.display_name,
            issuer: Some(metadata.issuer.clone()),
            authorization_endpoint: metadata.authorization_endpoint.clone(),
            token_endpoint: metadata.token_endpoint.clone(),
            userinfo_endpoint: Some(userinfo.clone()),
            revocation_endpoint: metadata.revocation_endpoint.clone(),
            client_id: client.client_id,
            client_secret: client.client_secret,
            client_auth,
            redirect_uri: client.redirect_uri,
            catalog: client.catalog,
            baseline: client.baseline,
            identity: IdentityLookup::userinfo(userinfo),
            iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
        })
    }
}

impl IdentityLookup {
    /// An OpenID Connect userinfo endpoint, whose `sub` is the account id.
    pub fn userinfo(url: Url) -> Self {
        Self {
            url,
            account_id_pointer: DEFAULT_ACCOUNT_ID_POINTER.to_owned(),
        }
    }
}

impl ProviderBehaviour for GenericBehaviour {}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

// The default account lookup: a string, or an integer written in decimal.
fn account_id_at(identity: &serde_json::Value, pointer: &str) -> Option<AccountId> {
    let text = match identity.pointer(pointer)? {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Number(number) if number.is_i64() || number.is_u64() => {
            number.to_string()
        }
        _ => return None,
    };
    AccountId::new(text).ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn account_id_is_a_string_or_an_integer_at_the_pointer() {
        let behaviour = GenericBehaviour;
        let userinfo = json!({"sub": "alice", "id": 583231, "score": 1.5, "empty": ""});
        let id = |pointer| {
            behaviour
                .account_id(&userinfo, pointer)
                .map(|id| id.to_string())
        };
        assert_eq!(id("/sub").as_deref(), Some("alice"));
        assert_eq!(id("/id").as_deref(), Some("583231"));
        assert_eq!(id("/score"), None);
        assert_eq!(id("/empty"), None);
        assert_eq!(id("/missing"), None);
    }

    #[test]
    fn generic_behaviour_splits_granted_scopes_on_spaces_and_adds_no_extras() {
        let behaviour = GenericBehaviour;
        assert_eq!(
            behaviour.parse_granted_scopes("b a").unwrap().to_string(),
            "a b"
        );
        assert!(
            behaviour
                .authorize_extras(&AuthorizeContext::default())
                .is_empty()
        );
    }
}

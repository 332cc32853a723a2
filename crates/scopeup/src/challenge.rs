//! Challenge mode: for hosts whose own MCP access token carries the scopes, a refusal is
//! answered with the standard step-up challenge instead of the picker, and the MCP client
//! re-authorizes.
//!
//! The challenge is `Bearer error="insufficient_scope", scope="<held ∪ missing>",
//! resource_metadata="…"`: the scope named is what the token holds plus what is missing, never
//! the catalog, because a client re-authorizes with exactly the challenged set and the new
//! token replaces the old one. It reaches the client as an HTTP `403` on the transport
//! (`scopeup-axum`'s challenge layer) or under `_meta["mcp/www_authenticate"]` in a tool result
//! (`scopeup-mcp`), chosen per client by [`DeliveryPolicy`]. The RFC 9728 protected resource
//! metadata the challenge points to is [`ProtectedResourceMetadata`].
//!
//! Both modes share the provider's classifier and the catalog's scope math; this module speaks
//! no HTTP.

use scopeup_core::refusal::NotCoverableReason;
use scopeup_core::www_authenticate::BearerChallenge;
use scopeup_core::{Catalog, HttpResponse, Refusal, ScopeSet, UpstreamCall};
use scopeup_oauth::Provider;
use serde::{Deserialize, Serialize};
use url::Url;

/// The well-known path segment of RFC 9728 protected resource metadata.
pub const PROTECTED_RESOURCE_WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The `_meta` key under which a tool result carries the challenge for clients that fail a
/// call on a raw `403`.
pub const WWW_AUTHENTICATE_META_KEY: &str = "mcp/www_authenticate";

/// How one protected resource (the host's MCP endpoint) challenges.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChallengeSettings {
    /// The resource identifier: the MCP endpoint's URL, such as `https://mcp.example.com/mcp`.
    pub resource: Url,
    /// The authorization servers that issue the host's MCP tokens.
    pub authorization_servers: Vec<Url>,
    /// The scopes the resource understands, listed in the metadata as `scopes_supported`.
    pub scopes_supported: ScopeSet,
    /// A name for the resource, shown by clients.
    pub resource_name: Option<String>,
    /// How each client gets the challenge.
    pub delivery: DeliveryPolicy,
}

/// Where a client gets the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Delivery {
    /// In an `isError` tool result, under `_meta["mcp/www_authenticate"]`, with the missing
    /// scopes in the text. The default: every client can read it, and none fails the session
    /// over it.
    #[default]
    ToolResult,
    /// As an HTTP `403` with `WWW-Authenticate` on the transport, which clients that implement
    /// MCP step-up authorization act on.
    Transport,
}

/// Chooses the [`Delivery`] for a client: by its name (`clientInfo.name`, or the name the host
/// registered it under), then by the host of its OAuth redirect URI, then the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeliveryPolicy {
    /// For clients matched by nothing else: [`Delivery::ToolResult`] unless set.
    #[serde(default)]
    pub default: Delivery,
    /// By client name, compared case-insensitively.
    #[serde(default)]
    pub by_client_name: Vec<(String, Delivery)>,
    /// By the host of the client's redirect URI, compared case-insensitively.
    #[serde(default)]
    pub by_redirect_host: Vec<(String, Delivery)>,
}

/// What the host knows about the MCP client making a request, for [`DeliveryPolicy::choose`].
/// A host's authentication middleware puts it in the request's extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientIdentity {
    /// The client's name.
    pub name: Option<String>,
    /// The host of the client's registered redirect URI.
    pub redirect_host: Option<String>,
}

/// The scopes the host's own MCP access token carries, as its authentication middleware read
/// them. Challenge mode compares a tool's needs with these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpTokenScopes(pub ScopeSet);

/// RFC 9728 protected resource metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProtectedResourceMetadata {
    /// The resource identifier.
    pub resource: String,
    /// The authorization servers.
    pub authorization_servers: Vec<String>,
    /// The scopes the resource understands.
    pub scopes_supported: Vec<String>,
    /// How a bearer token is sent: only the `Authorization` header.
    pub bearer_methods_supported: Vec<String>,
    /// The resource's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// A step-up challenge for one refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepUpChallenge {
    /// What the token holds.
    pub held: ScopeSet,
    /// What the call needs beyond it.
    pub missing: ScopeSet,
    /// The `WWW-Authenticate` value.
    pub header_value: String,
    /// A sentence for the user and the model naming the missing scopes.
    pub message: String,
}

/// What challenge mode answers a refusal with. The outcomes stay as distinct as in elicit mode.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeOutcome {
    /// A scope would fix it: challenge for it.
    Challenge(StepUpChallenge),
    /// No scope can fix it; re-authorizing will not help.
    NotCoverable {
        /// Why.
        reason: NotCoverableReason,
        /// Permissions to change at the provider instead.
        permissions: Vec<String>,
        /// A sentence for the user.
        message: String,
    },
    /// The token was rejected: the client must authenticate again (`invalid_token`).
    Authentication {
        /// The `WWW-Authenticate` value of a `401`.
        header_value: String,
        /// A sentence for the user.
        message: String,
    },
    /// Not a scope problem: the upstream error, passed through.
    Upstream {
        /// The upstream status.
        status: u16,
        /// A sentence for the user.
        message: String,
    },
}

impl ChallengeSettings {
    /// Settings for `resource` with tokens from `authorization_servers`, offering the scopes of
    /// `catalog`, delivering by the default policy.
    pub fn new(resource: Url, authorization_servers: Vec<Url>, catalog: &Catalog) -> Self {
        Self {
            resource,
            authorization_servers,
            scopes_supported: catalog.scopes().map(|entry| entry.scope.clone()).collect(),
            resource_name: None,
            delivery: DeliveryPolicy::default(),
        }
    }

    /// Sets the resource's name.
    pub fn with_resource_name(self, name: impl Into<String>) -> Self {
        Self {
            resource_name: Some(name.into()),
            ..self
        }
    }

    /// Sets the delivery policy.
    pub fn with_delivery(self, delivery: DeliveryPolicy) -> Self {
        Self { delivery, ..self }
    }

    /// Where the metadata is served (RFC 9728 §3.1): the well-known segment inserted between
    /// the host and the resource's path, so `https://h/mcp` has its metadata at
    /// `https://h/.well-known/oauth-protected-resource/mcp`.
    pub fn resource_metadata_url(&self) -> Url {
        let mut url = self.resource.clone();
        let path = self.resource.path().trim_end_matches('/');
        url.set_path(&format!("{PROTECTED_RESOURCE_WELL_KNOWN}{path}"));
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    /// The metadata document.
    pub fn metadata(&self) -> ProtectedResourceMetadata {
        ProtectedResourceMetadata {
            resource: self.resource.to_string(),
            authorization_servers: self
                .authorization_servers
                .iter()
                .map(|server| server.as_str().trim_end_matches('/').to_owned())
                .collect(),
            scopes_supported: self
                .scopes_supported
                .iter()
                .map(ToString::to_string)
                .collect(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: self.resource_name.clone(),
        }
    }

    /// The challenge for a call that needs `needed` with a token holding `held`, or `None`
    /// when nothing is missing.
    pub fn challenge(&self, held: &ScopeSet, needed: &ScopeSet) -> Option<StepUpChallenge> {
        let missing = needed.difference(held);
        if missing.is_empty() {
            return None;
        }
        let scope = held.union(&missing);
        let header_value = BearerChallenge::insufficient_scope(
            scope,
            Some(self.resource_metadata_url().to_string()),
        )
        .to_string();
        let listed = missing
            .iter()
            .map(|scope| format!("`{scope}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "Missing scope: your authorization for this server lacks {listed}, which this tool \
             needs. Re-authorize the server with {} (your client may offer it), then retry.",
            held.union(&missing)
        );
        Some(StepUpChallenge {
            held: held.clone(),
            missing,
            header_value,
            message,
        })
    }

    /// Classifies an upstream refusal with the provider's classifier and answers it in
    /// challenge mode. `held` is what the host's MCP token carries; `call` is the refused
    /// request where the tool knows it.
    pub fn on_refusal(
        &self,
        provider: &Provider,
        call: Option<&UpstreamCall>,
        response: &HttpResponse,
        held: &ScopeSet,
    ) -> ChallengeOutcome {
        let refusal = match call {
            Some(call) => provider.behaviour.classify_call(call, response, held),
            None => provider.behaviour.classify(response, held),
        };
        let name = &provider.config.display_name;
        let catalog = &provider.config.catalog;

        match refusal {
            Refusal::MissingScope(missing) => {
                let needed = missing.to_request(held, catalog);
                match self.challenge(held, &needed) {
                    Some(challenge) => ChallengeOutcome::Challenge(challenge),
                    None => not_coverable(name, NotCoverableReason::AlreadyHeld, Vec::new()),
                }
            }
            Refusal::NotCoverable {
                reason,
                permissions,
                ..
            } => not_coverable(name, reason, permissions),
            Refusal::Authentication { .. } => ChallengeOutcome::Authentication {
                header_value: BearerChallenge::invalid_token(Some(
                    self.resource_metadata_url().to_string(),
                ))
                .to_string(),
                message: format!(
                    "Token expired or revoked: {name} rejected the token. Authorize this server \
                     again, then retry."
                ),
            },
            Refusal::Other { status, .. } => ChallengeOutcome::Upstream {
                status,
                message: format!(
                    "{name} refused the call with status {status}; this is not a missing scope."
                ),
            },
            _ => ChallengeOutcome::Upstream {
                status: response.status,
                message: format!("{name} refused the call."),
            },
        }
    }
}

impl DeliveryPolicy {
    /// Delivers to every client the same way.
    pub fn always(delivery: Delivery) -> Self {
        Self {
            default: delivery,
            ..Self::default()
        }
    }

    /// Delivers to the client named `name` this way.
    pub fn for_client_name(mut self, name: impl Into<String>, delivery: Delivery) -> Self {
        self.by_client_name.push((name.into(), delivery));
        self
    }

    /// Delivers to clients whose redirect URI is on `host` this way.
    pub fn for_redirect_host(mut self, host: impl Into<String>, delivery: Delivery) -> Self {
        self.by_redirect_host.push((host.into(), delivery));
        self
    }

    /// The delivery for `client`.
    pub fn choose(&self, client: Option<&ClientIdentity>) -> Delivery {
        let matching = |rules: &[(String, Delivery)], value: Option<&str>| {
            let value = value?;
            rules
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(value))
                .map(|(_, delivery)| *delivery)
        };
        let client = client.cloned().unwrap_or_default();
        matching(&self.by_client_name, client.name.as_deref())
            .or_else(|| matching(&self.by_redirect_host, client.redirect_host.as_deref()))
            .unwrap_or(self.default)
    }
}

impl ClientIdentity {
    /// A client known by name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            redirect_host: None,
        }
    }

    /// Adds the host of the client's redirect URI.
    pub fn with_redirect_host(self, host: impl Into<String>) -> Self {
        Self {
            redirect_host: Some(host.into()),
            ..self
        }
    }
}

fn not_coverable(
    name: &str,
    reason: NotCoverableReason,
    permissions: Vec<String>,
) -> ChallengeOutcome {
    let message = match reason {
        NotCoverableReason::AppPermission => format!(
            "Not a missing scope: {name} requires an app permission ({}) that no OAuth scope \
             grants. Change the app's permissions at {name}; re-authorizing will not help.",
            permissions.join(" or ")
        ),
        _ => format!(
            "Not a missing scope: {name} refused the call for a reason no scope fixes (a role \
             or account restriction). Re-authorizing will not help."
        ),
    };
    ChallengeOutcome::NotCoverable {
        reason,
        permissions,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ScopeSet {
        ScopeSet::parse(text).unwrap()
    }

    fn settings() -> ChallengeSettings {
        let catalog: Catalog = serde_json::from_str(
            r#"{"groups": [{"name": "Notes", "scopes": [
                {"scope": "notes:read", "description": "Read"},
                {"scope": "notes:write", "description": "Write"},
                {"scope": "notes:delete", "description": "Delete"}]}]}"#,
        )
        .unwrap();
        ChallengeSettings::new(
            Url::parse("https://mcp.example.com/mcp").unwrap(),
            vec![Url::parse("https://auth.example.com/").unwrap()],
            &catalog,
        )
        .with_resource_name("Notes MCP")
    }

    #[test]
    fn challenge_names_held_and_missing_never_the_catalog() {
        let challenge = settings()
            .challenge(&set("notes:read"), &set("notes:write"))
            .unwrap();
        assert_eq!(
            challenge.header_value,
            r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#
        );
        assert_eq!(challenge.missing, set("notes:write"));
        assert!(challenge.message.contains("`notes:write`"));
        assert!(!challenge.header_value.contains("notes:delete"));
        assert!(
            settings()
                .challenge(&set("notes:read notes:write"), &set("notes:write"))
                .is_none()
        );
    }

    #[test]
    fn protected_resource_metadata_lists_the_supported_scopes() {
        let metadata = serde_json::to_value(settings().metadata()).unwrap();
        assert_eq!(
            metadata,
            serde_json::json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["notes:delete", "notes:read", "notes:write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Notes MCP",
            })
        );
        let root = ChallengeSettings::new(
            Url::parse("https://mcp.example.com/").unwrap(),
            Vec::new(),
            &Catalog::new(Default::default()).unwrap(),
        );
        assert_eq!(
            root.resource_metadata_url().as_str(),
            "https://mcp.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn delivery_is_chosen_by_client_name_then_redirect_host_then_default() {
        let policy = DeliveryPolicy::default()
            .for_client_name("Claude Code", Delivery::Transport)
            .for_redirect_host("localhost", Delivery::Transport)
            .for_client_name("strict-client", Delivery::ToolResult);
        let choose = |client: ClientIdentity| policy.choose(Some(&client));
        assert_eq!(
            choose(ClientIdentity::named("claude code")),
            Delivery::Transport
        );
        assert_eq!(
            choose(ClientIdentity::named("strict-client").with_redirect_host("localhost")),
            Delivery::ToolResult
        );
        assert_eq!(
            choose(ClientIdentity::named("other").with_redirect_host("LOCALHOST")),
            Delivery::Transport
        );
        assert_eq!(choose(ClientIdentity::named("other")), Delivery::ToolResult);
        assert_eq!(policy.choose(None), Delivery::ToolResult);
    }

    #[test]
    fn refusals_keep_their_kinds_in_challenge_mode() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"groups": [{"name": "Notes", "scopes": [
                {"scope": "notes:read", "description": "Read"},
                {"scope": "notes:write", "description": "Write"}]}]}"#,
        )
        .unwrap();
        let provider = Provider::generic(scopeup_oauth::ProviderConfig {
            id: scopeup_core::ProviderId::new("notes").unwrap(),
            display_name: "Notes".into(),
            issuer: None,
            authorization_endpoint: Url::parse("https://auth.example/authorize").unwrap(),
            token_endpoint: Url::parse("https://auth.example/token").unwrap(),
            userinfo_endpoint: None,
            revocation_endpoint: None,
            client_id: "c".into(),
            client_secret: None,
            client_auth: scopeup_oauth::ClientAuthMethod::Basic,
            redirect_uri: Url::parse("https://mcp.example.com/oauth/callback").unwrap(),
            catalog,
            baseline: ScopeSet::new(),
            identity: scopeup_oauth::IdentityLookup::userinfo(
                Url::parse("https://auth.example/userinfo").unwrap(),
            ),
            iss_parameter_supported: false,
        });
        let forbidden = |scope: &str| {
            HttpResponse::new(403).with_header(
                "WWW-Authenticate",
                format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
            )
        };
        let held = set("notes:read");

        let ChallengeOutcome::Challenge(challenge) =
            settings().on_refusal(&provider, None, &forbidden("notes:write"), &held)
        else {
            panic!("expected a challenge");
        };
        assert!(
            challenge
                .header_value
                .contains(r#"scope="notes:read notes:write""#)
        );
        assert!(matches!(
            settings().on_refusal(&provider, None, &forbidden("notes:read"), &held),
            ChallengeOutcome::NotCoverable { .. }
        ));
        let ChallengeOutcome::Authentication { header_value, .. } =
            settings().on_refusal(&provider, None, &HttpResponse::new(401), &held)
        else {
            panic!("expected authentication");
        };
        assert!(header_value.starts_with(r#"Bearer error="invalid_token""#));
        assert!(matches!(
            settings().on_refusal(&provider, None, &HttpResponse::new(500), &held),
            ChallengeOutcome::Upstream { status: 500, .. }
        ));
    }
}

//! The Worker's configuration, read from its variables and secrets (`wrangler.toml` `[vars]`,
//! `wrangler secret put`), and the provider it describes.
//!
//! | name | kind | meaning |
//! | --- | --- | --- |
//! | `SCOPEUP_PUBLIC_URL` | var | the Worker's public base URL (`https://mcp.example.com/`) |
//! | `SCOPEUP_PROVIDER` | var | `cloudflare` (the default: Cloudflare's preset and the Cloudflare API tools) or `oauth` (a provider described by the variables below, with the demo notes tools) |
//! | `SCOPEUP_ISSUER` | var | the provider's issuer (`oauth` only) |
//! | `SCOPEUP_AUTHORIZATION_ENDPOINT`, `SCOPEUP_TOKEN_ENDPOINT` | var | the endpoints; without them, RFC 8414 discovery at the issuer |
//! | `SCOPEUP_USERINFO_ENDPOINT` | var | the userinfo endpoint, which tells whose account a token is (with explicit endpoints) |
//! | `SCOPEUP_REVOCATION_ENDPOINT` | var | the RFC 7009 revocation endpoint, optional |
//! | `SCOPEUP_SCOPE_CATALOG` | var | the scope catalog as JSON; the preset's, or the notes catalog, by default |
//! | `SCOPEUP_BASELINE_SCOPES` | var | the scopes a first connect asks for; the preset's, or `notes:read offline_access`, by default |
//! | `SCOPEUP_API_BASE` | var | the base URL of the API the tools call; `https://api.cloudflare.com/` with the Cloudflare preset |
//! | `SCOPEUP_CLIENT_ID` | var | the OAuth client id registered at the provider |
//! | `SCOPEUP_CLIENT_SECRET` | secret | its secret |
//! | `SCOPEUP_SEALING_KEYS` | secret | the sealing key ring, `kid:BASE64KEY[,kid:BASE64KEY]`, the last current |
//! | `SCOPEUP_REQUEST_STATE_KEY` | secret | 32 bytes, base64: seals the `requestState` of `2026-07-28` answers |
//! | `MCP_TOKENS` | secret | the MCP clients' bearer tokens, `token=subject[:account],…` |
//! | `SCOPEUP_DANGEROUS_ALLOW_HTTP_LOOPBACK` | var | `true` to serve on `http://127.0.0.1` in local tests |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use scopeup_core::{AccountId, Catalog, ClientSecret, HttpClient, Principal, ProviderId, ScopeSet};
use scopeup_mcp::RequestStateKey;
use scopeup_oauth::presets::{self, PresetClient};
use scopeup_oauth::{ClientAuthMethod, ClientSettings, IdentityLookup, Provider, ProviderConfig};
use scopeup_store::KeyRing;
use url::Url;

use crate::tools::ToolSet;

/// The name of the generic provider in `SCOPEUP_PROVIDER`, with the notes tools.
pub const GENERIC_PROVIDER: &str = "oauth";

/// The name of the Cloudflare preset in `SCOPEUP_PROVIDER`, the default.
pub const CLOUDFLARE_PROVIDER: &str = "cloudflare";

/// A configuration value is missing or malformed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable or secret is not set.
    #[error("`{name}` is not set")]
    Missing {
        /// The variable's name.
        name: &'static str,
    },
    /// A variable or secret does not parse.
    #[error("`{name}` is not valid: {reason}")]
    Invalid {
        /// The variable's name.
        name: &'static str,
        /// Why.
        reason: String,
    },
    /// The provider's discovery document could not be fetched or read.
    #[error("discovering the provider failed")]
    Discovery(#[source] scopeup_oauth::OAuthError),
}

/// Everything the Worker reads from its environment.
#[derive(Debug)]
pub struct Settings {
    /// The Worker's public base URL.
    pub public_url: Url,
    /// Whether `http://` loopback is allowed (local tests only).
    pub dangerous_allow_http_loopback: bool,
    /// How the provider is described.
    pub provider: ProviderSource,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret.
    pub client_secret: Option<ClientSecret>,
    /// The scope catalog, where the variables give one; a preset has its own.
    pub catalog: Option<Catalog>,
    /// The scopes of a first connect, where the variables give them; a preset has its own.
    pub baseline: Option<ScopeSet>,
    /// The tools offered, which go with the provider.
    pub tools: ToolSet,
    /// The base URL of the API the tools call.
    pub api_base: Url,
    /// The sealing key ring.
    pub key_ring: KeyRing,
    /// The key that seals `requestState`.
    pub request_state_key: RequestStateKey,
    /// The MCP clients' bearer tokens.
    pub tokens: TokenTable,
}

/// Where the provider's endpoints come from.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "read once per request; boxing would only move the allocation"
)]
#[non_exhaustive]
pub enum ProviderSource {
    /// Endpoints given by variables.
    Endpoints {
        /// The issuer.
        issuer: Url,
        /// The authorization endpoint.
        authorization: Url,
        /// The token endpoint.
        token: Url,
        /// The userinfo endpoint, which tells whose account a token belongs to.
        userinfo: Url,
        /// The revocation endpoint.
        revocation: Option<Url>,
    },
    /// RFC 8414 / OpenID discovery at the issuer.
    Discovery {
        /// The issuer.
        issuer: Url,
    },
    /// Cloudflare's preset from `scopeup-oauth`.
    Cloudflare,
}

/// The MCP clients' bearer tokens and the principals they stand for.
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<(String, Principal)>,
}

impl Settings {
    /// Reads the settings through `lookup`, which returns a variable's or secret's value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &'static str| {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or(ConfigError::Missing { name })
        };
        let optional_url = |name: &'static str| -> Result<Option<Url>, ConfigError> {
            lookup(name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| parse_url(name, &value))
                .transpose()
        };

        let public_url = parse_url("SCOPEUP_PUBLIC_URL", &required("SCOPEUP_PUBLIC_URL")?)?;
        let dangerous_allow_http_loopback = lookup("SCOPEUP_DANGEROUS_ALLOW_HTTP_LOOPBACK")
            .is_some_and(|value| value.trim() == "true");

        let provider_name = lookup("SCOPEUP_PROVIDER")
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| CLOUDFLARE_PROVIDER.to_owned());
        let provider = if provider_name == CLOUDFLARE_PROVIDER {
            ProviderSource::Cloudflare
        } else if provider_name == GENERIC_PROVIDER {
            let issuer = parse_url("SCOPEUP_ISSUER", &required("SCOPEUP_ISSUER")?)?;
            let authorization = optional_url("SCOPEUP_AUTHORIZATION_ENDPOINT")?;
            let token = optional_url("SCOPEUP_TOKEN_ENDPOINT")?;
            match (authorization, token) {
                (Some(authorization), Some(token)) => ProviderSource::Endpoints {
                    issuer,
                    authorization,
                    token,
                    userinfo: parse_url(
                        "SCOPEUP_USERINFO_ENDPOINT",
                        &required("SCOPEUP_USERINFO_ENDPOINT")?,
                    )?,
                    revocation: optional_url("SCOPEUP_REVOCATION_ENDPOINT")?,
                },
                (None, None) => ProviderSource::Discovery { issuer },
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "SCOPEUP_TOKEN_ENDPOINT",
                        reason: "set both the authorization and the token endpoint, or neither \
                                 to use discovery"
                            .to_owned(),
                    });
                }
            }
        } else {
            return Err(ConfigError::Invalid {
                name: "SCOPEUP_PROVIDER",
                reason: format!(
                    "`{provider_name}` is not a provider this Worker has tools for; use \
                     `{CLOUDFLARE_PROVIDER}` or `{GENERIC_PROVIDER}`"
                ),
            });
        };
        let tools = match provider {
            ProviderSource::Cloudflare => ToolSet::Cloudflare,
            _ => ToolSet::Notes,
        };

        let catalog = lookup("SCOPEUP_SCOPE_CATALOG")
            .filter(|value| !value.is_empty())
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|error| invalid("SCOPEUP_SCOPE_CATALOG", error))?;
        let baseline = lookup("SCOPEUP_BASELINE_SCOPES")
            .filter(|value| !value.trim().is_empty())
            .map(|text| ScopeSet::parse(&text))
            .transpose()
            .map_err(|error| invalid("SCOPEUP_BASELINE_SCOPES", error))?;
        let api_base = match (lookup("SCOPEUP_API_BASE"), tools.default_api_base()) {
            (Some(value), _) if !value.trim().is_empty() => parse_url("SCOPEUP_API_BASE", &value)?,
            (_, Some(default)) => parse_url("SCOPEUP_API_BASE", default)?,
            _ => parse_url("SCOPEUP_API_BASE", &required("SCOPEUP_API_BASE")?)?,
        };

        let key_ring = KeyRing::parse(&required("SCOPEUP_SEALING_KEYS")?)
            .map_err(|error| invalid("SCOPEUP_SEALING_KEYS", error))?;
        let state_key = STANDARD
            .decode(required("SCOPEUP_REQUEST_STATE_KEY")?.trim())
            .map_err(|error| invalid("SCOPEUP_REQUEST_STATE_KEY", error))?;
        let state_key: [u8; RequestStateKey::LEN] =
            state_key.try_into().map_err(|_| ConfigError::Invalid {
                name: "SCOPEUP_REQUEST_STATE_KEY",
                reason: format!("must be {} bytes", RequestStateKey::LEN),
            })?;

        Ok(Self {
            public_url,
            dangerous_allow_http_loopback,
            provider,
            client_id: required("SCOPEUP_CLIENT_ID")?,
            client_secret: lookup("SCOPEUP_CLIENT_SECRET")
                .filter(|secret| !secret.is_empty())
                .map(ClientSecret::new),
            catalog,
            baseline,
            tools,
            api_base,
            key_ring,
            request_state_key: RequestStateKey::from_bytes(state_key),
            tokens: TokenTable::parse(&required("MCP_TOKENS")?)?,
        })
    }

    /// The id of the provider the tools' tokens come from.
    pub fn provider_id(&self) -> Result<ProviderId, ConfigError> {
        let id = match self.tools {
            ToolSet::Cloudflare => CLOUDFLARE_PROVIDER,
            _ => "notes",
        };
        ProviderId::new(id).map_err(|error| invalid("SCOPEUP_PROVIDER", error))
    }

    /// The provider these settings describe, with `redirect_uri` (the engine's). Discovery
    /// fetches the issuer's metadata with `http`.
    pub async fn provider(
        &self,
        http: &dyn HttpClient,
        redirect_uri: Url,
    ) -> Result<Provider, ConfigError> {
        let id = self.provider_id()?;
        let catalog = || self.catalog.clone().unwrap_or_else(notes_catalog);
        let baseline = || {
            self.baseline
                .clone()
                .unwrap_or_else(|| ScopeSet::parse(NOTES_BASELINE).unwrap_or_default())
        };
        match &self.provider {
            ProviderSource::Endpoints {
                issuer,
                authorization,
                token,
                userinfo,
                revocation,
            } => Ok(Provider::generic(ProviderConfig {
                id,
                display_name: issuer.host_str().unwrap_or("the provider").to_owned(),
                issuer: Some(issuer.to_string()),
                authorization_endpoint: authorization.clone(),
                token_endpoint: token.clone(),
                userinfo_endpoint: Some(userinfo.clone()),
                revocation_endpoint: revocation.clone(),
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
                client_auth: ClientAuthMethod::Basic,
                redirect_uri,
                catalog: catalog(),
                baseline: baseline(),
                identity: IdentityLookup::userinfo(userinfo.clone()),
                iss_parameter_supported: true,
            })),
            ProviderSource::Discovery { issuer } => {
                let metadata = scopeup_oauth::discover(http, issuer)
                    .await
                    .map_err(ConfigError::Discovery)?;
                let settings = ClientSettings {
                    id,
                    display_name: metadata.issuer.clone(),
                    client_id: self.client_id.clone(),
                    client_secret: self.client_secret.clone(),
                    redirect_uri,
                    catalog: catalog(),
                    baseline: baseline(),
                };
                ProviderConfig::from_metadata(&metadata, settings)
                    .map(Provider::generic)
                    .map_err(|error| invalid("SCOPEUP_ISSUER", error))
            }
            ProviderSource::Cloudflare => {
                let mut client = PresetClient::new(
                    self.client_id.clone(),
                    self.client_secret.clone(),
                    redirect_uri,
                )
                .with_id(id);
                if let Some(catalog) = &self.catalog {
                    client = client.with_catalog(catalog.clone());
                }
                if let Some(baseline) = &self.baseline {
                    client = client.with_baseline(baseline.clone());
                }
                presets::cloudflare(client).map_err(|error| invalid("SCOPEUP_PROVIDER", error))
            }
        }
    }
}

/// The scopes a first connect asks for with the notes tools, unless the variables say.
const NOTES_BASELINE: &str = "notes:read offline_access";

impl TokenTable {
    /// Parses `token=subject[:account],…`. Without an account, the subject is also the upstream
    /// account the principal is bound to.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let mut entries = Vec::new();
        for entry in text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let bad = |reason: &str| ConfigError::Invalid {
                name: "MCP_TOKENS",
                reason: reason.to_owned(),
            };
            let (token, who) = entry
                .split_once('=')
                .ok_or_else(|| bad("entries are `token=subject[:account]`"))?;
            let (subject, account) = who.split_once(':').unwrap_or((who, who));
            if token.len() < 8 {
                return Err(bad("tokens are at least 8 characters"));
            }
            let account = AccountId::new(account).map_err(|error| invalid("MCP_TOKENS", error))?;
            let principal = Principal::new(subject)
                .map_err(|error| invalid("MCP_TOKENS", error))?
                .with_upstream_account(account);
            entries.push((token.to_owned(), principal));
        }
        if entries.is_empty() {
            return Err(ConfigError::Missing { name: "MCP_TOKENS" });
        }
        Ok(Self { entries })
    }

    /// The principal of an `Authorization` header value, if its bearer token is known.
    pub fn principal(&self, authorization: Option<&str>) -> Option<Principal> {
        let value = authorization?;
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim().as_bytes();
        self.entries
            .iter()
            .find(|(known, _)| constant_time_eq(known.as_bytes(), token))
            .map(|(_, principal)| principal.clone())
    }
}

/// The scope catalog of the demo provider's notes API.
pub fn notes_catalog() -> Catalog {
    let spec = serde_json::json!({
        "groups": [
            { "name": "Notes", "scopes": [
                { "scope": "notes:read", "description": "Read your notes" },
                { "scope": "notes:write", "description": "Create and edit notes" },
                { "scope": "notes:delete", "description": "Delete notes" },
            ]},
            { "name": "Account", "scopes": [
                { "scope": "profile", "description": "See your name" },
                { "scope": "offline_access", "description": "Keep access while you are away" },
            ]},
        ],
        "templates": [
            { "key": "editor", "name": "Editor", "description": "Read and write notes",
              "scopes": ["notes:read", "notes:write"] },
            { "key": "full", "name": "Full access", "description": "Read, write and delete notes",
              "scopes": ["notes:read", "notes:write", "notes:delete"] },
        ],
    });
    #[expect(
        clippy::expect_used,
        reason = "a fixed catalog that the tests parse; it cannot fail at run time"
    )]
    serde_json::from_value(spec).expect("the notes catalog is valid")
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value.trim()).map_err(|error| invalid(name, error))
}

fn invalid(name: &'static str, error: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: error.to_string(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notes_catalog_parses() {
        let catalog = notes_catalog();
        assert!(catalog.contains(&scopeup_core::Scope::new("notes:delete").unwrap()));
    }

    #[test]
    fn bearer_tokens_map_to_bound_principals() {
        let table = TokenTable::parse("token-of-alice=alice, token-of-bob=bob:4242").unwrap();
        let alice = table.principal(Some("Bearer token-of-alice")).unwrap();
        assert_eq!(alice.subject(), "alice");
        assert_eq!(alice.upstream_account().unwrap().as_str(), "alice");
        let bob = table.principal(Some("bearer token-of-bob")).unwrap();
        assert_eq!(bob.upstream_account().unwrap().as_str(), "4242");
        assert!(table.principal(Some("Bearer token-of-carol")).is_none());
        assert!(table.principal(Some("Basic token-of-alice")).is_none());
        assert!(table.principal(None).is_none());
        assert!(TokenTable::parse("short=alice").is_err());
        assert!(TokenTable::parse("").is_err());
    }

    /// The settings of a deployment with the Cloudflare preset: no issuer, no endpoints, no API
    /// base.
    fn cloudflare_deployment(name: &str) -> Option<String> {
        let value = match name {
            "SCOPEUP_PUBLIC_URL" => "https://mcp.example.com/",
            "SCOPEUP_CLIENT_ID" => "client",
            "SCOPEUP_SEALING_KEYS" => "k1:qmbtvWpPSBJoUdBYFvBZ1cJX3F/QLQKBqy44TVlH2sk=",
            "SCOPEUP_REQUEST_STATE_KEY" => "qmbtvWpPSBJoUdBYFvBZ1cJX3F/QLQKBqy44TVlH2sk=",
            "MCP_TOKENS" => "token-of-alice-0123456789=alice",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[tokio::test]
    async fn cloudflare_is_the_default_provider_with_its_own_tools() {
        let settings = Settings::from_lookup(cloudflare_deployment).unwrap();
        assert_eq!(settings.tools, ToolSet::Cloudflare);
        assert_eq!(settings.api_base.as_str(), "https://api.cloudflare.com/");

        let redirect_uri = Url::parse("https://mcp.example.com/oauth/callback").unwrap();
        let http = NoNetwork;
        let provider = settings.provider(&http, redirect_uri).await.unwrap();
        assert_eq!(provider.config.id.as_str(), "cloudflare");
        assert_eq!(
            provider.config.authorization_endpoint.as_str(),
            "https://dash.cloudflare.com/oauth2/auth"
        );
        assert_eq!(provider.config.catalog.limit(), Some(76));
    }

    #[test]
    fn a_provider_without_tools_is_refused_by_name() {
        let error = Settings::from_lookup(|name| match name {
            "SCOPEUP_PROVIDER" => Some("github".to_owned()),
            other => cloudflare_deployment(other),
        })
        .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Invalid {
                    name: "SCOPEUP_PROVIDER",
                    ..
                }
            ),
            "{error}"
        );
    }

    /// An HTTP client for settings that must not need the network.
    struct NoNetwork;

    #[async_trait::async_trait]
    impl HttpClient for NoNetwork {
        async fn send(
            &self,
            _request: scopeup_core::HttpRequest,
        ) -> Result<scopeup_core::HttpResponse, scopeup_core::HttpError> {
            panic!("the Cloudflare preset needs no discovery")
        }
    }

    #[test]
    fn missing_settings_are_named() {
        let error = Settings::from_lookup(|_| None).unwrap_err();
        assert!(matches!(
            error,
            ConfigError::Missing {
                name: "SCOPEUP_PUBLIC_URL"
            }
        ));
    }
}

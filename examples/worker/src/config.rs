//! The Worker's configuration, read from its variables and secrets (`wrangler.toml` `[vars]`,
//! `wrangler secret put`), and the provider it describes.
//!
//! | name | kind | meaning |
//! | --- | --- | --- |
//! | `SCOPEUP_PUBLIC_URL` | var | the Worker's public base URL (`https://mcp.example.com/`) |
//! | `SCOPEUP_PROVIDER` | var | `oauth` (a provider described by the variables below) or the name of a preset |
//! | `SCOPEUP_ISSUER` | var | the provider's issuer |
//! | `SCOPEUP_AUTHORIZATION_ENDPOINT`, `SCOPEUP_TOKEN_ENDPOINT` | var | the endpoints; without them, RFC 8414 discovery at the issuer |
//! | `SCOPEUP_USERINFO_ENDPOINT` | var | the userinfo endpoint, which tells whose account a token is (with explicit endpoints) |
//! | `SCOPEUP_REVOCATION_ENDPOINT` | var | the RFC 7009 revocation endpoint, optional |
//! | `SCOPEUP_SCOPE_CATALOG` | var | the scope catalog as JSON; the notes catalog by default |
//! | `SCOPEUP_BASELINE_SCOPES` | var | the scopes a first connect asks for |
//! | `SCOPEUP_API_BASE` | var | the base URL of the notes API the tools call |
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
use scopeup_oauth::{ClientAuthMethod, ClientSettings, IdentityLookup, Provider, ProviderConfig};
use scopeup_store::KeyRing;
use url::Url;

/// The provider id the tools use.
pub const PROVIDER_ID: &str = "notes";

/// The name of the generic provider in `SCOPEUP_PROVIDER`.
pub const GENERIC_PROVIDER: &str = "oauth";

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
    /// The scope catalog.
    pub catalog: Catalog,
    /// The scopes of a first connect.
    pub baseline: ScopeSet,
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
    /// A provider preset of `scopeup-oauth`, by name.
    Preset {
        /// The preset's name.
        name: String,
    },
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

        let provider_name =
            lookup("SCOPEUP_PROVIDER").unwrap_or_else(|| GENERIC_PROVIDER.to_owned());
        let provider = if provider_name == GENERIC_PROVIDER {
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
            ProviderSource::Preset {
                name: provider_name,
            }
        };

        let catalog = match lookup("SCOPEUP_SCOPE_CATALOG").filter(|value| !value.is_empty()) {
            Some(json) => serde_json::from_str(&json)
                .map_err(|error| invalid("SCOPEUP_SCOPE_CATALOG", error))?,
            None => notes_catalog(),
        };
        let baseline = lookup("SCOPEUP_BASELINE_SCOPES")
            .unwrap_or_else(|| "notes:read offline_access".to_owned());
        let baseline = ScopeSet::parse(&baseline)
            .map_err(|error| invalid("SCOPEUP_BASELINE_SCOPES", error))?;
        let api_base = parse_url("SCOPEUP_API_BASE", &required("SCOPEUP_API_BASE")?)?;

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
            api_base,
            key_ring,
            request_state_key: RequestStateKey::from_bytes(state_key),
            tokens: TokenTable::parse(&required("MCP_TOKENS")?)?,
        })
    }

    /// The provider these settings describe, with `redirect_uri` (the engine's). Discovery
    /// fetches the issuer's metadata with `http`.
    pub async fn provider(
        &self,
        http: &dyn HttpClient,
        redirect_uri: Url,
    ) -> Result<Provider, ConfigError> {
        let id =
            ProviderId::new(PROVIDER_ID).map_err(|error| invalid("SCOPEUP_PROVIDER", error))?;
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
                catalog: self.catalog.clone(),
                baseline: self.baseline.clone(),
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
                    catalog: self.catalog.clone(),
                    baseline: self.baseline.clone(),
                };
                ProviderConfig::from_metadata(&metadata, settings)
                    .map(Provider::generic)
                    .map_err(|error| invalid("SCOPEUP_ISSUER", error))
            }
            ProviderSource::Preset { name } => preset_provider(name, self, redirect_uri),
        }
    }
}

/// The provider presets this Worker knows by name in `SCOPEUP_PROVIDER`. Every preset of
/// `scopeup-oauth` that the Worker offers is listed here; the provider's own settings (client
/// id and secret, redirect URI) come from `settings`.
fn preset_provider(
    name: &str,
    _settings: &Settings,
    _redirect_uri: Url,
) -> Result<Provider, ConfigError> {
    Err(ConfigError::Invalid {
        name: "SCOPEUP_PROVIDER",
        reason: format!("no preset named `{name}`; use `{GENERIC_PROVIDER}`"),
    })
}

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

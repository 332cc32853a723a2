//! Provider presets: endpoints, a scope catalog, authorize extras and a refusal classifier for
//! each provider scopeup knows, so that a host configures one with a name and its client
//! credentials.
//!
//! | preset | classifier |
//! | --- | --- |
//! | [`generic`] | RFC 6750 `WWW-Authenticate: Bearer`, endpoints from RFC 8414 / OIDC discovery |
//! | [`github`] | `X-OAuth-Scopes` / `X-Accepted-OAuth-Scopes`, a 404 on a private resource, GitHub App permissions |
//! | [`google`] | the challenge's `scope` list as alternatives; offline access and consent extras |
//! | [`slack`] | `200` with `"ok": false` and `missing_scope`, `needed`, `provided` in the body |
//! | [`cloudflare`] | error `10000`, judged against the scopes that could cover the call |
//!
//! Each catalog is a JSON file in this folder, compiled in and parsed once; [`PresetClient`]
//! takes a host's own catalog instead. A host with a provider of its own builds a
//! [`Provider`] with its own [`ProviderBehaviour`](crate::ProviderBehaviour),
//! or keeps a preset's and replaces only its classifier with [`with_classifier`]; the engine
//! needs no change for either.

mod cloudflare;
mod custom;
mod data;
mod github;
mod google;
mod slack;

use std::fmt;
use std::str::FromStr;

use scopeup_core::{Catalog, CatalogError, ClientSecret, HttpClient, ProviderId, ScopeSet};
use url::Url;

pub use self::cloudflare::{
    CLOUDFLARE_AUTHENTICATION_ERROR, CloudflareBehaviour, CloudflareClassifier, CoverageRule,
};
pub use self::custom::{ClassifierOverride, with_classifier};
pub use self::github::{GitHubBehaviour, GitHubClassifier};
pub use self::google::{GoogleBehaviour, GoogleClassifier};
pub use self::slack::{SlackBehaviour, SlackClassifier};
use crate::error::OAuthError;
use crate::provider::{ClientAuthMethod, ClientSettings, IdentityLookup, Provider, ProviderConfig};

/// The presets by name, as a host's configuration names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PresetName {
    /// Any standards-following provider found by discovery.
    Generic,
    /// GitHub OAuth Apps.
    GitHub,
    /// Google APIs.
    Google,
    /// Slack apps (bot scopes).
    Slack,
    /// Cloudflare's OAuth for its API.
    Cloudflare,
}

/// The host's side of a preset: who it is to the host and its registration at the provider.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PresetClient {
    /// The host's name for the provider; the preset's name (`github`, …) when `None`.
    pub id: Option<ProviderId>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret.
    pub client_secret: Option<ClientSecret>,
    /// The registered callback URL: the engine's redirect URI.
    pub redirect_uri: Url,
    /// A catalog to use instead of the preset's.
    pub catalog: Option<Catalog>,
    /// Scopes a first connect asks for instead of the preset's.
    pub baseline: Option<ScopeSet>,
}

/// Why a preset could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PresetError {
    /// No preset has this name.
    #[error("there is no provider preset `{name}`")]
    UnknownPreset {
        /// The name asked for.
        name: String,
    },
    /// The preset's data file is not a valid catalog.
    #[error("the {preset} preset's data file is invalid")]
    Data {
        /// The preset.
        preset: PresetName,
        /// What is wrong with it.
        #[source]
        source: DataError,
    },
    /// The generic preset's discovery failed.
    #[error("discovery of the provider failed")]
    Discovery(#[from] OAuthError),
    /// A host's catalog or baseline does not fit together.
    #[error("the baseline scope `{scope}` is not in the catalog")]
    BaselineOutsideCatalog {
        /// The scope.
        scope: scopeup_core::Scope,
    },
}

/// What is wrong with a preset's data file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file is not the expected JSON.
    #[error("malformed JSON at line {line}, column {column}")]
    Json {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
    },
    /// The catalog does not hold together.
    #[error("inconsistent catalog")]
    Catalog(#[from] CatalogError),
    /// A rule or relation names a scope the catalog does not list.
    #[error("`{scope}` is not in the catalog")]
    UnknownScope {
        /// The scope.
        scope: String,
    },
    /// An endpoint is not a URL.
    #[error("endpoint `{url}` is not a URL")]
    Endpoint {
        /// The text.
        url: String,
    },
}

impl PresetName {
    /// Every preset.
    pub const ALL: [Self; 5] = [
        Self::Generic,
        Self::GitHub,
        Self::Google,
        Self::Slack,
        Self::Cloudflare,
    ];

    /// The name in configuration: `generic`, `github`, `google`, `slack` or `cloudflare`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generic => "generic",
            Self::GitHub => "github",
            Self::Google => "google",
            Self::Slack => "slack",
            Self::Cloudflare => "cloudflare",
        }
    }

    /// The preset's own catalog, or `None` for the generic preset, whose catalog the host
    /// supplies.
    pub fn catalog(self) -> Result<Option<Catalog>, PresetError> {
        Ok(data::load(self)?.map(|data| data.catalog.clone()))
    }
}

impl FromStr for PresetName {
    type Err = PresetError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|preset| preset.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| PresetError::UnknownPreset {
                name: name.chars().take(40).collect(),
            })
    }
}

impl fmt::Display for PresetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PresetClient {
    /// A client registration with the preset's id, catalog and baseline.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<ClientSecret>,
        redirect_uri: Url,
    ) -> Self {
        Self {
            id: None,
            client_id: client_id.into(),
            client_secret,
            redirect_uri,
            catalog: None,
            baseline: None,
        }
    }

    /// Uses `id` as the host's name for the provider.
    pub fn with_id(self, id: ProviderId) -> Self {
        Self {
            id: Some(id),
            ..self
        }
    }

    /// Offers `catalog` on the picker instead of the preset's.
    pub fn with_catalog(self, catalog: Catalog) -> Self {
        Self {
            catalog: Some(catalog),
            ..self
        }
    }

    /// Asks for `baseline` at a first connect instead of the preset's.
    pub fn with_baseline(self, baseline: ScopeSet) -> Self {
        Self {
            baseline: Some(baseline),
            ..self
        }
    }
}

/// Builds a preset by name. The generic preset needs discovery: use [`generic`] for it, which
/// this function refuses with [`PresetError::UnknownPreset`] to keep it free of I/O.
pub fn by_name(name: PresetName, client: PresetClient) -> Result<Provider, PresetError> {
    match name {
        PresetName::GitHub => github(client),
        PresetName::Google => google(client),
        PresetName::Slack => slack(client),
        PresetName::Cloudflare => cloudflare(client),
        PresetName::Generic => Err(PresetError::UnknownPreset {
            name: "generic (needs discovery: use presets::generic)".to_owned(),
        }),
    }
}

/// A standards-following provider: endpoints from RFC 8414 / OpenID Connect discovery of
/// `issuer`, the RFC 6750 classifier, account from userinfo's `sub`. The host supplies the
/// catalog (`client.catalog`; an empty catalog when `None`).
pub async fn generic(
    http: &dyn HttpClient,
    issuer: &Url,
    display_name: impl Into<String>,
    client: PresetClient,
) -> Result<Provider, PresetError> {
    let metadata = crate::discover(http, issuer).await?;
    let catalog = match client.catalog {
        Some(catalog) => catalog,
        None => Catalog::new(scopeup_core::CatalogSpec::default()).map_err(|source| {
            PresetError::Data {
                preset: PresetName::Generic,
                source: source.into(),
            }
        })?,
    };
    let settings = ClientSettings {
        id: client
            .id
            .map_or_else(|| preset_id(PresetName::Generic), Ok)?,
        display_name: display_name.into(),
        client_id: client.client_id,
        client_secret: client.client_secret,
        redirect_uri: client.redirect_uri,
        catalog,
        baseline: client.baseline.unwrap_or_default(),
    };
    Ok(Provider::generic(ProviderConfig::from_metadata(
        &metadata, settings,
    )?))
}

/// GitHub OAuth Apps: classic scopes, granted scopes listed with commas, the account from
/// `GET https://api.github.com/user`. GitHub has no RFC 7009 revocation endpoint.
pub fn github(client: PresetClient) -> Result<Provider, PresetError> {
    let data = data::require(PresetName::GitHub)?;
    let endpoints = Endpoints {
        issuer: None,
        authorization: "https://github.com/login/oauth/authorize",
        token: "https://github.com/login/oauth/access_token",
        userinfo: None,
        revocation: None,
        identity: ("https://api.github.com/user", "/id"),
        client_auth: ClientAuthMethod::Post,
        iss_parameter_supported: false,
    };
    let behaviour = GitHubBehaviour::new(GitHubClassifier::from_data(data));
    build(PresetName::GitHub, data, endpoints, client, behaviour)
}

/// Google APIs: the challenge's scope list read as alternatives, `include_granted_scopes=true`
/// and `access_type=offline` on every authorization and `prompt=consent` when no refresh token
/// is held, RFC 7009 revocation at `https://oauth2.googleapis.com/revoke`.
pub fn google(client: PresetClient) -> Result<Provider, PresetError> {
    let data = data::require(PresetName::Google)?;
    let endpoints = Endpoints {
        issuer: Some("https://accounts.google.com"),
        authorization: "https://accounts.google.com/o/oauth2/v2/auth",
        token: "https://oauth2.googleapis.com/token",
        userinfo: Some("https://openidconnect.googleapis.com/v1/userinfo"),
        revocation: Some("https://oauth2.googleapis.com/revoke"),
        identity: ("https://openidconnect.googleapis.com/v1/userinfo", "/sub"),
        client_auth: ClientAuthMethod::Post,
        iss_parameter_supported: false,
    };
    build(PresetName::Google, data, endpoints, client, GoogleBehaviour)
}

/// Slack apps with bot scopes (OAuth v2): scopes written with commas, refusals read from the
/// body, the account from `auth.test`'s `user_id`. Slack's `auth.revoke` is not RFC 7009, so
/// superseded tokens are not revoked.
pub fn slack(client: PresetClient) -> Result<Provider, PresetError> {
    let data = data::require(PresetName::Slack)?;
    let endpoints = Endpoints {
        issuer: None,
        authorization: "https://slack.com/oauth/v2/authorize",
        token: "https://slack.com/api/oauth.v2.access",
        userinfo: None,
        revocation: None,
        identity: ("https://slack.com/api/auth.test", "/user_id"),
        client_auth: ClientAuthMethod::Post,
        iss_parameter_supported: false,
    };
    build(PresetName::Slack, data, endpoints, client, SlackBehaviour)
}

/// Cloudflare: the 78-scope catalog with its groups and templates, the required scopes
/// `user:read`, `offline_access` and `account:read`, at most 76 scopes per request, and error
/// `10000` judged against the scopes that could cover the call (see [`CloudflareClassifier`]).
pub fn cloudflare(client: PresetClient) -> Result<Provider, PresetError> {
    let data = data::require(PresetName::Cloudflare)?;
    let endpoints = Endpoints {
        issuer: None,
        authorization: "https://dash.cloudflare.com/oauth2/auth",
        token: "https://dash.cloudflare.com/oauth2/token",
        userinfo: None,
        revocation: None,
        identity: ("https://api.cloudflare.com/client/v4/user", "/result/id"),
        client_auth: ClientAuthMethod::Basic,
        iss_parameter_supported: false,
    };
    let behaviour = CloudflareBehaviour::new(CloudflareClassifier::from_data(data));
    build(PresetName::Cloudflare, data, endpoints, client, behaviour)
}

struct Endpoints {
    issuer: Option<&'static str>,
    authorization: &'static str,
    token: &'static str,
    userinfo: Option<&'static str>,
    revocation: Option<&'static str>,
    identity: (&'static str, &'static str),
    client_auth: ClientAuthMethod,
    iss_parameter_supported: bool,
}

fn build(
    preset: PresetName,
    data: &data::PresetData,
    endpoints: Endpoints,
    client: PresetClient,
    behaviour: impl crate::ProviderBehaviour + 'static,
) -> Result<Provider, PresetError> {
    let url = |text: &str| {
        Url::parse(text).map_err(|_| PresetError::Data {
            preset,
            source: DataError::Endpoint {
                url: text.to_owned(),
            },
        })
    };
    let catalog = client.catalog.unwrap_or_else(|| data.catalog.clone());
    let baseline = client.baseline.unwrap_or_else(|| data.baseline.clone());
    if let Some(scope) = baseline
        .iter()
        .find(|scope| !catalog.contains(scope))
        .cloned()
    {
        return Err(PresetError::BaselineOutsideCatalog { scope });
    }

    let config = ProviderConfig {
        id: client.id.map_or_else(|| preset_id(preset), Ok)?,
        display_name: data.name.clone(),
        issuer: endpoints.issuer.map(str::to_owned),
        authorization_endpoint: url(endpoints.authorization)?,
        token_endpoint: url(endpoints.token)?,
        userinfo_endpoint: endpoints.userinfo.map(url).transpose()?,
        revocation_endpoint: endpoints.revocation.map(url).transpose()?,
        client_id: client.client_id,
        client_secret: client.client_secret,
        client_auth: endpoints.client_auth,
        redirect_uri: client.redirect_uri,
        catalog,
        baseline,
        identity: IdentityLookup {
            url: url(endpoints.identity.0)?,
            account_id_pointer: endpoints.identity.1.to_owned(),
        },
        iss_parameter_supported: endpoints.iss_parameter_supported,
    };
    Ok(Provider::new(config, std::sync::Arc::new(behaviour)))
}

fn preset_id(preset: PresetName) -> Result<ProviderId, PresetError> {
    ProviderId::new(preset.as_str()).map_err(|_| PresetError::UnknownPreset {
        name: preset.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> PresetClient {
        PresetClient::new(
            "client",
            Some(ClientSecret::new("secret")),
            Url::parse("https://host.example/oauth/callback").unwrap(),
        )
    }

    #[test]
    fn every_preset_catalog_loads_and_validates() {
        for preset in PresetName::ALL {
            let catalog = preset.catalog().unwrap();
            assert_eq!(catalog.is_some(), preset != PresetName::Generic, "{preset}");
        }
        let cloudflare = PresetName::Cloudflare.catalog().unwrap().unwrap();
        assert_eq!(cloudflare.scopes().count(), 78);
        assert_eq!(cloudflare.limit(), Some(76));
        assert_eq!(
            cloudflare.required().to_string(),
            "account:read offline_access user:read"
        );
        let templates: Vec<&str> = cloudflare
            .templates()
            .iter()
            .map(|template| template.name.as_str())
            .collect();
        assert_eq!(
            templates,
            [
                "Read Only (recommended)",
                "Workers Full Access",
                "DNS Full Access"
            ]
        );
        assert!(cloudflare.groups().iter().all(|group| {
            group
                .scopes
                .iter()
                .all(|entry| !entry.description.is_empty())
        }));
    }

    #[test]
    fn presets_are_selected_by_name() {
        for preset in PresetName::ALL {
            assert_eq!(preset.as_str().parse::<PresetName>().unwrap(), preset);
            if preset == PresetName::Generic {
                assert!(by_name(preset, client()).is_err());
                continue;
            }
            let provider = by_name(preset, client()).unwrap();
            assert_eq!(provider.config.id.as_str(), preset.as_str());
            assert!(
                provider
                    .config
                    .baseline
                    .iter()
                    .all(|scope| provider.config.catalog.contains(scope))
            );
        }
        assert!(matches!(
            "gitlab".parse::<PresetName>(),
            Err(PresetError::UnknownPreset { .. })
        ));
        assert_eq!("GitHub".parse::<PresetName>().unwrap(), PresetName::GitHub);
    }

    #[test]
    fn a_host_catalog_replaces_the_preset_catalog() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"groups": [{"name": "Repos", "scopes": [{"scope": "repo", "description": "All"}]}]}"#,
        )
        .unwrap();
        let provider = github(
            client()
                .with_catalog(catalog.clone())
                .with_baseline(ScopeSet::parse("repo").unwrap())
                .with_id(ProviderId::new("gh").unwrap()),
        )
        .unwrap();
        assert_eq!(provider.config.catalog, catalog);
        assert_eq!(provider.config.id.as_str(), "gh");

        // The preset's baseline is not in that catalog.
        assert!(matches!(
            github(client().with_catalog(catalog)),
            Err(PresetError::BaselineOutsideCatalog { .. })
        ));
    }
}

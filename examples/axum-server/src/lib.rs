//! The axum example: an MCP server over Streamable HTTP whose notes tools get their upstream
//! scopes from scopeup.
//!
//! By default it also serves the demo provider (an OAuth server and notes API) under `/demo` on
//! the same port, so it runs offline with no account anywhere. MCP clients authenticate with
//! the development bearer tokens `demo-alice` and `demo-bob`; each principal is bound to the
//! demo provider account of the same name (the design's "Whose account", case 1).

mod tools;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::HeaderMap;
use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use scopeup::{Engine, EngineConfig};
use scopeup_core::catalog::{CatalogScope, CatalogSpec, ScopeGroup, Template};
use scopeup_core::{AccountId, Catalog, ClientSecret, Principal, ProviderId, Scope, ScopeSet};
use scopeup_mcp::{CompletionNotifier, RequestStateKey, ScopeupMcp};
use scopeup_oauth::{
    ClientAuthMethod, ClientSettings, HttpClientConfig, IdentityLookup, Provider, ProviderConfig,
    ReqwestHttpClient,
};
use scopeup_store::KeyRing;

pub use tools::NotesServer;

/// The provider id the example's tools use.
pub const PROVIDER_ID: &str = "notes";

/// How the example runs. Every field has a flag and an environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "axum-server",
    about = "An MCP server whose tools get scope upgrades from scopeup"
)]
pub struct ExampleConfig {
    /// Address to listen on.
    #[arg(long, env = "SCOPEUP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Public base URL of this server, as browsers and providers reach it. Defaults to
    /// `http://{listen}/`.
    #[arg(long, env = "SCOPEUP_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Issuer of a real OAuth provider (found through RFC 8414 / OpenID discovery). Without
    /// it, the embedded demo provider is served under `/demo` and used.
    #[arg(long, env = "SCOPEUP_ISSUER")]
    pub issuer: Option<url::Url>,

    /// OAuth client id registered at the provider (real provider only).
    #[arg(long, env = "SCOPEUP_CLIENT_ID")]
    pub client_id: Option<String>,

    /// OAuth client secret registered at the provider (real provider only).
    #[arg(long, env = "SCOPEUP_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// The provider's name as the connect page shows it (real provider only); the issuer by
    /// default.
    #[arg(long, env = "SCOPEUP_PROVIDER_NAME")]
    pub provider_name: Option<String>,

    /// Base URL of the notes API the tools call (real provider only); the demo provider's by
    /// default.
    #[arg(long, env = "SCOPEUP_API_BASE")]
    pub api_base: Option<url::Url>,

    /// Scopes a first connect asks for.
    #[arg(
        long,
        env = "SCOPEUP_BASELINE_SCOPES",
        default_value = "notes:read offline_access"
    )]
    pub baseline_scopes: String,

    /// Where grants live. Only `memory` is available in this version: grants are lost on
    /// restart.
    #[arg(long, env = "SCOPEUP_STORE", default_value = "memory")]
    pub store: String,

    /// Sealing key ring, `kid:BASE64KEY[,kid2:BASE64KEY]` (the last is current). Generated at
    /// start when absent, which is only safe with the memory store.
    #[arg(long, env = "SCOPEUP_SEALING_KEYS", hide_env_values = true)]
    pub sealing_keys: Option<String>,

    /// Extra host names the MCP endpoint accepts in `Host` (loopback is always accepted).
    #[arg(long, env = "SCOPEUP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
}

impl ExampleConfig {
    /// The default configuration on a given address (used by tests).
    pub fn on(listen: SocketAddr) -> Self {
        Self {
            listen,
            public_url: None,
            issuer: None,
            client_id: None,
            client_secret: None,
            provider_name: None,
            api_base: None,
            baseline_scopes: "notes:read offline_access".to_owned(),
            store: "memory".to_owned(),
            sealing_keys: None,
            allowed_hosts: Vec::new(),
        }
    }

    /// The public base URL.
    pub fn public_url(&self) -> anyhow::Result<url::Url> {
        match &self.public_url {
            Some(url) => Ok(url.clone()),
            None => Ok(url::Url::parse(&format!("http://{}/", self.listen))?),
        }
    }
}

/// The running parts of the example, for `main` and for tests.
pub struct Example {
    /// The whole app: MCP at `/mcp`, the connect and callback routes, and the demo provider.
    pub router: Router,
    /// The scopeup engine.
    pub engine: Engine,
    /// The demo provider, when it is embedded.
    pub demo: Option<DemoProvider>,
}

/// Builds the example's app from its configuration.
pub async fn build(config: &ExampleConfig) -> anyhow::Result<Example> {
    let public_url = config.public_url()?;
    anyhow::ensure!(
        config.store == "memory",
        "store `{}` is not supported: use `memory`",
        config.store
    );

    let http: Arc<dyn scopeup_core::HttpClient> = Arc::new(
        ReqwestHttpClient::new(HttpClientConfig::default()).context("building the HTTP client")?,
    );
    let mut engine_config = EngineConfig::new(public_url.clone(), "scopeup example");
    engine_config.dangerous_allow_http_loopback = public_url.scheme() == "http";
    let redirect_uri = engine_config.redirect_uri();
    let baseline =
        ScopeSet::parse(&config.baseline_scopes).context("parsing the baseline scopes")?;

    // The provider: the embedded demo provider, or a real one found by discovery.
    let (provider, demo, api_base) = match &config.issuer {
        None => {
            let issuer = public_url
                .join("demo")
                .context("building the demo issuer")?;
            let client_secret = random_secret()?;
            let demo = DemoProvider::new(DemoProviderConfig::with_defaults(
                issuer.clone(),
                DemoClient::new(
                    "scopeup-example",
                    client_secret.clone(),
                    redirect_uri.clone(),
                ),
            ));
            let provider = demo_provider_config(&issuer, client_secret, redirect_uri, baseline)?;
            (provider, Some(demo), issuer)
        }
        Some(issuer) => {
            let client_id = config
                .client_id
                .clone()
                .context("--client-id is required with --issuer")?;
            let metadata = scopeup_oauth::discover(http.as_ref(), issuer)
                .await
                .with_context(|| format!("discovering {issuer}"))?;
            let settings = ClientSettings {
                id: ProviderId::new(PROVIDER_ID)?,
                display_name: config
                    .provider_name
                    .clone()
                    .unwrap_or_else(|| metadata.issuer.clone()),
                client_id,
                client_secret: config.client_secret.clone().map(ClientSecret::new),
                redirect_uri,
                catalog: notes_catalog()?,
                baseline,
            };
            let provider = Provider::generic(ProviderConfig::from_metadata(&metadata, settings)?);
            let api_base = config
                .api_base
                .clone()
                .context("--api-base is required with --issuer")?;
            (provider, None, api_base)
        }
    };

    let key_ring = match &config.sealing_keys {
        Some(text) => KeyRing::parse(text).context("parsing --sealing-keys")?,
        None => {
            let random = scopeup::OsRandom;
            let key = scopeup_store::SealingKey::generate(&random)?;
            KeyRing::new(scopeup_store::KeyId::new("generated")?, key)
        }
    };

    let notifier = Arc::new(CompletionNotifier::new());
    let engine = Engine::builder(engine_config, key_ring)
        .provider(provider)
        .http_client(http)
        .observer(notifier.clone())
        .build()?;
    let state_key = RequestStateKey::generate(&scopeup::OsRandom)?;
    let scopeup = Arc::new(ScopeupMcp::new(engine.clone(), notifier, state_key));

    // The MCP endpoint: sessions for `initialize` clients, stateless for 2026-07-28 ones.
    let notes = NotesServer::new(scopeup, ProviderId::new(PROVIDER_ID)?, api_base)?;
    let mut hosts: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    hosts.extend(public_url.host_str().map(str::to_owned));
    hosts.extend(config.allowed_hosts.iter().cloned());
    let mcp = StreamableHttpService::new(
        move || Ok(notes.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_sse_keep_alive(Some(Duration::from_secs(15))),
    );
    let resolver: Arc<dyn scopeup_axum::PrincipalResolver> = Arc::new(DemoTokens);
    let mcp_routes =
        Router::new()
            .nest_service("/mcp", mcp)
            .layer(axum::middleware::from_fn_with_state(
                resolver,
                scopeup_axum::require_principal,
            ));

    let mut router = Router::new()
        .merge(scopeup_axum::routes(engine.clone()))
        .merge(mcp_routes);
    if let Some(demo) = &demo {
        router = router.nest("/demo", demo.router());
    }
    Ok(Example {
        router,
        engine,
        demo,
    })
}

/// Serves the example until the process is stopped.
pub async fn serve(config: ExampleConfig) -> anyhow::Result<()> {
    let example = build(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    tracing::info!(
        mcp = %config.public_url()?.join("mcp")?,
        demo = example.demo.is_some(),
        "serving; authenticate MCP clients with `Authorization: Bearer demo-alice` or `demo-bob`"
    );
    axum::serve(listener, example.router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The development bearer tokens: `demo-alice` and `demo-bob`, each bound to the demo
/// provider's account of the same name.
#[derive(Debug, Clone, Copy)]
pub struct DemoTokens;

impl scopeup_axum::PrincipalResolver for DemoTokens {
    fn resolve(&self, headers: &HeaderMap) -> Option<Principal> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        let name = match token.trim() {
            "demo-alice" => "alice",
            "demo-bob" => "bob",
            _ => return None,
        };
        let account = AccountId::new(name).ok()?;
        Some(Principal::new(name).ok()?.with_upstream_account(account))
    }
}

/// The scope catalog of the notes API.
pub fn notes_catalog() -> anyhow::Result<Catalog> {
    let entry = |scope: &str, description: &str| -> anyhow::Result<CatalogScope> {
        Ok(CatalogScope {
            scope: Scope::new(scope)?,
            description: description.to_owned(),
        })
    };
    Ok(Catalog::new(CatalogSpec {
        groups: vec![
            ScopeGroup {
                name: "Notes".to_owned(),
                scopes: vec![
                    entry("notes:read", "Read your notes")?,
                    entry("notes:write", "Create and edit notes")?,
                    entry("notes:delete", "Delete notes")?,
                ],
            },
            ScopeGroup {
                name: "Account".to_owned(),
                scopes: vec![
                    entry("profile", "See your name")?,
                    entry("offline_access", "Keep access while you are away")?,
                ],
            },
        ],
        templates: vec![
            Template {
                key: "editor".to_owned(),
                name: "Editor".to_owned(),
                description: "Read and write notes".to_owned(),
                scopes: ScopeSet::parse("notes:read notes:write")?,
            },
            Template {
                key: "full".to_owned(),
                name: "Full access".to_owned(),
                description: "Read, write and delete notes".to_owned(),
                scopes: ScopeSet::parse("notes:read notes:write notes:delete")?,
            },
        ],
        required: ScopeSet::new(),
        limit: None,
    })?)
}

fn demo_provider_config(
    issuer: &url::Url,
    client_secret: String,
    redirect_uri: url::Url,
    baseline: ScopeSet,
) -> anyhow::Result<Provider> {
    let endpoint = |path: &str| -> anyhow::Result<url::Url> {
        Ok(url::Url::parse(&format!(
            "{}/{path}",
            issuer.as_str().trim_end_matches('/')
        ))?)
    };
    let userinfo = endpoint("userinfo")?;
    Ok(Provider::generic(ProviderConfig {
        id: ProviderId::new(PROVIDER_ID)?,
        display_name: "Demo Notes".to_owned(),
        issuer: Some(issuer.to_string()),
        authorization_endpoint: endpoint("authorize")?,
        token_endpoint: endpoint("token")?,
        userinfo_endpoint: Some(userinfo.clone()),
        revocation_endpoint: Some(endpoint("revoke")?),
        client_id: "scopeup-example".to_owned(),
        client_secret: Some(ClientSecret::new(client_secret)),
        client_auth: ClientAuthMethod::Basic,
        redirect_uri,
        catalog: notes_catalog()?,
        baseline,
        identity: IdentityLookup::userinfo(userinfo),
        iss_parameter_supported: true,
    }))
}

fn random_secret() -> anyhow::Result<String> {
    use scopeup_core::Random as _;
    let mut bytes = [0_u8; 24];
    scopeup::OsRandom.fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

//! The axum example: an MCP server over Streamable HTTP whose notes tools get their upstream
//! scopes from scopeup.
//!
//! By default it also serves the demo provider (an OAuth server and notes API) under `/demo` on
//! the same port, so it runs offline with no account anywhere. MCP clients authenticate with
//! the development bearer tokens `demo-alice` and `demo-bob`; each principal is bound to the
//! demo provider account of the same name (the design's "Whose account", case 1).

mod audit;
mod tools;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::HeaderMap;
use axum::serve::ListenerExt as _;
use base64::Engine as _;
use demo_provider::{DemoClient, DemoProvider, DemoProviderConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use scopeup::challenge::{
    ChallengeSettings, ClientIdentity, Delivery, DeliveryPolicy, McpTokenScopes,
};
use scopeup::{Engine, EngineConfig};
use scopeup_core::catalog::{CatalogScope, CatalogSpec, ScopeGroup, Template};
use scopeup_core::ports::SystemClock;
use scopeup_core::{
    AccountId, Catalog, ClientSecret, Principal, ProviderId, Scope, ScopeSet, Store,
};
use scopeup_mcp::{CompletionNotifier, RequestStateKey, ScopeupMcp};
use scopeup_oauth::presets::{PresetClient, PresetName};
use scopeup_oauth::{
    ClientAuthMethod, ClientSettings, HttpClientConfig, IdentityLookup, Provider, ProviderConfig,
    ReqwestHttpClient,
};
use scopeup_store::{
    KeyId, KeyRing, MemoryStore, RedisConfig, RedisStore, SealingKey, SqliteStore,
};

pub use audit::JsonLinesAudit;
pub use tools::{DirectTokens, NotesServer};

/// The provider id the example's tools use.
pub const PROVIDER_ID: &str = "notes";

/// In challenge mode, the scope each tool needs on the MCP token.
pub const TOOL_SCOPES: [(&str, &str); 3] = [
    ("list_notes", "notes:read"),
    ("create_note", "notes:write"),
    ("delete_note", "notes:delete"),
];

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

    /// The upstream provider: `demo` (the embedded demo provider, or any provider found by
    /// discovery when `--issuer` is given), `generic` (discovery, needs `--issuer`), or a
    /// preset: `github`, `google`, `slack`, `cloudflare`.
    #[arg(long, env = "SCOPEUP_PROVIDER", default_value = "demo")]
    pub provider: String,

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

    /// Where grants, pending elicitations and OAuth states live: `memory` (lost on restart),
    /// `sqlite:<path>` (one file, kept across restarts), or `redis://host:port/db` (shared by
    /// several instances). Defaults to `sqlite:<data-dir>/scopeup.sqlite3`.
    #[arg(long, env = "SCOPEUP_STORE")]
    pub store: Option<StoreSetting>,

    /// Directory for the default SQLite file and the generated sealing key ring; created when
    /// missing.
    #[arg(long, env = "SCOPEUP_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Sealing key ring, `kid:BASE64KEY[,kid2:BASE64KEY]` (the last is current). Without it: a
    /// key generated for this run with the memory store, a key ring generated once into
    /// `<data-dir>/sealing-keys` (mode 0600) with SQLite; Redis requires it, since every
    /// instance must share it.
    #[arg(long, env = "SCOPEUP_SEALING_KEYS", hide_env_values = true)]
    pub sealing_keys: Option<String>,

    /// Extra host names the MCP endpoint accepts in `Host` (loopback is always accepted).
    #[arg(long, env = "SCOPEUP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// `elicit` (scopeup asks the user for upstream scopes) or `challenge` (the MCP token's own
    /// scopes gate the tools, and a missing one is answered with a step-up challenge).
    #[arg(long, env = "SCOPEUP_MODE", default_value = "elicit")]
    pub mode: String,

    /// In challenge mode, the clients (by name) that get the challenge as an HTTP 403; every
    /// other client gets it in the tool result.
    #[arg(
        long,
        env = "SCOPEUP_CHALLENGE_TRANSPORT_CLIENTS",
        value_delimiter = ','
    )]
    pub challenge_transport_clients: Vec<String>,

    /// Where audit events go, one JSON object a line: `stdout`, or a file path to append to.
    #[arg(long, env = "SCOPEUP_AUDIT", default_value = "stdout")]
    pub audit: String,

    /// Benchmark baseline (`cargo xtask bench`): the notes tools skip scopeup and call the
    /// embedded demo provider's API with tokens it issues at startup, carrying every notes
    /// scope. Only with the embedded demo provider; never for real use.
    #[arg(long, env = "SCOPEUP_BENCH_WITHOUT_SCOPEUP")]
    pub bench_without_scopeup: bool,
}

/// Parts a test (or an embedding host) puts in place of the example's own.
#[derive(Default, Clone)]
pub struct Overrides {
    /// The backend store, shared between instances.
    pub store: Option<Arc<dyn scopeup_core::Store>>,
    /// The engine's clock.
    pub clock: Option<Arc<dyn scopeup_core::Clock>>,
    /// The audit sink, instead of the JSON lines of `--audit`.
    pub audit: Option<Arc<dyn scopeup_core::AuditSink>>,
}

impl ExampleConfig {
    /// The default configuration on a given address with the memory store (used by tests).
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
            store: Some(StoreSetting::Memory),
            data_dir: PathBuf::from("./data"),
            sealing_keys: None,
            allowed_hosts: Vec::new(),
            provider: "demo".to_owned(),
            mode: "elicit".to_owned(),
            challenge_transport_clients: Vec::new(),
            audit: "stdout".to_owned(),
            bench_without_scopeup: false,
        }
    }

    /// The store setting, with the default filled in.
    pub fn store(&self) -> StoreSetting {
        match &self.store {
            Some(store) => store.clone(),
            None => StoreSetting::Sqlite(self.data_dir.join(DEFAULT_SQLITE_FILE)),
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

/// The example's client id at the embedded demo provider.
const DEMO_CLIENT_ID: &str = "scopeup-example";

/// The file name of the default SQLite store in the data directory.
pub const DEFAULT_SQLITE_FILE: &str = "scopeup.sqlite3";

/// The file name of the generated sealing key ring in the data directory.
pub const SEALING_KEYS_FILE: &str = "sealing-keys";

/// Where the example keeps its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSetting {
    /// In the process's memory: lost on restart, not shared.
    Memory,
    /// In one SQLite file.
    Sqlite(PathBuf),
    /// On a Redis server, by URL.
    Redis(String),
}

impl FromStr for StoreSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "memory" {
            return Ok(Self::Memory);
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err("`sqlite:` needs a path, e.g. `sqlite:./data/scopeup.sqlite3`".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("redis://") {
            return Ok(Self::Redis(text.to_owned()));
        }
        Err(format!(
            "unknown store `{text}`: use `memory`, `sqlite:<path>` or `redis://host:port/db`"
        ))
    }
}

impl fmt::Display for StoreSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Redis(url) => f.write_str(&redis_address(url)),
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
    build_with(config, Overrides::default()).await
}

/// Builds the example's app with some parts put in place by the caller.
pub async fn build_with(config: &ExampleConfig, overrides: Overrides) -> anyhow::Result<Example> {
    let public_url = config.public_url()?;
    let store_setting = config.store();
    let key_ring = key_ring(config, &store_setting)?;
    let store = match overrides.store {
        Some(store) => store,
        None => open_store(&store_setting).await?,
    };
    let challenge_mode = match config.mode.as_str() {
        "elicit" => false,
        "challenge" => true,
        other => anyhow::bail!("mode `{other}` is not supported: use `elicit` or `challenge`"),
    };

    let http: Arc<dyn scopeup_core::HttpClient> = Arc::new(
        ReqwestHttpClient::new(HttpClientConfig::default()).context("building the HTTP client")?,
    );
    let mut engine_config = EngineConfig::new(public_url.clone(), "scopeup example");
    engine_config.dangerous_allow_http_loopback = public_url.scheme() == "http";
    let redirect_uri = engine_config.redirect_uri();
    let baseline =
        ScopeSet::parse(&config.baseline_scopes).context("parsing the baseline scopes")?;

    // The provider: the embedded demo provider, a real one found by discovery, or a preset.
    let preset = match config.provider.as_str() {
        "demo" => None,
        name => Some(name.parse::<PresetName>()?),
    };
    let (provider, demo, api_base) = match (&config.issuer, preset) {
        (_, Some(preset)) => {
            let client_id = config
                .client_id
                .clone()
                .context("--client-id is required with --provider")?;
            let client = PresetClient::new(
                client_id,
                config.client_secret.clone().map(ClientSecret::new),
                redirect_uri,
            )
            .with_id(ProviderId::new(PROVIDER_ID)?);
            let provider = match (preset, &config.issuer) {
                (PresetName::Generic, Some(issuer)) => {
                    let client = client
                        .with_catalog(notes_catalog()?)
                        .with_baseline(baseline);
                    scopeup_oauth::presets::generic(http.as_ref(), issuer, issuer.as_str(), client)
                        .await
                        .with_context(|| format!("discovering {issuer}"))?
                }
                (PresetName::Generic, None) => {
                    anyhow::bail!("--issuer is required with --provider generic")
                }
                (preset, _) => scopeup_oauth::presets::by_name(preset, client)?,
            };
            let api_base = config
                .api_base
                .clone()
                .context("--api-base is required with --provider")?;
            (provider, None, api_base)
        }
        (None, None) => {
            let issuer = public_url
                .join("demo")
                .context("building the demo issuer")?;
            let client_secret = random_secret()?;
            let demo = DemoProvider::new(DemoProviderConfig::with_defaults(
                issuer.clone(),
                DemoClient::new(DEMO_CLIENT_ID, client_secret.clone(), redirect_uri.clone()),
            ));
            let provider = demo_provider_config(&issuer, client_secret, redirect_uri, baseline)?;
            (provider, Some(demo), issuer)
        }
        (Some(issuer), None) => {
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

    let audit: Arc<dyn scopeup_core::AuditSink> = match overrides.audit {
        Some(audit) => audit,
        None => Arc::new(JsonLinesAudit::open(&config.audit)?),
    };
    let notifier = Arc::new(CompletionNotifier::new());
    let mut builder = Engine::builder(engine_config, key_ring)
        .store(store)
        .provider(provider)
        .http_client(http.clone())
        .audit(audit)
        .observer(notifier.clone());
    if let Some(clock) = &overrides.clock {
        builder = builder.clock(clock.clone());
    }
    let engine = builder.build()?;
    let state_key = RequestStateKey::generate(&scopeup::OsRandom)?;
    let mut scopeup = ScopeupMcp::new(engine.clone(), notifier, state_key);
    if let Some(clock) = overrides.clock {
        scopeup = scopeup.with_clock(clock);
    }
    let scopeup = Arc::new(scopeup);

    // Challenge mode: the MCP token's scopes gate the tools.
    let challenge = if challenge_mode {
        let issuer = match &demo {
            Some(_) => public_url.join("demo")?,
            None => config.issuer.clone().unwrap_or_else(|| public_url.clone()),
        };
        let delivery = config.challenge_transport_clients.iter().fold(
            DeliveryPolicy::always(Delivery::ToolResult),
            |policy, name| policy.for_client_name(name.clone(), Delivery::Transport),
        );
        let settings =
            ChallengeSettings::new(public_url.join("mcp")?, vec![issuer], &notes_catalog()?)
                .with_resource_name("scopeup example notes")
                .with_delivery(delivery);
        Some(Arc::new(settings))
    } else {
        None
    };

    // The MCP endpoint: sessions for `initialize` clients, stateless for 2026-07-28 ones.
    let mut notes = NotesServer::new(scopeup, ProviderId::new(PROVIDER_ID)?, api_base, http)
        .with_challenge(challenge.clone());
    if config.bench_without_scopeup {
        let Some(demo) = &demo else {
            anyhow::bail!("--bench-without-scopeup needs the embedded demo provider");
        };
        notes = notes.without_scopeup(direct_tokens(demo)?);
        tracing::warn!("benchmark baseline: the tools call the demo API without scopeup");
    }
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
    let resolver: Arc<dyn scopeup_axum::PrincipalResolver> = Arc::new(DemoTokens {
        resource_metadata: challenge
            .as_ref()
            .map(|settings| settings.resource_metadata_url()),
    });
    let mut mcp_routes = Router::new().nest_service("/mcp", mcp);
    let mut metadata_routes = Router::new();
    if let Some(settings) = &challenge {
        let tool_scopes = TOOL_SCOPES
            .iter()
            .map(|(tool, scope)| Ok(((*tool).to_owned(), ScopeSet::parse(scope)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let layer = scopeup_axum::ChallengeLayer::new(settings.as_ref().clone(), tool_scopes);
        metadata_routes = layer.metadata_router();
        mcp_routes = mcp_routes
            .layer(layer)
            .layer(axum::middleware::from_fn(demo_token_scopes));
    }
    let mcp_routes = mcp_routes.layer(axum::middleware::from_fn_with_state(
        resolver,
        scopeup_axum::require_principal,
    ));

    let mut router = Router::new()
        .merge(scopeup_axum::routes(engine.clone()))
        .merge(metadata_routes)
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
        store = %config.store(),
        demo = example.demo.is_some(),
        "serving; authenticate MCP clients with `Authorization: Bearer demo-alice` or `demo-bob`"
    );
    // Small answers go out at once: without `TCP_NODELAY`, Nagle's algorithm holds the last
    // segment of a streamed answer until the client's delayed ACK, some 40 ms later.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, example.router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The development bearer tokens: `demo-alice` and `demo-bob`, each bound to the demo
/// provider's account of the same name. In challenge mode, a `401` names the protected
/// resource metadata.
#[derive(Debug, Clone)]
pub struct DemoTokens {
    resource_metadata: Option<url::Url>,
}

#[async_trait::async_trait]
impl scopeup_axum::PrincipalResolver for DemoTokens {
    async fn resolve(&self, headers: &HeaderMap) -> Option<Principal> {
        let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))?;
        let (token, _scopes) = split_demo_token(token.trim());
        let name = match token {
            "demo-alice" => "alice",
            "demo-bob" => "bob",
            _ => return None,
        };
        let account = AccountId::new(name).ok()?;
        Some(Principal::new(name).ok()?.with_upstream_account(account))
    }

    fn resource_metadata(&self) -> Option<&url::Url> {
        self.resource_metadata.as_ref()
    }
}

/// For `--bench-without-scopeup`: an access token with every notes scope for each development
/// principal, issued by the embedded demo provider.
fn direct_tokens(demo: &DemoProvider) -> anyhow::Result<DirectTokens> {
    let mut tokens = DirectTokens::new();
    for user in ["alice", "bob"] {
        let token =
            demo.issue_access_token(user, DEMO_CLIENT_ID, "notes:read notes:write notes:delete")?;
        tokens.insert(user.to_owned(), token);
    }
    Ok(tokens)
}

/// In challenge mode: reads the scopes a development token carries (`demo-alice~a+b`; plain
/// `demo-alice` carries `notes:read`) and the client's name (its `User-Agent` product) into
/// the request's extensions, as a real host's token verification would.
async fn demo_token_scopes(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = request.headers();
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    let (_, scopes) = split_demo_token(token.trim());
    let scopes =
        ScopeSet::parse_delimited(scopes.unwrap_or("notes:read"), |c| c == '+').unwrap_or_default();
    let client = headers
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .and_then(|agent| agent.split(['/', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(ClientIdentity::named);

    request.extensions_mut().insert(McpTokenScopes(scopes));
    if let Some(client) = client {
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}

// `demo-alice~notes:read+notes:write` → (`demo-alice`, `notes:read+notes:write`).
fn split_demo_token(token: &str) -> (&str, Option<&str>) {
    match token.split_once('~') {
        Some((name, scopes)) => (name, Some(scopes)),
        None => (token, None),
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
    let config = ProviderConfig {
        id: ProviderId::new(PROVIDER_ID)?,
        display_name: "Demo Notes".to_owned(),
        issuer: Some(issuer.to_string()),
        authorization_endpoint: endpoint("authorize")?,
        token_endpoint: endpoint("token")?,
        userinfo_endpoint: Some(userinfo.clone()),
        revocation_endpoint: Some(endpoint("revoke")?),
        client_id: DEMO_CLIENT_ID.to_owned(),
        client_secret: Some(ClientSecret::new(client_secret)),
        client_auth: ClientAuthMethod::Basic,
        redirect_uri,
        catalog: notes_catalog()?,
        baseline,
        identity: IdentityLookup::userinfo(userinfo),
        iss_parameter_supported: true,
    };
    Ok(Provider::new(config, Arc::new(DemoBehaviour)))
}

/// The demo provider's behaviour: the standard one, except that every authorization is a grant
/// of its own there, so the tokens an upgrade replaces can be revoked without touching the
/// upgrade.
#[derive(Debug)]
struct DemoBehaviour;

impl scopeup_oauth::ProviderBehaviour for DemoBehaviour {
    fn revokes_superseded_tokens(&self) -> bool {
        true
    }
}

/// Opens the backend the setting names; the engine seals every value before it reaches it.
async fn open_store(setting: &StoreSetting) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match setting {
        StoreSetting::Memory => Arc::new(MemoryStore::new(Arc::new(SystemClock))),
        StoreSetting::Sqlite(path) => {
            if let Some(directory) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(directory)
                    .with_context(|| format!("creating {}", directory.display()))?;
            }
            let store = SqliteStore::open(path, Arc::new(SystemClock))
                .await
                .with_context(|| format!("opening the SQLite store {}", path.display()))?;
            Arc::new(store)
        }
        StoreSetting::Redis(url) => {
            let address = redis_address(url);
            let store = RedisStore::new(url, &RedisConfig::default())
                .with_context(|| format!("parsing the Redis URL {address}"))?;
            store
                .ping()
                .await
                .with_context(|| format!("connecting to Redis at {address}"))?;
            Arc::new(store)
        }
    };
    Ok(store)
}

/// The sealing key ring: the configured one, else one generated for this run (memory store) or
/// generated once into the data directory (SQLite). A Redis store is shared by instances that
/// must all open each other's records, so it needs a configured ring.
fn key_ring(config: &ExampleConfig, store: &StoreSetting) -> anyhow::Result<KeyRing> {
    if let Some(text) = &config.sealing_keys {
        return KeyRing::parse(text).context("parsing --sealing-keys");
    }
    match store {
        StoreSetting::Memory => {
            let key = SealingKey::generate(&scopeup::OsRandom)?;
            tracing::info!("sealing with a key generated for this run (memory store)");
            Ok(KeyRing::new(KeyId::new("generated")?, key))
        }
        StoreSetting::Sqlite(_) => load_or_generate_key_ring(&config.data_dir),
        StoreSetting::Redis(_) => anyhow::bail!(
            "a Redis store needs --sealing-keys (SCOPEUP_SEALING_KEYS): every instance that \
             shares the store must seal with the same key ring"
        ),
    }
}

/// Reads `<data_dir>/sealing-keys`, or generates a key ring into it (mode 0600) when absent.
fn load_or_generate_key_ring(data_dir: &Path) -> anyhow::Result<KeyRing> {
    let path = data_dir.join(SEALING_KEYS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            tracing::info!(path = %path.display(), "sealing with the key ring in the data directory");
            return KeyRing::parse(text.trim())
                .with_context(|| format!("parsing the key ring in {}", path.display()));
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(error).with_context(|| format!("reading {}", path.display()));
        }
    }

    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let key = SealingKey::generate(&scopeup::OsRandom)?;
    let text = format!(
        "generated-1:{}",
        base64::engine::general_purpose::STANDARD.encode(key.expose_secret())
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{text}\n").as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "generated a sealing key ring into the data directory; keep it with the store: without \
         it no stored grant can be opened"
    );
    KeyRing::parse(&text).context("parsing the generated key ring")
}

/// A Redis URL without any password, for messages.
fn redis_address(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(malformed URL)".to_owned(),
    }
}

fn random_secret() -> anyhow::Result<String> {
    use scopeup_core::Random as _;
    let mut bytes = [0_u8; 24];
    scopeup::OsRandom.fill(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

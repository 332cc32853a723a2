//! The scopeup engine: just-in-time OAuth scope upgrades for MCP servers.
//!
//! A tool asks [`Engine::token_for`] for the principal's upstream token and calls its API. When
//! the API refuses, the tool hands the answer to [`Engine::handle_refusal`], which classifies it
//! in trusted code and, for a missing scope, opens (or finds) an elicitation and returns an
//! [`ElicitationTicket`] with the link to give the user. The user opens the link: the connect
//! page ([`Engine::connect_page`], [`Engine::connect_submit`]) shows a scope picker and sends the
//! browser to the provider; the provider returns to [`Engine::oauth_callback`], which checks the
//! state, the browser, the issuer and the account, stores the upgraded grant sealed, and marks
//! the elicitation complete. The next tool call finds the new grant.
//!
//! Hosts whose own MCP token carries the scopes use [`challenge`] mode for a provider instead:
//! a refusal becomes a standard `insufficient_scope` step-up challenge.
//!
//! [`security`] describes the security model and the RFC sections it follows; [`PageText`]
//! holds every sentence of the pages, for hosts that translate them.
//!
//! The engine speaks no HTTP itself: `scopeup-axum` mounts the pages and the callback, and
//! `scopeup-mcp` turns tickets into the answer shape each MCP client supports.
//!
//! ```no_run
//! use std::sync::Arc;
//! use scopeup::{Engine, EngineConfig, TokenStatus};
//! # async fn example(
//! #     provider: scopeup_oauth::Provider,
//! #     http: Arc<dyn scopeup_core::HttpClient>,
//! #     key_ring: scopeup_store::KeyRing,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! let config = EngineConfig::new("https://mcp.example.com/".parse()?, "Example MCP server");
//! let engine = Engine::builder(config, key_ring)
//!     .provider(provider)
//!     .http_client(http)
//!     .build()?;
//!
//! let principal = scopeup_core::Principal::new("alice")?;
//! let provider_id = scopeup_core::ProviderId::new("demo")?;
//! match engine.token_for(&principal, &provider_id).await? {
//!     TokenStatus::Ready(connection) => { /* call the API with connection.access_token */ }
//!     TokenStatus::NotConnected => { /* engine.connect(...) opens an elicitation */ }
//!     _ => { /* a state a later version adds */ }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! This crate has no optional features.

mod audit;
mod callback;
pub mod challenge;
mod connect;
mod elicit;
mod error;
mod grant_cache;
mod manage;
mod pages;
mod records;
pub mod security;
mod text;
mod token;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use scopeup_core::{AuditSink, Clock, HttpClient, ProviderId, Random, Sleep, Store};
use scopeup_oauth::Provider;
use scopeup_store::{KeyRing, MemoryStore, SealedStore};

use crate::grant_cache::GrantCache;

pub use audit::TracingAuditSink;
pub use callback::CallbackParams;
pub use elicit::{ElicitationTicket, RefusalOutcome, TicketReason};
pub use error::{BuildError, EngineError};
pub use manage::{GrantSummary, Revocation};
pub use pages::{Page, PageKind};
pub use text::PageText;
pub use token::{Connection, ReconnectReason, TokenStatus};

#[cfg(not(target_arch = "wasm32"))]
pub use random::{OsRandom, TimerSleep};

/// How the engine behaves. Defaults are the safe choice; risky switches say so in their name.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The public base URL of the host; the connect page is `{public_url}connect/{id}` and the
    /// OAuth redirect URI `{public_url}oauth/callback`.
    pub public_url: url::Url,
    /// The host's name, shown on the pages ("Example MCP server asks for …").
    pub host_name: String,
    /// How long an elicitation stays usable.
    pub elicitation_ttl: Duration,
    /// How many new elicitations one principal may open per [`EngineConfig::rate_window`].
    pub rate_limit: u32,
    /// The window of the rate limit.
    pub rate_window: Duration,
    /// How many tool calls one pending elicitation answers before the answer says plainly that
    /// retrying will not help until the user acts.
    pub retry_cap: u32,
    /// How long a decline is remembered, during which the same refusal answers with the declined
    /// state instead of a fresh link.
    pub decline_backoff: Duration,
    /// Refresh a grant this long before its access token expires.
    pub refresh_margin: Duration,
    /// How long a refresh lease lives. A lease whose holder crashed expires after this; it must
    /// be longer than a token request takes.
    pub refresh_lease_ttl: Duration,
    /// How long a call waits for another instance's refresh of the same grant before it gives
    /// up with [`EngineError::RefreshBusy`].
    pub refresh_wait: Duration,
    /// Every sentence the connect page and the result pages show; English by default. A host
    /// translates the pages by replacing them.
    pub page_text: PageText,
    /// How many opened grants `token_for` keeps in memory, each reused only while its sealed
    /// record in the store is unchanged, to skip the AEAD open and the decoding on every tool
    /// call. Zero opens every grant on every call.
    pub grant_cache_capacity: usize,
    /// Store the first connect of a principal whose upstream account nobody vouched for.
    /// Anyone who obtains such a principal's link could then bind their own account to it.
    pub dangerous_trust_first_connect: bool,
    /// Allow `http://` loopback public URLs: cookies lose `Secure` and the `__Host-` prefix.
    /// For local development only.
    pub dangerous_allow_http_loopback: bool,
}

impl EngineConfig {
    /// A configuration with safe defaults.
    pub fn new(public_url: url::Url, host_name: impl Into<String>) -> Self {
        Self {
            public_url,
            host_name: host_name.into(),
            elicitation_ttl: Duration::from_secs(15 * 60),
            rate_limit: 20,
            rate_window: Duration::from_secs(60),
            retry_cap: 5,
            decline_backoff: Duration::from_secs(5 * 60),
            refresh_margin: Duration::from_secs(60),
            refresh_lease_ttl: Duration::from_secs(30),
            refresh_wait: Duration::from_secs(10),
            page_text: PageText::english(),
            grant_cache_capacity: 4096,
            dangerous_trust_first_connect: false,
            dangerous_allow_http_loopback: false,
        }
    }

    /// The URL of an elicitation's connect page.
    pub fn connect_url(&self, id: &scopeup_core::ElicitationId) -> url::Url {
        let mut url = self.public_url.clone();
        let path = format!("{}connect/{}", base_path(&self.public_url), id.as_str());
        url.set_path(&path);
        url
    }

    /// The OAuth redirect URI to register at providers.
    pub fn redirect_uri(&self) -> url::Url {
        let mut url = self.public_url.clone();
        url.set_path(&format!("{}oauth/callback", base_path(&self.public_url)));
        url
    }
}

/// The engine. Cheap to clone; every clone shares the same state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    providers: BTreeMap<ProviderId, Provider>,
    /// Every record, sealed on the way in and opened on the way out.
    store: Arc<SealedStore>,
    /// The store `store` seals into, read directly by `token_for` to skip opening a grant
    /// record it opened before.
    backend: Arc<dyn Store>,
    grants: GrantCache,
    http: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    sleep: Arc<dyn Sleep>,
    audit: Arc<dyn AuditSink>,
    observers: Vec<Arc<dyn CompletionObserver>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: Vec<&str> = self
            .inner
            .providers
            .keys()
            .map(ProviderId::as_str)
            .collect();
        f.debug_struct("Engine")
            .field("public_url", &self.inner.config.public_url.as_str())
            .field("providers", &providers)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let providers: Vec<&str> = self
            .providers
            .iter()
            .map(|provider| provider.config.id.as_str())
            .collect();
        f.debug_struct("EngineBuilder")
            .field("public_url", &self.config.public_url.as_str())
            .field("providers", &providers)
            .finish_non_exhaustive()
    }
}

/// Told when an elicitation completes, so that a transport can notify the client
/// (`notifications/elicitation/complete`).
pub trait CompletionObserver: scopeup_core::ports::MaybeSendSync {
    /// The elicitation `id` completed and its upgrade was stored.
    fn elicitation_completed(&self, id: &scopeup_core::ElicitationId);
}

/// Builds an [`Engine`].
#[must_use]
pub struct EngineBuilder {
    config: EngineConfig,
    key_ring: KeyRing,
    providers: Vec<Provider>,
    store: Option<Arc<dyn Store>>,
    http: Option<Arc<dyn HttpClient>>,
    clock: Option<Arc<dyn Clock>>,
    random: Option<Arc<dyn Random>>,
    sleep: Option<Arc<dyn Sleep>>,
    audit: Option<Arc<dyn AuditSink>>,
    observers: Vec<Arc<dyn CompletionObserver>>,
}

impl Engine {
    /// Starts building an engine. The key ring is required: every record the engine stores is
    /// sealed under it.
    pub fn builder(config: EngineConfig, key_ring: KeyRing) -> EngineBuilder {
        EngineBuilder {
            config,
            key_ring,
            providers: Vec::new(),
            store: None,
            http: None,
            clock: None,
            random: None,
            sleep: None,
            audit: None,
            observers: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// A configured provider.
    pub fn provider(&self, id: &ProviderId) -> Result<&Provider, EngineError> {
        self.inner
            .providers
            .get(id)
            .ok_or_else(|| EngineError::UnknownProvider {
                provider: id.clone(),
            })
    }

    /// The configured providers.
    pub fn providers(&self) -> impl Iterator<Item = &Provider> + '_ {
        self.inner.providers.values()
    }
}

impl EngineBuilder {
    /// Adds a provider. Its redirect URI must be the engine's.
    pub fn provider(mut self, provider: Provider) -> Self {
        self.providers.push(provider);
        self
    }

    /// The backend store (sealed by the engine before use). Defaults to an in-memory store,
    /// which forgets everything on restart and cannot be shared between instances.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The HTTP client for the provider's endpoints. Required.
    pub fn http_client(mut self, http: Arc<dyn HttpClient>) -> Self {
        self.http = Some(http);
        self
    }

    /// The clock. Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The random source. Defaults to the operating system's.
    pub fn random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = Some(random);
        self
    }

    /// How the engine waits for another instance's refresh. Defaults to a runtime-independent
    /// timer on native targets; required on `wasm32`.
    pub fn sleep(mut self, sleep: Arc<dyn Sleep>) -> Self {
        self.sleep = Some(sleep);
        self
    }

    /// The audit sink. Defaults to [`TracingAuditSink`].
    pub fn audit(mut self, audit: Arc<dyn AuditSink>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// An observer of completed elicitations.
    pub fn observer(mut self, observer: Arc<dyn CompletionObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    /// Checks the configuration and builds the engine.
    #[cfg_attr(
        target_arch = "wasm32",
        expect(
            clippy::arc_with_non_send_sync,
            reason = "the Workers runtime is single-threaded; the ports are not `Send` there"
        )
    )]
    pub fn build(self) -> Result<Engine, BuildError> {
        let config = self.config;
        check_public_url(&config)?;

        let redirect_uri = config.redirect_uri();
        let mut providers = BTreeMap::new();
        for provider in self.providers {
            if provider.config.redirect_uri != redirect_uri {
                return Err(BuildError::RedirectUriMismatch {
                    provider: provider.config.id.clone(),
                    expected: redirect_uri.to_string(),
                });
            }
            let id = provider.config.id.clone();
            if providers.insert(id.clone(), provider).is_some() {
                return Err(BuildError::DuplicateProvider { provider: id });
            }
        }

        let clock: Arc<dyn Clock> = match self.clock {
            Some(clock) => clock,
            None => default_clock()?,
        };
        let random: Arc<dyn Random> = match self.random {
            Some(random) => random,
            None => default_random()?,
        };
        let sleep: Arc<dyn Sleep> = match self.sleep {
            Some(sleep) => sleep,
            None => default_sleep()?,
        };
        let backend = self
            .store
            .unwrap_or_else(|| Arc::new(MemoryStore::new(clock.clone())));
        let store = Arc::new(SealedStore::new(
            backend.clone(),
            self.key_ring,
            random.clone(),
        ));
        let grants = GrantCache::new(config.grant_cache_capacity);

        Ok(Engine {
            inner: Arc::new(Inner {
                config,
                providers,
                store,
                backend,
                grants,
                http: self.http.ok_or(BuildError::MissingHttpClient)?,
                clock,
                random,
                sleep,
                audit: self.audit.unwrap_or_else(|| Arc::new(TracingAuditSink)),
                observers: self.observers,
            }),
        })
    }
}

fn check_public_url(config: &EngineConfig) -> Result<(), BuildError> {
    let url = &config.public_url;
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(BuildError::PublicUrl {
            reason: "must be a base URL without query or fragment",
        });
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if config.dangerous_allow_http_loopback && scopeup_core::is_loopback(url) => Ok(()),
        "http" => Err(BuildError::PublicUrl {
            reason: "must be https (plain http is allowed on loopback with \
                     dangerous_allow_http_loopback)",
        }),
        _ => Err(BuildError::PublicUrl {
            reason: "must be an https URL",
        }),
    }
}

fn base_path(url: &url::Url) -> String {
    let path = url.path();
    if path.ends_with('/') {
        path.to_owned()
    } else {
        format!("{path}/")
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn default_clock() -> Result<Arc<dyn Clock>, BuildError> {
    Ok(Arc::new(scopeup_core::ports::SystemClock))
}

#[cfg(target_arch = "wasm32")]
fn default_clock() -> Result<Arc<dyn Clock>, BuildError> {
    Err(BuildError::MissingClock)
}

#[cfg(not(target_arch = "wasm32"))]
fn default_sleep() -> Result<Arc<dyn Sleep>, BuildError> {
    Ok(Arc::new(TimerSleep))
}

#[cfg(target_arch = "wasm32")]
fn default_sleep() -> Result<Arc<dyn Sleep>, BuildError> {
    Err(BuildError::MissingSleep)
}

#[cfg(not(target_arch = "wasm32"))]
fn default_random() -> Result<Arc<dyn Random>, BuildError> {
    Ok(Arc::new(OsRandom))
}

#[cfg(target_arch = "wasm32")]
fn default_random() -> Result<Arc<dyn Random>, BuildError> {
    Err(BuildError::MissingRandom)
}

#[cfg(not(target_arch = "wasm32"))]
mod random {
    //! The operating system's random source and a runtime-independent timer.

    use scopeup_core::{Random, RandomError};

    /// Random bytes from the operating system (`getrandom`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct OsRandom;

    impl Random for OsRandom {
        fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
            getrandom::fill(buffer).map_err(|error| RandomError(Box::new(error)))
        }
    }

    /// Waits with `futures-timer`, which needs no particular async runtime.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct TimerSleep;

    #[async_trait::async_trait]
    impl scopeup_core::Sleep for TimerSleep {
        async fn sleep(&self, duration: std::time::Duration) {
            futures_timer::Delay::new(duration).await;
        }
    }
}

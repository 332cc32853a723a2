//! What scopeup's benchmarks share: an engine whose provider answers in-process, a connect
//! walked without a browser or a network, and the ratio table printed after criterion's runs.
//!
//! `cargo xtask bench` runs the criterion benches (`benches/hot_path.rs`), the memory count
//! (`src/bin/memory.rs`) and the load run (`src/bin/load.rs`); BENCHMARKS.md has the figures.

pub mod report;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail, ensure};
use scopeup::{CallbackParams, Engine, EngineConfig, PageKind, RefusalOutcome};
use scopeup_core::catalog::{CatalogScope, CatalogSpec, ScopeGroup, Template};
use scopeup_core::ports::{HttpError, SystemClock};
use scopeup_core::{
    AccessToken, AccountId, Catalog, ClientSecret, Clock, Grant, HttpClient, HttpRequest,
    HttpResponse, Principal, ProviderId, RefreshToken, Scope, ScopeSet, Store, UnixTime,
};
use scopeup_oauth::{ClientAuthMethod, IdentityLookup, Provider, ProviderConfig};
use scopeup_store::{KeyId, KeyRing, SealingKey};

/// The issuer of the in-process provider.
pub const ISSUER: &str = "https://notes.example/";

/// The id of the notes provider.
pub const NOTES: &str = "notes";

const AUTHORIZE_URL: &str = "https://notes.example/authorize";
const TOKEN_URL: &str = "https://notes.example/token";
const USERINFO_URL: &str = "https://notes.example/userinfo";

/// An OAuth provider that answers the token and userinfo requests of the engine in-process.
///
/// The code `code-{account}` redeems for a fresh access token of `account`, and userinfo tells
/// the account of an access token it issued, so that every connect passes the account check.
#[derive(Debug, Default)]
pub struct InProcessProvider {
    issued: AtomicU64,
}

#[async_trait::async_trait]
impl HttpClient for InProcessProvider {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        match request.url.as_str() {
            TOKEN_URL => Ok(self.token(&request)),
            USERINFO_URL => Ok(userinfo(&request)),
            _ => Ok(HttpResponse::new(404)),
        }
    }
}

impl InProcessProvider {
    fn token(&self, request: &HttpRequest) -> HttpResponse {
        let code = url::form_urlencoded::parse(&request.body)
            .find(|(name, _)| name == "code")
            .map(|(_, value)| value.into_owned());
        let Some(account) = code.as_deref().and_then(|code| code.strip_prefix("code-")) else {
            return json(400, serde_json::json!({ "error": "invalid_grant" }));
        };
        let serial = self.issued.fetch_add(1, Ordering::Relaxed);
        json(
            200,
            serde_json::json!({
                "access_token": format!("access-{serial}-{account}"),
                "token_type": "Bearer",
                "expires_in": 3600,
                "refresh_token": format!("refresh-{serial}-{account}"),
                "scope": "notes:read offline_access",
            }),
        )
    }
}

/// The account of an access token `access-{serial}-{account}`.
fn userinfo(request: &HttpRequest) -> HttpResponse {
    let account = request
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, value)| value.strip_prefix("Bearer "))
        .and_then(|token| token.splitn(3, '-').nth(2));
    match account {
        Some(account) => json(200, serde_json::json!({ "sub": account })),
        None => HttpResponse::new(401),
    }
}

fn json(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse::new(status)
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

/// The engine configuration of every benchmark: a public host and limits high enough that
/// many principals may each open an elicitation.
pub fn engine_config() -> anyhow::Result<EngineConfig> {
    let mut config = EngineConfig::new(url::Url::parse("https://mcp.example/")?, "Benchmark host");
    config.rate_limit = u32::MAX;
    Ok(config)
}

/// An engine over `store` (which it seals) with `providers`, answered by
/// [`InProcessProvider`].
pub fn engine(
    store: Arc<dyn Store>,
    providers: impl IntoIterator<Item = Provider>,
) -> anyhow::Result<Engine> {
    engine_with_clock(store, providers, Arc::new(SystemClock))
}

/// [`engine`] with a clock of the caller's.
pub fn engine_with_clock(
    store: Arc<dyn Store>,
    providers: impl IntoIterator<Item = Provider>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Engine> {
    let config = engine_config()?;
    let key_ring = KeyRing::new(KeyId::new("bench")?, SealingKey::from_bytes([7; 32]));
    let mut builder = Engine::builder(config, key_ring)
        .store(store)
        .http_client(Arc::new(InProcessProvider::default()))
        .clock(clock);
    for provider in providers {
        builder = builder.provider(provider);
    }
    Ok(builder.build()?)
}

/// The notes provider of the example, at the in-process provider's endpoints.
pub fn notes_provider() -> anyhow::Result<Provider> {
    let url = |text: &str| url::Url::parse(text);
    Ok(Provider::generic(ProviderConfig {
        id: ProviderId::new(NOTES)?,
        display_name: "Notes".to_owned(),
        issuer: Some(ISSUER.to_owned()),
        authorization_endpoint: url(AUTHORIZE_URL)?,
        token_endpoint: url(TOKEN_URL)?,
        userinfo_endpoint: Some(url(USERINFO_URL)?),
        revocation_endpoint: None,
        client_id: "bench".to_owned(),
        client_secret: Some(ClientSecret::new("bench-secret".to_owned())),
        client_auth: ClientAuthMethod::Basic,
        redirect_uri: engine_config()?.redirect_uri(),
        catalog: notes_catalog()?,
        baseline: ScopeSet::parse("notes:read offline_access")?,
        identity: IdentityLookup::userinfo(url(USERINFO_URL)?),
        iss_parameter_supported: true,
    }))
}

/// The five-scope catalog of the example's notes API.
pub fn notes_catalog() -> anyhow::Result<Catalog> {
    let entry = |scope: &str, description: &str| -> anyhow::Result<CatalogScope> {
        Ok(CatalogScope {
            scope: Scope::new(scope)?,
            description: description.to_owned(),
        })
    };
    let catalog = Catalog::new(CatalogSpec {
        groups: vec![ScopeGroup {
            name: "Notes".to_owned(),
            scopes: vec![
                entry("notes:read", "Read your notes")?,
                entry("notes:write", "Create and edit notes")?,
                entry("notes:delete", "Delete notes")?,
                entry("profile", "See your name")?,
                entry("offline_access", "Keep access while you are away")?,
            ],
        }],
        templates: vec![Template {
            key: "full".to_owned(),
            name: "Full access".to_owned(),
            description: "Read, write and delete notes".to_owned(),
            scopes: ScopeSet::parse("notes:read notes:write notes:delete")?,
        }],
        required: ScopeSet::new(),
        limit: None,
    })?;
    Ok(catalog)
}

/// A grant of `account` as an upgrade leaves it: tokens of a realistic length, five scopes,
/// every field set.
pub fn sample_grant(account: &str) -> anyhow::Result<Grant> {
    let scopes = ScopeSet::parse("notes:read notes:write notes:delete profile offline_access")?;
    Ok(Grant {
        access_token: AccessToken::new("a".repeat(64)),
        refresh_token: Some(RefreshToken::new("r".repeat(64))),
        scopes: scopes.clone(),
        requested: scopes,
        expires_at: Some(UnixTime::from_millis(4_000_000_000_000)),
        issuer: Some(ISSUER.to_owned()),
        token_endpoint: url::Url::parse(TOKEN_URL)?,
        account: AccountId::new(account)?,
        obtained_at: UnixTime::from_millis(1_700_000_000_000),
        replaces: None,
    })
}

/// A size field of a process's `/proc/<pid>/status` (`VmRSS`, `VmHWM`), in bytes; `pid` is a
/// number or `self`.
pub fn proc_status_bytes(pid: &str, field: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kibibytes = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .with_context(|| format!("no {field} in {path}"))?;
    Ok(kibibytes * 1024)
}

/// A principal bound to the upstream account of the same name.
pub fn principal(name: &str) -> anyhow::Result<Principal> {
    Ok(Principal::new(name)?.with_upstream_account(AccountId::new(name)?))
}

/// An authorization under way: what the provider's redirect back to the callback carries, and
/// the browser it must come back to.
#[derive(Debug)]
pub struct PendingCallback {
    /// The callback's query parameters.
    pub params: Vec<(String, String)>,
    /// The value of the browser binding cookie.
    pub browser: String,
}

impl PendingCallback {
    /// The callback's parameters as the engine takes them.
    pub fn callback_params(&self) -> CallbackParams {
        CallbackParams::from_pairs(
            self.params
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        )
    }
}

/// Opens (or finds) the elicitation that connects `principal` to `provider` and returns its id.
pub async fn open_elicitation(
    engine: &Engine,
    principal: &Principal,
    provider: &ProviderId,
) -> anyhow::Result<String> {
    match engine
        .connect(principal, provider, &ScopeSet::new())
        .await?
    {
        RefusalOutcome::Elicit(ticket) => Ok(ticket.id.as_str().to_owned()),
        other => bail!("expected an elicitation, got {other:?}"),
    }
}

/// Opens the connect elicitation of `principal`, submits its picker as a browser would and
/// returns the callback the provider would send after the user allowed.
pub async fn start_authorization(
    engine: &Engine,
    principal: &Principal,
    provider: &ProviderId,
) -> anyhow::Result<PendingCallback> {
    let id = open_elicitation(engine, principal, provider).await?;

    // The picker: its browser cookie and CSRF token.
    let picker = engine.connect_page(&id, None).await;
    ensure!(
        picker.kind == PageKind::Picker,
        "no picker: {}",
        picker.html
    );
    let cookie = picker.set_cookie.as_deref().context("no browser cookie")?;
    let browser = cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .context("malformed browser cookie")?;
    let csrf = picker
        .html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no CSRF token on the picker")?
        .to_owned();

    // The submit and the provider's redirect back.
    let fields = [
        ("csrf".to_owned(), csrf),
        ("action".to_owned(), "continue".to_owned()),
    ];
    let redirect = engine.connect_submit(&id, Some(&browser), &fields).await;
    ensure!(
        redirect.kind == PageKind::Redirect,
        "no redirect: {}",
        redirect.html
    );
    let authorize = url::Url::parse(redirect.location.as_deref().context("no location")?)?;
    let state = authorize
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .context("no state in the authorization URL")?;
    let account = principal
        .upstream_account()
        .context("the principal has no upstream account")?;
    Ok(PendingCallback {
        params: vec![
            ("state".to_owned(), state),
            ("code".to_owned(), format!("code-{}", account.as_str())),
            ("iss".to_owned(), ISSUER.to_owned()),
        ],
        browser,
    })
}

/// Connects `principal` to the notes provider end to end, so that it holds a grant.
pub async fn connect(engine: &Engine, principal: &Principal) -> anyhow::Result<()> {
    let pending = start_authorization(engine, principal, &ProviderId::new(NOTES)?).await?;
    let page = engine
        .oauth_callback(pending.callback_params(), Some(&pending.browser))
        .await;
    ensure!(
        page.kind == PageKind::Completed,
        "not completed: {}",
        page.html
    );
    Ok(())
}

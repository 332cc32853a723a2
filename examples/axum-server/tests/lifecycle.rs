//! The life of an upgraded grant against the demo provider, which enforces single-use rotating
//! refresh tokens: refresh with a lease shared by two instances, expiry moved with the clock
//! port, a 401 refreshed once and retried once, `invalid_grant` turning into a reconnect that
//! says why, revocation after an upgrade and on disconnect, and the audit trail of it all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum_server::Overrides;
use scopeup::{Engine, EngineError, TokenStatus};
use scopeup_core::{
    AccountId, AuditEvent, AuditKind, AuditSink, HttpClient, HttpError, HttpRequest, HttpResponse,
    Principal, ProviderId,
};
use scopeup_store::{KeyRing, ManualClock, MemoryStore};
use serde_json::{Value, json};
use support::{Browser, McpClient, TestServer, result_text};

const KEYS: &str = "k1:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";
const LINK_IN_RESULT: &str = "2025-06-18";

/// Records audit events in order.
#[derive(Default)]
struct Recorded(Mutex<Vec<AuditEvent>>);

impl AuditSink for Recorded {
    fn record(&self, event: &AuditEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorded {
    fn kinds(&self) -> Vec<AuditKind> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|event| event.kind)
            .collect()
    }

    fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().unwrap().clone()
    }
}

/// An HTTP client whose requests never complete, standing in for an instance that crashed in
/// the middle of a refresh.
struct NeverAnswers;

#[async_trait::async_trait]
impl HttpClient for NeverAnswers {
    async fn send(&self, _request: HttpRequest) -> Result<HttpResponse, HttpError> {
        std::future::pending().await
    }
}

struct Lifecycle {
    server: TestServer,
    clock: Arc<ManualClock>,
    store: Arc<MemoryStore>,
    audit: Arc<Recorded>,
    browser: Browser,
    client: McpClient,
}

impl Lifecycle {
    async fn start() -> Self {
        let clock = Arc::new(ManualClock::new(ManualClock::DEFAULT_START));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        let audit = Arc::new(Recorded::default());
        let overrides = Overrides {
            store: Some(store.clone()),
            clock: Some(clock.clone()),
            audit: Some(audit.clone()),
        };
        let server = TestServer::start_with(
            |config| config.sealing_keys = Some(KEYS.to_owned()),
            overrides,
        )
        .await;
        let client = McpClient::connect(&server, "demo-alice", LINK_IN_RESULT, json!({})).await;
        Self {
            server,
            clock,
            store,
            audit,
            browser: Browser::new(),
            client,
        }
    }

    /// Another instance of the host: its own engine on the same store, clock and provider.
    fn second_instance(&self, http: Arc<dyn HttpClient>, refresh_wait: Duration) -> Engine {
        let engine = &self.server.example_engine;
        let mut config = engine.config().clone();
        config.refresh_wait = refresh_wait;
        Engine::builder(config, KeyRing::parse(KEYS).unwrap())
            .provider(engine.provider(&provider()).unwrap().clone())
            .store(self.store.clone())
            .clock(self.clock.clone())
            .audit(self.audit.clone())
            .http_client(http)
            .build()
            .unwrap()
    }

    /// Connects alice for the baseline scopes and returns the first answer's correlation id.
    async fn connect_alice(&mut self) -> String {
        let answer = self.client.call_tool("list_notes", json!({})).await;
        let structured = &answer["result"]["structuredContent"];
        assert_eq!(structured["status"], json!("not_connected"), "{answer}");
        let done = self.complete(&answer).await;
        assert!(
            done.contains(structured["correlationId"].as_str().unwrap()),
            "{done}"
        );
        let answer = self.client.call_tool("list_notes", json!({})).await;
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
        structured["correlationId"].as_str().unwrap().to_owned()
    }

    /// Walks the link of an answer through the picker and the provider; returns the last page.
    async fn complete(&self, answer: &Value) -> String {
        let link = answer["result"]["structuredContent"]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("no link in {answer}"));
        let done = self
            .browser
            .complete(&url::Url::parse(link).unwrap(), &[], "alice", None)
            .await;
        assert_eq!(done.status, 200, "{}", done.html);
        done.html
    }

    async fn token(&self, engine: &Engine) -> String {
        match engine.token_for(&alice(), &provider()).await.unwrap() {
            TokenStatus::Ready(connection) => connection.access_token.expose_secret().to_owned(),
            other => panic!("no token: {other:?}"),
        }
    }

    fn refreshes(&self) -> usize {
        self.server.demo().token_requests("refresh_token")
    }
}

fn alice() -> Principal {
    Principal::new("alice")
        .unwrap()
        .with_upstream_account(AccountId::new("alice").unwrap())
}

fn provider() -> ProviderId {
    ProviderId::new(axum_server::PROVIDER_ID).unwrap()
}

fn http() -> Arc<dyn HttpClient> {
    Arc::new(scopeup_oauth::ReqwestHttpClient::new(Default::default()).unwrap())
}

const PAST_EXPIRY: Duration = Duration::from_secs(2 * 60 * 60);

// CASES row 7 (cloudflare/workers-oauth-provider PR#216): two refreshes at once must not redeem
// one single-use refresh token twice.
#[tokio::test]
async fn two_instances_refreshing_one_single_use_token_redeem_it_once_and_both_succeed() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let first = &life.server.example_engine;
    let second = life.second_instance(http(), Duration::from_secs(10));
    let before = life.token(first).await;

    life.clock.advance(PAST_EXPIRY);
    let (principal, provider) = (alice(), provider());
    let (a, b) = tokio::join!(
        first.token_for(&principal, &provider),
        second.token_for(&principal, &provider)
    );

    let (TokenStatus::Ready(a), TokenStatus::Ready(b)) = (a.unwrap(), b.unwrap()) else {
        panic!("both instances must get a token");
    };
    assert_eq!(a.access_token, b.access_token);
    assert_ne!(a.access_token.expose_secret(), before);
    assert_eq!(life.refreshes(), 1);
    assert!(
        life.server
            .demo()
            .is_access_token_active(a.access_token.expose_secret())
    );
    let answer = life.client.call_tool("list_notes", json!({})).await;
    assert!(result_text(&answer).contains("Welcome"), "{answer}");
}

#[tokio::test]
async fn a_crashed_lease_holder_blocks_refreshes_only_until_its_lease_expires() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let crashed = life.second_instance(Arc::new(NeverAnswers), Duration::from_secs(10));
    let waiting = life.second_instance(http(), Duration::from_millis(300));
    life.clock.advance(PAST_EXPIRY);

    // The crashed instance takes the lease and never finishes.
    let holder = tokio::spawn(async move {
        let _ = crashed.token_for(&alice(), &provider()).await;
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    holder.abort();

    let busy = waiting.token_for(&alice(), &provider()).await;
    assert!(matches!(busy, Err(EngineError::RefreshBusy)), "{busy:?}");
    assert_eq!(life.refreshes(), 0);

    let ttl = life.server.example_engine.config().refresh_lease_ttl;
    life.clock.advance(ttl + Duration::from_secs(1));
    let token = life.token(&waiting).await;
    assert!(life.server.demo().is_access_token_active(&token));
    assert_eq!(life.refreshes(), 1);
}

#[tokio::test]
async fn grants_are_refreshed_when_the_clock_reaches_their_expiry_and_not_before() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let engine = life.server.example_engine.clone();
    let first = life.token(&engine).await;

    life.clock.advance(Duration::from_secs(30 * 60));
    assert_eq!(life.token(&engine).await, first);
    assert_eq!(life.refreshes(), 0);

    // Within the refresh margin of the hour the demo provider's tokens live.
    life.clock.advance(Duration::from_secs(29 * 60 + 30));
    let second = life.token(&engine).await;
    assert_ne!(second, first);
    assert_eq!(life.refreshes(), 1);
    assert_eq!(life.token(&engine).await, second);
    assert_eq!(life.refreshes(), 1);
    let expires = engine.grants(&alice()).await.unwrap()[0]
        .expires_at
        .unwrap();
    assert_eq!(
        expires.saturating_duration_since(ManualClock::DEFAULT_START),
        Duration::from_secs(59 * 60 + 30 + 60 * 60)
    );
}

#[tokio::test]
async fn an_upstream_401_refreshes_once_and_retries_once() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let revoked = life.server.demo().revoke_access_tokens_of("alice");
    assert_eq!(revoked, 1);

    let answer = life.client.call_tool("list_notes", json!({})).await;

    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    assert!(result_text(&answer).contains("Welcome"), "{answer}");
    assert_eq!(life.refreshes(), 1);
}

// CASES row 3 (anthropics/claude-code#68720): a dead grant is "token rejected", never "scope
// missing", and the answer carries the link.
#[tokio::test]
async fn invalid_grant_kills_the_grant_and_the_next_call_reconnects_saying_why() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    life.server.demo().revoke_all_tokens_of("alice");

    let answer = life.client.call_tool("list_notes", json!({})).await;

    let structured = &answer["result"]["structuredContent"];
    assert_eq!(structured["status"], json!("token_rejected"), "{answer}");
    let text = result_text(&answer);
    let link = structured["url"].as_str().unwrap();
    assert!(text.contains("Token expired or revoked"), "{text}");
    assert!(text.contains("refused to renew"), "{text}");
    assert!(
        text.contains(link) && !text.contains("Missing scope"),
        "{text}"
    );
    assert_eq!(
        structured["missingScopes"],
        json!(["notes:read", "offline_access"])
    );
    assert!(life.audit.kinds().ends_with(&[
        AuditKind::RefreshFailed,
        AuditKind::GrantDead,
        AuditKind::ElicitationOpened
    ]));

    // The same link until the user acts; then the reconnect works.
    let again = life.client.call_tool("list_notes", json!({})).await;
    assert_eq!(again["result"]["structuredContent"]["url"], json!(link));
    life.complete(&again).await;
    let answer = life.client.call_tool("list_notes", json!({})).await;
    assert!(result_text(&answer).contains("Welcome"), "{answer}");
}

// CASES row 2 (modelcontextprotocol/typescript-sdk#2255): a refresh never widens scope, so a
// missing scope goes interactive even with a refresh token held.
#[tokio::test]
async fn a_missing_scope_goes_interactive_and_is_never_refreshed_and_retried() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;

    let answer = life
        .client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;

    let structured = &answer["result"]["structuredContent"];
    assert_eq!(structured["status"], json!("scope_required"), "{answer}");
    assert_eq!(structured["missingScopes"], json!(["notes:write"]));
    assert_eq!(life.refreshes(), 0);

    // And a refresh after expiry keeps the grant's scopes: still no notes:write.
    life.clock.advance(PAST_EXPIRY);
    let engine = life.server.example_engine.clone();
    let TokenStatus::Ready(connection) = engine.token_for(&alice(), &provider()).await.unwrap()
    else {
        panic!("no token");
    };
    assert_eq!(connection.scopes.to_string(), "notes:read offline_access");
    assert_eq!(life.refreshes(), 1);
}

#[tokio::test]
async fn an_upgrade_revokes_the_superseded_token_and_the_grant_records_it() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let engine = life.server.example_engine.clone();
    let superseded = life.token(&engine).await;

    let answer = life
        .client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    life.complete(&answer).await;

    assert!(!life.server.demo().is_access_token_active(&superseded));
    assert!(life.server.demo().revoked_tokens() >= 1);
    let grants = engine.grants(&alice()).await.unwrap();
    let replaced = grants[0].replaces.clone().unwrap();
    assert!(replaced.revoked);
    assert_eq!(replaced.scopes.to_string(), "notes:read offline_access");
    let answer = life
        .client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
}

#[tokio::test]
async fn disconnecting_revokes_at_the_provider_and_the_next_call_reconnects() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let token = life.token(&life.server.example_engine).await;
    let revoked_before = life.server.demo().revoked_tokens();

    let answer = life.client.call_tool("revoke_access", json!({})).await;

    assert!(result_text(&answer).contains("Disconnected"), "{answer}");
    assert_eq!(
        answer["result"]["structuredContent"]["revokedUpstream"],
        json!(true)
    );
    assert!(life.server.demo().revoked_tokens() > revoked_before);
    assert!(!life.server.demo().is_access_token_active(&token));
    let answer = life.client.call_tool("list_notes", json!({})).await;
    assert_eq!(
        answer["result"]["structuredContent"]["status"],
        json!("token_rejected")
    );
    assert!(result_text(&answer).contains("you disconnected it"));
}

#[tokio::test]
async fn dropping_a_scope_revokes_the_grant_and_reauthorizes_the_scopes_kept() {
    let mut life = Lifecycle::start().await;
    life.connect_alice().await;
    let answer = life
        .client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    life.complete(&answer).await;
    let token = life.token(&life.server.example_engine).await;

    let answer = life
        .client
        .call_tool("revoke_access", json!({"scopes": "notes:write"}))
        .await;

    let text = result_text(&answer);
    assert!(text.contains("Permissions removed"), "{text}");
    assert!(!life.server.demo().is_access_token_active(&token));
    let answer = life.client.call_tool("list_notes", json!({})).await;
    let structured = &answer["result"]["structuredContent"];
    assert_eq!(structured["status"], json!("token_rejected"), "{answer}");
    assert_eq!(
        structured["missingScopes"],
        json!(["notes:read", "offline_access"])
    );
}

#[tokio::test]
async fn the_audit_trail_of_a_full_flow_is_recorded_event_by_event() {
    let mut life = Lifecycle::start().await;
    let connect = life.connect_alice().await;
    let answer = life
        .client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    let upgrade = answer["result"]["structuredContent"]["correlationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = life.complete(&answer).await;
    assert!(page.contains(&upgrade));
    life.clock.advance(PAST_EXPIRY);
    life.token(&life.server.example_engine).await;
    let answer = life.client.call_tool("revoke_access", json!({})).await;
    let disconnect = answer["result"]["structuredContent"]["correlationId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(result_text(&answer).contains(&disconnect));

    let events = life.audit.events();
    let trail: Vec<(AuditKind, &str, String)> = events
        .iter()
        .map(|event| {
            (
                event.kind,
                event.correlation_id.as_str(),
                event.scopes.to_string(),
            )
        })
        .collect();
    let refresh = events[7].correlation_id.as_str();
    assert_eq!(
        trail,
        vec![
            (
                AuditKind::ElicitationOpened,
                connect.as_str(),
                "notes:read offline_access".into()
            ),
            (
                AuditKind::AuthorizationStarted,
                connect.as_str(),
                "notes:read offline_access".into()
            ),
            (
                AuditKind::Granted,
                connect.as_str(),
                "notes:read offline_access".into()
            ),
            (
                AuditKind::ElicitationOpened,
                upgrade.as_str(),
                "notes:write".into()
            ),
            (
                AuditKind::AuthorizationStarted,
                upgrade.as_str(),
                "notes:read notes:write offline_access".into()
            ),
            (
                AuditKind::Revoked,
                upgrade.as_str(),
                "notes:read offline_access".into()
            ),
            (
                AuditKind::Granted,
                upgrade.as_str(),
                "notes:read notes:write offline_access".into()
            ),
            (
                AuditKind::Refreshed,
                refresh,
                "notes:read notes:write offline_access".into()
            ),
            (
                AuditKind::Revoked,
                disconnect.as_str(),
                "notes:read notes:write offline_access".into()
            ),
            (
                AuditKind::Disconnected,
                disconnect.as_str(),
                "notes:read notes:write offline_access".into()
            ),
        ]
    );
    assert!(!refresh.is_empty() && refresh != upgrade && refresh != disconnect);
    // No event names the principal or holds a token.
    let principal = &events[0].principal;
    assert!(events.iter().all(|event| &event.principal == principal));
    assert_ne!(principal, "alice");
}

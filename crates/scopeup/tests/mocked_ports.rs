//! The engine with its ports mocked: the upstream provider is a `mockall` mock of the
//! `HttpClient` port that checks each request the engine sends, the audit sink a mock that
//! expects each event in order, time a `ManualClock`. The engine runs its real pages and its
//! real sealed memory store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use mockall::{Sequence, mock, predicate};
use scopeup::{
    Engine, EngineConfig, PageKind, ReconnectReason, RefusalOutcome, TicketReason, TokenStatus,
};
use scopeup_core::catalog::{CatalogScope, CatalogSpec, ScopeGroup};
use scopeup_core::ports::{AuditEvent, AuditKind, AuditSink, HttpError, HttpMethod};
use scopeup_core::{
    AccountId, Catalog, ClientSecret, HttpClient, HttpRequest, HttpResponse, Principal, ProviderId,
    Scope, ScopeSet, Store, StoreError, StoreKey, UnixTime,
};
use scopeup_oauth::{ClientAuthMethod, IdentityLookup, Provider, ProviderConfig};
use scopeup_store::{KeyId, KeyRing, ManualClock, MemoryStore, SealingKey};

mock! {
    Upstream {}
    #[async_trait::async_trait]
    impl HttpClient for Upstream {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
    }
}

mock! {
    Audit {}
    impl AuditSink for Audit {
        fn record(&self, event: &AuditEvent);
    }
}

const ISSUER: &str = "https://notes.example/";
const TOKEN_URL: &str = "https://notes.example/token";
const USERINFO_URL: &str = "https://notes.example/userinfo";

fn provider_id() -> ProviderId {
    ProviderId::new("notes").unwrap()
}

fn alice() -> Principal {
    Principal::new("alice")
        .unwrap()
        .with_upstream_account(AccountId::new("alice").unwrap())
}

fn scopes(text: &str) -> ScopeSet {
    ScopeSet::parse(text).unwrap()
}

fn provider(config: &EngineConfig) -> Provider {
    let entry = |scope: &str| CatalogScope {
        scope: Scope::new(scope).unwrap(),
        description: format!("{scope} access"),
    };
    let catalog = Catalog::new(CatalogSpec {
        groups: vec![ScopeGroup {
            name: "Notes".to_owned(),
            scopes: vec![
                entry("notes:read"),
                entry("notes:write"),
                entry("offline_access"),
            ],
        }],
        templates: Vec::new(),
        required: ScopeSet::new(),
        limit: None,
    })
    .unwrap();
    let url = |text: &str| url::Url::parse(text).unwrap();
    Provider::generic(ProviderConfig {
        id: provider_id(),
        display_name: "Notes".to_owned(),
        issuer: Some(ISSUER.to_owned()),
        authorization_endpoint: url("https://notes.example/authorize"),
        token_endpoint: url(TOKEN_URL),
        userinfo_endpoint: Some(url(USERINFO_URL)),
        revocation_endpoint: None,
        client_id: "client".to_owned(),
        client_secret: Some(ClientSecret::new("secret".to_owned())),
        client_auth: ClientAuthMethod::Basic,
        redirect_uri: config.redirect_uri(),
        catalog,
        baseline: scopes("notes:read offline_access"),
        identity: IdentityLookup::userinfo(url(USERINFO_URL)),
        iss_parameter_supported: true,
    })
}

fn engine(upstream: MockUpstream, audit: MockAudit, clock: Arc<ManualClock>) -> Engine {
    let store = Arc::new(MemoryStore::new(clock.clone()));
    engine_on(store, upstream, audit, clock)
}

/// An engine on `store`, which several engines may share as instances behind one store do.
fn engine_on(
    store: Arc<dyn Store>,
    upstream: MockUpstream,
    audit: MockAudit,
    clock: Arc<ManualClock>,
) -> Engine {
    engine_with(config(), store, upstream, audit, clock)
}

fn config() -> EngineConfig {
    EngineConfig::new(
        url::Url::parse("https://mcp.example/").unwrap(),
        "Test host",
    )
}

/// An engine with `config` on `store`.
fn engine_with(
    config: EngineConfig,
    store: Arc<dyn Store>,
    upstream: MockUpstream,
    audit: MockAudit,
    clock: Arc<ManualClock>,
) -> Engine {
    let key_ring = KeyRing::new(KeyId::new("k1").unwrap(), SealingKey::from_bytes([7; 32]));
    Engine::builder(config.clone(), key_ring)
        .provider(provider(&config))
        .store(store)
        .http_client(Arc::new(upstream))
        .audit(Arc::new(audit))
        .clock(clock)
        .build()
        .unwrap()
}

/// The form fields of a request body.
fn form(request: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn is_token_request(request: &HttpRequest, grant_type: &str) -> bool {
    request.method == HttpMethod::Post
        && request.url.as_str() == TOKEN_URL
        && field(&form(request), "grant_type") == Some(grant_type)
}

fn json(status: u16, body: serde_json::Value) -> HttpResponse {
    HttpResponse::new(status)
        .with_header("content-type", "application/json")
        .with_body(body.to_string())
}

/// Expects one code exchange answered with `access_token` for `granted`, and one userinfo
/// lookup answered with `account`.
fn expect_exchange(upstream: &mut MockUpstream, access_token: &str, granted: &str, account: &str) {
    let (access_token, granted) = (access_token.to_owned(), granted.to_owned());
    upstream
        .expect_send()
        .withf(|request| is_token_request(request, "authorization_code"))
        .times(1)
        .returning(move |request| {
            assert!(
                field(&form(&request), "code_verifier").is_some(),
                "PKCE verifier sent"
            );
            Ok(json(
                200,
                serde_json::json!({
                    "access_token": access_token,
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "refresh_token": "refresh-1",
                    "scope": granted,
                }),
            ))
        });
    let account = account.to_owned();
    upstream
        .expect_send()
        .withf(|request| request.url.as_str() == USERINFO_URL)
        .times(1)
        .returning(move |_| Ok(json(200, serde_json::json!({ "sub": account }))));
}

/// Walks the picker and the callback for the ticket of `outcome`, the way a browser would.
async fn complete(engine: &Engine, outcome: RefusalOutcome) -> scopeup::Page {
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation, got {outcome:?}");
    };
    let id = ticket.id.as_str();
    let picker = engine.connect_page(id, None).await;
    assert_eq!(picker.kind, PageKind::Picker, "{}", picker.html);
    let cookie = picker.set_cookie.clone().expect("a browser cookie");
    let browser = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let csrf = picker.html.split("name=\"csrf\" value=\"").nth(1).unwrap();
    let csrf = csrf.split('"').next().unwrap().to_owned();

    let fields = [
        ("csrf".to_owned(), csrf),
        ("action".to_owned(), "continue".to_owned()),
    ];
    let redirect = engine.connect_submit(id, Some(&browser), &fields).await;
    assert_eq!(redirect.kind, PageKind::Redirect, "{}", redirect.html);
    let authorize = url::Url::parse(redirect.location.as_deref().unwrap()).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value.into_owned())
        .unwrap();

    let params = scopeup::CallbackParams::from_pairs([
        ("state", state.as_str()),
        ("code", "code-1"),
        ("iss", ISSUER),
    ]);
    engine.oauth_callback(params, Some(&browser)).await
}

fn audit_in_order(kinds: &[AuditKind]) -> MockAudit {
    let mut audit = MockAudit::new();
    let mut sequence = Sequence::new();
    for kind in kinds {
        let kind = *kind;
        audit
            .expect_record()
            .withf(move |event| event.kind == kind)
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(());
    }
    audit
}

#[tokio::test]
async fn a_connect_stores_the_granted_scopes_and_audits_each_step() {
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut upstream = MockUpstream::new();
    // The provider grants less than asked: the grant holds what it granted.
    expect_exchange(&mut upstream, "access-1", "notes:read", "alice");
    let audit = audit_in_order(&[
        AuditKind::ElicitationOpened,
        AuditKind::AuthorizationStarted,
        AuditKind::Granted,
        AuditKind::Declined,
    ]);
    let engine = engine(upstream, audit, clock);

    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    let done = complete(&engine, outcome).await;
    assert_eq!(done.kind, PageKind::Completed, "{}", done.html);
    assert!(
        done.html.contains("offline_access"),
        "declined scope named: {}",
        done.html
    );

    let TokenStatus::Ready(connection) = engine.token_for(&alice(), &provider_id()).await.unwrap()
    else {
        panic!("expected a usable token");
    };
    assert_eq!(connection.access_token.expose_secret(), "access-1");
    assert_eq!(connection.scopes, scopes("notes:read"));
}

/// A store whose writes of grant tombstones fail, as a backend that goes away between two
/// writes does.
struct TombstonesFail(MemoryStore);

#[async_trait::async_trait]
impl Store for TombstonesFail {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).await
    }
    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if key.as_str().starts_with("scopeup:dead-grant:") {
            return Err(StoreError::Unavailable("the backend went away".into()));
        }
        self.0.put(key, value, ttl).await
    }
    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }
    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.take(key).await
    }
    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.compare_and_swap(key, expected, new, ttl).await
    }
}

#[tokio::test]
async fn a_disconnect_that_fails_midway_keeps_the_grant() {
    // Design invariant 11: an outage loses no stored grant.
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut upstream = MockUpstream::new();
    expect_exchange(&mut upstream, "access-1", "notes:read", "alice");
    let mut audit = MockAudit::new();
    audit.expect_record().return_const(());
    let store = Arc::new(TombstonesFail(MemoryStore::new(clock.clone())));
    let engine = engine_on(store, upstream, audit, clock);
    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    assert_eq!(complete(&engine, outcome).await.kind, PageKind::Completed);

    let disconnect = engine.disconnect(&alice(), &provider_id()).await;

    assert!(disconnect.is_err(), "{disconnect:?}");
    let TokenStatus::Ready(connection) = engine.token_for(&alice(), &provider_id()).await.unwrap()
    else {
        panic!("the grant was lost");
    };
    assert_eq!(connection.access_token.expose_secret(), "access-1");
}

#[tokio::test]
async fn a_host_translates_the_pages_through_the_page_text() {
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut config = config();
    config.page_text.language = "de".into();
    // A first connect: nothing is held yet.
    config.page_text.connect_heading = "{host} mit {provider} verbinden".into();
    config.page_text.continue_to = "Weiter zu {provider}".into();
    config.page_text.cancel = "Abbrechen".into();
    let mut audit = MockAudit::new();
    audit.expect_record().return_const(());
    let store = Arc::new(MemoryStore::new(clock.clone()));
    let engine = engine_with(config, store, MockUpstream::new(), audit, clock);

    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation, got {outcome:?}");
    };
    let picker = engine.connect_page(ticket.id.as_str(), None).await;

    assert_eq!(picker.kind, PageKind::Picker);
    for expected in [
        "<html lang=\"de\">",
        "Test host mit Notes verbinden",
        "Weiter zu Notes",
        "Abbrechen",
    ] {
        assert!(
            picker.html.contains(expected),
            "{expected} in {}",
            picker.html
        );
    }
    assert!(!picker.html.contains("Cancel"), "{}", picker.html);
}

#[tokio::test]
async fn token_for_sees_at_once_a_grant_another_instance_refreshed() {
    // Instance B keeps the grant it opened; instance A refreshes it in the shared store.
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let mut upstream = MockUpstream::new();
    expect_exchange(
        &mut upstream,
        "access-1",
        "notes:read offline_access",
        "alice",
    );
    upstream
        .expect_send()
        .withf(|request| is_token_request(request, "refresh_token"))
        .times(1)
        .returning(|_| {
            Ok(json(
                200,
                serde_json::json!({
                    "access_token": "access-2",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "notes:read offline_access",
                }),
            ))
        });
    let quiet = || {
        let mut audit = MockAudit::new();
        audit.expect_record().return_const(());
        audit
    };
    let instance_a = engine_on(store.clone(), upstream, quiet(), clock.clone());
    let instance_b = engine_on(store, MockUpstream::new(), quiet(), clock.clone());
    let outcome = instance_a
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    assert_eq!(
        complete(&instance_a, outcome).await.kind,
        PageKind::Completed
    );

    let token = |engine: Engine| async move {
        match engine.token_for(&alice(), &provider_id()).await.unwrap() {
            TokenStatus::Ready(connection) => connection.access_token.expose_secret().to_owned(),
            other => panic!("expected a usable token, got {other:?}"),
        }
    };
    assert_eq!(token(instance_b.clone()).await, "access-1");
    assert_eq!(
        token(instance_b.clone()).await,
        "access-1",
        "twice from memory"
    );

    clock.advance(Duration::from_secs(3590));
    assert_eq!(token(instance_a.clone()).await, "access-2");
    assert_eq!(
        token(instance_b.clone()).await,
        "access-2",
        "never the replaced token"
    );

    instance_a
        .disconnect(&alice(), &provider_id())
        .await
        .unwrap();
    let after = instance_b
        .token_for(&alice(), &provider_id())
        .await
        .unwrap();
    assert!(
        matches!(after, TokenStatus::Reconnect(ReconnectReason::Disconnected)),
        "{after:?}"
    );
}

#[tokio::test]
async fn a_refresh_never_widens_scope_and_a_missing_scope_goes_interactive() {
    // CASES row 2 (modelcontextprotocol/typescript-sdk#2255).
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut upstream = MockUpstream::new();
    expect_exchange(
        &mut upstream,
        "access-1",
        "notes:read offline_access",
        "alice",
    );
    upstream
        .expect_send()
        .withf(|request| is_token_request(request, "refresh_token"))
        .times(1)
        .returning(|request| {
            let fields = form(&request);
            assert_eq!(field(&fields, "refresh_token"), Some("refresh-1"));
            if let Some(asked) = field(&fields, "scope") {
                assert!(
                    scopes("notes:read offline_access").is_superset(&scopes(asked)),
                    "{asked}"
                );
            }
            // A provider that claims more on refresh than was granted.
            Ok(json(
                200,
                serde_json::json!({
                    "access_token": "access-2",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "notes:read notes:write offline_access",
                }),
            ))
        });
    let mut audit = MockAudit::new();
    audit.expect_record().return_const(());
    let engine = engine(upstream, audit, clock.clone());

    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    assert_eq!(complete(&engine, outcome).await.kind, PageKind::Completed);

    clock.advance(Duration::from_secs(3590));
    let TokenStatus::Ready(connection) = engine.token_for(&alice(), &provider_id()).await.unwrap()
    else {
        panic!("expected a refreshed token");
    };
    assert_eq!(connection.access_token.expose_secret(), "access-2");
    assert_eq!(
        connection.scopes,
        scopes("notes:read offline_access"),
        "never widened"
    );

    // The API refuses for notes:write: the answer is an elicitation, not another refresh
    // (the mock allows exactly one refresh).
    let refusal = HttpResponse::new(403).with_header(
        "WWW-Authenticate",
        r#"Bearer error="insufficient_scope", scope="notes:write""#,
    );
    let outcome = engine
        .handle_refusal(&alice(), &provider_id(), &refusal, &connection.scopes)
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation, got {outcome:?}");
    };
    assert_eq!(ticket.missing, scopes("notes:write"));
}

#[tokio::test]
async fn missing_scope_and_rejected_token_are_told_apart_and_both_carry_the_link() {
    // CASES row 3 (anthropics/claude-code#68720).
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut audit = MockAudit::new();
    audit.expect_record().return_const(());
    let engine = engine(MockUpstream::new(), audit, clock);
    let held = scopes("notes:read offline_access");

    let forbidden = HttpResponse::new(403).with_header(
        "WWW-Authenticate",
        r#"Bearer error="insufficient_scope", scope="notes:write""#,
    );
    let expired =
        HttpResponse::new(401).with_header("WWW-Authenticate", r#"Bearer error="invalid_token""#);

    let mut tickets = Vec::new();
    for response in [&forbidden, &expired] {
        match engine
            .handle_refusal(&alice(), &provider_id(), response, &held)
            .await
            .unwrap()
        {
            RefusalOutcome::Elicit(ticket) => tickets.push(ticket),
            other => panic!("expected an elicitation, got {other:?}"),
        }
    }
    let (missing, rejected) = (&tickets[0], &tickets[1]);
    assert_eq!(missing.reason, TicketReason::MissingScope);
    assert_eq!(rejected.reason, TicketReason::TokenRejected);
    assert_ne!(missing.id, rejected.id);

    let (missing_text, rejected_text) = (missing.message(), rejected.message());
    assert!(missing_text.contains("Missing scope") && missing_text.contains("notes:write"));
    assert!(!missing_text.contains("expired"), "{missing_text}");
    assert!(rejected_text.contains("expired") && !rejected_text.contains("Missing scope"));
    assert!(
        missing_text.contains(missing.url.as_str()),
        "{missing_text}"
    );
    assert!(
        rejected_text.contains(rejected.url.as_str()),
        "{rejected_text}"
    );
}

#[tokio::test]
async fn a_callback_as_another_account_stores_nothing() {
    // CASES row 12 at the engine level: the provider says the token belongs to mallory.
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut upstream = MockUpstream::new();
    expect_exchange(
        &mut upstream,
        "access-m",
        "notes:read offline_access",
        "mallory",
    );
    let audit = audit_in_order(&[
        AuditKind::ElicitationOpened,
        AuditKind::AuthorizationStarted,
        AuditKind::Refused,
    ]);
    let engine = engine(upstream, audit, clock);

    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    let page = complete(&engine, outcome).await;
    assert_eq!(page.kind, PageKind::Failed, "{}", page.html);
    assert!(
        matches!(
            engine.token_for(&alice(), &provider_id()).await.unwrap(),
            TokenStatus::NotConnected
        ),
        "nothing stored"
    );
}

#[tokio::test]
async fn an_unreachable_provider_fails_the_callback_and_keeps_the_link_usable() {
    // Invariant 11: a provider outage is a clear error and loses nothing.
    let clock = Arc::new(ManualClock::new(UnixTime::from_millis(1_000_000)));
    let mut upstream = MockUpstream::new();
    upstream
        .expect_send()
        .with(predicate::function(|request: &HttpRequest| {
            is_token_request(request, "authorization_code")
        }))
        .times(1)
        .returning(|_| Err(HttpError::Timeout));
    let mut audit = MockAudit::new();
    audit.expect_record().return_const(());
    let engine = engine(upstream, audit, clock);

    let outcome = engine
        .connect(&alice(), &provider_id(), &ScopeSet::new())
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = &outcome else {
        panic!("{outcome:?}")
    };
    let id = ticket.id.clone();
    let page = complete(&engine, outcome).await;
    assert!(
        page.status() >= 500 || page.kind == PageKind::Failed,
        "{}",
        page.html
    );
    assert!(matches!(
        engine.token_for(&alice(), &provider_id()).await.unwrap(),
        TokenStatus::NotConnected
    ));
    // The same elicitation can be tried again from its page.
    let again = engine.connect_page(id.as_str(), None).await;
    assert_eq!(again.kind, PageKind::Picker, "{}", again.html);
}

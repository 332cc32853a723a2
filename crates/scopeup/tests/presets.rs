//! The engine with provider presets: each classifier's outcome reaches the tool answer intact,
//! and refusals no scope can fix open no elicitation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use scopeup::{Engine, EngineConfig, RefusalOutcome};
use scopeup_core::refusal::NotCoverableReason;
use scopeup_core::{
    HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse, Principal, ProviderId, ScopeSet,
    UpstreamCall,
};
use scopeup_oauth::presets::{self, PresetClient};
use scopeup_store::{KeyId, KeyRing, SealingKey};

/// No test here reaches a provider's endpoints.
struct Offline;

#[async_trait::async_trait]
impl HttpClient for Offline {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        panic!("unexpected request to {}", request.url);
    }
}

fn engine(
    build: fn(PresetClient) -> Result<scopeup_oauth::Provider, presets::PresetError>,
) -> Engine {
    let config = EngineConfig::new("https://mcp.example.com/".parse().unwrap(), "Test host");
    let client = PresetClient::new("client", None, config.redirect_uri());
    let key_ring = KeyRing::new(KeyId::new("k").unwrap(), SealingKey::from_bytes([7; 32]));
    Engine::builder(config, key_ring)
        .provider(build(client).unwrap())
        .http_client(Arc::new(Offline))
        .build()
        .unwrap()
}

fn alice() -> Principal {
    Principal::new("alice").unwrap()
}

fn set(text: &str) -> ScopeSet {
    ScopeSet::parse(text).unwrap()
}

#[tokio::test]
async fn cloudflare_10000_with_the_covering_scope_held_opens_no_elicitation() {
    // CASES row 14 (cloudflare/mcp#170, #199, #202).
    let engine = engine(presets::cloudflare);
    let provider = ProviderId::new("cloudflare").unwrap();
    let call = UpstreamCall::new(
        HttpMethod::Get,
        "https://api.cloudflare.com/client/v4/accounts/abc/workers/scripts"
            .parse()
            .unwrap(),
    );
    let refused = HttpResponse::new(403).with_body(
        r#"{"result":null,"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[]}"#,
    );
    let held = set("user:read offline_access account:read workers:read");

    let outcome = engine
        .handle_refused_call(&alice(), &provider, &call, &refused, &held)
        .await
        .unwrap();
    let RefusalOutcome::NotCoverable {
        reason, message, ..
    } = &outcome
    else {
        panic!("expected not coverable, got {outcome:?}");
    };
    assert_eq!(*reason, NotCoverableReason::AlreadyHeld);
    assert!(message.contains("will not help"), "{message}");

    // Without the scope, the same refusal asks for the narrowest covering scope.
    let outcome = engine
        .handle_refused_call(&alice(), &provider, &call, &refused, &set("user:read"))
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation");
    };
    assert_eq!(ticket.missing, set("workers:read"));
}

#[tokio::test]
async fn slack_missing_scope_in_a_200_body_opens_an_elicitation() {
    // CASES row 16.
    let engine = engine(presets::slack);
    let refused = HttpResponse::new(200).with_body(
        r#"{"ok":false,"error":"missing_scope","needed":"chat:write","provided":"users:read"}"#,
    );
    let outcome = engine
        .handle_refusal(
            &alice(),
            &ProviderId::new("slack").unwrap(),
            &refused,
            &set("users:read"),
        )
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation, got {outcome:?}");
    };
    assert_eq!(ticket.missing, set("chat:write"));
    assert!(ticket.message().contains("`chat:write`"));
}

#[tokio::test]
async fn github_app_permission_is_reported_as_a_permission_not_a_scope() {
    let engine = engine(presets::github);
    let refused = HttpResponse::new(403)
        .with_header("X-Accepted-GitHub-Permissions", "contents=write")
        .with_body(r#"{"message":"Resource not accessible by integration"}"#);
    let outcome = engine
        .handle_refusal(
            &alice(),
            &ProviderId::new("github").unwrap(),
            &refused,
            &ScopeSet::new(),
        )
        .await
        .unwrap();
    let RefusalOutcome::NotCoverable {
        reason,
        permissions,
        message,
    } = &outcome
    else {
        panic!("expected not coverable, got {outcome:?}");
    };
    assert_eq!(*reason, NotCoverableReason::AppPermission);
    assert_eq!(permissions, &["contents=write".to_owned()]);
    assert!(
        message.contains("`contents=write`") && message.contains("app"),
        "{message}"
    );
    assert!(!message.contains("Missing scope"));
}

#[tokio::test]
async fn google_alternatives_ask_for_the_narrowest_scope() {
    // CASES row 18.
    let engine = engine(presets::google);
    let refused = HttpResponse::new(403).with_header(
        "WWW-Authenticate",
        r#"Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="https://www.googleapis.com/auth/drive https://www.googleapis.com/auth/drive.readonly https://www.googleapis.com/auth/drive.file""#,
    );
    let outcome = engine
        .handle_refusal(
            &alice(),
            &ProviderId::new("google").unwrap(),
            &refused,
            &set("openid email"),
        )
        .await
        .unwrap();
    let RefusalOutcome::Elicit(ticket) = outcome else {
        panic!("expected an elicitation, got {outcome:?}");
    };
    assert_eq!(
        ticket.missing,
        set("https://www.googleapis.com/auth/drive.file")
    );
}

//! The token and revocation endpoints: PKCE, single-use codes, refresh rotation, scope
//! narrowing, client authentication and revocation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use demo_provider::DemoClient;
use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

use crate::support::{CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, TestServer, VERIFIER, error_of};

#[tokio::test]
async fn wrong_pkce_verifier_is_refused() {
    let server = TestServer::start().await;
    let code = server.code_for("notes:read", &["notes:read"]).await;

    let wrong = "x".repeat(43);
    let (status, error) = error_of(server.exchange(&code, &wrong).await).await;

    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert_eq!(server.provider.token_requests("authorization_code"), 0);
}

#[tokio::test]
async fn reused_code_fails_and_revokes_the_tokens_issued_from_it() {
    let server = TestServer::start().await;
    let code = server
        .code_for(
            "notes:read offline_access",
            &["notes:read", "offline_access"],
        )
        .await;
    let tokens: Value = server.exchange(&code, VERIFIER).await.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    assert!(server.provider.is_access_token_active(access_token));

    let (status, error) = error_of(server.exchange(&code, VERIFIER).await).await;

    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    assert!(!server.provider.is_access_token_active(access_token));
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let (_, error) = error_of(server.refresh(refresh_token, None).await).await;
    assert_eq!(error, "invalid_grant");
}

#[tokio::test]
async fn mismatched_redirect_uri_is_refused() {
    let server = TestServer::start().await;
    let code = server.code_for("notes:read", &["notes:read"]).await;

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "http://127.0.0.1:1/other"),
        ("code_verifier", VERIFIER),
    ];
    let (status, error) = error_of(server.token_request(&form).await).await;

    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_refused() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read offline_access").await;
    let first = tokens["refresh_token"].as_str().unwrap();

    let response = server.refresh(first, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let refreshed: Value = response.json().await.unwrap();
    let second = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);
    assert_eq!(refreshed["scope"], "notes:read offline_access");
    assert!(
        server
            .provider
            .is_access_token_active(refreshed["access_token"].as_str().unwrap())
    );

    let (status, error) = error_of(server.refresh(first, None).await).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );

    let response = server.refresh(second, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.provider.token_requests("refresh_token"), 2);
    assert_eq!(server.provider.token_requests("authorization_code"), 1);
}

#[tokio::test]
async fn refresh_can_narrow_the_scope() {
    let server = TestServer::start().await;
    let tokens = server
        .tokens_for("notes:read notes:write offline_access")
        .await;

    let response = server
        .refresh(
            tokens["refresh_token"].as_str().unwrap(),
            Some("notes:read"),
        )
        .await;
    let narrowed: Value = response.json().await.unwrap();
    assert_eq!(narrowed["scope"], "notes:read");

    // The new refresh token still carries the whole grant.
    let response = server
        .refresh(narrowed["refresh_token"].as_str().unwrap(), None)
        .await;
    let whole: Value = response.json().await.unwrap();
    assert_eq!(whole["scope"], "notes:read notes:write offline_access");
}

#[tokio::test]
async fn refresh_cannot_widen_the_scope() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let response = server
        .refresh(refresh_token, Some("notes:read notes:write"))
        .await;
    let (status, error) = error_of(response).await;
    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );

    // A refused widening does not spend the refresh token.
    assert_eq!(
        server.refresh(refresh_token, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_a_basic_challenge() {
    let server = TestServer::start().await;
    let code = server.code_for("notes:read", &["notes:read"]).await;

    let response = server
        .http
        .post(server.url("/token"))
        .basic_auth(CLIENT_ID, Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    assert_eq!(error_of(response).await.1, "invalid_client");

    // The code is still good for the real client.
    assert_eq!(
        server.exchange(&code, VERIFIER).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn client_secret_post_is_accepted() {
    let server = TestServer::start().await;
    let code = server.code_for("notes:read", &["notes:read"]).await;

    let response = server
        .http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn two_client_authentication_methods_are_refused() {
    let server = TestServer::start().await;

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "whatever"),
        ("client_secret", CLIENT_SECRET),
    ];
    let (status, error) = error_of(server.token_request(&form).await).await;

    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn basic_credentials_are_form_url_decoded() {
    let server = TestServer::start_with(|config| {
        let redirect_uri = Url::parse(REDIRECT_URI).unwrap();
        config.clients = vec![DemoClient::new("demo client", "s:cr%t+", redirect_uri)];
    })
    .await;

    let credentials = STANDARD.encode("demo+client:s%3Acr%25t%2B");
    let response = server
        .http
        .post(server.url("/revoke"))
        .header(header::AUTHORIZATION, format!("Basic {credentials}"))
        .form(&[("token", "unknown")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unsupported_grant_type_is_named_as_such() {
    let server = TestServer::start().await;

    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice"),
    ];
    let (status, error) = error_of(server.token_request(&form).await).await;

    assert_eq!(
        (status, error.as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );
}

#[tokio::test]
async fn revocation_makes_the_access_token_inactive() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read").await;
    let access_token = tokens["access_token"].as_str().unwrap();

    let response = server
        .http
        .post(server.url("/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", access_token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert!(!server.provider.is_access_token_active(access_token));
    assert_eq!(server.provider.revoked_tokens(), 1);
    let response = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_the_access_tokens_of_its_grant() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read offline_access").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let response = server
        .http
        .post(server.url("/revoke"))
        .form(&[
            ("token", refresh_token),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.provider.revoked_tokens(), 1);
    assert!(
        !server
            .provider
            .is_access_token_active(tokens["access_token"].as_str().unwrap())
    );
    assert_eq!(
        error_of(server.refresh(refresh_token, None).await).await.1,
        "invalid_grant"
    );
}

#[tokio::test]
async fn revoking_an_unknown_token_succeeds_and_counts_nothing() {
    let server = TestServer::start().await;

    let response = server
        .http
        .post(server.url("/revoke"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("token", "never-issued")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.provider.revoked_tokens(), 0);
}

#[tokio::test]
async fn revocation_requires_client_authentication() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read").await;
    let access_token = tokens["access_token"].as_str().unwrap();

    let response = server
        .http
        .post(server.url("/revoke"))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(server.provider.is_access_token_active(access_token));
}

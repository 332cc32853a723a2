//! The RFC 8414 metadata document.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;

#[tokio::test]
async fn metadata_names_the_issuer_and_every_endpoint() {
    let server = TestServer::start().await;

    let response = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();

    let issuer = &server.issuer;
    assert_eq!(document["issuer"], json!(issuer));
    assert_eq!(
        document["authorization_endpoint"],
        json!(format!("{issuer}/authorize"))
    );
    assert_eq!(document["token_endpoint"], json!(format!("{issuer}/token")));
    assert_eq!(
        document["userinfo_endpoint"],
        json!(format!("{issuer}/userinfo"))
    );
    assert_eq!(
        document["revocation_endpoint"],
        json!(format!("{issuer}/revoke"))
    );
    assert_eq!(
        document["scopes_supported"],
        json!([
            "notes:read",
            "notes:write",
            "notes:delete",
            "profile",
            "offline_access"
        ])
    );
    assert_eq!(document["response_types_supported"], json!(["code"]));
    assert_eq!(
        document["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        document["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    assert_eq!(
        document["authorization_response_iss_parameter_supported"],
        json!(true)
    );
}

#[tokio::test]
async fn openid_configuration_serves_the_same_document() {
    let server = TestServer::start().await;

    let fetch = |path: &'static str| {
        let request = server.http.get(server.url(path));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let oauth = fetch("/.well-known/oauth-authorization-server").await;
    let openid = fetch("/.well-known/openid-configuration").await;

    assert_eq!(oauth, openid);
}

#[tokio::test]
async fn issuer_with_a_trailing_slash_is_kept_verbatim() {
    let server = TestServer::start_with(|config| {
        let issuer = format!("{}/", config.issuer);
        config.issuer = issuer.parse().unwrap();
    })
    .await;

    let document: Value = server
        .http
        .get(server.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(document["issuer"], json!(format!("{}/", server.issuer)));
    assert_eq!(
        document["token_endpoint"],
        json!(format!("{}/token", server.issuer))
    );
}

//! The bearer-protected resources: the notes API and `/userinfo`.

use std::time::Duration;

use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::support::TestServer;

#[tokio::test]
async fn missing_scope_gets_an_insufficient_scope_challenge() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read").await;

    let response = server
        .http
        .post(server.url("/api/notes"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .json(&json!({ "title": "Groceries", "body": "Milk" }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert_eq!(
        challenge,
        "Bearer realm=\"demo\", error=\"insufficient_scope\", scope=\"notes:write\", \
         error_description=\"this request needs the notes:write scope, which the access token \
         does not carry\""
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert_eq!(body["scope"], "notes:write");
    assert!(server.provider.notes_of("alice").len() == 1);
}

#[tokio::test]
async fn notes_can_be_listed_created_and_deleted_with_their_scopes() {
    let server = TestServer::start().await;
    let tokens = server
        .tokens_for("notes:read notes:write notes:delete")
        .await;
    let token = tokens["access_token"].as_str().unwrap();

    let listed: Value = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["notes"][0]["title"], "Welcome");

    let response = server
        .http
        .post(server.url("/api/notes"))
        .bearer_auth(token)
        .json(&json!({ "title": "Groceries", "body": "Milk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["title"], "Groceries");
    assert_eq!(server.provider.notes_of("alice").len(), 2);

    let id = created["id"].as_u64().unwrap();
    let response = server
        .http
        .delete(server.url(&format!("/api/notes/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let titles: Vec<String> = server
        .provider
        .notes_of("alice")
        .into_iter()
        .map(|note| note.title)
        .collect();
    assert_eq!(titles, ["Welcome"]);
}

#[tokio::test]
async fn deleting_a_missing_note_is_not_found() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:delete").await;

    let response = server
        .http
        .delete(server.url("/api/notes/999"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn malformed_note_is_a_bad_request() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:write").await;

    let response = server
        .http
        .post(server.url("/api/notes"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .body("{not json")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invalid_token_gets_an_invalid_token_challenge() {
    let server = TestServer::start().await;

    let response = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"demo\", error=\"invalid_token\""
    );
}

#[tokio::test]
async fn request_without_a_token_gets_a_bare_challenge() {
    let server = TestServer::start().await;

    let response = server
        .http
        .get(server.url("/api/notes"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()[header::WWW_AUTHENTICATE],
        "Bearer realm=\"demo\""
    );
}

#[tokio::test]
async fn expired_access_token_is_refused() {
    let server = TestServer::start_with(|config| config.access_token_ttl = Duration::ZERO).await;
    let tokens = server.tokens_for("notes:read").await;
    let token = tokens["access_token"].as_str().unwrap();

    let response = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!server.provider.is_access_token_active(token));
}

#[tokio::test]
async fn userinfo_names_the_token_user_without_needing_a_scope() {
    let server = TestServer::start().await;
    let tokens = server.tokens_for("notes:read").await;

    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let info: Value = response.json().await.unwrap();
    assert_eq!(
        info,
        json!({ "sub": "alice", "preferred_username": "alice", "name": "Alice" })
    );
}

#[tokio::test]
async fn userinfo_refuses_an_invalid_token() {
    let server = TestServer::start().await;

    let response = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn notes_are_kept_per_user() {
    let server = TestServer::start().await;
    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "bob")
        .await;
    let answer = server.decide(&consent, &["notes:read"], "allow").await;
    let tokens: Value = server
        .exchange(&answer["code"], crate::support::VERIFIER)
        .await
        .json()
        .await
        .unwrap();

    let listed: Value = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(listed, json!({ "notes": [] }));
}

#[tokio::test]
async fn a_directly_issued_token_reaches_the_api_with_exactly_its_scopes() {
    let server = TestServer::start().await;
    let client_id = crate::support::CLIENT_ID;
    let token = server
        .provider
        .issue_access_token("alice", client_id, "notes:read")
        .unwrap();

    let listed = server
        .http
        .get(server.url("/api/notes"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let created = server
        .http
        .post(server.url("/api/notes"))
        .bearer_auth(&token)
        .json(&json!({ "title": "Groceries" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::FORBIDDEN);

    let unknown_user = server
        .provider
        .issue_access_token("mallory", client_id, "notes:read");
    assert_eq!(unknown_user, Err(demo_provider::IssueError::UnknownUser));
    let unknown_scope = server
        .provider
        .issue_access_token("alice", client_id, "admin");
    assert_eq!(unknown_scope, Err(demo_provider::IssueError::UnknownScope));
}

//! The browser side: sign-in, consent, sign-out and the errors of the authorization endpoint.

use reqwest::{StatusCode, header};
use serde_json::Value;
use url::Url;

use crate::support::{
    CHALLENGE, CLIENT_ID, Page, REDIRECT_URI, TestServer, VERIFIER, redirect_parameters,
};

#[tokio::test]
async fn code_flow_with_pkce_issues_tokens_for_the_granted_scopes() {
    let server = TestServer::start().await;
    let scope = "notes:read notes:write offline_access";

    let consent = server.sign_in(&server.authorize_url(scope), "alice").await;
    assert!(
        consent.html.contains("Signed in as alice"),
        "{}",
        consent.html
    );
    assert!(consent.html.contains(CLIENT_ID));
    for id in [
        "scope-notes-read",
        "scope-notes-write",
        "scope-offline-access",
    ] {
        assert!(
            consent.html.contains(&format!("id=\"{id}\"")),
            "{id}: {}",
            consent.html
        );
    }
    let answer = server
        .decide(
            &consent,
            &["notes:read", "notes:write", "offline_access"],
            "allow",
        )
        .await;
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], server.issuer);

    let response = server.exchange(&answer["code"], VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], scope);
    assert!(tokens["refresh_token"].is_string());
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(access_token.len(), 43);
    assert!(server.provider.is_access_token_active(access_token));
}

#[tokio::test]
async fn unticked_scope_is_left_out_of_the_token() {
    let server = TestServer::start().await;

    let code = server
        .code_for(
            "notes:read notes:write notes:delete",
            &["notes:read", "notes:delete"],
        )
        .await;
    let tokens: Value = server.exchange(&code, VERIFIER).await.json().await.unwrap();

    assert_eq!(tokens["scope"], "notes:read notes:delete");
    assert!(tokens.get("refresh_token").is_none());
}

#[tokio::test]
async fn ticking_a_scope_that_was_not_requested_grants_nothing_more() {
    let server = TestServer::start().await;

    let code = server
        .code_for("notes:read", &["notes:read", "notes:delete"])
        .await;
    let tokens: Value = server.exchange(&code, VERIFIER).await.json().await.unwrap();

    assert_eq!(tokens["scope"], "notes:read");
}

#[tokio::test]
async fn deny_redirects_with_access_denied() {
    let server = TestServer::start().await;

    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "alice")
        .await;
    let answer = server.decide(&consent, &["notes:read"], "deny").await;

    assert_eq!(answer["error"], "access_denied");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], server.issuer);
    assert!(!answer.contains_key("code"));
}

#[tokio::test]
async fn allowing_with_nothing_ticked_is_access_denied() {
    let server = TestServer::start().await;

    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "alice")
        .await;
    let answer = server.decide(&consent, &[], "allow").await;

    assert_eq!(answer["error"], "access_denied");
}

#[tokio::test]
async fn missing_code_challenge_redirects_with_invalid_request() {
    let server = TestServer::start().await;
    let url = server.authorize_url("notes:read").replace(CHALLENGE, "");

    let response = server.browser.get(url).send().await.unwrap();
    let answer = redirect_parameters(&response);

    assert_eq!(answer["error"], "invalid_request");
    assert_eq!(answer["state"], "xyz");
    assert_eq!(answer["iss"], server.issuer);
}

#[tokio::test]
async fn plain_code_challenge_method_redirects_with_invalid_request() {
    let server = TestServer::start().await;
    let url = server.authorize_url("notes:read").replace("S256", "plain");

    let response = server.browser.get(url).send().await.unwrap();

    assert_eq!(redirect_parameters(&response)["error"], "invalid_request");
}

#[tokio::test]
async fn unknown_scope_redirects_with_invalid_scope() {
    let server = TestServer::start().await;

    let response = server
        .browser
        .get(server.authorize_url("notes:read admin"))
        .send()
        .await
        .unwrap();

    let answer = redirect_parameters(&response);
    assert_eq!(answer["error"], "invalid_scope");
    assert_eq!(answer["state"], "xyz");
}

#[tokio::test]
async fn unregistered_redirect_uri_is_shown_and_not_followed() {
    let server = TestServer::start().await;
    let url = server
        .authorize_url("notes:read")
        .replace("127.0.0.1%3A1", "attacker.example");

    let page = Page::from(server.browser.get(url).send().await.unwrap()).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.headers.get(header::LOCATION).is_none());
    assert!(
        page.html.contains("Unknown return address"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn unknown_client_is_shown_and_not_redirected() {
    let server = TestServer::start().await;
    let url = server
        .authorize_url("notes:read")
        .replace(CLIENT_ID, "stranger");

    let page = Page::from(server.browser.get(url).send().await.unwrap()).await;

    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.headers.get(header::LOCATION).is_none());
    assert!(page.html.contains("Unknown application"));
}

#[tokio::test]
async fn wrong_password_shows_the_form_again_with_status_401() {
    let server = TestServer::start().await;
    let login = Page::from(
        server
            .browser
            .get(server.authorize_url("notes:read"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let form = [
        ("request", login.request_id()),
        ("username", "<b>alice</b>".to_owned()),
        ("password", "wrong".to_owned()),
    ];
    let response = server
        .browser
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let page = Page::from(response).await;

    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.html.contains("do not match"), "{}", page.html);
    assert!(page.html.contains("id=\"password\""));
    assert!(
        !page.html.contains("<b>alice</b>"),
        "the username is escaped"
    );
    assert!(page.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn pages_are_not_cached_and_cannot_be_framed() {
    let server = TestServer::start().await;

    let response = server
        .browser
        .get(server.authorize_url("notes:read"))
        .send()
        .await
        .unwrap();

    let headers = response.headers();
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
}

#[tokio::test]
async fn session_cookie_is_http_only_lax_and_scoped_to_the_mount_path() {
    let server = TestServer::start().await;
    let login = Page::from(
        server
            .browser
            .get(server.authorize_url("notes:read"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let form = [
        ("request", login.request_id()),
        ("username", "alice".to_owned()),
        ("password", "alice".to_owned()),
    ];
    let response = server
        .browser
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();

    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("demo_session="), "{cookie}");
    assert!(cookie.contains("; Path=/demo;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
}

#[tokio::test]
async fn signed_in_browser_goes_straight_to_consent() {
    let server = TestServer::start().await;
    server.code_for("notes:read", &["notes:read"]).await;

    let page = Page::from(
        server
            .browser
            .get(server.authorize_url("notes:write"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("Signed in as alice"), "{}", page.html);
    assert!(page.html.contains("id=\"allow\""));
    assert!(!page.html.contains("id=\"password\""));
}

#[tokio::test]
async fn signing_out_returns_to_the_sign_in_form_for_the_same_request() {
    let server = TestServer::start().await;
    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "alice")
        .await;

    let logout = server.url(&format!("/logout?request={}", consent.request_id()));
    assert!(
        consent
            .html
            .contains(&format!("/demo/logout?request={}", consent.request_id()))
    );
    let login = Page::from(server.browser.get(logout).send().await.unwrap()).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.html.contains("id=\"password\""), "{}", login.html);
    assert_eq!(login.request_id(), consent.request_id());

    // The old consent form no longer works: the session is gone.
    let form = [
        ("request", consent.request_id()),
        ("scope", "notes:read".to_owned()),
        ("decision", "allow".to_owned()),
    ];
    let response = server
        .browser
        .post(server.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // Bob signs in on the same request and gets the code.
    let form = [
        ("request", login.request_id()),
        ("username", "bob".to_owned()),
        ("password", "bob".to_owned()),
    ];
    let response = server
        .browser
        .post(server.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let consent = Page::from(response).await;
    assert!(
        consent.html.contains("Signed in as bob"),
        "{}",
        consent.html
    );
    let answer = server.decide(&consent, &["notes:read"], "allow").await;
    let tokens: Value = server
        .exchange(&answer["code"], VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let userinfo: Value = server
        .http
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], "bob");
}

#[tokio::test]
async fn consent_from_another_browser_is_refused() {
    let server = TestServer::start().await;
    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "alice")
        .await;

    let form = [
        ("request", consent.request_id()),
        ("scope", "notes:read".to_owned()),
        ("decision", "allow".to_owned()),
    ];
    let response = server
        .http
        .post(server.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(header::LOCATION).is_none());

    // The request is still there for the browser it belongs to.
    let answer = server.decide(&consent, &["notes:read"], "allow").await;
    assert!(answer.contains_key("code"));
}

#[tokio::test]
async fn consent_form_is_single_use() {
    let server = TestServer::start().await;
    let consent = server
        .sign_in(&server.authorize_url("notes:read"), "alice")
        .await;
    server.decide(&consent, &["notes:read"], "allow").await;

    let form = [
        ("request", consent.request_id()),
        ("scope", "notes:read".to_owned()),
        ("decision", "allow".to_owned()),
    ];
    let response = server
        .browser
        .post(server.url("/consent"))
        .form(&form)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn redirect_uri_keeps_its_own_query() {
    let with_query = "http://127.0.0.1:1/callback?tenant=a";
    let server = TestServer::start_with(|config| {
        config.clients[0].redirect_uris = vec![Url::parse(with_query).unwrap()];
    })
    .await;
    let url = server.authorize_url("notes:read").replace(
        &url::form_urlencoded::byte_serialize(REDIRECT_URI.as_bytes()).collect::<String>(),
        &url::form_urlencoded::byte_serialize(with_query.as_bytes()).collect::<String>(),
    );

    let consent = server.sign_in(&url, "alice").await;
    let response = server
        .browser
        .post(server.url("/consent"))
        .form(&[
            ("request", consent.request_id().as_str()),
            ("scope", "notes:read"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();

    let location = Url::parse(response.headers()[header::LOCATION].to_str().unwrap()).unwrap();
    let names: Vec<String> = location
        .query_pairs()
        .map(|(name, _)| name.into_owned())
        .collect();
    assert_eq!(names, ["tenant", "code", "state", "iss"]);
}

//! Attacks on the elicit flow that must fail with nothing stored (DESIGN.md, "Security
//! invariants"), driven through the running example.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Browser, McpClient, Seen, TestServer, result_text};

fn link_in(answer: &Value) -> url::Url {
    let url = answer["error"]["data"]["elicitations"][0]["url"]
        .as_str()
        .or_else(|| answer["result"]["inputRequests"]["scopeup"]["params"]["url"].as_str())
        .or_else(|| answer["result"]["structuredContent"]["url"].as_str())
        .unwrap_or_else(|| panic!("no link in {answer}"));
    url::Url::parse(url).unwrap()
}

async fn plain_client(server: &TestServer, token: &str) -> McpClient {
    McpClient::connect(server, token, "2025-06-18", json!({})).await
}

/// Walks the flow up to the provider's redirect back to the callback, without following it.
async fn up_to_callback(
    browser: &Browser,
    link: &url::Url,
    user: &str,
    scopes: Option<&[&str]>,
) -> url::Url {
    let consent = browser.to_consent(link, &[], user).await;
    let back: Seen = browser.decide(&consent, scopes).await;
    let location = back.location.expect("redirect to the callback");
    assert_eq!(location.path(), "/oauth/callback");
    location
}

async fn assert_still_refused(client: &mut McpClient, link: &url::Url) {
    let answer = client.call_tool("list_notes", json!({})).await;
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    assert_eq!(&link_in(&answer), link, "the same pending link");
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);

    let callback = up_to_callback(&browser, &link, "alice", None).await;
    assert_eq!(browser.get(&callback).await.status, 200);
    let replay = browser.get(&callback).await;
    assert_eq!(replay.status, 400, "{}", replay.html);
    assert!(replay.html.contains("already used"), "{}", replay.html);
}

#[tokio::test]
async fn a_forged_state_stores_nothing() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let _ = browser.get(&link).await;

    let mut forged = server.url("oauth/callback");
    forged.set_query(Some("state=forged-state&code=stolen-code"));
    assert_eq!(browser.get(&forged).await.status, 400);
    assert_still_refused(&mut client, &link).await;
}

#[tokio::test]
async fn a_callback_in_another_browser_stores_nothing() {
    let server = TestServer::start().await;
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);

    let callback = up_to_callback(&Browser::new(), &link, "alice", None).await;
    let elsewhere = Browser::new().get(&callback).await;
    assert_eq!(elsewhere.status, 403, "{}", elsewhere.html);
    assert_still_refused(&mut client, &link).await;
}

#[tokio::test]
async fn a_picker_post_without_its_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let _ = browser.get(&link).await;

    let fields = vec![("action".to_owned(), "continue".to_owned())];
    let refused = browser.post(&link, &fields).await;
    assert_eq!(refused.status, 403, "{}", refused.html);
    let wrong = vec![
        ("csrf".to_owned(), "A".repeat(43)),
        ("action".to_owned(), "continue".to_owned()),
    ];
    assert_eq!(browser.post(&link, &wrong).await.status, 403);
    // A token from another browser is no good either.
    let other = Browser::new();
    let picker = other.get(&link).await;
    let token = support::forms(&picker.html)[0].hidden[0].1.clone();
    let stolen = vec![
        ("csrf".to_owned(), token),
        ("action".to_owned(), "continue".to_owned()),
    ];
    assert_eq!(browser.post(&link, &stolen).await.status, 403);
    assert_still_refused(&mut client, &link).await;
}

#[tokio::test]
async fn an_unknown_scope_is_a_clear_400_and_never_forwarded() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let picker = browser.get(&link).await;

    for scope in ["admin:everything", "bad scope", "notes:read\"><script>"] {
        let refused = browser
            .submit(
                &picker,
                "/connect/",
                &[("scope", scope), ("action", "continue")],
            )
            .await;
        assert_eq!(refused.status, 400, "{scope}: {}", refused.html);
        assert!(refused.location.is_none());
        assert!(!refused.html.contains("<script>"));
    }
    assert_still_refused(&mut client, &link).await;
}

#[tokio::test]
async fn another_user_completing_the_link_stores_nothing() {
    // CASES row 12: a forwarded link completed by someone else must not bind their account.
    let server = TestServer::start().await;
    let mut alice = plain_client(&server, "demo-alice").await;
    let link = link_in(&alice.call_tool("list_notes", json!({})).await);

    let bob_browser = Browser::new();
    let page = bob_browser.complete(&link, &[], "bob", None).await;
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(page.html.contains("not the account"), "{}", page.html);
    assert_still_refused(&mut alice, &link).await;
    assert!(!page.html.contains("Welcome"));
}

#[tokio::test]
async fn a_narrower_grant_is_refused_and_the_old_one_kept() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    browser.complete(&link, &[], "alice", None).await;

    // Asked for notes:write, the user unticks the notes:read they already hold.
    let link = link_in(&client.call_tool("create_note", json!({"title": "x"})).await);
    let callback = up_to_callback(
        &browser,
        &link,
        "alice",
        Some(&["notes:write", "offline_access"]),
    )
    .await;
    let page = browser.get(&callback).await;
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(
        page.html.contains("less than you already had"),
        "{}",
        page.html
    );

    let answer = client.call_tool("list_notes", json!({})).await;
    assert_eq!(
        answer["result"]["isError"],
        json!(false),
        "old grant kept: {answer}"
    );
}

#[tokio::test]
async fn a_tampered_request_state_is_refused() {
    let server = TestServer::start().await;
    let mut client = McpClient::connect(
        &server,
        "demo-alice",
        "2026-07-28",
        json!({"elicitation": {"url": {}}}),
    )
    .await;
    let answer = client.call_tool("list_notes", json!({})).await;
    let state = answer["result"]["requestState"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut tampered = state.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let refused = client
        .call_tool_with_state("list_notes", json!({}), Some(&tampered))
        .await;
    assert!(refused.get("error").is_some(), "{refused}");

    // A state for one request does not unlock another.
    let other = client
        .call_tool_with_state("create_note", json!({"title": "x"}), Some(&state))
        .await;
    assert!(other.get("error").is_some(), "{other}");
}

#[tokio::test]
async fn pages_send_the_security_headers() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = plain_client(&server, "demo-alice").await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let picker = browser.get(&link).await;

    let header = |name: &str| {
        picker
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(header("content-security-policy").contains("frame-ancestors 'none'"));
    assert_eq!(header("referrer-policy"), "no-referrer");
    assert_eq!(header("cache-control"), "no-store");
    let cookie = header("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(result_text(&client.call_tool("list_notes", json!({})).await).contains(link.as_str()));
}

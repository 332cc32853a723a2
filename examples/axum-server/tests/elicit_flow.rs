//! The main job, end to end: a tool call refused for a missing scope, the answer in each shape a
//! client supports, the picker and the demo provider's login and consent walked by a
//! cookie-keeping client, and the retried tool call succeeding with the upgraded token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Browser, McpClient, TestServer, expect_notification, result_text};

const URL_ELICITATION: &str = "2025-11-25";
const STATELESS: &str = "2026-07-28";

fn url_capable() -> Value {
    json!({"elicitation": {"url": {}}})
}

/// Connects alice for the baseline scopes through the link a first call returns, and returns
/// that link.
async fn connect_alice(server: &TestServer, client: &mut McpClient, browser: &Browser) -> url::Url {
    let answer = client.call_tool("list_notes", json!({})).await;
    let link = link_in(&answer);
    let done = browser.complete(&link, &[], "alice", None).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let answer = client.call_tool("list_notes", json!({})).await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    assert!(result_text(&answer).contains("Welcome"), "{answer}");
    let _ = server;
    link
}

/// The connect link in any of the three answer shapes.
fn link_in(answer: &Value) -> url::Url {
    let url = answer["error"]["data"]["elicitations"][0]["url"]
        .as_str()
        .or_else(|| answer["result"]["inputRequests"]["scopeup"]["params"]["url"].as_str())
        .or_else(|| answer["result"]["structuredContent"]["url"].as_str())
        .unwrap_or_else(|| panic!("no link in {answer}"));
    url::Url::parse(url).unwrap()
}

/// The elicitation id at the end of a connect link.
fn elicitation_id_of(link: &url::Url) -> String {
    link.path_segments()
        .unwrap()
        .next_back()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn url_capable_client_gets_32042_then_completion_then_success() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client =
        McpClient::connect(&server, "demo-alice", URL_ELICITATION, url_capable()).await;
    let mut notifications = client.notifications().await;
    let connect_link = connect_alice(&server, &mut client, &browser).await;
    let notification =
        expect_notification(&mut notifications, "notifications/elicitation/complete").await;
    assert_eq!(
        notification["params"]["elicitationId"],
        json!(elicitation_id_of(&connect_link))
    );

    // create_note needs notes:write, which the first connect did not grant.
    let answer = client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    let error = &answer["error"];
    assert_eq!(error["code"], json!(-32042), "{answer}");
    let message = error["message"].as_str().unwrap();
    let link = link_in(&answer);
    // CASES row 5: the message alone names the scope and holds the link.
    assert!(
        message.contains("notes:write") && message.contains(link.as_str()),
        "{message}"
    );
    assert_eq!(error["data"]["elicitations"][0]["mode"], json!("url"));

    // CASES row 6: opening the link is not completing it; a retry gets the same elicitation.
    let _ = browser.get(&link).await;
    let again = client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    assert_eq!(link_in(&again), link);

    let done = browser.complete(&link, &[], "alice", None).await;
    assert_eq!(done.status, 200, "{}", done.html);
    assert!(done.html.contains("notes:write"), "{}", done.html);
    let notification =
        expect_notification(&mut notifications, "notifications/elicitation/complete").await;
    assert_eq!(
        notification["params"]["elicitationId"],
        json!(elicitation_id_of(&link))
    );

    let answer = client
        .call_tool("create_note", json!({"title": "Groceries"}))
        .await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    assert!(
        server
            .demo
            .as_ref()
            .unwrap()
            .notes_of("alice")
            .iter()
            .any(|note| note.title == "Groceries")
    );
}

#[tokio::test]
async fn stateless_client_gets_input_required_and_retries_with_request_state() {
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&server, "demo-alice", STATELESS, url_capable()).await;

    let answer = client.call_tool("list_notes", json!({})).await;
    let result = &answer["result"];
    assert_eq!(result["resultType"], json!("input_required"), "{answer}");
    let request = &result["inputRequests"]["scopeup"];
    assert_eq!(request["method"], json!("elicitation/create"));
    assert_eq!(request["params"]["mode"], json!("url"));
    let state = result["requestState"]
        .as_str()
        .expect("a request state")
        .to_owned();

    let done = browser
        .complete(&link_in(&answer), &[], "alice", None)
        .await;
    assert_eq!(done.status, 200, "{}", done.html);

    let retried = client
        .call_tool_with_state("list_notes", json!({}), Some(&state))
        .await;
    assert_eq!(retried["result"]["isError"], json!(false), "{retried}");
    assert!(result_text(&retried).contains("Welcome"));
}

#[tokio::test]
async fn form_only_client_gets_the_link_in_a_tool_result() {
    // CASES row 4: `elicitation: {}` means form mode only; never send it `mode: "url"`.
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = McpClient::connect(
        &server,
        "demo-bob",
        URL_ELICITATION,
        json!({"elicitation": {}}),
    )
    .await;

    let answer = client.call_tool("list_notes", json!({})).await;
    assert!(answer.get("error").is_none(), "{answer}");
    assert_eq!(answer["result"]["isError"], json!(true));
    assert!(!answer.to_string().contains("\"mode\":\"url\""), "{answer}");
    let text = result_text(&answer);
    let link = link_in(&answer);
    assert!(
        text.contains(link.as_str()) && text.contains("retry"),
        "{text}"
    );

    let done = browser.complete(&link, &[], "bob", None).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let answer = client.call_tool("list_notes", json!({})).await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
}

#[tokio::test]
async fn a_second_upgrade_keeps_the_first() {
    // CASES row 15: two tools needing two scopes must not alternate forever.
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&server, "demo-alice", "2025-06-18", json!({})).await;
    let _ = connect_alice(&server, &mut client, &browser).await;

    let answer = client
        .call_tool("create_note", json!({"title": "One"}))
        .await;
    browser
        .complete(&link_in(&answer), &[], "alice", None)
        .await;
    let answer = client
        .call_tool("create_note", json!({"title": "One"}))
        .await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    let id = serde_json::from_str::<Value>(&result_text(&answer)).unwrap()["id"].clone();

    let answer = client.call_tool("delete_note", json!({"id": id})).await;
    let link = link_in(&answer);
    let picker = browser.get(&link).await;
    assert!(picker.html.contains("Already granted"), "{}", picker.html);
    browser.complete(&link, &[], "alice", None).await;

    let answer = client.call_tool("delete_note", json!({"id": id})).await;
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    let answer = client
        .call_tool("create_note", json!({"title": "Two"}))
        .await;
    assert_eq!(
        answer["result"]["isError"],
        json!(false),
        "write survived: {answer}"
    );
}

#[tokio::test]
async fn a_scope_unticked_at_the_provider_is_reported_and_not_asked_again() {
    // CASES row 11: store what was granted, show what was declined, do not loop.
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&server, "demo-alice", "2025-06-18", json!({})).await;
    let _ = connect_alice(&server, &mut client, &browser).await;

    let answer = client.call_tool("create_note", json!({"title": "x"})).await;
    let link = link_in(&answer);
    let done = browser
        .complete(&link, &[], "alice", Some(&["notes:read", "offline_access"]))
        .await;
    assert!(done.html.contains("Declined"), "{}", done.html);
    assert!(done.html.contains("notes:write"), "{}", done.html);

    let answer = client.call_tool("create_note", json!({"title": "x"})).await;
    assert_eq!(
        answer["result"]["structuredContent"]["status"],
        json!("declined"),
        "{answer}"
    );
    assert!(result_text(&answer).contains("Declined"), "{answer}");
}

#[tokio::test]
async fn repeated_refusals_share_one_elicitation_and_hit_a_retry_cap() {
    // CASES row 1: a client that keeps retrying with the same token gets no new links.
    let server = TestServer::start().await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&server, "demo-alice", "2025-06-18", json!({})).await;
    let _ = connect_alice(&server, &mut client, &browser).await;

    let first = link_in(&client.call_tool("create_note", json!({"title": "x"})).await);
    let mut last = Value::Null;
    for _ in 0..6 {
        last = client.call_tool("create_note", json!({"title": "x"})).await;
        assert_eq!(link_in(&last), first);
    }
    let text = result_text(&last);
    assert!(
        text.contains("will not help") && text.contains(first.as_str()),
        "{text}"
    );
}

/// The benchmark baseline of `cargo xtask bench`: the same tools, no scopeup, so no link.
#[tokio::test]
async fn the_benchmark_baseline_calls_the_api_without_scopeup() {
    let server = TestServer::start_with(
        |config| config.bench_without_scopeup = true,
        axum_server::Overrides::default(),
    )
    .await;
    let mut client = McpClient::connect(&server, "demo-alice", STATELESS, url_capable()).await;

    let listed = client.call_tool("list_notes", json!({})).await;
    assert_eq!(listed["result"]["isError"], json!(false), "{listed}");
    assert!(result_text(&listed).contains("Welcome"), "{listed}");
    let created = client
        .call_tool("create_note", json!({"title": "Baseline"}))
        .await;
    assert_eq!(created["result"]["isError"], json!(false), "{created}");
    assert_eq!(server.demo().notes_of("alice").len(), 2);
    assert!(
        server
            .example_engine
            .grants(&scopeup_core::Principal::new("alice").unwrap())
            .await
            .unwrap()
            .is_empty(),
        "scopeup held nothing"
    );
}

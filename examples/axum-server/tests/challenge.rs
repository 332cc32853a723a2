//! Challenge mode end to end: the MCP token's own scopes gate the tools; a call without the
//! tool's scope is answered with the standard `insufficient_scope` challenge, as an HTTP 403 to
//! clients configured for it and under `_meta["mcp/www_authenticate"]` in the tool result to
//! the others; the protected resource metadata it points to lists the supported scopes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::TestServer;

const STEP_UP_CLIENT: &str = "step-up-client";

async fn challenge_server() -> TestServer {
    TestServer::start_with(
        |config| {
            config.mode = "challenge".to_owned();
            config.challenge_transport_clients = vec![STEP_UP_CLIENT.to_owned()];
        },
        axum_server::Overrides::default(),
    )
    .await
}

/// One stateless (2026-07-28) `tools/call`, as a client named `client` with `token`.
async fn call(server: &TestServer, client: &str, token: &str, tool: &str) -> reqwest::Response {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {"title": "Groceries"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1.0.0"},
            },
        },
    });
    reqwest::Client::new()
        .post(server.url("mcp"))
        .bearer_auth(token)
        .header("user-agent", format!("{client}/1.0"))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The JSON-RPC message in a JSON or Server-Sent Events body.
fn message(text: &str) -> Value {
    if let Ok(value) = serde_json::from_str(text) {
        return value;
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
        .find(|value| value.get("id").is_some())
        .unwrap_or_else(|| panic!("no message in {text}"))
}

fn expected_challenge(server: &TestServer) -> String {
    format!(
        r#"Bearer error="insufficient_scope", scope="notes:read notes:write", resource_metadata="{}""#,
        server.url(".well-known/oauth-protected-resource/mcp")
    )
}

#[tokio::test]
async fn step_up_client_gets_403_with_held_and_missing_scopes() {
    let server = challenge_server().await;

    let response = call(&server, STEP_UP_CLIENT, "demo-alice", "create_note").await;
    assert_eq!(response.status(), 403);
    let header = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(header, expected_challenge(&server));
    assert!(!header.contains("notes:delete"), "never the whole catalog");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], json!("insufficient_scope"));
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("`notes:write`")
    );

    // A tool the token has the scope for is not challenged.
    let response = call(&server, STEP_UP_CLIENT, "demo-alice", "list_notes").await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn other_clients_get_the_challenge_in_the_tool_result_meta() {
    let server = challenge_server().await;

    let response = call(&server, "plain-client", "demo-alice", "create_note").await;
    assert_eq!(response.status(), 200);
    let answer = message(&response.text().await.unwrap());
    let result = &answer["result"];
    assert_eq!(result["isError"], json!(true), "{answer}");
    assert_eq!(
        result["_meta"]["mcp/www_authenticate"],
        json!(expected_challenge(&server))
    );
    assert_eq!(
        result["structuredContent"]["status"],
        json!("insufficient_scope")
    );
    let text = result["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("`notes:write`"), "{text}");
}

#[tokio::test]
async fn a_token_with_the_scope_passes_the_challenge() {
    let server = challenge_server().await;

    // The token now carries notes:write: no challenge. The tool goes on to its upstream call,
    // for which alice has not connected the notes provider yet, so it answers with that link.
    let token = "demo-alice~notes:read+notes:write";
    let response = call(&server, STEP_UP_CLIENT, token, "create_note").await;
    assert_eq!(response.status(), 200);
    let answer = message(&response.text().await.unwrap());
    assert!(
        answer["result"]["_meta"]
            .get("mcp/www_authenticate")
            .is_none(),
        "{answer}"
    );
    assert_eq!(
        answer["result"]["structuredContent"]["status"],
        json!("not_connected"),
        "{answer}"
    );
}

#[tokio::test]
async fn protected_resource_metadata_lists_the_supported_scopes() {
    let server = challenge_server().await;
    let document: Value = reqwest::get(server.url(".well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["resource"], json!(server.url("mcp").to_string()));
    assert_eq!(
        document["authorization_servers"],
        json!([server.url("demo").to_string()])
    );
    assert_eq!(
        document["scopes_supported"],
        json!([
            "notes:delete",
            "notes:read",
            "notes:write",
            "offline_access",
            "profile"
        ])
    );
    assert_eq!(document["bearer_methods_supported"], json!(["header"]));
}

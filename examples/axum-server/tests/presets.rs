//! Provider presets in the example: selected by name with client credentials, their catalogs
//! drive the picker, and Cloudflare's limit of 76 scopes is a clear message on the picker,
//! never a broken redirect (CASES row 13).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use support::{Browser, PresetServer};

async fn cloudflare() -> PresetServer {
    PresetServer::start(|config| {
        config.provider = "cloudflare".to_owned();
        config.client_id = Some("cloudflare-client".to_owned());
        config.client_secret = Some("cloudflare-secret".to_owned());
        // No call reaches the API in these tests: the principal is not connected yet.
        config.api_base = Some(url::Url::parse("http://127.0.0.1:9/client/v4").unwrap());
    })
    .await
}

/// The connect link a first call returns to a client without URL elicitation.
async fn connect_link(base: &url::Url) -> url::Url {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "list_notes", "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "scopeup-e2e", "version": "1.0.0"},
            },
        },
    });
    let text = reqwest::Client::new()
        .post(base.join("mcp").unwrap())
        .bearer_auth("demo-alice")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "list_notes")
        .json(&body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&text)
        .ok()
        .or_else(|| {
            text.lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
                .find(|value| value.get("id").is_some())
        })
        .unwrap_or_else(|| panic!("no answer in {text}"));
    let url = answer["result"]["structuredContent"]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("no link in {answer}"));
    url::Url::parse(url).unwrap()
}

#[tokio::test]
async fn cloudflare_preset_catalog_drives_the_picker() {
    let server = cloudflare().await;
    let link = connect_link(&server.base).await;
    let picker = Browser::new().get(&link).await;
    assert_eq!(picker.status, 200, "{}", picker.html);
    for expected in [
        "Cloudflare",
        "Workers Platform",
        "DNS Management",
        "Read Only (recommended)",
        "Workers Full Access",
        "DNS Full Access",
        "workers_observability_telemetry:write",
        "Configure first-party tags",
    ] {
        assert!(
            picker.html.contains(expected),
            "{expected} missing from the picker"
        );
    }
}

#[tokio::test]
async fn cloudflare_request_over_76_scopes_is_a_message_on_the_picker_not_a_redirect() {
    // CASES row 13 (cloudflare/mcp#12).
    let server = cloudflare().await;
    let link = connect_link(&server.base).await;
    let browser = Browser::new();
    let picker = browser.get(&link).await;
    let scopes: Vec<String> = picker
        .html
        .split("name=\"scope\" value=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    assert!(scopes.len() > 70, "{} scopes offered", scopes.len());
    let mut fields: Vec<(&str, &str)> = vec![("action", "continue")];
    fields.extend(scopes.iter().map(|scope| ("scope", scope.as_str())));

    let answer = browser.submit(&picker, "/connect/", &fields).await;
    assert_ne!(answer.status, 303, "must not redirect to Cloudflare");
    assert!(answer.location.is_none());
    assert!(answer.html.contains("76"), "{}", answer.html);
}

#[tokio::test]
async fn every_preset_is_selectable_by_name() {
    for preset in ["github", "google", "slack", "cloudflare"] {
        let server = PresetServer::start(|config| {
            config.provider = preset.to_owned();
            config.client_id = Some(format!("{preset}-client"));
            config.api_base = Some(url::Url::parse("http://127.0.0.1:9/").unwrap());
        })
        .await;
        let link = connect_link(&server.base).await;
        let picker = Browser::new().get(&link).await;
        assert_eq!(picker.status, 200, "{preset}: {}", picker.html);
    }
}

//! The example on durable stores, deployed as in production: a provider running on its own, a
//! restart between the picker and the callback on SQLite, three instances sharing one Redis
//! behind a load balancer, and a Redis outage in the middle of a flow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum_server::{ExampleConfig, StoreSetting};
use scopeup_core::Store;
use scopeup_core::ports::SystemClock;
use scopeup_store::conformance::RedisServer;
use scopeup_store::{RedisConfig, RedisStore, SqliteStore};
use serde_json::{Value, json};
use support::deploy::{
    Balancer, Instance, Provider, SEALING_KEYS, contains, free_address, stored_grant,
};
use support::{Browser, McpClient, TestServer, result_text};

/// The connect link in a tool result or a `-32042` error.
fn link_in(answer: &Value) -> url::Url {
    let url = answer["error"]["data"]["elicitations"][0]["url"]
        .as_str()
        .or_else(|| answer["result"]["structuredContent"]["url"].as_str())
        .unwrap_or_else(|| panic!("no link in {answer}"));
    url::Url::parse(url).unwrap()
}

fn assert_succeeded(answer: &Value) {
    assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_between_the_picker_and_the_callback_still_completes() {
    // The default store: SQLite in the data directory, with a key ring generated beside it.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let address = free_address().await;
    let public_url = url::Url::parse(&format!("http://{address}/")).unwrap();
    let provider = Provider::start(&public_url).await;
    let mut config = provider.instance_config(address, &public_url, StoreSetting::Memory);
    config.store = None;
    config.sealing_keys = None;
    config.data_dir = data_dir.clone();

    // The picker and the provider's consent on the first run.
    let first = Instance::start(config.clone()).await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&first.server, "demo-alice", "2025-06-18", json!({})).await;
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let consent = browser.to_consent(&link, &[], "alice").await;
    let back_to_callback = browser.decide(&consent, None).await;
    first.stop().await;

    let key_file = data_dir.join(axum_server::SEALING_KEYS_FILE);
    let database = data_dir.join(axum_server::DEFAULT_SQLITE_FILE);
    assert!(database.exists(), "no SQLite file in the data directory");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "the key ring file is readable by others"
        );
    }

    // The callback and the retried call on the second run.
    let second = Instance::start(config).await;
    let done = browser.follow(back_to_callback).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let mut client =
        McpClient::connect(&second.server, "demo-alice", "2025-06-18", json!({})).await;
    let answer = client.call_tool("list_notes", json!({})).await;
    assert_succeeded(&answer);
    assert!(result_text(&answer).contains("Welcome"), "{answer}");
    second.stop().await;

    // CASES row 8: the stored grant carries its expiry, issuer and token endpoint.
    let raw: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&database, Arc::new(SystemClock))
            .await
            .unwrap(),
    );
    let ring = std::fs::read_to_string(&key_file).unwrap();
    let grant = stored_grant(raw, ring.trim(), "alice").await;
    assert!(grant.expires_at.is_some());
    assert_eq!(grant.issuer.as_deref(), Some(provider.issuer.as_str()));
    assert_eq!(
        grant.token_endpoint.as_str(),
        format!("{}/token", provider.issuer)
    );

    // A raw dump of the file shows neither token.
    let connection = rusqlite::Connection::open(&database).unwrap();
    let mut rows = connection
        .prepare("SELECT key, value FROM scopeup_store")
        .unwrap();
    let rows: Vec<(String, Vec<u8>)> = rows
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!rows.is_empty());
    let refresh = grant.refresh_token.as_ref().expect("a refresh token");
    for (key, value) in &rows {
        assert!(!key.contains("alice"), "{key}");
        assert!(!contains(value, grant.access_token.expose_secret()));
        assert!(!contains(value, refresh.expose_secret()));
    }
}

/// Three instances on one Redis behind a balancer, using one standalone provider.
struct Cluster {
    redis: RedisServer,
    balancer: Balancer,
    provider: Provider,
    instances: Vec<Instance>,
}

impl Cluster {
    async fn start(redis: RedisServer) -> Self {
        let balancer = Balancer::start().await;
        let provider = Provider::start(&balancer.base).await;
        let mut instances = Vec::new();
        for _ in 0..3 {
            let config = provider.instance_config(
                free_address().await,
                &balancer.base,
                StoreSetting::Redis(redis.url().to_owned()),
            );
            instances.push(Instance::start(config).await);
        }
        Self {
            redis,
            balancer,
            provider,
            instances,
        }
    }

    fn instance(&self, index: usize) -> &TestServer {
        &self.instances[index].server
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_elicitation_opened_on_one_instance_completes_on_another_and_retries_on_a_third() {
    // CASES row 9: state and elicitations live in the shared store.
    let cluster = Cluster::start(RedisServer::start()).await;
    let browser = Browser::new();
    let mut on_a =
        McpClient::connect(cluster.instance(0), "demo-alice", "2025-06-18", json!({})).await;
    let mut on_c =
        McpClient::connect(cluster.instance(2), "demo-alice", "2025-06-18", json!({})).await;

    // Connect, then upgrade: each refusal on A, each picker and callback on B, each retry on C.
    for (tool, arguments) in [
        ("list_notes", json!({})),
        ("create_note", json!({"title": "From three instances"})),
    ] {
        let answer = on_a.call_tool(tool, arguments.clone()).await;
        let link = link_in(&answer);
        assert!(link.as_str().starts_with(cluster.balancer.base.as_str()));

        cluster.balancer.route_to(cluster.instance(1));
        let done = browser.complete(&link, &[], "alice", None).await;
        assert_eq!(done.status, 200, "{}", done.html);

        let answer = on_c.call_tool(tool, arguments).await;
        assert_succeeded(&answer);
    }
    assert!(
        cluster
            .provider
            .demo
            .notes_of("alice")
            .iter()
            .any(|note| note.title == "From three instances")
    );

    // A raw dump of Redis shows neither token.
    let raw: Arc<dyn Store> =
        Arc::new(RedisStore::new(cluster.redis.url(), &RedisConfig::default()).unwrap());
    let grant = stored_grant(raw, SEALING_KEYS, "alice").await;
    let refresh = grant.refresh_token.as_ref().expect("a refresh token");
    let client = redis::Client::open(cluster.redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(!key.contains("alice"), "{key}");
        let value: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(!contains(&value, grant.access_token.expose_secret()));
        assert!(!contains(&value, refresh.expose_secret()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refusals_across_instances_open_one_elicitation() {
    let cluster = Cluster::start(RedisServer::start()).await;

    let mut calls = Vec::new();
    for index in 0..100 {
        let instance = cluster.instance(index % 3);
        let mut client = McpClient::connect(instance, "demo-alice", "2026-07-28", json!({})).await;
        calls.push(tokio::spawn(async move {
            client.call_tool("list_notes", json!({})).await
        }));
    }

    let mut links = std::collections::BTreeSet::new();
    for call in calls {
        let answer = call.await.unwrap();
        links.insert(link_in(&answer).to_string());
    }
    assert_eq!(links.len(), 1, "{links:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_mid_flow_gives_clear_errors_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start_durable(data.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = ExampleConfig::on(listener.local_addr().unwrap());
    config.store = Some(StoreSetting::Redis(redis.url().to_owned()));
    config.sealing_keys = Some(SEALING_KEYS.to_owned());
    let server = TestServer::serve(listener, config).await;
    let browser = Browser::new();
    let mut client = McpClient::connect(&server, "demo-alice", "2025-06-18", json!({})).await;

    // Connected, then refused for notes:write: a grant and an elicitation are stored.
    let link = link_in(&client.call_tool("list_notes", json!({})).await);
    let done = browser.complete(&link, &[], "alice", None).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let link = link_in(&client.call_tool("create_note", json!({"title": "x"})).await);

    // Redis goes away: the tool and the pages say so, promptly.
    redis.stop();
    let answer = tokio::time::timeout(
        Duration::from_secs(30),
        client.call_tool("list_notes", json!({})),
    )
    .await
    .expect("the tool answers during the outage");
    assert_eq!(answer["result"]["isError"], json!(true), "{answer}");
    let text = result_text(&answer);
    assert!(
        text.contains("unavailable") && text.contains("nothing was lost"),
        "{text}"
    );

    let picker = browser.get(&link).await;
    assert_eq!(picker.status, 503, "{}", picker.html);
    assert!(picker.html.contains("unavailable"), "{}", picker.html);
    let callback = browser
        .get(&server.url("oauth/callback?state=abcdefghijklmnopqrstuvwxyz0123456789&code=c"))
        .await;
    assert_eq!(callback.status, 503, "{}", callback.html);

    // Redis is back: the grant is still there and the flow completes.
    redis.restart();
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = client.call_tool("list_notes", json!({})).await;
        if answer["result"]["isError"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_succeeded(&answer);
    let done = browser.complete(&link, &[], "alice", None).await;
    assert_eq!(done.status, 200, "{}", done.html);
    let answer = client.call_tool("create_note", json!({"title": "x"})).await;
    assert_succeeded(&answer);
}

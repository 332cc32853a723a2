//! The Redis adapter against a real `redis-server`: the conformance suite, sealing in front of
//! it, an unreachable server, and reconnecting after the server comes back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scopeup_core::{Random, RandomError, Store, StoreError, StoreKey};
use scopeup_store::conformance::{self, Config, Expiry, RedisServer};
use scopeup_store::{KeyId, KeyRing, RedisConfig, RedisStore, SealedStore, SealingKey};

/// Distinct nonces without an operating system source; good enough for a test.
#[derive(Default)]
struct CountingRandom(AtomicU64);

impl Random for CountingRandom {
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
        let count = self.0.fetch_add(1, Ordering::SeqCst).to_le_bytes();
        for (byte, source) in buffer.iter_mut().zip(count.iter().cycle()) {
            *byte = *source;
        }
        Ok(())
    }
}

fn sleep_expiry() -> Expiry<'static> {
    Expiry::Sleep {
        ttl: Duration::from_millis(1500),
        wait: Duration::from_millis(3000),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_store_conforms() {
    let server = RedisServer::shared_or_start();
    let store: Arc<dyn Store> =
        Arc::new(RedisStore::new(server.url(), &RedisConfig::default()).unwrap());

    conformance::run(
        store,
        Config::new()
            .with_expiry(sleep_expiry())
            .with_key_prefix("scopeup-conformance/plain/"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_redis_store_conforms() {
    let server = RedisServer::shared_or_start();
    let inner: Arc<dyn Store> =
        Arc::new(RedisStore::new(server.url(), &RedisConfig::default()).unwrap());
    let ring = KeyRing::new(
        KeyId::new("current").unwrap(),
        SealingKey::from_bytes([3; 32]),
    );
    let store: Arc<dyn Store> = Arc::new(SealedStore::new(
        inner,
        ring,
        Arc::new(CountingRandom::default()),
    ));

    conformance::run(
        store,
        Config::new()
            .with_expiry(sleep_expiry())
            .with_key_prefix("scopeup-conformance/sealed/"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_server_that_is_down_gives_errors() {
    let mut server = RedisServer::start();
    let store = RedisStore::new(server.url(), &RedisConfig::default()).unwrap();
    server.stop();

    conformance::run_unreachable(Arc::new(store), Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_reconnects_after_the_server_comes_back() {
    let mut server = RedisServer::start();
    let store = RedisStore::new(server.url(), &RedisConfig::default()).unwrap();
    let key = StoreKey::raw("reconnect");
    store.put(&key, b"before".to_vec(), None).await.unwrap();
    store.ping().await.unwrap();

    server.stop();
    let error = store.get(&key).await.unwrap_err();
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");

    server.restart();
    let mut answered = None;
    for _ in 0..50 {
        match store.put(&key, b"after".to_vec(), None).await {
            Ok(()) => {
                answered = Some(());
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(answered.is_some(), "the store did not reconnect");
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"after"[..])
    );
}

#[test]
fn a_malformed_url_is_an_error() {
    let error = RedisStore::new("not a url", &RedisConfig::default()).unwrap_err();
    assert!(matches!(error, StoreError::Backend(_)), "{error:?}");
}

#[tokio::test]
async fn redis_holds_no_value_in_clear() {
    let server = RedisServer::shared_or_start();
    let backend: Arc<dyn Store> =
        Arc::new(RedisStore::new(server.url(), &RedisConfig::default()).unwrap());
    let ring = KeyRing::new(KeyId::new("k1").unwrap(), SealingKey::from_bytes([4; 32]));
    let store = SealedStore::new(backend, ring, Arc::new(CountingRandom::default()));
    let token = b"gho_access_token_in_clear_for_redis";
    let key = StoreKey::hashed("grant", &["redis-dump-test", "github"]);
    store
        .put(&key, token.to_vec(), Some(Duration::from_secs(60)))
        .await
        .unwrap();

    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let raw: Vec<u8> = redis::cmd("GET")
        .arg(key.as_str())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!raw.is_empty());
    assert!(!raw.windows(token.len()).any(|window| window == token));
    let dump: Vec<u8> = redis::cmd("DUMP")
        .arg(key.as_str())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!dump.windows(token.len()).any(|window| window == token));
}

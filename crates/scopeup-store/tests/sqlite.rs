//! The SQLite adapter: the conformance suite on a file, sealing in front of it, and what a
//! closed store answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scopeup_core::{Random, RandomError, Store, StoreKey};
use scopeup_store::conformance::{self, Config, Expiry};
use scopeup_store::{KeyId, KeyRing, ManualClock, SealedStore, SealingKey, SqliteStore};

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

fn ring(ids: &[(&str, u8)]) -> KeyRing {
    let (first, rest) = ids.split_first().unwrap();
    let mut ring = KeyRing::new(
        KeyId::new(first.0).unwrap(),
        SealingKey::from_bytes([first.1; 32]),
    );
    for (id, byte) in rest {
        ring = ring
            .with_key(
                KeyId::new(*id).unwrap(),
                SealingKey::from_bytes([*byte; 32]),
            )
            .unwrap();
    }
    ring
}

/// Every row of the table, as the backend holds it.
fn dump(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let connection = rusqlite::Connection::open(path).unwrap();
    let mut statement = connection
        .prepare("SELECT key, value FROM scopeup_store")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_conforms() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(directory.path().join("store.sqlite3"), clock.clone())
            .await
            .unwrap(),
    );
    let advance = |duration| clock.advance(duration);

    conformance::run(store, Config::new().with_expiry(Expiry::Advance(&advance))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_sqlite_store_conforms() {
    let directory = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let inner: Arc<dyn Store> = Arc::new(
        SqliteStore::open(directory.path().join("store.sqlite3"), clock.clone())
            .await
            .unwrap(),
    );
    let store: Arc<dyn Store> = Arc::new(SealedStore::new(
        inner,
        ring(&[("old", 1), ("current", 2)]),
        Arc::new(CountingRandom::default()),
    ));
    let advance = |duration| clock.advance(duration);

    conformance::run(store, Config::new().with_expiry(Expiry::Advance(&advance))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_take_a_value_once_between_them() {
    // Two processes sharing the file behave like two pools: `take` stays single-use.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.sqlite3");
    let clock = Arc::new(ManualClock::default());
    let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, clock.clone()).await.unwrap());
    let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, clock.clone()).await.unwrap());
    let key = StoreKey::raw("state");

    for round in 0..20 {
        first.put(&key, vec![round], None).await.unwrap();
        let (a, b) = tokio::join!(first.take(&key), second.take(&key));
        let winners = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_sqlite_store_answers_errors() {
    let directory = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        directory.path().join("store.sqlite3"),
        Arc::new(ManualClock::default()),
    )
    .await
    .unwrap();
    store.close();

    conformance::run_unreachable(Arc::new(store), Duration::from_secs(5)).await;
}

#[tokio::test]
async fn values_survive_reopening_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.sqlite3");
    let clock = Arc::new(ManualClock::default());
    let key = StoreKey::hashed("grant", &["alice", "notes"]);
    {
        let store = SqliteStore::open(&path, clock.clone()).await.unwrap();
        store
            .put(&key, b"kept".to_vec(), Some(Duration::from_secs(3600)))
            .await
            .unwrap();
        store.close();
    }

    let store = SqliteStore::open(&path, clock).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"kept"[..])
    );
}

#[tokio::test]
async fn the_file_holds_no_value_in_clear_and_rotation_reseals_under_the_newest_key() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("store.sqlite3");
    let clock = Arc::new(ManualClock::default());
    let backend: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, clock).await.unwrap());
    let random = Arc::new(CountingRandom::default());
    let token = b"gho_access_token_in_clear_0123456789";
    let key = StoreKey::hashed("grant", &["alice", "github"]);

    // Sealed under the old ring.
    let old = SealedStore::new(backend.clone(), ring(&[("k1", 1)]), random.clone());
    old.put(&key, token.to_vec(), None).await.unwrap();
    let rows = dump(&path);
    assert_eq!(rows.len(), 1);
    assert!(
        !contains(&rows[0].1, token),
        "the token is in clear in SQLite"
    );
    assert!(!rows[0].0.contains("alice"), "the key names the principal");
    assert_eq!(key_id(&rows[0].1), "k1");

    // A ring that gained a key still opens the old record, and a rewrite seals under the new key.
    let rotated = SealedStore::new(
        backend.clone(),
        ring(&[("k1", 1), ("k2", 2)]),
        random.clone(),
    );
    assert_eq!(
        rotated.get(&key).await.unwrap().as_deref(),
        Some(&token[..])
    );
    rotated.put(&key, token.to_vec(), None).await.unwrap();
    let rows = dump(&path);
    assert_eq!(key_id(&rows[0].1), "k2");
    assert!(!contains(&rows[0].1, token));

    // Once the old key is dropped, the rewritten record still opens.
    let newest = SealedStore::new(backend, ring(&[("k2", 2)]), random);
    assert_eq!(newest.get(&key).await.unwrap().as_deref(), Some(&token[..]));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The key id in a sealed record's header (format version 1).
fn key_id(record: &[u8]) -> &str {
    let length = usize::from(record[1]);
    std::str::from_utf8(&record[2..2 + length]).unwrap()
}

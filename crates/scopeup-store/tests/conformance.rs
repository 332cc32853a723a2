//! The conformance suite run against this crate's own stores, as a third-party adapter runs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scopeup_core::{Random, RandomError, Store, StoreError, StoreKey};
use scopeup_store::conformance::{self, Config, Expiry};
use scopeup_store::{KeyId, KeyRing, ManualClock, MemoryStore, SealedStore, SealingKey};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let clock = Arc::new(ManualClock::default());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let advance = |duration| clock.advance(duration);

    conformance::run(store, Config::new().with_expiry(Expiry::Advance(&advance))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sealed_memory_store_conforms() {
    let clock = Arc::new(ManualClock::default());
    let inner: Arc<dyn Store> = Arc::new(MemoryStore::new(clock.clone()));
    let ring = KeyRing::new(KeyId::new("old").unwrap(), SealingKey::from_bytes([1; 32]))
        .with_key(
            KeyId::new("current").unwrap(),
            SealingKey::from_bytes([2; 32]),
        )
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(SealedStore::new(
        inner,
        ring,
        Arc::new(CountingRandom::default()),
    ));
    let advance = |duration| clock.advance(duration);

    conformance::run(store, Config::new().with_expiry(Expiry::Advance(&advance))).await;
}

#[tokio::test]
async fn memory_store_conforms_on_a_single_thread_without_expiry_checks() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));

    conformance::run(store, Config::new().with_key_prefix("other/")).await;
}

#[tokio::test]
#[should_panic(
    expected = "store conformance: property `take returns the value once and removes \
                           it` does not hold"
)]
async fn a_store_that_breaks_a_property_is_named_in_the_panic() {
    let store: Arc<dyn Store> = Arc::new(ForgetfulTake(MemoryStore::new(Arc::new(
        ManualClock::default(),
    ))));

    conformance::run(store, Config::new()).await;
}

/// A store whose `take` reads without removing.
struct ForgetfulTake(MemoryStore);

#[async_trait::async_trait]
impl Store for ForgetfulTake {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).await
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.0.put(key, value, ttl).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.0.delete(key).await
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).await
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        self.0.compare_and_swap(key, expected, new, ttl).await
    }
}

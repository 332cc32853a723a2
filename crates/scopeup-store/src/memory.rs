//! A store in the process's memory: for tests, examples, benchmarks and single-process servers
//! that accept losing every grant and pending elicitation on restart.
//!
//! It does not seal values itself; wrap it in a [`SealedStore`](crate::SealedStore) like any
//! other backend.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use scopeup_core::{Clock, Store, StoreError, StoreKey, UnixTime};

/// How many writes pass between two sweeps of expired entries.
const WRITES_BETWEEN_SWEEPS: u32 = 1024;

/// A [`Store`] held in a `HashMap` behind a mutex.
///
/// Expiry is measured with the [`Clock`] it is given, so tests move time with a
/// [`ManualClock`](crate::ManualClock). An expired entry behaves as absent at once; its memory is
/// reclaimed when it is next touched, by a sweep every 1024 writes, or by
/// [`purge_expired`](Self::purge_expired).
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

/// Keys and values are boxed slices, exactly as long as they are: a pending elicitation holds
/// a few records, and a hundred thousand of them should fit in tens of megabytes.
#[derive(Default)]
struct State {
    entries: HashMap<Box<str>, Entry>,
    writes_since_sweep: u32,
}

struct Entry {
    value: Box<[u8]>,
    expires_at: Option<UnixTime>,
}

impl MemoryStore {
    /// An empty store that measures expiry with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Mutex::new(State::default()),
        }
    }

    /// Removes every expired entry now.
    pub fn purge_expired(&self) {
        let now = self.clock.now();
        self.lock().entries.retain(|_, entry| entry.is_live(now));
    }

    /// The number of live entries.
    pub fn len(&self) -> usize {
        let now = self.clock.now();
        self.lock()
            .entries
            .values()
            .filter(|entry| entry.is_live(now))
            .count()
    }

    /// Whether no live entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state, also when another thread panicked while holding the lock: every operation
    /// leaves the map consistent between statements, so a poisoned map is still sound.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("entries", &self.lock().entries.len())
            .finish()
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Store for MemoryStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        Ok(state.live(key, now).map(|entry| entry.value.to_vec()))
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.write(key, Entry::new(value, ttl, now), now);
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.lock().entries.remove(key.as_str());
        Ok(())
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();
        let Some(entry) = state.entries.remove(key.as_str()) else {
            return Ok(None);
        };
        Ok(entry.is_live(now).then(|| entry.value.into_vec()))
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let mut state = self.lock();

        let current = state.live(key, now).map(|entry| &*entry.value);
        if current != expected {
            return Ok(false);
        }

        match new {
            Some(value) => state.write(key, Entry::new(value, ttl, now), now),
            None => {
                state.entries.remove(key.as_str());
            }
        }
        Ok(true)
    }
}

impl State {
    /// The live entry under `key`, removing it first when it has expired.
    fn live(&mut self, key: &StoreKey, now: UnixTime) -> Option<&Entry> {
        let key = key.as_str();
        if self
            .entries
            .get(key)
            .is_some_and(|entry| !entry.is_live(now))
        {
            self.entries.remove(key);
        }
        self.entries.get(key)
    }

    /// Stores `entry`, sweeping expired entries every [`WRITES_BETWEEN_SWEEPS`] writes so that
    /// keys nobody reads again (abandoned OAuth states) do not pile up.
    fn write(&mut self, key: &StoreKey, entry: Entry, now: UnixTime) {
        self.entries.insert(key.as_str().into(), entry);

        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= WRITES_BETWEEN_SWEEPS {
            self.writes_since_sweep = 0;
            self.entries.retain(|_, entry| entry.is_live(now));
        }
    }
}

impl Entry {
    fn new(value: Vec<u8>, ttl: Option<Duration>, now: UnixTime) -> Self {
        Self {
            value: value.into_boxed_slice(),
            expires_at: ttl.map(|ttl| now.saturating_add(ttl)),
        }
    }

    /// Live until its expiry time; at that instant it is gone.
    fn is_live(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|expires_at| now < expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn store() -> (Arc<ManualClock>, MemoryStore) {
        let clock = Arc::new(ManualClock::default());
        let store = MemoryStore::new(clock.clone());
        (clock, store)
    }

    #[tokio::test]
    async fn an_entry_expires_exactly_at_its_ttl() {
        let (clock, store) = store();
        let key = StoreKey::raw("k");
        store
            .put(&key, b"v".to_vec(), Some(Duration::from_secs(10)))
            .await
            .unwrap();

        clock.advance(Duration::from_millis(9_999));
        assert_eq!(store.get(&key).await.unwrap(), Some(b"v".to_vec()));

        clock.advance(Duration::from_millis(1));
        assert_eq!(store.get(&key).await.unwrap(), None);
        assert_eq!(store.take(&key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn expired_entries_are_purged_and_not_counted() {
        let (clock, store) = store();
        store
            .put(
                &StoreKey::raw("short"),
                vec![1],
                Some(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        store
            .put(&StoreKey::raw("long"), vec![2], None)
            .await
            .unwrap();
        assert_eq!(store.len(), 2);

        clock.advance(Duration::from_secs(2));
        assert_eq!(store.len(), 1);
        assert_eq!(store.lock().entries.len(), 2);

        store.purge_expired();
        assert_eq!(store.lock().entries.len(), 1);
        assert!(!store.is_empty());
    }

    #[tokio::test]
    async fn reading_an_expired_entry_removes_it() {
        let (clock, store) = store();
        let key = StoreKey::raw("k");
        store
            .put(&key, vec![1], Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));

        assert_eq!(store.get(&key).await.unwrap(), None);
        assert!(store.lock().entries.is_empty());
    }

    #[tokio::test]
    async fn writes_sweep_expired_entries_now_and_then() {
        let (clock, store) = store();
        store
            .put(
                &StoreKey::raw("stale"),
                vec![0],
                Some(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));

        for index in 0..WRITES_BETWEEN_SWEEPS {
            store
                .put(&StoreKey::raw(index.to_string()), vec![1], None)
                .await
                .unwrap();
        }

        assert!(!store.lock().entries.contains_key("stale"));
    }

    #[tokio::test]
    async fn a_poisoned_lock_is_recovered() {
        let (_clock, store) = store();
        let store = Arc::new(store);
        let key = StoreKey::raw("k");
        store.put(&key, vec![1], None).await.unwrap();

        let poisoner = Arc::clone(&store);
        let outcome = std::thread::spawn(move || {
            let _guard = poisoner.state.lock();
            panic!("poisoning the lock on purpose");
        })
        .join();
        assert!(outcome.is_err());
        assert!(store.state.is_poisoned());

        assert_eq!(store.get(&key).await.unwrap(), Some(vec![1]));
        assert!(
            store
                .compare_and_swap(&key, Some(&[1]), Some(vec![2]), None)
                .await
                .unwrap()
        );
        assert_eq!(store.take(&key).await.unwrap(), Some(vec![2]));
    }

    #[test]
    fn debug_shows_no_values() {
        let (_clock, store) = store();
        assert_eq!(format!("{store:?}"), "MemoryStore { entries: 0 }");
    }
}

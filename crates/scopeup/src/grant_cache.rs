//! The grants `token_for` opened last, reused while their sealed records stay the same.
//!
//! Every call still reads the grant's record from the store, which stays the one source of
//! truth: another instance's refresh, a revocation or a deletion is seen at once. Only the AEAD
//! open and the decoding are skipped, and only when the record read is byte for byte the one
//! opened before; the same bytes under the same key open to the same grant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use scopeup_core::{Grant, StoreKey};

/// Opened grants by store key, at most `capacity` of them.
pub(crate) struct GrantCache {
    capacity: usize,
    entries: Mutex<HashMap<StoreKey, Opened>>,
}

/// A sealed record and the grant it opened to.
struct Opened {
    record: Vec<u8>,
    grant: Arc<Grant>,
}

impl GrantCache {
    /// A cache of at most `capacity` grants; zero keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The grant `record` opened to before, when this exact record was opened under `key`.
    pub(crate) fn get(&self, key: &StoreKey, record: &[u8]) -> Option<Arc<Grant>> {
        let entries = self.lock();
        let opened = entries.get(key)?;
        (opened.record == record).then(|| opened.grant.clone())
    }

    /// Remembers that `record` under `key` opened to `grant`. When full, an arbitrary entry
    /// makes room: a miss only costs one open.
    pub(crate) fn insert(&self, key: &StoreKey, record: Vec<u8>, grant: Arc<Grant>) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            let victim = entries.keys().next().cloned();
            if let Some(victim) = victim {
                entries.remove(&victim);
            }
        }
        entries.insert(key.clone(), Opened { record, grant });
    }

    /// Forgets the grant under `key`.
    pub(crate) fn remove(&self, key: &StoreKey) {
        self.lock().remove(key);
    }

    /// The entries, also when another thread panicked while holding the lock: each operation
    /// leaves the map whole.
    fn lock(&self) -> MutexGuard<'_, HashMap<StoreKey, Opened>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use scopeup_core::{AccessToken, AccountId, ScopeSet, UnixTime};

    use super::*;

    fn grant(token: &str) -> Arc<Grant> {
        Arc::new(Grant {
            access_token: AccessToken::new(token),
            refresh_token: None,
            scopes: ScopeSet::parse("notes:read").unwrap(),
            requested: ScopeSet::parse("notes:read").unwrap(),
            expires_at: None,
            issuer: None,
            token_endpoint: url::Url::parse("https://notes.example/token").unwrap(),
            account: AccountId::new("alice").unwrap(),
            obtained_at: UnixTime::from_millis(0),
            replaces: None,
        })
    }

    #[test]
    fn only_the_same_record_gives_the_grant_back() {
        let cache = GrantCache::new(4);
        let key = StoreKey::hashed("grant", &["alice", "notes"]);
        cache.insert(&key, b"sealed-1".to_vec(), grant("first"));

        let hit = cache.get(&key, b"sealed-1").unwrap();
        assert_eq!(hit.access_token.expose_secret(), "first");
        assert!(cache.get(&key, b"sealed-2").is_none(), "a rewritten record");
        let other = StoreKey::hashed("grant", &["bob", "notes"]);
        assert!(cache.get(&other, b"sealed-1").is_none(), "another key");

        cache.remove(&key);
        assert!(cache.get(&key, b"sealed-1").is_none());
    }

    #[test]
    fn it_holds_at_most_its_capacity() {
        let cache = GrantCache::new(2);
        for index in 0..5 {
            let key = StoreKey::hashed("grant", &[&index.to_string()]);
            cache.insert(&key, vec![index], grant("token"));
        }
        assert_eq!(cache.lock().len(), 2);
        let last = StoreKey::hashed("grant", &["4"]);
        assert!(cache.get(&last, &[4]).is_some(), "the newest entry is kept");

        let none = GrantCache::new(0);
        none.insert(&last, vec![4], grant("token"));
        assert!(none.get(&last, &[4]).is_none());
    }
}

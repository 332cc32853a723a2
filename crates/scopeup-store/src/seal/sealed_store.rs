//! The store wrapper that seals values on the way in and opens them on the way out.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::aead::AeadInOut;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305};
use scopeup_core::{Random, Store, StoreError, StoreKey};
use zeroize::Zeroizing;

use super::key_ring::{KeyId, KeyRing};

/// The format version this build writes and reads.
const FORMAT_VERSION: u8 = 1;

/// The length of an XChaCha20 nonce.
const NONCE_LEN: usize = 24;

/// The length of a Poly1305 tag.
const TAG_LEN: usize = 16;

/// How often [`SealedStore::compare_and_swap`] reads again when the sealed record changed
/// between its read and its swap.
const SWAP_ATTEMPTS: usize = 4;

/// A [`Store`] that seals every value with XChaCha20-Poly1305 before handing it to the store it
/// wraps, and opens it on the way back.
///
/// Values are sealed under the [`KeyRing`]'s current key with a fresh nonce from the [`Random`]
/// port, and bound to their [`StoreKey`]. A record that does not open (sealed under a key the
/// ring does not hold, altered, truncated, or copied from another key) is reported as
/// [`StoreError::Corrupt`] with a [`SealError`] as its source. The record format is described in
/// the [module docs](crate::seal).
///
/// `take` removes the record before opening it, so a record it reports as corrupt is gone.
pub struct SealedStore {
    inner: Arc<dyn Store>,
    ring: KeyRing,
    random: Arc<dyn Random>,
}

/// Why a value could not be sealed or a sealed record could not be opened. Found as the source
/// of a [`StoreError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The record is shorter than its header, nonce and tag.
    #[error("sealed record is truncated")]
    Truncated,
    /// The record starts with a format version this build does not read.
    #[error("sealed record has unknown format version {version}")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The record's key id is not a valid key id.
    #[error("sealed record holds a malformed key id")]
    MalformedKeyId,
    /// The record was sealed under a key the ring does not hold (dropped from the ring too
    /// early, or the ring of another deployment).
    #[error("sealed record names key id `{key_id}`, which is not in the key ring")]
    UnknownKeyId {
        /// The id the record names.
        key_id: KeyId,
    },
    /// The record failed authentication: it was altered, or copied from another store key.
    #[error("sealed record failed authentication")]
    Authentication,
    /// The value is longer than XChaCha20-Poly1305 can seal in one message.
    #[error("value is too long to seal")]
    TooLong,
}

impl SealedStore {
    /// Seals values stored in `inner` under the current key of `ring`, with nonces from
    /// `random`.
    pub fn new(inner: Arc<dyn Store>, ring: KeyRing, random: Arc<dyn Random>) -> Self {
        Self {
            inner,
            ring,
            random,
        }
    }

    /// Seals `value` for storage under `key`.
    fn seal(&self, key: &StoreKey, value: &[u8]) -> Result<Vec<u8>, StoreError> {
        let (key_id, sealing_key) = self.ring.current();

        let mut nonce = [0; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .map_err(|error| StoreError::Unavailable(Box::new(error)))?;

        // Header, nonce and value; the value is then encrypted where it lies.
        let mut record =
            Vec::with_capacity(2 + key_id.as_str().len() + NONCE_LEN + value.len() + TAG_LEN);
        record.push(FORMAT_VERSION);
        // A key id is at most 32 bytes long, so its length fits in a byte.
        record.push(key_id.as_str().len() as u8);
        record.extend_from_slice(key_id.as_str().as_bytes());
        let associated_data = associated_data(&record, key);
        record.extend_from_slice(&nonce);
        let body_start = record.len();
        record.extend_from_slice(value);

        let cipher = XChaCha20Poly1305::new(sealing_key.expose_secret().into());
        let tag = cipher
            .encrypt_inout_detached(
                (&nonce).into(),
                &associated_data,
                record[body_start..].as_mut().into(),
            )
            .map_err(|_| StoreError::Backend(Box::new(SealError::TooLong)))?;
        record.extend_from_slice(&tag);
        Ok(record)
    }

    /// Opens a record that was read from the wrapped store under `key`, as [`Store::get`]
    /// would: for a caller that reads the wrapped store itself (to compare records before
    /// paying for an open).
    pub fn open_record(&self, key: &StoreKey, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.open(key, record)
    }

    /// Opens a record read from under `key`.
    fn open(&self, key: &StoreKey, record: &[u8]) -> Result<Vec<u8>, StoreError> {
        open(&self.ring, key, record).map_err(|error| StoreError::Corrupt(Box::new(error)))
    }
}

impl fmt::Debug for SealedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedStore")
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Store for SealedStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.inner.get(key).await? else {
            return Ok(None);
        };
        self.open(key, &record).map(Some)
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let value = Zeroizing::new(value);
        let record = self.seal(key, &value)?;
        self.inner.put(key, record, ttl).await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.inner.take(key).await? else {
            return Ok(None);
        };
        self.open(key, &record).map(Some)
    }

    /// Compares `expected` with the opened value, then swaps the sealed record it opened for
    /// `new`, sealed under the current key. When the record changed between the two steps (a
    /// concurrent write, perhaps of the same value under a fresh nonce) it reads again, a few
    /// times, and then answers `false` as if the value had not matched: callers retry anyway.
    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let new = new.map(Zeroizing::new);
        let sealed_new = match &new {
            Some(value) => Some(self.seal(key, value)?),
            None => None,
        };

        // "No live value" needs no opening: the inner store checks it atomically.
        let Some(expected) = expected else {
            return self
                .inner
                .compare_and_swap(key, None, sealed_new, ttl)
                .await;
        };

        for _ in 0..SWAP_ATTEMPTS {
            let Some(current) = self.inner.get(key).await? else {
                return Ok(false);
            };
            let opened = Zeroizing::new(self.open(key, &current)?);
            if opened.as_slice() != expected {
                return Ok(false);
            }

            let swapped = self
                .inner
                .compare_and_swap(key, Some(&current), sealed_new.clone(), ttl)
                .await?;
            if swapped {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Opens `record`, sealed under `key` with a key of `ring`.
fn open(ring: &KeyRing, key: &StoreKey, record: &[u8]) -> Result<Vec<u8>, SealError> {
    // Header: version, key id length, key id.
    let [version, id_len, rest @ ..] = record else {
        return Err(SealError::Truncated);
    };
    if *version != FORMAT_VERSION {
        return Err(SealError::UnknownVersion { version: *version });
    }
    let id_len = usize::from(*id_len);
    if rest.len() < id_len + NONCE_LEN + TAG_LEN {
        return Err(SealError::Truncated);
    }
    let (key_id, rest) = rest.split_at(id_len);
    let key_id = KeyId::from_record(key_id).ok_or(SealError::MalformedKeyId)?;
    let Some(sealing_key) = ring.key(&key_id) else {
        return Err(SealError::UnknownKeyId { key_id });
    };

    // Nonce, ciphertext, tag.
    let (nonce, rest) = rest.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Truncated)?;
    let tag = Tag::try_from(tag).map_err(|_| SealError::Truncated)?;

    // Decrypt a copy: the cipher checks the tag before it writes any plaintext.
    let header_len = 2 + id_len;
    let associated_data = associated_data(&record[..header_len], key);
    let mut value = ciphertext.to_vec();
    let cipher = XChaCha20Poly1305::new(sealing_key.expose_secret().into());
    cipher
        .decrypt_inout_detached(
            (&nonce).into(),
            &associated_data,
            value.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| SealError::Authentication)?;
    Ok(value)
}

/// The associated data of a record: its header, then the text of its store key.
fn associated_data(header: &[u8], key: &StoreKey) -> Vec<u8> {
    let mut data = Vec::with_capacity(header.len() + key.as_str().len());
    data.extend_from_slice(header);
    data.extend_from_slice(key.as_str().as_bytes());
    data
}

#[cfg(test)]
#[cfg(feature = "memory")]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, Ordering};

    use scopeup_core::RandomError;

    use super::*;
    use crate::{ManualClock, MemoryStore, SealingKey};

    /// Distinct, predictable nonces: a counter, repeated.
    #[derive(Default)]
    struct CountingRandom(AtomicU64);

    impl Random for CountingRandom {
        fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
            let count = self.0.fetch_add(1, Ordering::SeqCst).to_be_bytes();
            for (byte, source) in buffer.iter_mut().zip(count.iter().cycle()) {
                *byte = *source;
            }
            Ok(())
        }
    }

    struct BrokenRandom;

    impl Random for BrokenRandom {
        fn fill(&self, _buffer: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError("no entropy".into()))
        }
    }

    fn ring(ids: &[&str]) -> KeyRing {
        let mut keys = ids.iter().enumerate().map(|(index, id)| {
            (
                KeyId::new(*id).unwrap(),
                SealingKey::from_bytes([index as u8 + 1; 32]),
            )
        });
        let (id, key) = keys.next().unwrap();
        keys.fold(KeyRing::new(id, key), |ring, (id, key)| {
            ring.with_key(id, key).unwrap()
        })
    }

    fn sealed(ids: &[&str]) -> (Arc<MemoryStore>, SealedStore) {
        let inner = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
        let store = SealedStore::new(
            inner.clone(),
            ring(ids),
            Arc::new(CountingRandom::default()),
        );
        (inner, store)
    }

    fn seal_error(error: StoreError) -> SealError {
        let StoreError::Corrupt(source) = error else {
            panic!("expected a corrupt record, got {error:?}");
        };
        source
            .downcast_ref::<SealError>()
            .cloned()
            .expect("the source is a SealError")
    }

    fn key_id_of(record: &[u8]) -> &str {
        std::str::from_utf8(&record[2..2 + usize::from(record[1])]).unwrap()
    }

    #[tokio::test]
    async fn sealed_values_hold_no_plaintext() {
        let (inner, store) = sealed(&["k1"]);
        let key = StoreKey::hashed("grant", &["alice", "github"]);
        let value = br#"{"access_token":"gho_SECRETTOKEN"}"#.to_vec();

        store.put(&key, value.clone(), None).await.unwrap();

        let raw = inner.get(&key).await.unwrap().unwrap();
        assert!(
            !raw.windows(b"gho_SECRETTOKEN".len())
                .any(|window| window == b"gho_SECRETTOKEN")
        );
        assert!(
            !raw.windows(b"SECRET".len())
                .any(|window| window == b"SECRET")
        );
        assert_eq!(raw.len(), value.len() + 2 + 2 + NONCE_LEN + TAG_LEN);
        assert_eq!(raw[0], FORMAT_VERSION);
        assert_eq!(key_id_of(&raw), "k1");
        assert_eq!(store.get(&key).await.unwrap(), Some(value));
    }

    #[tokio::test]
    async fn every_write_uses_a_fresh_nonce() {
        let (inner, store) = sealed(&["k1"]);
        let key = StoreKey::raw("k");

        store.put(&key, b"same".to_vec(), None).await.unwrap();
        let first = inner.get(&key).await.unwrap().unwrap();
        store.put(&key, b"same".to_vec(), None).await.unwrap();
        let second = inner.get(&key).await.unwrap().unwrap();

        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn a_record_copied_to_another_key_does_not_open() {
        let (inner, store) = sealed(&["k1"]);
        let alice = StoreKey::hashed("grant", &["alice", "github"]);
        let mallory = StoreKey::hashed("grant", &["mallory", "github"]);
        store
            .put(&alice, b"alice's token".to_vec(), None)
            .await
            .unwrap();

        let raw = inner.get(&alice).await.unwrap().unwrap();
        inner.put(&mallory, raw, None).await.unwrap();

        let error = store.get(&mallory).await.unwrap_err();
        assert_eq!(seal_error(error), SealError::Authentication);
        let error = store.take(&mallory).await.unwrap_err();
        assert_eq!(seal_error(error), SealError::Authentication);
    }

    #[tokio::test]
    async fn older_keys_still_open_and_rewrites_seal_under_the_newest() {
        let inner = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
        let random = Arc::new(CountingRandom::default());
        let before = SealedStore::new(inner.clone(), ring(&["k1"]), random.clone());
        let key = StoreKey::raw("grant");
        before.put(&key, b"v1".to_vec(), None).await.unwrap();

        let after = SealedStore::new(inner.clone(), ring(&["k1", "k2"]), random);
        assert_eq!(after.get(&key).await.unwrap(), Some(b"v1".to_vec()));
        let raw = inner.get(&key).await.unwrap().unwrap();
        assert_eq!(key_id_of(&raw), "k1");

        assert!(
            after
                .compare_and_swap(&key, Some(b"v1"), Some(b"v2".to_vec()), None)
                .await
                .unwrap()
        );
        let raw = inner.get(&key).await.unwrap().unwrap();
        assert_eq!(key_id_of(&raw), "k2");
        assert_eq!(after.get(&key).await.unwrap(), Some(b"v2".to_vec()));

        after.put(&key, b"v3".to_vec(), None).await.unwrap();
        let raw = inner.get(&key).await.unwrap().unwrap();
        assert_eq!(key_id_of(&raw), "k2");
    }

    #[tokio::test]
    async fn a_record_under_a_key_the_ring_lacks_is_corrupt() {
        let inner = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
        let random = Arc::new(CountingRandom::default());
        let old = SealedStore::new(inner.clone(), ring(&["retired"]), random.clone());
        let key = StoreKey::raw("grant");
        old.put(&key, b"v".to_vec(), None).await.unwrap();

        let new = SealedStore::new(inner, ring(&["current"]), random);
        let error = new.get(&key).await.unwrap_err();
        let expected = SealError::UnknownKeyId {
            key_id: KeyId::new("retired").unwrap(),
        };
        assert_eq!(seal_error(error), expected);
    }

    #[tokio::test]
    async fn a_key_with_the_same_id_but_other_bytes_does_not_open() {
        let inner = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
        let random = Arc::new(CountingRandom::default());
        let first = SealedStore::new(inner.clone(), ring(&["k1"]), random.clone());
        let key = StoreKey::raw("grant");
        first.put(&key, b"v".to_vec(), None).await.unwrap();

        let other_ring = KeyRing::new(KeyId::new("k1").unwrap(), SealingKey::from_bytes([9; 32]));
        let second = SealedStore::new(inner, other_ring, random);
        assert_eq!(
            seal_error(second.get(&key).await.unwrap_err()),
            SealError::Authentication
        );
    }

    #[tokio::test]
    async fn any_altered_byte_makes_the_record_corrupt() {
        let (inner, store) = sealed(&["k1", "k2"]);
        let key = StoreKey::raw("grant");
        store.put(&key, b"a grant".to_vec(), None).await.unwrap();
        let raw = inner.get(&key).await.unwrap().unwrap();

        for index in 0..raw.len() {
            let mut altered = raw.clone();
            altered[index] ^= 0x01;
            inner.put(&key, altered, None).await.unwrap();

            let error = store.get(&key).await.unwrap_err();
            assert!(
                matches!(error, StoreError::Corrupt(_)),
                "byte {index}: {error:?}"
            );
        }
    }

    #[tokio::test]
    async fn malformed_records_are_corrupt_not_a_panic() {
        let (inner, store) = sealed(&["k1"]);
        let key = StoreKey::raw("grant");
        let nameless = [&[1, 0][..], &[0; NONCE_LEN + TAG_LEN]].concat();
        let cases: [(&[u8], SealError); 6] = [
            (b"", SealError::Truncated),
            (&[1], SealError::Truncated),
            (
                &[2, 2, b'k', b'1'],
                SealError::UnknownVersion { version: 2 },
            ),
            (&[1, 2, b'k', b'1', 0, 0], SealError::Truncated),
            (&nameless, SealError::MalformedKeyId),
            (&[1, 255, 0, 0], SealError::Truncated),
        ];

        for (record, expected) in cases {
            inner.put(&key, record.to_vec(), None).await.unwrap();
            assert_eq!(
                seal_error(store.get(&key).await.unwrap_err()),
                expected,
                "{record:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_failing_random_source_stores_nothing() {
        let inner = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
        let store = SealedStore::new(inner.clone(), ring(&["k1"]), Arc::new(BrokenRandom));
        let key = StoreKey::raw("k");

        let error = store.put(&key, b"v".to_vec(), None).await.unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = store
            .compare_and_swap(&key, None, Some(b"v".to_vec()), None)
            .await;
        assert!(
            matches!(error, Err(StoreError::Unavailable(_))),
            "{error:?}"
        );
        assert!(inner.is_empty());
    }

    #[tokio::test]
    async fn swapping_against_a_corrupt_record_is_an_error() {
        let (inner, store) = sealed(&["k1"]);
        let key = StoreKey::raw("k");
        inner.put(&key, b"not sealed".to_vec(), None).await.unwrap();

        let outcome = store
            .compare_and_swap(&key, Some(b"x"), Some(b"y".to_vec()), None)
            .await;
        assert!(
            matches!(outcome, Err(StoreError::Corrupt(_))),
            "{outcome:?}"
        );
        let swapped = store
            .compare_and_swap(&key, None, Some(b"y".to_vec()), None)
            .await
            .unwrap();
        assert!(!swapped);
        assert_eq!(inner.get(&key).await.unwrap(), Some(b"not sealed".to_vec()));
    }

    /// Before the first swap it is asked for, rewrites the record with `rewrite`, as a
    /// concurrent writer storing the same value again would.
    struct RacingStore {
        inner: MemoryStore,
        rewrite: Mutex<Option<Vec<u8>>>,
    }

    #[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
    #[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
    impl Store for RacingStore {
        async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.get(key).await
        }

        async fn put(
            &self,
            key: &StoreKey,
            value: Vec<u8>,
            ttl: Option<Duration>,
        ) -> Result<(), StoreError> {
            self.inner.put(key, value, ttl).await
        }

        async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
            self.inner.delete(key).await
        }

        async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
            self.inner.take(key).await
        }

        async fn compare_and_swap(
            &self,
            key: &StoreKey,
            expected: Option<&[u8]>,
            new: Option<Vec<u8>>,
            ttl: Option<Duration>,
        ) -> Result<bool, StoreError> {
            let rewrite = self.rewrite.lock().unwrap().take();
            if let Some(rewrite) = rewrite {
                self.inner.put(key, rewrite, None).await?;
            }
            self.inner.compare_and_swap(key, expected, new, ttl).await
        }
    }

    #[tokio::test]
    async fn a_concurrent_rewrite_of_the_same_value_does_not_fail_the_swap() {
        let racing = Arc::new(RacingStore {
            inner: MemoryStore::new(Arc::new(ManualClock::default())),
            rewrite: Mutex::new(None),
        });
        let store = SealedStore::new(
            racing.clone(),
            ring(&["k1"]),
            Arc::new(CountingRandom::default()),
        );
        let key = StoreKey::raw("lease");
        store.put(&key, b"v".to_vec(), None).await.unwrap();
        let first = racing.get(&key).await.unwrap().unwrap();
        store.put(&key, b"v".to_vec(), None).await.unwrap();
        let second = racing.get(&key).await.unwrap().unwrap();
        racing.put(&key, first, None).await.unwrap();
        *racing.rewrite.lock().unwrap() = Some(second);

        let swapped = store
            .compare_and_swap(&key, Some(b"v"), Some(b"w".to_vec()), None)
            .await
            .unwrap();

        assert!(swapped);
        assert_eq!(store.get(&key).await.unwrap(), Some(b"w".to_vec()));
    }

    #[test]
    fn debug_shows_the_ring_without_keys() {
        let (_inner, store) = sealed(&["k1"]);
        assert_eq!(
            format!("{store:?}"),
            r#"SealedStore { ring: KeyRing { current: KeyId("k1"), older: [] }, .. }"#
        );
    }
}

//! Implementations of the [`Store`](scopeup_core::Store) port for scopeup, the sealing layer that
//! encrypts every value before it reaches a backend, and the conformance suite that every store
//! adapter runs.
//!
//! The engine never hands a backend a plaintext token: it wraps the backend in a
//! [`SealedStore`], which seals each value with XChaCha20-Poly1305 under the newest key of a
//! [`KeyRing`] and binds it to the record's [`StoreKey`](scopeup_core::StoreKey), so that a value
//! copied to another key does not open.
//!
//! This crate reads neither the system clock nor the operating system's random source: time
//! comes through the [`Clock`](scopeup_core::Clock) port and randomness through the
//! [`Random`](scopeup_core::Random) port, so everything here except the conformance suite builds
//! for `wasm32-unknown-unknown`.
//!
//! # Features
//!
//! - `memory` (default): [`MemoryStore`], a store in the process's memory, for tests, examples
//!   and single-process servers that accept losing their grants on restart.
//! - `sqlite`: [`SqliteStore`], a store in one SQLite file (WAL mode), for a single server that
//!   keeps its grants across restarts. Native targets only.
//! - `redis`: [`RedisStore`], a store on a Redis server, for several instances behind a load
//!   balancer. Native targets only.
//! - `conformance`: the `conformance` module, the suite for adapters' tests. It spawns
//!   tokio tasks, so it is for native targets only. With `redis` as well, it also holds
//!   `conformance::RedisServer`, which starts a throwaway `redis-server` for tests.
//!
//! [`ManualClock`], a clock that tests move by hand, is always available.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use scopeup_core::{Random, RandomError, Store, StoreKey};
//! use scopeup_store::{KeyRing, ManualClock, MemoryStore, SealedStore};
//!
//! # struct TestRandom;
//! # impl Random for TestRandom {
//! #     fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
//! #         buffer.fill(7);
//! #         Ok(())
//! #     }
//! # }
//! # let random: Arc<dyn Random> = Arc::new(TestRandom);
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // `random` is the host's secure random source.
//! let ring = KeyRing::parse("2025-01:qmbtvWpPSBJoUdBYFvBZ1cJX3F/QLQKBqy44TVlH2sk=")?;
//! let backend = Arc::new(MemoryStore::new(Arc::new(ManualClock::default())));
//! let store = SealedStore::new(backend, ring, random);
//!
//! let key = StoreKey::hashed("grant", &["alice", "github"]);
//! store.put(&key, b"gho_example".to_vec(), Some(Duration::from_secs(3600))).await?;
//! assert_eq!(store.get(&key).await?.as_deref(), Some(&b"gho_example"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod clock;
#[cfg(feature = "conformance")]
pub mod conformance;
#[cfg(feature = "memory")]
mod memory;
#[cfg(feature = "redis")]
mod redis_store;
pub mod seal;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use clock::ManualClock;
#[cfg(feature = "memory")]
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisConfig, RedisStore};
pub use seal::{KeyId, KeyRing, KeyRingError, SealError, SealedStore, SealingKey};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

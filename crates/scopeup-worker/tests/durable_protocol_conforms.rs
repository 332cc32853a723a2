//! The Durable Object's decisions pass the store conformance suite: a native store that keeps
//! one entry per key and answers every operation with `protocol::apply`, as each object does,
//! one command at a time, with the command going over the wire as JSON.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scopeup_core::{Clock, Store, StoreError, StoreKey};
use scopeup_store::ManualClock;
use scopeup_store::conformance::{self, Config, Expiry};
use scopeup_worker::protocol::{Bytes, Command, Entry, Reply, Write, apply};

/// Every key's object, each serialising its own commands like an input gate does.
struct Objects {
    entries: Mutex<HashMap<String, Entry>>,
    clock: Arc<ManualClock>,
}

impl Objects {
    fn send(&self, key: &StoreKey, command: Command) -> Reply {
        let wire = serde_json::to_string(&command).unwrap();
        let command: Command = serde_json::from_str(&wire).unwrap();
        let mut entries = self.entries.lock().unwrap();
        let now = self.clock.now().as_millis();
        let (reply, write) = apply(entries.get(key.as_str()).cloned(), command, now);
        match write {
            Write::Keep => {}
            Write::Set(entry) => {
                entries.insert(key.as_str().to_owned(), entry);
            }
            Write::Remove => {
                entries.remove(key.as_str());
            }
            _ => panic!("a write this test does not know"),
        }
        let wire = serde_json::to_string(&reply).unwrap();
        serde_json::from_str(&wire).unwrap()
    }
}

fn millis(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|ttl| u64::try_from(ttl.as_millis()).unwrap())
}

#[async_trait::async_trait]
impl Store for Objects {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self.send(key, Command::Get) {
            Reply::Value { value } => Ok(value.map(|bytes| bytes.0)),
            other => panic!("get answered {other:?}"),
        }
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let command = Command::Put {
            value: Bytes(value),
            ttl_ms: millis(ttl),
        };
        assert_eq!(self.send(key, command), Reply::Done);
        Ok(())
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        assert_eq!(self.send(key, Command::Delete), Reply::Done);
        Ok(())
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        match self.send(key, Command::Take) {
            Reply::Value { value } => Ok(value.map(|bytes| bytes.0)),
            other => panic!("take answered {other:?}"),
        }
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let command = Command::CompareAndSwap {
            expected: expected.map(|bytes| Bytes(bytes.to_vec())),
            new: new.map(Bytes),
            ttl_ms: millis(ttl),
        };
        match self.send(key, command) {
            Reply::Swapped { swapped } => Ok(swapped),
            other => panic!("compare_and_swap answered {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_object_commands_conform() {
    let clock = Arc::new(ManualClock::default());
    let store: Arc<dyn Store> = Arc::new(Objects {
        entries: Mutex::new(HashMap::new()),
        clock: clock.clone(),
    });
    let advance = |duration| clock.advance(duration);

    conformance::run(store, Config::new().with_expiry(Expiry::Advance(&advance))).await;
}

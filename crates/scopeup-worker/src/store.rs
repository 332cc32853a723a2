//! The `Store` port on a Durable Object namespace: [`WorkerStore`] sends each record to an
//! object of its own, named after the record's hashed store key, so records never contend with
//! each other and each command is atomic (see [`crate::protocol`]).
//!
//! Workers KV is not used. It is eventually consistent across locations (a write can take a
//! minute or more to be seen elsewhere) and has no atomic take or compare-and-swap, and every
//! kind of record the engine keeps needs one or the other: OAuth state is taken exactly once,
//! elicitations, declines, rate windows and refresh leases are swapped, and grants too: a
//! refresh swaps in the new tokens only if the grant is still the one it refreshed (a
//! concurrent upgrade must not be overwritten by a narrower refresh), and a disconnect takes
//! the grant. A stale grant read from KV would also keep using a token for up to a minute after
//! the user revoked it.

use std::time::Duration;

use scopeup_core::{Store, StoreError, StoreKey};
use worker::wasm_bindgen::JsValue;
use worker::{Env, Method, ObjectNamespace, Request, RequestInit};

use crate::protocol::{Bytes, Command, Reply};
use crate::runtime::RuntimeError;

/// The `Store` of a Worker: every record on a Durable Object namespace whose class is
/// [`crate::ScopeupStore`].
pub struct WorkerStore {
    durable: ObjectNamespace,
}

impl WorkerStore {
    /// A store on the Durable Object namespace bound as `durable_binding`.
    pub fn from_env(env: &Env, durable_binding: &str) -> worker::Result<Self> {
        Ok(Self::new(env.durable_object(durable_binding)?))
    }

    /// A store on `durable`.
    pub fn new(durable: ObjectNamespace) -> Self {
        Self { durable }
    }

    async fn command(&self, key: &StoreKey, command: &Command) -> Result<Reply, StoreError> {
        let unavailable =
            |error: worker::Error| StoreError::Unavailable(Box::new(RuntimeError::new(error)));
        let stub = self
            .durable
            .id_from_name(key.as_str())
            .and_then(|id| id.get_stub())
            .map_err(unavailable)?;
        let body =
            serde_json::to_string(command).map_err(|error| StoreError::Backend(Box::new(error)))?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(JsValue::from_str(&body)));
        let request = Request::new_with_init("https://scopeup-store.internal/", &init)
            .map_err(unavailable)?;

        let mut response = stub
            .fetch_with_request(request)
            .await
            .map_err(unavailable)?;
        if response.status_code() != 200 {
            let message = format!("durable object answered {}", response.status_code());
            return Err(StoreError::Backend(Box::new(RuntimeError::new(message))));
        }
        let text = response.text().await.map_err(unavailable)?;
        serde_json::from_str(&text).map_err(|error| StoreError::Corrupt(Box::new(error)))
    }
}

#[async_trait::async_trait(?Send)]
impl Store for WorkerStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        value(self.command(key, &Command::Get).await?)
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let command = Command::Put {
            value: Bytes(value),
            ttl_ms: ttl.map(millis),
        };
        done(self.command(key, &command).await?)
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        done(self.command(key, &Command::Delete).await?)
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        value(self.command(key, &Command::Take).await?)
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
            ttl_ms: ttl.map(millis),
        };
        match self.command(key, &command).await? {
            Reply::Swapped { swapped } => Ok(swapped),
            other => Err(unexpected(&other)),
        }
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}

fn value(reply: Reply) -> Result<Option<Vec<u8>>, StoreError> {
    match reply {
        Reply::Value { value } => Ok(value.map(|bytes| bytes.0)),
        other => Err(unexpected(&other)),
    }
}

fn done(reply: Reply) -> Result<(), StoreError> {
    match reply {
        Reply::Done => Ok(()),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(reply: &Reply) -> StoreError {
    StoreError::Corrupt(Box::new(RuntimeError::new(format!(
        "durable object gave an unexpected reply: {reply:?}"
    ))))
}

//! The `Store` port on a Durable Object and Workers KV: [`WorkerStore`] sends each record to the
//! backend its [`Placement`] names.
//!
//! On the Durable Object every record is an object of its own, named after the record's hashed
//! store key, so records never contend with each other and each command is atomic (see
//! [`crate::protocol`]). On KV, reads, writes and deletes map to KV's own; atomic operations are
//! refused, because KV cannot do them, and a placement that sends a record the engine takes or
//! swaps to KV is a configuration error that the refusal makes visible at once.

use std::time::Duration;

use scopeup_core::{Store, StoreError, StoreKey};
use worker::wasm_bindgen::JsValue;
use worker::{Env, KvStore, Method, ObjectNamespace, Request, RequestInit};

use crate::placement::{Backend, Placement, kv_ttl_secs};
use crate::protocol::{Bytes, Command, Reply};
use crate::runtime::RuntimeError;

/// The `Store` of a Worker: strongly consistent records on a Durable Object namespace, the
/// others on a KV namespace.
pub struct WorkerStore {
    durable: ObjectNamespace,
    kv: Option<KvStore>,
    placement: Placement,
}

/// KV refused an atomic operation.
#[derive(Debug, thiserror::Error)]
#[error(
    "workers KV cannot take or compare-and-swap atomically; place this record kind on the durable object"
)]
pub struct NotAtomicOnKv;

impl WorkerStore {
    /// A store on the Durable Object namespace bound as `durable_binding` (whose class is
    /// [`crate::ScopeupStore`]) and the KV namespace bound as `kv_binding`, with grants on KV.
    pub fn from_env(env: &Env, durable_binding: &str, kv_binding: &str) -> worker::Result<Self> {
        Ok(Self {
            durable: env.durable_object(durable_binding)?,
            kv: Some(env.kv(kv_binding)?),
            placement: Placement::grants_on_kv(),
        })
    }

    /// A store that keeps every record on the Durable Object namespace.
    pub fn durable_only(durable: ObjectNamespace) -> Self {
        Self {
            durable,
            kv: None,
            placement: Placement::durable_only(),
        }
    }

    fn backend(&self, key: &StoreKey) -> Backend {
        match (&self.kv, self.placement.backend_for(key)) {
            (Some(_), Backend::Kv) => Backend::Kv,
            _ => Backend::DurableObject,
        }
    }

    fn kv(&self) -> Result<&KvStore, StoreError> {
        self.kv.as_ref().ok_or_else(|| {
            StoreError::Backend(Box::new(RuntimeError::new("no KV namespace bound")))
        })
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
        if self.backend(key) == Backend::Kv {
            return self
                .kv()?
                .get(key.as_str())
                .bytes()
                .await
                .map_err(|error| StoreError::Unavailable(Box::new(RuntimeError::new(error))));
        }
        value(self.command(key, &Command::Get).await?)
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        if self.backend(key) == Backend::Kv {
            let kv_error = |error: worker::KvError| {
                StoreError::Unavailable(Box::new(RuntimeError::new(error)))
            };
            let mut put = self
                .kv()?
                .put_bytes(key.as_str(), &value)
                .map_err(kv_error)?;
            if let Some(ttl) = ttl {
                put = put.expiration_ttl(kv_ttl_secs(ttl));
            }
            return put.execute().await.map_err(kv_error);
        }
        let command = Command::Put {
            value: Bytes(value),
            ttl_ms: ttl.map(millis),
        };
        done(self.command(key, &command).await?)
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        if self.backend(key) == Backend::Kv {
            return self
                .kv()?
                .delete(key.as_str())
                .await
                .map_err(|error| StoreError::Unavailable(Box::new(RuntimeError::new(error))));
        }
        done(self.command(key, &Command::Delete).await?)
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        if self.backend(key) == Backend::Kv {
            return Err(StoreError::Backend(Box::new(NotAtomicOnKv)));
        }
        value(self.command(key, &Command::Take).await?)
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        if self.backend(key) == Backend::Kv {
            return Err(StoreError::Backend(Box::new(NotAtomicOnKv)));
        }
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

//! A store on a Redis server, shared by several instances of a host behind a load balancer.
//!
//! Every operation is one server-side step: `take` is `GETDEL`, compare-and-swap a Lua script,
//! and expiry is Redis's own (`SET … PX`), so instances need no coordination of their own and
//! no agreement between their clocks. One multiplexed connection is shared by all tasks; it
//! reconnects by itself after the server comes back, and while the server is away every
//! operation fails within its timeouts as [`StoreError::Unavailable`]. Like every backend it sees
//! only sealed values: wrap it in a [`SealedStore`](crate::SealedStore).

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, RedisError, Script};
use scopeup_core::{Store, StoreError, StoreKey};

/// Compare-and-swap in one server-side step.
///
/// `ARGV[1]` is `1` when a value is expected (then `ARGV[2]` is it) and `0` when absence is;
/// `ARGV[3]` is `1` to store `ARGV[4]` and `0` to delete; `ARGV[5]` is the time to live in
/// milliseconds, `0` for none. Redis hides expired keys from `GET`, so an expired value counts as
/// absent.
const COMPARE_AND_SWAP: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
    if current ~= ARGV[2] then return 0 end
elseif current then
    return 0
end
if ARGV[3] == '1' then
    if ARGV[5] ~= '0' then
        redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
    else
        redis.call('SET', KEYS[1], ARGV[4])
    end
else
    redis.call('DEL', KEYS[1])
end
return 1
";

/// How a [`RedisStore`] connects and how long it waits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    /// How long one connection attempt may take.
    pub connect_timeout: Duration,
    /// How long one command may wait for its answer.
    pub response_timeout: Duration,
    /// How many times a lost connection is retried, with a growing delay, before the command
    /// that noticed it fails. Later commands try again.
    pub reconnect_attempts: usize,
}

impl Default for RedisConfig {
    /// One second to connect, two to answer, two reconnection attempts.
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            reconnect_attempts: 2,
        }
    }
}

/// A [`Store`] on a Redis server (Redis 6.2 or later, or a compatible server such as Valkey).
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    compare_and_swap: Script,
    address: String,
}

impl RedisStore {
    /// A store on the server at `url` (`redis://host:port/db`, `rediss://…` for TLS is not
    /// built in). The connection is made on first use, so a server that is down at start is
    /// reported by the first operation, or by [`ping`](Self::ping); a malformed URL is an error
    /// now.
    pub fn new(url: &str, config: &RedisConfig) -> Result<Self, StoreError> {
        let client =
            redis::Client::open(url).map_err(|error| StoreError::Backend(Box::new(error)))?;
        let address = client.get_connection_info().addr().to_string();
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.response_timeout))
            .set_number_of_retries(config.reconnect_attempts)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|error| StoreError::Backend(Box::new(error)))?;
        Ok(Self {
            connection,
            compare_and_swap: Script::new(COMPARE_AND_SWAP),
            address,
        })
    }

    /// Checks that the server answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Store for RedisStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        connection.get(key.as_str()).await.map_err(map_error)
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        match ttl {
            Some(ttl) => connection
                .pset_ex::<_, _, ()>(key.as_str(), value, ttl_millis(ttl))
                .await
                .map_err(map_error),
            None => connection
                .set::<_, _, ()>(key.as_str(), value)
                .await
                .map_err(map_error),
        }
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let mut connection = self.connection.clone();
        connection
            .del::<_, ()>(key.as_str())
            .await
            .map_err(map_error)
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let mut connection = self.connection.clone();
        connection.get_del(key.as_str()).await.map_err(map_error)
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        let mut invocation = self.compare_and_swap.key(key.as_str());
        invocation
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or_default())
            .arg(if new.is_some() { "1" } else { "0" })
            .arg(new.unwrap_or_default())
            .arg(ttl.map_or(0, ttl_millis));
        let swapped: i64 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(map_error)?;
        Ok(swapped == 1)
    }
}

/// A time to live in whole milliseconds, at least one (Redis refuses zero).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Connection failures and timeouts mean the server cannot be used right now; the rest are
/// refusals.
fn map_error(error: RedisError) -> StoreError {
    if error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
    {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

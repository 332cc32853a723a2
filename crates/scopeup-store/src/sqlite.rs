//! A store in one SQLite file, for a single server that keeps its grants across restarts.
//!
//! The file is opened in WAL mode through a small pool of connections; every statement runs on
//! tokio's blocking thread pool, so the async runtime never waits on the disk. Writes run in
//! `BEGIN IMMEDIATE` transactions, so `take` and compare-and-swap stay atomic also between
//! processes that share the file. Like every backend it sees only sealed values: wrap it in a
//! [`SealedStore`](crate::SealedStore).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use deadpool_sqlite::rusqlite::{self, OptionalExtension as _, TransactionBehavior, params};
use deadpool_sqlite::{Hook, HookError, Pool, PoolConfig, Runtime};
use scopeup_core::{Clock, Store, StoreError, StoreKey, UnixTime};

/// How many connections the pool opens at most.
const MAX_CONNECTIONS: usize = 8;

/// How long a statement waits for another connection's write lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a caller waits for a free connection before the store reports itself unavailable.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// How many writes pass between two sweeps of expired rows.
const WRITES_BETWEEN_SWEEPS: u32 = 256;

/// The schema: one table of sealed values with an optional expiry in Unix milliseconds.
const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS scopeup_store (
        key TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL,
        expires_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS scopeup_store_expiry
        ON scopeup_store (expires_at) WHERE expires_at IS NOT NULL;
";

/// A [`Store`] in one SQLite database file.
///
/// Expiry is measured with the [`Clock`] it is given: an expired row behaves as absent at once
/// and is deleted by a sweep every 256 writes or by [`purge_expired`](Self::purge_expired).
///
/// Drop it inside the tokio runtime that used it: its pooled connections are closed on that
/// runtime's blocking threads, and dropping it elsewhere panics.
pub struct SqliteStore {
    pool: Pool,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    writes_since_sweep: AtomicU32,
}

impl SqliteStore {
    /// Opens (creating when absent) the database at `path`, switches it to WAL mode and creates
    /// the table. The directory must exist.
    pub async fn open(path: impl AsRef<Path>, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let mut pool_config = PoolConfig::new(MAX_CONNECTIONS);
        pool_config.timeouts.wait = Some(POOL_WAIT);
        pool_config.timeouts.create = Some(POOL_WAIT);
        let config = deadpool_sqlite::Config {
            path: path.clone(),
            pool: Some(pool_config),
        };
        let pool = config
            .builder(Runtime::Tokio1)
            .map_err(|error| StoreError::Backend(Box::new(error)))?
            .post_create(Hook::async_fn(|connection, _| {
                Box::pin(async move {
                    connection
                        .interact(|connection| connection.busy_timeout(BUSY_TIMEOUT))
                        .await
                        .map_err(|error| HookError::message(error.to_string()))?
                        .map_err(HookError::Backend)
                })
            }))
            .build()
            .map_err(|error| StoreError::Backend(Box::new(error)))?;

        let store = Self {
            pool,
            path,
            clock,
            writes_since_sweep: AtomicU32::new(0),
        };
        store
            .run(|connection| {
                // WAL is a property of the file: set once, every later connection uses it.
                let mode: String =
                    connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    return Err(rusqlite::Error::InvalidParameterName(format!(
                        "journal mode {mode}"
                    )));
                }
                connection.execute_batch("PRAGMA synchronous = NORMAL;")?;
                connection.execute_batch(SCHEMA)
            })
            .await?;
        Ok(store)
    }

    /// The path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes every expired row now.
    pub async fn purge_expired(&self) -> Result<(), StoreError> {
        let now = millis(self.clock.now());
        self.run(move |connection| sweep(connection, now)).await
    }

    /// Closes the pool: operations under way finish, every later one fails as
    /// [`StoreError::Unavailable`]. For an orderly shutdown.
    pub fn close(&self) {
        self.pool.close();
    }

    /// Runs `operation` on a pooled connection on the blocking thread pool.
    async fn run<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut rusqlite::Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let connection = self
            .pool
            .get()
            .await
            .map_err(|error| StoreError::Unavailable(Box::new(error)))?;
        let outcome = connection
            .interact(operation)
            .await
            .map_err(|error| StoreError::Backend(error.to_string().into()))?;
        outcome.map_err(map_error)
    }

    /// Runs `operation` in a `BEGIN IMMEDIATE` transaction, sweeping expired rows now and then.
    async fn write<T, F>(&self, operation: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>, i64) -> Result<T, rusqlite::Error> + Send + 'static,
    {
        let now = millis(self.clock.now());
        let sweep_now =
            self.writes_since_sweep.fetch_add(1, Ordering::Relaxed) + 1 >= WRITES_BETWEEN_SWEEPS;
        if sweep_now {
            self.writes_since_sweep.store(0, Ordering::Relaxed);
        }

        self.run(move |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let answer = operation(&transaction, now)?;
            if sweep_now {
                sweep(&transaction, now)?;
            }
            transaction.commit()?;
            Ok(answer)
        })
        .await
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.as_str().to_owned();
        let now = millis(self.clock.now());
        self.run(move |connection| {
            connection
                .prepare_cached(
                    "SELECT value FROM scopeup_store \
                     WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )?
                .query_row(params![key, now], |row| row.get(0))
                .optional()
        })
        .await
    }

    async fn put(
        &self,
        key: &StoreKey,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let key = key.as_str().to_owned();
        self.write(move |transaction, now| {
            upsert(transaction, &key, &value, expires_at(now, ttl))?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, key: &StoreKey) -> Result<(), StoreError> {
        let key = key.as_str().to_owned();
        self.write(move |transaction, _| {
            transaction
                .prepare_cached("DELETE FROM scopeup_store WHERE key = ?1")?
                .execute([key])?;
            Ok(())
        })
        .await
    }

    async fn take(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let key = key.as_str().to_owned();
        self.write(move |transaction, now| {
            let removed: Option<(Vec<u8>, Option<i64>)> = transaction
                .prepare_cached(
                    "DELETE FROM scopeup_store WHERE key = ?1 RETURNING value, expires_at",
                )?
                .query_row([key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            Ok(removed.and_then(|(value, expires_at)| is_live(expires_at, now).then_some(value)))
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let key = key.as_str().to_owned();
        let expected = expected.map(<[u8]>::to_vec);
        self.write(move |transaction, now| {
            let current: Option<(Vec<u8>, Option<i64>)> = transaction
                .prepare_cached("SELECT value, expires_at FROM scopeup_store WHERE key = ?1")?
                .query_row([&key], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()?;
            let live = current
                .filter(|(_, expires_at)| is_live(*expires_at, now))
                .map(|(value, _)| value);
            if live != expected {
                return Ok(false);
            }

            match new {
                Some(value) => upsert(transaction, &key, &value, expires_at(now, ttl))?,
                None => {
                    transaction
                        .prepare_cached("DELETE FROM scopeup_store WHERE key = ?1")?
                        .execute([&key])?;
                }
            }
            Ok(true)
        })
        .await
    }
}

fn upsert(
    transaction: &rusqlite::Transaction<'_>,
    key: &str,
    value: &[u8],
    expires_at: Option<i64>,
) -> Result<(), rusqlite::Error> {
    transaction
        .prepare_cached(
            "INSERT INTO scopeup_store (key, value, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
             expires_at = excluded.expires_at",
        )?
        .execute(params![key, value, expires_at])?;
    Ok(())
}

fn sweep(connection: &rusqlite::Connection, now: i64) -> Result<(), rusqlite::Error> {
    connection
        .prepare_cached("DELETE FROM scopeup_store WHERE expires_at <= ?1")?
        .execute([now])?;
    Ok(())
}

/// A row is live until its expiry time; at that instant it is gone.
fn is_live(expires_at: Option<i64>, now: i64) -> bool {
    expires_at.is_none_or(|expires_at| now < expires_at)
}

fn expires_at(now: i64, ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|ttl| now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)))
}

/// Unix milliseconds as SQLite's signed integer, saturating in the far future.
fn millis(time: UnixTime) -> i64 {
    i64::try_from(time.as_millis()).unwrap_or(i64::MAX)
}

/// Busy, locked, I/O and file-access failures mean the database cannot be used right now; the
/// rest are refusals.
fn map_error(error: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;

    match error.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::PermissionDenied,
        ) => StoreError::Unavailable(Box::new(error)),
        _ => StoreError::Backend(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[tokio::test]
    async fn expired_rows_are_swept() {
        let directory = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::default());
        let store = SqliteStore::open(directory.path().join("db"), clock.clone())
            .await
            .unwrap();
        let key = StoreKey::raw("short");
        store
            .put(&key, vec![1], Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(Duration::from_secs(1));

        store.purge_expired().await.unwrap();

        let rows: i64 = store
            .run(|connection| {
                connection.query_row("SELECT count(*) FROM scopeup_store", [], |row| row.get(0))
            })
            .await
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[tokio::test]
    async fn the_file_is_in_wal_mode() {
        let directory = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(
            directory.path().join("db"),
            Arc::new(ManualClock::default()),
        )
        .await
        .unwrap();

        let mode: String = store
            .run(|connection| connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(format!("{store:?}").contains("SqliteStore"));
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_error_not_a_panic() {
        let directory = tempfile::tempdir().unwrap();
        let error = SqliteStore::open(
            directory.path().join("missing").join("db"),
            Arc::new(ManualClock::default()),
        )
        .await
        .unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    }
}

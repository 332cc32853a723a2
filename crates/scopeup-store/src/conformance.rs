//! The conformance suite that every [`Store`] adapter passes, exported so that third-party
//! adapters run the same checks as this workspace's own.
//!
//! Call [`run`] from one test of the adapter. It panics at the first property that fails, with a
//! message naming the property and what it saw, so the failing test says what to fix:
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use scopeup_core::Store;
//! use scopeup_store::conformance::{self, Config, Expiry};
//!
//! # fn connect_to_my_backend() -> Arc<dyn Store> {
//! #     let clock = Arc::new(scopeup_store::ManualClock::default());
//! #     Arc::new(scopeup_store::MemoryStore::new(clock))
//! # }
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_conforms() {
//!     let store: Arc<dyn Store> = connect_to_my_backend();
//!     let expiry = Expiry::Sleep { ttl: Duration::from_secs(1), wait: Duration::from_secs(3) };
//!     conformance::run(store, Config::new().with_expiry(expiry)).await;
//! }
//! ```
//!
//! The suite checks: a round trip, overwriting, deleting, missing keys, `take` (once, and by
//! exactly one of 50 concurrent takers), compare-and-swap (matching, inserting only when absent,
//! deleting, and 50 concurrent increments of one counter that all land), a large value (1 MiB by
//! default), every byte value, empty values, keys with unusual characters (spaces, unicode, `:`
//! and `/`, quotes and SQL wildcards, case, prefixes of each other, 500 bytes long), and, when
//! [`Config::with_expiry`] says how time passes, expiry.
//!
//! [`run_unreachable`] checks the other side: against a backend that cannot be reached, every
//! operation answers an error within a bound, never a panic, and never a silent "no value".
//!
//! Run it on a multi-threaded runtime so that the concurrent checks really race. Every key the
//! suite touches starts with [`Config::with_key_prefix`]'s prefix; it deletes its keys before and
//! after each check, so a persistent backend can run it repeatedly. The suite spawns tokio tasks
//! and is for native targets only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use scopeup_core::{Store, StoreError, StoreKey};
use tokio::sync::Barrier;

#[cfg(feature = "redis")]
mod redis_server;

#[cfg(feature = "redis")]
pub use redis_server::{REDIS_URL_VARIABLE, RedisServer};

/// How many tasks race in the concurrency checks.
const CONTENDERS: usize = 50;

/// How many times one contender of the compare-and-swap race may retry before the suite gives up.
const MAX_SWAP_ATTEMPTS: usize = 10_000;

/// The time to live used with [`Expiry::Advance`].
const ADVANCE_TTL: Duration = Duration::from_secs(60);

/// Runs every check of the suite against `store`, panicking with the name of the first property
/// that does not hold.
pub async fn run(store: Arc<dyn Store>, config: Config<'_>) {
    let suite = Suite { store, config };

    suite.round_trip().await;
    suite.overwrite().await;
    suite.delete().await;
    suite.missing_keys().await;
    suite.take_once().await;
    suite.take_under_contention().await;
    suite.compare_and_swap().await;
    suite.compare_and_swap_under_contention().await;
    suite.large_values().await;
    suite.binary_values().await;
    suite.unusual_keys().await;
    suite.expiry().await;
}

/// Checks that every operation of a store whose backend cannot be reached (a server that is
/// down, a closed pool) fails with an error within `bound`: never a panic, never a hang, and
/// never an answer that looks like success, such as `get` finding no value.
pub async fn run_unreachable(store: Arc<dyn Store>, bound: Duration) {
    let key = StoreKey::raw("scopeup-conformance/unreachable");
    let operations: [(&'static str, Operation); 5] = [
        ("get", |store, key| {
            Box::pin(async move { store.get(&key).await.map(|value| format!("{value:?}")) })
        }),
        ("put", |store, key| {
            Box::pin(async move {
                store
                    .put(&key, b"value".to_vec(), Some(Duration::from_secs(60)))
                    .await
                    .map(|()| "()".to_owned())
            })
        }),
        ("delete", |store, key| {
            Box::pin(async move { store.delete(&key).await.map(|()| "()".to_owned()) })
        }),
        ("take", |store, key| {
            Box::pin(async move { store.take(&key).await.map(|value| format!("{value:?}")) })
        }),
        ("compare_and_swap", |store, key| {
            Box::pin(async move {
                store
                    .compare_and_swap(&key, None, Some(b"value".to_vec()), None)
                    .await
                    .map(|swapped| swapped.to_string())
            })
        }),
    ];

    for (name, operation) in operations {
        let probe = Probe {
            store: store.as_ref(),
            property: "an unreachable backend answers every operation with an error",
        };
        let task = tokio::spawn(operation(Arc::clone(&store), key.clone()));
        match tokio::time::timeout(bound, task).await {
            Err(_) => probe.fail(format_args!("{name} did not answer within {bound:?}")),
            Ok(Err(error)) => probe.fail(format_args!("{name} panicked: {error}")),
            Ok(Ok(Ok(answer))) => probe.fail(format_args!("{name} succeeded with {answer}")),
            Ok(Ok(Err(_))) => {}
        }
    }
}

/// One store operation of [`run_unreachable`], answering its result as text.
type Operation = fn(
    Arc<dyn Store>,
    StoreKey,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<String, StoreError>> + Send>,
>;

/// What the suite may assume about the store under test.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    expiry: Expiry<'a>,
    key_prefix: &'a str,
    large_value_len: usize,
}

/// How the expiry checks make time pass, or that they are skipped.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Expiry<'a> {
    /// Skip the expiry checks, for a backend whose expiry is too coarse to test quickly (Workers
    /// KV's, whose shortest TTL is a minute). Its expiry still has to work.
    Skip,
    /// The store reads a clock the test controls (a [`ManualClock`](crate::ManualClock)); the
    /// suite calls this to move it forward. TTLs of a minute are used.
    Advance(&'a dyn Fn(Duration)),
    /// The store expires entries on a real clock: the suite stores with `ttl` and sleeps `wait`
    /// before it expects them gone. `ttl` must be long enough for a dozen round trips, and
    /// `wait` long enough for the backend's expiry to be seen (twice `ttl` is usually enough).
    Sleep {
        /// The time to live given to the entries that must expire.
        ttl: Duration,
        /// How long to wait for them to expire.
        wait: Duration,
    },
}

impl<'a> Config<'a> {
    /// Expiry checks skipped, keys prefixed with `scopeup-conformance/`, a large value of 1 MiB.
    pub fn new() -> Self {
        Self {
            expiry: Expiry::Skip,
            key_prefix: "scopeup-conformance/",
            large_value_len: 1 << 20,
        }
    }

    /// Checks expiry, passing time as `expiry` says.
    pub fn with_expiry(mut self, expiry: Expiry<'a>) -> Self {
        self.expiry = expiry;
        self
    }

    /// Starts every key the suite uses with `prefix`, to keep apart runs that share a backend.
    pub fn with_key_prefix(mut self, prefix: &'a str) -> Self {
        self.key_prefix = prefix;
        self
    }

    /// The length of the large value, for a backend with a smaller limit than 1 MiB. The engine
    /// stores values of a few kilobytes at most.
    pub fn with_large_value_len(mut self, len: usize) -> Self {
        self.large_value_len = len;
        self
    }
}

impl Default for Config<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Expiry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Skip => f.write_str("Skip"),
            Self::Advance(_) => f.write_str("Advance(..)"),
            Self::Sleep { ttl, wait } => f
                .debug_struct("Sleep")
                .field("ttl", ttl)
                .field("wait", wait)
                .finish(),
        }
    }
}

/// The store under test and the configuration.
struct Suite<'a> {
    store: Arc<dyn Store>,
    config: Config<'a>,
}

/// The checks of one property: store calls and comparisons that panic with the property's name.
struct Probe<'s> {
    store: &'s dyn Store,
    property: &'static str,
}

impl Suite<'_> {
    fn probe(&self, property: &'static str) -> Probe<'_> {
        Probe {
            store: self.store.as_ref(),
            property,
        }
    }

    fn key(&self, name: &str) -> StoreKey {
        StoreKey::raw(format!("{}{name}", self.config.key_prefix))
    }

    async fn round_trip(&self) {
        let probe = self.probe("a value that was put is read back");
        let key = self.key("round-trip");
        probe.delete(&key).await;

        probe.put(&key, b"value", None).await;
        probe.expect_value(&key, probe.get(&key).await, Some(b"value"));

        let probe = self.probe("an empty value is stored and differs from no value");
        probe.put(&key, b"", None).await;
        probe.expect_value(&key, probe.get(&key).await, Some(b""));

        probe.delete(&key).await;
    }

    async fn overwrite(&self) {
        let probe = self.probe("a put replaces the earlier value");
        let key = self.key("overwrite");
        probe.delete(&key).await;

        probe.put(&key, b"first value, the longer one", None).await;
        probe.put(&key, b"second", None).await;
        probe.expect_value(&key, probe.get(&key).await, Some(b"second"));

        probe.delete(&key).await;
    }

    async fn delete(&self) {
        let probe = self.probe("a deleted value is gone");
        let key = self.key("delete");
        let neighbour = self.key("delete-neighbour");
        probe.put(&key, b"value", None).await;
        probe.put(&neighbour, b"neighbour", None).await;

        probe.delete(&key).await;
        probe.expect_value(&key, probe.get(&key).await, None);
        probe.expect_value(&neighbour, probe.get(&neighbour).await, Some(b"neighbour"));

        let probe = self.probe("deleting a missing key succeeds");
        probe.delete(&key).await;

        probe.delete(&neighbour).await;
    }

    async fn missing_keys(&self) {
        let probe = self.probe("a missing key has no value");
        let key = self.key("missing");
        probe.delete(&key).await;

        probe.expect_value(&key, probe.get(&key).await, None);
        probe.expect_value(&key, probe.take(&key).await, None);
    }

    async fn take_once(&self) {
        let probe = self.probe("take returns the value once and removes it");
        let key = self.key("take");
        probe.delete(&key).await;

        probe.put(&key, b"single use", None).await;
        probe.expect_value(&key, probe.take(&key).await, Some(b"single use"));
        probe.expect_value(&key, probe.take(&key).await, None);
        probe.expect_value(&key, probe.get(&key).await, None);
    }

    async fn take_under_contention(&self) {
        let probe = self.probe("of 50 concurrent takers exactly one gets the value");
        let key = self.key("take-contention");
        probe.delete(&key).await;
        probe.put(&key, b"the only value", None).await;

        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let mut tasks = Vec::with_capacity(CONTENDERS);
        for _ in 0..CONTENDERS {
            let store = Arc::clone(&self.store);
            let barrier = Arc::clone(&barrier);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take(&key).await
            }));
        }

        let mut winners = 0;
        for task in tasks {
            let taken = match task.await {
                Ok(Ok(taken)) => taken,
                Ok(Err(error)) => probe.fail(format_args!("take({key}) failed: {}", chain(&error))),
                Err(error) => probe.fail(format_args!("a taker's task failed: {error}")),
            };
            let Some(value) = taken else { continue };
            winners += 1;
            probe.check(value == b"the only value", || {
                format!(
                    "a taker got {} instead of the value",
                    describe(Some(&value))
                )
            });
        }
        probe.check(winners == 1, || {
            format!("{winners} of {CONTENDERS} takers got the value")
        });
        probe.expect_value(&key, probe.get(&key).await, None);
    }

    async fn compare_and_swap(&self) {
        let key = self.key("swap");
        let absent = self.probe("compare-and-swap with no expected value inserts when absent");
        absent.delete(&key).await;
        absent.expect_swap(absent.swap(&key, None, Some(b"one"), None).await, true);
        absent.expect_value(&key, absent.get(&key).await, Some(b"one"));

        let present = self.probe("compare-and-swap with no expected value fails when present");
        present.expect_swap(present.swap(&key, None, Some(b"other"), None).await, false);
        present.expect_value(&key, present.get(&key).await, Some(b"one"));

        let mismatch = self.probe("compare-and-swap fails when the value differs");
        mismatch.expect_swap(
            mismatch
                .swap(&key, Some(b"two"), Some(b"three"), None)
                .await,
            false,
        );
        mismatch.expect_swap(
            mismatch.swap(&key, Some(b"on"), Some(b"three"), None).await,
            false,
        );
        mismatch.expect_swap(
            mismatch.swap(&key, Some(b""), Some(b"three"), None).await,
            false,
        );
        mismatch.expect_value(&key, mismatch.get(&key).await, Some(b"one"));

        let matching = self.probe("compare-and-swap replaces a matching value");
        matching.expect_swap(
            matching.swap(&key, Some(b"one"), Some(b"two"), None).await,
            true,
        );
        matching.expect_value(&key, matching.get(&key).await, Some(b"two"));

        let delete = self.probe("compare-and-swap with no new value deletes a matching value");
        delete.expect_swap(delete.swap(&key, Some(b"two"), None, None).await, true);
        delete.expect_value(&key, delete.get(&key).await, None);

        let missing = self.probe("compare-and-swap against a missing value fails");
        missing.expect_swap(
            missing.swap(&key, Some(b"two"), Some(b"three"), None).await,
            false,
        );
        missing.expect_value(&key, missing.get(&key).await, None);

        let nothing = self.probe("compare-and-swap from no value to no value succeeds");
        nothing.expect_swap(nothing.swap(&key, None, None, None).await, true);
        nothing.expect_value(&key, nothing.get(&key).await, None);
    }

    async fn compare_and_swap_under_contention(&self) {
        let probe = self.probe("50 concurrent compare-and-swap increments all land");
        let key = self.key("swap-contention");
        probe.delete(&key).await;

        let barrier = Arc::new(Barrier::new(CONTENDERS));
        let mut tasks = Vec::with_capacity(CONTENDERS);
        for _ in 0..CONTENDERS {
            let store = Arc::clone(&self.store);
            let barrier = Arc::clone(&barrier);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                increment(store.as_ref(), &key).await
            }));
        }

        for task in tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(detail)) => probe.fail(detail),
                Err(error) => probe.fail(format_args!("an incrementing task failed: {error}")),
            }
        }
        let expected = CONTENDERS.to_string();
        probe.expect_value(&key, probe.get(&key).await, Some(expected.as_bytes()));

        probe.delete(&key).await;
    }

    async fn large_values(&self) {
        let probe = self.probe("a large value round-trips");
        let key = self.key("large");
        let large: Vec<u8> = (0..self.config.large_value_len)
            .map(|index| (index * 31 % 251) as u8)
            .collect();

        probe.put(&key, &large, None).await;
        probe.expect_value(&key, probe.get(&key).await, Some(&large));
        probe.put(&key, b"small again", None).await;
        probe.expect_value(&key, probe.get(&key).await, Some(b"small again"));

        probe.delete(&key).await;
    }

    async fn binary_values(&self) {
        let probe = self.probe("values holding every byte value round-trip");
        let key = self.key("binary");
        let ascending: Vec<u8> = (0..=u8::MAX).collect();
        let descending: Vec<u8> = (0..=u8::MAX).rev().collect();
        let zeros = [0; 64];

        for value in [&ascending[..], &descending, &zeros] {
            probe.put(&key, value, None).await;
            probe.expect_value(&key, probe.get(&key).await, Some(value));
            probe.expect_value(&key, probe.take(&key).await, Some(value));
        }
    }

    async fn unusual_keys(&self) {
        let probe = self.probe("keys with unusual characters are distinct and round-trip");
        let mut keys: Vec<StoreKey> = [
            "with spaces in it",
            "ünïcödé · ключ · 鍵 · 🔑",
            "colons:and/slashes/:",
            "trailing/",
            "quotes ' \" \\ and wildcards % _ * ? [a]",
            "Case",
            "case",
            "nested",
            "nested/child",
            "nested:child",
        ]
        .iter()
        .map(|name| self.key(name))
        .collect();
        let long = format!("{}long-", self.config.key_prefix);
        keys.push(StoreKey::raw(format!(
            "{long}{}",
            "x".repeat(500_usize.saturating_sub(long.len()))
        )));

        for key in &keys {
            probe.delete(key).await;
        }
        for (index, key) in keys.iter().enumerate() {
            probe
                .put(key, format!("value {index}").as_bytes(), None)
                .await;
        }
        for (index, key) in keys.iter().enumerate() {
            let expected = format!("value {index}");
            probe.expect_value(key, probe.get(key).await, Some(expected.as_bytes()));
        }

        let probe = self.probe("deleting a key leaves keys it is a prefix of");
        probe.delete(&self.key("nested")).await;
        for name in ["nested/child", "nested:child"] {
            let key = self.key(name);
            probe.check(probe.get(&key).await.is_some(), || {
                format!("{key} lost its value")
            });
        }

        for key in &keys {
            probe.delete(key).await;
        }
    }

    async fn expiry(&self) {
        let (ttl, halfway, past) = match self.config.expiry {
            Expiry::Skip => return,
            Expiry::Advance(_) => (ADVANCE_TTL, ADVANCE_TTL / 2, ADVANCE_TTL * 3 / 2),
            Expiry::Sleep { ttl, wait } => (ttl, Duration::ZERO, wait),
        };
        let expiring = self.key("expiry/expiring");
        let taken = self.key("expiry/taken");
        let lasting = self.key("expiry/lasting");
        let put_clears = self.key("expiry/put-clears");
        let swap_clears = self.key("expiry/swap-clears");
        let swapped_in = self.key("expiry/swapped-in");
        let swapped_over = self.key("expiry/swapped-over");
        let all = [
            &expiring,
            &taken,
            &lasting,
            &put_clears,
            &swap_clears,
            &swapped_in,
            &swapped_over,
        ];

        // Store everything, with and without a ttl.
        let probe = self.probe("a value with a ttl is read back before it expires");
        for key in all {
            probe.delete(key).await;
        }
        for key in [&expiring, &taken, &put_clears, &swap_clears, &swapped_over] {
            probe.put(key, b"short-lived", Some(ttl)).await;
        }
        probe.put(&lasting, b"lasting", None).await;
        probe.put(&put_clears, b"lasting", None).await;
        probe.expect_swap(
            probe
                .swap(&swap_clears, Some(b"short-lived"), Some(b"lasting"), None)
                .await,
            true,
        );
        probe.expect_swap(
            probe
                .swap(&swapped_in, None, Some(b"short-lived"), Some(ttl))
                .await,
            true,
        );

        // Before the ttl has passed.
        self.pass_time(halfway).await;
        for key in [&expiring, &taken, &swapped_in, &swapped_over] {
            probe.expect_value(key, probe.get(key).await, Some(b"short-lived"));
        }

        // After it.
        self.pass_time(past).await;
        let probe = self.probe("an expired value is absent");
        probe.expect_value(&expiring, probe.get(&expiring).await, None);
        probe.expect_value(&swapped_in, probe.get(&swapped_in).await, None);
        let probe = self.probe("take of an expired value returns nothing");
        probe.expect_value(&taken, probe.take(&taken).await, None);
        let probe = self.probe("a value without a ttl does not expire");
        probe.expect_value(&lasting, probe.get(&lasting).await, Some(b"lasting"));
        let probe = self.probe("a put without a ttl clears an earlier ttl");
        probe.expect_value(&put_clears, probe.get(&put_clears).await, Some(b"lasting"));
        let probe = self.probe("a compare-and-swap without a ttl clears an earlier ttl");
        probe.expect_value(
            &swap_clears,
            probe.get(&swap_clears).await,
            Some(b"lasting"),
        );

        let probe = self.probe("compare-and-swap treats an expired value as absent");
        let stale = probe
            .swap(&swapped_over, Some(b"short-lived"), Some(b"stale"), None)
            .await;
        probe.expect_swap(stale, false);
        probe.expect_swap(
            probe.swap(&swapped_over, None, Some(b"fresh"), None).await,
            true,
        );
        probe.expect_value(
            &swapped_over,
            probe.get(&swapped_over).await,
            Some(b"fresh"),
        );

        for key in all {
            probe.delete(key).await;
        }
    }

    /// Lets `duration` pass on the store's clock.
    async fn pass_time(&self, duration: Duration) {
        match self.config.expiry {
            Expiry::Skip => {}
            Expiry::Advance(advance) => advance(duration),
            Expiry::Sleep { .. } => tokio::time::sleep(duration).await,
        }
    }
}

impl Probe<'_> {
    async fn get(&self, key: &StoreKey) -> Option<Vec<u8>> {
        match self.store.get(key).await {
            Ok(value) => value,
            Err(error) => self.fail(format_args!("get({key}) failed: {}", chain(&error))),
        }
    }

    async fn put(&self, key: &StoreKey, value: &[u8], ttl: Option<Duration>) {
        if let Err(error) = self.store.put(key, value.to_vec(), ttl).await {
            self.fail(format_args!("put({key}) failed: {}", chain(&error)));
        }
    }

    async fn delete(&self, key: &StoreKey) {
        if let Err(error) = self.store.delete(key).await {
            self.fail(format_args!("delete({key}) failed: {}", chain(&error)));
        }
    }

    async fn take(&self, key: &StoreKey) -> Option<Vec<u8>> {
        match self.store.take(key).await {
            Ok(value) => value,
            Err(error) => self.fail(format_args!("take({key}) failed: {}", chain(&error))),
        }
    }

    /// Runs a compare-and-swap and answers its arguments with the outcome, for
    /// [`expect_swap`](Self::expect_swap).
    async fn swap(
        &self,
        key: &StoreKey,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Swap {
        let outcome = self
            .store
            .compare_and_swap(key, expected, new.map(<[u8]>::to_vec), ttl)
            .await;
        let call = format!(
            "compare_and_swap({key}, expected {}, new {})",
            describe(expected),
            describe(new)
        );
        match outcome {
            Ok(swapped) => Swap { call, swapped },
            Err(error) => self.fail(format_args!("{call} failed: {}", chain(&error))),
        }
    }

    fn expect_swap(&self, swap: Swap, expected: bool) {
        self.check(swap.swapped == expected, || {
            format!(
                "{} answered {}, expected {expected}",
                swap.call, swap.swapped
            )
        });
    }

    fn expect_value(&self, key: &StoreKey, actual: Option<Vec<u8>>, expected: Option<&[u8]>) {
        self.check(actual.as_deref() == expected, || {
            format!(
                "{key} holds {}, expected {}",
                describe(actual.as_deref()),
                describe(expected)
            )
        });
    }

    fn check(&self, condition: bool, detail: impl FnOnce() -> String) {
        if !condition {
            self.fail(detail());
        }
    }

    fn fail(&self, detail: impl fmt::Display) -> ! {
        panic!(
            "store conformance: property `{}` does not hold: {detail}",
            self.property
        )
    }
}

/// A compare-and-swap call, described, and whether it swapped.
struct Swap {
    call: String,
    swapped: bool,
}

/// One contender of the compare-and-swap race: reads the counter and swaps in the next number
/// until a swap succeeds.
async fn increment(store: &dyn Store, key: &StoreKey) -> Result<(), String> {
    for _ in 0..MAX_SWAP_ATTEMPTS {
        let current = store
            .get(key)
            .await
            .map_err(|error| format!("get({key}) failed: {}", chain(&error)))?;
        let count = match &current {
            None => 0,
            Some(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| format!("the counter holds {}", describe(Some(bytes))))?,
        };

        let next = (count + 1).to_string().into_bytes();
        let swapped = store
            .compare_and_swap(key, current.as_deref(), Some(next), None)
            .await
            .map_err(|error| format!("compare_and_swap({key}) failed: {}", chain(&error)))?;
        if swapped {
            return Ok(());
        }
        tokio::task::yield_now().await;
    }
    Err(format!(
        "a contender's swap did not succeed in {MAX_SWAP_ATTEMPTS} attempts"
    ))
}

/// A short description of a value for a failure message.
fn describe(value: Option<&[u8]>) -> String {
    const SHOWN: usize = 48;
    match value {
        None => "no value".to_owned(),
        Some(bytes) if bytes.len() <= SHOWN => format!("b\"{}\"", bytes.escape_ascii()),
        Some(bytes) => {
            format!(
                "{} bytes starting b\"{}\"",
                bytes.len(),
                bytes[..SHOWN].escape_ascii()
            )
        }
    }
}

/// An error and its sources, joined with `: `.
fn chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

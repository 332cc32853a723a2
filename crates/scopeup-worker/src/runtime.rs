//! The clock, the timer and the random source of the Workers runtime, and the error that
//! carries a runtime failure into a port error.

use std::fmt;
use std::time::Duration;

use futures::StreamExt as _;
use scopeup_core::{Clock, Random, RandomError, Sleep, UnixTime};

/// The time from `Date.now()`. Inside a Worker it advances only across I/O, which is all the
/// engine needs: expiries are minutes long.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerClock;

impl Clock for WorkerClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(worker::Date::now().as_millis())
    }
}

/// Waits on the runtime's `setTimeout`, while another request refreshes the same grant.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerSleep;

#[async_trait::async_trait(?Send)]
impl Sleep for WorkerSleep {
    async fn sleep(&self, duration: Duration) {
        worker::Delay::from(duration).await;
    }
}

/// Reads a body of at most `limit` bytes, chunk by chunk, so that a longer one is refused
/// without being held whole: `Ok(None)` when it is longer. `None` for the stream is a body
/// that is absent (`null` in the runtime), which reads as empty.
pub(crate) async fn read_limited(
    stream: Option<worker::ByteStream>,
    limit: usize,
) -> worker::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let Some(mut stream) = stream else {
        return Ok(Some(body));
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Random bytes from the runtime's `crypto.getRandomValues`.
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkerRandom;

impl Random for WorkerRandom {
    fn fill(&self, buffer: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buffer).map_err(|error| RandomError(Box::new(error)))
    }
}

/// A failure reported by the Workers runtime, kept as text: its errors hold JavaScript values,
/// which cannot cross into the ports' `Send` error type.
#[derive(Debug)]
pub struct RuntimeError(String);

impl RuntimeError {
    /// Keeps the message of a runtime error.
    pub fn new(error: impl fmt::Display) -> Self {
        Self(error.to_string())
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RuntimeError {}

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

/// Reads the body of a request or a response (its `headers` and its `stream()`) of at most
/// `limit` bytes, so that a longer one is refused without being held whole: `Ok(None)` when
/// its `Content-Length` or its bytes pass the limit. A body that is absent (`null` in the
/// runtime) reads as empty; one already read is an error.
pub(crate) async fn read_limited(
    headers: &worker::Headers,
    stream: worker::Result<worker::ByteStream>,
    limit: usize,
) -> worker::Result<Option<Vec<u8>>> {
    let declared = headers
        .get("content-length")?
        .and_then(|length| length.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Ok(None);
    }
    let mut body = Vec::new();
    let mut stream = match stream {
        Ok(stream) => stream,
        Err(worker::Error::BodyUsed) => return Err(worker::Error::BodyUsed),
        Err(_) => return Ok(Some(body)),
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

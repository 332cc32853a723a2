//! A clock that tests move by hand, so that expiry can be checked without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scopeup_core::{Clock, UnixTime};

/// A [`Clock`] that stands still until it is moved with [`advance`](Self::advance) or
/// [`set`](Self::set).
///
/// It is shared by reference or through an `Arc`: every clone of the `Arc` sees each move at once.
/// Meant for tests; a host uses its runtime's clock.
#[derive(Debug)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// The time a clock made with [`Default`] shows: 2025-01-01T00:00:00Z.
    pub const DEFAULT_START: UnixTime = UnixTime::from_secs(1_735_689_600);

    /// A clock that shows `start`.
    pub fn new(start: UnixTime) -> Self {
        Self {
            millis: AtomicU64::new(start.as_millis()),
        }
    }

    /// Moves the clock forward by `duration`, saturating at the far future.
    pub fn advance(&self, duration: Duration) {
        let step = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        // The closure always answers `Some`, so the update cannot fail.
        let _ = self
            .millis
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |millis| {
                Some(millis.saturating_add(step))
            });
    }

    /// Sets the clock to `time`, which may be earlier than the time it shows.
    pub fn set(&self, time: UnixTime) {
        self.millis.store(time.as_millis(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(Self::DEFAULT_START)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_when_told() {
        let clock = ManualClock::new(UnixTime::from_secs(100));
        assert_eq!(clock.now(), UnixTime::from_secs(100));

        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), UnixTime::from_millis(101_500));

        clock.set(UnixTime::from_secs(5));
        assert_eq!(clock.now(), UnixTime::from_secs(5));
    }

    #[test]
    fn advancing_saturates() {
        let clock = ManualClock::default();
        clock.advance(Duration::MAX);
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), UnixTime::from_millis(u64::MAX));
    }
}

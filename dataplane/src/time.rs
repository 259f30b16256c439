//! Monotonic time as the packet path sees it: microseconds, read once per burst by the worker
//! and passed down, so every decision below is a pure function of its inputs (and testable).

use std::ops::{Add, Sub};
use std::time::Duration;

/// Microseconds since an arbitrary origin (the worker's start).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms * 1000)
    }

    /// From seconds.
    pub const fn from_secs(s: u64) -> Instant {
        Instant(s * 1_000_000)
    }

    /// Microseconds since the origin.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// Time since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(u64::try_from(rhs.as_micros()).unwrap_or(u64::MAX)),
        )
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.since(rhs)
    }
}

/// Reads [`Instant`]s from the OS monotonic clock, relative to its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: std::time::Instant,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock {
            origin: std::time::Instant::now(),
        }
    }
}

impl MonotonicClock {
    /// Now.
    pub fn now(&self) -> Instant {
        Instant(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
}

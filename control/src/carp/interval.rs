//! CARP time arithmetic in exact 1/256 s units (carp.md §3.2), so elections compare
//! integers: *T(b, s)* = b + s/256 seconds is `b × 256 + s` units.

use std::time::Duration;

/// A CARP interval, in 1/256 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval(pub u32);

impl Interval {
    /// Nanoseconds in one unit (1/256 s = 3.90625 ms, exact).
    const NANOS_PER_UNIT: u64 = 3_906_250;

    /// The advertisement interval *T(advbase, advskew)*: how often a master sends, and what
    /// elections compare (shorter wins).
    pub const fn advert(advbase: u8, advskew: u8) -> Interval {
        Interval(advbase as u32 * 256 + advskew as u32)
    }

    /// The master-down interval 3 × advbase + advskew/256 (the skew is not tripled).
    pub const fn master_down(advbase: u8, advskew: u8) -> Interval {
        Interval(3 * advbase as u32 * 256 + advskew as u32)
    }

    /// 3 × advbase: a master advertising slower than this will time out anyway, so a
    /// backup takes over at once (how a bow-out works).
    pub const fn timeout_bound(advbase: u8) -> Interval {
        Interval(3 * advbase as u32 * 256)
    }

    /// As a duration.
    pub const fn duration(self) -> Duration {
        Duration::from_nanos(self.0 as u64 * Self::NANOS_PER_UNIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reference_examples() {
        // carp.md §3.2: b = 1 with s = 0 / 100 / 254 (and 240, what FreeBSD sends for 254).
        assert_eq!(Interval::advert(1, 0).duration(), Duration::from_secs(1));
        assert_eq!(
            Interval::advert(1, 100).duration(),
            Duration::from_nanos(1_390_625_000)
        );
        assert_eq!(
            Interval::advert(1, 240).duration(),
            Duration::from_micros(1_937_500)
        );
        assert_eq!(
            Interval::master_down(1, 0).duration(),
            Duration::from_secs(3)
        );
        assert_eq!(
            Interval::master_down(1, 100).duration(),
            Duration::from_nanos(3_390_625_000)
        );
        assert_eq!(
            Interval::master_down(1, 254).duration(),
            Duration::from_nanos(3_992_187_500)
        );
        // advbase 1, skew 200 beats advbase 2, skew 0.
        assert!(Interval::advert(1, 200) < Interval::advert(2, 0));
        // A bow-out is slower than 3 × advbase for any advbase below 86.
        assert!(Interval::advert(255, 255) > Interval::timeout_bound(85));
        assert!(Interval::advert(255, 255) < Interval::timeout_bound(86));
    }
}

//! The expiry wheel: a hashed timing wheel of intrusive doubly-linked lists threaded through
//! the slab, so filing, moving and unfiling a state are O(1) and allocate nothing.
//!
//! * One bucket per tick ([`TICK_US`] = 1 s), [`BUCKETS`] buckets (68 min around the wheel).
//!   A state is filed at the tick of its deadline, rounded up, or at `cursor + 1` if that is
//!   later; a deadline more than a lap away simply waits in its bucket for as many laps as
//!   needed (examined once per lap, then filed again).
//! * Refreshing a state is lazy: when its deadline moves **later** nothing is touched; when the
//!   bucket fires, the real deadline is checked and the state re-filed. Only a deadline that
//!   moves **earlier** than the tick it is filed at (a shorter timeout class) moves it.
//! * The owner drives it: [`Wheel::start_bucket`] detaches the bucket at the cursor into a
//!   pending list, [`Wheel::pop_pending`] hands out its states one by one (so work can stop at
//!   any point and resume), [`Wheel::finish_bucket`] moves the cursor on.

/// Width of a tick in microseconds.
pub(crate) const TICK_US: u64 = 1_000_000;
/// Buckets in the wheel (a power of two).
pub(crate) const BUCKETS: usize = 4096;
const MASK: u64 = BUCKETS as u64 - 1;
/// No slot.
pub(crate) const NIL: u32 = u32::MAX;

/// A slot's place in the wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    /// Tick the slot is filed at (saturated to `u32`: 136 years of 1 s ticks); 0 when not
    /// filed (filing is always at `cursor + 1` or later).
    pub(crate) filed: u32,
}

impl Links {
    pub(crate) const DETACHED: Links = Links {
        prev: NIL,
        next: NIL,
        filed: 0,
    };
}

/// Something with [`Links`]: the slab's slots.
pub(crate) trait Linked {
    fn links(&self) -> &Links;
    fn links_mut(&mut self) -> &mut Links;
}

/// The tick a deadline (µs) falls in, rounded up: the state is examined once that tick has
/// begun, so never before its deadline.
#[inline]
pub(crate) fn tick_of(deadline_us: u64) -> u64 {
    deadline_us.div_ceil(TICK_US)
}

#[derive(Debug)]
pub(crate) struct Wheel {
    heads: Vec<u32>,
    /// The tick being processed (or next to be).
    cursor: u64,
    /// States detached from the cursor's bucket, not yet examined.
    pending: u32,
    /// States filed (in buckets or pending).
    count: usize,
}

impl Wheel {
    pub(crate) fn new() -> Wheel {
        Wheel {
            heads: vec![NIL; BUCKETS],
            cursor: 0,
            pending: NIL,
            count: 0,
        }
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.heads.capacity() * std::mem::size_of::<u32>()
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.cursor
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// When nothing is filed, the cursor may jump to `tick` (never backwards).
    pub(crate) fn catch_up_if_empty(&mut self, tick: u64) {
        if self.count == 0 && self.pending == NIL && tick > self.cursor {
            self.cursor = tick;
        }
    }

    /// The tick a deadline at `deadline_tick` is filed at.
    #[inline]
    fn target(&self, deadline_tick: u64) -> u64 {
        deadline_tick.max(self.cursor + 1)
    }

    #[inline]
    fn bucket(tick: u64) -> usize {
        // Masked to BUCKETS - 1, so it fits.
        (tick & MASK) as usize
    }

    /// Files detached slot `i` for `deadline_tick`.
    pub(crate) fn file<T: Linked>(&mut self, slots: &mut [T], i: u32, deadline_tick: u64) {
        let tick = self.target(deadline_tick);
        let b = Self::bucket(tick);
        let Some(head) = self.heads.get_mut(b) else {
            return;
        };
        let old = *head;
        *head = i;
        if let Some(slot) = slots.get_mut(i as usize) {
            *slot.links_mut() = Links {
                prev: NIL,
                next: old,
                filed: u32::try_from(tick).unwrap_or(u32::MAX),
            };
        }
        if let Some(next) = slots.get_mut(old as usize) {
            next.links_mut().prev = i;
        }
        self.count += 1;
    }

    /// Moves filed slot `i` earlier if `deadline_tick` is before the tick it is filed at.
    #[inline]
    pub(crate) fn refile_if_earlier<T: Linked>(
        &mut self,
        slots: &mut [T],
        i: u32,
        deadline_tick: u64,
    ) {
        let Some(slot) = slots.get(i as usize) else {
            return;
        };
        if self.target(deadline_tick) < u64::from(slot.links().filed) {
            self.unlink(slots, i);
            self.file(slots, i, deadline_tick);
        }
    }

    /// Takes slot `i` out of its list (nothing if it is not filed).
    pub(crate) fn unlink<T: Linked>(&mut self, slots: &mut [T], i: u32) {
        let Some(slot) = slots.get_mut(i as usize) else {
            return;
        };
        let links = *slot.links();
        if links.filed == 0 {
            return;
        }
        *slot.links_mut() = Links::DETACHED;
        if let Some(prev) = slots.get_mut(links.prev as usize) {
            prev.links_mut().next = links.next;
        } else if self.pending == i {
            self.pending = links.next;
        } else if let Some(head) = self.heads.get_mut(Self::bucket(u64::from(links.filed)))
            && *head == i
        {
            *head = links.next;
        }
        if let Some(next) = slots.get_mut(links.next as usize) {
            next.links_mut().prev = links.prev;
        }
        self.count = self.count.saturating_sub(1);
    }

    /// Whether a bucket is being worked through.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending != NIL
    }

    /// Detaches the cursor's bucket into the pending list; false if it was empty.
    pub(crate) fn start_bucket(&mut self) -> bool {
        let b = Self::bucket(self.cursor);
        if let Some(head) = self.heads.get_mut(b) {
            self.pending = std::mem::replace(head, NIL);
        }
        self.pending != NIL
    }

    /// Moves the cursor past a finished bucket.
    pub(crate) fn finish_bucket(&mut self) {
        self.cursor += 1;
    }

    /// The next pending slot, unlinked.
    pub(crate) fn pop_pending<T: Linked>(&mut self, slots: &mut [T]) -> Option<u32> {
        let i = self.pending;
        if i == NIL {
            return None;
        }
        self.unlink(slots, i);
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Linked for Links {
        fn links(&self) -> &Links {
            self
        }
        fn links_mut(&mut self) -> &mut Links {
            self
        }
    }

    /// Runs the wheel to `now_tick`, returning the slots examined, in order.
    fn run(w: &mut Wheel, slots: &mut [Links], now_tick: u64) -> Vec<u32> {
        let mut out = Vec::new();
        loop {
            if !w.has_pending() {
                if w.cursor() > now_tick {
                    break;
                }
                if !w.start_bucket() {
                    w.finish_bucket();
                    continue;
                }
            }
            while let Some(i) = w.pop_pending(slots) {
                out.push(i);
            }
            w.finish_bucket();
        }
        out
    }

    #[test]
    fn test_file_unlink_and_fire() {
        let mut slots = vec![Links::DETACHED; 8];
        let mut w = Wheel::new();
        w.file(&mut slots, 0, 5);
        w.file(&mut slots, 1, 5);
        w.file(&mut slots, 2, 3);
        w.file(&mut slots, 3, 5 + BUCKETS as u64); // a lap later, same bucket
        assert_eq!(w.count(), 4);
        w.unlink(&mut slots, 1);
        assert_eq!(w.count(), 3);
        w.unlink(&mut slots, 1); // not filed any more: no effect
        assert_eq!(w.count(), 3);
        assert_eq!(run(&mut w, &mut slots, 2), Vec::<u32>::new());
        assert_eq!(run(&mut w, &mut slots, 4), vec![2]);
        let fired = run(&mut w, &mut slots, 5);
        assert_eq!(fired.len(), 2);
        assert!(fired.contains(&0) && fired.contains(&3));
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn test_refile_earlier_only() {
        let mut slots = vec![Links::DETACHED; 2];
        let mut w = Wheel::new();
        w.file(&mut slots, 0, 100);
        w.refile_if_earlier(&mut slots, 0, 200);
        assert_eq!(slots[0].filed, 100);
        w.refile_if_earlier(&mut slots, 0, 10);
        assert_eq!(slots[0].filed, 10);
        assert_eq!(w.count(), 1);
        assert_eq!(run(&mut w, &mut slots, 10), vec![0]);
    }

    #[test]
    fn test_filing_never_at_or_before_cursor() {
        let mut slots = vec![Links::DETACHED; 2];
        let mut w = Wheel::new();
        w.catch_up_if_empty(50);
        assert_eq!(w.cursor(), 50);
        w.file(&mut slots, 0, 3);
        assert_eq!(slots[0].filed, 51);
        // Unlinking the pending head works too.
        assert!(!w.start_bucket());
        w.finish_bucket();
        assert!(w.start_bucket());
        w.unlink(&mut slots, 0);
        assert!(!w.has_pending());
        assert_eq!(w.count(), 0);
    }

    #[test]
    fn test_tick_rounds_up() {
        assert_eq!(tick_of(0), 0);
        assert_eq!(tick_of(1), 1);
        assert_eq!(tick_of(TICK_US), 1);
        assert_eq!(tick_of(TICK_US + 1), 2);
    }
}

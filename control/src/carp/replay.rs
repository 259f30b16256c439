//! The replay check on the counter: an advert whose counter this vhid accepted recently is
//! dropped (`replay`).
//!
//! Why "recently seen" and not "must increase": carp.md §2.4 shows no peer's counter is
//! monotonic. FreeBSD and ucarp send a fresh random value in every advert until they hear
//! a peer, then adopt the peer's value and count up from it; a restarted node starts from
//! a random value again. What none of them does is send the *same* value twice, so a
//! repeat is a captured advert played back (perhaps with another advskew or a 255/255
//! bow-out, which the HMAC does not cover) or a frame duplicated by the network.
//!
//! Only counters *received* are remembered, never the ones we send: FreeBSD and ucarp
//! adopt our counter, and ucarp sends the adopted value unchanged, so comparing with our
//! own would drop legitimate adverts (the unsafe loop check of carp.md §2.3).
//!
//! Limits: OpenBSD sends one constant "replay cookie" for its whole lifetime, so with an
//! OpenBSD peer the check must be off ([`super::Config::replay_check`]). A replay of an
//! advert older than the window, or of one we never received (our own, played back at
//! us), passes; CARP authentication is a guard against misconfiguration, not a defence
//! against an attacker on the segment.

/// Counters remembered; at one advert per second this covers the last ~half minute.
pub const WINDOW: usize = 32;

/// The most recently accepted counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCounters {
    seen: [u64; WINDOW],
    len: usize,
    next: usize,
}

impl Default for RecentCounters {
    fn default() -> Self {
        RecentCounters {
            seen: [0; WINDOW],
            len: 0,
            next: 0,
        }
    }
}

impl RecentCounters {
    /// Whether `counter` was accepted within the window.
    pub fn contains(&self, counter: u64) -> bool {
        self.seen.iter().take(self.len).any(|&c| c == counter)
    }

    /// Remembers `counter`, forgetting the oldest when full.
    pub fn insert(&mut self, counter: u64) {
        if let Some(slot) = self.seen.get_mut(self.next) {
            *slot = counter;
        }
        self.next = (self.next + 1) % WINDOW;
        self.len = (self.len + 1).min(WINDOW);
    }

    /// Checks and remembers: `false` if `counter` is a repeat.
    pub fn accept(&mut self, counter: u64) -> bool {
        if self.contains(counter) {
            return false;
        }
        self.insert(counter);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_window() {
        let mut recent = RecentCounters::default();
        assert!(!recent.contains(0));
        assert!(recent.accept(0));
        assert!(!recent.accept(0));
        for c in 1..WINDOW as u64 {
            assert!(recent.accept(c));
        }
        assert!(!recent.accept(0));
        // One more pushes 0 out of the window.
        assert!(recent.accept(1000));
        assert!(recent.accept(0));
    }
}

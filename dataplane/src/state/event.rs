//! What a shard tells the sync core: inserts, significant updates and deletes, as plain
//! values that hold no reference into the shard.
//!
//! # Which updates are significant
//!
//! pfsync sends an update for every packet that matches a state, coalesced per state in a
//! frame that leaves within a second. The worker must not copy a 200-byte snapshot per packet,
//! so a shard emits [`StateEvent::Update`] only when the peer's copy would otherwise be wrong
//! in a way that matters after a failover:
//!
//! 1. a peer's protocol state changes (TCP `TCPS_*`, UDP/other single → multiple);
//! 2. the timeout class changes (e.g. established → closing);
//! 3. a TCP peer's `seqlo` has advanced by at least [`SyncPolicy::seq_advance`] bytes since the
//!    last event: the backup's window checks need a `seqlo` less than `MAXACKWINDOW`
//!    (64 KiB + 1500) behind the real one, or it drops the first acks after a takeover; the
//!    default of 32 KiB leaves half of that as margin (`seqhi` follows from the acks of the
//!    other side, whose `seqlo` is reported the same way);
//! 4. the state has been active and no event was sent for [`SyncPolicy::refresh`] (1 s by
//!    default, pfsync's own flush interval), so the peer's expiry follows ours.
//!
//! States flagged no-sync ([`flags::NO_SYNC`](super::flags::NO_SYNC)) produce no events.
//! States imported from the peer produce no insert (pf does not echo them) but do produce
//! later updates and deletes, which is how a new master keeps the old one current.
//!
//! # Hand-off
//!
//! Events go into the shard's [`EventQueue`], a fixed-capacity buffer owned by the worker. The
//! worker drains it between bursts into whatever carries events to the sync lcore (an SPSC
//! ring). A full buffer drops the event and counts it: a lost insert or update is repaired by
//! the peer (it asks for a full update when an update names an unknown state) or by the next
//! update; a lost delete leaves the peer's copy to expire on its own timeout.

use super::key::{KeySide, PfDirection, StateKey};
use super::peer::Peer;
use super::timeout::Timeout;
use crate::time::Instant;
use std::time::Duration;

/// Everything pfsync's full-state record needs about one state, by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSnapshot {
    /// State id (unique per creator).
    pub id: u64,
    /// The creating node's host id.
    pub creatorid: u32,
    /// Key as seen on the state's interface (pfsync `key[0]`).
    pub wire: StateKey,
    /// Key on the other side of NAT (pfsync `key[1]`); equal to `wire` without NAT.
    pub stack: StateKey,
    /// Peer that sent the creating packet.
    pub src: Peer,
    /// The other peer.
    pub dst: Peer,
    /// Rule number, `u32::MAX` for none.
    pub rule: u32,
    /// When the state was created.
    pub creation: Instant,
    /// Last activity (pf's `expire` field: the time the timeout counts from).
    pub last_activity: Instant,
    /// When the state expires (`last_activity` + the class's timeout).
    pub expires_at: Instant,
    /// Timeout class.
    pub timeout: Timeout,
    /// Direction of the creating packet.
    pub direction: PfDirection,
    /// Interface (port index) the state is bound to; `None` = floating (pfsync `all`).
    pub interface: Option<u16>,
    /// Packets `[forward, reverse]`.
    pub packets: [u64; 2],
    /// Bytes `[forward, reverse]`.
    pub bytes: [u64; 2],
    /// pf log flags.
    pub log: u8,
    /// pf state flags ([`flags`](super::flags)).
    pub state_flags: u16,
}

impl StateSnapshot {
    /// The key on `side`.
    pub fn key(&self, side: KeySide) -> &StateKey {
        match side {
            KeySide::Wire => &self.wire,
            KeySide::Stack => &self.stack,
        }
    }
}

/// A change to report to the sync core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateEvent {
    /// A state was created here (pfsync INS).
    Insert(StateSnapshot),
    /// A state changed significantly (pfsync UPD / UPD_C).
    Update(StateSnapshot),
    /// A state was removed (pfsync DEL_C).
    Delete {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
}

/// When a shard reports updates; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    /// Report an active state at least this often.
    pub refresh: Duration,
    /// Report a TCP peer whose `seqlo` moved this many bytes since the last report.
    pub seq_advance: u32,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy {
            refresh: Duration::from_secs(1),
            seq_advance: 32 * 1024,
        }
    }
}

/// A bounded buffer of events, filled by the shard and drained by its worker. It never
/// allocates after construction.
#[derive(Debug)]
pub struct EventQueue {
    events: Vec<StateEvent>,
    capacity: usize,
    dropped: u64,
}

impl EventQueue {
    /// A queue of `capacity` events; 0 disables events altogether.
    pub fn new(capacity: usize) -> Self {
        EventQueue {
            events: Vec::with_capacity(capacity),
            capacity,
            dropped: 0,
        }
    }

    /// Whether events are produced at all.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.capacity != 0
    }

    /// Adds `event`, or counts it as dropped if the queue is full.
    #[inline]
    pub(crate) fn push(&mut self, event: StateEvent) {
        if self.events.len() < self.capacity {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether none are waiting.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Removes and yields the waiting events, oldest first; the buffer keeps its allocation.
    pub fn drain(&mut self) -> std::vec::Drain<'_, StateEvent> {
        self.events.drain(..)
    }

    /// Events lost because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes allocated.
    pub fn memory_bytes(&self) -> usize {
        self.events.capacity() * std::mem::size_of::<StateEvent>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_queue_bounded() {
        let mut q = EventQueue::new(2);
        assert!(q.enabled());
        for id in 0..5 {
            q.push(StateEvent::Delete { creatorid: 1, id });
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.dropped(), 3);
        let ids: Vec<_> = q
            .drain()
            .map(|e| match e {
                StateEvent::Delete { id, .. } => id,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, [0, 1]);
        assert!(q.is_empty());
        assert!(!EventQueue::new(0).enabled());
    }
}

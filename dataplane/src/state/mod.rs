//! Connection states: one [`StateTable`] shard per worker, pf-style TCP tracking, and the
//! events the sync core turns into pfsync messages.
//!
//! Everything here is sans-IO: no DPDK types, no clock (time comes in as
//! [`Instant`](crate::time::Instant)), no locks. A shard belongs to one worker and is never
//! shared.
//!
//! # What a state holds
//!
//! What pf's `struct pf_kstate` holds that pfsync copies (pfsync.md §3.1–3.3): a `(creatorid,
//! id)` identity, a **wire key** and a **stack key** in pf's index layout ([`StateKey`]; they
//! differ under NAT), two [`Peer`]s (`src` sent the creating packet), the rule number, creation
//! time and last activity, the timeout class ([`Timeout`], pf's `PFTM_*`), the direction of the
//! creating packet, the interface (`None` = floating), packet and byte counters per direction,
//! log and state flags. Not held: route-to targets, queues, tags, scrub data, source nodes.
//!
//! # Lookup
//!
//! As in pf, a packet is looked up by its flow ([`PacketKey`], from [`classify_ipv4`] /
//! [`classify_ipv6`]) **and the way it crosses its interface**: [`StateTable::lookup`] builds
//! pf's lookup key ([`StateKey::lookup`]: the source first inbound, second outbound) and
//! matches it against wire keys for inbound packets and stack keys for outbound ones
//! (a state whose keys are equal matches both ways). A state created inbound thus matches
//! its own packets inbound and their replies outbound; a forwarded packet, filtered inbound
//! on one port and outbound on another, meets two states (pf's `pfctl -ss` shows both), the
//! outbound one carrying any source NAT. [`Match::direction`] says whether the packet travels
//! like the creating one. This is one probe of the index (one 64-byte line, usually) plus a
//! read of the slot's first line, which holds the wire key and whether the keys differ. Two
//! states cannot share a key: an insert that collides is refused, except over a closed TCP
//! state (both peers ≥ FIN_WAIT_2), which pf retires in favour of the new one.
//!
//! [`StateTable::lookup_burst`] gives the same answers for up to [`BURST`] keys at a time in
//! stages, so that the cache misses of the keys overlap: about 60 ns a key with a million
//! states on the 2-core VM, against 200 ns for one lookup alone (two dependent DRAM misses).
//!
//! The index is not `hashbrown` (which the design named): a `hashbrown` probe is two
//! dependent misses (control bytes, then the entry array) and offers no way to start them
//! early, which measured 85–90 ns a key in bursts against 28 ns for the chunked layout of
//! `index.rs`. `hashbrown` is not used here at all.
//!
//! # Memory and limits
//!
//! Everything is allocated at construction for the given capacity and never reallocated: the
//! slab (256-byte slots, four cache lines each, grown by `push` within its reserved capacity),
//! a stack of free slots, a key index sized for two entries per state and an id index (both
//! at most 80 % full, never rehashed). 285 bytes per state in all, measured with a counting
//! allocator by the `state` bench (1 M states: 285 MB). An insert past capacity fails with
//! [`StateError::Full`].
//!
//! Ids are `worker_index << 56 | counter`, the counter starting at a seed the caller derives
//! from the wall clock (pf seeds with the start time), so workers never collide and never
//! coordinate.
//!
//! # Expiry
//!
//! A state expires `timeout[class]` after its last activity, with pf's default timeouts
//! ([`Timeouts::PF_DEFAULTS`]; adaptive timeouts and per-rule timeouts are not implemented).
//! States sit on a hashed timing wheel with one-second ticks, linked through the slab:
//! refreshing is O(1) and lazy (a later deadline is noticed when the bucket fires, an earlier
//! one moves the state at once). [`StateTable::expire`] removes at most a budget of expired
//! states per call, never a state whose deadline has not passed.
//!
//! # Tracking
//!
//! [`StateTable::track`] applies pf's per-protocol rules to a packet that matched: TCP through
//! [`tcp::track_full`] (or [`tcp::track_sloppy`] for sloppy states), UDP and other protocols
//! single/multiple ([`peer::track_single_multiple`]), ICMP echo refreshed with `icmp.error`.
//! Drops are reported as [`StateDrop`] reasons for the worker's counters.
//!
//! # Per packet (the forwarder's view)
//!
//! ```text
//! tcp::check_flags(flags)?                       // pf scrub: impossible flag sets
//! match classify_ipv4(&ip)? {
//!   Classified::Flow(key) => match table.lookup(&key, dir) {
//!     Some(m) => table.track(m, now, &PacketMeta { len, tcp })?, // may queue an Update
//!     None => { rules...; table.insert(now, NewState { .. })? }  // queues an Insert
//!   },
//!   Classified::IcmpError(err) => {
//!     let m = table.lookup(&err.key, dir).ok_or(StateDrop::NoState)?;
//!     table.check_icmp_error(m, &err)?;
//!   }
//! }
//! // between bursts:
//! table.expire(now, budget, |h, st| ...);          // queues Deletes
//! for ev in table.events().drain() { /* to the sync lcore */ }
//! ```

// Indexing is how a table usually panics; keep it out of the non-test code altogether.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod event;
pub mod flow;
mod index;
pub mod key;
pub mod peer;
mod table;
pub mod tcp;
pub mod timeout;
mod wheel;

#[cfg(test)]
mod proptests;

pub use event::{EventQueue, StateEvent, StateSnapshot, SyncPolicy};
pub use flow::{Classified, IcmpErrorFlow, classify_ipv4, classify_ipv6};
pub use key::{Addr, Af, Direction, KeySide, PacketKey, PfDirection, StateKey};
pub use peer::{Peer, ProtoClass};
pub use table::{
    BURST, MAX_CAPACITY, Match, Merged, NO_RULE, NewState, PacketMeta, State, StateHandle,
    StateTable, StateTableConfig, TableStats, Tracked, merge_peers,
};
pub use tcp::TcpSegment;
pub use timeout::{Timeout, Timeouts};

/// pf state flags (`PFSTATE_*`, pfsync.md appendix); only the bits rampart acts on are named
/// here, the others are carried as received.
pub mod flags {
    /// IP options allowed.
    pub const ALLOW_OPTS: u16 = 0x0001;
    /// `keep state (sloppy)`: TCP tracked by flags only.
    pub const SLOPPY: u16 = 0x0002;
    /// `no-sync`: never sent to the pfsync peer.
    pub const NO_SYNC: u16 = 0x0008;
    /// pfsync deferral pending.
    pub const ACK: u16 = 0x0010;
}

/// Why the state layer refused a packet: each is a named drop counter for the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StateDrop {
    /// No room for a new state.
    TableFull,
    /// A new state's key is taken by another state (pf `PFRES_STATEINS`).
    StateExists,
    /// TCP segment outside the tracked windows (pf `PFRES_BADSTATE`).
    TcpBadState,
    /// Impossible TCP flag combination (pf scrub).
    TcpBadFlags,
    /// SYN on a closed TCP state: the old state was removed (pf "state reuse").
    TcpReuse,
    /// An ICMP error not addressed to the quoted packet's source.
    IcmpErrorMismatch,
    /// An ICMP error quoting a TCP sequence number outside the window.
    IcmpErrorBadSeq,
    /// A packet (or an ICMP error about one) that needs a state and has none.
    NoState,
    /// A non-first fragment: no ports to match (no reassembly yet).
    Fragment,
    /// A transport header too short for its ports (or an ICMP quote too short).
    Truncated,
    /// A call that does not fit the state (no TCP segment for a TCP state, stale handle).
    Invalid,
}

impl StateDrop {
    /// Every reason, in counter order.
    pub const ALL: [StateDrop; 11] = [
        StateDrop::TableFull,
        StateDrop::StateExists,
        StateDrop::TcpBadState,
        StateDrop::TcpBadFlags,
        StateDrop::TcpReuse,
        StateDrop::IcmpErrorMismatch,
        StateDrop::IcmpErrorBadSeq,
        StateDrop::NoState,
        StateDrop::Fragment,
        StateDrop::Truncated,
        StateDrop::Invalid,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The counter's name.
    pub const fn name(self) -> &'static str {
        match self {
            StateDrop::TableFull => "state_table_full",
            StateDrop::StateExists => "state_exists",
            StateDrop::TcpBadState => "tcp_bad_state",
            StateDrop::TcpBadFlags => "tcp_bad_flags",
            StateDrop::TcpReuse => "tcp_state_reuse",
            StateDrop::IcmpErrorMismatch => "icmp_error_mismatch",
            StateDrop::IcmpErrorBadSeq => "icmp_error_bad_seq",
            StateDrop::NoState => "no_state",
            StateDrop::Fragment => "fragment",
            StateDrop::Truncated => "l4_truncated",
            StateDrop::Invalid => "state_invalid",
        }
    }
}

impl From<tcp::TcpDrop> for StateDrop {
    fn from(d: tcp::TcpDrop) -> StateDrop {
        match d {
            tcp::TcpDrop::BadState => StateDrop::TcpBadState,
            tcp::TcpDrop::BadFlags => StateDrop::TcpBadFlags,
        }
    }
}

/// Why a state could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum StateError {
    /// The table is at capacity.
    #[error("state table full")]
    Full,
    /// Another state has one of the keys.
    #[error("a state with this key exists")]
    Exists,
    /// A state with this `(creatorid, id)` exists (pfsync import).
    #[error("a state with this id exists")]
    DuplicateId,
    /// Wire and stack keys of different families or protocols, or a TCP state without its
    /// segment.
    #[error("inconsistent state")]
    Invalid,
}

impl From<StateError> for StateDrop {
    fn from(e: StateError) -> StateDrop {
        match e {
            StateError::Full => StateDrop::TableFull,
            StateError::Exists | StateError::DuplicateId => StateDrop::StateExists,
            StateError::Invalid => StateDrop::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_name() {
        for (i, reason) in StateDrop::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        let mut names: Vec<_> = StateDrop::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StateDrop::COUNT);
    }
}

//! One worker's state shard: a preallocated slab of states, a hash index from direction-free
//! keys to slab slots, an index by `(creatorid, id)`, and the expiry wheel (see the module doc
//! of [`state`](super) for the contract).

use super::event::{EventQueue, StateEvent, StateSnapshot, SyncPolicy};
use super::flow::IcmpErrorFlow;
use super::index::Index;
use super::key::{Direction, KeyHasher, KeySide, PacketKey, PfDirection, StateKey};
use super::peer::{self, Peer, ProtoClass, tcps};
use super::tcp::{self, TcpSegment};
use super::timeout::{Timeout, Timeouts};
use super::wheel::{Linked, Links, NIL, Wheel, tick_of};
use super::{StateDrop, StateError, flags};
use crate::time::Instant;

/// Rule number meaning "no rule" (pfsync sends `0xffffffff`).
pub const NO_RULE: u32 = u32::MAX;

/// Largest capacity a table accepts: slot numbers must leave one bit for the key side.
pub const MAX_CAPACITY: usize = (1 << 31) - 2;

/// Names a state in one table. Stale after the state is removed: every accessor checks it, so
/// an old handle never reaches a new state that reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateHandle {
    slot: u32,
    generation: u32,
}

impl StateHandle {
    /// A handle no state has (generation 0 is never live).
    const NONE: StateHandle = StateHandle {
        slot: 0,
        generation: 0,
    };
}

/// A successful lookup: which state, which way the packet travels relative to the state's
/// creating packet, and which of its keys matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The state.
    pub handle: StateHandle,
    /// Which way the packet travels.
    pub direction: Direction,
    /// Which key it matched.
    pub side: KeySide,
}

/// `t` in whole seconds modulo 2¹⁶ ([`State::grace_until`]'s unit: compared by wrapping
/// difference, good for grace periods far shorter than 9 hours).
fn grace_secs(t: Instant) -> u16 {
    (t.micros() / 1_000_000) as u16
}

/// [`State`]'s local bits (never synced): the keys differ (NAT).
const TRANSLATED: u8 = 1;
/// Local bit: the `src` peer came from the pfsync peer and has not yet sent a segment that
/// passed the window checks here.
pub(super) const PICKED_UP_SRC: u8 = 2;
/// Local bit: the same for the `dst` peer.
pub(super) const PICKED_UP_DST: u8 = 4;
const PICKED_UP: u8 = PICKED_UP_SRC | PICKED_UP_DST;
/// Local bit: this node has forwarded a packet of a picked-up state, and its grace runs out at
/// [`State::grace_until`].
const GRACE_STARTED: u8 = 8;
/// How long a state learned from the pfsync peer may pass segments outside its (possibly
/// stale) windows, from the first packet this node forwards for it: a takeover's in-flight
/// segments and retransmissions arrive within this.
pub const PICKED_UP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// One connection state: what pf keeps in `struct pf_kstate` that pfsync copies.
///
/// Keys, ids and timing are read-only outside the table (the index and the wheel depend on
/// them); peers, counters, rule, interface, log and flags are the caller's to change through
/// [`StateTable::get_mut`] (the sync core's merge, for one).
// Laid out by hand (216 bytes; the slot header adds 16): the slot's first cache line holds
// what a lookup on the wire key reads (generation, direction, wire key), the second what every
// tracked packet changes (peers, packet counters, last activity), the third the byte counters,
// sync bookkeeping, identity and creation, the fourth the stack key (what a lookup on the
// stack key reads besides the generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct State {
    direction: PfDirection,
    timeout: Timeout,
    /// pf state flags ([`flags`]).
    pub state_flags: u16,
    wire: StateKey,
    /// pf log flags.
    pub log: u8,
    /// Local bits: [`TRANSLATED`] (kept beside the wire key so that a lookup knows without
    /// reading the stack key's line), the `PICKED_UP_*` bits and [`GRACE_STARTED`].
    local: u8,
    /// Interface (port index) the state is bound to; `None` = floating.
    pub interface: Option<u16>,
    /// The peer that sent the creating packet.
    pub src: Peer,
    /// The other peer.
    pub dst: Peer,
    /// Packets `[forward, reverse]` (pf's `packets[2]`).
    pub packets: [u64; 2],
    last_activity: Instant,
    /// Bytes `[forward, reverse]`.
    pub bytes: [u64; 2],
    last_event: Instant,
    synced_seqlo: [u32; 2],
    creatorid: u32,
    /// Rule number that created the state, [`NO_RULE`] for none.
    pub rule: u32,
    id: u64,
    creation: Instant,
    /// The state the same connection has on its other interface (pf gives a forwarded
    /// connection one state per interface it crosses), as a hint for the outbound lookup;
    /// checked before use, so a stale link costs a lookup, never a wrong match.
    twin: StateHandle,
    stack: StateKey,
    /// End of a picked-up state's grace, in whole seconds of [`Instant`] modulo 2¹⁶ (the
    /// slot's last two bytes; read only when a segment fails the windows).
    grace_until: u16,
}

impl State {
    /// What an unused slot holds.
    const VACANT: State = State {
        direction: PfDirection::In,
        timeout: Timeout::OtherFirst,
        state_flags: 0,
        wire: StateKey::EMPTY,
        stack: StateKey::EMPTY,
        src: Peer::ZERO,
        dst: Peer::ZERO,
        creatorid: 0,
        rule: NO_RULE,
        id: 0,
        creation: Instant::ZERO,
        twin: StateHandle::NONE,
        last_activity: Instant::ZERO,
        last_event: Instant::ZERO,
        packets: [0; 2],
        bytes: [0; 2],
        synced_seqlo: [0; 2],
        interface: None,
        log: 0,
        local: 0,
        grace_until: 0,
    };

    /// Whether a picked-up state's grace (if started) still runs at `now`.
    fn in_grace(&self, now: Instant) -> bool {
        self.local & GRACE_STARTED == 0
            || (grace_secs(now).wrapping_sub(self.grace_until) as i16) < 0
    }

    /// The wire key (pfsync `key[0]`).
    pub fn wire(&self) -> &StateKey {
        &self.wire
    }

    /// The stack key (pfsync `key[1]`).
    pub fn stack(&self) -> &StateKey {
        &self.stack
    }

    /// The key on `side`.
    pub fn key(&self, side: KeySide) -> &StateKey {
        match side {
            KeySide::Wire => &self.wire,
            KeySide::Stack => &self.stack,
        }
    }

    /// State id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Host id of the node that created it.
    pub fn creatorid(&self) -> u32 {
        self.creatorid
    }

    /// Creation time.
    pub fn creation(&self) -> Instant {
        self.creation
    }

    /// Last activity: the time its timeout counts from (pf's `expire`).
    pub fn last_activity(&self) -> Instant {
        self.last_activity
    }

    /// Timeout class.
    pub fn timeout(&self) -> Timeout {
        self.timeout
    }

    /// Direction of the creating packet.
    pub fn direction(&self) -> PfDirection {
        self.direction
    }

    /// IP protocol.
    pub fn proto(&self) -> u8 {
        self.wire.proto.0
    }

    /// Whether the wire and stack keys differ (the state translates).
    pub fn is_translated(&self) -> bool {
        self.local & TRANSLATED != 0
    }

    /// `(sender, receiver)` for a packet travelling `dir`.
    pub fn peers(&self, dir: Direction) -> (&Peer, &Peer) {
        match dir {
            Direction::Forward => (&self.src, &self.dst),
            Direction::Reverse => (&self.dst, &self.src),
        }
    }

    fn peers_mut(&mut self, dir: Direction) -> (&mut Peer, &mut Peer) {
        match dir {
            Direction::Forward => (&mut self.src, &mut self.dst),
            Direction::Reverse => (&mut self.dst, &mut self.src),
        }
    }

    /// The key a packet on `side` travelling `dir` carries (after translation by this state,
    /// a packet crossing to the other side carries the other side's key in the same
    /// direction).
    pub fn packet_key(&self, side: KeySide, dir: Direction) -> PacketKey {
        let forward = self.key(side).packet(self.direction);
        match dir {
            Direction::Forward => forward,
            Direction::Reverse => forward.reversed(),
        }
    }

    fn syncs(&self) -> bool {
        self.state_flags & flags::NO_SYNC == 0
    }

    fn deadline(&self, timeouts: &Timeouts) -> u64 {
        self.last_activity
            .micros()
            .saturating_add(timeouts.micros(self.timeout))
    }

    /// A by-value copy for the sync core; `timeouts` gives the expiry.
    pub fn snapshot(&self, timeouts: &Timeouts) -> StateSnapshot {
        StateSnapshot {
            id: self.id,
            creatorid: self.creatorid,
            wire: self.wire,
            stack: self.stack,
            src: self.src,
            dst: self.dst,
            rule: self.rule,
            creation: self.creation,
            last_activity: self.last_activity,
            expires_at: Instant(self.deadline(timeouts)),
            timeout: self.timeout,
            direction: self.direction,
            interface: self.interface,
            packets: self.packets,
            bytes: self.bytes,
            log: self.log,
            state_flags: self.state_flags,
        }
    }
}

/// A state to create from the packet that opened it (after the rules passed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewState {
    /// The creating packet's flow as seen on the state's interface.
    pub wire: PacketKey,
    /// The same packet's flow on the other side of NAT (equal to `wire` without NAT).
    pub stack: PacketKey,
    /// Which way the creating packet went through its interface.
    pub direction: PfDirection,
    /// Interface (port index) to bind to; `None` = floating (pfSense's default policy).
    pub interface: Option<u16>,
    /// Rule number, [`NO_RULE`] for none.
    pub rule: u32,
    /// pf log flags.
    pub log: u8,
    /// pf state flags ([`flags`]: sloppy, no-sync, ...).
    pub state_flags: u16,
    /// The creating packet's length in bytes (IP total length, as pf counts).
    pub len: u32,
    /// The creating segment, required for TCP.
    pub tcp: Option<TcpSegment>,
}

impl NewState {
    /// A state for a packet of flow `key` going `direction`, without NAT, floating, no rule.
    pub fn new(key: PacketKey, direction: PfDirection) -> NewState {
        NewState {
            wire: key,
            stack: key,
            direction,
            interface: None,
            rule: NO_RULE,
            log: 0,
            state_flags: 0,
            len: 0,
            tcp: None,
        }
    }
}

/// What the tracker needs from a packet that matched a state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Length in bytes (IP total length) for the counters.
    pub len: u32,
    /// The TCP segment, required for TCP states.
    pub tcp: Option<TcpSegment>,
}

/// Result of [`StateTable::track`] for a packet that may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// The state's class afterwards.
    pub timeout: Timeout,
    /// Whether the expiry was refreshed (false for pf's loose TCP matches).
    pub refreshed: bool,
    /// Whether an update event was queued.
    pub synced: bool,
}

/// A table's counters (monotonic; plain integers owned by the worker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// States created here.
    pub inserted: u64,
    /// States imported from pfsync.
    pub imported: u64,
    /// States removed by [`StateTable::expire`].
    pub expired: u64,
    /// States removed otherwise (remove, reuse, replaced on collision).
    pub removed: u64,
    /// Inserts refused: table full.
    pub full: u64,
    /// Inserts refused: key collision.
    pub exists: u64,
    /// Updates from the pfsync peer merged into a state.
    pub merged: u64,
    /// Merged updates that were behind the local state (pf's `stale`).
    pub stale: u64,
    /// TCP segments of states learned from the pfsync peer that failed the window checks and
    /// passed as loose matches ([`tcp::track_picked_up`]), as after a takeover.
    pub picked_up_loose: u64,
}

/// Settings of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTableConfig {
    /// Most states at once; memory for all of them is reserved at construction.
    pub capacity: usize,
    /// This node's pf host id (pfsync creatorid); must be non-zero to sync.
    pub creatorid: u32,
    /// The worker's index: the top 8 bits of every id it makes.
    pub worker_index: u8,
    /// Start of the id counter (56 bits). pf seeds it with the start time so that ids are not
    /// reused across restarts while the peer still holds old states: pass e.g.
    /// `unix_seconds << 24`.
    pub id_seed: u64,
    /// Timeout lengths.
    pub timeouts: Timeouts,
    /// Events buffered between drains; 0 = no events.
    pub event_capacity: usize,
    /// When updates are reported.
    pub sync: SyncPolicy,
}

impl StateTableConfig {
    /// Defaults for a shard of `capacity` states: pf timeouts, events off, id seed 1.
    pub fn new(capacity: usize, creatorid: u32, worker_index: u8) -> Self {
        StateTableConfig {
            capacity,
            creatorid,
            worker_index,
            id_seed: 1,
            timeouts: Timeouts::default(),
            event_capacity: 0,
            sync: SyncPolicy::default(),
        }
    }
}

/// A slab entry: four cache lines. The generation is odd while the slot holds a state and
/// even while it is free; it is in the first line with the wheel links, the state's
/// direction and its wire key, so that a lookup on the wire key reads one line of the slot.
#[repr(C, align(64))]
struct Slot {
    generation: u32,
    links: Links,
    state: State,
}

impl Slot {
    #[inline]
    fn live(&self) -> Option<&State> {
        (self.generation & 1 == 1).then_some(&self.state)
    }

    #[inline]
    fn live_mut(&mut self) -> Option<&mut State> {
        if self.generation & 1 == 1 {
            Some(&mut self.state)
        } else {
            None
        }
    }
}

impl Linked for Slot {
    #[inline]
    fn links(&self) -> &Links {
        &self.links
    }
    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }
}

/// A key-index value: slot number and key side in one `u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry(u32);

impl Entry {
    const NONE: Entry = Entry(NIL);

    fn new(slot: u32, side: KeySide) -> Entry {
        Entry((slot << 1) | u32::from(side == KeySide::Stack))
    }
    fn slot(self) -> u32 {
        self.0 >> 1
    }
    fn side(self) -> KeySide {
        if self.0 & 1 == 0 {
            KeySide::Wire
        } else {
            KeySide::Stack
        }
    }
}

/// Keys [`StateTable::lookup_burst`] works on at a time.
pub const BURST: usize = 32;

/// A candidate slot's generation, direction and key, copied out by a burst.
#[derive(Debug, Clone, Copy)]
struct SlabPeek {
    generation: u32,
    direction: PfDirection,
    translated: bool,
    key: StateKey,
}

/// Whether a packet crossing its interface `dir` may match a state through its key on
/// `side`. pf (`pf_find_state`): inbound packets are looked up among wire keys, outbound ones
/// among stack keys; a state whose keys are equal has one entry, on the wire side, for both.
#[inline]
fn side_allows(side: KeySide, translated: bool, dir: PfDirection) -> bool {
    match (side, dir) {
        (KeySide::Wire, PfDirection::In) | (KeySide::Stack, PfDirection::Out) => true,
        (KeySide::Wire, PfDirection::Out) => !translated,
        (KeySide::Stack, PfDirection::In) => false,
    }
}

impl SlabPeek {
    /// The match of lookup key `key` (a packet crossing `dir`) through `entry`, if this copy
    /// of its slot holds that key on a side the direction may use.
    #[inline]
    fn confirm(&self, entry: Entry, key: &StateKey, dir: PfDirection) -> Option<Match> {
        if self.key != *key || !side_allows(entry.side(), self.translated, dir) {
            return None;
        }
        let direction = if dir == self.direction {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        Some(Match {
            handle: StateHandle {
                slot: entry.slot(),
                generation: self.generation,
            },
            direction,
            side: entry.side(),
        })
    }
}

const ID_BITS: u32 = 56;
const ID_MASK: u64 = (1 << ID_BITS) - 1;

/// One worker's connection states. See the [module doc](super) for the contract.
pub struct StateTable {
    slots: Vec<Slot>,
    capacity: usize,
    len: usize,
    free: Vec<u32>,
    index: Index,
    ids: Index,
    hasher: KeyHasher,
    wheel: Wheel,
    creatorid: u32,
    worker_index: u8,
    next_id: u64,
    timeouts: Timeouts,
    events: EventQueue,
    sync: SyncPolicy,
    stats: TableStats,
}

impl std::fmt::Debug for StateTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateTable")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("creatorid", &self.creatorid)
            .field("worker_index", &self.worker_index)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl StateTable {
    /// A table for `capacity` states with pf's default timeouts and events off.
    pub fn new(capacity: usize, creatorid: u32, worker_index: u8) -> StateTable {
        Self::with_config(StateTableConfig::new(capacity, creatorid, worker_index))
    }

    /// A table with `config`. Reserves all memory now: the slab (256 bytes a state), the free
    /// stack, the key index (room for two entries a state: wire and stack key) and the id
    /// index, 285 bytes a state in all. `capacity` is clamped to [`MAX_CAPACITY`].
    pub fn with_config(config: StateTableConfig) -> StateTable {
        let capacity = config.capacity.min(MAX_CAPACITY);
        StateTable {
            slots: Vec::with_capacity(capacity),
            capacity,
            len: 0,
            free: Vec::with_capacity(capacity),
            index: Index::new(capacity.saturating_mul(2)),
            ids: Index::new(capacity),
            hasher: KeyHasher::random(),
            wheel: Wheel::new(),
            creatorid: config.creatorid,
            worker_index: config.worker_index,
            next_id: config.id_seed.max(1) & ID_MASK,
            timeouts: config.timeouts,
            events: EventQueue::new(config.event_capacity),
            sync: config.sync,
            stats: TableStats::default(),
        }
    }

    /// States held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no state is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most states the table holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// This node's creatorid.
    pub fn creatorid(&self) -> u32 {
        self.creatorid
    }

    /// Timeout lengths in force.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Replaces the timeout lengths. States keep their filing: a longer timeout applies at
    /// once (lazily), a shorter one when the state is next refreshed or its bucket fires.
    pub fn set_timeouts(&mut self, timeouts: Timeouts) {
        self.timeouts = timeouts;
    }

    /// Counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// The event buffer, to drain between bursts.
    pub fn events(&mut self) -> &mut EventQueue {
        &mut self.events
    }

    /// Bytes allocated by the table (slab, both indexes, wheel, event buffer).
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.index.memory_bytes()
            + self.ids.memory_bytes()
            + self.wheel.memory_bytes()
            + self.events.memory_bytes()
    }

    #[inline]
    fn slot(&self, h: StateHandle) -> Option<&State> {
        self.slots
            .get(h.slot as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(Slot::live)
    }

    #[inline]
    fn slot_mut(&mut self, h: StateHandle) -> Option<&mut State> {
        self.slots
            .get_mut(h.slot as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(Slot::live_mut)
    }

    fn handle_of(&self, slot: u32) -> StateHandle {
        let generation = self.slots.get(slot as usize).map_or(0, |s| s.generation);
        StateHandle { slot, generation }
    }

    /// The state behind `handle`, if it still exists.
    #[inline]
    pub fn get(&self, handle: StateHandle) -> Option<&State> {
        self.slot(handle)
    }

    /// The state behind `handle`, mutably. Keys, ids and timing cannot be changed this way;
    /// use [`touch`](Self::touch) to move the expiry.
    #[inline]
    pub fn get_mut(&mut self, handle: StateHandle) -> Option<&mut State> {
        self.slot_mut(handle)
    }

    /// Finds the state of a packet with flow `key` crossing its interface `dir`, as pf does:
    /// an inbound packet matches a state's wire key, an outbound one its stack key, each in
    /// pf's layout ([`StateKey::lookup`]). So a state created inbound matches its packets
    /// inbound and its replies outbound; an outbound packet of the same flow on another
    /// interface does not match it (pf gives it a state of its own there, with NAT if any).
    /// One probe of the index (one cache line, usually), then one read of the slab to confirm
    /// the key.
    #[inline]
    pub fn lookup(&self, key: &PacketKey, dir: PfDirection) -> Option<Match> {
        let lookup = StateKey::lookup(key, dir);
        self.lookup_key(&lookup, dir)
    }

    #[inline]
    fn lookup_key(&self, key: &StateKey, dir: PfDirection) -> Option<Match> {
        let hash = self.hasher.hash(key);
        let slots = &self.slots;
        let entry = self.index.find(hash, |v| {
            let e = Entry(v);
            slots
                .get(e.slot() as usize)
                .and_then(Slot::live)
                .is_some_and(|st| {
                    st.key(e.side()) == key && side_allows(e.side(), st.is_translated(), dir)
                })
        })?;
        self.peek(Entry(entry))?.confirm(Entry(entry), key, dir)
    }

    /// Whether a state holds `key` (in pf's layout) on either side: a NAT port is free for a
    /// new state only if its wire key is not.
    pub fn key_in_use(&self, key: &StateKey) -> bool {
        self.holder_of(key).is_some()
    }

    /// The state holding `key` on either side, whatever the direction (insert collisions).
    fn holder_of(&self, key: &StateKey) -> Option<StateHandle> {
        let hash = self.hasher.hash(key);
        let slots = &self.slots;
        let entry = self.index.find(hash, |v| {
            let e = Entry(v);
            slots
                .get(e.slot() as usize)
                .and_then(Slot::live)
                .is_some_and(|st| st.key(e.side()) == key)
        })?;
        Some(self.handle_of(Entry(entry).slot()))
    }

    /// [`lookup`](Self::lookup) for a burst of packets crossing their interface `dir`:
    /// `out[i]` is the match of `keys[i]` (as far as both go). The same answers, faster per
    /// key: the work is done in stages over up to [`BURST`] keys — all hashes; all index lines
    /// loaded; all index searches; all slab reads; all confirmations — so the cache misses of
    /// different keys overlap instead of waiting for each other.
    pub fn lookup_burst(&self, keys: &[PacketKey], dir: PfDirection, out: &mut [Option<Match>]) {
        for (keys, out) in keys.chunks(BURST).zip(out.chunks_mut(BURST)) {
            self.lookup_chunk(keys, dir, out);
        }
    }

    fn lookup_chunk(&self, keys: &[PacketKey], dir: PfDirection, out: &mut [Option<Match>]) {
        let n = keys.len().min(out.len()).min(BURST);
        // 1. Lookup keys and hashes (no memory).
        let mut lookups = [StateKey::EMPTY; BURST];
        let mut hashes = [0u64; BURST];
        for ((key, lookup), hash) in keys.iter().zip(lookups.iter_mut()).zip(hashes.iter_mut()) {
            *lookup = StateKey::lookup(key, dir);
            *hash = self.hasher.hash(lookup);
        }
        // 2. Every key's index line. These loops stay tiny so that many misses are in flight.
        let mut touched = [0u64; BURST];
        for (hash, t) in hashes.iter().zip(touched.iter_mut()).take(n) {
            *t = self.index.touch(*hash);
        }
        // 3. Searches, on tags only (the slab is not read yet).
        let mut found = [Entry::NONE; BURST];
        for ((hash, t), entry) in hashes.iter().zip(&touched).zip(found.iter_mut()).take(n) {
            if let Some(v) = self.index.find_touched(*hash, *t, |_| true) {
                *entry = Entry(v);
            }
        }
        // 4. Every candidate's slot: its generation, folded with a port of the matched key,
        //    which brings in the slot's first line and the line of that key (the same line
        //    for the wire key). Vacant slots are read too; step 5 sorts them out.
        //    Tracking comes next and writes the slot's second and third lines (peers and
        //    counters): load a byte of each now, so that those misses overlap too.
        let mut seen = [0u32; BURST];
        let mut ahead = 0u64;
        for (entry, seen) in found.iter().zip(seen.iter_mut()).take(n) {
            *seen = self.slots.get(entry.slot() as usize).map_or(0, |s| {
                let [port, _] = s.state.key(entry.side()).port;
                ahead ^= u64::from(s.state.src.state) ^ s.state.bytes[0];
                s.generation ^ u32::from(port)
            });
        }
        std::hint::black_box(ahead);
        // 5. Confirmations. A false tag match (15 bits) falls back to the full probe.
        for (((key, entry), seen), out) in lookups
            .iter()
            .zip(&found)
            .zip(&seen)
            .zip(out.iter_mut())
            .take(n)
        {
            if entry.0 == NIL {
                *out = None;
            } else if let Some(m) = self
                .peek(*entry)
                .filter(|p| p.generation ^ u32::from(p.key.port[0]) == *seen)
                .and_then(|p| p.confirm(*entry, key, dir))
            {
                *out = Some(m);
            } else {
                self.lookup_into(key, dir, out);
            }
        }
    }

    /// The slow path of a burst (a false tag match): kept out of line so that the fast path
    /// writes its result straight out.
    #[cold]
    #[inline(never)]
    fn lookup_into(&self, key: &StateKey, dir: PfDirection, out: &mut Option<Match>) {
        *out = self.lookup_key(key, dir);
    }

    /// What a burst needs from a candidate's slot, copied out in one go.
    #[inline]
    fn peek(&self, entry: Entry) -> Option<SlabPeek> {
        let slot = self.slots.get(entry.slot() as usize)?;
        let st = slot.live()?;
        Some(SlabPeek {
            generation: slot.generation,
            direction: st.direction,
            translated: st.is_translated(),
            key: *st.key(entry.side()),
        })
    }

    /// Links two states of one connection (inbound on one interface, outbound on the other),
    /// so that a packet matching one finds the other without a lookup ([`twin_match`]).
    ///
    /// [`twin_match`]: Self::twin_match
    pub fn link_twins(&mut self, a: StateHandle, b: StateHandle) {
        if a == b || self.slot(a).is_none() || self.slot(b).is_none() {
            return;
        }
        if let Some(st) = self.slot_mut(a) {
            st.twin = b;
        }
        if let Some(st) = self.slot_mut(b) {
            st.twin = a;
        }
    }

    /// The handle `handle`'s state links to, without checking that it is still live (for
    /// [`preload`](Self::preload)).
    #[inline]
    pub fn twin_unchecked(&self, handle: StateHandle) -> Option<StateHandle> {
        self.slot(handle).map(|st| st.twin)
    }

    /// The linked state of `handle`, if it still exists.
    #[inline]
    pub fn twin(&self, handle: StateHandle) -> Option<StateHandle> {
        let twin = self.slot(handle)?.twin;
        self.slot(twin).map(|_| twin)
    }

    /// Loads the lines of `handle`'s slot that matching and tracking read (for a burst, ahead
    /// of their use, so that the misses overlap); returns a value to feed `black_box`.
    #[inline]
    pub fn preload(&self, handle: StateHandle) -> u64 {
        self.slots.get(handle.slot as usize).map_or(0, |s| {
            u64::from(s.generation)
                ^ u64::from(s.state.wire.port[0])
                ^ u64::from(s.state.src.state)
                ^ s.state.bytes[0]
        })
    }

    /// What [`lookup`](Self::lookup) of `key` crossing `dir` would give, if that is the state
    /// `handle`: its key on a side `dir` may use equals the lookup key. Keys are unique in the
    /// table, so a match here is the match. `None` says nothing (look up).
    #[inline]
    pub fn twin_match(
        &self,
        handle: StateHandle,
        key: &PacketKey,
        dir: PfDirection,
    ) -> Option<Match> {
        let lookup = StateKey::lookup(key, dir);
        let st = self.slot(handle)?;
        let side = if st.wire == lookup && side_allows(KeySide::Wire, st.is_translated(), dir) {
            KeySide::Wire
        } else if st.is_translated() && st.stack == lookup && dir == PfDirection::Out {
            KeySide::Stack
        } else {
            return None;
        };
        Some(Match {
            handle,
            direction: if dir == st.direction {
                Direction::Forward
            } else {
                Direction::Reverse
            },
            side,
        })
    }

    /// The state with pfsync identity `(creatorid, id)`.
    pub fn by_id(&self, creatorid: u32, id: u64) -> Option<StateHandle> {
        let hash = self.hasher.hash_id(creatorid, id);
        let slots = &self.slots;
        let slot = self.ids.find(hash, |s| {
            slots
                .get(s as usize)
                .and_then(Slot::live)
                .is_some_and(|st| st.id == id && st.creatorid == creatorid)
        })?;
        Some(self.handle_of(slot))
    }

    fn alloc_id(&mut self) -> u64 {
        let id = (u64::from(self.worker_index) << ID_BITS) | (self.next_id & ID_MASK);
        self.next_id = (self.next_id + 1) & ID_MASK;
        if self.next_id == 0 {
            self.next_id = 1;
        }
        id
    }

    /// Creates a state from the packet that opened it and queues an insert event. A key
    /// collision with a TCP state whose both sides are at FIN_WAIT_2 or later replaces that
    /// state (pf retires it); any other collision is refused.
    ///
    /// # Errors
    ///
    /// [`StateError::Full`] at capacity, [`StateError::Exists`] on a key collision,
    /// [`StateError::Invalid`] if the two keys differ in family or protocol or a TCP state
    /// comes without its segment.
    pub fn insert(&mut self, now: Instant, new: NewState) -> Result<StateHandle, StateError> {
        if new.wire.af != new.stack.af || new.wire.proto != new.stack.proto {
            return Err(StateError::Invalid);
        }
        let class = ProtoClass::of(new.wire.proto.0);
        let (src, dst) = match (class, new.tcp) {
            (ProtoClass::Tcp, Some(seg)) => tcp::initial_peers(&seg),
            (ProtoClass::Tcp, None) => return Err(StateError::Invalid),
            _ => peer::initial_peers(class),
        };
        if self.len >= self.capacity {
            self.stats.full += 1;
            return Err(StateError::Full);
        }
        let state = State {
            wire: StateKey::from_packet(&new.wire, new.direction),
            stack: StateKey::from_packet(&new.stack, new.direction),
            local: if new.wire != new.stack { TRANSLATED } else { 0 },
            grace_until: 0,
            src,
            dst,
            packets: [1, 0],
            bytes: [u64::from(new.len), 0],
            id: 0,
            creation: now,
            twin: StateHandle::NONE,
            last_activity: now,
            last_event: now,
            creatorid: self.creatorid,
            rule: new.rule,
            synced_seqlo: [src.seqlo, dst.seqlo],
            interface: new.interface,
            state_flags: new.state_flags,
            log: new.log,
            timeout: class.first_timeout(),
            direction: new.direction,
        };
        self.make_room(&state)?;
        let mut state = state;
        state.id = self.alloc_id();
        let handle = self.place(now, state)?;
        self.stats.inserted += 1;
        if self.events.enabled()
            && let Some(st) = self.slot(handle)
            && st.syncs()
        {
            let snap = st.snapshot(&self.timeouts);
            self.events.push(StateEvent::Insert(snap));
        }
        Ok(handle)
    }

    /// Adds a state received from a pfsync peer, with its identity, keys, peers and times as
    /// given (`snap.last_activity` is what its expiry counts from). No event is queued (pf
    /// does not echo imports); later local updates and the delete are reported.
    ///
    /// # Errors
    ///
    /// [`StateError::DuplicateId`] if `(creatorid, id)` is already here, otherwise as
    /// [`insert`](Self::insert).
    pub fn import(
        &mut self,
        now: Instant,
        snap: &StateSnapshot,
    ) -> Result<StateHandle, StateError> {
        if snap.wire.af != snap.stack.af || snap.wire.proto != snap.stack.proto {
            return Err(StateError::Invalid);
        }
        if self.by_id(snap.creatorid, snap.id).is_some() {
            return Err(StateError::DuplicateId);
        }
        if self.len >= self.capacity {
            self.stats.full += 1;
            return Err(StateError::Full);
        }
        let state = State {
            wire: snap.wire,
            stack: snap.stack,
            local: PICKED_UP
                | if snap.wire != snap.stack {
                    TRANSLATED
                } else {
                    0
                },
            grace_until: 0,
            src: snap.src,
            dst: snap.dst,
            packets: snap.packets,
            bytes: snap.bytes,
            id: snap.id,
            creation: snap.creation,
            twin: StateHandle::NONE,
            last_activity: snap.last_activity,
            last_event: now,
            creatorid: snap.creatorid,
            rule: snap.rule,
            synced_seqlo: [snap.src.seqlo, snap.dst.seqlo],
            interface: snap.interface,
            state_flags: snap.state_flags,
            log: snap.log,
            timeout: snap.timeout,
            direction: snap.direction,
        };
        self.make_room(&state)?;
        let handle = self.place(now, state)?;
        self.stats.imported += 1;
        Ok(handle)
    }

    /// Refuses `state` if one of its keys is taken, except by a closed TCP state, which is
    /// removed (pf's rule on insert collisions).
    fn make_room(&mut self, state: &State) -> Result<(), StateError> {
        let sides: &[KeySide] = if state.is_translated() {
            &[KeySide::Wire, KeySide::Stack]
        } else {
            &[KeySide::Wire]
        };
        for &side in sides {
            if let Some(old) = self.holder_of(state.key(side)) {
                let closed = self.slot(old).is_some_and(|old| {
                    old.proto() == 6
                        && old.src.state >= tcps::FIN_WAIT_2
                        && old.dst.state >= tcps::FIN_WAIT_2
                });
                if !closed {
                    self.stats.exists += 1;
                    return Err(StateError::Exists);
                }
                self.remove(old);
            }
        }
        Ok(())
    }

    /// Stores a state whose keys are free: slot, index entries, id entry, wheel.
    fn place(&mut self, now: Instant, state: State) -> Result<StateHandle, StateError> {
        let two = state.is_translated();
        let slot = if let Some(slot) = self.free.pop() {
            slot
        } else if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                generation: 0,
                links: Links::DETACHED,
                state: State::VACANT,
            });
            u32::try_from(self.slots.len() - 1).map_err(|_| StateError::Full)?
        } else {
            self.stats.full += 1;
            return Err(StateError::Full);
        };
        let wire_hash = self.hasher.hash(&state.wire);
        let stack_hash = self.hasher.hash(&state.stack);
        let id_h = self.hasher.hash_id(state.creatorid, state.id);
        let deadline = state.deadline(&self.timeouts);
        // The indexes hold two entries per slot (one for ids), so they cannot be full when the
        // slab is not; should they be, back out.
        let wire = Entry::new(slot, KeySide::Wire).0;
        let stack = Entry::new(slot, KeySide::Stack).0;
        let indexed = self.index.insert(wire_hash, wire)
            && (!two || self.index.insert(stack_hash, stack) || {
                self.index.remove(wire_hash, wire);
                false
            })
            && (self.ids.insert(id_h, slot) || {
                self.index.remove(wire_hash, wire);
                if two {
                    self.index.remove(stack_hash, stack);
                }
                false
            });
        if !indexed {
            self.free.push(slot);
            self.stats.full += 1;
            return Err(StateError::Full);
        }
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return Err(StateError::Full);
        };
        s.links = Links::DETACHED;
        s.state = state;
        s.generation = s.generation.wrapping_add(1) | 1;
        let generation = s.generation;
        self.wheel
            .catch_up_if_empty(now.micros() / super::wheel::TICK_US);
        self.wheel.file(&mut self.slots, slot, tick_of(deadline));
        self.len += 1;
        Ok(StateHandle { slot, generation })
    }

    /// Removes a state and queues a delete event (unless it is no-sync). Returns it.
    pub fn remove(&mut self, handle: StateHandle) -> Option<State> {
        let state = self.take(handle)?;
        self.stats.removed += 1;
        self.report_delete(&state);
        Some(state)
    }

    /// Removes a state without an event: for deletes that came from the pfsync peer.
    pub fn remove_quiet(&mut self, handle: StateHandle) -> Option<State> {
        let state = self.take(handle)?;
        self.stats.removed += 1;
        Some(state)
    }

    fn report_delete(&mut self, state: &State) {
        if self.events.enabled() && state.syncs() {
            self.events.push(StateEvent::Delete {
                creatorid: state.creatorid,
                id: state.id,
            });
        }
    }

    /// Unlinks a state from everything and frees its slot.
    fn take(&mut self, handle: StateHandle) -> Option<State> {
        let (wire_hash, stack_hash, two, id_h) = {
            let st = self.slot(handle)?;
            (
                self.hasher.hash(&st.wire),
                self.hasher.hash(&st.stack),
                st.is_translated(),
                self.hasher.hash_id(st.creatorid, st.id),
            )
        };
        let slot = handle.slot;
        self.index
            .remove(wire_hash, Entry::new(slot, KeySide::Wire).0);
        if two {
            self.index
                .remove(stack_hash, Entry::new(slot, KeySide::Stack).0);
        }
        self.ids.remove(id_h, slot);
        self.wheel.unlink(&mut self.slots, slot);
        let s = self.slots.get_mut(slot as usize)?;
        let state = s.live().copied();
        s.generation = s.generation.wrapping_add(1) & !1;
        s.links = Links::DETACHED;
        self.free.push(slot);
        self.len -= 1;
        state
    }

    /// Sets a state's class and restarts its timeout from `now` (pf: `expire = now`). For the
    /// sync core's merge; [`track`](Self::track) does this itself.
    pub fn touch(&mut self, handle: StateHandle, now: Instant, timeout: Timeout) {
        let timeouts = self.timeouts;
        let Some(st) = self.slot_mut(handle) else {
            return;
        };
        st.last_activity = now;
        st.timeout = timeout;
        let deadline = st.deadline(&timeouts);
        self.wheel
            .refile_if_earlier(&mut self.slots, handle.slot, tick_of(deadline));
    }

    /// The per-packet step for a packet that matched `m`: protocol tracking (pf's
    /// `pf_test_state`), counters, expiry refresh, and an update event when significant.
    ///
    /// # Errors
    ///
    /// * [`StateDrop::TcpBadState`]: outside the TCP windows. pf's side effects on the peers
    ///   are kept (see [`tcp::TcpReject`]).
    /// * [`StateDrop::TcpReuse`]: a SYN on a closed TCP state; the state **has been removed**,
    ///   so the caller may treat the packet as new (pf drops it and lets the retransmitted SYN
    ///   create the state).
    /// * [`StateDrop::Invalid`]: a TCP state but no segment in `pkt`, or a stale handle.
    pub fn track(
        &mut self,
        m: Match,
        now: Instant,
        pkt: &PacketMeta,
    ) -> Result<Tracked, StateDrop> {
        let timeouts = self.timeouts;
        let policy = self.sync;
        let events_on = self.events.enabled();
        let class = ProtoClass::of(self.slot(m.handle).ok_or(StateDrop::Invalid)?.proto());
        if class == ProtoClass::Tcp {
            let seg = pkt.tcp.as_ref().ok_or(StateDrop::Invalid)?;
            if self
                .slot(m.handle)
                .is_some_and(|st| tcp::is_reuse(&st.src, &st.dst, seg))
            {
                self.remove(m.handle);
                return Err(StateDrop::TcpReuse);
            }
        }
        let mut picked_up_loose = false;
        let st = self.slot_mut(m.handle).ok_or(StateDrop::Invalid)?;
        let before = (st.src.state, st.dst.state, st.timeout);
        let dir = m.direction;
        let new_class = match class {
            ProtoClass::Tcp => {
                let seg = pkt.tcp.as_ref().ok_or(StateDrop::Invalid)?;
                let (s, d) = st.peers(dir);
                let result = if st.state_flags & flags::SLOPPY != 0 {
                    Ok(tcp::track_sloppy(*s, *d, seg))
                } else {
                    match tcp::track_full(*s, *d, seg) {
                        Err(_) if st.local & PICKED_UP != 0 && st.in_grace(now) => {
                            let loose = tcp::track_picked_up(*s, *d, seg);
                            picked_up_loose = loose.is_ok();
                            loose
                        }
                        strict => strict,
                    }
                };
                if st.local & PICKED_UP != 0 && st.local & GRACE_STARTED == 0 {
                    // The first packet here of a state learned from the peer: a takeover.
                    st.local |= GRACE_STARTED;
                    st.grace_until = grace_secs(now + PICKED_UP_GRACE);
                }
                let (sender, receiver) = st.peers_mut(dir);
                match result {
                    Ok(up) => {
                        *sender = up.src;
                        *receiver = up.dst;
                        up.timeout
                    }
                    Err(rej) => {
                        *sender = rej.src;
                        *receiver = rej.dst;
                        return Err(StateDrop::TcpBadState);
                    }
                }
            }
            ProtoClass::Udp | ProtoClass::Other => {
                let (sender, receiver) = st.peers_mut(dir);
                Some(peer::track_single_multiple(sender, receiver, class))
            }
            ProtoClass::Icmp => Some(Timeout::IcmpError),
        };
        let i = dir.index();
        if let Some(p) = st.packets.get_mut(i) {
            *p += 1;
        }
        if let Some(b) = st.bytes.get_mut(i) {
            *b += u64::from(pkt.len);
        }
        if let Some(t) = new_class {
            st.last_activity = now;
            st.timeout = t;
        }
        let significant = events_on
            && st.syncs()
            && (before != (st.src.state, st.dst.state, st.timeout)
                || (class == ProtoClass::Tcp
                    && (st.src.seqlo.wrapping_sub(st.synced_seqlo[0]) >= policy.seq_advance
                        || st.dst.seqlo.wrapping_sub(st.synced_seqlo[1]) >= policy.seq_advance))
                || now.since(st.last_event) >= policy.refresh);
        let snapshot = if significant {
            st.last_event = now;
            st.synced_seqlo = [st.src.seqlo, st.dst.seqlo];
            Some(st.snapshot(&timeouts))
        } else {
            None
        };
        let timeout = st.timeout;
        let deadline = st.deadline(&timeouts);
        if new_class.is_some() {
            self.wheel
                .refile_if_earlier(&mut self.slots, m.handle.slot, tick_of(deadline));
        }
        if picked_up_loose {
            self.stats.picked_up_loose += 1;
        }
        if let Some(snap) = snapshot {
            self.events.push(StateEvent::Update(snap));
        }
        Ok(Tracked {
            timeout,
            refreshed: new_class.is_some(),
            synced: significant,
        })
    }

    /// Checks an ICMP error that matched `m` through [`IcmpErrorFlow::key`]: for TCP the
    /// quoted sequence number must be in the window of the side that sent the quoted segment
    /// (pf; skipped for sloppy states). The state itself is not refreshed (pf does not).
    ///
    /// # Errors
    ///
    /// [`StateDrop::IcmpErrorBadSeq`] if the quoted TCP sequence number is out of window.
    pub fn check_icmp_error(&self, m: Match, err: &IcmpErrorFlow) -> Result<(), StateDrop> {
        let st = self.slot(m.handle).ok_or(StateDrop::Invalid)?;
        if let Some(seq) = err.tcp_seq
            && st.proto() == 6
            && st.state_flags & flags::SLOPPY == 0
        {
            // The error travels like `m.direction`; the quoted segment went the other way.
            let (sender, receiver) = st.peers(m.direction.reverse());
            if !tcp::icmp_error_seq_ok(sender, receiver, seq) {
                return Err(StateDrop::IcmpErrorBadSeq);
            }
        }
        Ok(())
    }

    /// A snapshot of the state behind `handle`.
    pub fn snapshot(&self, handle: StateHandle) -> Option<StateSnapshot> {
        self.slot(handle).map(|st| st.snapshot(&self.timeouts))
    }

    /// When the state behind `handle` expires.
    pub fn expires_at(&self, handle: StateHandle) -> Option<Instant> {
        self.slot(handle)
            .map(|st| Instant(st.deadline(&self.timeouts)))
    }

    /// Removes states whose timeout has passed at `now`: at most `budget` removals, and at most
    /// `4 × budget` (at least 64) states or empty seconds examined, so one call stays short.
    /// Each removal is reported to `sink` (before the state is dropped) and queued as a delete
    /// event. Returns how many were removed. The worker calls it between bursts.
    ///
    /// Expiry is exact to the second: a state goes in the first call at or after its deadline
    /// once earlier buckets are done, and never before it.
    pub fn expire(
        &mut self,
        now: Instant,
        budget: usize,
        mut sink: impl FnMut(StateHandle, &State),
    ) -> usize {
        let now_tick = now.micros() / super::wheel::TICK_US;
        let work_limit = budget.saturating_mul(4).max(64);
        let (mut removed, mut work) = (0usize, 0usize);
        self.wheel.catch_up_if_empty(now_tick);
        while removed < budget && work < work_limit {
            if !self.wheel.has_pending() {
                if self.wheel.cursor() > now_tick || self.wheel.count() == 0 {
                    break;
                }
                if !self.wheel.start_bucket() {
                    self.wheel.finish_bucket();
                    work += 1;
                    continue;
                }
            }
            let Some(slot) = self.wheel.pop_pending(&mut self.slots) else {
                self.wheel.finish_bucket();
                continue;
            };
            work += 1;
            let handle = self.handle_of(slot);
            let Some(deadline) = self.slot(handle).map(|st| st.deadline(&self.timeouts)) else {
                continue;
            };
            if deadline <= now.micros() {
                if let Some(st) = self.take(handle) {
                    sink(handle, &st);
                    self.report_delete(&st);
                    self.stats.expired += 1;
                    removed += 1;
                }
            } else {
                self.wheel.file(&mut self.slots, slot, tick_of(deadline));
            }
            if !self.wheel.has_pending() {
                self.wheel.finish_bucket();
            }
        }
        self.wheel.catch_up_if_empty(now_tick);
        removed
    }

    /// Visits up to `max` states in slot order from slot `from`, for bulk updates and
    /// listings; returns where to continue, or `None` at the end.
    pub fn for_each_from(
        &self,
        from: usize,
        max: usize,
        mut f: impl FnMut(StateHandle, &State),
    ) -> Option<usize> {
        let mut seen = 0;
        for (i, slot) in self.slots.iter().enumerate().skip(from) {
            if seen == max {
                return Some(i);
            }
            if let Some(st) = slot.live() {
                let slot_no = u32::try_from(i).unwrap_or(NIL);
                f(
                    StateHandle {
                        slot: slot_no,
                        generation: slot.generation,
                    },
                    st,
                );
                seen += 1;
            }
        }
        None
    }
}

mod merge;
pub use merge::{Merged, merge_peers};

#[cfg(test)]
mod tests;

//! The sync core's logic, sans-IO: what to tell the pfsync peer and when, and what to ask of
//! the workers when the peer speaks (pfsync.md §4–§5). The caller feeds it the workers'
//! messages ([`Engine::on_worker`]), the peer's decoded frames ([`Engine::on_received`]) and
//! the time ([`Engine::on_timeout`] at [`Engine::next_deadline`]); it takes out frames to
//! encode ([`Engine::poll_frame`]) and commands for each worker ([`Engine::commands_for`]).
//!
//! # Sending (as pf, §5.1)
//!
//! Each state has at most one message waiting: a new state is an INS; a later change
//! replaces the waiting message's contents, or queues an UPD_C if none waits; a delete
//! cancels a waiting INS (the peer never heard of the state) and otherwise replaces whatever
//! waits with a DEL_C. Two frames fill at once (a small message fits the gap a full state
//! left in the older one); a frame leaves when neither has room for the next message,
//! `flush_interval` (1 s) after the oldest message arrived, and at once for INS_ACK,
//! UPD_REQ, answers to UPD_REQ, stale merges, CLR and BUS, and when a TCP state's window
//! moved [`WINDOW_PUSH`] bytes since the peer last heard (our form of pf's `maxupd` push).
//!
//! # Receiving
//!
//! A full state goes to the worker that owns its flow ([`owner_of_key`]); the engine keeps
//! which worker holds each `(creatorid, id)` so that UPD_C, DEL_C and UPD_REQ, which carry
//! no keys, reach the right one. An UPD_C for a state no worker holds is answered with an
//! UPD_REQ. A CLR goes to every worker.
//!
//! # Bulk update
//!
//! [`Engine::request_bulk`] starts the requester ([`BulkState`]); while it is pending the
//! node should stay CARP-demoted ([`Engine::demoted`]). As responder, an UPD_REQ(0, 0) makes
//! every worker walk its shard; their states go out as full UPDs between a BUS START and a
//! BUS END.

mod bulk;
pub mod message;
mod pending;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rampart_dataplane::nat::Nat;
use rampart_dataplane::state::{StateEvent, StateSnapshot, flags};
use rampart_dataplane::steer::owner_of_key;
use rampart_dataplane::sync_link::{CompressedUpdate, ToSync, ToWorker};
use rampart_dataplane::time::Instant;

pub use bulk::BulkState;
use bulk::{Requester, RequesterAction};
pub use message::{BusStatus, Kind, Message, StateId, WireSizes};
use pending::Bins;

/// How the engine behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// This node's pf hostid.
    pub creatorid: u32,
    /// Workers (state shards).
    pub workers: usize,
    /// Largest pfsync frame in bytes (the sync port's MTU less the IP header and any
    /// authentication trailer).
    pub frame_limit: usize,
    /// Sizes of the messages in the configured format.
    pub sizes: WireSizes,
    /// Longest a message waits for its frame to fill (pf: 1 s).
    pub flush_interval: Duration,
    /// Bulk request retry interval (FreeBSD: 5 s).
    pub bulk_retry: Duration,
    /// Bulk requests sent before giving up (FreeBSD: 12).
    pub bulk_tries: u32,
    /// Commands held per worker when its ring is full, beyond which they are dropped.
    pub backlog: usize,
}

impl EngineConfig {
    /// pf's defaults for a node with `workers` workers and a sync port MTU of `mtu`, full
    /// states of `state_size` bytes.
    pub fn new(creatorid: u32, workers: usize, mtu: usize, state_size: usize) -> Self {
        EngineConfig {
            creatorid,
            workers,
            frame_limit: mtu.saturating_sub(20),
            sizes: WireSizes { state: state_size },
            flush_interval: Duration::from_secs(1),
            bulk_retry: Duration::from_secs(5),
            bulk_tries: 12,
            backlog: 1 << 20,
        }
    }
}

/// A frame's worth of messages, in frame order, and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame {
    /// The messages.
    pub messages: Vec<Message>,
    /// pfsync bytes (header, regions, EOF).
    pub bytes: usize,
}

/// Counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Frames produced.
    pub frames_sent: u64,
    /// pfsync bytes produced.
    pub bytes_sent: u64,
    /// Messages produced, by [`Kind`].
    pub sent: [u64; 8],
    /// Messages received, by [`Kind`].
    pub received: [u64; 8],
    /// UPD_C for states no worker holds (answered with UPD_REQ).
    pub unknown_updates: u64,
    /// DEL_C for states no worker holds (pf's `badstate`).
    pub unknown_deletes: u64,
    /// UPD_REQ for states no worker holds.
    pub unknown_requests: u64,
    /// States with creatorid 0 (refused, as pf).
    pub bad_creatorid: u64,
    /// Commands dropped because a worker's backlog was full.
    pub backlog_full: u64,
    /// INS_ACKs for states no worker holds.
    pub ins_acks_ignored: u64,
    /// Bulk requests answered.
    pub bulk_requests: u64,
    /// Bulk requests ignored because one was being answered.
    pub bulk_requests_busy: u64,
    /// States sent in bulk updates.
    pub bulk_states_sent: u64,
    /// BUS ENDs ignored (no request pending, or for an older request).
    pub bus_end_ignored: u64,
    /// Frames sent at once because a TCP window moved [`WINDOW_PUSH`] bytes.
    pub window_pushes: u64,
}

/// Bytes a TCP state's `seqlo` may move before its update is sent at once (half of pf's
/// MAXACKWINDOW, so the peer never lags more than that).
pub const WINDOW_PUSH: i32 = 32 * 1024;

/// A bulk update being sent.
#[derive(Debug, Clone, Copy)]
struct Responding {
    since: Instant,
    workers_done: usize,
}

/// A configuration the engine cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The sync port's frames cannot hold one full state.
    #[error(
        "frames of {limit} bytes cannot hold one {state}-byte state: raise the sync port's MTU"
    )]
    FrameTooSmall {
        /// The frame limit.
        limit: usize,
        /// A full state's size.
        state: usize,
    },
    /// No workers.
    #[error("no workers to sync")]
    NoWorkers,
}

/// See the module doc.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    nat: Arc<Nat>,
    pending: Bins,
    frames: VecDeque<OutFrame>,
    /// Frames the bins let go, before they are counted and queued.
    taken: Vec<pending::Taken>,
    commands: Vec<VecDeque<ToWorker>>,
    owners: HashMap<StateId, u16>,
    /// Local TCP states: both peers' `seqlo` as last queued for the peer.
    announced: HashMap<StateId, [u32; 2]>,
    requester: Requester,
    responding: Option<Responding>,
    listing: Option<Listing>,
    /// The pending bulk request is the operator's (`sync resync`): it does not demote.
    operator_bulk: bool,
    stats: EngineStats,
}

/// A listing of every worker's states being collected.
#[derive(Debug, Default)]
struct Listing {
    states: Vec<StateSnapshot>,
    workers_done: usize,
}

impl Engine {
    /// An engine with nothing pending.
    ///
    /// # Errors
    /// [`EngineError`] if frames cannot hold a full state or there are no workers.
    pub fn new(config: EngineConfig) -> Result<Self, EngineError> {
        let smallest = config.sizes.frame(&{
            let mut one = [0; 8];
            one[Kind::Insert as usize] = 1;
            one
        });
        if smallest > config.frame_limit {
            return Err(EngineError::FrameTooSmall {
                limit: config.frame_limit,
                state: config.sizes.state,
            });
        }
        if config.workers == 0 {
            return Err(EngineError::NoWorkers);
        }
        Ok(Engine {
            config,
            nat: Arc::new(Nat::EMPTY),
            pending: Bins::new(config.sizes, config.frame_limit),
            taken: Vec::new(),
            frames: VecDeque::new(),
            commands: (0..config.workers).map(|_| VecDeque::new()).collect(),
            owners: HashMap::new(),
            announced: HashMap::new(),
            requester: Requester::new(config.bulk_retry, config.bulk_tries),
            responding: None,
            listing: None,
            operator_bulk: false,
            stats: EngineStats::default(),
        })
    }

    /// Use `nat` to find the owner of the peer's states (a reload swaps it).
    pub fn set_nat(&mut self, nat: Arc<Nat>) {
        self.nat = nat;
    }

    /// A message from worker `worker`.
    pub fn on_worker(&mut self, now: Instant, worker: usize, msg: ToSync) {
        let owner = u16::try_from(worker).unwrap_or(u16::MAX);
        match msg {
            ToSync::Event(StateEvent::Insert(s)) => {
                self.owners.insert((s.creatorid, s.id), owner);
                self.announced
                    .insert((s.creatorid, s.id), [s.src.seqlo, s.dst.seqlo]);
                self.queue(now, Message::Insert(s));
                // Deferral: a packet waits for this insert's acknowledgement; send it now.
                if s.state_flags & flags::ACK != 0 {
                    self.flush();
                }
            }
            ToSync::Event(StateEvent::Update(s)) => {
                self.owners.insert((s.creatorid, s.id), owner);
                let urgent = self.window_moved(&s);
                self.queue_update(now, s);
                if urgent {
                    self.stats.window_pushes += 1;
                    self.flush();
                }
            }
            ToSync::Event(StateEvent::Delete { creatorid, id }) => {
                self.owners.remove(&(creatorid, id));
                self.announced.remove(&(creatorid, id));
                match self.pending.get((creatorid, id)) {
                    // The peer never heard of it.
                    Some(Message::Insert(_)) => {
                        self.pending.remove((creatorid, id));
                    }
                    _ => self.queue(now, Message::Delete { creatorid, id }),
                }
            }
            ToSync::Stale(s) => {
                self.queue_update(now, s);
                self.flush();
            }
            ToSync::Full(s) => {
                self.queue(now, Message::Update(s));
                self.flush();
            }
            ToSync::Unknown { creatorid, id } => {
                self.queue(now, Message::Request { creatorid, id });
                self.flush();
            }
            ToSync::InsAck { creatorid, id } => {
                self.queue(now, Message::InsAck { creatorid, id });
                self.flush();
            }
            ToSync::Bulk(s) => {
                self.owners.insert((s.creatorid, s.id), owner);
                // A state already waiting goes out with its own message (pf).
                if self.pending.get((s.creatorid, s.id)).is_none() {
                    self.queue(now, Message::Update(s));
                    self.stats.bulk_states_sent += 1;
                }
            }
            ToSync::BulkDone => self.worker_bulk_done(now),
            ToSync::Listed(s) => {
                if let Some(l) = self.listing.as_mut() {
                    l.states.push(s);
                }
            }
            ToSync::ListDone => {
                if let Some(l) = self.listing.as_mut() {
                    l.workers_done += 1;
                }
            }
        }
    }

    /// Whether a TCP state's sequence window moved [`WINDOW_PUSH`] bytes or more on either
    /// side since the peer was last told; records the new position. Such an update goes out
    /// at once: the peer's window checks reject the first packets after a takeover if its
    /// `seqlo` lags more than pf's MAXACKWINDOW (64 KiB + 1500) behind, and 1 s of a fast
    /// stream is far more than that.
    fn window_moved(&mut self, s: &StateSnapshot) -> bool {
        if s.wire.proto.0 != 6 {
            return false;
        }
        let now = [s.src.seqlo, s.dst.seqlo];
        let before = self.announced.insert((s.creatorid, s.id), now);
        before.is_some_and(|b| {
            b.iter()
                .zip(now)
                .any(|(b, n)| n.wrapping_sub(*b) as i32 >= WINDOW_PUSH)
        })
    }

    /// A local change: the waiting INS or UPD takes the new contents, else an UPD_C.
    fn queue_update(&mut self, now: Instant, s: StateSnapshot) {
        let msg = match self.pending.get((s.creatorid, s.id)) {
            Some(Message::Insert(_)) => Message::Insert(s),
            Some(Message::Update(_)) => Message::Update(s),
            _ => Message::Compressed(compress(&s)),
        };
        self.queue(now, msg);
    }

    /// Adds a message; a frame that has to leave to make room for it is sent.
    fn queue(&mut self, now: Instant, msg: Message) {
        let mut taken = std::mem::take(&mut self.taken);
        self.pending.put(now, msg, &mut taken);
        self.send(&mut taken);
        self.taken = taken;
    }

    /// Sends everything waiting now.
    fn flush(&mut self) {
        let mut taken = std::mem::take(&mut self.taken);
        self.pending.take_all(&mut taken);
        self.send(&mut taken);
        self.taken = taken;
    }

    fn send(&mut self, taken: &mut Vec<pending::Taken>) {
        for (messages, bytes) in taken.drain(..) {
            for m in &messages {
                self.stats.sent[m.kind() as usize] += 1;
            }
            self.stats.frames_sent += 1;
            self.stats.bytes_sent += bytes as u64;
            self.frames.push_back(OutFrame { messages, bytes });
        }
    }

    fn worker_bulk_done(&mut self, now: Instant) {
        let Some(r) = self.responding.as_mut() else {
            return;
        };
        r.workers_done += 1;
        if r.workers_done < self.config.workers {
            return;
        }
        let endtime = u32::try_from(now.since(r.since).as_secs()).unwrap_or(u32::MAX);
        self.responding = None;
        // Every state of the bulk goes out before BUS END.
        self.flush();
        self.queue(
            now,
            Message::Bus {
                creatorid: self.config.creatorid,
                endtime,
                status: BusStatus::End,
            },
        );
        self.flush();
    }

    /// The messages of one frame from the peer, already validated by the codec.
    pub fn on_received(&mut self, now: Instant, messages: impl IntoIterator<Item = Message>) {
        for msg in messages {
            self.stats.received[msg.kind() as usize] += 1;
            match msg {
                Message::Insert(s) | Message::Update(s) => {
                    if s.creatorid == 0 {
                        self.stats.bad_creatorid += 1;
                        continue;
                    }
                    let ack = matches!(msg, Message::Insert(_)) && s.state_flags & flags::ACK != 0;
                    let worker = owner_of_key(&s.wire, self.config.workers, &self.nat);
                    self.owners
                        .insert((s.creatorid, s.id), u16::try_from(worker).unwrap_or(0));
                    self.requester.state_received(now);
                    self.command(worker, ToWorker::Full { snap: s, ack });
                }
                Message::Compressed(c) => match self.owner((c.creatorid, c.id)) {
                    Some(worker) => self.command(worker, ToWorker::Compressed(c)),
                    None => {
                        self.stats.unknown_updates += 1;
                        self.queue(
                            now,
                            Message::Request {
                                creatorid: c.creatorid,
                                id: c.id,
                            },
                        );
                        self.flush();
                    }
                },
                Message::Delete { creatorid, id } => match self.owners.remove(&(creatorid, id)) {
                    Some(worker) => {
                        self.command(usize::from(worker), ToWorker::Delete { creatorid, id })
                    }
                    None => self.stats.unknown_deletes += 1,
                },
                Message::Request {
                    creatorid: 0,
                    id: 0,
                } => self.respond_bulk(now),
                Message::Request { creatorid, id } => match self.owner((creatorid, id)) {
                    Some(worker) => self.command(worker, ToWorker::Request { creatorid, id }),
                    None => self.stats.unknown_requests += 1,
                },
                Message::Clear { creatorid } => {
                    self.owners.retain(|(c, _), _| *c != creatorid);
                    for worker in 0..self.config.workers {
                        self.command(worker, ToWorker::Clear { creatorid });
                    }
                }
                Message::Bus {
                    status: BusStatus::Start,
                    ..
                } => self.requester.bus_start(now),
                Message::Bus {
                    status: BusStatus::End,
                    endtime,
                    ..
                } => {
                    if !self.requester.bus_end(now, endtime) {
                        self.stats.bus_end_ignored += 1;
                    }
                }
                Message::InsAck { creatorid, id } => match self.owner((creatorid, id)) {
                    Some(worker) => self.command(worker, ToWorker::InsAck { creatorid, id }),
                    None => self.stats.ins_acks_ignored += 1,
                },
            }
        }
    }

    fn owner(&self, id: StateId) -> Option<usize> {
        self.owners.get(&id).map(|w| usize::from(*w))
    }

    fn command(&mut self, worker: usize, cmd: ToWorker) {
        match self.commands.get_mut(worker) {
            Some(q) if q.len() < self.config.backlog => q.push_back(cmd),
            _ => self.stats.backlog_full += 1,
        }
    }

    /// The peer asked for our whole table.
    fn respond_bulk(&mut self, now: Instant) {
        if self.responding.is_some() {
            self.stats.bulk_requests_busy += 1;
            return;
        }
        self.stats.bulk_requests += 1;
        self.responding = Some(Responding {
            since: now,
            workers_done: 0,
        });
        self.flush();
        self.queue(
            now,
            Message::Bus {
                creatorid: self.config.creatorid,
                endtime: 0,
                status: BusStatus::Start,
            },
        );
        self.flush();
        for worker in 0..self.config.workers {
            self.command(worker, ToWorker::Bulk);
        }
    }

    /// Ask the peer for its whole table (at start, or when the sync link is configured).
    pub fn request_bulk(&mut self, now: Instant) {
        self.operator_bulk = false;
        if self.requester.start(now) == RequesterAction::SendRequest {
            self.send_bulk_request(now);
        }
    }

    /// Ask the peer for its whole table again, for the operator (`sync resync`). Unlike the
    /// start-up request it does not demote CARP (a master asked to resync stays master),
    /// unless the start-up request is still pending.
    pub fn request_resync(&mut self, now: Instant) {
        let demoting = self.demoted();
        self.request_bulk(now);
        self.operator_bulk = !demoting;
    }

    fn send_bulk_request(&mut self, now: Instant) {
        self.queue(
            now,
            Message::Request {
                creatorid: 0,
                id: 0,
            },
        );
        self.flush();
    }

    /// Timers: the frame flush and the bulk request's retries.
    pub fn on_timeout(&mut self, now: Instant) {
        if self
            .pending
            .since()
            .is_some_and(|since| now >= since + self.config.flush_interval)
        {
            self.flush();
        }
        if self.requester.on_timeout(now) == RequesterAction::SendRequest {
            self.send_bulk_request(now);
        }
    }

    /// When [`on_timeout`](Self::on_timeout) has work next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let flush = self
            .pending
            .since()
            .map(|since| since + self.config.flush_interval);
        match (flush, self.requester.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next frame to encode and send.
    pub fn poll_frame(&mut self) -> Option<OutFrame> {
        self.frames.pop_front()
    }

    /// Commands waiting for `worker` (the caller pops those its ring accepts).
    pub fn commands_for(&mut self, worker: usize) -> Option<&mut VecDeque<ToWorker>> {
        self.commands.get_mut(worker)
    }

    /// Asks every worker for all its states (for the operator); [`take_listing`] has them
    /// once every worker answered. A listing already under way is started again.
    ///
    /// [`take_listing`]: Self::take_listing
    pub fn request_listing(&mut self) {
        self.listing = Some(Listing::default());
        for worker in 0..self.config.workers {
            self.command(worker, ToWorker::List);
        }
    }

    /// Every state of every worker, once the listing is complete.
    pub fn take_listing(&mut self) -> Option<Vec<StateSnapshot>> {
        if self
            .listing
            .as_ref()
            .is_some_and(|l| l.workers_done >= self.config.workers)
        {
            return self.listing.take().map(|l| l.states);
        }
        None
    }

    /// Whether a bulk update of our own is pending (keep CARP demoted).
    pub fn demoted(&self) -> bool {
        self.requester.state.pending() && !self.operator_bulk
    }

    /// Where our bulk request stands.
    pub fn bulk_state(&self) -> BulkState {
        self.requester.state
    }

    /// Whether we are sending a bulk update to the peer.
    pub fn responding(&self) -> bool {
        self.responding.is_some()
    }

    /// Messages waiting for a frame.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Age of the oldest message waiting (the sync lag).
    pub fn lag(&self, now: Instant) -> Duration {
        self.pending
            .since()
            .map_or(Duration::ZERO, |s| now.since(s))
    }

    /// States the engine knows a worker for.
    pub fn known_states(&self) -> usize {
        self.owners.len()
    }

    /// Counters.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }
}

/// The UPD_C form of a state.
pub fn compress(s: &StateSnapshot) -> CompressedUpdate {
    CompressedUpdate {
        creatorid: s.creatorid,
        id: s.id,
        src: s.src,
        dst: s.dst,
        timeout: s.timeout,
    }
}

#[cfg(test)]
mod tests;

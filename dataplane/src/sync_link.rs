//! The rings between the workers and the sync core, and the messages they carry.
//!
//! Each worker has two bounded single-producer/single-consumer queues with the sync core:
//! [`ToSync`] (its state events, answers and bulk walk) and [`ToWorker`] (what the pfsync peer
//! sent about states this worker owns). A worker services them between bursts
//! ([`WorkerLink::service`]), never per packet, so the queues' atomics stay off the packet
//! path; the sync core never touches a shard.
//!
//! Nothing is lost silently: a message that does not fit its queue is counted
//! ([`LinkCounters`]). Lost events are repaired the way pfsync repairs them: an update for a
//! state the peer lacks makes it ask for the full state, and a lost delete leaves the peer's
//! copy to expire. A bulk walk waits for room instead of dropping.

use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::firewall::Firewall;
use crate::state::{Peer, StateEvent, StateSnapshot, Timeout, flags};
use crate::time::Instant;

/// What a worker tells the sync core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToSync {
    /// A local insert, significant update or delete (pfsync INS, UPD_C, DEL_C).
    Event(StateEvent),
    /// A peer's update was behind our state: our view, to send at once (pf's stale rule).
    Stale(StateSnapshot),
    /// The full state the peer asked for by id (answer to UPD_REQ).
    Full(StateSnapshot),
    /// The peer updated a state we do not hold: ask it for the full state (UPD_REQ).
    Unknown {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// A state imported from an insert that asked for an acknowledgement (INS_ACK).
    InsAck {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// One state of this worker's bulk walk.
    Bulk(StateSnapshot),
    /// This worker's bulk walk is complete.
    BulkDone,
    /// One state of a listing (every state, no-sync ones included: for the operator).
    Listed(StateSnapshot),
    /// This worker's listing is complete.
    ListDone,
}

/// The state fields of a compressed update (UPD_C): no keys, so the state must be known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressedUpdate {
    /// Creator of the state.
    pub creatorid: u32,
    /// Its id.
    pub id: u64,
    /// The peer's view of the creating side.
    pub src: Peer,
    /// The peer's view of the other side.
    pub dst: Peer,
    /// The peer's timeout class.
    pub timeout: Timeout,
}

/// What the sync core asks of the worker that owns a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToWorker {
    /// A full state from the peer (INS or UPD): imported if unknown, merged otherwise.
    Full {
        /// The state, with times on this node's clock.
        snap: StateSnapshot,
        /// The sender wants an INS_ACK (pf's `PFSTATE_ACK`, deferral).
        ack: bool,
    },
    /// A compressed update (UPD_C): merged, or answered with [`ToSync::Unknown`].
    Compressed(CompressedUpdate),
    /// Remove this state without telling the peer back (DEL_C).
    Delete {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// Remove every state of this creator (CLR).
    Clear {
        /// The creator.
        creatorid: u32,
    },
    /// Send the full state with this id (UPD_REQ for one state).
    Request {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// Walk the whole shard into [`ToSync::Bulk`] messages, then [`ToSync::BulkDone`].
    Bulk,
    /// Walk the whole shard into [`ToSync::Listed`] messages, then [`ToSync::ListDone`].
    List,
    /// The peer acknowledged this state's insert: release its deferred packet.
    InsAck {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
}

/// Slots of each ring by default: 10 ms of events at about 800 k new connections a
/// second per worker, and room for a bulk walk to keep the sync core busy.
pub const LINK_SLOTS: usize = 8192;
/// [`ToWorker`] messages applied per service call at most.
const APPLY_BUDGET: usize = 1024;
/// Slots a CLR job scans per service call.
const CLEAR_CHUNK: usize = 8192;
/// States a bulk walk sends per service call at most.
const BULK_CHUNK: usize = 512;

/// A worker's ring from the sync core is full (or the worker does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the worker's sync ring is full")]
pub struct LinkFull;

/// What a worker's link did (monotonic; the worker publishes them with its counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// State events handed to the sync core.
    pub events_sent: u64,
    /// State events lost because the ring was full.
    pub events_dropped: u64,
    /// Answers (stale views, full states, unknown ids, acks) lost because the ring was full.
    pub replies_dropped: u64,
    /// Messages from the sync core applied.
    pub applied: u64,
    /// States sent by bulk walks.
    pub bulk_sent: u64,
    /// Bulk walks completed.
    pub bulks_done: u64,
}

impl LinkCounters {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &LinkCounters) {
        self.events_sent += other.events_sent;
        self.events_dropped += other.events_dropped;
        self.replies_dropped += other.replies_dropped;
        self.applied += other.applied;
        self.bulk_sent += other.bulk_sent;
        self.bulks_done += other.bulks_done;
    }
}

/// A worker's ends of its two rings, and the jobs it spreads over several calls.
#[derive(Debug)]
pub struct WorkerLink {
    to_sync: Arc<ArrayQueue<ToSync>>,
    from_sync: Arc<ArrayQueue<ToWorker>>,
    /// Next slot of a bulk walk in progress.
    bulk: Option<usize>,
    /// Next slot of a listing in progress.
    list: Option<usize>,
    /// CLR jobs in progress: creator and next slot.
    clears: Vec<(u32, usize)>,
    /// INS_ACKs received, for the worker to release the packets it deferred.
    acked: Vec<(u32, u64)>,
    counters: LinkCounters,
}

/// The sync core's ends of every worker's rings (index = worker index).
#[derive(Debug)]
pub struct CoreLink {
    from_workers: Vec<Arc<ArrayQueue<ToSync>>>,
    to_workers: Vec<Arc<ArrayQueue<ToWorker>>>,
}

/// Rings for `workers` workers, `slots` messages each way per worker.
pub fn links(workers: usize, slots: usize) -> (Vec<WorkerLink>, CoreLink) {
    let slots = slots.max(1);
    let mut worker_ends = Vec::with_capacity(workers);
    let mut core = CoreLink {
        from_workers: Vec::with_capacity(workers),
        to_workers: Vec::with_capacity(workers),
    };
    for _ in 0..workers {
        let to_sync = Arc::new(ArrayQueue::new(slots));
        let from_sync = Arc::new(ArrayQueue::new(slots));
        core.from_workers.push(Arc::clone(&to_sync));
        core.to_workers.push(Arc::clone(&from_sync));
        worker_ends.push(WorkerLink {
            to_sync,
            from_sync,
            bulk: None,
            list: None,
            clears: Vec::new(),
            acked: Vec::new(),
            counters: LinkCounters::default(),
        });
    }
    (worker_ends, core)
}

impl WorkerLink {
    /// Between bursts: hand the shard's events over, apply what the peer sent, and advance
    /// any CLR job or bulk walk by a bounded step.
    pub fn service(&mut self, now: Instant, fw: &mut Firewall) {
        for event in fw.table_mut().events().drain() {
            match self.to_sync.push(ToSync::Event(event)) {
                Ok(()) => self.counters.events_sent += 1,
                Err(_) => self.counters.events_dropped += 1,
            }
        }
        for _ in 0..APPLY_BUDGET {
            let Some(msg) = self.from_sync.pop() else {
                break;
            };
            self.counters.applied += 1;
            match msg {
                ToWorker::Clear { creatorid } => self.clears.push((creatorid, 0)),
                ToWorker::Bulk => self.bulk = Some(0),
                ToWorker::List => self.list = Some(0),
                ToWorker::InsAck { creatorid, id } => self.acked.push((creatorid, id)),
                other => {
                    let (to_sync, counters) = (&self.to_sync, &mut self.counters);
                    fw.apply_sync(now, other, |reply| {
                        if to_sync.push(reply).is_err() {
                            counters.replies_dropped += 1;
                        }
                    });
                }
            }
        }
        self.clears.retain_mut(|(creatorid, from)| {
            let (removed, next) = fw.table_mut().clear_creator(*creatorid, *from, CLEAR_CHUNK);
            fw.count_cleared(removed);
            match next {
                Some(n) => {
                    *from = n;
                    true
                }
                None => false,
            }
        });
        self.walk_bulk(fw);
        self.walk_list(fw);
    }

    /// One step of a bulk walk: as many states as the ring has room for, up to a chunk.
    fn walk_bulk(&mut self, fw: &Firewall) {
        let done = walk(&self.to_sync, &mut self.bulk, fw, Walk::Bulk);
        self.counters.bulk_sent += done.sent;
        self.counters.bulks_done += u64::from(done.finished);
    }

    /// One step of a listing.
    fn walk_list(&mut self, fw: &Firewall) {
        walk(&self.to_sync, &mut self.list, fw, Walk::List);
    }

    /// The INS_ACKs received since the last call (the worker releases their packets).
    pub fn take_acked(&mut self) -> std::vec::Drain<'_, (u32, u64)> {
        self.acked.drain(..)
    }

    /// Whether a bulk walk is in progress.
    pub fn bulk_in_progress(&self) -> bool {
        self.bulk.is_some()
    }

    /// What the link did so far.
    pub fn counters(&self) -> &LinkCounters {
        &self.counters
    }
}

/// What a walk sends: bulk updates skip no-sync states, listings show everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Bulk,
    List,
}

/// What one walk step did.
struct Walked {
    sent: u64,
    finished: bool,
}

/// Advances the walk at `cursor` by as many states as the ring has room for (up to a chunk);
/// the cursor becomes `None` once the end marker is sent.
fn walk(
    to_sync: &ArrayQueue<ToSync>,
    cursor: &mut Option<usize>,
    fw: &Firewall,
    kind: Walk,
) -> Walked {
    let mut done = Walked {
        sent: 0,
        finished: false,
    };
    let Some(from) = *cursor else {
        return done;
    };
    let room = to_sync.capacity() - to_sync.len();
    if room < 2 {
        return done;
    }
    let max = (room - 1).min(BULK_CHUNK);
    let table = fw.table();
    let next = table.for_each_from(from, max, |handle, _| {
        let Some(snap) = table.snapshot(handle) else {
            return;
        };
        let msg = match kind {
            Walk::Bulk if snap.state_flags & flags::NO_SYNC != 0 => return,
            Walk::Bulk => ToSync::Bulk(snap),
            Walk::List => ToSync::Listed(snap),
        };
        // Room was reserved above and only this worker pushes.
        if to_sync.push(msg).is_ok() {
            done.sent += 1;
        }
    });
    match next {
        Some(n) => *cursor = Some(n),
        None => {
            let end = match kind {
                Walk::Bulk => ToSync::BulkDone,
                Walk::List => ToSync::ListDone,
            };
            if to_sync.push(end).is_ok() {
                *cursor = None;
                done.finished = true;
            } else {
                // The walk itself is finished; send the end marker next time.
                *cursor = Some(usize::MAX);
            }
        }
    }
    done
}

impl CoreLink {
    /// Workers linked.
    pub fn workers(&self) -> usize {
        self.to_workers.len()
    }

    /// Takes up to `max` messages from every worker, in worker order; `f` gets the worker
    /// index and the message. Returns how many were taken.
    pub fn drain(&self, max: usize, mut f: impl FnMut(usize, ToSync)) -> usize {
        let mut taken = 0;
        for (worker, ring) in self.from_workers.iter().enumerate() {
            for _ in 0..max {
                let Some(msg) = ring.pop() else {
                    break;
                };
                f(worker, msg);
                taken += 1;
            }
        }
        taken
    }

    /// Queues `msg` for `worker`.
    ///
    /// # Errors
    /// [`LinkFull`] if that worker's ring is full or there is no such worker; the message was
    /// not queued (it is `Copy`: the caller still has it).
    pub fn send(&self, worker: usize, msg: ToWorker) -> Result<(), LinkFull> {
        match self.to_workers.get(worker) {
            Some(ring) => ring.push(msg).map_err(|_| LinkFull),
            None => Err(LinkFull),
        }
    }

    /// Messages waiting for `worker` (0 for an unknown worker).
    pub fn pending_for(&self, worker: usize) -> usize {
        self.to_workers.get(worker).map_or(0, |r| r.len())
    }
}

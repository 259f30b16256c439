//! The operator's requests to the workers: list, count or kill the states a [`StateFilter`]
//! matches, or tally the live states per rule. Each worker has a small inbox of
//! [`OpRequest`]s (independent of the pfsync rings, so it works on a node without a sync
//! core) and answers on a channel shared by all workers. A worker walks its shard at most
//! [`WALK_STEP`] states per maintenance pass (every 10 ms), so even a million-state listing
//! never holds up a burst; [`OpsClient::run`] waits for every worker's answer.
//!
//! A killed state is removed the way pf's `pfctl -k` removes it: its counters go to its
//! rule, and a delete event tells the pfsync peer (when pfsync runs).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};
use crossbeam::queue::ArrayQueue;

use crate::counters::FirewallCounters;
use crate::firewall::Firewall;
use crate::state::{State, StateHandle, StateKey, StateSnapshot};

/// States a worker visits per maintenance pass.
pub const WALK_STEP: usize = 8192;
/// Requests waiting per worker.
const INBOX: usize = 4;

/// Which states a request is about: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateFilter {
    /// IP protocol number.
    pub proto: Option<u8>,
    /// A network (address and prefix length) either end of either key lies in.
    pub net: Option<(IpAddr, u8)>,
    /// A port either end of either key has.
    pub port: Option<u16>,
    /// Rule numbers (sorted) one of which created the state.
    pub rules: Option<Vec<u32>>,
}

impl StateFilter {
    /// Whether `st` matches.
    pub fn matches(&self, st: &State) -> bool {
        let keys = [st.wire(), st.stack()];
        self.proto.is_none_or(|p| st.proto() == p)
            && self
                .port
                .is_none_or(|p| keys.iter().any(|k| k.port.contains(&p)))
            && self
                .net
                .is_none_or(|(net, len)| keys.iter().any(|k| key_in(k, net, len)))
            && self
                .rules
                .as_ref()
                .is_none_or(|r| r.binary_search(&st.rule).is_ok())
    }
}

fn key_in(key: &StateKey, net: IpAddr, len: u8) -> bool {
    key.addr.iter().any(|a| in_net(a.to_ip(key.af), net, len))
}

/// Whether `addr` lies in `net/len` (families must agree).
pub fn in_net(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// What to do with the matching states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Snapshots of at most `limit` of them (all are counted).
    List {
        /// Most snapshots per worker.
        limit: usize,
    },
    /// Count them.
    Count,
    /// Remove them.
    Kill,
    /// Count them, their packets and bytes per rule.
    Tally,
}

/// One request to every worker.
#[derive(Debug, Clone)]
pub struct OpRequest {
    seq: u64,
    kind: OpKind,
    filter: Arc<StateFilter>,
}

/// One rule's live states.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTally {
    /// States.
    pub states: u64,
    /// Their packets, both ways.
    pub packets: u64,
    /// Their bytes, both ways.
    pub bytes: u64,
}

/// One worker's answer, or all workers' merged.
#[derive(Debug, Clone, Default)]
pub struct OpAnswer {
    seq: u64,
    /// States the worker held when the walk began (summed over workers once merged).
    pub total: u64,
    /// States matched (and removed, for a kill).
    pub matched: u64,
    /// Snapshots (for a listing), with the worker holding each.
    pub states: Vec<(usize, StateSnapshot)>,
    /// Per rule number (for a tally).
    pub tally: Vec<RuleTally>,
}

/// A worker's end.
#[derive(Debug)]
pub struct OpsWorker {
    index: usize,
    inbox: Arc<ArrayQueue<OpRequest>>,
    answers: Sender<OpAnswer>,
    job: Option<(OpRequest, usize, OpAnswer)>,
}

/// The control side's end (one request at a time: callers share it behind a lock).
#[derive(Debug)]
pub struct OpsClient {
    inboxes: Vec<Arc<ArrayQueue<OpRequest>>>,
    answers: Receiver<OpAnswer>,
    seq: u64,
}

/// Why a request got no complete answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// A worker's inbox is full (requests pile up faster than workers walk).
    #[error("a worker is still busy with earlier requests")]
    Busy,
    /// Not every worker answered in time.
    #[error("{answered} of {workers} workers answered within {waited:?}")]
    Timeout {
        /// Workers that answered.
        answered: usize,
        /// Workers asked.
        workers: usize,
        /// How long the client waited.
        waited: Duration,
    },
}

/// The ends for `workers` workers.
pub fn links(workers: usize) -> (Vec<OpsWorker>, OpsClient) {
    let (tx, rx) = crossbeam::channel::unbounded();
    let inboxes: Vec<_> = (0..workers)
        .map(|_| Arc::new(ArrayQueue::new(INBOX)))
        .collect();
    let ends = inboxes
        .iter()
        .enumerate()
        .map(|(index, inbox)| OpsWorker {
            index,
            inbox: inbox.clone(),
            answers: tx.clone(),
            job: None,
        })
        .collect();
    let client = OpsClient {
        inboxes,
        answers: rx,
        seq: 0,
    };
    (ends, client)
}

impl OpsWorker {
    /// One bounded step of the current request (taking the next one if idle). `fw` is
    /// `None` on a node without a firewall: requests are answered at once, with nothing.
    pub fn service(&mut self, fw: Option<(&mut Firewall, &mut FirewallCounters)>) {
        if self.job.is_none() {
            let Some(req) = self.inbox.pop() else {
                return;
            };
            let answer = OpAnswer {
                seq: req.seq,
                total: fw.as_ref().map_or(0, |(f, _)| f.table().len() as u64),
                ..OpAnswer::default()
            };
            self.job = Some((req, 0, answer));
        }
        let Some((req, cursor, answer)) = self.job.as_mut() else {
            return;
        };
        let next = match fw {
            Some((fw, counters)) => step(self.index, req, *cursor, answer, fw, counters),
            None => None,
        };
        match next {
            Some(n) => *cursor = n,
            None => {
                if let Some((_, _, answer)) = self.job.take() {
                    // The client may have given up; nobody is hurt if the answer is lost.
                    let _ = self.answers.send(answer);
                }
            }
        }
    }
}

/// Walks up to [`WALK_STEP`] states from `from`; returns where to go on, `None` at the end.
fn step(
    worker: usize,
    req: &OpRequest,
    from: usize,
    answer: &mut OpAnswer,
    fw: &mut Firewall,
    counters: &mut FirewallCounters,
) -> Option<usize> {
    let mut doomed: Vec<StateHandle> = Vec::new();
    let table = fw.table();
    let next = table.for_each_from(from, WALK_STEP, |handle, st| {
        if !req.filter.matches(st) {
            return;
        }
        answer.matched += 1;
        match req.kind {
            OpKind::List { limit } if answer.states.len() < limit => {
                if let Some(snap) = table.snapshot(handle) {
                    answer.states.push((worker, snap));
                }
            }
            OpKind::List { .. } | OpKind::Count => {}
            OpKind::Kill => doomed.push(handle),
            OpKind::Tally => {
                let i = st.rule as usize;
                if st.rule != crate::state::NO_RULE {
                    if answer.tally.len() <= i {
                        answer.tally.resize(i + 1, RuleTally::default());
                    }
                    if let Some(t) = answer.tally.get_mut(i) {
                        t.states += 1;
                        t.packets += st.packets[0] + st.packets[1];
                        t.bytes += st.bytes[0] + st.bytes[1];
                    }
                }
            }
        }
    });
    for handle in doomed {
        fw.kill(handle, counters);
    }
    next
}

impl OpsClient {
    /// Workers linked.
    pub fn workers(&self) -> usize {
        self.inboxes.len()
    }

    /// Asks every worker to do `kind` on the states `filter` matches and merges their
    /// answers (listings sorted by creator and id), waiting at most `timeout`.
    ///
    /// # Errors
    /// [`OpsError::Busy`] if a worker's inbox is full, [`OpsError::Timeout`] if not every
    /// worker answered in time (a kill may then be partly done).
    pub fn run(
        &mut self,
        kind: OpKind,
        filter: StateFilter,
        timeout: Duration,
    ) -> Result<OpAnswer, OpsError> {
        // Answers to requests a client gave up on are stale.
        while self.answers.try_recv().is_ok() {}
        self.seq += 1;
        let req = OpRequest {
            seq: self.seq,
            kind,
            filter: Arc::new(filter),
        };
        if self.inboxes.iter().any(|q| q.is_full()) {
            return Err(OpsError::Busy);
        }
        for inbox in &self.inboxes {
            inbox.push(req.clone()).map_err(|_| OpsError::Busy)?;
        }
        let start = StdInstant::now();
        let mut merged = OpAnswer::default();
        let mut answered = 0;
        while answered < self.inboxes.len() {
            let left = timeout.saturating_sub(start.elapsed());
            match self.answers.recv_timeout(left) {
                Ok(a) if a.seq == self.seq => {
                    answered += 1;
                    merged.total += a.total;
                    merged.matched += a.matched;
                    merged.states.extend(a.states);
                    if merged.tally.len() < a.tally.len() {
                        merged.tally.resize(a.tally.len(), RuleTally::default());
                    }
                    for (m, t) in merged.tally.iter_mut().zip(&a.tally) {
                        m.states += t.states;
                        m.packets += t.packets;
                        m.bytes += t.bytes;
                    }
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(OpsError::Timeout {
                        answered,
                        workers: self.inboxes.len(),
                        waited: start.elapsed(),
                    });
                }
            }
        }
        merged.states.sort_by_key(|(_, s)| (s.creatorid, s.id));
        if let OpKind::List { limit } = kind {
            merged.states.truncate(limit);
        }
        Ok(merged)
    }
}

#[cfg(test)]
mod tests;

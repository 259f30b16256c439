//! The messages waiting for the next frame, at most one per state (pf keeps each state in at
//! most one queue, pfsync.md §5.1), with the frame's size kept up to date so that the engine
//! knows before adding a message whether it still fits.

use std::collections::HashMap;

use rampart_dataplane::time::Instant;

use super::message::{Message, StateId, WireSizes};

/// Messages waiting, in arrival order, with an index by state.
#[derive(Debug)]
pub(crate) struct Pending {
    sizes: WireSizes,
    /// Arrival order; a slot is emptied when its message is dropped or replaced by one of
    /// another kind (which goes to the end).
    slots: Vec<Option<Message>>,
    by_state: HashMap<StateId, usize>,
    counts: [usize; 8],
    /// When the oldest waiting message arrived.
    since: Option<Instant>,
}

impl Pending {
    pub(crate) fn new(sizes: WireSizes) -> Self {
        Pending {
            sizes,
            slots: Vec::new(),
            by_state: HashMap::new(),
            counts: [0; 8],
            since: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.counts.iter().sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// When the oldest waiting message arrived.
    pub(crate) fn since(&self) -> Option<Instant> {
        self.since
    }

    /// Frame bytes now.
    pub(crate) fn bytes(&self) -> usize {
        self.sizes.frame(&self.counts)
    }

    /// Frame bytes if `msg` were added (replacing the state's waiting message, if any).
    pub(crate) fn bytes_with(&self, msg: &Message) -> usize {
        let mut counts = self.counts;
        if let Some(old) = msg.state().and_then(|id| self.get(id)) {
            counts[old.kind() as usize] -= 1;
        }
        counts[msg.kind() as usize] += 1;
        self.sizes.frame(&counts)
    }

    /// The message waiting for state `id`.
    pub(crate) fn get(&self, id: StateId) -> Option<&Message> {
        let slot = *self.by_state.get(&id)?;
        self.slots.get(slot)?.as_ref()
    }

    /// Adds `msg`; a message waiting for the same state is replaced in place if it is of the
    /// same kind (it keeps its turn), otherwise removed and `msg` queued last.
    pub(crate) fn put(&mut self, now: Instant, msg: Message) {
        if let Some(id) = msg.state()
            && let Some(&slot) = self.by_state.get(&id)
            && let Some(Some(old)) = self.slots.get_mut(slot)
        {
            if old.kind() == msg.kind() {
                *old = msg;
                return;
            }
            self.remove(id);
        }
        self.since.get_or_insert(now);
        self.counts[msg.kind() as usize] += 1;
        if let Some(id) = msg.state() {
            self.by_state.insert(id, self.slots.len());
        }
        self.slots.push(Some(msg));
    }

    /// Drops the message waiting for state `id`, if any.
    pub(crate) fn remove(&mut self, id: StateId) -> Option<Message> {
        let slot = self.by_state.remove(&id)?;
        let msg = self.slots.get_mut(slot)?.take()?;
        self.counts[msg.kind() as usize] -= 1;
        if self.is_empty() {
            self.clear();
        }
        Some(msg)
    }

    /// Takes everything waiting, in frame order (by kind, arrival order within a kind), and
    /// the frame's size.
    pub(crate) fn take(&mut self) -> (Vec<Message>, usize) {
        let bytes = self.bytes();
        let mut msgs: Vec<Message> = self.slots.drain(..).flatten().collect();
        msgs.sort_by_key(Message::kind);
        self.clear();
        (msgs, bytes)
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.by_state.clear();
        self.counts = [0; 8];
        self.since = None;
    }
}

/// Two frames being filled at once: a message goes into the older one if it fits there (a
/// small UPD_C or DEL_C often fills the gap a full state left), else into the newer one;
/// when neither has room the older is sent. Frames leave fuller than with one frame at a
/// time, and a state still has at most one message waiting (replacing a message of the same
/// kind keeps its place; any other change moves it).
#[derive(Debug)]
pub(crate) struct Bins {
    older: Pending,
    newer: Pending,
    limit: usize,
}

/// A frame's messages, in frame order, and its size.
pub(crate) type Taken = (Vec<Message>, usize);

impl Bins {
    pub(crate) fn new(sizes: WireSizes, limit: usize) -> Self {
        Bins {
            older: Pending::new(sizes),
            newer: Pending::new(sizes),
            limit,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.older.len() + self.newer.len()
    }

    /// When the oldest waiting message arrived.
    pub(crate) fn since(&self) -> Option<Instant> {
        match (self.older.since(), self.newer.since()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The message waiting for state `id`.
    pub(crate) fn get(&self, id: StateId) -> Option<&Message> {
        self.older.get(id).or_else(|| self.newer.get(id))
    }

    /// Drops the message waiting for state `id`.
    pub(crate) fn remove(&mut self, id: StateId) -> Option<Message> {
        self.older.remove(id).or_else(|| self.newer.remove(id))
    }

    /// Adds `msg`; a frame that had to leave to make room goes to `sent`.
    pub(crate) fn put(&mut self, now: Instant, msg: Message, sent: &mut Vec<Taken>) {
        if let Some(id) = msg.state() {
            for bin in [&mut self.older, &mut self.newer] {
                if let Some(old) = bin.get(id) {
                    if old.kind() == msg.kind() {
                        bin.put(now, msg);
                        return;
                    }
                    bin.remove(id);
                    break;
                }
            }
        }
        let fits = |bin: &Pending| bin.is_empty() || bin.bytes_with(&msg) <= self.limit;
        if fits(&self.older) {
            self.older.put(now, msg);
        } else if fits(&self.newer) {
            self.newer.put(now, msg);
        } else {
            sent.push(self.older.take());
            std::mem::swap(&mut self.older, &mut self.newer);
            self.newer.put(now, msg);
        }
    }

    /// Everything waiting, as up to two frames (older first).
    pub(crate) fn take_all(&mut self, sent: &mut Vec<Taken>) {
        for bin in [&mut self.older, &mut self.newer] {
            if !bin.is_empty() {
                sent.push(bin.take());
            }
        }
    }
}

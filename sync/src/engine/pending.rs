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

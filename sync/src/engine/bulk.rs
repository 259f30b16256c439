//! The requesting side of a bulk update (pfsync.md §5.2, FreeBSD's schedule): ask the peer
//! for its whole table, stay CARP-demoted until its BUS END arrives, ask again every
//! `retry` while nothing comes, and give up (undemoting anyway) after `tries` requests.

use std::time::Duration;

use rampart_dataplane::time::Instant;

/// Where the node's own bulk request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkState {
    /// No request made (sync just configured, or nothing asked yet).
    Idle,
    /// Request sent, no BUS START yet.
    Requested {
        /// Requests sent so far.
        tries: u32,
        /// When the last one was sent.
        sent_at: Instant,
    },
    /// The peer is sending its table.
    Receiving {
        /// Requests sent.
        tries: u32,
        /// When the last request was sent.
        sent_at: Instant,
        /// States received since BUS START.
        states: u64,
        /// When the last bulk message arrived: the give-up timer runs from here.
        last_progress: Instant,
    },
    /// BUS END arrived.
    Done {
        /// States received.
        states: u64,
        /// From the first request to BUS END.
        took: Duration,
    },
    /// No answer after every retry; the node undemoted anyway.
    Failed {
        /// Requests sent.
        tries: u32,
    },
}

impl BulkState {
    /// Whether the node should stay CARP-demoted (a bulk update is pending).
    pub fn pending(&self) -> bool {
        matches!(
            self,
            BulkState::Requested { .. } | BulkState::Receiving { .. }
        )
    }

    /// Stable name for status output.
    pub fn name(&self) -> &'static str {
        match self {
            BulkState::Idle => "idle",
            BulkState::Requested { .. } => "requested",
            BulkState::Receiving { .. } => "receiving",
            BulkState::Done { .. } => "done",
            BulkState::Failed { .. } => "failed",
        }
    }
}

/// The requester: its state, when it began, and its schedule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Requester {
    pub(crate) state: BulkState,
    first_sent: Instant,
    retry: Duration,
    max_tries: u32,
}

/// What the requester wants done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequesterAction {
    /// Send UPD_REQ(0, 0) now.
    SendRequest,
    /// Nothing.
    None,
}

impl Requester {
    pub(crate) fn new(retry: Duration, max_tries: u32) -> Self {
        Requester {
            state: BulkState::Idle,
            first_sent: Instant::ZERO,
            retry,
            max_tries: max_tries.max(1),
        }
    }

    pub(crate) fn start(&mut self, now: Instant) -> RequesterAction {
        self.first_sent = now;
        self.state = BulkState::Requested {
            tries: 1,
            sent_at: now,
        };
        RequesterAction::SendRequest
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.state {
            BulkState::Requested { sent_at, .. } => Some(sent_at + self.retry),
            BulkState::Receiving { last_progress, .. } => Some(last_progress + self.retry),
            _ => None,
        }
    }

    /// BUS START from the peer.
    pub(crate) fn bus_start(&mut self, now: Instant) {
        if let BulkState::Requested { tries, sent_at }
        | BulkState::Receiving { tries, sent_at, .. } = self.state
        {
            self.state = BulkState::Receiving {
                tries,
                sent_at,
                states: 0,
                last_progress: now,
            };
        }
    }

    /// A full state arrived; counted as progress while receiving.
    pub(crate) fn state_received(&mut self, now: Instant) {
        if let BulkState::Receiving {
            states,
            last_progress,
            ..
        } = &mut self.state
        {
            *states += 1;
            *last_progress = now;
        }
    }

    /// BUS END from the peer, `endtime` seconds after it got the request it answers. An END
    /// for a request older than our last one is ignored (FreeBSD's check), with a second of
    /// slack for the whole-second rounding. Returns whether it was accepted.
    pub(crate) fn bus_end(&mut self, now: Instant, endtime: u32) -> bool {
        let (sent_at, states) = match self.state {
            BulkState::Requested { sent_at, .. } => (sent_at, 0),
            BulkState::Receiving {
                sent_at, states, ..
            } => (sent_at, states),
            _ => return false,
        };
        let answered_at = now.micros().saturating_sub(u64::from(endtime) * 1_000_000);
        if answered_at + 1_000_000 < sent_at.micros() {
            return false;
        }
        self.state = BulkState::Done {
            states,
            took: now.since(self.first_sent),
        };
        true
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> RequesterAction {
        let Some(deadline) = self.deadline() else {
            return RequesterAction::None;
        };
        if now < deadline {
            return RequesterAction::None;
        }
        let tries = match self.state {
            BulkState::Requested { tries, .. } | BulkState::Receiving { tries, .. } => tries,
            _ => return RequesterAction::None,
        };
        if tries >= self.max_tries {
            self.state = BulkState::Failed { tries };
            return RequesterAction::None;
        }
        self.state = BulkState::Requested {
            tries: tries + 1,
            sent_at: now,
        };
        RequesterAction::SendRequest
    }
}

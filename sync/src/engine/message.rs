//! What the sync core says to its peer and hears back, one pfsync message each, before any
//! byte layout: the codec turns these into frames and frames into these.

use rampart_dataplane::state::StateSnapshot;
use rampart_dataplane::sync_link::CompressedUpdate;

/// A state's network-wide identity.
pub type StateId = (u32, u64);

/// Bulk update status (BUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusStatus {
    /// The sender starts sending its whole table.
    Start,
    /// The sender has sent its whole table.
    End,
}

/// One pfsync message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// INS: a new state (full record). `state_flags` carries pf's ACK bit when the sender
    /// wants an INS_ACK.
    Insert(StateSnapshot),
    /// UPD: a full state record (answer to a request, bulk update).
    Update(StateSnapshot),
    /// UPD_C: a compressed update of a state the peer knows.
    Compressed(CompressedUpdate),
    /// INS_ACK: an insert that asked for it was imported.
    InsAck {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// UPD_REQ: send this state in full; `(0, 0)` asks for the whole table.
    Request {
        /// Creator of the state (0 for a bulk request).
        creatorid: u32,
        /// Its id (0 for a bulk request).
        id: u64,
    },
    /// DEL_C: the state is gone.
    Delete {
        /// Creator of the state.
        creatorid: u32,
        /// Its id.
        id: u64,
    },
    /// CLR: remove every state of this creator.
    Clear {
        /// The creator.
        creatorid: u32,
    },
    /// BUS: bulk update status.
    Bus {
        /// The sender's creatorid.
        creatorid: u32,
        /// FreeBSD: seconds since the sender received the request (0 with START).
        endtime: u32,
        /// Start or end.
        status: BusStatus,
    },
}

/// Message kinds, in the order FreeBSD puts their regions in a frame (pfsync.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// INS.
    Insert,
    /// INS_ACK.
    InsAck,
    /// UPD (full).
    Update,
    /// UPD_C.
    Compressed,
    /// DEL_C.
    Delete,
    /// UPD_REQ.
    Request,
    /// CLR.
    Clear,
    /// BUS.
    Bus,
}

impl Kind {
    /// Every kind, in frame order.
    pub const ALL: [Kind; 8] = [
        Kind::Insert,
        Kind::InsAck,
        Kind::Update,
        Kind::Compressed,
        Kind::Delete,
        Kind::Request,
        Kind::Clear,
        Kind::Bus,
    ];

    /// Stable name for counters.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Insert => "ins",
            Kind::InsAck => "ins_ack",
            Kind::Update => "upd",
            Kind::Compressed => "upd_c",
            Kind::Delete => "del_c",
            Kind::Request => "upd_req",
            Kind::Clear => "clr",
            Kind::Bus => "bus",
        }
    }
}

impl Message {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        match self {
            Message::Insert(_) => Kind::Insert,
            Message::Update(_) => Kind::Update,
            Message::Compressed(_) => Kind::Compressed,
            Message::InsAck { .. } => Kind::InsAck,
            Message::Request { .. } => Kind::Request,
            Message::Delete { .. } => Kind::Delete,
            Message::Clear { .. } => Kind::Clear,
            Message::Bus { .. } => Kind::Bus,
        }
    }

    /// The state it is about, for the messages that are about one state.
    pub fn state(&self) -> Option<StateId> {
        match *self {
            Message::Insert(s) | Message::Update(s) => Some((s.creatorid, s.id)),
            Message::Compressed(c) => Some((c.creatorid, c.id)),
            Message::InsAck { creatorid, id }
            | Message::Request { creatorid, id }
            | Message::Delete { creatorid, id } => Some((creatorid, id)),
            Message::Clear { .. } | Message::Bus { .. } => None,
        }
    }
}

/// Bytes on the wire: the frame header, a subheader per region, each kind's message size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireSizes {
    /// A full state record (242 bytes in the 1301 format, 277 in 1400).
    pub state: usize,
}

/// pfsync header.
pub const HEADER: usize = 20;
/// Region subheader; FreeBSD's EOF is one more with no body.
pub const SUBHEADER: usize = 4;

impl WireSizes {
    /// Bytes of one message of `kind`.
    pub fn message(&self, kind: Kind) -> usize {
        match kind {
            Kind::Insert | Kind::Update => self.state,
            Kind::Compressed => 84,
            Kind::InsAck | Kind::Request | Kind::Delete | Kind::Bus => 12,
            Kind::Clear => 20,
        }
    }

    /// Bytes of a frame holding `counts[k]` messages of each kind (in [`Kind::ALL`] order),
    /// EOF included.
    pub fn frame(&self, counts: &[usize; 8]) -> usize {
        let regions: usize = Kind::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| SUBHEADER + n * self.message(*k))
            .sum();
        HEADER + regions + SUBHEADER
    }
}

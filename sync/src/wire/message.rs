//! One pfsync message of any type, as the decoder yields it and the builder takes it.

use super::header::Action;
use super::reason::DropReason;
use super::small::{BUS_LEN, Bus, CLR_LEN, Clr, STATE_REF_LEN, StateRef};
use super::state::{FullState, StateFormat};
use super::upd_c::{UPD_C_LEN, UpdC};

/// A pfsync message (pf's names). Full states carry the format they travel in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// CLR: remove a creator's states.
    Clr(Clr),
    /// INS: a new state.
    Ins {
        /// Layout on the wire (selects the action code).
        format: StateFormat,
        /// The state.
        state: FullState,
    },
    /// INS_ACK: an insert that asked for it (state flag 0x0010) was imported.
    InsAck(StateRef),
    /// UPD: a full state (answer to UPD_REQ, bulk update, unknown-state update).
    Upd {
        /// Layout on the wire.
        format: StateFormat,
        /// The state.
        state: FullState,
    },
    /// UPD_C: new peers and timeout class of a known state.
    UpdC(UpdC),
    /// UPD_REQ: send this state in full; [`StateRef::BULK`] asks for everything.
    UpdReq(StateRef),
    /// DEL_C: the state is gone.
    DelC(StateRef),
    /// BUS: bulk update start or end.
    Bus(Bus),
}

impl Message {
    /// Its action code.
    pub const fn action(&self) -> Action {
        match self {
            Message::Clr(_) => Action::Clr,
            Message::Ins { format, .. } => format.insert_action(),
            Message::InsAck(_) => Action::InsAck,
            Message::Upd { format, .. } => format.update_action(),
            Message::UpdC(_) => Action::UpdC,
            Message::UpdReq(_) => Action::UpdReq,
            Message::DelC(_) => Action::DelC,
            Message::Bus(_) => Action::Bus,
        }
    }

    /// Bytes it takes on the wire (its subheader not included).
    pub const fn wire_len(&self) -> usize {
        match self {
            Message::Clr(_) => CLR_LEN,
            Message::Ins { format, .. } | Message::Upd { format, .. } => format.record_len(),
            Message::InsAck(_) | Message::UpdReq(_) | Message::DelC(_) => STATE_REF_LEN,
            Message::UpdC(_) => UPD_C_LEN,
            Message::Bus(_) => BUS_LEN,
        }
    }

    /// Reads one message of `action` from the start of `b` (which holds at least its
    /// [`Action::message_len`]) and checks it.
    ///
    /// # Errors
    ///
    /// The record's [`DropReason`]; [`DropReason::IgnoredAction`] for TDB and full-state DEL;
    /// [`DropReason::UnknownAction`] for actions that have no message (INS_F, DEL_F, EOF).
    pub fn parse(action: Action, b: &[u8]) -> Result<Message, DropReason> {
        let full = |format| FullState::parse(b, format);
        Ok(match action {
            Action::Clr => Message::Clr(Clr::parse(b)?),
            Action::Ins1301 => Message::Ins {
                format: StateFormat::V1301,
                state: full(StateFormat::V1301)?,
            },
            Action::Ins1400 => Message::Ins {
                format: StateFormat::V1400,
                state: full(StateFormat::V1400)?,
            },
            Action::Ins1500 => Message::Ins {
                format: StateFormat::V1500,
                state: full(StateFormat::V1500)?,
            },
            Action::Upd1301 => Message::Upd {
                format: StateFormat::V1301,
                state: full(StateFormat::V1301)?,
            },
            Action::Upd1400 => Message::Upd {
                format: StateFormat::V1400,
                state: full(StateFormat::V1400)?,
            },
            Action::Upd1500 => Message::Upd {
                format: StateFormat::V1500,
                state: full(StateFormat::V1500)?,
            },
            Action::InsAck => Message::InsAck(StateRef::parse(b)),
            Action::UpdC => Message::UpdC(UpdC::parse(b)?),
            Action::UpdReq => Message::UpdReq(StateRef::parse(b)),
            Action::DelC => Message::DelC(StateRef::parse(b)),
            Action::Bus => Message::Bus(Bus::parse(b)?),
            Action::Del | Action::Tdb => return Err(DropReason::IgnoredAction),
            Action::InsF | Action::DelF | Action::Eof => return Err(DropReason::UnknownAction),
        })
    }

    /// Writes it into the first [`wire_len`](Self::wire_len) bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        match self {
            Message::Clr(c) => c.emit(out),
            Message::Ins { format, state } | Message::Upd { format, state } => {
                state.emit(*format, out)
            }
            Message::InsAck(r) | Message::UpdReq(r) | Message::DelC(r) => r.emit(out),
            Message::UpdC(u) => u.emit(out),
            Message::Bus(b) => b.emit(out),
        }
    }
}

//! The small messages (pfsync.md §3.6), same bytes on FreeBSD and OpenBSD.
//!
//! INS_ACK, UPD_REQ, DEL_C ([`StateRef`], 12 bytes):
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 8 | id | BE |
//! | 8 | 4 | creatorid | BE |
//!
//! CLR ([`Clr`], 20 bytes):
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 16 | ifname | empty: every interface |
//! | 16 | 4 | creatorid | BE |
//!
//! BUS ([`Bus`], 12 bytes):
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 4 | creatorid | BE, the sender's hostid |
//! | 4 | 4 | endtime | BE seconds since the sender received the bulk request (0 in START) |
//! | 8 | 1 | status | 1 start, 2 end |
//! | 9 | 3 | pad | 0 |

use super::bytes::{Field, array, put, put_u8, put_u32, put_u64, u8_at, u32_at, u64_at, zero};
use super::ifname::IfName;
use super::reason::DropReason;

/// Bytes of INS_ACK, UPD_REQ and DEL_C.
pub const STATE_REF_LEN: usize = 12;
/// Bytes of CLR.
pub const CLR_LEN: usize = 20;
/// Bytes of BUS.
pub const BUS_LEN: usize = 12;

mod field {
    use super::Field;
    pub(super) const ID: Field = 0..8;
    pub(super) const ID_CREATORID: Field = 8..12;

    pub(super) const CLR_IFNAME: Field = 0..16;
    pub(super) const CLR_CREATORID: Field = 16..20;

    pub(super) const BUS_CREATORID: Field = 0..4;
    pub(super) const BUS_ENDTIME: Field = 4..8;
    pub(super) const BUS_STATUS: usize = 8;
    pub(super) const BUS_PAD: Field = 9..12;
}

/// A state's network-wide identity: the body of INS_ACK, UPD_REQ and DEL_C.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StateRef {
    /// State id (unique per creator).
    pub id: u64,
    /// The creator's hostid.
    pub creatorid: u32,
}

impl StateRef {
    /// UPD_REQ's bulk request: send me everything.
    pub const BULK: StateRef = StateRef {
        id: 0,
        creatorid: 0,
    };

    /// Reads it from the start of `b`. Nothing to validate.
    pub fn parse(b: &[u8]) -> StateRef {
        StateRef {
            id: u64_at(b, field::ID),
            creatorid: u32_at(b, field::ID_CREATORID),
        }
    }

    /// Writes it into the first [`STATE_REF_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        put_u64(out, field::ID, self.id);
        put_u32(out, field::ID_CREATORID, self.creatorid);
    }
}

/// CLR: remove the states of a creator (on one interface, if named).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Clr {
    /// Interface; empty for all.
    pub ifname: IfName,
    /// The creator whose states go.
    pub creatorid: u32,
}

impl Clr {
    /// Reads it from the start of `b`.
    ///
    /// # Errors
    ///
    /// [`DropReason::BadIfname`] if the name is not NUL-terminated.
    pub fn parse(b: &[u8]) -> Result<Clr, DropReason> {
        let clr = Clr {
            ifname: IfName(array(b, field::CLR_IFNAME)),
            creatorid: u32_at(b, field::CLR_CREATORID),
        };
        if !clr.ifname.is_terminated() {
            return Err(DropReason::BadIfname);
        }
        Ok(clr)
    }

    /// Writes it into the first [`CLR_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        put(out, field::CLR_IFNAME, &self.ifname.0);
        put_u32(out, field::CLR_CREATORID, self.creatorid);
    }
}

/// BUS status byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BusStatus {
    /// The sender starts its table (`PFSYNC_BUS_START`).
    Start = 1,
    /// The sender has sent its table (`PFSYNC_BUS_END`).
    End = 2,
}

/// BUS: bulk update status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bus {
    /// The sender's hostid.
    pub creatorid: u32,
    /// Seconds since the sender received the request (FreeBSD; 0 in START; OpenBSD 2023+
    /// always 0). A requester accepts END only if `now − endtime` is not before its request.
    pub endtime: u32,
    /// Start or end.
    pub status: BusStatus,
}

impl Bus {
    /// Reads it from the start of `b`.
    ///
    /// # Errors
    ///
    /// [`DropReason::BadBusStatus`] for a status other than 1 or 2.
    pub fn parse(b: &[u8]) -> Result<Bus, DropReason> {
        let status = match u8_at(b, field::BUS_STATUS) {
            1 => BusStatus::Start,
            2 => BusStatus::End,
            _ => return Err(DropReason::BadBusStatus),
        };
        Ok(Bus {
            creatorid: u32_at(b, field::BUS_CREATORID),
            endtime: u32_at(b, field::BUS_ENDTIME),
            status,
        })
    }

    /// Writes it into the first [`BUS_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        put_u32(out, field::BUS_CREATORID, self.creatorid);
        put_u32(out, field::BUS_ENDTIME, self.endtime);
        put_u8(out, field::BUS_STATUS, self.status as u8);
        zero(out, field::BUS_PAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_state_ref() {
        let b = [0x65, 0x53, 0xf1, 0xa2, 0, 0, 0, 1, 0, 0, 0, 0x0a];
        let r = StateRef::parse(&b);
        assert_eq!(r.id, 0x6553_f1a2_0000_0001);
        assert_eq!(r.creatorid, 10);
        let mut out = [0xffu8; 12];
        r.emit(&mut out);
        assert_eq!(out, b);
    }

    #[test]
    fn test_clr() {
        let mut b = [0u8; 20];
        b[..4].copy_from_slice(b"em0\0");
        b[19] = 2;
        let c = Clr::parse(&b).unwrap();
        assert_eq!(c.ifname.as_bytes(), b"em0");
        assert_eq!(c.creatorid, 2);
        let mut out = [0xffu8; 20];
        c.emit(&mut out);
        assert_eq!(out, b);
        b[..16].fill(b'x');
        assert_eq!(Clr::parse(&b), Err(DropReason::BadIfname));
    }

    #[test]
    fn test_bus() {
        let b = [0, 0, 0, 1, 0, 0, 0, 9, 2, 0, 0, 0];
        let bus = Bus::parse(&b).unwrap();
        assert_eq!(
            bus,
            Bus {
                creatorid: 1,
                endtime: 9,
                status: BusStatus::End
            }
        );
        let mut out = [0xffu8; 12];
        bus.emit(&mut out);
        assert_eq!(out, b);
        let mut bad = b;
        bad[8] = 3;
        assert_eq!(Bus::parse(&bad), Err(DropReason::BadBusStatus));
    }
}

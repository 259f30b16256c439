//! UPD_C, the compressed update (`struct pfsync_upd_c`, 84 bytes, pfsync.md §3.6): the peers
//! and timeout class of a state the receiver already holds, found by `(creatorid, id)`.
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 8 | id | BE |
//! | 8 | 32 | src peer | [`PeerRecord`] |
//! | 40 | 32 | dst peer | |
//! | 72 | 4 | creatorid | BE |
//! | 76 | 4 | expire | BE; both OSes send 0 and ignore it |
//! | 80 | 1 | timeout | `PFTM_*` |
//! | 81 | 3 | pad | 0 (OpenBSD: byte 81 is state_flags, never filled) |

use super::bytes::{Field, put_u8, put_u32, put_u64, u8_at, u32_at, u64_at, zero};
use super::peer::PeerRecord;
use super::reason::DropReason;
use super::state::PFTM_MAX;

/// Bytes of UPD_C.
pub const UPD_C_LEN: usize = 84;

mod field {
    use super::Field;
    pub(super) const ID: Field = 0..8;
    pub(super) const SRC: Field = 8..40;
    pub(super) const DST: Field = 40..72;
    pub(super) const CREATORID: Field = 72..76;
    pub(super) const EXPIRE: Field = 76..80;
    pub(super) const TIMEOUT: usize = 80;
    pub(super) const PAD: Field = 81..84;
}

/// A compressed update.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct UpdC {
    /// State id.
    pub id: u64,
    /// The creating side.
    pub src: PeerRecord,
    /// The other side.
    pub dst: PeerRecord,
    /// The creator's hostid.
    pub creatorid: u32,
    /// Unused (sent as 0), kept as received.
    pub expire: u32,
    /// Timeout class (`PFTM_*`).
    pub timeout: u8,
}

impl UpdC {
    /// Reads it from the start of `b` and checks it as pf does.
    ///
    /// # Errors
    ///
    /// [`DropReason::BadTimeout`] for a class ≥ [`PFTM_MAX`], [`DropReason::BadPeerState`]
    /// for a peer state beyond 12.
    pub fn parse(b: &[u8]) -> Result<UpdC, DropReason> {
        let u = UpdC {
            id: u64_at(b, field::ID),
            src: PeerRecord::parse(b.get(field::SRC).unwrap_or(&[])),
            dst: PeerRecord::parse(b.get(field::DST).unwrap_or(&[])),
            creatorid: u32_at(b, field::CREATORID),
            expire: u32_at(b, field::EXPIRE),
            timeout: u8_at(b, field::TIMEOUT),
        };
        if u.timeout >= PFTM_MAX {
            return Err(DropReason::BadTimeout);
        }
        if !u.src.state_ok() || !u.dst.state_ok() {
            return Err(DropReason::BadPeerState);
        }
        Ok(u)
    }

    /// Writes it into the first [`UPD_C_LEN`] bytes of `out`.
    pub fn emit(&self, out: &mut [u8]) {
        put_u64(out, field::ID, self.id);
        if let Some(b) = out.get_mut(field::SRC) {
            self.src.emit(b);
        }
        if let Some(b) = out.get_mut(field::DST) {
            self.dst.emit(b);
        }
        put_u32(out, field::CREATORID, self.creatorid);
        put_u32(out, field::EXPIRE, self.expire);
        put_u8(out, field::TIMEOUT, self.timeout);
        zero(out, field::PAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_round_trip_and_checks() {
        let mut u = UpdC {
            id: 0x0102_0304_0506_0708,
            creatorid: 9,
            timeout: 2,
            ..UpdC::default()
        };
        u.src.seqlo = 1000;
        u.src.state = 4;
        u.dst.state = 4;
        let mut b = [0xffu8; UPD_C_LEN];
        u.emit(&mut b);
        assert_eq!(b[..8], [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(b[8 + 8..8 + 12], 1000u32.to_be_bytes());
        assert_eq!(b[72..76], [0, 0, 0, 9]);
        assert_eq!(b[80..], [2, 0, 0, 0]);
        assert_eq!(UpdC::parse(&b), Ok(u));
        b[80] = PFTM_MAX;
        assert_eq!(UpdC::parse(&b), Err(DropReason::BadTimeout));
        b[80] = 2;
        b[40 + 24] = 13;
        assert_eq!(UpdC::parse(&b), Err(DropReason::BadPeerState));
    }
}

//! The frame header, the region subheader and the action codes (pfsync.md §2).
//!
//! Header (`struct pfsync_header`, 20 bytes):
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 1 | version | 5 (FreeBSD; OpenBSD sends 6, which FreeBSD refuses and so do we) |
//! | 1 | 1 | pad | 0 |
//! | 2 | 2 | len | BE; bytes from the header's first byte to the end of the EOF region |
//! | 4 | 16 | pfcksum | MD5 of the sender's ruleset; only a hint to a receiver (§5.6) |
//!
//! Subheader (`struct pfsync_subheader`, 4 bytes) before each region of `count` messages of one
//! action:
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 1 | action | [`Action`] |
//! | 1 | 1 | pad | 0 on FreeBSD (OpenBSD: message length in words) |
//! | 2 | 2 | count | BE |
//!
//! About the checksum: a FreeBSD receiver binds a state to its rule number only when the
//! checksum equals its own; otherwise the state goes to its default rule and still syncs.
//! rampart has no pf ruleset to hash, so it sends 16 zero bytes, as OpenBSD 7.4+ does (a
//! FreeBSD node with rules loaded then never trusts our rule numbers, which is right: they
//! are not its rule numbers), and exposes what it receives as [`Header::checksum`].

use super::bytes::{Field, array, put, put_u8, put_u16, u8_at, u16_at, zero};
use super::reason::DropReason;

/// The FreeBSD protocol version.
pub const VERSION: u8 = 5;
/// Bytes of the frame header.
pub const HEADER_LEN: usize = 20;
/// Bytes of a region subheader; FreeBSD's EOF region is a subheader alone.
pub const SUBHEADER_LEN: usize = 4;

mod field {
    use super::Field;
    pub(super) const VERSION: usize = 0;
    pub(super) const PAD: Field = 1..2;
    pub(super) const LEN: Field = 2..4;
    pub(super) const CKSUM: Field = 4..20;

    pub(super) const ACTION: usize = 0;
    pub(super) const SUB_PAD: Field = 1..2;
    pub(super) const COUNT: Field = 2..4;
}

/// The frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Byte count from the header to the end of the last region (EOF included).
    pub len: u16,
    /// The sender's ruleset checksum (zeros from rampart and OpenBSD 7.4+).
    pub checksum: [u8; 16],
}

impl Header {
    /// Reads the header at the start of `frame` (the IP payload) and checks it against the
    /// frame: version 5, `len` at least the header and at most the buffer. Bytes after `len`
    /// are not the frame's (pf ignores them too).
    ///
    /// # Errors
    ///
    /// [`DropReason::ShortFrame`], [`DropReason::BadVersion`] or [`DropReason::BadLength`].
    pub fn parse(frame: &[u8]) -> Result<Header, DropReason> {
        if frame.len() < HEADER_LEN {
            return Err(DropReason::ShortFrame);
        }
        if u8_at(frame, field::VERSION) != VERSION {
            return Err(DropReason::BadVersion);
        }
        let len = u16_at(frame, field::LEN);
        if usize::from(len) < HEADER_LEN || usize::from(len) > frame.len() {
            return Err(DropReason::BadLength);
        }
        Ok(Header {
            len,
            checksum: array(frame, field::CKSUM),
        })
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `out` (nothing if shorter).
    pub fn emit(&self, out: &mut [u8]) {
        if out.len() < HEADER_LEN {
            return;
        }
        put_u8(out, field::VERSION, VERSION);
        zero(out, field::PAD);
        put_u16(out, field::LEN, self.len);
        put(out, field::CKSUM, &self.checksum);
    }
}

/// A region subheader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subheader {
    /// Action code (see [`Action`]; unknown codes are kept as received).
    pub action: u8,
    /// Messages in the region (1 for EOF).
    pub count: u16,
}

impl Subheader {
    /// Reads the subheader at the start of `b` (zeros where `b` is short).
    pub fn parse(b: &[u8]) -> Subheader {
        Subheader {
            action: u8_at(b, field::ACTION),
            count: u16_at(b, field::COUNT),
        }
    }

    /// Writes it into the first [`SUBHEADER_LEN`] bytes of `out` (nothing if shorter).
    pub fn emit(&self, out: &mut [u8]) {
        if out.len() < SUBHEADER_LEN {
            return;
        }
        put_u8(out, field::ACTION, self.action);
        zero(out, field::SUB_PAD);
        put_u16(out, field::COUNT, self.count);
    }
}

/// FreeBSD's action codes (`PFSYNC_ACT_*`, 13/14/15 trees), each naming a message type and,
/// for full states, its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Action {
    /// Clear the states of a creator.
    Clr = 0,
    /// Insert, 1301 format.
    Ins1301 = 1,
    /// Deferral acknowledgement.
    InsAck = 2,
    /// Full update, 1301 format.
    Upd1301 = 3,
    /// Compressed update.
    UpdC = 4,
    /// Update request (0, 0: bulk request).
    UpdReq = 5,
    /// Full-state delete (1301 layout): FreeBSD 13 accepted it, nobody sends it.
    Del = 6,
    /// Compressed delete.
    DelC = 7,
    /// Never implemented; no known size.
    InsF = 8,
    /// Never implemented; no known size.
    DelF = 9,
    /// Bulk update status.
    Bus = 10,
    /// IPsec replay counters; FreeBSD skips them.
    Tdb = 11,
    /// End of frame: a subheader with no body.
    Eof = 12,
    /// Insert, 1400 format (FreeBSD 14+).
    Ins1400 = 13,
    /// Full update, 1400 format.
    Upd1400 = 14,
    /// Insert, 1500 format (FreeBSD 15).
    Ins1500 = 15,
    /// Full update, 1500 format.
    Upd1500 = 16,
}

impl Action {
    /// The action with code `code`, if FreeBSD defines one (codes up to 16).
    pub const fn from_code(code: u8) -> Option<Action> {
        Some(match code {
            0 => Action::Clr,
            1 => Action::Ins1301,
            2 => Action::InsAck,
            3 => Action::Upd1301,
            4 => Action::UpdC,
            5 => Action::UpdReq,
            6 => Action::Del,
            7 => Action::DelC,
            8 => Action::InsF,
            9 => Action::DelF,
            10 => Action::Bus,
            11 => Action::Tdb,
            12 => Action::Eof,
            13 => Action::Ins1400,
            14 => Action::Upd1400,
            15 => Action::Ins1500,
            16 => Action::Upd1500,
            _ => return None,
        })
    }

    /// Its code.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Bytes of one message, `None` for INS_F and DEL_F (never defined). EOF has none.
    pub const fn message_len(self) -> Option<usize> {
        Some(match self {
            Action::Clr => 20,
            Action::Ins1301 | Action::Upd1301 | Action::Del => 242,
            Action::InsAck | Action::UpdReq | Action::DelC | Action::Bus => 12,
            Action::UpdC => 84,
            Action::Tdb => 48,
            Action::Eof => 0,
            Action::Ins1400 | Action::Upd1400 => 277,
            Action::Ins1500 | Action::Upd1500 => 360,
            Action::InsF | Action::DelF => return None,
        })
    }

    /// pf's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Action::Clr => "CLR",
            Action::Ins1301 => "INS_1301",
            Action::InsAck => "INS_ACK",
            Action::Upd1301 => "UPD_1301",
            Action::UpdC => "UPD_C",
            Action::UpdReq => "UPD_REQ",
            Action::Del => "DEL",
            Action::DelC => "DEL_C",
            Action::InsF => "INS_F",
            Action::DelF => "DEL_F",
            Action::Bus => "BUS",
            Action::Tdb => "TDB",
            Action::Eof => "EOF",
            Action::Ins1400 => "INS_1400",
            Action::Upd1400 => "UPD_1400",
            Action::Ins1500 => "INS_1500",
            Action::Upd1500 => "UPD_1500",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_header() {
        let mut f = [0u8; 40];
        f[0] = 5;
        f[3] = 40;
        f[4] = 0xaa;
        let h = Header::parse(&f).unwrap();
        assert_eq!(h.len, 40);
        assert_eq!(h.checksum[0], 0xaa);
        let mut out = [0xffu8; 20];
        h.emit(&mut out);
        assert_eq!(out, f[..20]);
    }

    #[test]
    fn test_parse_bad_header() {
        assert_eq!(Header::parse(&[5; 19]), Err(DropReason::ShortFrame));
        let mut f = [0u8; 24];
        f[0] = 6;
        f[3] = 24;
        assert_eq!(Header::parse(&f), Err(DropReason::BadVersion));
        f[0] = 5;
        f[3] = 25;
        assert_eq!(Header::parse(&f), Err(DropReason::BadLength));
        f[3] = 19;
        assert_eq!(Header::parse(&f), Err(DropReason::BadLength));
        f[3] = 20;
        assert!(Header::parse(&f).is_ok());
    }

    #[test]
    fn test_actions() {
        for code in 0..=255u8 {
            match Action::from_code(code) {
                Some(a) => assert_eq!(a.code(), code),
                None => assert!(code > 16),
            }
        }
        assert_eq!(Action::from_code(12), Some(Action::Eof));
        assert_eq!(Action::InsF.message_len(), None);
        let sub = Subheader {
            action: 7,
            count: 0x0102,
        };
        let mut b = [0xffu8; 4];
        sub.emit(&mut b);
        assert_eq!(b, [7, 0, 1, 2]);
        assert_eq!(Subheader::parse(&b), sub);
    }
}

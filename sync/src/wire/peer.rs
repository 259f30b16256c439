//! One TCP (or UDP/other) endpoint as pfsync carries it: `pf_state_peer_export` on FreeBSD,
//! 32 bytes, the same bytes on OpenBSD (pfsync.md §3.1).
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 2 | scrub.pfss_flags | BE; only 0x0001 (timestamp modulation) is carried |
//! | 2 | 1 | scrub.pfss_ttl | stashed TTL |
//! | 3 | 1 | scrub.scrub_flag | 0x01: the scrub block is valid |
//! | 4 | 4 | scrub.pfss_ts_mod | BE; FreeBSD 14+: the SCTP verification tag shares it |
//! | 8 | 4 | seqlo | BE |
//! | 12 | 4 | seqhi | BE |
//! | 16 | 4 | seqdiff | BE |
//! | 20 | 2 | max_win | BE |
//! | 22 | 2 | mss | BE |
//! | 24 | 1 | state | TCP `TCPS_*` 0–10, synproxy 11–12; UDP/other 0–2 |
//! | 25 | 1 | wscale | 0x80 option seen, low 4 bits the shift |
//! | 26 | 6 | pad | 0 |

use super::bytes::{Field, put_u8, put_u16, put_u32, u8_at, u16_at, u32_at, zero};

/// Bytes of a peer record.
pub const PEER_LEN: usize = 32;
/// Highest peer state pf accepts (`PF_TCPS_PROXY_DST`).
pub const MAX_PEER_STATE: u8 = 12;

mod field {
    use super::Field;
    pub(super) const SCRUB_FLAGS: Field = 0..2;
    pub(super) const SCRUB_TTL: usize = 2;
    pub(super) const SCRUB_FLAG: usize = 3;
    pub(super) const SCRUB_TS_MOD: Field = 4..8;
    pub(super) const SEQLO: Field = 8..12;
    pub(super) const SEQHI: Field = 12..16;
    pub(super) const SEQDIFF: Field = 16..20;
    pub(super) const MAX_WIN: Field = 20..22;
    pub(super) const MSS: Field = 22..24;
    pub(super) const STATE: usize = 24;
    pub(super) const WSCALE: usize = 25;
    pub(super) const PAD: Field = 26..32;
}

/// pf's scrub block of a peer (`pf_state_scrub_export`). rampart does not scrub; it keeps
/// what it receives so that re-encoding is faithful, and sends zeros.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Scrub {
    /// `pfss_flags` (0x0001: timestamp modulation).
    pub flags: u16,
    /// `pfss_ttl`.
    pub ttl: u8,
    /// `scrub_flag` (0x01: valid).
    pub valid: u8,
    /// `pfss_ts_mod` (SCTP verification tag on FreeBSD 14+).
    pub ts_mod: u32,
}

/// A peer record, host byte order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PeerRecord {
    /// Scrub block.
    pub scrub: Scrub,
    /// Highest sequence number sent.
    pub seqlo: u32,
    /// Highest acknowledged by the other side plus its window.
    pub seqhi: u32,
    /// Sequence modulation offset.
    pub seqdiff: u32,
    /// Largest window seen, before scaling.
    pub max_win: u16,
    /// MSS option.
    pub mss: u16,
    /// Peer state (see the table above).
    pub state: u8,
    /// Window scale: 0x80 flag and shift.
    pub wscale: u8,
}

impl PeerRecord {
    /// Reads the record at the start of `b` (zeros where `b` is short).
    pub fn parse(b: &[u8]) -> PeerRecord {
        PeerRecord {
            scrub: Scrub {
                flags: u16_at(b, field::SCRUB_FLAGS),
                ttl: u8_at(b, field::SCRUB_TTL),
                valid: u8_at(b, field::SCRUB_FLAG),
                ts_mod: u32_at(b, field::SCRUB_TS_MOD),
            },
            seqlo: u32_at(b, field::SEQLO),
            seqhi: u32_at(b, field::SEQHI),
            seqdiff: u32_at(b, field::SEQDIFF),
            max_win: u16_at(b, field::MAX_WIN),
            mss: u16_at(b, field::MSS),
            state: u8_at(b, field::STATE),
            wscale: u8_at(b, field::WSCALE),
        }
    }

    /// Writes it into the first [`PEER_LEN`] bytes of `out`, pad zeroed.
    pub fn emit(&self, out: &mut [u8]) {
        put_u16(out, field::SCRUB_FLAGS, self.scrub.flags);
        put_u8(out, field::SCRUB_TTL, self.scrub.ttl);
        put_u8(out, field::SCRUB_FLAG, self.scrub.valid);
        put_u32(out, field::SCRUB_TS_MOD, self.scrub.ts_mod);
        put_u32(out, field::SEQLO, self.seqlo);
        put_u32(out, field::SEQHI, self.seqhi);
        put_u32(out, field::SEQDIFF, self.seqdiff);
        put_u16(out, field::MAX_WIN, self.max_win);
        put_u16(out, field::MSS, self.mss);
        put_u8(out, field::STATE, self.state);
        put_u8(out, field::WSCALE, self.wscale);
        zero(out, field::PAD);
    }

    /// Whether pf would accept its state (≤ [`MAX_PEER_STATE`]).
    pub fn state_ok(&self) -> bool {
        self.state <= MAX_PEER_STATE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_deconstruct() {
        let b: [u8; 32] = [
            0x00, 0x01, 64, 1, 0xde, 0xad, 0xbe, 0xef, // scrub
            0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, // seqlo, seqhi, seqdiff
            0x12, 0x34, 0x05, 0xb4, 4, 0x87, 0, 0, 0, 0, 0, 0,
        ];
        let p = PeerRecord::parse(&b);
        assert_eq!(p.scrub.flags, 1);
        assert_eq!(p.scrub.ttl, 64);
        assert_eq!(p.scrub.valid, 1);
        assert_eq!(p.scrub.ts_mod, 0xdead_beef);
        assert_eq!((p.seqlo, p.seqhi, p.seqdiff), (1, 2, 3));
        assert_eq!(
            (p.max_win, p.mss, p.state, p.wscale),
            (0x1234, 1460, 4, 0x87)
        );
        let mut out = [0xffu8; 32];
        p.emit(&mut out);
        assert_eq!(out, b);
    }
}

//! Format 1400 (277 bytes; actions 13 INS and 14 UPD), FreeBSD 14's default. Bytes 0–234
//! are 1301's; the flags widen to 16 bits (unaligned) and pf's per-state actions follow:
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 232 | 1 | af | both keys |
//! | 233 | 1 | proto | both keys |
//! | 234 | 1 | direction | |
//! | 235 | 2 | state_flags | BE, all 16 bits |
//! | 237 | 1 | log | |
//! | 238 | 1 | spare | 0 |
//! | 239 | 1 | timeout | |
//! | 240 | 1 | sync_flags | |
//! | 241 | 1 | updates | 0 |
//! | 242 | 2 | qid | BE |
//! | 244 | 2 | pqid | BE |
//! | 246 | 2 | dnpipe | BE |
//! | 248 | 2 | dnrpipe | BE |
//! | 250 | 4 | rtableid | BE signed, −1 not set |
//! | 254 | 1 | min_ttl | |
//! | 255 | 1 | set_tos | |
//! | 256 | 2 | max_mss | BE |
//! | 258 | 2 | set_prio | |
//! | 260 | 1 | rt | route type |
//! | 261 | 16 | rt_ifname | |

use super::FullState;
use crate::wire::bytes::{Field, array, put, put_u8, put_u16, u8_at, u16_at, zero};
use crate::wire::ifname::IfName;

/// Bytes of a 1400 record.
pub const LEN: usize = 277;

mod field {
    use super::Field;
    pub(super) const AF: usize = 232;
    pub(super) const PROTO: usize = 233;
    pub(super) const DIRECTION: usize = 234;
    pub(super) const STATE_FLAGS: Field = 235..237;
    pub(super) const LOG: usize = 237;
    pub(super) const SPARE: Field = 238..239;
    pub(super) const TIMEOUT: usize = 239;
    pub(super) const SYNC_FLAGS: usize = 240;
    pub(super) const UPDATES: usize = 241;
    pub(super) const QID: Field = 242..244;
    pub(super) const PQID: Field = 244..246;
    pub(super) const DNPIPE: Field = 246..248;
    pub(super) const DNRPIPE: Field = 248..250;
    pub(super) const RTABLEID: Field = 250..254;
    pub(super) const MIN_TTL: usize = 254;
    pub(super) const SET_TOS: usize = 255;
    pub(super) const MAX_MSS: Field = 256..258;
    pub(super) const SET_PRIO: Field = 258..260;
    pub(super) const RT: usize = 260;
    pub(super) const RT_IFNAME: Field = 261..277;
}

pub(super) fn read(b: &[u8], s: &mut FullState) {
    s.af = u8_at(b, field::AF);
    s.proto = u8_at(b, field::PROTO);
    s.stack_af = s.af;
    s.stack_proto = s.proto;
    s.direction = u8_at(b, field::DIRECTION);
    s.state_flags = u16_at(b, field::STATE_FLAGS);
    s.log = u8_at(b, field::LOG);
    s.timeout = u8_at(b, field::TIMEOUT);
    s.sync_flags = u8_at(b, field::SYNC_FLAGS);
    s.updates = u8_at(b, field::UPDATES);
    let a = &mut s.act;
    a.qid = u16_at(b, field::QID);
    a.pqid = u16_at(b, field::PQID);
    a.dnpipe = u16_at(b, field::DNPIPE);
    a.dnrpipe = u16_at(b, field::DNRPIPE);
    a.rtableid = i32::from_be_bytes(array(b, field::RTABLEID));
    a.min_ttl = u8_at(b, field::MIN_TTL);
    a.set_tos = u8_at(b, field::SET_TOS);
    a.max_mss = u16_at(b, field::MAX_MSS);
    a.set_prio = array(b, field::SET_PRIO);
    a.rt = u8_at(b, field::RT);
    a.rt_ifname = IfName(array(b, field::RT_IFNAME));
}

pub(super) fn write(s: &FullState, out: &mut [u8]) {
    put_u8(out, field::AF, s.af);
    put_u8(out, field::PROTO, s.proto);
    put_u8(out, field::DIRECTION, s.direction);
    put_u16(out, field::STATE_FLAGS, s.state_flags);
    put_u8(out, field::LOG, s.log);
    zero(out, field::SPARE);
    put_u8(out, field::TIMEOUT, s.timeout);
    put_u8(out, field::SYNC_FLAGS, s.sync_flags);
    put_u8(out, field::UPDATES, s.updates);
    let a = &s.act;
    put_u16(out, field::QID, a.qid);
    put_u16(out, field::PQID, a.pqid);
    put_u16(out, field::DNPIPE, a.dnpipe);
    put_u16(out, field::DNRPIPE, a.dnrpipe);
    put(out, field::RTABLEID, &a.rtableid.to_be_bytes());
    put_u8(out, field::MIN_TTL, a.min_ttl);
    put_u8(out, field::SET_TOS, a.set_tos);
    put_u16(out, field::MAX_MSS, a.max_mss);
    put(out, field::SET_PRIO, &a.set_prio);
    put_u8(out, field::RT, a.rt);
    put(out, field::RT_IFNAME, &a.rt_ifname.0);
}

const _: () = assert!(field::RT_IFNAME.end == LEN);

//! Format 1500 (360 bytes; actions 15 INS and 16 UPD), FreeBSD 15. Bytes 0–231 are the
//! common part; the rest is new and naturally aligned, with a family and protocol per key
//! (af-to / NAT64) and no `sync_flags`/`updates`:
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 232 | 64 | tagname | NUL-padded |
//! | 296 | 16 | rt_ifname | |
//! | 312 | 16 | orig_ifname | the real interface of a floating state |
//! | 328 | 4 | rtableid | BE signed, −1 not set |
//! | 332 | 2 | state_flags | BE |
//! | 334 | 2 | qid | BE |
//! | 336 | 2 | pqid | BE |
//! | 338 | 2 | dnpipe | BE |
//! | 340 | 2 | dnrpipe | BE |
//! | 342 | 2 | max_mss | BE |
//! | 344 | 1 | wire_af | |
//! | 345 | 1 | stack_af | |
//! | 346 | 1 | rt_af | |
//! | 347 | 1 | wire_proto | |
//! | 348 | 1 | stack_proto | |
//! | 349 | 1 | log | |
//! | 350 | 1 | timeout | |
//! | 351 | 1 | direction | |
//! | 352 | 1 | rt | |
//! | 353 | 1 | min_ttl | |
//! | 354 | 1 | set_tos | |
//! | 355 | 2 | set_prio | |
//! | 357 | 3 | spare | 0 |

use super::FullState;
use crate::wire::bytes::{Field, array, put, put_u8, put_u16, u8_at, u16_at, zero};
use crate::wire::ifname::IfName;

/// Bytes of a 1500 record.
pub const LEN: usize = 360;

mod field {
    use super::Field;
    pub(super) const TAGNAME: Field = 232..296;
    pub(super) const RT_IFNAME: Field = 296..312;
    pub(super) const ORIG_IFNAME: Field = 312..328;
    pub(super) const RTABLEID: Field = 328..332;
    pub(super) const STATE_FLAGS: Field = 332..334;
    pub(super) const QID: Field = 334..336;
    pub(super) const PQID: Field = 336..338;
    pub(super) const DNPIPE: Field = 338..340;
    pub(super) const DNRPIPE: Field = 340..342;
    pub(super) const MAX_MSS: Field = 342..344;
    pub(super) const WIRE_AF: usize = 344;
    pub(super) const STACK_AF: usize = 345;
    pub(super) const RT_AF: usize = 346;
    pub(super) const WIRE_PROTO: usize = 347;
    pub(super) const STACK_PROTO: usize = 348;
    pub(super) const LOG: usize = 349;
    pub(super) const TIMEOUT: usize = 350;
    pub(super) const DIRECTION: usize = 351;
    pub(super) const RT: usize = 352;
    pub(super) const MIN_TTL: usize = 353;
    pub(super) const SET_TOS: usize = 354;
    pub(super) const SET_PRIO: Field = 355..357;
    pub(super) const SPARE: Field = 357..360;
}

pub(super) fn read(b: &[u8], s: &mut FullState) {
    s.tagname = array(b, field::TAGNAME);
    s.orig_ifname = IfName(array(b, field::ORIG_IFNAME));
    s.state_flags = u16_at(b, field::STATE_FLAGS);
    s.af = u8_at(b, field::WIRE_AF);
    s.stack_af = u8_at(b, field::STACK_AF);
    s.proto = u8_at(b, field::WIRE_PROTO);
    s.stack_proto = u8_at(b, field::STACK_PROTO);
    s.log = u8_at(b, field::LOG);
    s.timeout = u8_at(b, field::TIMEOUT);
    s.direction = u8_at(b, field::DIRECTION);
    let a = &mut s.act;
    a.rt_ifname = IfName(array(b, field::RT_IFNAME));
    a.rtableid = i32::from_be_bytes(array(b, field::RTABLEID));
    a.qid = u16_at(b, field::QID);
    a.pqid = u16_at(b, field::PQID);
    a.dnpipe = u16_at(b, field::DNPIPE);
    a.dnrpipe = u16_at(b, field::DNRPIPE);
    a.max_mss = u16_at(b, field::MAX_MSS);
    a.rt_af = u8_at(b, field::RT_AF);
    a.rt = u8_at(b, field::RT);
    a.min_ttl = u8_at(b, field::MIN_TTL);
    a.set_tos = u8_at(b, field::SET_TOS);
    a.set_prio = array(b, field::SET_PRIO);
}

pub(super) fn write(s: &FullState, out: &mut [u8]) {
    let a = &s.act;
    put(out, field::TAGNAME, &s.tagname);
    put(out, field::RT_IFNAME, &a.rt_ifname.0);
    put(out, field::ORIG_IFNAME, &s.orig_ifname.0);
    put(out, field::RTABLEID, &a.rtableid.to_be_bytes());
    put_u16(out, field::STATE_FLAGS, s.state_flags);
    put_u16(out, field::QID, a.qid);
    put_u16(out, field::PQID, a.pqid);
    put_u16(out, field::DNPIPE, a.dnpipe);
    put_u16(out, field::DNRPIPE, a.dnrpipe);
    put_u16(out, field::MAX_MSS, a.max_mss);
    put_u8(out, field::WIRE_AF, s.af);
    put_u8(out, field::STACK_AF, s.stack_af);
    put_u8(out, field::RT_AF, a.rt_af);
    put_u8(out, field::WIRE_PROTO, s.proto);
    put_u8(out, field::STACK_PROTO, s.stack_proto);
    put_u8(out, field::LOG, s.log);
    put_u8(out, field::TIMEOUT, s.timeout);
    put_u8(out, field::DIRECTION, s.direction);
    put_u8(out, field::RT, a.rt);
    put_u8(out, field::MIN_TTL, a.min_ttl);
    put_u8(out, field::SET_TOS, a.set_tos);
    put(out, field::SET_PRIO, &a.set_prio);
    zero(out, field::SPARE);
}

const _: () = assert!(field::SPARE.end == LEN);

//! Format 1301 (242 bytes; actions 1 INS and 3 UPD): the single `struct pfsync_state` of
//! FreeBSD 9–13, `pfsync_state_1301` since. After the common 232 bytes:
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 232 | 1 | af | 2 or 28, both keys |
//! | 233 | 1 | proto | both keys |
//! | 234 | 1 | direction | 1 in, 2 out |
//! | 235 | 2 | spare | 0 |
//! | 237 | 1 | log | |
//! | 238 | 1 | state_flags | low 8 bits only |
//! | 239 | 1 | timeout | `PFTM_*` |
//! | 240 | 1 | sync_flags | |
//! | 241 | 1 | updates | 0 |
//!
//! No route-to interface, queues or routing table: a FreeBSD 14+ receiver takes them from
//! its own rule when the rulesets match, and drops a state whose `rt_addr` is set when they
//! do not.

use super::FullState;
use crate::wire::bytes::{Field, put_u8, u8_at, zero};

/// Bytes of a 1301 record.
pub const LEN: usize = 242;

mod field {
    use super::Field;
    pub(super) const AF: usize = 232;
    pub(super) const PROTO: usize = 233;
    pub(super) const DIRECTION: usize = 234;
    pub(super) const SPARE: Field = 235..237;
    pub(super) const LOG: usize = 237;
    pub(super) const STATE_FLAGS: usize = 238;
    pub(super) const TIMEOUT: usize = 239;
    pub(super) const SYNC_FLAGS: usize = 240;
    pub(super) const UPDATES: usize = 241;
}

pub(super) fn read(b: &[u8], s: &mut FullState) {
    s.af = u8_at(b, field::AF);
    s.proto = u8_at(b, field::PROTO);
    s.stack_af = s.af;
    s.stack_proto = s.proto;
    s.direction = u8_at(b, field::DIRECTION);
    s.log = u8_at(b, field::LOG);
    s.state_flags = u16::from(u8_at(b, field::STATE_FLAGS));
    s.timeout = u8_at(b, field::TIMEOUT);
    s.sync_flags = u8_at(b, field::SYNC_FLAGS);
    s.updates = u8_at(b, field::UPDATES);
}

pub(super) fn write(s: &FullState, out: &mut [u8]) {
    put_u8(out, field::AF, s.af);
    put_u8(out, field::PROTO, s.proto);
    put_u8(out, field::DIRECTION, s.direction);
    zero(out, field::SPARE);
    put_u8(out, field::LOG, s.log);
    // The format has one byte: pf sends the low 8 flags.
    put_u8(out, field::STATE_FLAGS, s.state_flags.to_be_bytes()[1]);
    put_u8(out, field::TIMEOUT, s.timeout);
    put_u8(out, field::SYNC_FLAGS, s.sync_flags);
    put_u8(out, field::UPDATES, s.updates);
}

const _: () = assert!(field::UPDATES + 1 == LEN);

//! The full state record (INS, UPD) in FreeBSD's three formats (pfsync.md §3.2–3.4), decoded
//! into one value type, [`FullState`], that holds the union of their fields.
//!
//! The first 232 bytes are the same in every format:
//!
//! | Off | Size | Field | |
//! |---|---|---|---|
//! | 0 | 8 | id | BE (pf keeps it byte-swapped; opaque, compared as a whole) |
//! | 8 | 16 | ifname | the state's interface; `all` for floating states |
//! | 24 | 36 | key\[0\] | wire key ([`KeyRecord`]) |
//! | 60 | 36 | key\[1\] | stack key |
//! | 96 | 32 | src | [`PeerRecord`] of the side that sent the creating packet |
//! | 128 | 32 | dst | the other side |
//! | 160 | 16 | rt_addr | route-to next hop, raw |
//! | 176 | 4 | rule | BE rule number, `0xffffffff` none |
//! | 180 | 4 | anchor | BE, `0xffffffff` none |
//! | 184 | 4 | nat_rule | BE, `0xffffffff` none |
//! | 188 | 4 | creation | BE, the state's **age** in seconds |
//! | 192 | 4 | expire | BE, **seconds left** before it expires; 0 = now/unknown |
//! | 196 | 16 | packets | two BE u64 (each sent as high then low 32-bit word): forward, reverse |
//! | 212 | 16 | bytes | same |
//! | 228 | 4 | creatorid | BE, the creator's hostid |
//!
//! The rest is per format: [`v1301`] (242 bytes, actions 1 and 3), [`v1400`] (277 bytes,
//! actions 13 and 14, FreeBSD 14+), [`v1500`] (360 bytes, actions 15 and 16, FreeBSD 15).
//!
//! # Validation
//!
//! [`FullState::parse`] refuses what pf's input path refuses (§4): timeout class ≥
//! [`PFTM_MAX`], a peer state beyond 12, direction beyond 2, a family other than 2 or 28
//! (`badval`), then what its import refuses: creatorid 0, an ifname without NUL. It adds one
//! check pf does implicitly: an IPv4 address must have zeros after its fourth byte (pf hashes
//! all 16 bytes, so such a state could never match), and two keys of one family must have the
//! same protocol (1500, where each key has its own).

pub mod v1301;
pub mod v1400;
pub mod v1500;

use super::bytes::{Field, array, put, put_u32, put_u64, u32_at, u64_at};
use super::header::Action;
use super::ifname::IfName;
use super::key::{AF_INET, AF_INET6, KEY_LEN, KeyRecord};
use super::peer::PeerRecord;
use super::reason::DropReason;

/// pf's `PFTM_MAX` on FreeBSD 14+ (SCTP classes 20–24 included); FreeBSD 13 and OpenBSD
/// use 20. A class at or beyond it is refused.
pub const PFTM_MAX: u8 = 25;
/// Rule, anchor or NAT rule number meaning "none".
pub const NO_RULE: u32 = u32::MAX;
/// `PF_TAG_NAME_SIZE`: bytes of a tag name (1500 format).
pub const TAG_NAME_LEN: usize = 64;

/// The part common to all formats.
const COMMON_LEN: usize = 232;

mod field {
    use super::Field;
    pub(super) const ID: Field = 0..8;
    pub(super) const IFNAME: Field = 8..24;
    pub(super) const KEY0: Field = 24..60;
    pub(super) const KEY1: Field = 60..96;
    pub(super) const SRC: Field = 96..128;
    pub(super) const DST: Field = 128..160;
    pub(super) const RT_ADDR: Field = 160..176;
    pub(super) const RULE: Field = 176..180;
    pub(super) const ANCHOR: Field = 180..184;
    pub(super) const NAT_RULE: Field = 184..188;
    pub(super) const CREATION: Field = 188..192;
    pub(super) const EXPIRE: Field = 192..196;
    pub(super) const PACKETS0: Field = 196..204;
    pub(super) const PACKETS1: Field = 204..212;
    pub(super) const BYTES0: Field = 212..220;
    pub(super) const BYTES1: Field = 220..228;
    pub(super) const CREATORID: Field = 228..232;
}

/// Which full-state layout a message uses; chosen per action code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StateFormat {
    /// 242 bytes: FreeBSD 9–13's only format, understood by every FreeBSD since.
    V1301,
    /// 277 bytes: FreeBSD 14's default.
    #[default]
    V1400,
    /// 360 bytes: FreeBSD 15.
    V1500,
}

impl StateFormat {
    /// Every format.
    pub const ALL: [StateFormat; 3] = [StateFormat::V1301, StateFormat::V1400, StateFormat::V1500];

    /// Bytes of one record.
    pub const fn record_len(self) -> usize {
        match self {
            StateFormat::V1301 => v1301::LEN,
            StateFormat::V1400 => v1400::LEN,
            StateFormat::V1500 => v1500::LEN,
        }
    }

    /// The INS action of this format.
    pub const fn insert_action(self) -> Action {
        match self {
            StateFormat::V1301 => Action::Ins1301,
            StateFormat::V1400 => Action::Ins1400,
            StateFormat::V1500 => Action::Ins1500,
        }
    }

    /// The UPD action of this format.
    pub const fn update_action(self) -> Action {
        match self {
            StateFormat::V1301 => Action::Upd1301,
            StateFormat::V1400 => Action::Upd1400,
            StateFormat::V1500 => Action::Upd1500,
        }
    }

    /// The format `ifconfig pfsync0 version N` names (1301, 1400, 1500).
    pub const fn from_version(version: u16) -> Option<StateFormat> {
        match version {
            1301 => Some(StateFormat::V1301),
            1400 => Some(StateFormat::V1400),
            1500 => Some(StateFormat::V1500),
            _ => None,
        }
    }

    /// Its version number.
    pub const fn version(self) -> u16 {
        match self {
            StateFormat::V1301 => 1301,
            StateFormat::V1400 => 1400,
            StateFormat::V1500 => 1500,
        }
    }
}

/// What pf applies to a state's packets beyond filtering (`st->act`): queues, dummynet pipes,
/// routing table, scrub settings and route-to. Carried by 1400 and 1500 only; rampart sends
/// the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateActions {
    /// ALTQ queue id (the sender's numbering).
    pub qid: u16,
    /// ALTQ priority queue id.
    pub pqid: u16,
    /// Dummynet pipe.
    pub dnpipe: u16,
    /// Dummynet pipe, reverse direction.
    pub dnrpipe: u16,
    /// Routing table (FIB); −1 = not set, which is what a receiver accepts unless it has
    /// that FIB.
    pub rtableid: i32,
    /// `min-ttl`.
    pub min_ttl: u8,
    /// `set-tos`.
    pub set_tos: u8,
    /// `max-mss`.
    pub max_mss: u16,
    /// `set prio`.
    pub set_prio: [u8; 2],
    /// Route type (FreeBSD: 0 none, 1 fastroute, 2 route-to, 3 dup-to, 4 reply-to).
    pub rt: u8,
    /// Family of `rt_addr` (1500 only).
    pub rt_af: u8,
    /// Route-to interface.
    pub rt_ifname: IfName,
}

impl Default for StateActions {
    fn default() -> Self {
        StateActions {
            qid: 0,
            pqid: 0,
            dnpipe: 0,
            dnrpipe: 0,
            rtableid: -1,
            min_ttl: 0,
            set_tos: 0,
            max_mss: 0,
            set_prio: [0; 2],
            rt: 0,
            rt_af: 0,
            rt_ifname: IfName::EMPTY,
        }
    }
}

/// A full state record, fields in host order, as the wire has them (pf's meanings; see the
/// module doc). It holds every format's fields: decoding a format leaves the others at their
/// defaults, encoding writes only the format's own ([`normalized`](Self::normalized) says
/// which survive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FullState {
    /// State id.
    pub id: u64,
    /// Interface the state is bound to; [`IfName::ALL`] when floating.
    pub ifname: IfName,
    /// `[wire, stack]` keys.
    pub key: [KeyRecord; 2],
    /// The side that sent the creating packet.
    pub src: PeerRecord,
    /// The other side.
    pub dst: PeerRecord,
    /// Route-to next hop.
    pub rt_addr: [u8; 16],
    /// Rule number ([`NO_RULE`]: none). Meaningful to a receiver only with equal rulesets.
    pub rule: u32,
    /// Anchor rule number ([`NO_RULE`]).
    pub anchor: u32,
    /// NAT rule number ([`NO_RULE`]).
    pub nat_rule: u32,
    /// Age in seconds.
    pub creation: u32,
    /// Seconds until expiry; 0 means "count from now" to a receiver.
    pub expire: u32,
    /// Packets, forward and reverse.
    pub packets: [u64; 2],
    /// Bytes, forward and reverse.
    pub bytes: [u64; 2],
    /// The creator's hostid (never 0).
    pub creatorid: u32,
    /// Family of the wire key: [`AF_INET`] or [`AF_INET6`] (1500: `wire_af`).
    pub af: u8,
    /// IP protocol of the wire key (1500: `wire_proto`).
    pub proto: u8,
    /// Family of the stack key (1500 only; the others carry one family, and decode it here too).
    pub stack_af: u8,
    /// Protocol of the stack key (as `stack_af`).
    pub stack_proto: u8,
    /// 1 in, 2 out (0 in/out is accepted by pf but never a state's).
    pub direction: u8,
    /// pf log flags.
    pub log: u8,
    /// State flags (1301 carries the low 8 bits only).
    pub state_flags: u16,
    /// Timeout class (`PFTM_*`).
    pub timeout: u8,
    /// 0x04 has a source node, 0x08 has a NAT source node (1301/1400; informational).
    pub sync_flags: u8,
    /// Unused, 0 (1301/1400).
    pub updates: u8,
    /// Queues, pipes, routing (1400/1500).
    pub act: StateActions,
    /// Tag name, NUL-padded (1500).
    pub tagname: [u8; TAG_NAME_LEN],
    /// The real interface of a floating state (1500); a receiver skips the state if it lacks
    /// it, unless `ifname` is `all`.
    pub orig_ifname: IfName,
}

impl Default for FullState {
    fn default() -> Self {
        FullState {
            id: 0,
            ifname: IfName::ALL,
            key: [KeyRecord::default(); 2],
            src: PeerRecord::default(),
            dst: PeerRecord::default(),
            rt_addr: [0; 16],
            rule: NO_RULE,
            anchor: NO_RULE,
            nat_rule: NO_RULE,
            creation: 0,
            expire: 0,
            packets: [0; 2],
            bytes: [0; 2],
            creatorid: 0,
            af: AF_INET,
            proto: 0,
            stack_af: AF_INET,
            stack_proto: 0,
            direction: 0,
            log: 0,
            state_flags: 0,
            timeout: 0,
            sync_flags: 0,
            updates: 0,
            act: StateActions::default(),
            tagname: [0; TAG_NAME_LEN],
            orig_ifname: IfName::EMPTY,
        }
    }
}

impl FullState {
    /// Reads a record of `format` from the start of `b` and checks it (module doc).
    ///
    /// # Errors
    ///
    /// The [`DropReason`] of the first check that fails.
    pub fn parse(b: &[u8], format: StateFormat) -> Result<FullState, DropReason> {
        let mut s = FullState::read_common(b);
        match format {
            StateFormat::V1301 => v1301::read(b, &mut s),
            StateFormat::V1400 => v1400::read(b, &mut s),
            StateFormat::V1500 => v1500::read(b, &mut s),
        }
        s.check()?;
        Ok(s)
    }

    /// Writes it in `format` into the first `format.record_len()` bytes of `out` (pads and
    /// spares zeroed; nothing past a short `out`). 1301 and 1400 carry one family and
    /// protocol, the wire key's: an af-to state only travels in 1500.
    pub fn emit(&self, format: StateFormat, out: &mut [u8]) {
        self.write_common(out);
        match format {
            StateFormat::V1301 => v1301::write(self, out),
            StateFormat::V1400 => v1400::write(self, out),
            StateFormat::V1500 => v1500::write(self, out),
        }
    }

    /// pf's checks (module doc), in pf's order.
    ///
    /// # Errors
    ///
    /// The [`DropReason`] of the first check that fails.
    pub fn check(&self) -> Result<(), DropReason> {
        if self.timeout >= PFTM_MAX {
            return Err(DropReason::BadTimeout);
        }
        if !self.src.state_ok() || !self.dst.state_ok() {
            return Err(DropReason::BadPeerState);
        }
        if self.direction > 2 {
            return Err(DropReason::BadDirection);
        }
        let af_ok = |af| af == AF_INET || af == AF_INET6;
        if !af_ok(self.af) || !af_ok(self.stack_af) {
            return Err(DropReason::BadAf);
        }
        if !self.ifname.is_terminated() {
            return Err(DropReason::BadIfname);
        }
        if self.creatorid == 0 {
            return Err(DropReason::BadCreatorid);
        }
        let [wire, stack] = &self.key;
        if !wire.sane_for(self.af)
            || !stack.sane_for(self.stack_af)
            || (self.af == self.stack_af && self.proto != self.stack_proto)
        {
            return Err(DropReason::BadKey);
        }
        Ok(())
    }

    /// This state as it comes back from a trip through `format`: what the format does not
    /// carry set to its default (1301: the high 8 state flags, the stack key's own family and
    /// protocol, [`StateActions`], tag and original interface; 1400: the stack family and
    /// protocol, `rt_af`, tag and original interface; 1500: `sync_flags` and `updates`).
    pub fn normalized(&self, format: StateFormat) -> FullState {
        let mut s = *self;
        let defaults = FullState::default();
        if matches!(format, StateFormat::V1301 | StateFormat::V1400) {
            s.stack_af = s.af;
            s.stack_proto = s.proto;
            s.tagname = defaults.tagname;
            s.orig_ifname = defaults.orig_ifname;
            s.act.rt_af = 0;
        }
        match format {
            StateFormat::V1301 => {
                s.state_flags &= 0x00ff;
                s.act = defaults.act;
            }
            StateFormat::V1400 => {}
            StateFormat::V1500 => {
                s.sync_flags = 0;
                s.updates = 0;
            }
        }
        s
    }

    fn read_common(b: &[u8]) -> FullState {
        let sub = |f: Field| b.get(f).unwrap_or(&[]);
        FullState {
            id: u64_at(b, field::ID),
            ifname: IfName(array(b, field::IFNAME)),
            key: [
                KeyRecord::parse(sub(field::KEY0)),
                KeyRecord::parse(sub(field::KEY1)),
            ],
            src: PeerRecord::parse(sub(field::SRC)),
            dst: PeerRecord::parse(sub(field::DST)),
            rt_addr: array(b, field::RT_ADDR),
            rule: u32_at(b, field::RULE),
            anchor: u32_at(b, field::ANCHOR),
            nat_rule: u32_at(b, field::NAT_RULE),
            creation: u32_at(b, field::CREATION),
            expire: u32_at(b, field::EXPIRE),
            packets: [u64_at(b, field::PACKETS0), u64_at(b, field::PACKETS1)],
            bytes: [u64_at(b, field::BYTES0), u64_at(b, field::BYTES1)],
            creatorid: u32_at(b, field::CREATORID),
            ..FullState::default()
        }
    }

    fn write_common(&self, out: &mut [u8]) {
        put_u64(out, field::ID, self.id);
        put(out, field::IFNAME, &self.ifname.0);
        for (f, k) in [field::KEY0, field::KEY1].into_iter().zip(&self.key) {
            if let Some(b) = out.get_mut(f) {
                k.emit(b);
            }
        }
        for (f, p) in [field::SRC, field::DST]
            .into_iter()
            .zip([&self.src, &self.dst])
        {
            if let Some(b) = out.get_mut(f) {
                p.emit(b);
            }
        }
        put(out, field::RT_ADDR, &self.rt_addr);
        put_u32(out, field::RULE, self.rule);
        put_u32(out, field::ANCHOR, self.anchor);
        put_u32(out, field::NAT_RULE, self.nat_rule);
        put_u32(out, field::CREATION, self.creation);
        put_u32(out, field::EXPIRE, self.expire);
        put_u64(out, field::PACKETS0, self.packets[0]);
        put_u64(out, field::PACKETS1, self.packets[1]);
        put_u64(out, field::BYTES0, self.bytes[0]);
        put_u64(out, field::BYTES1, self.bytes[1]);
        put_u32(out, field::CREATORID, self.creatorid);
    }
}

// The common part's layout as the module doc gives it.
const _: () =
    assert!(field::CREATORID.end == COMMON_LEN && field::KEY1.end - field::KEY1.start == KEY_LEN);

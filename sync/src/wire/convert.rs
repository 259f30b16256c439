//! Between the wire's records and the dataplane's values: [`FullState`] ⇄ [`StateSnapshot`],
//! [`UpdC`] ⇄ [`CompressedUpdate`], [`PeerRecord`] ⇄ [`Peer`].
//!
//! # Time
//!
//! pf sends times relative to the moment of sending: `creation` is the state's age in
//! seconds and `expire` the seconds it has left (0: "count from now"). The receiver rebuilds
//! them on its own clock as pf does (§4): creation = now − age; last activity = now −
//! (timeout − seconds left), or now when `expire` is 0; so the state expires when the
//! sender's would, even where its timeout for the class is shorter than the seconds left
//! (last activity then lies ahead of now, as in pf). Going out, the age is rounded down and
//! the seconds left up, so a state with a fraction of a second left is not sent as 0.
//! `now` is always the caller's: nothing here reads a clock.
//!
//! # What does not cross
//!
//! The dataplane keeps no scrub block, route-to, queues, pipes, routing table or tag: they
//! are dropped coming in (a route-to state then follows this node's routes) and sent as pf's
//! "none" going out (rule actions default, `rtableid` −1). Anchor and NAT rule numbers go
//! out as none. Counters travel both ways, though pf ignores them on import. Coming in,
//! what the dataplane cannot hold is an [`ImportError`]: a timeout class it does not track
//! (14–24), direction 0, keys of two families (1500's af-to), an interface this node lacks.

use rampart_dataplane::state::{
    Addr, Af, Peer, PfDirection, StateKey, StateSnapshot, Timeout, Timeouts,
};
use rampart_dataplane::sync_link::CompressedUpdate;
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::IpProtocol;
use thiserror::Error;

use super::ifname::IfName;
use super::key::{AF_INET, AF_INET6, KeyRecord};
use super::peer::{PeerRecord, Scrub};
use super::reason::DropReason;
use super::state::{FullState, NO_RULE, StateActions};
use super::upd_c::UpdC;

const MICROS: u64 = 1_000_000;

/// The names of this node's interfaces, as pf on the peer knows them (`igb0`, `vtnet1`).
pub trait Interfaces {
    /// The name of dataplane port `port`.
    fn name(&self, port: u16) -> Option<IfName>;
    /// The port named `name`.
    fn port(&self, name: &IfName) -> Option<u16>;
}

/// A small port ⇄ name table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceMap {
    names: Vec<(u16, IfName)>,
}

impl InterfaceMap {
    /// An empty map: every state must be floating.
    pub fn new() -> InterfaceMap {
        InterfaceMap::default()
    }

    /// Names port `port` (replacing an earlier name of it).
    pub fn insert(&mut self, port: u16, name: IfName) {
        self.names.retain(|(p, _)| *p != port);
        self.names.push((port, name));
    }
}

impl Interfaces for InterfaceMap {
    fn name(&self, port: u16) -> Option<IfName> {
        self.names.iter().find(|(p, _)| *p == port).map(|(_, n)| *n)
    }

    fn port(&self, name: &IfName) -> Option<u16> {
        self.names
            .iter()
            .find(|(_, n)| n.same_name(name))
            .map(|(p, _)| *p)
    }
}

/// A received record the dataplane cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ImportError {
    /// Bound to an interface this node does not have (pf skips such states silently).
    #[error("state bound to interface {0}, which this node does not have")]
    UnknownInterface(IfName),
    /// A timeout class the dataplane does not track (14–24: settings and SCTP).
    #[error("timeout class {0} is not one the dataplane tracks")]
    UnsupportedTimeout(u8),
    /// A direction other than in (1) or out (2).
    #[error("state direction {0} is neither in nor out")]
    UnsupportedDirection(u8),
    /// A family other than 2 and 28 (never after [`FullState::parse`]).
    #[error("address family {0} is neither IPv4 (2) nor IPv6 (28)")]
    BadAf(u8),
    /// Wire and stack keys of different families or protocols (af-to, 1500 format).
    #[error("wire and stack keys differ in family or protocol (af-to)")]
    MixedFamilies,
}

impl ImportError {
    /// The counter it is reported under.
    pub const fn reason(&self) -> DropReason {
        match self {
            ImportError::UnknownInterface(_) => DropReason::UnknownInterface,
            ImportError::UnsupportedTimeout(_) => DropReason::UnsupportedTimeout,
            ImportError::UnsupportedDirection(_) => DropReason::UnsupportedDirection,
            ImportError::BadAf(_) => DropReason::BadAf,
            ImportError::MixedFamilies => DropReason::MixedFamilies,
        }
    }
}

/// A local state that cannot be described to the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExportError {
    /// Bound to a port without an interface name.
    #[error("port {0} has no interface name to send")]
    UnnamedInterface(u16),
}

impl From<Peer> for PeerRecord {
    fn from(p: Peer) -> PeerRecord {
        PeerRecord {
            scrub: Scrub::default(),
            seqlo: p.seqlo,
            seqhi: p.seqhi,
            seqdiff: p.seqdiff,
            max_win: p.max_win,
            mss: p.mss,
            state: p.state,
            wscale: p.wscale,
        }
    }
}

impl From<PeerRecord> for Peer {
    fn from(p: PeerRecord) -> Peer {
        Peer {
            seqlo: p.seqlo,
            seqhi: p.seqhi,
            seqdiff: p.seqdiff,
            max_win: p.max_win,
            mss: p.mss,
            state: p.state,
            wscale: p.wscale,
        }
    }
}

const fn af_code(af: Af) -> u8 {
    match af {
        Af::Inet => AF_INET,
        Af::Inet6 => AF_INET6,
    }
}

fn af_of(code: u8) -> Result<Af, ImportError> {
    match code {
        AF_INET => Ok(Af::Inet),
        AF_INET6 => Ok(Af::Inet6),
        other => Err(ImportError::BadAf(other)),
    }
}

fn timeout_of(index: u8) -> Result<Timeout, ImportError> {
    Timeout::from_index(index).ok_or(ImportError::UnsupportedTimeout(index))
}

fn key_record(k: &StateKey) -> KeyRecord {
    KeyRecord {
        addr: [k.addr[0].0, k.addr[1].0],
        port: k.port,
    }
}

fn state_key(k: &KeyRecord, af: Af, proto: u8) -> StateKey {
    let addr = |mut a: [u8; 16]| {
        // The dataplane relies on pf's layout: nothing after an IPv4 address.
        if af == Af::Inet {
            a.iter_mut().skip(4).for_each(|b| *b = 0);
        }
        Addr(a)
    };
    StateKey {
        addr: [addr(k.addr[0]), addr(k.addr[1])],
        port: k.port,
        af,
        proto: IpProtocol(proto),
    }
}

fn secs_down(micros: u64) -> u32 {
    u32::try_from(micros / MICROS).unwrap_or(u32::MAX)
}

fn secs_up(micros: u64) -> u32 {
    u32::try_from(micros.div_ceil(MICROS)).unwrap_or(u32::MAX)
}

impl FullState {
    /// The record of a dataplane state at time `now`, port names from `interfaces`
    /// (floating states go out as `all`).
    ///
    /// # Errors
    ///
    /// [`ExportError::UnnamedInterface`] if its port has no name.
    pub fn from_snapshot(
        snap: &StateSnapshot,
        now: Instant,
        interfaces: &impl Interfaces,
    ) -> Result<FullState, ExportError> {
        let ifname = match snap.interface {
            None => IfName::ALL,
            Some(port) => interfaces
                .name(port)
                .ok_or(ExportError::UnnamedInterface(port))?,
        };
        Ok(FullState {
            id: snap.id,
            ifname,
            key: [key_record(&snap.wire), key_record(&snap.stack)],
            src: snap.src.into(),
            dst: snap.dst.into(),
            rt_addr: [0; 16],
            rule: snap.rule,
            anchor: NO_RULE,
            nat_rule: NO_RULE,
            creation: secs_down(now.micros().saturating_sub(snap.creation.micros())),
            expire: secs_up(snap.expires_at.micros().saturating_sub(now.micros())),
            packets: snap.packets,
            bytes: snap.bytes,
            creatorid: snap.creatorid,
            af: af_code(snap.wire.af),
            proto: snap.wire.proto.0,
            stack_af: af_code(snap.stack.af),
            stack_proto: snap.stack.proto.0,
            direction: snap.direction as u8,
            log: snap.log,
            state_flags: snap.state_flags,
            timeout: snap.timeout.index(),
            sync_flags: 0,
            updates: 0,
            act: StateActions::default(),
            tagname: [0; 64],
            // A floating state's real interface is not kept; `all` always exists on the peer.
            orig_ifname: ifname,
        })
    }

    /// The dataplane state this record describes at time `now`, with this node's timeouts
    /// (which turn "seconds left" into a last-activity time) and port names.
    ///
    /// # Errors
    ///
    /// An [`ImportError`] for what the dataplane cannot hold (module doc).
    pub fn to_snapshot(
        &self,
        now: Instant,
        timeouts: &Timeouts,
        interfaces: &impl Interfaces,
    ) -> Result<StateSnapshot, ImportError> {
        let af = af_of(self.af)?;
        let stack_af = af_of(self.stack_af)?;
        if af != stack_af || self.proto != self.stack_proto {
            return Err(ImportError::MixedFamilies);
        }
        let timeout = timeout_of(self.timeout)?;
        let direction = match self.direction {
            1 => PfDirection::In,
            2 => PfDirection::Out,
            other => return Err(ImportError::UnsupportedDirection(other)),
        };
        let interface = if self.ifname.same_name(&IfName::ALL) {
            None
        } else {
            Some(
                interfaces
                    .port(&self.ifname)
                    .ok_or(ImportError::UnknownInterface(self.ifname))?,
            )
        };
        let class_len = u64::from(timeouts.secs(timeout)) * MICROS;
        let expires_at = match self.expire {
            0 => now.micros().saturating_add(class_len),
            left => now.micros().saturating_add(u64::from(left) * MICROS),
        };
        Ok(StateSnapshot {
            id: self.id,
            creatorid: self.creatorid,
            wire: state_key(&self.key[0], af, self.proto),
            stack: state_key(&self.key[1], af, self.proto),
            src: self.src.into(),
            dst: self.dst.into(),
            rule: self.rule,
            creation: Instant(
                now.micros()
                    .saturating_sub(u64::from(self.creation) * MICROS),
            ),
            last_activity: Instant(expires_at.saturating_sub(class_len)),
            expires_at: Instant(expires_at),
            timeout,
            direction,
            interface,
            packets: self.packets,
            bytes: self.bytes,
            log: self.log,
            state_flags: self.state_flags,
        })
    }
}

impl UpdC {
    /// The UPD_C of a dataplane compressed update (`expire` 0, as pf sends it).
    pub fn from_compressed(c: &CompressedUpdate) -> UpdC {
        UpdC {
            id: c.id,
            src: c.src.into(),
            dst: c.dst.into(),
            creatorid: c.creatorid,
            expire: 0,
            timeout: c.timeout.index(),
        }
    }

    /// The dataplane's compressed update.
    ///
    /// # Errors
    ///
    /// [`ImportError::UnsupportedTimeout`] for a class the dataplane does not track.
    pub fn to_compressed(&self) -> Result<CompressedUpdate, ImportError> {
        Ok(CompressedUpdate {
            creatorid: self.creatorid,
            id: self.id,
            src: self.src.into(),
            dst: self.dst.into(),
            timeout: timeout_of(self.timeout)?,
        })
    }
}

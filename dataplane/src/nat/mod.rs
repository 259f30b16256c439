//! NAT as pf does it for pfSense: outbound NAT (`nat on $if ...`) on the outbound pass of the
//! egress port, port forwards (`rdr on $if ...`) on the inbound pass of the receiving port.
//! Both apply only to packets without a state: a state remembers its translation (its wire and
//! stack keys differ) and every later packet is rewritten from it ([`rewrite_flow`]).
//!
//! Control resolves the config (`<nat>`) into [`NatSpec`]; [`Nat::compile`] keeps the rules in
//! order and is swapped with the ruleset on a reload. Rules are consulted first-match, one by
//! one: they are few (pfSense generates one outbound rule per local subnet and WAN) and only
//! state misses reach them.
//!
//! # Ports and workers
//!
//! Translated source ports come from the NAT port range (pf's default 1024–65535 unless a
//! rule names its own), split into one contiguous slice per worker: a worker only hands out
//! ports from its own slice, so a reply to a translated port is steered to the worker that
//! holds the state ([`nat_port_owner`], used by [`crate::steer`]). ICMP echo ids are
//! translated the same way. A rule with a static port keeps the source port; its replies are
//! steered by the flow hash, which the forward direction used too.

mod rewrite;

use std::net::Ipv4Addr;

pub use rewrite::{RewriteError, rewrite_flow, rewrite_icmp_error};

use crate::route::Ipv4Net;
use crate::rules::{PortRange, ProtoSpec};
use crate::state::PacketKey;

/// pf's default range for translated source ports.
pub const DEFAULT_PORT_RANGE: PortRange = PortRange {
    first: 1024,
    last: 65535,
};

/// A set of IPv4 addresses: any, or a list of networks, possibly negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatAddrs {
    /// Every address.
    Any,
    /// Addresses in (or, negated, outside) these networks.
    Nets {
        /// The networks.
        nets: Vec<Ipv4Net>,
        /// Match the complement.
        negate: bool,
    },
}

impl NatAddrs {
    fn contains(&self, addr: Ipv4Addr) -> bool {
        match self {
            NatAddrs::Any => true,
            NatAddrs::Nets { nets, negate } => nets.iter().any(|n| n.contains(addr)) != *negate,
        }
    }
}

/// How the source port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPolicy {
    /// Keep it (`static-port`).
    Static,
    /// From this range, split among workers.
    Range(PortRange),
}

/// What an outbound rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundAction {
    /// Do not translate (`no nat`): later rules are not consulted.
    NoNat,
    /// Translate the source to `addr`, the port per `ports`.
    Translate {
        /// The address packets leave with (the interface address or a VIP).
        addr: Ipv4Addr,
        /// The source port.
        ports: PortPolicy,
    },
}

/// One outbound NAT rule, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRule {
    /// Egress port index.
    pub port: usize,
    /// Protocols it applies to.
    pub proto: ProtoSpec,
    /// Source addresses.
    pub src: NatAddrs,
    /// Source ports (TCP/UDP only; empty = any).
    pub src_ports: Vec<PortRange>,
    /// Destination addresses.
    pub dst: NatAddrs,
    /// Destination ports (TCP/UDP only; empty = any).
    pub dst_ports: Vec<PortRange>,
    /// What it does.
    pub action: OutboundAction,
}

/// One port forward, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// Receiving port index.
    pub port: usize,
    /// Protocols (TCP, UDP or both in practice).
    pub proto: ProtoSpec,
    /// Source addresses.
    pub src: NatAddrs,
    /// Source ports (empty = any).
    pub src_ports: Vec<PortRange>,
    /// Destination addresses caught (usually the interface address).
    pub dst: NatAddrs,
    /// Destination ports caught (empty = any).
    pub dst_ports: Vec<PortRange>,
    /// Internal address; `None` for `no rdr`.
    pub target: Option<Ipv4Addr>,
    /// First internal port (`None`: keep the port); a caught range maps onto a range of the
    /// same length from here.
    pub target_port: Option<u16>,
}

/// Everything NAT needs, resolved from the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatSpec {
    /// Outbound rules, first match.
    pub outbound: Vec<OutboundRule>,
    /// Port forwards, first match.
    pub port_forwards: Vec<PortForward>,
}

/// The NAT rules in force (immutable; swapped whole on reload).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nat {
    spec: NatSpec,
    /// Addresses replies may come back to, with the port range used for each (steering).
    translated: Vec<(Ipv4Addr, PortRange)>,
}

fn proto_matches(spec: &ProtoSpec, proto: u8) -> bool {
    match spec {
        ProtoSpec::Any => true,
        ProtoSpec::Tcp => proto == 6,
        ProtoSpec::Udp => proto == 17,
        ProtoSpec::TcpUdp => proto == 6 || proto == 17,
        ProtoSpec::Icmp { .. } => proto == 1,
        ProtoSpec::Number(n) => proto == *n,
    }
}

fn ports_match(ranges: &[PortRange], proto: u8, port: u16) -> bool {
    ranges.is_empty()
        || ((proto == 6 || proto == 17)
            && ranges.iter().any(|r| (r.first..=r.last).contains(&port)))
}

/// The IPv4 address in a state key's address (NAT is IPv4 only).
fn v4(addr: crate::state::Addr) -> Ipv4Addr {
    let [a, b, c, d, ..] = addr.0;
    Ipv4Addr::new(a, b, c, d)
}

impl Nat {
    /// No NAT at all.
    pub const EMPTY: Nat = Nat {
        spec: NatSpec {
            outbound: Vec::new(),
            port_forwards: Vec::new(),
        },
        translated: Vec::new(),
    };

    /// Keeps `spec`'s rules in order.
    pub fn compile(spec: NatSpec) -> Nat {
        let mut translated: Vec<(Ipv4Addr, PortRange)> = Vec::new();
        for rule in &spec.outbound {
            if let OutboundAction::Translate {
                addr,
                ports: PortPolicy::Range(range),
            } = rule.action
                && !translated.contains(&(addr, range))
            {
                translated.push((addr, range));
            }
        }
        Nat { spec, translated }
    }

    /// The rules.
    pub fn spec(&self) -> &NatSpec {
        &self.spec
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.spec.outbound.is_empty() && self.spec.port_forwards.is_empty()
    }

    /// The first outbound rule for an IPv4 packet of flow `key` leaving by `egress`.
    pub fn outbound(&self, egress: usize, key: &PacketKey) -> Option<OutboundAction> {
        if key.af != crate::state::Af::Inet {
            return None;
        }
        let (proto, src, dst) = (key.proto.0, v4(key.src), v4(key.dst));
        self.spec
            .outbound
            .iter()
            .find(|r| {
                r.port == egress
                    && proto_matches(&r.proto, proto)
                    && r.src.contains(src)
                    && r.dst.contains(dst)
                    && ports_match(&r.src_ports, proto, key.src_port)
                    && ports_match(&r.dst_ports, proto, key.dst_port)
            })
            .map(|r| r.action)
    }

    /// The flow a packet of flow `key` arriving on `rx` is redirected to by the first port
    /// forward that catches it (`None`: no forward, or a `no rdr` one).
    pub fn port_forward(&self, rx: usize, key: &PacketKey) -> Option<PacketKey> {
        if key.af != crate::state::Af::Inet {
            return None;
        }
        let (proto, src, dst) = (key.proto.0, v4(key.src), v4(key.dst));
        let rule = self.spec.port_forwards.iter().find(|r| {
            r.port == rx
                && proto_matches(&r.proto, proto)
                && r.src.contains(src)
                && r.dst.contains(dst)
                && ports_match(&r.src_ports, proto, key.src_port)
                && ports_match(&r.dst_ports, proto, key.dst_port)
        })?;
        let target = rule.target?;
        let mut to = *key;
        to.dst = target.into();
        if let Some(first) = rule.target_port {
            let offset = rule
                .dst_ports
                .iter()
                .find(|r| (r.first..=r.last).contains(&key.dst_port))
                .map_or(0, |r| key.dst_port - r.first);
            to.dst_port = first.saturating_add(offset);
        }
        Some(to)
    }

    /// Where a port forward sends `addr:port` (for steering: source and interface are not
    /// looked at, so both directions of a forwarded flow hash alike whatever the details).
    pub fn redirect_endpoint(
        &self,
        proto: u8,
        addr: Ipv4Addr,
        port: u16,
    ) -> Option<(Ipv4Addr, u16)> {
        self.spec.port_forwards.iter().find_map(|r| {
            let caught = proto_matches(&r.proto, proto)
                && r.dst.contains(addr)
                && ports_match(&r.dst_ports, proto, port);
            if !caught {
                return None;
            }
            let target = r.target?;
            let offset = r
                .dst_ports
                .iter()
                .find(|p| (p.first..=p.last).contains(&port))
                .map_or(0, |p| port - p.first);
            Some((
                target,
                r.target_port
                    .map_or(port, |first| first.saturating_add(offset)),
            ))
        })
    }

    /// The worker that owns replies to `addr:port` (a translated source), if `addr` is one
    /// outbound NAT translates to and `port` is in its range.
    pub fn owner_of(&self, addr: Ipv4Addr, port: u16, workers: usize) -> Option<usize> {
        self.translated
            .iter()
            .find(|(a, r)| *a == addr && (r.first..=r.last).contains(&port))
            .and_then(|(_, range)| nat_port_owner(port, *range, workers))
    }
}

/// The worker whose slice of `range` holds `port` (see the module doc).
pub fn nat_port_owner(port: u16, range: PortRange, workers: usize) -> Option<usize> {
    if workers == 0 || !(range.first..=range.last).contains(&port) {
        return None;
    }
    let span = usize::from(range.last - range.first) + 1;
    let slice = span.div_ceil(workers);
    Some((usize::from(port - range.first) / slice).min(workers - 1))
}

/// One worker's slice of a port range.
pub fn worker_slice(range: PortRange, worker: usize, workers: usize) -> Option<PortRange> {
    if workers == 0 || worker >= workers {
        return None;
    }
    let span = usize::from(range.last - range.first) + 1;
    let slice = span.div_ceil(workers);
    let first = usize::from(range.first) + worker * slice;
    let last = (first + slice - 1).min(usize::from(range.last));
    if first > last {
        return None;
    }
    Some(PortRange {
        first: u16::try_from(first).ok()?,
        last: u16::try_from(last).ok()?,
    })
}

/// Picks free ports from a worker's slice: a cursor that moves on after every allocation, so
/// ports are reused as late as possible (pf picks at random, then sequentially).
#[derive(Debug, Clone, Default)]
pub struct PortPicker {
    cursor: u32,
}

/// Probes per allocation at most: a nearly full slice fails fast instead of scanning.
const MAX_PROBES: u32 = 512;

impl PortPicker {
    /// A free port of `worker`'s slice of `range` (`in_use` says which are taken), or `None`
    /// when the probes ran out.
    pub fn pick(
        &mut self,
        range: PortRange,
        worker: usize,
        workers: usize,
        mut in_use: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        let slice = worker_slice(range, worker, workers)?;
        let span = u32::from(slice.last - slice.first) + 1;
        for _ in 0..MAX_PROBES.min(span) {
            let port = u16::try_from(u32::from(slice.first) + self.cursor % span).ok()?;
            self.cursor = self.cursor.wrapping_add(1);
            if !in_use(port) {
                return Some(port);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;

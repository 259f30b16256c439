//! The forwarding decision for one packet, without DPDK: a function of the frame bytes, the
//! port it came in on, the time and this worker's tables. The worker loop feeds it mbufs; tests
//! and benchmarks feed it `Vec<u8>`s.
//!
//! What it does, in order: drop frames not addressed to the port (or broadcast/multicast);
//! answer ARP for the port's address and learn neighbours from ARP addressed to us; answer ICMP
//! echo to any of our addresses; forward IPv4 unicast by longest prefix match, decrementing TTL
//! (incremental checksum), resolving the next hop by ARP (packets wait in a bounded queue); send
//! ICMP time-exceeded, unreachable and fragmentation-needed errors, rate-limited. IPv6 is the
//! same with neighbour discovery for ARP (solicitations for the ports' global and link-local
//! addresses are answered), hop limit for TTL, packet-too-big instead of
//! fragmentation, and no forwarding of link-local or multicast traffic. Everything not passed
//! on is counted under a [`DropReason`].

mod arp;
mod burst;
mod defer;
mod filter;
mod icmp;
mod icmpv6;
mod ipv6;
mod ndp;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use crate::counters::{DropReason, WorkerCounters};
use crate::firewall::Firewall;
use crate::neighbour::{Lookup, NeighbourLimits, NeighbourSink, NeighbourTable};
use crate::route::{Ipv4Net, RouteTable};
use crate::route6::Route6Table;
use crate::state::Match;
use crate::time::Instant;
use crate::vip::VipTable;
use crate::wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, MacAddr};
use filter::Filtered;

pub use icmp::IcmpRateLimit;
pub use icmpv6::ICMPV6_QUOTE;

/// Largest frame the node generates itself: ARP, NDP, ICMP errors quoting a header with
/// options, and ICMPv6 errors quoting [`ICMPV6_QUOTE`] bytes (14 + 40 + 8 + 128 = 190).
pub const GENERATED_MAX: usize = 192;
/// Generated frames kept per burst before further ones are refused.
const GENERATED_PER_BURST: usize = 64;
const ETH_LEN: usize = crate::wire::ethernet::HEADER_LEN;

/// One port as the forwarder sees it.
#[derive(Debug, Clone)]
pub struct PortSetup {
    /// The `<if>` name, for logs.
    pub name: String,
    /// The port's MAC.
    pub mac: MacAddr,
    /// Its IPv4 address and prefix, if it has one.
    pub addr: Option<(Ipv4Addr, u8)>,
    /// Its global IPv6 address and prefix, if it has one. Every port also has the link-local
    /// address derived from its MAC.
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// IP MTU.
    pub mtu: u16,
}

#[derive(Debug, Clone)]
struct PortInfo {
    mac: MacAddr,
    addr: Option<Ipv4Addr>,
    net: Option<Ipv4Net>,
    addr6: Option<Ipv6Addr>,
    /// `fe80::/64` with the EUI-64 identifier of `mac`.
    link_local: Ipv6Addr,
    mtu: u16,
}

/// A frame the node built itself (ARP request, ICMP error), to be sent on `port`.
#[derive(Debug, Clone)]
pub struct GeneratedFrame {
    /// Egress port index.
    pub port: usize,
    len: usize,
    bytes: [u8; GENERATED_MAX],
}

impl GeneratedFrame {
    /// The frame's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// Where processed packets go: a TX batch per port, and a list to free.
#[derive(Debug)]
pub struct Output<P> {
    /// Per egress port index, packets to send.
    pub tx: Vec<Vec<P>>,
    /// Packets to free (dropped or consumed).
    pub free: Vec<P>,
    /// CARP packets for the control thread, with the port they arrived on.
    pub punt: Vec<(usize, P)>,
}

impl<P> Output<P> {
    /// Empty batches for `ports` ports, sized for `burst` packets.
    pub fn new(ports: usize, burst: usize) -> Self {
        Output {
            tx: (0..ports).map(|_| Vec::with_capacity(burst * 2)).collect(),
            free: Vec::with_capacity(burst),
            punt: Vec::new(),
        }
    }
}

/// One worker's forwarding engine.
#[derive(Debug)]
pub struct Forwarder<P> {
    ports: Vec<PortInfo>,
    routes: RouteTable,
    routes6: Route6Table,
    neighbours: NeighbourTable<P>,
    counters: WorkerCounters,
    icmp_limit: IcmpRateLimit,
    icmp6_limit: IcmpRateLimit,
    generated: Vec<GeneratedFrame>,
    /// The stateful filter; `None` routes everything (a plain router, for tests and the
    /// forwarding benchmarks).
    firewall: Option<Firewall>,
    /// CARP VIPs and which of them this node answers for.
    vips: Arc<VipTable>,
    /// Packets held for pfsync deferral.
    deferred: defer::Deferred<P>,
    /// Scratch space of [`Forwarder::process_burst`], kept to avoid allocating per burst.
    burst: burst::Scratch<P>,
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// A forwarder over `ports` (indexed as given) and `routes`, with no IPv6 routes until
    /// [`Forwarder::with_routes6`].
    pub fn new(ports: &[PortSetup], routes: RouteTable, limits: NeighbourLimits) -> Self {
        let ports: Vec<PortInfo> = ports
            .iter()
            .map(|p| PortInfo {
                mac: p.mac,
                addr: p.addr.map(|(a, _)| a),
                net: p.addr.and_then(|(a, len)| Ipv4Net::new(a, len).ok()),
                addr6: p.addr6.map(|(a, _)| a),
                link_local: crate::wire::ndp::link_local_from_mac(p.mac),
                mtu: p.mtu,
            })
            .collect();
        Forwarder {
            counters: WorkerCounters::new(ports.len()),
            ports,
            routes,
            routes6: Route6Table::default(),
            neighbours: NeighbourTable::new(limits),
            icmp_limit: IcmpRateLimit::default(),
            icmp6_limit: IcmpRateLimit::default(),
            generated: Vec::with_capacity(GENERATED_PER_BURST),
            firewall: None,
            vips: Arc::new(VipTable::default()),
            deferred: defer::Deferred::default(),
            burst: burst::Scratch::default(),
        }
    }

    /// Filters every packet through `firewall` from now on.
    pub fn set_firewall(&mut self, firewall: Firewall) {
        self.counters
            .firewall
            .rules
            .resize(firewall.ruleset().rule_count(), Default::default());
        self.firewall = Some(firewall);
    }

    /// The firewall, if there is one.
    pub fn firewall(&self) -> Option<&Firewall> {
        self.firewall.as_ref()
    }

    /// The firewall, mutably.
    pub fn firewall_mut(&mut self) -> Option<&mut Firewall> {
        self.firewall.as_mut()
    }

    /// The firewall and its counters together (the operator's requests need both).
    pub fn firewall_and_counters(
        &mut self,
    ) -> Option<(&mut Firewall, &mut crate::counters::FirewallCounters)> {
        self.firewall
            .as_mut()
            .map(|fw| (fw, &mut self.counters.firewall))
    }

    /// Swaps the firewall's ruleset (states are kept); nothing without a firewall.
    pub fn set_ruleset(&mut self, now: Instant, ruleset: std::sync::Arc<crate::rules::Ruleset>) {
        if let Some(fw) = self.firewall.as_mut() {
            fw.set_ruleset(now, ruleset, &mut self.counters.firewall);
        }
    }

    /// Swaps the firewall's filter and NAT rules (states are kept).
    pub fn set_policy(&mut self, now: Instant, policy: &crate::firewall::Policy) {
        if let Some(fw) = self.firewall.as_mut() {
            fw.set_ruleset(now, policy.ruleset.clone(), &mut self.counters.firewall);
            fw.set_nat(policy.nat.clone());
        }
    }

    /// Between bursts: state expiry and events (see [`Firewall::maintain`]).
    pub fn maintain(&mut self, now: Instant) {
        if let Some(fw) = self.firewall.as_mut() {
            fw.maintain(now, &mut self.counters.firewall);
        }
    }

    /// Use `routes6` (connected prefixes and static routes) for IPv6.
    #[must_use]
    pub fn with_routes6(mut self, routes6: Route6Table) -> Self {
        self.routes6 = routes6;
        self
    }

    /// Counters so far.
    pub fn counters(&self) -> &WorkerCounters {
        &self.counters
    }

    /// Counters, for the worker to add what only it sees (TX results, polls).
    pub fn counters_mut(&mut self) -> &mut WorkerCounters {
        &mut self.counters
    }

    /// Frames generated since the last [`Forwarder::clear_generated`].
    pub fn generated(&self) -> &[GeneratedFrame] {
        &self.generated
    }

    /// Forget the generated frames (after sending them).
    pub fn clear_generated(&mut self) {
        self.generated.clear();
    }

    /// Neighbour entries (resolved, pending or failed).
    pub fn neighbours(&self) -> usize {
        self.neighbours.len()
    }

    /// Packets waiting for neighbour resolution.
    pub fn neighbours_held(&self) -> usize {
        self.neighbours.held()
    }

    /// Timers: ARP and NDP retransmission and expiry. Call a few times a second.
    pub fn tick(&mut self, now: Instant, out: &mut Output<P>) {
        let mut sink = Sink {
            ports: &self.ports,
            out,
            counters: &mut self.counters,
            generated: &mut self.generated,
        };
        self.neighbours.tick(now, &mut sink);
    }

    /// Decide what happens to `pkt`, received on port index `rx_port`.
    pub fn process(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        self.count_rx(rx_port, &pkt);
        self.dispatch(now, rx_port, pkt, out);
    }

    fn count_rx(&mut self, rx_port: usize, pkt: &P) {
        if let Some(c) = self.counters.ports.get_mut(rx_port) {
            c.rx_packets += 1;
            c.rx_bytes += pkt.as_ref().len() as u64;
        }
    }

    /// [`process`](Self::process) after the RX counters.
    fn dispatch(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        let Some(port) = self.ports.get(rx_port) else {
            return self.discard(pkt, DropReason::NotOurMac, out);
        };
        let Ok(eth) = EthernetFrame::new_checked(pkt.as_ref()) else {
            return self.discard(pkt, DropReason::EthernetMalformed, out);
        };
        let dst_mac = eth.dst_addr();
        let to_us = dst_mac == port.mac || self.vips.accepts(rx_port, dst_mac);
        if !to_us && !dst_mac.is_broadcast() && !dst_mac.is_multicast() {
            return self.discard(pkt, DropReason::NotOurMac, out);
        }
        if is_carp(pkt.as_ref()) {
            self.counters.carp_punted += 1;
            out.punt.push((rx_port, pkt));
            return;
        }
        match eth.ethertype() {
            EtherType::IPV4 if to_us => self.ipv4(now, rx_port, pkt, out),
            EtherType::IPV4 => self.discard(pkt, DropReason::NotRoutable, out),
            EtherType::ARP => self.arp(now, rx_port, pkt, out),
            EtherType::IPV6 => self.ipv6(now, rx_port, pkt, out, to_us),
            EtherType::VLAN | EtherType::QINQ => {
                self.discard(pkt, DropReason::VlanUnsupported, out)
            }
            _ => self.discard(pkt, DropReason::UnknownEthertype, out),
        }
    }

    fn discard(&mut self, pkt: P, reason: DropReason, out: &mut Output<P>) {
        self.counters.drop(reason);
        out.free.push(pkt);
    }

    fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.ports.iter().any(|p| p.addr == Some(addr)) || self.vips.is_local(addr)
    }

    /// Replace the VIP table (a CARP transition); takes effect with the next packet.
    pub fn set_vips(&mut self, vips: Arc<VipTable>) {
        self.vips = vips;
    }

    /// Whether frames to `mac` on `port` are this node's: its MAC, or the virtual MAC of a
    /// vhid it is MASTER of.
    fn accepts_mac(&self, port: usize, mac: MacAddr) -> bool {
        self.ports.get(port).is_some_and(|p| p.mac == mac) || self.vips.accepts(port, mac)
    }

    fn is_broadcast_on(&self, port: usize, addr: Ipv4Addr) -> bool {
        addr.is_broadcast()
            || self
                .ports
                .get(port)
                .and_then(|p| p.net)
                .and_then(|n| n.broadcast())
                == Some(addr)
    }

    fn ipv4(&mut self, now: Instant, rx_port: usize, mut pkt: P, out: &mut Output<P>) {
        let meta = match self.ipv4_checks(rx_port, &pkt) {
            Ok(meta) => meta,
            Err(reason) => return self.discard(pkt, reason, out),
        };
        let filtered = match self.filter_in(now, rx_port, &mut pkt, None) {
            Ok(f) => f,
            Err(reason) => return self.discard(pkt, reason, out),
        };
        if let Some((pkt, routed)) = self.ipv4_route(now, rx_port, pkt, meta, filtered, out) {
            self.ipv4_out(now, rx_port, pkt, routed, None, out);
        }
    }

    /// The checks before any filtering: a well-formed IPv4 packet (header checksum included)
    /// from a unicast source to a destination that can be routed at all.
    fn ipv4_checks(&self, rx_port: usize, pkt: &P) -> Result<Ipv4Meta, DropReason> {
        let ip = pkt
            .as_ref()
            .get(ETH_LEN..)
            .and_then(|b| Ipv4Packet::new_checked(b).ok())
            .ok_or(DropReason::Ipv4Malformed)?;
        if !ip.verify_checksum() {
            return Err(DropReason::Ipv4BadChecksum);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if src.is_multicast() || src.is_broadcast() {
            return Err(DropReason::NotRoutable);
        }
        if dst.is_multicast() || self.is_broadcast_on(rx_port, dst) || dst.is_unspecified() {
            return Err(DropReason::NotRoutable);
        }
        Ok(Ipv4Meta {
            dst,
            ttl: ip.ttl(),
            total_len: ip.total_len(),
            dont_frag: ip.dont_frag(),
            is_icmp: ip.next_header() == IpProtocol::ICMP,
        })
    }

    /// After the inbound pass: local delivery, TTL, route and MTU. Returns the packet and its
    /// way out, or `None` when it was consumed (answered, dropped).
    fn ipv4_route(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkt: P,
        meta: Ipv4Meta,
        filtered: Option<Filtered>,
        out: &mut Output<P>,
    ) -> Option<(P, Routed)> {
        // A port forward may have changed the destination.
        let dst = match filtered.as_ref().map(|f| f.packet.dst) {
            Some(std::net::IpAddr::V4(d)) => d,
            _ => meta.dst,
        };
        if self.is_local(dst) {
            if meta.is_icmp {
                self.echo(rx_port, pkt, out);
            } else {
                self.discard(pkt, DropReason::LocalUnhandled, out);
            }
            return None;
        }
        if meta.ttl <= 1 {
            self.icmp_error(now, rx_port, &pkt, icmp::Error::TimeExceeded);
            self.discard(pkt, DropReason::TtlExceeded, out);
            return None;
        }
        let Some(hop) = self.routes.lookup(dst) else {
            self.icmp_error(now, rx_port, &pkt, icmp::Error::NetUnreachable);
            self.discard(pkt, DropReason::NoRoute, out);
            return None;
        };
        let Some(egress) = self.ports.get(hop.port) else {
            self.discard(pkt, DropReason::NoRoute, out);
            return None;
        };
        if meta.total_len > egress.mtu {
            if meta.dont_frag {
                let mtu = egress.mtu;
                self.icmp_error(now, rx_port, &pkt, icmp::Error::FragmentationNeeded { mtu });
                self.discard(pkt, DropReason::MtuExceeded, out);
            } else {
                self.discard(pkt, DropReason::FragmentationUnsupported, out);
            }
            return None;
        }
        Some((
            pkt,
            Routed {
                port: hop.port,
                mac: egress.mac,
                next_hop: hop.gateway.unwrap_or(dst),
                filtered,
            },
        ))
    }

    /// The outbound pass (with `hint`, the state lookup done for a burst), then the rewrite
    /// and the neighbour: out on the egress port, or held until the next hop resolves.
    fn ipv4_out(
        &mut self,
        now: Instant,
        rx_port: usize,
        mut pkt: P,
        routed: Routed,
        hint: Option<Option<Match>>,
        out: &mut Output<P>,
    ) {
        let mut created = None;
        if let Some(fp) = &routed.filtered {
            match self.filter_out(now, rx_port, routed.port, fp, &mut pkt, hint) {
                Ok(c) => created = c,
                Err(reason) => return self.discard(pkt, reason, out),
            }
        }
        // Rewrite what does not depend on the neighbour now, so a held packet only needs its
        // destination MAC when it is released.
        let frame = pkt.as_mut();
        if let Some(ip_bytes) = frame.get_mut(ETH_LEN..) {
            Ipv4Packet::new_unchecked(ip_bytes).decrement_ttl();
        }
        EthernetFrame::new_unchecked(&mut *frame).set_src_addr(routed.mac);
        let defers = self.firewall.as_ref().is_some_and(Firewall::defers);
        match created.filter(|_| defers) {
            Some(state) => self.defer(now, state, routed.port, routed.next_hop.into(), pkt, out),
            None => self.send_to_neighbour(now, routed.port, routed.next_hop.into(), pkt, out),
        }
    }

    /// Sends a forwarded packet (source MAC already set) to `next_hop` on `port`, or holds it
    /// while the neighbour is resolved (ARP or neighbour discovery).
    fn send_to_neighbour(
        &mut self,
        now: Instant,
        port: usize,
        next_hop: std::net::IpAddr,
        pkt: P,
        out: &mut Output<P>,
    ) {
        if self.out_via_neighbour(now, port, next_hop, pkt, out) {
            self.counters.forwarded += 1;
        }
    }

    /// Sends a frame the control thread built (a unicast CARP advert) to `next_hop` on
    /// `port`, resolving its MAC like a forwarded packet's.
    pub fn send_from_control(
        &mut self,
        now: Instant,
        port: usize,
        next_hop: Ipv4Addr,
        pkt: P,
        out: &mut Output<P>,
    ) {
        self.out_via_neighbour(now, port, next_hop.into(), pkt, out);
    }

    /// Out to `next_hop`'s MAC, or held until it resolves; `true` if sent now.
    fn out_via_neighbour(
        &mut self,
        now: Instant,
        port: usize,
        next_hop: std::net::IpAddr,
        mut pkt: P,
        out: &mut Output<P>,
    ) -> bool {
        match self.neighbours.lookup(port, next_hop) {
            Lookup::Known(mac) => {
                EthernetFrame::new_unchecked(pkt.as_mut()).set_dst_addr(mac);
                if let Some(tx) = out.tx.get_mut(port) {
                    tx.push(pkt);
                }
                true
            }
            Lookup::Failed => {
                self.discard(pkt, DropReason::NeighbourUnresolved, out);
                false
            }
            Lookup::Unknown => {
                let mut sink = Sink {
                    ports: &self.ports,
                    out,
                    counters: &mut self.counters,
                    generated: &mut self.generated,
                };
                self.neighbours.hold(now, port, next_hop, pkt, &mut sink);
                false
            }
        }
    }
}

/// What the checks before filtering learnt about an IPv4 packet.
#[derive(Debug, Clone, Copy)]
struct Ipv4Meta {
    dst: Ipv4Addr,
    ttl: u8,
    total_len: u16,
    dont_frag: bool,
    is_icmp: bool,
}

/// A packet's way out, decided after its inbound pass.
#[derive(Debug, Clone, Copy)]
struct Routed {
    port: usize,
    mac: MacAddr,
    next_hop: Ipv4Addr,
    /// The packet as the inbound pass left it; `None` without a firewall.
    filtered: Option<Filtered>,
}

/// The neighbour table's view of the forwarder: where requests, releases and discards go.
struct Sink<'a, P> {
    ports: &'a [PortInfo],
    out: &'a mut Output<P>,
    counters: &'a mut WorkerCounters,
    generated: &'a mut Vec<GeneratedFrame>,
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> NeighbourSink<P> for Sink<'_, P> {
    fn request(&mut self, port: usize, ip: IpAddr) {
        let Some(info) = self.ports.get(port) else {
            return;
        };
        let ip = match ip {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => return self.solicit(port, ip),
        };
        let Some(our_ip) = info.addr else {
            return;
        };
        match push_generated(self.generated, port, |buf| {
            arp::emit_request(buf, info.mac, our_ip, ip)
        }) {
            true => self.counters.arp_requests_sent += 1,
            false => self.counters.generate_failed += 1,
        }
    }

    fn release(&mut self, port: usize, mac: MacAddr, mut pkt: P) {
        EthernetFrame::new_unchecked(pkt.as_mut()).set_dst_addr(mac);
        self.counters.forwarded += 1;
        if let Some(tx) = self.out.tx.get_mut(port) {
            tx.push(pkt);
        }
    }

    fn discard(&mut self, pkt: P, reason: DropReason) {
        self.counters.drop(reason);
        self.out.free.push(pkt);
    }
}

/// Build a frame with `emit` (which returns its length, 0 for failure) into the generated list.
fn push_generated(
    generated: &mut Vec<GeneratedFrame>,
    port: usize,
    emit: impl FnOnce(&mut [u8]) -> usize,
) -> bool {
    if generated.len() >= GENERATED_PER_BURST {
        return false;
    }
    let mut frame = GeneratedFrame {
        port,
        len: 0,
        bytes: [0; GENERATED_MAX],
    };
    frame.len = emit(&mut frame.bytes);
    if frame.len == 0 {
        return false;
    }
    generated.push(frame);
    true
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests6;

/// Whether `frame` is a CARP packet (IPv4 protocol 112): the control thread's, whoever it is
/// addressed to (the group, or this node with unicast CARP).
fn is_carp(frame: &[u8]) -> bool {
    EthernetFrame::new_checked(frame).is_ok_and(|eth| {
        eth.ethertype() == EtherType::IPV4
            && Ipv4Packet::new_checked(eth.payload())
                .is_ok_and(|ip| ip.next_header() == IpProtocol::CARP)
    })
}

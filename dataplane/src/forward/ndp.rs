//! Neighbour discovery (RFC 4861): answer solicitations for our addresses, learn neighbours
//! from solicitations and advertisements, build the solicitations that resolve next hops.
//!
//! Simplifications, all on the safe side: solicitations to resolve or re-probe a neighbour go
//! to its solicited-node group (never unicast), entries have the ARP table's two states rather
//! than RFC 4861's five, and router discovery and redirects are not used.

use std::net::Ipv6Addr;

use super::{ETH_LEN, Forwarder, Output, PortInfo, Sink, push_generated};
use crate::counters::DropReason;
use crate::neighbour::Lookup;
use crate::time::Instant;
use crate::wire::ndp::{is_link_local, multicast_mac, solicited_node};
use crate::wire::{
    EtherType, EthernetFrame, EthernetRepr, Icmpv6Packet, IpProtocol, Ipv6Packet, Ipv6Repr,
    MacAddr, NaFlags, NdpRepr, WireError, ipv6,
};

/// All-nodes multicast: where an answer to a solicitation from `::` goes.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// NDP messages are only accepted with this hop limit: proof that they were not routed.
const NDP_HOP_LIMIT: u8 = 255;
/// Minimum Ethernet frame without FCS.
const MIN_FRAME_LEN: usize = 60;

/// A valid NDP message and what its headers said.
struct NdpMessage {
    src: Ipv6Addr,
    dst: Ipv6Addr,
    eth_src: MacAddr,
    repr: NdpRepr,
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Learn from an ARP or NDP frame that another worker received and answers: update this
    /// worker's neighbour table (releasing packets that waited for it), never reply. The frame
    /// is freed, and counted by the worker that received it.
    pub fn learn_neighbour(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        match EthernetFrame::new_checked(pkt.as_ref()).map(|e| e.ethertype()) {
            Ok(EtherType::ARP) => self.learn_arp(now, rx_port, pkt, out),
            Ok(EtherType::IPV6) => self.ndp_inner(now, rx_port, pkt, out, false),
            _ => out.free.push(pkt),
        }
    }

    pub(super) fn ndp(&mut self, now: Instant, rx_port: usize, pkt: P, out: &mut Output<P>) {
        self.ndp_inner(now, rx_port, pkt, out, true);
    }

    fn ndp_inner(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkt: P,
        out: &mut Output<P>,
        answer: bool,
    ) {
        let msg = match check(pkt.as_ref()) {
            Ok(msg) => msg,
            // Copies are counted by the worker that received the original.
            Err(_) if !answer => return out.free.push(pkt),
            Err(reason) => return self.discard(pkt, reason, out),
        };
        match msg.repr {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => {
                let for_us = self.port_owns6(rx_port, target);
                // `check` made sure a solicitation from `::` carries no address to learn.
                if let Some(mac) = source_lladdr.filter(MacAddr::is_unicast) {
                    self.learn6(now, rx_port, msg.src, mac, for_us, out);
                }
                if !answer {
                    return out.free.push(pkt);
                }
                if !for_us {
                    return self.discard(pkt, DropReason::NdpNotForUs, out);
                }
                self.advertise(
                    rx_port,
                    target,
                    msg.src,
                    source_lladdr.unwrap_or(msg.eth_src),
                );
                out.free.push(pkt);
            }
            NdpRepr::NeighborAdvert {
                flags,
                target,
                target_lladdr,
            } => {
                // Someone claiming one of our addresses teaches nothing.
                let ours = self.port_owns6(rx_port, target);
                let addressed = self.port_owns6(rx_port, msg.dst);
                let mac = target_lladdr.filter(|m| m.is_unicast() && !ours);
                // Without the override flag an advertisement may confirm a known address but
                // not replace it (RFC 4861 §7.2.5).
                let replaces = matches!(
                    self.neighbours.lookup(rx_port, target),
                    Lookup::Known(old) if Some(old) != mac
                );
                if let Some(mac) = mac.filter(|_| flags.override_ || !replaces) {
                    self.learn6(now, rx_port, target, mac, addressed, out);
                }
                if !answer {
                    return out.free.push(pkt);
                }
                if ours {
                    return self.discard(pkt, DropReason::NdpNotForUs, out);
                }
                self.counters.ndp_adverts_received += 1;
                out.free.push(pkt);
            }
        }
    }

    /// Whether `addr` is the global or link-local address of `port`.
    fn port_owns6(&self, port: usize, addr: Ipv6Addr) -> bool {
        self.ports
            .get(port)
            .is_some_and(|p| p.link_local == addr || p.addr6 == Some(addr))
    }

    fn learn6(
        &mut self,
        now: Instant,
        port: usize,
        ip: Ipv6Addr,
        mac: MacAddr,
        create: bool,
        out: &mut Output<P>,
    ) {
        let mut sink = Sink {
            ports: &self.ports,
            out,
            counters: &mut self.counters,
            generated: &mut self.generated,
        };
        self.neighbours.learn(now, port, ip, mac, create, &mut sink);
    }

    /// Queue a neighbour advertisement for `target` (ours) answering `solicitor`.
    fn advertise(
        &mut self,
        port: usize,
        target: Ipv6Addr,
        solicitor: Ipv6Addr,
        solicitor_mac: MacAddr,
    ) {
        let Some(our_mac) = self.ports.get(port).map(|p| p.mac) else {
            return;
        };
        // A solicitation from `::` (duplicate address detection) has no address to answer:
        // tell all nodes, unsolicited (RFC 4861 §7.2.4).
        let (dst, dst_mac, solicited) = if solicitor.is_unspecified() {
            (ALL_NODES, multicast_mac(ALL_NODES), false)
        } else {
            (solicitor, solicitor_mac, true)
        };
        let repr = NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: true,
                solicited,
                override_: true,
            },
            target,
            target_lladdr: Some(our_mac),
        };
        let built = push_generated(&mut self.generated, port, |buf| {
            emit(buf, (our_mac, dst_mac), (target, dst), &repr)
        });
        if built {
            self.counters.ndp_adverts_sent += 1;
        } else {
            self.counters.generate_failed += 1;
        }
    }
}

impl<P> Sink<'_, P> {
    /// Send a neighbour solicitation for `target` out of `port`, to its solicited-node group.
    pub(super) fn solicit(&mut self, port: usize, target: Ipv6Addr) {
        let Some(info) = self.ports.get(port) else {
            return;
        };
        let src = solicit_source(info, target);
        let repr = NdpRepr::NeighborSolicit {
            target,
            source_lladdr: Some(info.mac),
        };
        let group = solicited_node(target);
        match push_generated(self.generated, port, |buf| {
            emit(buf, (info.mac, multicast_mac(group)), (src, group), &repr)
        }) {
            true => self.counters.ndp_solicits_sent += 1,
            false => self.counters.generate_failed += 1,
        }
    }
}

/// Our address a solicitation for `target` comes from: the global one for a global target
/// (so the neighbour learns the address it will talk to), else the link-local one.
fn solicit_source(info: &PortInfo, target: Ipv6Addr) -> Ipv6Addr {
    match info.addr6 {
        Some(global) if !is_link_local(target) => global,
        _ => info.link_local,
    }
}

/// RFC 4861 §7.1 validation of an NDP frame.
fn check(frame: &[u8]) -> Result<NdpMessage, DropReason> {
    let eth = EthernetFrame::new_checked(frame).map_err(|_| DropReason::EthernetMalformed)?;
    let ip = frame
        .get(ETH_LEN..)
        .ok_or(WireError::Truncated)
        .and_then(Ipv6Packet::new_checked)
        .map_err(|_| DropReason::Ipv6Malformed)?;
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    if ip.next_header() != IpProtocol::IPV6_ICMP || ip.hop_limit() != NDP_HOP_LIMIT {
        return Err(DropReason::NdpInvalid);
    }
    let repr = Icmpv6Packet::new_checked(ip.payload())
        .and_then(|icmp| NdpRepr::parse(&src, &dst, &icmp))
        .map_err(|e| match e {
            WireError::Unsupported => DropReason::NdpUnsupported,
            _ => DropReason::NdpInvalid,
        })?;
    let valid = !src.is_multicast()
        && match repr {
            // From `::` only to a solicited-node group, and with no link-layer address.
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => {
                !src.is_unspecified() || (dst == solicited_node(target) && source_lladdr.is_none())
            }
            // A solicited advertisement answers one solicitor, never a group.
            NdpRepr::NeighborAdvert { flags, .. } => !(dst.is_multicast() && flags.solicited),
        };
    if !valid {
        return Err(DropReason::NdpInvalid);
    }
    Ok(NdpMessage {
        src,
        dst,
        eth_src: eth.src_addr(),
        repr,
    })
}

/// Ethernet + IPv6 (hop limit 255) + `repr`; returns the frame length (0 if `buf` is too
/// small).
fn emit(
    buf: &mut [u8],
    (src_mac, dst_mac): (MacAddr, MacAddr),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    repr: &NdpRepr,
) -> usize {
    let icmp_len = repr.buffer_len();
    let len = ETH_LEN + ipv6::HEADER_LEN + icmp_len;
    let Some(frame) = buf.get_mut(..len.max(MIN_FRAME_LEN)) else {
        return 0;
    };
    frame.fill(0);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::IPV6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let Some(ip_bytes) = frame.get_mut(ETH_LEN..len) else {
        return 0;
    };
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::IPV6_ICMP,
        payload_len: icmp_len,
        hop_limit: NDP_HOP_LIMIT,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut *ip_bytes));
    let Some(icmp_bytes) = ip_bytes.get_mut(ipv6::HEADER_LEN..) else {
        return 0;
    };
    repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(icmp_bytes));
    len.max(MIN_FRAME_LEN)
}

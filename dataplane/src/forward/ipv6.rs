//! IPv6: what arrives is neighbour discovery, an echo request to one of our addresses, or a
//! packet to forward. Forwarding is two steps, [`Forwarder::route6`] (the decision, with the
//! ICMPv6 errors it calls for) then [`Forwarder::send6`] (rewrite and hand to the next hop), so
//! that a filter can sit between them.

use std::net::Ipv6Addr;

use super::icmpv6::Error6;
use super::{ETH_LEN, Forwarder, Output};
use crate::counters::DropReason;
use crate::time::Instant;
use crate::wire::ndp::{is_link_local, is_ndp_type};
use crate::wire::{EthernetFrame, IpProtocol, Ipv6Packet, ipv6};

/// Where the routing decision sends a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Route6 {
    /// Egress port index.
    pub port: usize,
    /// The neighbour to hand it to: the gateway, or the destination itself when connected.
    pub next_hop: Ipv6Addr,
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// An IPv6 frame; `to_us` is false for broadcast and multicast MACs, which only neighbour
    /// discovery may use.
    pub(super) fn ipv6(
        &mut self,
        now: Instant,
        rx_port: usize,
        mut pkt: P,
        out: &mut Output<P>,
        to_us: bool,
    ) {
        let Some(Ok(ip)) = pkt.as_ref().get(ETH_LEN..).map(Ipv6Packet::new_checked) else {
            return self.discard(pkt, DropReason::Ipv6Malformed, out);
        };
        let (src, dst, next_header) = (ip.src_addr(), ip.dst_addr(), ip.next_header());
        let is_ndp = next_header == IpProtocol::IPV6_ICMP
            && ip.payload().first().is_some_and(|&t| is_ndp_type(t));
        if is_ndp {
            return self.ndp(now, rx_port, pkt, out);
        }
        if !to_us || src.is_multicast() || dst.is_multicast() {
            return self.discard(pkt, DropReason::NotRoutable, out);
        }
        // The firewall sees IPv6 as IPv4: inbound here, outbound once routed.
        let filtered = match self.filter_in(now, rx_port, &mut pkt, None) {
            Ok(f) => f,
            Err(reason) => return self.discard(pkt, reason, out),
        };
        if self.is_local6(rx_port, dst) {
            if next_header == IpProtocol::IPV6_ICMP {
                return self.echo6(rx_port, pkt, out);
            }
            return self.discard(pkt, DropReason::LocalUnhandled, out);
        }
        if src.is_unspecified() || src.is_loopback() || dst.is_unspecified() || dst.is_loopback() {
            return self.discard(pkt, DropReason::NotRoutable, out);
        }
        if is_link_local(src) || is_link_local(dst) {
            return self.discard(pkt, DropReason::Ipv6LinkLocal, out);
        }
        let route = match self.route6(now, rx_port, &pkt) {
            Ok(route) => route,
            Err(reason) => return self.discard(pkt, reason, out),
        };
        if let Some(f) = &filtered
            && let Err(reason) = self.filter_out(now, rx_port, route.port, f, &mut pkt, None)
        {
            return self.discard(pkt, reason, out);
        }
        self.send6(now, route, pkt, out);
    }

    /// Whether `addr` is ours as seen from `rx_port`: any port's global address, or this
    /// port's link-local one (link-local addresses mean nothing off their link).
    pub(super) fn is_local6(&self, rx_port: usize, addr: Ipv6Addr) -> bool {
        self.ports.iter().any(|p| p.addr6 == Some(addr))
            || self
                .ports
                .get(rx_port)
                .is_some_and(|p| p.link_local == addr)
    }

    /// The routing decision for a packet to forward: hop limit, longest-prefix route and egress
    /// MTU, queueing the ICMPv6 error a failure calls for. Reads the packet, changes nothing.
    pub(super) fn route6(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkt: &P,
    ) -> Result<Route6, DropReason> {
        let Some(Ok(ip)) = pkt.as_ref().get(ETH_LEN..).map(Ipv6Packet::new_checked) else {
            return Err(DropReason::Ipv6Malformed);
        };
        let (dst, hop_limit) = (ip.dst_addr(), ip.hop_limit());
        let len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        if hop_limit <= 1 {
            self.icmp6_error(now, rx_port, pkt, Error6::TimeExceeded);
            return Err(DropReason::TtlExceeded);
        }
        let Some(hop) = self.routes6.lookup(dst) else {
            self.icmp6_error(now, rx_port, pkt, Error6::NoRoute);
            return Err(DropReason::NoRoute);
        };
        let Some(egress) = self.ports.get(hop.port) else {
            return Err(DropReason::NoRoute);
        };
        if len > usize::from(egress.mtu) {
            let mtu = u32::from(egress.mtu);
            self.icmp6_error(now, rx_port, pkt, Error6::PacketTooBig { mtu });
            return Err(DropReason::MtuExceeded);
        }
        Ok(Route6 {
            port: hop.port,
            next_hop: hop.gateway.unwrap_or(dst),
        })
    }

    /// Pass a routed packet on: decrement the hop limit (IPv6 has no header checksum), set
    /// the egress MAC as source, and send it to the next hop, or hold it while neighbour
    /// discovery resolves that.
    pub(super) fn send6(&mut self, now: Instant, route: Route6, mut pkt: P, out: &mut Output<P>) {
        let Some(egress_mac) = self.ports.get(route.port).map(|p| p.mac) else {
            return self.discard(pkt, DropReason::NoRoute, out);
        };
        let frame = pkt.as_mut();
        if let Some(ip_bytes) = frame.get_mut(ETH_LEN..) {
            let mut ip = Ipv6Packet::new_unchecked(ip_bytes);
            let hop_limit = ip.hop_limit();
            ip.set_hop_limit(hop_limit.saturating_sub(1));
        }
        EthernetFrame::new_unchecked(&mut *frame).set_src_addr(egress_mac);
        self.send_to_neighbour(now, route.port, route.next_hop.into(), pkt, out);
    }
}

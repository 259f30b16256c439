//! ICMPv6: echo replies for our addresses, and error messages (RFC 4443) about packets we
//! cannot forward.

use std::net::Ipv6Addr;

use super::{ETH_LEN, Forwarder, Output, push_generated};
use crate::counters::DropReason;
use crate::neighbour::Lookup;
use crate::time::Instant;
use crate::wire::icmpv6::msg_type;
use crate::wire::ndp::is_link_local;
use crate::wire::{
    EtherType, EthernetFrame, EthernetRepr, Icmpv6Packet, IpProtocol, Ipv6Packet, Ipv6Repr,
    MacAddr, icmpv6, ipv6,
};

/// Bytes of the offending packet (from its IPv6 header on) an ICMPv6 error quotes. RFC 4443
/// asks for as much as fits in 1280 bytes; the first 128 carry the headers a sender needs to
/// match the error to its flow, and keep generated frames small (see `GENERATED_MAX`).
pub const ICMPV6_QUOTE: usize = 128;

/// Errors the node sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Error6 {
    /// Hop limit exceeded in transit (type 3, code 0).
    TimeExceeded,
    /// No route to destination (type 1, code 0).
    NoRoute,
    /// Packet too big for the egress link (type 2).
    PacketTooBig { mtu: u32 },
    /// Port unreachable (type 1, code 4): the answer to a `reject` rule for anything but TCP.
    PortUnreachable,
}

impl Error6 {
    fn type_code_rest(self) -> (u8, u8, u32) {
        match self {
            Error6::TimeExceeded => (msg_type::TIME_EXCEEDED, 0, 0),
            Error6::NoRoute => (msg_type::DST_UNREACHABLE, 0, 0),
            Error6::PacketTooBig { mtu } => (msg_type::PACKET_TOO_BIG, 0, mtu),
            Error6::PortUnreachable => (msg_type::DST_UNREACHABLE, 4, 0),
        }
    }
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Answer an ICMPv6 echo request to one of our addresses, in place, back to its sender.
    pub(super) fn echo6(&mut self, rx_port: usize, mut pkt: P, out: &mut Output<P>) {
        let Some(port_mac) = self.ports.get(rx_port).map(|p| p.mac) else {
            return self.discard(pkt, DropReason::LocalUnhandled, out);
        };
        let frame = pkt.as_mut();
        let Some(ip_bytes) = frame.get_mut(ETH_LEN..) else {
            return self.discard(pkt, DropReason::Ipv6Malformed, out);
        };
        let mut ip = Ipv6Packet::new_unchecked(ip_bytes);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let verdict = match Icmpv6Packet::new_checked(ip.payload_mut()) {
            Err(_) => Err(DropReason::IcmpMalformed),
            Ok(icmp) if icmp.msg_type() != msg_type::ECHO_REQUEST => {
                Err(DropReason::LocalUnhandled)
            }
            Ok(icmp) if !icmp.verify_checksum(&src, &dst) => Err(DropReason::IcmpMalformed),
            Ok(mut icmp) => {
                icmp.set_msg_type(msg_type::ECHO_REPLY);
                icmp.fill_checksum(&dst, &src);
                Ok(())
            }
        };
        if let Err(reason) = verdict {
            return self.discard(pkt, reason, out);
        }
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_hop_limit(64);
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        let requester = eth.src_addr();
        eth.set_dst_addr(requester);
        eth.set_src_addr(port_mac);
        self.counters.echo_replies += 1;
        if let Some(tx) = out.tx.get_mut(rx_port) {
            tx.push(pkt);
        }
    }

    /// Queue an ICMPv6 error about `pkt` (received on `rx_port`) to its sender, where RFC
    /// 4443 §2.4 allows one and the rate limit has room: never about an ICMPv6 error, a
    /// multicast packet, or a source that is unspecified, multicast or link-local.
    pub(super) fn icmp6_error(&mut self, now: Instant, rx_port: usize, pkt: &P, error: Error6) {
        let frame = pkt.as_ref();
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        let Some(Ok(ip)) = frame.get(ETH_LEN..).map(Ipv6Packet::new_checked) else {
            return;
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if src.is_unspecified() || src.is_multicast() || is_link_local(src) || dst.is_multicast() {
            return;
        }
        let payload = ip.payload();
        if ip.next_header() == IpProtocol::IPV6_ICMP
            && payload.first().is_some_and(|&t| t < msg_type::ECHO_REQUEST)
        {
            return; // Types below 128 are errors: never an error about an error.
        }
        if !self.icmp6_limit.allow(now) {
            self.counters.icmp_errors_suppressed += 1;
            return;
        }
        let Some((egress, dst_mac)) = self.path_back6(rx_port, src, eth.src_addr()) else {
            self.counters.icmp_errors_suppressed += 1;
            return;
        };
        // The error must come from a global address: a link-local one is out of the
        // sender's scope.
        let our_ip = self
            .ports
            .get(rx_port)
            .and_then(|p| p.addr6)
            .or_else(|| self.ports.get(egress).and_then(|p| p.addr6));
        let (Some(our_ip), Some(egress_mac)) = (our_ip, self.ports.get(egress).map(|p| p.mac))
        else {
            self.counters.icmp_errors_suppressed += 1;
            return;
        };
        let quoted_len = (ipv6::HEADER_LEN + payload.len()).min(ICMPV6_QUOTE);
        let Some(quoted) = ip.into_inner().get(..quoted_len) else {
            return;
        };
        let built = push_generated(&mut self.generated, egress, |buf| {
            emit_error(buf, (egress_mac, dst_mac), (our_ip, src), error, quoted)
        });
        if built {
            self.counters.icmp_errors_sent += 1;
        } else {
            self.counters.generate_failed += 1;
        }
    }

    /// Egress port and MAC to reach `dst`: the routed next hop if resolved, else straight back
    /// to the frame's sender when the route points out of the port it came in on.
    fn path_back6(
        &self,
        rx_port: usize,
        dst: Ipv6Addr,
        sender_mac: MacAddr,
    ) -> Option<(usize, MacAddr)> {
        let hop = self.routes6.lookup(dst)?;
        match self.neighbours.lookup(hop.port, hop.gateway.unwrap_or(dst)) {
            Lookup::Known(mac) => Some((hop.port, mac)),
            _ if hop.port == rx_port && sender_mac.is_unicast() => Some((rx_port, sender_mac)),
            _ => None,
        }
    }
}

/// Ethernet + IPv6 + ICMPv6 error quoting `quoted` byte for byte; returns the frame length
/// (0 if `buf` is too small).
fn emit_error(
    buf: &mut [u8],
    (src_mac, dst_mac): (MacAddr, MacAddr),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    error: Error6,
    quoted: &[u8],
) -> usize {
    let icmp_len = icmpv6::HEADER_LEN + quoted.len();
    let len = ETH_LEN + ipv6::HEADER_LEN + icmp_len;
    let Some(frame) = buf.get_mut(..len) else {
        return 0;
    };
    frame.fill(0);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::IPV6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let Some(ip_bytes) = frame.get_mut(ETH_LEN..) else {
        return 0;
    };
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::IPV6_ICMP,
        payload_len: icmp_len,
        hop_limit: 64,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut *ip_bytes));
    let Some(icmp_bytes) = ip_bytes.get_mut(ipv6::HEADER_LEN..) else {
        return 0;
    };
    let (msg, code, rest) = error.type_code_rest();
    let mut icmp = Icmpv6Packet::new_unchecked(icmp_bytes);
    icmp.set_msg_type(msg);
    icmp.set_msg_code(code);
    // Bytes 4..8: the MTU for packet-too-big, unused (zero) for the others.
    icmp.set_mtu(rest);
    if let Some(data) = icmp.data_mut().get_mut(..quoted.len()) {
        data.copy_from_slice(quoted);
    }
    icmp.fill_checksum(&src, &dst);
    len
}

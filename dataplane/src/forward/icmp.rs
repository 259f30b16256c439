//! ICMP: echo replies for our addresses, and error messages about packets we cannot forward.

use std::net::Ipv4Addr;

use super::{ETH_LEN, Forwarder, Output, push_generated};
use crate::counters::DropReason;
use crate::neighbour::Lookup;
use crate::time::Instant;
use crate::wire::icmpv4::msg_type;
use crate::wire::{
    EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet, IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr,
};

/// Errors the node sends, RFC 792 / RFC 1191.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Error {
    TimeExceeded,
    NetUnreachable,
    /// Answer to a `reject` rule for anything but TCP (pf's `return-icmp` default).
    PortUnreachable,
    FragmentationNeeded {
        mtu: u16,
    },
}

impl Error {
    fn type_code(self) -> (u8, u8) {
        match self {
            Error::TimeExceeded => (msg_type::TIME_EXCEEDED, 0),
            Error::NetUnreachable => (msg_type::DST_UNREACHABLE, 0),
            Error::PortUnreachable => (msg_type::DST_UNREACHABLE, 3),
            Error::FragmentationNeeded { .. } => (msg_type::DST_UNREACHABLE, 4),
        }
    }
}

/// A token bucket for ICMP errors, as BSD's `icmplim`: a flood of expiring or unroutable
/// packets must not become a flood of ICMP.
#[derive(Debug, Clone)]
pub struct IcmpRateLimit {
    per_second: u32,
    burst: u32,
    tokens: u32,
    refilled: Instant,
}

impl Default for IcmpRateLimit {
    fn default() -> Self {
        IcmpRateLimit::new(200, 50)
    }
}

impl IcmpRateLimit {
    /// `per_second` sustained, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Self {
        IcmpRateLimit {
            per_second,
            burst,
            tokens: burst,
            refilled: Instant::ZERO,
        }
    }

    /// Take a token if one is left.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed_us = now.micros().saturating_sub(self.refilled.micros());
        let new_tokens = elapsed_us.saturating_mul(u64::from(self.per_second)) / 1_000_000;
        if new_tokens > 0 {
            let tokens = u64::from(self.tokens).saturating_add(new_tokens);
            self.tokens = u32::try_from(tokens.min(u64::from(self.burst))).unwrap_or(self.burst);
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

const IPV4_LEN: usize = 20;
const ICMP_HEADER_LEN: usize = 8;
const MIN_FRAME_LEN: usize = 60;

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Answer an ICMP echo request to one of our addresses, in place, back to its sender.
    pub(super) fn echo(&mut self, rx_port: usize, mut pkt: P, out: &mut Output<P>) {
        let Some(port_mac) = self.ports.get(rx_port).map(|p| p.mac) else {
            return self.discard(pkt, DropReason::LocalUnhandled, out);
        };
        let frame = pkt.as_mut();
        let Some(ip_bytes) = frame.get_mut(ETH_LEN..) else {
            return self.discard(pkt, DropReason::Ipv4Malformed, out);
        };
        let mut ip = Ipv4Packet::new_unchecked(ip_bytes);
        if ip.more_frags() || ip.frag_offset() != 0 {
            // Echo requests are not reassembled.
            return self.discard(pkt, DropReason::LocalUnhandled, out);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let verdict = match Icmpv4Packet::new_checked(ip.payload_mut()) {
            Err(_) => Err(DropReason::IcmpMalformed),
            Ok(icmp) if icmp.msg_type() != msg_type::ECHO_REQUEST => {
                Err(DropReason::LocalUnhandled)
            }
            Ok(icmp) if !icmp.verify_checksum() => Err(DropReason::IcmpMalformed),
            Ok(mut icmp) => {
                icmp.set_msg_type(msg_type::ECHO_REPLY);
                icmp.fill_checksum();
                Ok(())
            }
        };
        if let Err(reason) = verdict {
            return self.discard(pkt, reason, out);
        }
        ip.set_src_addr(dst);
        ip.set_dst_addr(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut eth = EthernetFrame::new_unchecked(&mut *frame);
        let requester = eth.src_addr();
        eth.set_dst_addr(requester);
        eth.set_src_addr(port_mac);
        self.counters.echo_replies += 1;
        if let Some(tx) = out.tx.get_mut(rx_port) {
            tx.push(pkt);
        }
    }

    /// Queue an ICMP error about `pkt` (received on `rx_port`) to its sender, where RFC 1812
    /// allows one and the rate limit has room.
    pub(super) fn icmp_error(&mut self, now: Instant, rx_port: usize, pkt: &P, error: Error) {
        let frame = pkt.as_ref();
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        let Some(Ok(ip)) = frame.get(ETH_LEN..).map(Ipv4Packet::new_checked) else {
            return;
        };
        let src = ip.src_addr();
        if src.is_unspecified() || src.is_multicast() || src.is_broadcast() || ip.frag_offset() != 0
        {
            return;
        }
        if ip.next_header() == IpProtocol::ICMP && is_icmp_error(ip.payload()) {
            return; // Never an error about an error.
        }
        if !self.icmp_limit.allow(now) {
            self.counters.icmp_errors_suppressed += 1;
            return;
        }
        let Some((egress, dst_mac)) = self.path_back(rx_port, src, eth.src_addr()) else {
            self.counters.icmp_errors_suppressed += 1;
            return;
        };
        let our_ip = self
            .ports
            .get(rx_port)
            .and_then(|p| p.addr)
            .or_else(|| self.ports.get(egress).and_then(|p| p.addr));
        let (Some(our_ip), Some(egress_mac)) = (our_ip, self.ports.get(egress).map(|p| p.mac))
        else {
            self.counters.icmp_errors_suppressed += 1;
            return;
        };
        let header_len = usize::from(ip.header_len());
        let quoted_len = header_len + ip.payload().len().min(8);
        let Some(quoted) = ip.into_inner().get(..quoted_len) else {
            return;
        };
        let built = push_generated(&mut self.generated, egress, |buf| {
            emit_error(buf, egress_mac, dst_mac, our_ip, src, error, quoted)
        });
        if built {
            self.counters.icmp_errors_sent += 1;
        } else {
            self.counters.generate_failed += 1;
        }
    }

    /// Egress port and MAC to reach `dst`: the routed next hop if resolved, else straight back
    /// to the frame's sender when the route points out of the port it came in on.
    fn path_back(
        &self,
        rx_port: usize,
        dst: Ipv4Addr,
        sender_mac: MacAddr,
    ) -> Option<(usize, MacAddr)> {
        let hop = self.routes.lookup(dst)?;
        match self.neighbours.lookup(hop.port, hop.gateway.unwrap_or(dst)) {
            Lookup::Known(mac) => Some((hop.port, mac)),
            _ if hop.port == rx_port && sender_mac.is_unicast() => Some((rx_port, sender_mac)),
            _ => None,
        }
    }
}

fn is_icmp_error(icmp: &[u8]) -> bool {
    matches!(
        icmp.first().copied(),
        Some(
            msg_type::DST_UNREACHABLE
                | 4
                | msg_type::REDIRECT
                | msg_type::TIME_EXCEEDED
                | msg_type::PARAM_PROBLEM
        )
    )
}

/// Ethernet + IPv4 + ICMP error quoting `quoted` (the offending header and 8 bytes).
fn emit_error(
    buf: &mut [u8],
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    error: Error,
    quoted: &[u8],
) -> usize {
    let icmp_len = ICMP_HEADER_LEN + quoted.len();
    let len = ETH_LEN + IPV4_LEN + icmp_len;
    let Some(frame) = buf.get_mut(..len.max(MIN_FRAME_LEN)) else {
        return 0;
    };
    frame.fill(0);
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    let Some(ip_bytes) = frame.get_mut(ETH_LEN..len) else {
        return 0;
    };
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::ICMP,
        payload_len: icmp_len,
        ttl: 64,
        dscp: 0,
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut *ip_bytes));
    let Some(icmp_bytes) = ip_bytes.get_mut(IPV4_LEN..) else {
        return 0;
    };
    let (msg, code) = error.type_code();
    let mut icmp = Icmpv4Packet::new_unchecked(icmp_bytes);
    icmp.set_msg_type(msg);
    icmp.set_msg_code(code);
    // Bytes 4..8 are unused (zero), except that fragmentation-needed carries the next-hop MTU
    // in 6..8 (RFC 1191).
    if let Error::FragmentationNeeded { mtu } = error {
        icmp.set_next_hop_mtu(mtu);
    }
    if let Some(data) = icmp.data_mut().get_mut(..quoted.len()) {
        data.copy_from_slice(quoted);
    }
    icmp.fill_checksum();
    len.max(MIN_FRAME_LEN)
}

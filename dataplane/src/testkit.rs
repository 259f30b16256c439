//! Frame builders for tests, benchmarks and traffic generators: well-formed Ethernet frames
//! with valid checksums, built with the [`crate::wire`] representations.

use std::net::Ipv4Addr;

use crate::wire::icmpv4::msg_type;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    IpProtocol, Ipv4Packet, Ipv4Repr, MacAddr, UdpPacket, UdpRepr,
};

/// Ethernet + ARP, padded to the 60-byte minimum. Requests go to broadcast with a zero target MAC.
pub fn arp_frame(
    op: ArpOperation,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let request = op == ArpOperation::Request;
    let mut buf = vec![0u8; 60];
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: if request { MacAddr::BROADCAST } else { dst_mac },
        ethertype: EtherType::ARP,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    ArpRepr {
        operation: op,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: if request { MacAddr::ZERO } else { dst_mac },
        target_protocol_addr: target_ip,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut buf[14..42]));
    buf
}

/// Addresses of an IPv4 frame.
#[derive(Debug, Clone, Copy)]
pub struct Hosts {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// IPv4 source.
    pub src: Ipv4Addr,
    /// IPv4 destination.
    pub dst: Ipv4Addr,
}

fn ipv4_frame(h: Hosts, proto: IpProtocol, ttl: u8, l4_len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; (14 + 20 + l4_len).max(60)];
    EthernetRepr {
        src_addr: h.src_mac,
        dst_addr: h.dst_mac,
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    Ipv4Repr {
        src_addr: h.src,
        dst_addr: h.dst,
        next_header: proto,
        payload_len: l4_len,
        ttl,
        dscp: 0,
        ident: 7,
        dont_frag: true,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut buf[14..]));
    buf
}

/// Ethernet + IPv4 (DF set) + UDP from port 4000 to 53 with `payload` zero bytes.
pub fn udp_frame(h: Hosts, ttl: u8, payload: usize) -> Vec<u8> {
    udp_frame_ports(h, ttl, 4000, 53, payload)
}

/// As [`udp_frame`], with explicit ports.
pub fn udp_frame_ports(h: Hosts, ttl: u8, src_port: u16, dst_port: u16, payload: usize) -> Vec<u8> {
    let mut buf = ipv4_frame(h, IpProtocol::UDP, ttl, 8 + payload);
    let mut udp = UdpPacket::new_unchecked(&mut buf[34..34 + 8 + payload]);
    UdpRepr {
        src_port,
        dst_port,
        payload_len: payload,
    }
    .emit(&mut udp);
    udp.fill_checksum_v4(h.src, h.dst);
    buf
}

/// Ethernet + IPv4 + ICMP echo request (id 0x1234, seq 1, data "ping").
pub fn echo_request_frame(h: Hosts) -> Vec<u8> {
    let mut buf = ipv4_frame(h, IpProtocol::ICMP, 64, 12);
    let mut icmp = Icmpv4Packet::new_unchecked(&mut buf[34..46]);
    icmp.set_msg_type(msg_type::ECHO_REQUEST);
    icmp.set_msg_code(0);
    icmp.set_echo_ident(0x1234);
    icmp.set_echo_seq_no(1);
    icmp.data_mut().copy_from_slice(b"ping");
    icmp.fill_checksum();
    buf
}

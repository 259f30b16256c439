//! Frame builders for tests, benchmarks and traffic generators: well-formed Ethernet frames
//! with valid checksums, built with the [`crate::wire`] representations.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::icmpv4::msg_type;
use crate::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, Icmpv4Packet,
    Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, MacAddr, NdpRepr,
    TcpPacket, TcpRepr, UdpPacket, UdpRepr, icmpv6,
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

/// A TCP segment's header fields, for [`tcp_frame`].
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags ([`crate::wire::tcp::flag`]).
    pub flags: u8,
    /// Window (unscaled).
    pub window: u16,
    /// Zero payload bytes.
    pub payload: usize,
}

/// Ethernet + IPv4 (TTL 64, DF) + TCP segment `s`, checksums filled.
pub fn tcp_frame(h: Hosts, s: Segment) -> Vec<u8> {
    let len = 20 + s.payload;
    let mut buf = ipv4_frame(h, IpProtocol::TCP, 64, len);
    let mut tcp = TcpPacket::new_unchecked(&mut buf[34..34 + len]);
    TcpRepr {
        src_port: s.src_port,
        dst_port: s.dst_port,
        seq_number: s.seq,
        ack_number: s.ack,
        flags: s.flags,
        window_len: s.window,
        window_scale: None,
        max_seg_size: None,
        payload_len: s.payload,
    }
    .emit(&mut tcp);
    tcp.fill_checksum_v4(h.src, h.dst);
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

/// Addresses of an IPv6 frame.
#[derive(Debug, Clone, Copy)]
pub struct Hosts6 {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
}

fn ipv6_frame(h: Hosts6, proto: IpProtocol, hop_limit: u8, l4_len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; (14 + 40 + l4_len).max(60)];
    EthernetRepr {
        src_addr: h.src_mac,
        dst_addr: h.dst_mac,
        ethertype: EtherType::IPV6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    Ipv6Repr {
        src_addr: h.src,
        dst_addr: h.dst,
        next_header: proto,
        payload_len: l4_len,
        hop_limit,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[14..]));
    buf
}

/// Ethernet + IPv6 + UDP from port 4000 to 53 with `payload` zero bytes.
pub fn udp6_frame(h: Hosts6, hop_limit: u8, payload: usize) -> Vec<u8> {
    let mut buf = ipv6_frame(h, IpProtocol::UDP, hop_limit, 8 + payload);
    let mut udp = UdpPacket::new_unchecked(&mut buf[54..54 + 8 + payload]);
    UdpRepr {
        src_port: 4000,
        dst_port: 53,
        payload_len: payload,
    }
    .emit(&mut udp);
    udp.fill_checksum_v6(&h.src, &h.dst);
    buf
}

/// Ethernet + IPv6 + ICMPv6 echo request (id 0x1234, seq 1, data "ping").
pub fn echo6_request_frame(h: Hosts6) -> Vec<u8> {
    let mut buf = ipv6_frame(h, IpProtocol::IPV6_ICMP, 64, 12);
    let mut icmp = Icmpv6Packet::new_unchecked(&mut buf[54..66]);
    icmp.set_msg_type(icmpv6::msg_type::ECHO_REQUEST);
    icmp.set_msg_code(0);
    icmp.set_echo_ident(0x1234);
    icmp.set_echo_seq_no(1);
    icmp.data_mut().copy_from_slice(b"ping");
    icmp.fill_checksum(&h.src, &h.dst);
    buf
}

/// Ethernet + IPv6 + a neighbour solicitation or advertisement, checksum filled.
pub fn ndp_frame(h: Hosts6, hop_limit: u8, repr: &NdpRepr) -> Vec<u8> {
    let len = repr.buffer_len();
    let mut buf = ipv6_frame(h, IpProtocol::IPV6_ICMP, hop_limit, len);
    repr.emit(
        &h.src,
        &h.dst,
        &mut Icmpv6Packet::new_unchecked(&mut buf[54..54 + len]),
    );
    buf
}

/// Minimal pcap files (microsecond, Ethernet) for tests that feed `net_pcap` ports.
pub mod pcap {
    use std::io::{self, Write};
    use std::path::Path;

    /// Write `frames` as a pcap file.
    ///
    /// # Errors
    /// I/O errors from creating or writing the file.
    pub fn write(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
        let mut f = io::BufWriter::new(std::fs::File::create(path)?);
        // Magic, version 2.4, zone 0, sigfigs 0, snaplen 65535, link type 1 (Ethernet).
        f.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        f.write_all(&2u16.to_le_bytes())?;
        f.write_all(&4u16.to_le_bytes())?;
        for v in [0u32, 0, 65535, 1] {
            f.write_all(&v.to_le_bytes())?;
        }
        for frame in frames {
            let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
            for v in [0u32, 0, len, len] {
                f.write_all(&v.to_le_bytes())?;
            }
            f.write_all(frame)?;
        }
        f.flush()
    }

    /// Read every frame of a little-endian pcap file (microsecond or nanosecond stamps: DPDK's
    /// `net_pcap` writes nanoseconds).
    ///
    /// # Errors
    /// I/O errors, or `InvalidData` for a truncated or foreign file.
    pub fn read(path: &Path) -> io::Result<Vec<Vec<u8>>> {
        let data = std::fs::read(path)?;
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "not a little-endian pcap file");
        let magic = data.get(..4).ok_or_else(bad)?;
        if magic != 0xa1b2_c3d4u32.to_le_bytes() && magic != 0xa1b2_3c4du32.to_le_bytes() {
            return Err(bad());
        }
        let mut frames = Vec::new();
        let mut at = 24;
        while at < data.len() {
            let header = data.get(at..at + 16).ok_or_else(bad)?;
            let caplen =
                u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
            frames.push(
                data.get(at + 16..at + 16 + caplen)
                    .ok_or_else(bad)?
                    .to_vec(),
            );
            at += 16 + caplen;
        }
        Ok(frames)
    }
}

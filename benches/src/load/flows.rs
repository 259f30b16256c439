//! The traffic the harness offers: `n` flows between clients behind the LAN gateway and
//! servers behind the WAN gateway, as well-formed frames (valid checksums) addressed to the
//! node's ports, and the pcap files that `net_pcap` replays.
//!
//! Flow `i`: client `172.16.0.0 + (i mod 2^20)` port `10000 + i / 2^20`, server
//! `198.18.0.0 + (i mod 4096)` port 443 (TCP) or 53 (UDP). Up to 2^20 × 55 535 flows are
//! distinct.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::Path;

use rampart_dataplane::testkit::{Hosts, Segment, arp_frame, tcp_frame, udp_frame_ports};
use rampart_dataplane::wire::tcp::flag;
use rampart_dataplane::wire::{ArpOperation, MacAddr};

/// Smallest frame size offered (64 B on the wire with the FCS).
pub const MIN_SIZE: usize = 64;
/// Largest frame size offered.
pub const MAX_SIZE: usize = 1518;
/// Most flows a flow set may have.
pub const MAX_FLOWS: usize = 1 << 26;

/// Transport of the flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// UDP: the first packet creates the state, the reply establishes it.
    Udp,
    /// TCP: a handshake creates and establishes the state; the replayed segments are ACKs
    /// inside the windows.
    Tcp,
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "udp" => Ok(Proto::Udp),
            "tcp" => Ok(Proto::Tcp),
            other => Err(format!("unknown protocol {other:?} (udp or tcp)")),
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// Which of the node's ports a frame enters by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The LAN port (clients' side).
    Lan,
    /// The WAN port (servers' side).
    Wan,
    /// The fill port: warm-up traffic that creates states, both directions on one port.
    Fill,
}

/// Addresses of the bench topology (also written into the node's config.xml).
pub mod addr {
    use super::{Ipv4Addr, MacAddr};

    /// The node's LAN address (/24).
    pub const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
    /// The LAN gateway: clients (172.16.0.0/12) are behind it.
    pub const LAN_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
    /// The node's WAN address (/24).
    pub const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
    /// The WAN gateway (the default route).
    pub const WAN_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    /// The node's fill-port address (/24).
    pub const FILL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 1);
    /// The fill port's peer.
    pub const FILL_GW: Ipv4Addr = Ipv4Addr::new(10, 0, 3, 2);
    /// The node's pfsync address (/24).
    pub const SYNC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 9, 1);
    /// The clients' network.
    pub const CLIENTS: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 0);
    /// The servers' network (RFC 2544 benchmarking range).
    pub const SERVERS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 0);
    /// MAC of the LAN gateway.
    pub const LAN_GW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 2]);
    /// MAC of the WAN gateway.
    pub const WAN_GW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 2]);
    /// MAC of the fill peer.
    pub const FILL_GW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 3, 2]);

    /// The MAC `net_pcap` gives its `index`-th port ("\x02pcap" + index), which the harness
    /// also gives memif ports so that the same frames fit both.
    pub const fn port_mac(index: u8) -> MacAddr {
        MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, index])
    }
}

/// Everything that decides the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSet {
    /// Distinct flows.
    pub flows: usize,
    /// Frame size with the FCS (64 = minimum Ethernet frame).
    pub size: usize,
    /// Transport.
    pub proto: Proto,
}

/// The two ends of flow `i`.
fn ends(i: usize) -> (Ipv4Addr, u16, Ipv4Addr) {
    let client = u32::from(addr::CLIENTS) + (i as u32 & 0xF_FFFF);
    let port = 10_000 + (i >> 20) as u16;
    let server = u32::from(addr::SERVERS) + (i as u32 & 0xFFF);
    (Ipv4Addr::from(client), port, Ipv4Addr::from(server))
}

/// MACs of a frame entering by `side`.
fn macs(side: Side) -> (MacAddr, MacAddr) {
    match side {
        Side::Lan => (addr::LAN_GW_MAC, addr::port_mac(0)),
        Side::Wan => (addr::WAN_GW_MAC, addr::port_mac(1)),
        Side::Fill => (addr::FILL_GW_MAC, addr::port_mac(2)),
    }
}

/// Client's initial sequence number of flow `i` (the server's is this plus 2^31).
fn isn(i: usize) -> u32 {
    (i as u32).wrapping_mul(2_654_435_761)
}

/// Bytes of TCP payload in every data segment of a `size`-byte frame.
fn tcp_payload(size: usize) -> usize {
    size.saturating_sub(4 + 14 + 20 + 20)
}

impl FlowSet {
    /// Checks the numbers.
    ///
    /// # Errors
    /// A message naming what is out of range.
    pub fn check(&self) -> Result<(), String> {
        if self.flows == 0 || self.flows > MAX_FLOWS {
            return Err(format!("flows must be 1..={MAX_FLOWS}"));
        }
        if !(MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            return Err(format!("size must be {MIN_SIZE}..={MAX_SIZE} bytes"));
        }
        Ok(())
    }

    /// Frame length without the FCS.
    pub fn frame_len(&self) -> usize {
        self.size - 4
    }

    /// The client's packet of flow `i` (an established-path packet: for TCP an ACK with
    /// data at the sequence number after the handshake), entering by `side`.
    pub fn forward(&self, i: usize, side: Side) -> Vec<u8> {
        let (client, cport, server) = ends(i);
        let (src_mac, dst_mac) = macs(side);
        let h = Hosts {
            src_mac,
            dst_mac,
            src: client,
            dst: server,
        };
        match self.proto {
            Proto::Udp => udp_frame_ports(h, 64, cport, 53, self.frame_len() - 14 - 20 - 8),
            Proto::Tcp => tcp_frame(
                h,
                Segment {
                    src_port: cport,
                    dst_port: 443,
                    seq: isn(i).wrapping_add(1),
                    ack: isn(i).wrapping_add(1 << 31).wrapping_add(1),
                    flags: flag::ACK,
                    window: 65_535,
                    payload: tcp_payload(self.size),
                },
            ),
        }
    }

    /// The server's reply of flow `i`, entering by `side`.
    pub fn reverse(&self, i: usize, side: Side) -> Vec<u8> {
        let (client, cport, server) = ends(i);
        let (src_mac, dst_mac) = macs(side);
        let h = Hosts {
            src_mac,
            dst_mac,
            src: server,
            dst: client,
        };
        match self.proto {
            Proto::Udp => udp_frame_ports(h, 64, 53, cport, self.frame_len() - 14 - 20 - 8),
            Proto::Tcp => tcp_frame(
                h,
                Segment {
                    src_port: 443,
                    dst_port: cport,
                    seq: isn(i).wrapping_add(1 << 31).wrapping_add(1),
                    ack: isn(i).wrapping_add(1),
                    flags: flag::ACK,
                    window: 65_535,
                    payload: tcp_payload(self.size),
                },
            ),
        }
    }

    /// The frames that open flow `i` on the fill port: UDP request and reply, or the TCP
    /// handshake.
    pub fn opening(&self, i: usize) -> Vec<Vec<u8>> {
        match self.proto {
            Proto::Udp => vec![self.forward(i, Side::Fill), self.reverse(i, Side::Fill)],
            Proto::Tcp => {
                let (client, cport, server) = ends(i);
                let (src_mac, dst_mac) = macs(Side::Fill);
                let out = Hosts {
                    src_mac,
                    dst_mac,
                    src: client,
                    dst: server,
                };
                let back = Hosts {
                    src: server,
                    dst: client,
                    ..out
                };
                let (c, s) = (isn(i), isn(i).wrapping_add(1 << 31));
                let seg = |src_port, dst_port, seq, ack, flags| Segment {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    window: 65_535,
                    payload: 0,
                };
                vec![
                    tcp_frame(out, seg(cport, 443, c, 0, flag::SYN)),
                    tcp_frame(
                        back,
                        seg(443, cport, s, c.wrapping_add(1), flag::SYN | flag::ACK),
                    ),
                    tcp_frame(
                        out,
                        seg(cport, 443, c.wrapping_add(1), s.wrapping_add(1), flag::ACK),
                    ),
                ]
            }
        }
    }

    /// The first packet of a new connection `i` entering by the LAN (UDP request or TCP SYN).
    pub fn first(&self, i: usize) -> Vec<u8> {
        match self.proto {
            Proto::Udp => self.forward(i, Side::Lan),
            Proto::Tcp => {
                let (client, cport, server) = ends(i);
                let (src_mac, dst_mac) = macs(Side::Lan);
                tcp_frame(
                    Hosts {
                        src_mac,
                        dst_mac,
                        src: client,
                        dst: server,
                    },
                    Segment {
                        src_port: cport,
                        dst_port: 443,
                        seq: isn(i),
                        ack: 0,
                        flags: flag::SYN,
                        window: 65_535,
                        payload: tcp_payload(self.size),
                    },
                )
            }
        }
    }
}

/// The gateway on `side` asks for the node's address: the node answers and learns the
/// gateway's MAC (every replay pass refreshes it).
pub fn gateway_arp(side: Side) -> Vec<u8> {
    let (mac, ip, target) = match side {
        Side::Lan => (addr::LAN_GW_MAC, addr::LAN_GW, addr::LAN_IP),
        Side::Wan => (addr::WAN_GW_MAC, addr::WAN_GW, addr::WAN_IP),
        Side::Fill => (addr::FILL_GW_MAC, addr::FILL_GW, addr::FILL_IP),
    };
    arp_frame(ArpOperation::Request, mac, ip, MacAddr::BROADCAST, target)
}

/// A pcap file written frame by frame (little-endian, microsecond stamps, Ethernet).
pub struct PcapWriter {
    out: BufWriter<File>,
    frames: u64,
}

impl std::fmt::Debug for PcapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapWriter")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl PcapWriter {
    /// Creates `path` and writes the file header.
    ///
    /// # Errors
    /// I/O errors.
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        for v in [0u32, 0, 65_535, 1] {
            out.write_all(&v.to_le_bytes())?;
        }
        Ok(PcapWriter { out, frames: 0 })
    }

    /// Appends one frame.
    ///
    /// # Errors
    /// I/O errors.
    pub fn push(&mut self, frame: &[u8]) -> io::Result<()> {
        let len = u32::try_from(frame.len()).map_err(io::Error::other)?;
        for v in [0u32, 0, len, len] {
            self.out.write_all(&v.to_le_bytes())?;
        }
        self.out.write_all(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes and returns the number of frames written.
    ///
    /// # Errors
    /// I/O errors.
    pub fn finish(mut self) -> io::Result<u64> {
        self.out.flush()?;
        Ok(self.frames)
    }
}

/// The files of one in-process run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapCounts {
    /// Frames in the LAN and WAN replay files.
    pub lan: u64,
    /// Frames in the WAN replay file.
    pub wan: u64,
    /// Frames in the fill file (0 if none).
    pub fill: u64,
}

/// Writes the established-path replay files: `lan` (gateway ARP, then the client's packet
/// of every flow) and `wan` (gateway ARP, then every reply).
///
/// # Errors
/// I/O errors.
pub fn write_replay(set: &FlowSet, lan: &Path, wan: &Path) -> io::Result<(u64, u64)> {
    let mut l = PcapWriter::create(lan)?;
    let mut w = PcapWriter::create(wan)?;
    l.push(&gateway_arp(Side::Lan))?;
    w.push(&gateway_arp(Side::Wan))?;
    for i in 0..set.flows {
        l.push(&set.forward(i, Side::Lan))?;
        w.push(&set.reverse(i, Side::Wan))?;
    }
    Ok((l.finish()?, w.finish()?))
}

/// Writes the fill file: gateway ARP, then the opening exchange of flows `0..connections`
/// (flows `0..set.flows` are the replayed ones, the rest only occupy the table).
///
/// # Errors
/// I/O errors.
pub fn write_fill(set: &FlowSet, connections: usize, path: &Path) -> io::Result<u64> {
    let mut f = PcapWriter::create(path)?;
    f.push(&gateway_arp(Side::Fill))?;
    for i in 0..connections {
        for frame in set.opening(i) {
            f.push(&frame)?;
        }
    }
    f.finish()
}

/// Writes the new-connection file: gateway ARP, then the first packet of `connections`
/// distinct flows, each once.
///
/// # Errors
/// I/O errors.
pub fn write_new(set: &FlowSet, connections: usize, path: &Path) -> io::Result<u64> {
    let mut f = PcapWriter::create(path)?;
    f.push(&gateway_arp(Side::Lan))?;
    for i in 0..connections {
        f.push(&set.first(i))?;
    }
    f.finish()
}

/// Writes a file holding only the gateway's ARP request on `side` (a port that must exist but
/// carries no traffic).
///
/// # Errors
/// I/O errors.
pub fn write_arp_only(side: Side, path: &Path) -> io::Result<u64> {
    let mut f = PcapWriter::create(path)?;
    f.push(&gateway_arp(side))?;
    f.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rampart_dataplane::wire::{EthernetFrame, Ipv4Packet};

    #[test]
    fn frames_have_the_size_asked_and_valid_checksums() {
        for proto in [Proto::Udp, Proto::Tcp] {
            for size in [64, 128, 512, 1518] {
                let set = FlowSet {
                    flows: 10,
                    size,
                    proto,
                };
                for frame in [set.forward(3, Side::Lan), set.reverse(3, Side::Wan)] {
                    assert_eq!(frame.len(), size - 4, "{proto} {size}");
                    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
                    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                    assert!(ip.verify_checksum());
                }
            }
        }
    }

    #[test]
    fn flows_are_distinct() {
        let set = FlowSet {
            flows: 3 << 20,
            size: 64,
            proto: Proto::Udp,
        };
        let mut seen = std::collections::HashSet::new();
        let indices: std::collections::BTreeSet<usize> = (0..set.flows)
            .step_by(4093)
            .chain([1, 1 << 20, (2 << 20) + 1])
            .collect();
        for i in indices {
            assert!(seen.insert(set.forward(i, Side::Lan)), "flow {i}");
        }
    }
}

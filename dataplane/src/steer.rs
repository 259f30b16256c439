//! Which worker owns a packet's flow, from the frame alone: a **symmetric** hash of the flow
//! (both directions give the same value), so a request and its reply meet the same state shard.
//! Workers use it where the NIC cannot do symmetric RSS (vdevs, af_packet): a packet that
//! arrives at the wrong worker is handed to its owner over an SP/SC ring.
//!
//! What is hashed:
//! - TCP, UDP: the two (address, port) endpoints, ordered, and the protocol.
//! - ICMP/ICMPv6 echo: the two addresses and the echo id (it is the same in request and reply).
//! - ICMP/ICMPv6 errors: the flow **quoted** inside, so an error reaches the owner of the flow
//!   it is about (the quoted packet travelled the other way; the hash does not care).
//! - Other protocols and IPv4 fragments: the two addresses and the protocol. Fragments carry no
//!   ports, so a fragmented flow may be owned by another worker than its unfragmented packets;
//!   the node does not reassemble yet.
//! - ARP and NDP (ICMPv6 types 133–137) go to every worker (each keeps its own neighbour
//!   table); anything else that is not IP stays where it arrived.

use std::net::IpAddr;

use crate::nat::Nat;
use crate::state::StateKey;

use crate::wire::{
    EtherType, EthernetFrame, Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
    VlanHeader, ethernet, icmpv4, icmpv6,
};

/// Where a frame should be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steer {
    /// By this worker (0..workers).
    Worker(usize),
    /// By every worker (ARP, NDP: each learns neighbours).
    AllWorkers,
    /// Wherever it arrived (not IP, or not parseable: the forwarder drops and counts it).
    Local,
}

/// The endpoints of a flow as the hash sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flow {
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    proto: u8,
}

/// The owner of `frame` among `workers` workers.
#[inline]
pub fn steer(frame: &[u8], workers: usize) -> Steer {
    static NO_NAT: Nat = Nat::EMPTY;
    steer_nat(frame, workers, &NO_NAT)
}

/// [`steer`] on a node with NAT: a packet to a translated address and port goes to the
/// worker whose port slice holds that port (the one that made the state); a packet to or
/// from a port forward's address is hashed as if already redirected, so that the internal
/// host's replies meet it.
#[inline]
pub fn steer_nat(frame: &[u8], workers: usize, nat: &Nat) -> Steer {
    if workers <= 1 {
        return Steer::Worker(0);
    }
    let Some((ethertype, l3)) = l3_of(frame) else {
        return Steer::Local;
    };
    let flow = match ethertype {
        EtherType::ARP => return Steer::AllWorkers,
        EtherType::IPV6 if is_ndp(l3) => return Steer::AllWorkers,
        EtherType::IPV4 => ipv4_flow(l3, 0),
        EtherType::IPV6 => ipv6_flow(l3, 0),
        _ => None,
    };
    match flow {
        Some(flow) => Steer::Worker(owner_of_flow(&flow, workers, nat)),
        None => Steer::Local,
    }
}

/// The worker that owns a state with `key` (either of its keys: both lead to the same
/// owner) among `workers`: where the state's packets are steered. The sync core hands the
/// peer's states to this worker.
pub fn owner_of_key(key: &StateKey, workers: usize, nat: &Nat) -> usize {
    if workers <= 1 {
        return 0;
    }
    let [a, b] = key.addr;
    let [pa, pb] = key.port;
    let flow = flow(a.to_ip(key.af), pa, b.to_ip(key.af), pb, key.proto.0);
    owner_of_flow(&flow, workers, nat)
}

fn owner_of_flow(flow: &Flow, workers: usize, nat: &Nat) -> usize {
    if nat.is_empty() {
        return bucket(flow_hash(flow), workers);
    }
    // Port forwards first: outbound NAT never hands out a forwarded port.
    let redirect = |(addr, port): (IpAddr, u16)| match addr {
        IpAddr::V4(v4) => nat
            .redirect_endpoint(flow.proto, v4, port)
            .map(|(a, p)| (IpAddr::V4(a), p)),
        IpAddr::V6(_) => None,
    };
    match (redirect(flow.a), redirect(flow.b)) {
        (None, None) => {}
        (a, b) => {
            let (a, b) = (a.unwrap_or(flow.a), b.unwrap_or(flow.b));
            let flow = self::flow(a.0, a.1, b.0, b.1, flow.proto);
            return bucket(flow_hash(&flow), workers);
        }
    }
    for (addr, port) in [flow.a, flow.b] {
        if let IpAddr::V4(addr) = addr
            && let Some(owner) = nat.owner_of(addr, port, workers)
        {
            return owner;
        }
    }
    bucket(flow_hash(flow), workers)
}

/// Whether an IPv6 packet is neighbour discovery (no extension headers: RFC 4861 messages
/// are sent without them).
fn is_ndp(l3: &[u8]) -> bool {
    Ipv6Packet::new_checked(l3).is_ok_and(|ip| {
        ip.next_header() == IpProtocol::IPV6_ICMP
            && ip
                .payload()
                .first()
                .is_some_and(|&t| crate::wire::ndp::is_ndp_type(t))
    })
}

/// Ethertype and L3 bytes after any 802.1Q/802.1ad tags.
fn l3_of(frame: &[u8]) -> Option<(EtherType, &[u8])> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let mut ethertype = eth.ethertype();
    let mut rest = frame.get(ethernet::HEADER_LEN..)?;
    for _ in 0..2 {
        if ethertype != EtherType::VLAN && ethertype != EtherType::QINQ {
            break;
        }
        let tag = VlanHeader::new_checked(rest).ok()?;
        ethertype = tag.ethertype();
        rest = rest.get(crate::wire::vlan::HEADER_LEN..)?;
    }
    Some((ethertype, rest))
}

/// Nesting: 0 for the packet itself, 1 for a packet quoted in an ICMP error.
fn ipv4_flow(bytes: &[u8], depth: u8) -> Option<Flow> {
    // Quoted packets are truncated (header + 8 bytes): check only what is there.
    let ip = if depth == 0 {
        Ipv4Packet::new_checked(bytes).ok()?
    } else {
        let ip = Ipv4Packet::new_unchecked(bytes);
        (bytes.len() >= 20 && ip.version() == 4).then_some(ip)?
    };
    let (src, dst) = (IpAddr::V4(ip.src_addr()), IpAddr::V4(ip.dst_addr()));
    let proto = ip.next_header();
    let payload = bytes.get(usize::from(ip.header_len())..)?;
    if ip.is_fragment() {
        return Some(flow(src, 0, dst, 0, proto.0));
    }
    if proto == IpProtocol::ICMP {
        let icmp = Icmpv4Packet::new_checked(payload).ok()?;
        return match icmp.msg_type() {
            icmpv4::msg_type::ECHO_REQUEST | icmpv4::msg_type::ECHO_REPLY => {
                let id = icmp.echo_ident();
                Some(flow(src, id, dst, id, proto.0))
            }
            icmpv4::msg_type::DST_UNREACHABLE
            | icmpv4::msg_type::SOURCE_QUENCH
            | icmpv4::msg_type::REDIRECT
            | icmpv4::msg_type::TIME_EXCEEDED
            | icmpv4::msg_type::PARAM_PROBLEM
                if depth == 0 =>
            {
                ipv4_flow(icmp.data(), 1).or(Some(flow(src, 0, dst, 0, proto.0)))
            }
            _ => Some(flow(src, 0, dst, 0, proto.0)),
        };
    }
    Some(with_ports(src, dst, proto, payload))
}

fn ipv6_flow(bytes: &[u8], depth: u8) -> Option<Flow> {
    let ip = if depth == 0 {
        Ipv6Packet::new_checked(bytes).ok()?
    } else {
        let ip = Ipv6Packet::new_unchecked(bytes);
        (bytes.len() >= 40 && ip.version() == 6).then_some(ip)?
    };
    let (src, dst) = (IpAddr::V6(ip.src_addr()), IpAddr::V6(ip.dst_addr()));
    let proto = ip.next_header();
    let payload = bytes.get(40..)?;
    if proto == IpProtocol::IPV6_ICMP {
        let icmp = Icmpv6Packet::new_checked(payload).ok()?;
        return match icmp.msg_type() {
            icmpv6::msg_type::ECHO_REQUEST | icmpv6::msg_type::ECHO_REPLY => {
                let id = icmp.echo_ident();
                Some(flow(src, id, dst, id, proto.0))
            }
            icmpv6::msg_type::DST_UNREACHABLE
            | icmpv6::msg_type::PACKET_TOO_BIG
            | icmpv6::msg_type::TIME_EXCEEDED
                if depth == 0 =>
            {
                ipv6_flow(icmp.data(), 1).or(Some(flow(src, 0, dst, 0, proto.0)))
            }
            _ => Some(flow(src, 0, dst, 0, proto.0)),
        };
    }
    Some(with_ports(src, dst, proto, payload))
}

/// TCP, UDP (and SCTP) carry source and destination ports in their first four bytes.
fn with_ports(src: IpAddr, dst: IpAddr, proto: IpProtocol, l4: &[u8]) -> Flow {
    let has_ports = matches!(proto.0, 6 | 17 | 132);
    match (has_ports, l4.get(..4)) {
        (true, Some(p)) => {
            let sport = u16::from_be_bytes([p[0], p[1]]);
            let dport = u16::from_be_bytes([p[2], p[3]]);
            flow(src, sport, dst, dport, proto.0)
        }
        _ => flow(src, 0, dst, 0, proto.0),
    }
}

/// Endpoints in a fixed order, so both directions build the same value.
fn flow(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Flow {
    let (x, y) = ((src, sport), (dst, dport));
    let (a, b) = if x <= y { (x, y) } else { (y, x) };
    Flow { a, b, proto }
}

fn fold(addr: IpAddr) -> u64 {
    match addr {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29)
        }
    }
}

/// A multiplicative mix (the constants of splitmix64): cheap and well spread.
fn flow_hash(f: &Flow) -> u64 {
    let mut h = fold(f.a.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= fold(f.b.0)
        .rotate_left(17)
        .wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= (u64::from(f.a.1) << 24 | u64::from(f.b.1) << 8 | u64::from(f.proto))
        .wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    h = h.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// Map a hash onto `0..workers` without a division.
fn bucket(hash: u64, workers: usize) -> usize {
    (((hash >> 32) * workers as u64) >> 32) as usize
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::testkit::{Hosts, arp_frame, echo_request_frame, udp_frame_ports};
    use crate::wire::{ArpOperation, MacAddr};

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);

    fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
        udp_frame_ports(
            Hosts {
                src_mac: A,
                dst_mac: B,
                src,
                dst,
            },
            64,
            sport,
            dport,
            4,
        )
    }

    proptest! {
        #[test]
        fn both_directions_meet(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, workers in 2usize..9) {
            let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let there = steer(&udp(s, sport, d, dport), workers);
            prop_assert_eq!(there, steer(&udp(d, dport, s, sport), workers));
            prop_assert!(matches!(there, Steer::Worker(w) if w < workers));
        }

        #[test]
        fn a_state_belongs_to_the_worker_its_packets_reach(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, workers in 1usize..9, inbound: bool) {
            use crate::state::{PacketKey, PfDirection};
            let (s, d) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
            let dir = if inbound { PfDirection::In } else { PfDirection::Out };
            let key = StateKey::from_packet(&PacketKey::v4(s, sport, d, dport, crate::wire::IpProtocol::UDP), dir);
            let owner = owner_of_key(&key, workers, &Nat::EMPTY);
            prop_assert_eq!(steer(&udp(s, sport, d, dport), workers), Steer::Worker(owner));
        }

        #[test]
        fn arbitrary_frames_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..200), workers in 1usize..9) {
            let _ = steer(&frame, workers);
        }
    }

    #[test]
    fn spreads_flows_evenly() {
        let mut counts = [0usize; 4];
        for i in 0..4000u16 {
            if let Steer::Worker(w) = steer(
                &udp(
                    Ipv4Addr::new(10, 0, 1, 10),
                    1024 + i,
                    Ipv4Addr::new(10, 0, 2, 20),
                    80,
                ),
                4,
            ) {
                counts[w] += 1;
            }
        }
        for c in counts {
            assert!((800..1200).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn icmp_follows_its_flow_and_arp_goes_everywhere() {
        let (c, s) = (Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(10, 0, 2, 20));
        let echo = echo_request_frame(Hosts {
            src_mac: A,
            dst_mac: B,
            src: c,
            dst: s,
        });
        let mut reply = echo.clone();
        // Swap the addresses and turn it into a reply: same id, same owner.
        reply[26..30].copy_from_slice(&s.octets());
        reply[30..34].copy_from_slice(&c.octets());
        reply[34] = 0;
        assert_eq!(steer(&echo, 8), steer(&reply, 8));
        let arp = arp_frame(ArpOperation::Request, A, c, MacAddr::ZERO, s);
        assert_eq!(steer(&arp, 8), Steer::AllWorkers);
        assert_eq!(steer(&[0u8; 5], 8), Steer::Local);
        assert_eq!(steer(&[0u8; 5], 1), Steer::Worker(0));
    }

    #[test]
    fn icmp_errors_go_to_the_owner_of_the_quoted_flow() {
        let (c, s, r) = (
            Ipv4Addr::new(10, 0, 1, 10),
            Ipv4Addr::new(10, 0, 2, 20),
            Ipv4Addr::new(10, 0, 9, 1),
        );
        let original = udp(c, 40000, s, 53);
        // A router r reports time exceeded to c, quoting the header + 8 bytes of `original`.
        let quoted = &original[14..14 + 28];
        let mut err = echo_request_frame(Hosts {
            src_mac: B,
            dst_mac: A,
            src: r,
            dst: c,
        });
        err.truncate(34);
        err.extend_from_slice(&[11, 0, 0, 0, 0, 0, 0, 0]);
        err.extend_from_slice(quoted);
        let total = (err.len() - 14) as u16;
        err[16..18].copy_from_slice(&total.to_be_bytes());
        let mut ip = Ipv4Packet::new_unchecked(&mut err[14..]);
        ip.set_next_header(IpProtocol::ICMP);
        ip.fill_checksum();
        let mut icmp = Icmpv4Packet::new_unchecked(&mut err[34..]);
        icmp.fill_checksum();
        for workers in 2..9 {
            assert_eq!(
                steer(&err, workers),
                steer(&original, workers),
                "{workers} workers"
            );
        }
    }

    #[test]
    fn ndp_goes_everywhere_and_other_icmpv6_follows_its_flow() {
        use crate::testkit::{Hosts6, echo6_request_frame, ndp_frame};
        use crate::wire::NdpRepr;

        let (c, s): (std::net::Ipv6Addr, std::net::Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let h = Hosts6 {
            src_mac: A,
            dst_mac: B,
            src: c,
            dst: s,
        };
        let ns = NdpRepr::NeighborSolicit {
            target: s,
            source_lladdr: Some(A),
        };
        assert_eq!(steer(&ndp_frame(h, 255, &ns), 4), Steer::AllWorkers);
        assert!(matches!(
            steer(&echo6_request_frame(h), 4),
            Steer::Worker(_)
        ));
    }
}

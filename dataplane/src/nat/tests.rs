use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::state::{Classified, classify_ipv4};
use crate::testkit::{Hosts, Segment, echo_request_frame, tcp_frame, udp_frame_ports};
use crate::wire::{Icmpv4Packet, IpProtocol, Ipv4Packet, MacAddr, TcpPacket, UdpPacket};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

fn hosts(src: Ipv4Addr, dst: Ipv4Addr) -> Hosts {
    Hosts {
        src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        dst_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        src,
        dst,
    }
}

fn key_of(ip: &[u8]) -> PacketKey {
    match classify_ipv4(&Ipv4Packet::new_checked(ip).unwrap()).unwrap() {
        Classified::Flow(k) => k,
        Classified::IcmpError(e) => e.key,
    }
}

fn verify(ip: &[u8]) {
    let pkt = Ipv4Packet::new_checked(ip).unwrap();
    assert!(pkt.verify_checksum(), "IP header checksum");
    let (src, dst) = (pkt.src_addr(), pkt.dst_addr());
    match pkt.next_header() {
        IpProtocol::TCP => {
            assert!(
                TcpPacket::new_checked(pkt.payload())
                    .unwrap()
                    .verify_checksum_v4(src, dst)
            );
        }
        IpProtocol::UDP => {
            let udp = UdpPacket::new_checked(pkt.payload()).unwrap();
            assert!(udp.checksum() == 0 || udp.verify_checksum_v4(src, dst));
        }
        IpProtocol::ICMP => {
            assert!(
                Icmpv4Packet::new_checked(pkt.payload())
                    .unwrap()
                    .verify_checksum()
            );
        }
        _ => {}
    }
}

fn snat(from: &PacketKey, port: u16) -> PacketKey {
    let mut to = *from;
    to.src = PUBLIC.into();
    to.src_port = port;
    if to.proto == IpProtocol::ICMP {
        to.dst_port = port;
    }
    to
}

#[test]
fn test_rewrites_keep_every_checksum() {
    let tcp = tcp_frame(
        hosts(CLIENT, SERVER),
        Segment {
            src_port: 40000,
            dst_port: 443,
            seq: 1,
            ack: 2,
            flags: 0x18,
            window: 1000,
            payload: 33,
        },
    );
    let udp = udp_frame_ports(hosts(CLIENT, SERVER), 64, 5353, 53, 17);
    let echo = echo_request_frame(hosts(CLIENT, SERVER));
    for frame in [tcp, udp, echo] {
        let mut ip = frame[14..].to_vec();
        let from = key_of(&ip);
        let to = snat(&from, 61000);
        rewrite_flow(&mut ip, &from, &to).unwrap();
        verify(&ip);
        assert_eq!(key_of(&ip), to);
        // And back, as the reply direction does with the reversed keys.
        rewrite_flow(&mut ip, &to, &from).unwrap();
        verify(&ip);
        assert_eq!(ip, frame[14..].to_vec());
    }
    // A UDP datagram without checksum keeps none.
    let mut udp = udp_frame_ports(hosts(CLIENT, SERVER), 64, 5353, 53, 4)[14..].to_vec();
    udp[26..28].copy_from_slice(&[0, 0]);
    let from = key_of(&udp);
    rewrite_flow(&mut udp, &from, &snat(&from, 7000)).unwrap();
    assert_eq!(&udp[26..28], &[0, 0]);
}

#[test]
fn test_icmp_error_about_a_translated_flow() {
    // The server answers the translated datagram with a port unreachable to PUBLIC:61000.
    let original = udp_frame_ports(hosts(CLIENT, SERVER), 64, 5353, 53, 8)[14..].to_vec();
    let from_key = key_of(&original);
    let mut on_wire = original.clone();
    let wire_key = snat(&from_key, 61000);
    rewrite_flow(&mut on_wire, &from_key, &wire_key).unwrap();
    let quote = &on_wire[..28];
    let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(quote);
    let mut error = vec![0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
    error[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    error.extend_from_slice(&SERVER.octets());
    error.extend_from_slice(&PUBLIC.octets());
    error.extend_from_slice(&icmp);
    Ipv4Packet::new_unchecked(&mut error[..]).fill_checksum();
    Icmpv4Packet::new_unchecked(&mut error[20..]).fill_checksum();
    let err_key = key_of(&error);
    // The error's key is the quoted flow reversed; its stack side is the original reversed.
    assert_eq!(err_key, wire_key.reversed());
    rewrite_icmp_error(&mut error, &err_key, &from_key.reversed()).unwrap();
    verify(&error);
    let pkt = Ipv4Packet::new_checked(&error[..]).unwrap();
    assert_eq!((pkt.src_addr(), pkt.dst_addr()), (SERVER, CLIENT));
    // The quote is now the client's original header.
    let inner = Ipv4Packet::new_unchecked(&error[28..48]);
    assert!(inner.verify_checksum());
    assert_eq!(&error[28..56], &original[..28]);
}

fn outbound_rule(port: usize) -> OutboundRule {
    OutboundRule {
        port,
        proto: ProtoSpec::Any,
        src: NatAddrs::Nets {
            nets: vec![Ipv4Net::new(Ipv4Addr::new(10, 0, 1, 0), 24).unwrap()],
            negate: false,
        },
        src_ports: vec![],
        dst: NatAddrs::Any,
        dst_ports: vec![],
        action: OutboundAction::Translate {
            addr: PUBLIC,
            ports: PortPolicy::Range(DEFAULT_PORT_RANGE),
        },
    }
}

#[test]
fn test_outbound_and_port_forward_matching() {
    let mut no_nat = outbound_rule(1);
    no_nat.dst = NatAddrs::Nets {
        nets: vec![Ipv4Net::new(Ipv4Addr::new(10, 9, 0, 0), 16).unwrap()],
        negate: false,
    };
    no_nat.action = OutboundAction::NoNat;
    let nat = Nat::compile(NatSpec {
        outbound: vec![no_nat, outbound_rule(1)],
        port_forwards: vec![PortForward {
            port: 1,
            proto: ProtoSpec::Tcp,
            src: NatAddrs::Any,
            src_ports: vec![],
            dst: NatAddrs::Nets {
                nets: vec![Ipv4Net::new(PUBLIC, 32).unwrap()],
                negate: false,
            },
            dst_ports: vec![PortRange {
                first: 8080,
                last: 8089,
            }],
            target: Some(CLIENT),
            target_port: Some(80),
        }],
    });
    let k = PacketKey::v4(CLIENT, 40000, SERVER, 443, IpProtocol::TCP);
    assert!(
        matches!(nat.outbound(1, &k), Some(OutboundAction::Translate { addr, .. }) if addr == PUBLIC)
    );
    assert_eq!(nat.outbound(0, &k), None, "other port");
    let internal = PacketKey::v4(
        CLIENT,
        40000,
        Ipv4Addr::new(10, 9, 1, 1),
        443,
        IpProtocol::TCP,
    );
    assert_eq!(nat.outbound(1, &internal), Some(OutboundAction::NoNat));
    let other_src = PacketKey::v4(Ipv4Addr::new(10, 0, 2, 1), 1, SERVER, 443, IpProtocol::TCP);
    assert_eq!(nat.outbound(1, &other_src), None);

    let inbound = PacketKey::v4(SERVER, 5000, PUBLIC, 8083, IpProtocol::TCP);
    let to = nat.port_forward(1, &inbound).unwrap();
    assert_eq!((to.dst, to.dst_port), (CLIENT.into(), 83));
    assert_eq!(nat.port_forward(0, &inbound), None);
    let udp = PacketKey::v4(SERVER, 5000, PUBLIC, 8083, IpProtocol::UDP);
    assert_eq!(nat.port_forward(1, &udp), None);
    assert_eq!(nat.owner_of(PUBLIC, 1024, 2), Some(0));
    assert_eq!(nat.owner_of(PUBLIC, 65535, 2), Some(1));
    assert_eq!(nat.owner_of(SERVER, 2000, 2), None);
}

#[test]
fn test_picker_stays_in_its_slice_and_skips_used_ports() {
    let mut picker = PortPicker::default();
    let range = PortRange {
        first: 2000,
        last: 2009,
    };
    let slice = worker_slice(range, 1, 2).unwrap();
    assert_eq!((slice.first, slice.last), (2005, 2009));
    let mut used = vec![2005u16, 2006];
    for _ in 0..3 {
        let p = picker.pick(range, 1, 2, |p| used.contains(&p)).unwrap();
        assert!((2007..=2009).contains(&p));
        used.push(p);
    }
    assert_eq!(
        picker.pick(range, 1, 2, |p| used.contains(&p)),
        None,
        "exhausted"
    );
}

proptest! {
    #[test]
    fn slices_and_owner_agree(first in 1u16..60000, len in 0u16..5000, workers in 1usize..9) {
        let range = PortRange { first, last: first.saturating_add(len) };
        let mut covered = 0usize;
        for w in 0..workers {
            if let Some(slice) = worker_slice(range, w, workers) {
                for port in [slice.first, slice.last, slice.first + (slice.last - slice.first) / 2] {
                    prop_assert_eq!(nat_port_owner(port, range, workers), Some(w));
                }
                covered += usize::from(slice.last - slice.first) + 1;
            }
        }
        prop_assert_eq!(covered, usize::from(range.last - range.first) + 1);
    }

    #[test]
    fn rewrite_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120), port in any::<u16>()) {
        let mut ip = bytes;
        let from = PacketKey::v4(CLIENT, 1, SERVER, 2, IpProtocol::TCP);
        let _ = rewrite_flow(&mut ip, &from, &snat(&from, port));
        let _ = rewrite_icmp_error(&mut ip, &from, &snat(&from, port));
    }
}

#[test]
fn test_steering_sends_replies_to_the_port_owner_and_forwards_alike() {
    use crate::steer::{Steer, steer_nat};
    let nat = Nat::compile(NatSpec {
        outbound: vec![outbound_rule(1)],
        port_forwards: vec![PortForward {
            port: 1,
            proto: ProtoSpec::Tcp,
            src: NatAddrs::Any,
            src_ports: vec![],
            dst: NatAddrs::Nets {
                nets: vec![Ipv4Net::new(PUBLIC, 32).unwrap()],
                negate: false,
            },
            dst_ports: vec![PortRange::single(8080)],
            target: Some(CLIENT),
            target_port: Some(80),
        }],
    });
    let seg = |src_port, dst_port| Segment {
        src_port,
        dst_port,
        seq: 1,
        ack: 0,
        flags: 0x02,
        window: 100,
        payload: 0,
    };
    for workers in [2usize, 3, 4] {
        for port in [1024u16, 20000, 40000, 65535] {
            let reply = tcp_frame(hosts(SERVER, PUBLIC), seg(443, port));
            let owner = nat_port_owner(port, DEFAULT_PORT_RANGE, workers).unwrap();
            assert_eq!(steer_nat(&reply, workers, &nat), Steer::Worker(owner));
        }
        // A forwarded connection: the outside client's packets to PUBLIC:8080 and the
        // internal host's answers from CLIENT:80 meet at one worker.
        for sport in 5000..5020u16 {
            let inbound = tcp_frame(hosts(SERVER, PUBLIC), seg(sport, 8080));
            let answer = tcp_frame(hosts(CLIENT, SERVER), seg(80, sport));
            assert_eq!(
                steer_nat(&inbound, workers, &nat),
                steer_nat(&answer, workers, &nat)
            );
        }
    }
}

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::*;
use crate::testkit::Hosts;
use crate::vip::{Vip, VipTable};
use crate::wire::icmpv4::msg_type;
use crate::wire::{ArpOperation, ArpRepr, Icmpv4Packet, UdpPacket};
use std::sync::Arc;

const LAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const WAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 1]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 10]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);
const NOW: Instant = Instant::ZERO;

fn forwarder() -> Forwarder<Vec<u8>> {
    let ports = [
        PortSetup {
            name: "lan0".into(),
            mac: LAN_MAC,
            addr: Some((LAN_IP, 24)),
            addr6: None,
            mtu: 1500,
        },
        PortSetup {
            name: "wan0".into(),
            mac: WAN_MAC,
            addr: Some((WAN_IP, 24)),
            addr6: None,
            mtu: 1500,
        },
    ];
    let lan = Ipv4Net::new(LAN_IP, 24).unwrap();
    let wan = Ipv4Net::new(WAN_IP, 24).unwrap();
    let mut routes = RouteTable::with_connected(&[(lan, 0), (wan, 1)]).unwrap();
    routes
        .add_via(
            Ipv4Net::new(Ipv4Addr::new(192, 168, 9, 0), 24).unwrap(),
            SERVER,
        )
        .unwrap();
    Forwarder::new(&ports, routes, NeighbourLimits::default())
}

fn arp(
    op: ArpOperation,
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    dst_mac: MacAddr,
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    crate::testkit::arp_frame(op, src_mac, src_ip, dst_mac, target_ip)
}

fn udp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    payload: usize,
) -> Vec<u8> {
    crate::testkit::udp_frame(
        Hosts {
            src_mac,
            dst_mac,
            src,
            dst,
        },
        ttl,
        payload,
    )
}

fn echo_request(dst: Ipv4Addr) -> Vec<u8> {
    crate::testkit::echo_request_frame(Hosts {
        src_mac: CLIENT_MAC,
        dst_mac: LAN_MAC,
        src: CLIENT,
        dst,
    })
}

fn run(f: &mut Forwarder<Vec<u8>>, port: usize, pkt: Vec<u8>) -> Output<Vec<u8>> {
    let mut out = Output::new(2, 32);
    f.process(NOW, port, pkt, &mut out);
    out
}

fn learn_server(f: &mut Forwarder<Vec<u8>>) {
    let out = run(
        f,
        1,
        arp(ArpOperation::Reply, SERVER_MAC, SERVER, WAN_MAC, WAN_IP),
    );
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().arp_replies_received, 1);
}

#[test]
fn answers_arp_for_its_address() {
    let mut f = forwarder();
    let out = run(
        &mut f,
        0,
        arp(
            ArpOperation::Request,
            CLIENT_MAC,
            CLIENT,
            MacAddr::ZERO,
            LAN_IP,
        ),
    );
    let reply = &out.tx[0][0];
    let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, LAN_MAC));
    let repr = ArpRepr::parse(&crate::wire::ArpPacket::new_checked(&reply[14..]).unwrap()).unwrap();
    assert_eq!(repr.operation, ArpOperation::Reply);
    assert_eq!(
        (repr.source_hardware_addr, repr.source_protocol_addr),
        (LAN_MAC, LAN_IP)
    );
    assert_eq!(
        (repr.target_hardware_addr, repr.target_protocol_addr),
        (CLIENT_MAC, CLIENT)
    );
    assert_eq!(f.counters().arp_replies_sent, 1);
    assert_eq!(f.neighbours(), 1, "the requester is learnt");
}

#[test]
fn ignores_arp_for_other_addresses() {
    let mut f = forwarder();
    let out = run(
        &mut f,
        0,
        arp(
            ArpOperation::Request,
            CLIENT_MAC,
            CLIENT,
            MacAddr::ZERO,
            Ipv4Addr::new(10, 0, 1, 99),
        ),
    );
    assert!(out.tx[0].is_empty());
    assert_eq!(f.counters().dropped(DropReason::ArpNotForUs), 1);
    assert_eq!(
        f.neighbours(),
        0,
        "no entry created from ARP not addressed to us"
    );
}

#[test]
fn a_backup_learns_hosts_asking_for_its_vips() {
    let mut f = forwarder();
    let vip = Ipv4Addr::new(10, 0, 1, 254);
    f.set_vips(Arc::new(VipTable::new(vec![Vip {
        port: 0,
        addr: vip,
        vhid: 1,
        master: false,
    }])));
    let out = run(
        &mut f,
        0,
        arp(
            ArpOperation::Request,
            CLIENT_MAC,
            CLIENT,
            MacAddr::ZERO,
            vip,
        ),
    );
    assert!(out.tx[0].is_empty(), "a BACKUP does not answer");
    assert_eq!(f.counters().dropped(DropReason::ArpNotForUs), 1);
    assert_eq!(f.neighbours(), 1, "but it knows the client for a takeover");
    // The master's gratuitous ARP for the shared VIP is no neighbour.
    let peer_mac = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
    run(
        &mut f,
        0,
        arp(ArpOperation::Request, peer_mac, vip, MacAddr::ZERO, vip),
    );
    assert_eq!(f.neighbours(), 1);
}

/// The race of a preemption: the new master's gratuitous ARP reaches a worker that still
/// believes it is MASTER. A reply would come from the virtual MAC and pull the switch's entry
/// back to this node, blackholing the VIP until the new master's next advert.
#[test]
fn a_master_never_answers_the_peers_gratuitous_arp_for_its_vip() {
    let mut f = forwarder();
    let vip = Ipv4Addr::new(10, 0, 1, 254);
    f.set_vips(Arc::new(VipTable::new(vec![Vip {
        port: 0,
        addr: vip,
        vhid: 1,
        master: true,
    }])));
    let vmac = crate::vip::virtual_mac(1);
    let out = run(
        &mut f,
        0,
        arp(ArpOperation::Request, vmac, vip, MacAddr::ZERO, vip),
    );
    assert!(out.tx[0].is_empty(), "no reply from the virtual MAC");
    assert_eq!(f.counters().dropped(DropReason::ArpVipClaimed), 1);
    assert_eq!(f.counters().arp_replies_sent, 0);
    // A host asking for the VIP is still answered, from the virtual MAC.
    let out = run(
        &mut f,
        0,
        arp(
            ArpOperation::Request,
            CLIENT_MAC,
            CLIENT,
            MacAddr::ZERO,
            vip,
        ),
    );
    let eth = EthernetFrame::new_checked(&out.tx[0][0][..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, vmac));
}

#[test]
fn answers_echo_to_any_own_address() {
    for dst in [LAN_IP, WAN_IP] {
        let mut f = forwarder();
        let out = run(&mut f, 0, echo_request(dst));
        let reply = &out.tx[0][0];
        let eth = EthernetFrame::new_checked(&reply[..]).unwrap();
        assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, LAN_MAC));
        let ip = Ipv4Packet::new_checked(&reply[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!((ip.src_addr(), ip.dst_addr()), (dst, CLIENT));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), msg_type::ECHO_REPLY);
        assert!(icmp.verify_checksum());
        assert_eq!(
            (icmp.echo_ident(), icmp.echo_seq_no(), icmp.data()),
            (0x1234, 1, &b"ping"[..])
        );
        assert_eq!(f.counters().echo_replies, 1);
    }
}

#[test]
fn forwards_with_ttl_decrement_and_mac_rewrite() {
    let mut f = forwarder();
    learn_server(&mut f);
    let out = run(&mut f, 0, udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 18));
    assert!(out.free.is_empty());
    let fwd = &out.tx[1][0];
    let eth = EthernetFrame::new_checked(&fwd[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (SERVER_MAC, WAN_MAC));
    let ip = Ipv4Packet::new_checked(&fwd[14..]).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    assert!(
        UdpPacket::new_checked(ip.payload())
            .unwrap()
            .verify_checksum_v4(CLIENT, SERVER)
    );
    assert_eq!(f.counters().forwarded, 1);
}

#[test]
fn routes_via_gateway() {
    let mut f = forwarder();
    learn_server(&mut f);
    let out = run(
        &mut f,
        0,
        udp(
            CLIENT_MAC,
            LAN_MAC,
            CLIENT,
            Ipv4Addr::new(192, 168, 9, 5),
            64,
            0,
        ),
    );
    let eth = EthernetFrame::new_checked(&out.tx[1][0][..]).unwrap();
    assert_eq!(eth.dst_addr(), SERVER_MAC, "sent to the gateway's MAC");
}

#[test]
fn holds_until_arp_resolves() {
    let mut f = forwarder();
    let out = run(&mut f, 0, udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0));
    assert!(
        out.tx[1].is_empty() && out.free.is_empty(),
        "held, not sent or dropped"
    );
    let req = &f.generated()[0];
    assert_eq!(req.port, 1);
    let repr =
        ArpRepr::parse(&crate::wire::ArpPacket::new_checked(&req.bytes()[14..]).unwrap()).unwrap();
    assert_eq!(repr.operation, ArpOperation::Request);
    assert_eq!(
        (repr.source_protocol_addr, repr.target_protocol_addr),
        (WAN_IP, SERVER)
    );
    assert_eq!(
        EthernetFrame::new_checked(req.bytes()).unwrap().dst_addr(),
        MacAddr::BROADCAST
    );
    f.clear_generated();
    let out = run(
        &mut f,
        1,
        arp(ArpOperation::Reply, SERVER_MAC, SERVER, WAN_MAC, WAN_IP),
    );
    assert_eq!(out.tx[1].len(), 1, "released on resolution");
    assert_eq!(
        EthernetFrame::new_checked(&out.tx[1][0][..])
            .unwrap()
            .dst_addr(),
        SERVER_MAC
    );
    assert_eq!(f.counters().forwarded, 1);
}

#[test]
fn unresolved_next_hop_drops_after_retries() {
    let mut f = forwarder();
    let _ = run(&mut f, 0, udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0));
    let mut out = Output::new(2, 32);
    for s in 1..=3 {
        f.tick(Instant::from_secs(s), &mut out);
    }
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::NeighbourUnresolved), 1);
    assert_eq!(f.counters().arp_requests_sent, 3);
}

fn single_generated(f: &Forwarder<Vec<u8>>) -> (usize, Vec<u8>) {
    assert_eq!(f.generated().len(), 1);
    let g = &f.generated()[0];
    (g.port, g.bytes().to_vec())
}

#[test]
fn ttl_expiry_sends_time_exceeded_back() {
    let mut f = forwarder();
    let original = udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 1, 4);
    let out = run(&mut f, 0, original.clone());
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::TtlExceeded), 1);
    let (port, frame) = single_generated(&f);
    assert_eq!(port, 0);
    let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, LAN_MAC));
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!(
        (ip.src_addr(), ip.dst_addr(), ip.next_header()),
        (LAN_IP, CLIENT, IpProtocol::ICMP)
    );
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum());
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (msg_type::TIME_EXCEEDED, 0)
    );
    assert_eq!(
        icmp.data(),
        &original[14..14 + 28],
        "quotes the header and 8 bytes"
    );
}

#[test]
fn no_route_sends_unreachable() {
    let mut f = forwarder();
    let out = run(
        &mut f,
        0,
        udp(
            CLIENT_MAC,
            LAN_MAC,
            CLIENT,
            Ipv4Addr::new(8, 8, 8, 8),
            64,
            0,
        ),
    );
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::NoRoute), 1);
    let (_, frame) = single_generated(&f);
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code()),
        (msg_type::DST_UNREACHABLE, 0)
    );
}

#[test]
fn oversize_with_df_gets_fragmentation_needed() {
    let mut f = forwarder();
    learn_server(&mut f);
    let out = run(
        &mut f,
        0,
        udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 1500),
    );
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::MtuExceeded), 1);
    let (_, frame) = single_generated(&f);
    let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code(), icmp.echo_seq_no()),
        (msg_type::DST_UNREACHABLE, 4, 1500)
    );
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut f = forwarder();
    let mut out = Output::new(2, 32);
    for _ in 0..60 {
        f.process(
            NOW,
            0,
            udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 1, 0),
            &mut out,
        );
    }
    // The default bucket holds 50; the scratch list holds 64 per burst.
    assert_eq!(f.counters().icmp_errors_sent, 50);
    assert_eq!(f.counters().icmp_errors_suppressed, 10);
    assert_eq!(f.counters().dropped(DropReason::TtlExceeded), 60);
}

#[test]
fn named_drops() {
    let mut f = forwarder();
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (vec![0u8; 10], DropReason::EthernetMalformed),
        (
            udp(
                CLIENT_MAC,
                MacAddr([2, 9, 9, 9, 9, 9]),
                CLIENT,
                SERVER,
                64,
                0,
            ),
            DropReason::NotOurMac,
        ),
        (
            udp(CLIENT_MAC, MacAddr::BROADCAST, CLIENT, SERVER, 64, 0),
            DropReason::NotRoutable,
        ),
        (
            udp(
                CLIENT_MAC,
                LAN_MAC,
                CLIENT,
                Ipv4Addr::new(10, 0, 1, 255),
                64,
                0,
            ),
            DropReason::NotRoutable,
        ),
        (
            udp(
                CLIENT_MAC,
                LAN_MAC,
                CLIENT,
                Ipv4Addr::new(224, 0, 0, 18),
                64,
                0,
            ),
            DropReason::NotRoutable,
        ),
        (
            udp(CLIENT_MAC, LAN_MAC, CLIENT, LAN_IP, 64, 0),
            DropReason::LocalUnhandled,
        ),
        (
            {
                let mut p = udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0);
                p[24] ^= 0xff; // header checksum
                p
            },
            DropReason::Ipv4BadChecksum,
        ),
        (
            {
                let mut p = udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0);
                p.truncate(30);
                p
            },
            DropReason::Ipv4Malformed,
        ),
        (
            {
                let mut p = udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0);
                p[12..14].copy_from_slice(&[0x86, 0xdd]);
                p
            },
            DropReason::Ipv6Malformed,
        ),
        (
            {
                let mut p = udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0);
                p[12..14].copy_from_slice(&[0x81, 0x00]);
                p
            },
            DropReason::VlanUnsupported,
        ),
        (
            {
                let mut p = echo_request(LAN_IP);
                p[40] ^= 0xff; // ICMP checksum
                p
            },
            DropReason::IcmpMalformed,
        ),
        (
            {
                let mut p = arp(
                    ArpOperation::Request,
                    CLIENT_MAC,
                    CLIENT,
                    MacAddr::ZERO,
                    LAN_IP,
                );
                p[14] = 9; // hardware type
                p
            },
            DropReason::ArpUnsupported,
        ),
    ];
    for (pkt, reason) in cases {
        let before = f.counters().dropped(reason);
        let out = run(&mut f, 0, pkt);
        assert_eq!(
            f.counters().dropped(reason),
            before + 1,
            "{}",
            reason.name()
        );
        assert_eq!(out.free.len(), 1, "{}", reason.name());
    }
}

proptest! {
    /// Whatever arrives, nothing panics and every packet leaves through exactly one door
    /// (sent, freed, or held for ARP).
    #[test]
    fn arbitrary_frames_are_accounted_for(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..128), 1..32),
        port in 0usize..3,
    ) {
        let mut f = forwarder();
        learn_server(&mut f);
        let mut out = Output::new(2, 32);
        let n = frames.len();
        for mut frame in frames {
            // Aim some frames at us so they get past the MAC check.
            if frame.len() >= 14 && frame[0] & 1 == 0 {
                frame[..6].copy_from_slice(&LAN_MAC.0);
            }
            f.process(NOW, port, frame, &mut out);
        }
        let sent: usize = out.tx.iter().map(Vec::len).sum();
        let replies = f.counters().echo_replies + f.counters().arp_replies_sent;
        prop_assert_eq!(sent + out.free.len() + f.neighbours_held(), n);
        prop_assert!(replies as usize <= sent);
    }

    /// Forwarded packets keep a valid header checksum for any TTL and address.
    #[test]
    fn forwarding_keeps_checksums_valid(ttl in 2u8..=255, host in 2u8..250, payload in 0usize..64) {
        let mut f = forwarder();
        learn_server(&mut f);
        let dst = Ipv4Addr::new(10, 0, 2, host);
        let mut out = Output::new(2, 32);
        f.process(NOW, 0, udp(CLIENT_MAC, LAN_MAC, CLIENT, dst, ttl, payload), &mut out);
        let sent = out.tx[1].first().cloned().unwrap_or_else(|| {
            // Unresolved host: held; resolve it and take the released packet.
            let mut o = Output::new(2, 32);
            f.process(NOW, 1, arp(ArpOperation::Reply, SERVER_MAC, dst, WAN_MAC, WAN_IP), &mut o);
            o.tx[1][0].clone()
        });
        let ip = Ipv4Packet::new_checked(&sent[14..]).unwrap();
        prop_assert!(ip.verify_checksum());
        prop_assert_eq!(ip.ttl(), ttl - 1);
    }
}

#[test]
fn arp_copies_teach_without_answering() {
    let mut f = forwarder();
    // This worker holds a packet for the server; another worker receives the server's ARP.
    let _ = run(&mut f, 0, udp(CLIENT_MAC, LAN_MAC, CLIENT, SERVER, 64, 0));
    f.clear_generated();
    let mut out = Output::new(2, 32);
    let request_from_server = arp(
        ArpOperation::Request,
        SERVER_MAC,
        SERVER,
        MacAddr::ZERO,
        WAN_IP,
    );
    f.learn_arp(NOW, 1, request_from_server, &mut out);
    assert_eq!(out.tx[1].len(), 1, "the held packet is released");
    assert_eq!(
        EthernetFrame::new_checked(&out.tx[1][0][..])
            .unwrap()
            .dst_addr(),
        SERVER_MAC
    );
    assert_eq!(out.free.len(), 1, "the copy is freed, not answered");
    assert_eq!(f.counters().arp_replies_sent, 0);
    assert_eq!(
        f.counters().total_drops(),
        0,
        "copies are counted where they arrived"
    );
    f.learn_arp(NOW, 1, vec![0u8; 20], &mut out);
    assert_eq!(f.counters().total_drops(), 0);
}

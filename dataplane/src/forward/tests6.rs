//! The IPv6 path: neighbour discovery, echo, forwarding and ICMPv6 errors.

use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::route6::{Ipv6Net, Route6Table};
use crate::testkit::{Hosts6, echo6_request_frame, ndp_frame, udp6_frame};
use crate::wire::icmpv6::msg_type;
use crate::wire::ndp::{link_local_from_mac, multicast_mac, solicited_node};
use crate::wire::{Icmpv6Packet, Ipv6Packet, NaFlags, NdpRepr, UdpPacket};

const LAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const WAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 1]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 10]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const WAN_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10);
const SERVER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x20);
const REMOTE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 5);
const NOW: Instant = Instant::ZERO;

fn forwarder() -> Forwarder<Vec<u8>> {
    let ports = [
        PortSetup {
            name: "lan0".into(),
            mac: LAN_MAC,
            addr: Some((Ipv4Addr::new(10, 0, 1, 1), 24)),
            addr6: Some((LAN_IP, 64)),
            mtu: 1500,
        },
        PortSetup {
            name: "wan0".into(),
            mac: WAN_MAC,
            addr: None,
            addr6: Some((WAN_IP, 64)),
            mtu: 1500,
        },
    ];
    let lan = Ipv6Net::new(LAN_IP, 64).unwrap();
    let wan = Ipv6Net::new(WAN_IP, 64).unwrap();
    let mut routes6 = Route6Table::with_connected(&[(lan, 0), (wan, 1)]).unwrap();
    routes6
        .add_via(Ipv6Net::new(REMOTE, 48).unwrap(), SERVER)
        .unwrap();
    let routes = RouteTable::default();
    Forwarder::new(&ports, routes, NeighbourLimits::default()).with_routes6(routes6)
}

fn run(f: &mut Forwarder<Vec<u8>>, port: usize, pkt: Vec<u8>) -> Output<Vec<u8>> {
    let mut out = Output::new(2, 32);
    f.process(NOW, port, pkt, &mut out);
    out
}

fn from_client(dst: Ipv6Addr) -> Hosts6 {
    Hosts6 {
        src_mac: CLIENT_MAC,
        dst_mac: LAN_MAC,
        src: CLIENT,
        dst,
    }
}

fn udp(dst: Ipv6Addr, hop_limit: u8, payload: usize) -> Vec<u8> {
    udp6_frame(from_client(dst), hop_limit, payload)
}

/// A solicitation for `target` from `src` (with `src_mac` as link-layer option unless `::`).
fn ns(src: Ipv6Addr, src_mac: MacAddr, target: Ipv6Addr, hop_limit: u8) -> Vec<u8> {
    let group = solicited_node(target);
    let repr = NdpRepr::NeighborSolicit {
        target,
        source_lladdr: (!src.is_unspecified()).then_some(src_mac),
    };
    let h = Hosts6 {
        src_mac,
        dst_mac: multicast_mac(group),
        src,
        dst: group,
    };
    ndp_frame(h, hop_limit, &repr)
}

/// The server's solicited answer to the WAN port.
fn server_na() -> Vec<u8> {
    let repr = NdpRepr::NeighborAdvert {
        flags: NaFlags {
            router: false,
            solicited: true,
            override_: true,
        },
        target: SERVER,
        target_lladdr: Some(SERVER_MAC),
    };
    let h = Hosts6 {
        src_mac: SERVER_MAC,
        dst_mac: WAN_MAC,
        src: SERVER,
        dst: WAN_IP,
    };
    ndp_frame(h, 255, &repr)
}

fn single_generated(f: &Forwarder<Vec<u8>>) -> (usize, Vec<u8>) {
    assert_eq!(f.generated().len(), 1);
    let g = &f.generated()[0];
    (g.port, g.bytes().to_vec())
}

/// Ethernet addresses, IPv6 addresses and hop limit of `frame`, and its ICMPv6 message after
/// checking the checksum.
fn icmp6(frame: &[u8]) -> ((MacAddr, MacAddr), (Ipv6Addr, Ipv6Addr, u8), Vec<u8>) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    assert_eq!(ip.next_header(), IpProtocol::IPV6_ICMP);
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    assert!(icmp.verify_checksum(&src, &dst), "ICMPv6 checksum");
    (
        (eth.dst_addr(), eth.src_addr()),
        (src, dst, ip.hop_limit()),
        ip.payload().to_vec(),
    )
}

fn parse_ndp(frame: &[u8]) -> NdpRepr {
    let ip = Ipv6Packet::new_checked(&frame[14..]).unwrap();
    let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
    NdpRepr::parse(&ip.src_addr(), &ip.dst_addr(), &icmp).unwrap()
}

#[test]
fn answers_solicitations_for_its_addresses() {
    let lan_ll = link_local_from_mac(LAN_MAC);
    let client_ll = link_local_from_mac(CLIENT_MAC);
    for (src, target) in [(CLIENT, LAN_IP), (client_ll, lan_ll), (CLIENT, WAN_IP)] {
        let mut f = forwarder();
        let out = run(&mut f, 0, ns(src, CLIENT_MAC, target, 255));
        if target == WAN_IP {
            // Another port's address is not on this link.
            assert_eq!(f.counters().dropped(DropReason::NdpNotForUs), 1);
            assert!(f.generated().is_empty());
            continue;
        }
        assert_eq!(out.free.len(), 1, "the solicitation is consumed");
        let (port, frame) = single_generated(&f);
        assert_eq!(port, 0);
        let (macs, (ip_src, ip_dst, hop_limit), _) = icmp6(&frame);
        assert_eq!(macs, (CLIENT_MAC, LAN_MAC));
        assert_eq!((ip_src, ip_dst, hop_limit), (target, src, 255));
        assert_eq!(
            parse_ndp(&frame),
            NdpRepr::NeighborAdvert {
                flags: NaFlags {
                    router: true,
                    solicited: true,
                    override_: true
                },
                target,
                target_lladdr: Some(LAN_MAC),
            }
        );
        assert_eq!(f.counters().ndp_adverts_sent, 1);
        assert_eq!(f.neighbours(), 1, "the solicitor is learnt");
        assert_eq!(f.counters().total_drops(), 0);
    }
}

#[test]
fn duplicate_address_detection_gets_an_advert_to_all_nodes() {
    let mut f = forwarder();
    let _ = run(
        &mut f,
        0,
        ns(Ipv6Addr::UNSPECIFIED, CLIENT_MAC, LAN_IP, 255),
    );
    let (_, frame) = single_generated(&f);
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let (macs, (src, dst, _), _) = icmp6(&frame);
    assert_eq!(macs, (MacAddr([0x33, 0x33, 0, 0, 0, 1]), LAN_MAC));
    assert_eq!((src, dst), (LAN_IP, all_nodes));
    assert!(matches!(
        parse_ndp(&frame),
        NdpRepr::NeighborAdvert { flags, .. } if !flags.solicited && flags.override_
    ));
    assert_eq!(f.neighbours(), 0, "nothing to learn from ::");

    // From :: with a link-layer option is invalid (RFC 4861 §7.1.1).
    let mut bad = ns(CLIENT, CLIENT_MAC, LAN_IP, 255);
    bad[22..38].fill(0);
    let ip = Ipv6Packet::new_checked(&bad[14..]).unwrap();
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    Icmpv6Packet::new_unchecked(&mut bad[54..86]).fill_checksum(&s, &d);
    let mut f = forwarder();
    let _ = run(&mut f, 0, bad);
    assert_eq!(f.counters().dropped(DropReason::NdpInvalid), 1);
    assert!(f.generated().is_empty());
}

#[test]
fn answers_echo_to_its_addresses() {
    let lan_ll = link_local_from_mac(LAN_MAC);
    for dst in [LAN_IP, WAN_IP, lan_ll] {
        let mut f = forwarder();
        let out = run(&mut f, 0, echo6_request_frame(from_client(dst)));
        let reply = &out.tx[0][0];
        let (macs, (src, to, _), icmp) = icmp6(reply);
        assert_eq!(macs, (CLIENT_MAC, LAN_MAC));
        assert_eq!((src, to), (dst, CLIENT));
        let icmp = Icmpv6Packet::new_checked(&icmp[..]).unwrap();
        assert_eq!(icmp.msg_type(), msg_type::ECHO_REPLY);
        assert_eq!((icmp.echo_ident(), icmp.data()), (0x1234, &b"ping"[..]));
        assert_eq!(f.counters().echo_replies, 1);
    }
}

#[test]
fn forwards_after_resolving_the_next_hop() {
    let mut f = forwarder();
    let out = run(&mut f, 0, udp(SERVER, 64, 18));
    assert!(out.tx[1].is_empty() && out.free.is_empty(), "held");
    let (port, ns_frame) = single_generated(&f);
    assert_eq!(port, 1);
    let group = solicited_node(SERVER);
    let (macs, (src, dst, hop_limit), _) = icmp6(&ns_frame);
    assert_eq!(macs, (MacAddr([0x33, 0x33, 0xff, 0, 0, 0x20]), WAN_MAC));
    assert_eq!((src, dst, hop_limit), (WAN_IP, group, 255));
    assert_eq!(
        parse_ndp(&ns_frame),
        NdpRepr::NeighborSolicit {
            target: SERVER,
            source_lladdr: Some(WAN_MAC)
        }
    );
    assert_eq!(f.counters().ndp_solicits_sent, 1);
    f.clear_generated();

    let out = run(&mut f, 1, server_na());
    assert_eq!(out.tx[1].len(), 1, "released on the advertisement");
    let fwd = &out.tx[1][0];
    let eth = EthernetFrame::new_checked(&fwd[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (SERVER_MAC, WAN_MAC));
    let ip = Ipv6Packet::new_checked(&fwd[14..]).unwrap();
    assert_eq!(ip.hop_limit(), 63);
    let datagram = UdpPacket::new_checked(ip.payload()).unwrap();
    assert!(datagram.verify_checksum_v6(&CLIENT, &SERVER));
    assert_eq!(f.counters().forwarded, 1);
    assert_eq!(f.counters().ndp_adverts_received, 1);

    // Resolved now: via the gateway straight away.
    let out = run(&mut f, 0, udp(REMOTE, 64, 0));
    let eth = EthernetFrame::new_checked(&out.tx[1][0][..]).unwrap();
    assert_eq!(eth.dst_addr(), SERVER_MAC);
    assert_eq!(f.counters().forwarded, 2);
}

#[test]
fn unresolved_next_hop_drops_after_retries() {
    let mut f = forwarder();
    let _ = run(&mut f, 0, udp(SERVER, 64, 0));
    let mut out = Output::new(2, 32);
    for s in 1..=3 {
        f.tick(Instant::from_secs(s), &mut out);
    }
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::NeighbourUnresolved), 1);
    assert_eq!(f.counters().ndp_solicits_sent, 3);
}

#[test]
fn hop_limit_expiry_sends_time_exceeded() {
    let mut f = forwarder();
    let original = udp(SERVER, 1, 4);
    let out = run(&mut f, 0, original.clone());
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::TtlExceeded), 1);
    let (port, frame) = single_generated(&f);
    assert_eq!(port, 0);
    let (macs, (src, dst, _), icmp) = icmp6(&frame);
    assert_eq!(macs, (CLIENT_MAC, LAN_MAC));
    assert_eq!((src, dst), (LAN_IP, CLIENT));
    assert_eq!((icmp[0], icmp[1]), (msg_type::TIME_EXCEEDED, 0));
    assert_eq!(&icmp[8..], &original[14..14 + 40 + 12], "the whole packet");
    assert_eq!(f.counters().icmp_errors_sent, 1);
}

#[test]
fn no_route_sends_unreachable() {
    let mut f = forwarder();
    let out = run(&mut f, 0, udp("2a00::1".parse().unwrap(), 64, 0));
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::NoRoute), 1);
    let (_, frame) = single_generated(&f);
    let (_, _, icmp) = icmp6(&frame);
    assert_eq!((icmp[0], icmp[1]), (msg_type::DST_UNREACHABLE, 0));
}

#[test]
fn oversize_gets_packet_too_big_with_the_mtu() {
    let mut f = forwarder();
    let original = udp(SERVER, 64, 1500);
    let out = run(&mut f, 0, original.clone());
    assert_eq!(out.free.len(), 1);
    assert_eq!(f.counters().dropped(DropReason::MtuExceeded), 1);
    let (_, frame) = single_generated(&f);
    assert_eq!(frame.len(), 14 + 40 + 8 + ICMPV6_QUOTE);
    let (_, _, icmp) = icmp6(&frame);
    let icmp = Icmpv6Packet::new_checked(&icmp[..]).unwrap();
    assert_eq!(
        (icmp.msg_type(), icmp.msg_code(), icmp.mtu()),
        (msg_type::PACKET_TOO_BIG, 0, 1500)
    );
    assert_eq!(icmp.data(), &original[14..14 + ICMPV6_QUOTE]);
}

#[test]
fn icmpv6_errors_are_rate_limited() {
    let mut f = forwarder();
    let mut out = Output::new(2, 32);
    for _ in 0..60 {
        f.process(NOW, 0, udp(SERVER, 1, 0), &mut out);
    }
    // The default bucket holds 50; the scratch list holds 64 per burst.
    assert_eq!(f.counters().icmp_errors_sent, 50);
    assert_eq!(f.counters().icmp_errors_suppressed, 10);
}

#[test]
fn no_error_about_an_error() {
    let mut f = forwarder();
    let mut err = echo6_request_frame(from_client(SERVER));
    err[21] = 1; // hop limit
    err[54] = msg_type::DST_UNREACHABLE;
    let _ = run(&mut f, 0, err);
    assert_eq!(f.counters().dropped(DropReason::TtlExceeded), 1);
    assert!(f.generated().is_empty());
}

#[test]
fn invalid_ndp_is_dropped_and_counted() {
    let rs = {
        let mut p = ns(CLIENT, CLIENT_MAC, LAN_IP, 255);
        p[54] = msg_type::ROUTER_SOLICIT;
        let ip = Ipv6Packet::new_checked(&p[14..]).unwrap();
        let (s, d) = (ip.src_addr(), ip.dst_addr());
        Icmpv6Packet::new_unchecked(&mut p[54..86]).fill_checksum(&s, &d);
        p
    };
    let cases = [
        (ns(CLIENT, CLIENT_MAC, LAN_IP, 254), DropReason::NdpInvalid),
        (
            {
                let mut p = ns(CLIENT, CLIENT_MAC, LAN_IP, 255);
                p[56] ^= 0xff; // checksum
                p
            },
            DropReason::NdpInvalid,
        ),
        (
            ns(CLIENT, CLIENT_MAC, "2001:db8:1::99".parse().unwrap(), 255),
            DropReason::NdpNotForUs,
        ),
        (rs, DropReason::NdpUnsupported),
    ];
    for (pkt, reason) in cases {
        let mut f = forwarder();
        let out = run(&mut f, 0, pkt);
        assert_eq!(f.counters().dropped(reason), 1, "{}", reason.name());
        assert_eq!(out.free.len(), 1);
        assert!(f.generated().is_empty(), "{}", reason.name());
        assert_eq!(f.neighbours(), 0, "{}: nothing learnt", reason.name());
    }
}

#[test]
fn link_local_and_multicast_are_not_forwarded() {
    let ll: Ipv6Addr = "fe80::99".parse().unwrap();
    let cases = [
        (udp(ll, 64, 0), DropReason::Ipv6LinkLocal),
        (
            udp6_frame(
                Hosts6 {
                    src: link_local_from_mac(CLIENT_MAC),
                    ..from_client(SERVER)
                },
                64,
                0,
            ),
            DropReason::Ipv6LinkLocal,
        ),
        (
            udp("ff0e::1".parse().unwrap(), 64, 0),
            DropReason::NotRoutable,
        ),
        (
            udp6_frame(
                Hosts6 {
                    dst_mac: MacAddr::BROADCAST,
                    ..from_client(SERVER)
                },
                64,
                0,
            ),
            DropReason::NotRoutable,
        ),
        (
            {
                let mut p = udp(SERVER, 64, 0);
                p[14] = 0x45;
                p
            },
            DropReason::Ipv6Malformed,
        ),
    ];
    for (pkt, reason) in cases {
        let mut f = forwarder();
        let out = run(&mut f, 0, pkt);
        assert_eq!(f.counters().dropped(reason), 1, "{}", reason.name());
        assert_eq!(out.free.len(), 1);
        assert!(f.generated().is_empty(), "no ICMPv6 for {}", reason.name());
    }
}

#[test]
fn ndp_copies_teach_without_answering() {
    let mut f = forwarder();
    let _ = run(&mut f, 0, udp(SERVER, 64, 0));
    f.clear_generated();
    let mut out = Output::new(2, 32);
    f.learn_neighbour(NOW, 1, server_na(), &mut out);
    assert_eq!(out.tx[1].len(), 1, "the held packet is released");
    assert_eq!(out.free.len(), 1, "the copy is freed");
    assert_eq!(
        f.counters().ndp_adverts_received,
        0,
        "counted where it arrived"
    );
    // A solicitation copy teaches but is not answered.
    let mut f = forwarder();
    f.learn_neighbour(NOW, 0, ns(CLIENT, CLIENT_MAC, LAN_IP, 255), &mut out);
    assert!(f.generated().is_empty());
    assert_eq!(f.neighbours(), 1);
    f.learn_neighbour(NOW, 0, vec![0u8; 20], &mut out);
    assert_eq!(f.counters().total_drops(), 0);
}

#[test]
fn advert_without_override_does_not_replace() {
    let mut f = forwarder();
    let _ = run(&mut f, 1, server_na());
    let _ = run(&mut f, 0, udp(SERVER, 64, 0));
    let mut na = server_na();
    na[80..86].copy_from_slice(&[2, 9, 9, 9, 9, 9]); // another MAC in the option
    na[58] = 0x40; // solicited, no override
    let ip = Ipv6Packet::new_checked(&na[14..]).unwrap();
    let (s, d) = (ip.src_addr(), ip.dst_addr());
    Icmpv6Packet::new_unchecked(&mut na[54..86]).fill_checksum(&s, &d);
    let _ = run(&mut f, 1, na);
    let out = run(&mut f, 0, udp(SERVER, 64, 0));
    let eth = EthernetFrame::new_checked(&out.tx[1][0][..]).unwrap();
    assert_eq!(eth.dst_addr(), SERVER_MAC);
}

proptest! {
    /// Arbitrary IPv6 packets: nothing panics and every packet leaves through exactly one
    /// door (sent, freed, or held for resolution).
    #[test]
    fn arbitrary_ipv6_is_accounted_for(
        packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..160), 1..32),
        port in 0usize..2,
    ) {
        let mut f = forwarder();
        let mut out = Output::new(2, 32);
        let n = packets.len();
        for body in packets {
            let mut frame = udp(SERVER, 64, 0)[..14].to_vec();
            frame.extend_from_slice(&body);
            if let Some(b) = frame.get_mut(14) {
                *b = 0x60 | (*b & 0x0f);
            }
            f.process(NOW, port, frame, &mut out);
        }
        let sent: usize = out.tx.iter().map(Vec::len).sum();
        prop_assert_eq!(sent + out.free.len() + f.neighbours_held(), n);
    }
}

/// The firewall on the IPv6 path: LAN may send UDP anywhere, the WAN may not start anything;
/// the server's reply passes by state, a new flow from the WAN does not.
#[test]
fn firewall_filters_ipv6_with_states() {
    use crate::firewall::{Firewall, FirewallSettings};
    use crate::rules::{
        IpFamilies, ProtoSpec, RuleAction, RuleIndex, RuleSpec, Ruleset, RulesetOptions,
    };
    use crate::state::Timeouts;
    let mut f = forwarder();
    let mut lan = RuleSpec::new(RuleIndex::default(), RuleAction::Pass, vec![0]);
    lan.families = IpFamilies::V6;
    lan.proto = ProtoSpec::Udp;
    let ruleset = Ruleset::compile(vec![lan], &RulesetOptions::new(2)).unwrap();
    let settings = FirewallSettings {
        states: 16,
        creatorid: 1,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 0,
        workers: 1,
    };
    f.set_firewall(Firewall::new(0, &settings, std::sync::Arc::new(ruleset)));
    // The server answers neighbour solicitation first.
    let mut out = Output::new(2, 32);
    f.learn_neighbour(NOW, 1, server_na(), &mut out);
    let out = run(&mut f, 0, udp(SERVER, 64, 10));
    assert_eq!(out.tx[1].len(), 1, "{:?}", f.counters());
    assert_eq!(
        f.firewall().unwrap().table().len(),
        2,
        "in on the LAN, out on the WAN"
    );
    // A datagram from the server to the client that no state knows is blocked.
    let unsolicited = udp6_frame(
        Hosts6 {
            src_mac: SERVER_MAC,
            dst_mac: WAN_MAC,
            src: SERVER,
            dst: CLIENT,
        },
        64,
        10,
    );
    let out = run(&mut f, 1, unsolicited);
    assert!(out.tx[0].is_empty());
    assert_eq!(f.counters().dropped(DropReason::FilterBlockIn), 1);
}

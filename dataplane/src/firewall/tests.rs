//! The firewall through the forwarder: two ports (LAN 0, WAN 1), a client on the LAN and a
//! server on the WAN, frames in, frames (or drops) out.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use crate::counters::DropReason;
use crate::forward::{Forwarder, Output, PortSetup};
use crate::neighbour::NeighbourLimits;
use crate::route::{Ipv4Net, RouteTable};
use crate::rules::{
    AddrSpec, PortRange, ProtoSpec, RuleAction, RuleIndex, RuleSpec, RulesetOptions, TcpFlagsMatch,
};
use crate::testkit::{Hosts, Segment, arp_frame, tcp_frame, udp_frame_ports};
use crate::wire::tcp::flag::{ACK, FIN, RST, SYN};
use crate::wire::{ArpOperation, EthernetFrame, Icmpv4Packet, MacAddr, TcpPacket};

const LAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 1]);
const WAN_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 1]);
const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 10]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);
const LAN: usize = 0;
const WAN: usize = 1;

/// "pass in on LAN proto tcp from LAN net to any port 80 flags S/SA keep state".
fn allow_http() -> RuleSpec {
    let mut rule = RuleSpec::new(
        RuleIndex {
            index: 0,
            tracker: 100,
        },
        RuleAction::Pass,
        vec![LAN],
    );
    rule.proto = ProtoSpec::Tcp;
    rule.src = AddrSpec::Nets {
        v4: Some(vec![Ipv4Net::new(LAN_IP, 24).unwrap()]),
        v6: None,
        negate: false,
    };
    rule.dst_ports = vec![PortRange::single(80)];
    rule.tcp_flags = Some(TcpFlagsMatch::SYN_ONLY);
    rule
}

fn ruleset(rules: Vec<RuleSpec>) -> Arc<Ruleset> {
    Arc::new(Ruleset::compile(rules, &RulesetOptions::new(2)).unwrap())
}

fn forwarder(rules: Vec<RuleSpec>) -> Forwarder<Vec<u8>> {
    let ports = [
        PortSetup {
            name: "lan".into(),
            mac: LAN_MAC,
            addr: Some((LAN_IP, 24)),
            addr6: None,
            mtu: 1500,
        },
        PortSetup {
            name: "wan".into(),
            mac: WAN_MAC,
            addr: Some((WAN_IP, 24)),
            addr6: None,
            mtu: 1500,
        },
    ];
    let lan = Ipv4Net::new(LAN_IP, 24).unwrap();
    let wan = Ipv4Net::new(WAN_IP, 24).unwrap();
    let routes = RouteTable::with_connected(&[(lan, LAN), (wan, WAN)]).unwrap();
    let mut f = Forwarder::new(&ports, routes, NeighbourLimits::default());
    let settings = FirewallSettings {
        states: 64,
        creatorid: 7,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 64,
        workers: 1,
    };
    f.set_firewall(Firewall::new(0, &settings, ruleset(rules)));
    // Both hosts known, so forwarded packets go straight out.
    for (port, mac, ip, ours) in [
        (LAN, CLIENT_MAC, CLIENT, LAN_MAC),
        (WAN, SERVER_MAC, SERVER, WAN_MAC),
    ] {
        let our_ip = if port == LAN { LAN_IP } else { WAN_IP };
        let frame = arp_frame(ArpOperation::Reply, mac, ip, ours, our_ip);
        run(&mut f, Instant::ZERO, port, frame);
    }
    f
}

fn run(f: &mut Forwarder<Vec<u8>>, now: Instant, port: usize, frame: Vec<u8>) -> Output<Vec<u8>> {
    let mut out = Output::new(2, 32);
    f.process(now, port, frame, &mut out);
    out
}

fn from_client(seg: Segment) -> Vec<u8> {
    tcp_frame(
        Hosts {
            src_mac: CLIENT_MAC,
            dst_mac: LAN_MAC,
            src: CLIENT,
            dst: SERVER,
        },
        seg,
    )
}

fn from_server(seg: Segment) -> Vec<u8> {
    tcp_frame(
        Hosts {
            src_mac: SERVER_MAC,
            dst_mac: WAN_MAC,
            src: SERVER,
            dst: CLIENT,
        },
        seg,
    )
}

fn seg(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8, payload: usize) -> Segment {
    Segment {
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window: 64_000,
        payload,
    }
}

/// The TCP handshake of client port 40000 to server port 80, each step forwarded.
fn handshake(f: &mut Forwarder<Vec<u8>>) {
    let syn = run(
        f,
        Instant::ZERO,
        LAN,
        from_client(seg(40000, 80, 1000, 0, SYN, 0)),
    );
    assert_eq!(syn.tx[WAN].len(), 1, "SYN forwarded");
    let syn_ack = from_server(seg(80, 40000, 5000, 1001, SYN | ACK, 0));
    let out = run(f, Instant::ZERO, WAN, syn_ack);
    assert_eq!(out.tx[LAN].len(), 1, "SYN-ACK forwarded by state");
    let ack = from_client(seg(40000, 80, 1001, 5001, ACK, 0));
    assert_eq!(run(f, Instant::ZERO, LAN, ack).tx[WAN].len(), 1);
}

fn dropped(f: &Forwarder<Vec<u8>>, reason: DropReason) -> u64 {
    f.counters().dropped(reason)
}

#[test]
fn test_allowed_connection_passes_with_two_states() {
    let mut f = forwarder(vec![allow_http()]);
    handshake(&mut f);
    let data = from_client(seg(40000, 80, 1001, 5001, ACK, 100));
    assert_eq!(run(&mut f, Instant::ZERO, LAN, data).tx[WAN].len(), 1);
    let reply = from_server(seg(80, 40000, 5001, 1101, ACK, 500));
    assert_eq!(run(&mut f, Instant::ZERO, WAN, reply).tx[LAN].len(), 1);
    let fw = f.firewall().unwrap();
    // pf's two states: in on the LAN (created by rule 0), out on the WAN (default pass out).
    assert_eq!(fw.table().len(), 2);
    let c = &f.counters().firewall;
    assert_eq!(
        c.rule_evaluations, 2,
        "only the SYN went to the rules, once per port"
    );
    assert_eq!(c.rules[0].decisions, 1);
    assert_eq!(c.rules[0].states_created, 1);
    assert_eq!(f.counters().total_drops(), 0);
    assert_eq!(f.counters().forwarded, 5);
}

#[test]
fn test_connection_from_the_wan_is_refused() {
    let mut f = forwarder(vec![allow_http()]);
    let syn = from_server(seg(5555, 80, 1, 0, SYN, 0));
    let out = run(&mut f, Instant::ZERO, WAN, syn);
    assert!(out.tx.iter().all(Vec::is_empty));
    assert_eq!(dropped(&f, DropReason::FilterBlockIn), 1);
    assert_eq!(f.firewall().unwrap().table().len(), 0);
    // A LAN connection to another port is not allowed either.
    let ssh = from_client(seg(40001, 22, 1, 0, SYN, 0));
    assert!(run(&mut f, Instant::ZERO, LAN, ssh).tx[WAN].is_empty());
    assert_eq!(dropped(&f, DropReason::FilterBlockIn), 2);
}

#[test]
fn test_segment_without_state_is_blocked() {
    // An ACK with no state fails the rule's flags S/SA: the default deny drops it.
    let mut f = forwarder(vec![allow_http()]);
    let ack = from_client(seg(40000, 80, 1001, 5001, ACK, 0));
    assert!(run(&mut f, Instant::ZERO, LAN, ack).tx[WAN].is_empty());
    assert_eq!(dropped(&f, DropReason::FilterBlockIn), 1);
}

#[test]
fn test_forged_segment_outside_the_window_is_dropped() {
    let mut f = forwarder(vec![allow_http()]);
    handshake(&mut f);
    // The server side's sequence space is at 5001; a segment a gigabyte ahead is forged.
    let forged = from_server(seg(80, 40000, 5001 + (1 << 30), 1001, ACK, 10));
    assert!(run(&mut f, Instant::ZERO, WAN, forged).tx[LAN].is_empty());
    assert_eq!(dropped(&f, DropReason::TcpBadState), 1);
    // A forged RST outside the window too.
    let rst = from_server(seg(80, 40000, 5001 + (1 << 30), 0, RST, 0));
    assert!(run(&mut f, Instant::ZERO, WAN, rst).tx[LAN].is_empty());
    assert_eq!(dropped(&f, DropReason::TcpBadState), 2);
    // The connection goes on.
    let ok = from_server(seg(80, 40000, 5001, 1001, ACK, 10));
    assert_eq!(run(&mut f, Instant::ZERO, WAN, ok).tx[LAN].len(), 1);
}

#[test]
fn test_impossible_flags_are_dropped() {
    let mut f = forwarder(vec![allow_http()]);
    let xmas = from_client(seg(40000, 80, 1, 0, SYN | FIN | RST, 0));
    assert!(run(&mut f, Instant::ZERO, LAN, xmas).tx[WAN].is_empty());
    assert_eq!(dropped(&f, DropReason::TcpBadFlags), 1);
}

#[test]
fn test_reject_answers_tcp_with_rst_and_udp_with_port_unreachable() {
    let mut reject = RuleSpec::new(RuleIndex::default(), RuleAction::Reject, vec![LAN]);
    reject.proto = ProtoSpec::Any;
    let mut f = forwarder(vec![reject]);
    let syn = from_client(seg(40000, 25, 1000, 0, SYN, 0));
    let out = run(&mut f, Instant::ZERO, LAN, syn);
    assert!(out.tx[WAN].is_empty());
    let rst = f.generated()[0].bytes().to_vec();
    assert_eq!(f.generated()[0].port, LAN);
    let eth = EthernetFrame::new_checked(&rst[..]).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (CLIENT_MAC, LAN_MAC));
    let ip = crate::wire::Ipv4Packet::new_checked(&rst[14..]).unwrap();
    assert!(ip.verify_checksum());
    assert_eq!((ip.src_addr(), ip.dst_addr()), (SERVER, CLIENT));
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert!(tcp.verify_checksum_v4(SERVER, CLIENT));
    assert_eq!((tcp.src_port(), tcp.dst_port()), (25, 40000));
    assert_eq!(tcp.flags(), RST | ACK);
    assert_eq!(tcp.ack_number(), 1001, "acks the SYN");
    f.clear_generated();

    let udp = udp_frame_ports(
        Hosts {
            src_mac: CLIENT_MAC,
            dst_mac: LAN_MAC,
            src: CLIENT,
            dst: SERVER,
        },
        64,
        5353,
        53,
        10,
    );
    run(&mut f, Instant::ZERO, LAN, udp);
    let unreach = f.generated()[0].bytes().to_vec();
    let ip = crate::wire::Ipv4Packet::new_checked(&unreach[14..]).unwrap();
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.msg_code()), (3, 3));
    assert_eq!(ip.dst_addr(), CLIENT);
    let c = &f.counters().firewall;
    assert_eq!((c.rejects_rst, c.rejects_icmp), (1, 1));
    assert_eq!(dropped(&f, DropReason::FilterBlockIn), 2);
}

#[test]
fn test_reload_keeps_states() {
    let mut f = forwarder(vec![allow_http()]);
    handshake(&mut f);
    // Nothing allowed any more: established traffic still flows, new connections do not.
    f.set_ruleset(Instant::from_secs(1), ruleset(Vec::new()));
    let data = from_client(seg(40000, 80, 1001, 5001, ACK, 100));
    assert_eq!(
        run(&mut f, Instant::from_secs(1), LAN, data).tx[WAN].len(),
        1
    );
    let syn = from_client(seg(40002, 80, 1, 0, SYN, 0));
    assert!(run(&mut f, Instant::from_secs(1), LAN, syn).tx[WAN].is_empty());
    let c = &f.counters().firewall;
    assert_eq!(c.ruleset_reloads, 1);
    assert!(c.rules.is_empty(), "counters follow the new ruleset");
}

#[test]
fn test_states_expire_and_events_are_counted() {
    let mut rule = allow_http();
    rule.proto = ProtoSpec::Udp;
    rule.dst_ports = vec![PortRange::single(53)];
    rule.tcp_flags = None;
    let mut f = forwarder(vec![rule]);
    let query = udp_frame_ports(
        Hosts {
            src_mac: CLIENT_MAC,
            dst_mac: LAN_MAC,
            src: CLIENT,
            dst: SERVER,
        },
        64,
        5353,
        53,
        10,
    );
    assert_eq!(run(&mut f, Instant::ZERO, LAN, query).tx[WAN].len(), 1);
    f.maintain(Instant::from_secs(1));
    let c = &f.counters().firewall;
    assert_eq!((c.states, c.states_inserted), (2, 2));
    assert_eq!(c.sync_events, 2, "two inserts");
    assert_eq!(c.sync_events_dropped, 2, "no sync core yet");
    // pf's udp.first is 60 s.
    f.maintain(Instant::from_secs(59));
    assert_eq!(f.counters().firewall.states, 2);
    f.maintain(Instant::from_secs(61));
    let c = &f.counters().firewall;
    assert_eq!((c.states, c.states_expired), (0, 2));
    assert_eq!(c.sync_events, 4, "and two deletes");
    assert_eq!(c.rules[0].state_packets, 1);
}

/// Frames of several connections: handshakes, data both ways, a new flow's SYN twice in a row,
/// blocked and forged packets, ARP in between.
fn mixed_traffic() -> Vec<(usize, Vec<u8>)> {
    let mut frames = Vec::new();
    for c in 0..6u16 {
        let port = 41000 + c;
        frames.push((LAN, from_client(seg(port, 80, 1000, 0, SYN, 0))));
        if c % 2 == 0 {
            frames.push((LAN, from_client(seg(port, 80, 1000, 0, SYN, 0))));
        }
        frames.push((WAN, from_server(seg(80, port, 5000, 1001, SYN | ACK, 0))));
        frames.push((LAN, from_client(seg(port, 80, 1001, 5001, ACK, 10))));
        frames.push((WAN, from_server(seg(80, port, 5001, 1011, ACK, 100))));
        frames.push((
            WAN,
            from_server(seg(80, port, 5001 + (1 << 30), 1011, ACK, 1)),
        ));
        frames.push((WAN, from_server(seg(5555, 80 + c, 1, 0, SYN, 0))));
        frames.push((LAN, from_client(seg(port, 22, 1, 0, SYN, 0))));
        frames.push((
            LAN,
            arp_frame(ArpOperation::Reply, CLIENT_MAC, CLIENT, LAN_MAC, LAN_IP),
        ));
    }
    frames
}

#[test]
fn test_bursts_decide_as_packet_by_packet() {
    let frames = mixed_traffic();
    let mut single = forwarder(vec![allow_http()]);
    let mut single_out = Output::new(2, 256);
    for (port, frame) in frames.clone() {
        single.process(Instant::ZERO, port, frame, &mut single_out);
    }
    for burst_len in [1usize, 3, 7, 32, 64] {
        let mut burst = forwarder(vec![allow_http()]);
        let mut out = Output::new(2, 256);
        // Consecutive frames of one port form a burst, at most `burst_len` long.
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut pending_port = LAN;
        for (port, frame) in frames.clone() {
            if port != pending_port || pending.len() == burst_len {
                burst.process_burst(Instant::ZERO, pending_port, &mut pending, &mut out);
                pending_port = port;
            }
            pending.push(frame);
        }
        burst.process_burst(Instant::ZERO, pending_port, &mut pending, &mut out);
        assert_eq!(out.tx, single_out.tx, "burst length {burst_len}");
        assert_eq!(out.free.len(), single_out.free.len());
        assert_eq!(
            burst.counters(),
            single.counters(),
            "burst length {burst_len}"
        );
        assert_eq!(
            burst.firewall().unwrap().table().len(),
            single.firewall().unwrap().table().len()
        );
    }
    assert!(single.counters().dropped(DropReason::TcpBadState) > 0);
    assert!(single.counters().dropped(DropReason::FilterBlockIn) > 0);
    assert!(single.counters().forwarded > 20);
}

fn tcp6(src: &str, dst: &str, s: Segment) -> Vec<u8> {
    use crate::wire::{Ipv6Packet, Ipv6Repr, TcpRepr};
    let (src, dst): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
        (src.parse().unwrap(), dst.parse().unwrap());
    let mut buf = vec![0u8; 40 + 20 + s.payload];
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: crate::wire::IpProtocol::TCP,
        payload_len: 20 + s.payload,
        hop_limit: 64,
    }
    .emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
    let mut tcp = TcpPacket::new_unchecked(&mut buf[40..]);
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
    tcp.fill_checksum_v6(&src, &dst);
    buf
}

#[test]
fn test_ipv6_states_and_rules_work_as_for_ipv4() {
    use crate::rules::IpFamilies;
    let mut rule = allow_http();
    rule.families = IpFamilies::V6;
    rule.src = AddrSpec::Nets {
        v4: None,
        v6: Some(vec![
            crate::rules::Ipv6Net::new("2001:db8:1::".parse().unwrap(), 64).unwrap(),
        ]),
        negate: false,
    };
    let settings = FirewallSettings {
        states: 16,
        creatorid: 7,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 0,
        workers: 1,
    };
    let mut fw = Firewall::new(0, &settings, ruleset(vec![rule]));
    let mut counters = FirewallCounters::default();
    counters.rules.resize(1, RuleCounters::default());
    let (client, server) = ("2001:db8:1::10", "2001:db8:2::20");
    let mut pass = |fw: &mut Firewall, port, dir, bytes: Vec<u8>| {
        let ip = crate::wire::Ipv6Packet::new_checked(&bytes[..]).unwrap();
        let fp = FilterPacket::ipv6(&ip).unwrap();
        fw.filter(Instant::ZERO, port, dir, &fp, None, &mut counters)
    };
    let passed = |o: Outcome| {
        matches!(
            o,
            Outcome::Pass {
                translate: None,
                state: Some(_),
                ..
            }
        )
    };
    let syn = tcp6(client, server, seg(40000, 80, 1000, 0, SYN, 0));
    assert!(passed(pass(&mut fw, LAN, PfDirection::In, syn.clone())));
    assert!(passed(pass(&mut fw, WAN, PfDirection::Out, syn)));
    assert_eq!(fw.table().len(), 2);
    let syn_ack = tcp6(server, client, seg(80, 40000, 5000, 1001, SYN | ACK, 0));
    assert!(passed(pass(&mut fw, WAN, PfDirection::In, syn_ack.clone())));
    assert!(passed(pass(&mut fw, LAN, PfDirection::Out, syn_ack)));
    let forged = tcp6(
        server,
        client,
        seg(80, 40000, 5001 + (1 << 30), 1001, ACK, 1),
    );
    assert_eq!(
        pass(&mut fw, WAN, PfDirection::In, forged),
        Outcome::Block {
            reason: DropReason::TcpBadState,
            reject: false
        }
    );
    let from_wan = tcp6(server, client, seg(5555, 80, 1, 0, SYN, 0));
    assert_eq!(
        pass(&mut fw, WAN, PfDirection::In, from_wan),
        Outcome::Block {
            reason: DropReason::FilterBlockIn,
            reject: false
        }
    );
    assert_eq!(fw.table().len(), 2);
}

fn outbound_nat() -> crate::nat::Nat {
    use crate::nat::*;
    Nat::compile(NatSpec {
        outbound: vec![OutboundRule {
            port: WAN,
            proto: ProtoSpec::Any,
            src: NatAddrs::Nets {
                nets: vec![Ipv4Net::new(LAN_IP, 24).unwrap()],
                negate: false,
            },
            src_ports: vec![],
            dst: NatAddrs::Any,
            dst_ports: vec![],
            action: OutboundAction::Translate {
                addr: WAN_IP,
                ports: PortPolicy::Range(DEFAULT_PORT_RANGE),
            },
        }],
        port_forwards: vec![PortForward {
            port: WAN,
            proto: ProtoSpec::Tcp,
            src: NatAddrs::Any,
            src_ports: vec![],
            dst: NatAddrs::Nets {
                nets: vec![Ipv4Net::new(WAN_IP, 32).unwrap()],
                negate: false,
            },
            dst_ports: vec![PortRange::single(8080)],
            target: Some(CLIENT),
            target_port: Some(80),
        }],
    })
}

fn tcp_of(frame: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let ip = crate::wire::Ipv4Packet::new_checked(&frame[14..]).unwrap();
    assert!(ip.verify_checksum());
    let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
    assert!(
        tcp.verify_checksum_v4(ip.src_addr(), ip.dst_addr()),
        "TCP checksum"
    );
    (ip.src_addr(), tcp.src_port(), ip.dst_addr(), tcp.dst_port())
}

#[test]
fn test_outbound_nat_translates_both_ways() {
    let mut f = forwarder(vec![allow_http()]);
    f.firewall_mut().unwrap().set_nat(Arc::new(outbound_nat()));
    let out = run(
        &mut f,
        Instant::ZERO,
        LAN,
        from_client(seg(40000, 80, 1000, 0, SYN, 0)),
    );
    let (src, nat_port, dst, dport) = tcp_of(&out.tx[WAN][0]);
    assert_eq!(
        (src, dst, dport),
        (WAN_IP, SERVER, 80),
        "the server sees the WAN address"
    );
    assert!(nat_port >= 1024);
    // The reply to the translated port is translated back to the client.
    let reply = tcp_frame(
        Hosts {
            src_mac: SERVER_MAC,
            dst_mac: WAN_MAC,
            src: SERVER,
            dst: WAN_IP,
        },
        seg(80, nat_port, 5000, 1001, SYN | ACK, 0),
    );
    let out = run(&mut f, Instant::ZERO, WAN, reply);
    assert_eq!(tcp_of(&out.tx[LAN][0]), (SERVER, 80, CLIENT, 40000));
    // Later segments keep the same translation.
    let out = run(
        &mut f,
        Instant::ZERO,
        LAN,
        from_client(seg(40000, 80, 1001, 5001, ACK, 5)),
    );
    assert_eq!(tcp_of(&out.tx[WAN][0]), (WAN_IP, nat_port, SERVER, 80));
    // A second connection gets another port.
    let out = run(
        &mut f,
        Instant::ZERO,
        LAN,
        from_client(seg(40001, 80, 1000, 0, SYN, 0)),
    );
    assert_ne!(tcp_of(&out.tx[WAN][0]).1, nat_port);
    let fw = f.firewall().unwrap();
    assert_eq!(fw.table().len(), 4);
    assert_eq!(f.counters().total_drops(), 0, "{:?}", f.counters());
}

#[test]
fn test_port_forward_reaches_the_internal_host() {
    // WAN: pass tcp to the client's port 80 (pfSense's associated rule).
    let mut to_client = RuleSpec::new(
        RuleIndex {
            index: 1,
            tracker: 2,
        },
        RuleAction::Pass,
        vec![WAN],
    );
    to_client.proto = ProtoSpec::Tcp;
    to_client.dst = AddrSpec::Nets {
        v4: Some(vec![Ipv4Net::new(CLIENT, 32).unwrap()]),
        v6: None,
        negate: false,
    };
    to_client.dst_ports = vec![PortRange::single(80)];
    let mut f = forwarder(vec![allow_http(), to_client]);
    f.firewall_mut().unwrap().set_nat(Arc::new(outbound_nat()));
    let inbound = tcp_frame(
        Hosts {
            src_mac: SERVER_MAC,
            dst_mac: WAN_MAC,
            src: SERVER,
            dst: WAN_IP,
        },
        seg(5555, 8080, 1, 0, SYN, 0),
    );
    let out = run(&mut f, Instant::ZERO, WAN, inbound);
    assert_eq!(tcp_of(&out.tx[LAN][0]), (SERVER, 5555, CLIENT, 80));
    // The client's answer matches the state the forwarded SYN created leaving the LAN, and
    // leaves the WAN as the WAN address's port 8080 (the forward's state, not outbound NAT).
    let answer = from_client(seg(80, 5555, 9000, 2, SYN | ACK, 0));
    let out = run(&mut f, Instant::ZERO, LAN, answer);
    assert_eq!(tcp_of(&out.tx[WAN][0]), (WAN_IP, 8080, SERVER, 5555));
    assert_eq!(f.counters().total_drops(), 0, "{:?}", f.counters());
}

#[test]
fn test_deferral_holds_the_first_packet_until_the_ack_or_20_ms() {
    let mut f = forwarder(vec![allow_http()]);
    f.firewall_mut().unwrap().set_defer(true);
    let syn = from_client(seg(40000, 80, 1000, 0, SYN, 0));
    let out = run(&mut f, Instant::ZERO, LAN, syn);
    assert!(out.tx[WAN].is_empty(), "the SYN waits for the peer");
    assert_eq!((f.counters().deferred, f.deferred_held()), (1, 1));
    // Both new states ask the peer for an acknowledgement.
    let events: Vec<_> = f
        .firewall_mut()
        .unwrap()
        .table_mut()
        .events()
        .drain()
        .collect();
    let inserts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            crate::state::StateEvent::Insert(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(inserts.len(), 2);
    assert!(
        inserts
            .iter()
            .all(|s| s.state_flags & crate::state::flags::ACK != 0)
    );
    // An ack for another state releases nothing; the right one releases the SYN.
    let mut out = Output::new(2, 32);
    f.release_deferred(Instant::from_millis(1), 7, 12345, &mut out);
    assert!(out.tx[WAN].is_empty());
    for s in &inserts {
        f.release_deferred(Instant::from_millis(1), s.creatorid, s.id, &mut out);
    }
    assert_eq!(out.tx[WAN].len(), 1, "released by the INS_ACK");
    assert_eq!(f.counters().deferred_acked, 1);

    // A second connection whose ack never comes leaves after 20 ms.
    let syn = from_client(seg(40001, 80, 1000, 0, SYN, 0));
    assert!(run(&mut f, Instant::from_millis(2), LAN, syn).tx[WAN].is_empty());
    let mut out = Output::new(2, 32);
    f.expire_deferred(Instant::from_millis(21), &mut out);
    assert!(out.tx[WAN].is_empty(), "not yet");
    f.expire_deferred(Instant::from_millis(22), &mut out);
    assert_eq!(out.tx[WAN].len(), 1);
    assert_eq!(f.counters().deferred_timeout, 1);
    // Packets of an existing state are never held.
    let ack = from_client(seg(40000, 80, 1001, 5001, ACK, 0));
    assert_eq!(
        run(&mut f, Instant::from_millis(30), LAN, ack).tx[WAN].len(),
        1
    );
}

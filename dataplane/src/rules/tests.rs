#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;

const LAN: usize = 0;
const WAN: usize = 1;
const DMZ: usize = 2;

fn opts() -> RulesetOptions {
    RulesetOptions::new(3)
}

fn net4(s: &str) -> Ipv4Net {
    let (a, p) = s.split_once('/').unwrap();
    Ipv4Net::new(a.parse().unwrap(), p.parse().unwrap()).unwrap()
}

fn net6(s: &str) -> Ipv6Net {
    let (a, p) = s.split_once('/').unwrap();
    Ipv6Net::new(a.parse().unwrap(), p.parse().unwrap()).unwrap()
}

fn nets4(list: &[&str]) -> AddrSpec {
    AddrSpec::Nets {
        v4: Some(list.iter().map(|s| net4(s)).collect()),
        v6: None,
        negate: false,
    }
}

fn id(index: u32) -> RuleIndex {
    RuleIndex {
        index,
        tracker: 1000 + index,
    }
}

fn rule(index: u32, action: RuleAction, port: usize) -> RuleSpec {
    RuleSpec::new(id(index), action, vec![port])
}

fn floating(index: u32, action: RuleAction, quick: bool, direction: RuleDirection) -> RuleSpec {
    RuleSpec {
        floating: true,
        quick,
        direction,
        interfaces: Interfaces::Any,
        ..RuleSpec::new(id(index), action, vec![])
    }
}

fn tcp(port: usize, src: &str, dst: &str, dport: u16) -> PacketMeta {
    PacketMeta {
        port,
        direction: Direction::In,
        proto: 6,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        src_port: 40000,
        dst_port: dport,
        icmp_type: 0,
        tcp_flags: TCP_SYN,
    }
}

fn udp(port: usize, src: &str, dst: &str, dport: u16) -> PacketMeta {
    PacketMeta {
        proto: 17,
        tcp_flags: 0,
        ..tcp(port, src, dst, dport)
    }
}

fn icmp(port: usize, src: &str, dst: &str, icmp_type: u8) -> PacketMeta {
    let v6 = src.contains(':');
    PacketMeta {
        proto: if v6 { 58 } else { 1 },
        src_port: 0,
        dst_port: 0,
        icmp_type,
        tcp_flags: 0,
        ..tcp(port, src, dst, 0)
    }
}

fn out(mut p: PacketMeta) -> PacketMeta {
    p.direction = Direction::Out;
    p
}

/// Evaluates with the index, checks the reference agrees, returns the verdict.
fn eval(rules: &[RuleSpec], p: &PacketMeta) -> Verdict {
    let rs = Ruleset::compile(rules.to_vec(), &opts()).unwrap();
    let v = rs.evaluate(p);
    assert_eq!(
        v,
        linear_evaluate(rules, &opts(), p),
        "index and reference differ for {p:?}"
    );
    v
}

fn decided_by(rules: &[RuleSpec], p: &PacketMeta) -> Option<u32> {
    eval(rules, p).rule.map(|r| r.index)
}

#[test]
fn test_defaults_deny_in_pass_out() {
    let v = eval(&[], &tcp(LAN, "10.0.0.5", "8.8.8.8", 443));
    assert_eq!(v.action, Action::Block);
    assert_eq!((v.rule, v.log, v.reject), (None, true, false));
    let v = eval(&[], &out(tcp(WAN, "10.0.0.5", "8.8.8.8", 443)));
    assert_eq!(
        (v.action, v.state_type, v.log),
        (Action::Pass, StateType::Keep, false)
    );
    // pass out keep state has flags S/SA: a stateless mid-stream segment is blocked out.
    let mut ack = out(tcp(WAN, "10.0.0.5", "8.8.8.8", 443));
    ack.tcp_flags = TCP_ACK;
    assert_eq!(eval(&[], &ack).action, Action::Block);
    assert_eq!(
        eval(&[], &out(udp(WAN, "10.0.0.5", "8.8.8.8", 53))).action,
        Action::Pass
    );
    // Options change the logging of the defaults.
    let quiet = RulesetOptions {
        log_default_block: false,
        log_default_pass: true,
        ..opts()
    };
    let rs = Ruleset::empty(&quiet);
    assert!(!rs.evaluate(&tcp(LAN, "10.0.0.5", "8.8.8.8", 443)).log);
    assert!(rs.evaluate(&out(udp(WAN, "10.0.0.5", "8.8.8.8", 53))).log);
    // A port the ruleset does not know gets the default.
    let rules = [RuleSpec {
        interfaces: Interfaces::Any,
        ..rule(0, RuleAction::Pass, LAN)
    }];
    assert_eq!(
        decided_by(&rules, &tcp(7, "10.0.0.5", "8.8.8.8", 443)),
        None
    );
}

#[test]
fn test_interface_rules_first_match_inbound_only() {
    let rules = [
        RuleSpec {
            dst: nets4(&["10.0.2.0/24"]),
            ..rule(0, RuleAction::Block, LAN)
        },
        rule(1, RuleAction::Pass, LAN),
        rule(2, RuleAction::Block, LAN),
        rule(3, RuleAction::Pass, WAN),
    ];
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.0.0.5", "10.0.2.9", 22)),
        Some(0)
    );
    let v = eval(&rules, &tcp(LAN, "10.0.0.5", "8.8.8.8", 22));
    assert_eq!(
        (v.rule, v.action, v.state_type),
        (Some(id(1)), Action::Pass, StateType::Keep)
    );
    assert_eq!(
        decided_by(&rules, &tcp(WAN, "1.2.3.4", "10.0.0.5", 22)),
        Some(3)
    );
    assert_eq!(
        decided_by(&rules, &tcp(DMZ, "10.0.2.9", "10.0.0.5", 22)),
        None
    );
    // Interface rules never see outbound packets: the default pass out decides.
    let v = eval(&rules, &out(tcp(LAN, "8.8.8.8", "10.0.0.5", 22)));
    assert_eq!((v.rule, v.action), (None, Action::Pass));
}

#[test]
fn test_floating_quick_beats_interface_rules() {
    let rules = [
        rule(0, RuleAction::Pass, LAN),
        RuleSpec {
            proto: ProtoSpec::Tcp,
            dst_ports: vec![PortRange::single(23)],
            ..floating(1, RuleAction::Block, true, RuleDirection::Any)
        },
    ];
    // Config order puts the floating rule second; it is still evaluated first.
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.0.0.5", "10.0.2.9", 23)),
        Some(1)
    );
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.0.0.5", "10.0.2.9", 22)),
        Some(0)
    );
    let rs = Ruleset::compile(rules.to_vec(), &opts()).unwrap();
    assert_eq!(rs.rules()[0].id, id(1));
    assert_eq!(rs.rule_count(), 2);
    // Direction any: it blocks outbound telnet on every port too.
    assert_eq!(
        decided_by(&rules, &out(tcp(WAN, "10.0.0.5", "1.2.3.4", 23))),
        Some(1)
    );
}

#[test]
fn test_floating_non_quick_is_overridden_by_later_matches() {
    let soft_block = RuleSpec {
        proto: ProtoSpec::Tcp,
        dst_ports: vec![PortRange::single(445)],
        ..floating(0, RuleAction::Block, false, RuleDirection::Any)
    };
    let pass_dmz = RuleSpec {
        dst: nets4(&["10.10.20.0/24"]),
        ..rule(1, RuleAction::Pass, LAN)
    };
    let rules = [soft_block.clone(), pass_dmz];
    // The interface rule matches later and, being quick, decides.
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "192.168.1.5", "10.10.20.9", 445)),
        Some(1)
    );
    // No interface rule matches: the remembered non-quick floating block decides.
    let v = eval(&rules, &tcp(LAN, "192.168.1.5", "8.8.8.8", 445));
    assert_eq!((v.rule, v.action), (Some(id(0)), Action::Block));
    // Outbound, the non-quick floating block beats the default pass out.
    assert_eq!(
        decided_by(&rules, &out(tcp(WAN, "10.0.0.5", "1.2.3.4", 445))),
        Some(0)
    );
    // Among non-quick floating rules the last match wins.
    let soft_pass = RuleSpec {
        proto: ProtoSpec::Tcp,
        ..floating(2, RuleAction::Pass, false, RuleDirection::Out)
    };
    let rules = [soft_block, soft_pass];
    assert_eq!(
        decided_by(&rules, &out(tcp(WAN, "10.0.0.5", "1.2.3.4", 445))),
        Some(2)
    );
    assert_eq!(
        decided_by(&rules, &tcp(WAN, "1.2.3.4", "10.0.0.5", 445)),
        Some(0)
    );
}

#[test]
fn test_match_rules_never_decide() {
    let remembered = floating(0, RuleAction::Pass, false, RuleDirection::In);
    let soft_match = floating(1, RuleAction::Match, false, RuleDirection::In);
    let quick_match = RuleSpec {
        proto: ProtoSpec::Udp,
        ..floating(2, RuleAction::Match, true, RuleDirection::In)
    };
    let block_lan = rule(3, RuleAction::Block, LAN);
    let rules = [remembered, soft_match, quick_match, block_lan];
    // A non-quick match rule is skipped; the quick interface block decides.
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.0.0.5", "1.2.3.4", 80)),
        Some(3)
    );
    // A quick match rule ends evaluation: the remembered pass decides, the block is never seen.
    let v = eval(&rules, &udp(LAN, "10.0.0.5", "1.2.3.4", 53));
    assert_eq!((v.rule, v.action), (Some(id(0)), Action::Pass));
    // Only match rules matched: the default.
    let rules = [floating(0, RuleAction::Match, true, RuleDirection::Any)];
    assert_eq!(
        eval(&rules, &tcp(LAN, "10.0.0.5", "1.2.3.4", 80)).rule,
        None
    );
}

#[test]
fn test_not_and_addresses() {
    let rules = [RuleSpec {
        src: AddrSpec::Nets {
            v4: Some(vec![net4("192.168.1.0/24")]),
            v6: None,
            negate: true,
        },
        ..rule(0, RuleAction::Block, LAN)
    }];
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.9.9.9", "1.2.3.4", 80)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "192.168.1.7", "1.2.3.4", 80)),
        None
    );
    // Host routes and overlapping networks.
    let rules = [
        RuleSpec {
            dst: nets4(&["10.0.0.7/32", "10.0.1.0/24"]),
            ..rule(0, RuleAction::Pass, LAN)
        },
        RuleSpec {
            dst: nets4(&["10.0.0.0/16"]),
            ..rule(1, RuleAction::Reject, LAN)
        },
    ];
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "1.1.1.1", "10.0.0.7", 80)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "1.1.1.1", "10.0.1.255", 80)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "1.1.1.1", "10.0.0.8", 80)),
        Some(1)
    );
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "1.1.1.1", "10.1.0.0", 80)),
        None
    );
}

#[test]
fn test_reject_is_block_with_flag() {
    let rules = [rule(0, RuleAction::Reject, LAN)];
    let v = eval(&rules, &udp(LAN, "10.0.0.5", "1.2.3.4", 53));
    assert_eq!(
        (v.action, v.reject, v.state_type),
        (Action::Block, true, StateType::None)
    );
    let rules = [rule(0, RuleAction::Block, LAN)];
    assert!(!eval(&rules, &udp(LAN, "10.0.0.5", "1.2.3.4", 53)).reject);
}

#[test]
fn test_port_ranges() {
    let rules = [
        RuleSpec {
            proto: ProtoSpec::TcpUdp,
            dst_ports: vec![
                PortRange {
                    first: 1000,
                    last: 2000,
                },
                PortRange::single(443),
            ],
            ..rule(0, RuleAction::Pass, WAN)
        },
        RuleSpec {
            proto: ProtoSpec::Tcp,
            src_ports: vec![PortRange {
                first: 0,
                last: 1023,
            }],
            ..rule(1, RuleAction::Block, WAN)
        },
    ];
    for (dport, expect) in [
        (999, None),
        (1000, Some(0)),
        (2000, Some(0)),
        (2001, None),
        (443, Some(0)),
    ] {
        assert_eq!(
            decided_by(&rules, &udp(WAN, "1.2.3.4", "10.0.0.5", dport)),
            expect,
            "{dport}"
        );
    }
    let mut low = tcp(WAN, "1.2.3.4", "10.0.0.5", 22);
    low.src_port = 80;
    assert_eq!(decided_by(&rules, &low), Some(1));
    // A rule with ports only matches TCP and UDP.
    let rules = [RuleSpec {
        dst_ports: vec![PortRange::single(0)],
        ..rule(0, RuleAction::Pass, WAN)
    }];
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "1.2.3.4", "10.0.0.5", 8)),
        None
    );
    assert_eq!(
        decided_by(&rules, &udp(WAN, "1.2.3.4", "10.0.0.5", 0)),
        Some(0)
    );
}

#[test]
fn test_families_and_inet46() {
    let both = RuleSpec {
        families: IpFamilies::Both,
        ..rule(0, RuleAction::Pass, LAN)
    };
    assert_eq!(
        decided_by(
            std::slice::from_ref(&both),
            &tcp(LAN, "10.0.0.5", "1.2.3.4", 80)
        ),
        Some(0)
    );
    assert_eq!(
        decided_by(
            std::slice::from_ref(&both),
            &tcp(LAN, "2001:db8::5", "2001:db8:1::1", 80)
        ),
        Some(0)
    );
    let v4_only = rule(0, RuleAction::Pass, LAN);
    assert_eq!(
        decided_by(&[v4_only], &tcp(LAN, "2001:db8::5", "2001:db8:1::1", 80)),
        None
    );
    // An IPv4 literal in an inet46 rule never matches IPv6, even negated.
    let literal = RuleSpec {
        dst: AddrSpec::Nets {
            v4: Some(vec![net4("10.0.0.1/32")]),
            v6: None,
            negate: true,
        },
        ..both.clone()
    };
    assert_eq!(
        decided_by(
            std::slice::from_ref(&literal),
            &tcp(LAN, "10.0.0.5", "10.0.0.2", 80)
        ),
        Some(0)
    );
    assert_eq!(
        decided_by(&[literal], &tcp(LAN, "2001:db8::5", "2001:db8::1", 80)),
        None
    );
    // An alias (a pf table) with only IPv4 members: `! <alias>` matches every IPv6 packet.
    let table = RuleSpec {
        dst: AddrSpec::Nets {
            v4: Some(vec![net4("10.0.0.1/32")]),
            v6: Some(vec![]),
            negate: true,
        },
        ..both.clone()
    };
    assert_eq!(
        decided_by(
            std::slice::from_ref(&table),
            &tcp(LAN, "2001:db8::5", "2001:db8::1", 80)
        ),
        Some(0)
    );
    assert_eq!(
        decided_by(&[table], &tcp(LAN, "10.0.0.5", "10.0.0.1", 80)),
        None
    );
    // IPv6 networks.
    let v6net = RuleSpec {
        families: IpFamilies::V6,
        src: AddrSpec::Nets {
            v4: None,
            v6: Some(vec![net6("2001:db8::/64")]),
            negate: false,
        },
        ..rule(0, RuleAction::Block, LAN)
    };
    assert_eq!(
        decided_by(
            std::slice::from_ref(&v6net),
            &tcp(LAN, "2001:db8::5", "2001:db8:1::1", 80)
        ),
        Some(0)
    );
    assert_eq!(
        decided_by(&[v6net], &tcp(LAN, "2001:db8:2::5", "2001:db8:1::1", 80)),
        None
    );
    // Mixed-family metadata matches nothing.
    let mixed = PacketMeta {
        dst: IpAddr::V6(Ipv6Addr::LOCALHOST),
        ..tcp(LAN, "10.0.0.5", "1.2.3.4", 80)
    };
    assert_eq!(decided_by(&[both], &mixed), None);
}

#[test]
fn test_icmp_types() {
    let rules = [RuleSpec {
        families: IpFamilies::Both,
        proto: ProtoSpec::Icmp {
            v4: IcmpMatch::Types(vec![8, 0]),
            v6: IcmpMatch::Types(vec![128]),
        },
        ..rule(0, RuleAction::Pass, WAN)
    }];
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "1.2.3.4", "10.0.0.5", 8)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "1.2.3.4", "10.0.0.5", 3)),
        None
    );
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "2001:db8::1", "2001:db8::2", 128)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "2001:db8::1", "2001:db8::2", 8)),
        None
    );
    // ICMP for IPv4 only: no ICMPv6 at all.
    let rules = [RuleSpec {
        families: IpFamilies::Both,
        proto: ProtoSpec::Icmp {
            v4: IcmpMatch::Any,
            v6: IcmpMatch::None,
        },
        ..rule(0, RuleAction::Pass, WAN)
    }];
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "1.2.3.4", "10.0.0.5", 13)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &icmp(WAN, "2001:db8::1", "2001:db8::2", 128)),
        None
    );
    // Other protocols by number.
    let rules = [RuleSpec {
        proto: ProtoSpec::Number(47),
        ..rule(0, RuleAction::Pass, WAN)
    }];
    let gre = PacketMeta {
        proto: 47,
        ..icmp(WAN, "1.2.3.4", "10.0.0.5", 0)
    };
    assert_eq!(decided_by(&rules, &gre), Some(0));
    assert_eq!(decided_by(&rules, &PacketMeta { proto: 50, ..gre }), None);
}

#[test]
fn test_disabled_rules_are_dropped() {
    let rules = [
        RuleSpec {
            disabled: true,
            ..rule(0, RuleAction::Block, LAN)
        },
        rule(1, RuleAction::Pass, LAN),
    ];
    assert_eq!(
        decided_by(&rules, &tcp(LAN, "10.0.0.5", "1.2.3.4", 80)),
        Some(1)
    );
    let rs = Ruleset::compile(rules.to_vec(), &opts()).unwrap();
    assert_eq!(rs.len(), 1);
}

#[test]
fn test_tcp_flags() {
    let rules = [RuleSpec {
        tcp_flags: Some(TcpFlagsMatch::SYN_ONLY),
        families: IpFamilies::Both,
        ..rule(0, RuleAction::Pass, LAN)
    }];
    let syn = tcp(LAN, "10.0.0.5", "1.2.3.4", 80);
    assert_eq!(decided_by(&rules, &syn), Some(0));
    let synack = PacketMeta {
        tcp_flags: TCP_SYN | TCP_ACK,
        ..syn
    };
    assert_eq!(decided_by(&rules, &synack), None);
    // The flags test is for TCP only.
    assert_eq!(
        decided_by(&rules, &udp(LAN, "10.0.0.5", "1.2.3.4", 53)),
        Some(0)
    );
}

#[test]
fn test_compile_errors() {
    let bad_port = vec![rule(0, RuleAction::Pass, 3)];
    assert_eq!(
        Ruleset::compile(bad_port, &opts()).unwrap_err(),
        RuleError::PortOutOfRange {
            rule: id(0),
            port: 3,
            ports: 3
        }
    );
    let bad_range = vec![RuleSpec {
        dst_ports: vec![PortRange { first: 9, last: 8 }],
        ..rule(0, RuleAction::Pass, LAN)
    }];
    assert!(matches!(
        Ruleset::compile(bad_range, &opts()),
        Err(RuleError::BadPortRange {
            first: 9,
            last: 8,
            ..
        })
    ));
    assert_eq!(
        Ipv6Net::new(Ipv6Addr::LOCALHOST, 129),
        Err(RuleError::BadPrefix(129))
    );
}

#[test]
fn test_identical_buckets_are_shared() {
    let rules: Vec<RuleSpec> = (0..10)
        .map(|i| RuleSpec {
            interfaces: Interfaces::Any,
            floating: true,
            direction: RuleDirection::Any,
            proto: ProtoSpec::Tcp,
            dst: nets4(&["10.0.0.0/8"]),
            ..rule(i, RuleAction::Pass, LAN)
        })
        .collect();
    let rs = Ruleset::compile(rules, &opts()).unwrap();
    // Every (port, direction) TCP4 slot holds the same ten rules: one bucket.
    assert_eq!(rs.buckets(), 1);
    assert!(rs.memory_bytes() > 0);
}

#[test]
fn test_many_rules_cross_word_boundaries() {
    // 200 host rules: the match sits in the fourth bitset word.
    let mut rules: Vec<RuleSpec> = (0..200)
        .map(|i| RuleSpec {
            dst: nets4(&[&format!("10.0.{}.{}/32", i / 100, i % 100)]),
            proto: ProtoSpec::Tcp,
            ..rule(i, RuleAction::Pass, WAN)
        })
        .collect();
    rules.push(rule(200, RuleAction::Block, WAN));
    assert_eq!(
        decided_by(&rules, &tcp(WAN, "1.2.3.4", "10.0.1.99", 80)),
        Some(199)
    );
    assert_eq!(
        decided_by(&rules, &tcp(WAN, "1.2.3.4", "10.0.0.0", 80)),
        Some(0)
    );
    assert_eq!(
        decided_by(&rules, &tcp(WAN, "1.2.3.4", "10.0.2.0", 80)),
        Some(200)
    );
}

// ------------------------------------------------------------------ property test

/// Addresses near one another so that generated networks overlap and packets hit them.
const V4_POOL: &[[u8; 4]] = &[
    [10, 0, 0, 0],
    [10, 0, 0, 1],
    [10, 0, 0, 2],
    [10, 0, 0, 255],
    [10, 0, 1, 5],
    [10, 1, 0, 0],
    [192, 168, 1, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
];
const V6_POOL: &[&str] = &[
    "2001:db8::",
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8:0:1::5",
    "fe80::1",
    "::",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
];
const PORTS: &[u16] = &[0, 1, 5, 19, 20, 53, 443, 1024, 65534, 65535];
const PROTOS: &[u8] = &[1, 6, 17, 47, 58, 50];
const ICMP_TYPES: &[u8] = &[0, 1, 3, 8, 128, 129];

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    prop::sample::select(V4_POOL).prop_map(Ipv4Addr::from)
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop::sample::select(V6_POOL).prop_map(|s| s.parse().unwrap())
}

fn v4_net() -> impl Strategy<Value = Ipv4Net> {
    (v4_addr(), prop_oneof![Just(0u8), 8u8..=32, Just(32u8)])
        .prop_map(|(a, p)| Ipv4Net::new(a, p).unwrap())
}

fn v6_net() -> impl Strategy<Value = Ipv6Net> {
    (v6_addr(), prop_oneof![Just(0u8), 16u8..=128, Just(128u8)])
        .prop_map(|(a, p)| Ipv6Net::new(a, p).unwrap())
}

fn addr_spec() -> impl Strategy<Value = AddrSpec> {
    prop_oneof![
        2 => Just(AddrSpec::Any),
        3 => (
            prop::option::weighted(0.8, prop::collection::vec(v4_net(), 0..3)),
            prop::option::weighted(0.6, prop::collection::vec(v6_net(), 0..3)),
            prop::bool::weighted(0.3),
        )
            .prop_map(|(v4, v6, negate)| AddrSpec::Nets { v4, v6, negate }),
    ]
}

fn port_ranges() -> impl Strategy<Value = Vec<PortRange>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => prop::collection::vec(
            (prop::sample::select(PORTS), prop::sample::select(PORTS)).prop_map(|(a, b)| {
                PortRange { first: a.min(b), last: a.max(b) }
            }),
            1..3
        ),
    ]
}

fn icmp_match() -> impl Strategy<Value = IcmpMatch> {
    prop_oneof![
        Just(IcmpMatch::None),
        Just(IcmpMatch::Any),
        prop::collection::vec(prop::sample::select(ICMP_TYPES), 0..3).prop_map(IcmpMatch::Types),
    ]
}

fn proto_spec() -> impl Strategy<Value = ProtoSpec> {
    prop_oneof![
        3 => Just(ProtoSpec::Any),
        2 => Just(ProtoSpec::Tcp),
        1 => Just(ProtoSpec::Udp),
        1 => Just(ProtoSpec::TcpUdp),
        1 => (icmp_match(), icmp_match()).prop_map(|(v4, v6)| ProtoSpec::Icmp { v4, v6 }),
        1 => prop::sample::select(PROTOS).prop_map(ProtoSpec::Number),
    ]
}

fn tcp_flags() -> impl Strategy<Value = Option<TcpFlagsMatch>> {
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(TcpFlagsMatch::SYN_ONLY)),
        1 => (any::<u8>(), any::<u8>())
            .prop_map(|(f, m)| Some(TcpFlagsMatch { flags: f & m, mask: m })),
    ]
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    let head = (
        prop::sample::select(
            &[
                RuleAction::Pass,
                RuleAction::Block,
                RuleAction::Reject,
                RuleAction::Match,
            ][..],
        ),
        prop_oneof![
            1 => Just(Interfaces::Any),
            4 => prop::collection::vec(0usize..3, 0..3).prop_map(Interfaces::Ports),
        ],
        any::<bool>(),
        prop::sample::select(&[RuleDirection::In, RuleDirection::Out, RuleDirection::Any][..]),
        any::<bool>(),
        prop::sample::select(&[IpFamilies::V4, IpFamilies::V6, IpFamilies::Both][..]),
        prop::bool::weighted(0.1),
    );
    let body = (
        proto_spec(),
        addr_spec(),
        addr_spec(),
        port_ranges(),
        port_ranges(),
        tcp_flags(),
        prop::sample::select(
            &[
                StateType::Keep,
                StateType::Sloppy,
                StateType::Synproxy,
                StateType::None,
            ][..],
        ),
        any::<bool>(),
    );
    (head, body).prop_map(
        |(
            (action, interfaces, floating, direction, quick, families, disabled),
            (proto, src, dst, src_ports, dst_ports, tcp_flags, state_type, log),
        )| RuleSpec {
            id: RuleIndex::default(),
            action,
            interfaces,
            floating,
            direction,
            quick,
            families,
            proto,
            src,
            dst,
            src_ports,
            dst_ports,
            tcp_flags,
            state_type,
            log,
            disabled,
        },
    )
}

fn packet() -> impl Strategy<Value = PacketMeta> {
    let addrs = prop_oneof![
        (v4_addr(), v4_addr()).prop_map(|(s, d)| (IpAddr::V4(s), IpAddr::V4(d))),
        (v6_addr(), v6_addr()).prop_map(|(s, d)| (IpAddr::V6(s), IpAddr::V6(d))),
    ];
    (
        0usize..4,
        any::<bool>(),
        prop::sample::select(PROTOS),
        addrs,
        prop::sample::select(PORTS),
        prop::sample::select(PORTS),
        prop::sample::select(ICMP_TYPES),
        prop_oneof![
            Just(TCP_SYN),
            Just(TCP_SYN | TCP_ACK),
            Just(TCP_ACK),
            any::<u8>()
        ],
    )
        .prop_map(
            |(port, outbound, proto, (src, dst), sp, dp, icmp_type, flags)| PacketMeta {
                port,
                direction: if outbound {
                    Direction::Out
                } else {
                    Direction::In
                },
                proto,
                src,
                dst,
                src_port: sp,
                dst_port: dp,
                icmp_type,
                tcp_flags: flags,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The key property: the index decides exactly as a plain linear scan.
    #[test]
    fn prop_index_equals_linear_scan(
        mut rules in prop::collection::vec(rule_spec(), 0..=50),
        packets in prop::collection::vec(packet(), 64),
    ) {
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = RuleIndex { index: i as u32, tracker: 5000 + i as u32 };
        }
        let options = opts();
        let rs = Ruleset::compile(rules.clone(), &options).unwrap();
        for p in &packets {
            prop_assert_eq!(rs.evaluate(p), linear_evaluate(&rules, &options, p), "packet {:?}", p);
        }
    }
}

/// The generators are not vacuous: rules decide a good share of the generated packets, and
/// quick, remembered and default outcomes all occur.
#[test]
fn test_property_generators_exercise_rules() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let (mut decided, mut total, mut quick, mut remembered) = (0, 0, 0, 0);
    for _ in 0..100 {
        let mut rules = prop::collection::vec(rule_spec(), 50)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = RuleIndex {
                index: i as u32,
                tracker: i as u32,
            };
        }
        let rs = Ruleset::compile(rules.clone(), &opts()).unwrap();
        for _ in 0..50 {
            let p = packet().new_tree(&mut runner).unwrap().current();
            let v = rs.evaluate(&p);
            total += 1;
            if let Some(r) = v.rule {
                decided += 1;
                if rules[r.index as usize].quick {
                    quick += 1;
                } else {
                    remembered += 1;
                }
            }
        }
    }
    assert!(
        decided * 4 > total,
        "{decided} of {total} decided by a rule"
    );
    assert!(
        quick > 100 && remembered > 100,
        "quick {quick}, remembered {remembered}"
    );
}

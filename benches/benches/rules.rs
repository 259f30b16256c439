//! ns per rule evaluation over a 1,000-rule pfSense-style ruleset: the compiled index
//! (`Ruleset::evaluate`) against the linear reference scan (`linear_evaluate`), for packets
//! decided by an early rule, a late rule, no rule (default deny), plus an outbound packet and a
//! floating-rule hit.
//!
//! The ruleset: 8 ports; 40 floating rules (quick and not, in/out/any, on all or some ports,
//! blocking abusive hosts and SMB/telnet, ICMP); 120 interface rules per port, each to its own
//! destination — host, /24 network or a 3-host alias — with TCP single ports, ranges and port
//! lists, UDP and TCP/UDP, some with source networks or negated sources, some `inet46` with
//! IPv6 networks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // test code: failures should panic

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_dataplane::route::Ipv4Net;
use rampart_dataplane::rules::{
    AddrSpec, Direction, IcmpMatch, Interfaces, IpFamilies, Ipv6Net, PacketMeta, PortRange,
    ProtoSpec, RuleAction, RuleDirection, RuleIndex, RuleSpec, Ruleset, RulesetOptions, TCP_SYN,
    TcpFlagsMatch, linear_evaluate,
};

const PORTS: usize = 8;
const FLOATING: usize = 40;
const PER_PORT: usize = 120;

fn v4(a: [u8; 4], len: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(a), len).unwrap()
}

fn nets(list: Vec<Ipv4Net>, negate: bool) -> AddrSpec {
    AddrSpec::Nets {
        v4: Some(list),
        v6: None,
        negate,
    }
}

fn base(index: usize, action: RuleAction, interfaces: Interfaces) -> RuleSpec {
    RuleSpec {
        interfaces,
        tcp_flags: (action == RuleAction::Pass).then_some(TcpFlagsMatch::SYN_ONLY),
        ..RuleSpec::new(
            RuleIndex {
                index: index as u32,
                tracker: 1_700_000_000 + index as u32,
            },
            action,
            Vec::new(),
        )
    }
}

fn floating_rules() -> Vec<RuleSpec> {
    (0..FLOATING)
        .map(|k| {
            let interfaces = if k % 3 == 0 {
                Interfaces::Any
            } else {
                Interfaces::Ports(vec![k % PORTS, (k + 3) % PORTS])
            };
            let mut r = base(k, RuleAction::Block, interfaces);
            r.floating = true;
            r.quick = k % 2 == 0;
            r.direction = [RuleDirection::Any, RuleDirection::In, RuleDirection::Out][k % 3];
            match k % 4 {
                // Abusive hosts, quick.
                0 => r.src = nets(vec![v4([203, 0, 113, k as u8], 32)], false),
                // SMB and telnet, soft.
                1 => {
                    r.proto = ProtoSpec::Tcp;
                    r.dst_ports = vec![PortRange::single(445), PortRange::single(23)];
                }
                // Scanners' networks.
                2 => {
                    r.families = IpFamilies::Both;
                    r.src = AddrSpec::Nets {
                        v4: Some(vec![v4([198, 51, k as u8, 0], 24)]),
                        v6: Some(vec![
                            Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, k as u16, 0, 0, 0, 0, 0), 48)
                                .unwrap(),
                        ]),
                        negate: false,
                    };
                }
                // ICMP types.
                _ => {
                    r.action = RuleAction::Pass;
                    r.proto = ProtoSpec::Icmp {
                        v4: IcmpMatch::Types(vec![0, 3, 8, 11]),
                        v6: IcmpMatch::None,
                    };
                }
            }
            r
        })
        .collect()
}

fn interface_rules() -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    for p in 0..PORTS {
        for i in 0..PER_PORT {
            let index = FLOATING + p * PER_PORT + i;
            let action = if i % 5 == 4 {
                RuleAction::Block
            } else {
                RuleAction::Pass
            };
            let mut r = base(index, action, Interfaces::Ports(vec![p]));
            let (p8, i8) = (p as u8, i as u8);
            r.dst = match i % 3 {
                0 => nets(vec![v4([10, p8, i8, 0], 24)], false),
                1 => nets(vec![v4([10, p8, i8, 5], 32)], false),
                _ => nets((10..13).map(|h| v4([10, p8, i8, h], 32)).collect(), false),
            };
            if i % 7 == 3 {
                r.src = nets(vec![v4([172, 16, 0, 0], 12)], false);
            } else if i % 11 == 5 {
                r.src = nets(vec![v4([192, 0, 2, 0], 24)], true);
            }
            match i % 4 {
                0 => {
                    r.proto = ProtoSpec::Tcp;
                    r.dst_ports = vec![PortRange::single(1000 + i as u16)];
                }
                1 => {
                    r.proto = ProtoSpec::Tcp;
                    let first = 2000 + 10 * i as u16;
                    r.dst_ports = vec![PortRange {
                        first,
                        last: first + 9,
                    }];
                }
                2 => {
                    r.proto = ProtoSpec::TcpUdp;
                    r.dst_ports = vec![
                        PortRange::single(80),
                        PortRange::single(443),
                        PortRange::single(8080),
                    ];
                }
                _ => r.proto = ProtoSpec::Udp,
            }
            if i % 13 == 6 {
                r.families = IpFamilies::Both;
                r.dst = AddrSpec::Nets {
                    v4: Some(vec![v4([10, p8, i8, 0], 24)]),
                    v6: Some(vec![
                        Ipv6Net::new(
                            Ipv6Addr::new(0x2001, 0xdb8, 0x100 + p as u16, i as u16, 0, 0, 0, 0),
                            64,
                        )
                        .unwrap(),
                    ]),
                    negate: false,
                };
            }
            rules.push(r);
        }
    }
    rules
}

fn tcp(port: usize, src: [u8; 4], dst: [u8; 4], dport: u16) -> PacketMeta {
    PacketMeta {
        port,
        direction: Direction::In,
        proto: 6,
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        src_port: 50000,
        dst_port: dport,
        icmp_type: 0,
        tcp_flags: TCP_SYN,
    }
}

fn bench_rules(c: &mut Criterion) {
    let mut specs = floating_rules();
    specs.extend(interface_rules());
    assert_eq!(specs.len(), 1000);
    let options = RulesetOptions::new(PORTS);
    let ruleset = Ruleset::compile(specs.clone(), &options).unwrap();
    eprintln!(
        "1000 rules: {} buckets, {} KiB of index",
        ruleset.buckets(),
        ruleset.memory_bytes() / 1024
    );

    let port = 3;
    let first = FLOATING + port * PER_PORT;
    let last = first + PER_PORT - 1; // i = 119: i % 3 == 2 (alias), i % 4 == 3 (udp)
    let mut late = tcp(port, [10, 9, 9, 9], [10, port as u8, 119, 11], 53);
    late.proto = 17;
    late.tcp_flags = 0;
    let cases = [
        (
            "early",
            tcp(port, [10, 9, 9, 9], [10, port as u8, 0, 77], 1000),
            Some(first),
        ),
        ("late", late, Some(last)),
        (
            "none",
            tcp(port, [10, 9, 9, 9], [10, 200, 0, 1], 9999),
            None,
        ),
        (
            "floating",
            tcp(port, [203, 0, 113, 12], [10, port as u8, 0, 77], 1000),
            Some(12),
        ),
        (
            "outbound",
            PacketMeta {
                direction: Direction::Out,
                ..tcp(port, [10, 9, 9, 9], [10, 200, 0, 1], 9999)
            },
            None,
        ),
    ];
    for (name, packet, expect) in &cases {
        let v = ruleset.evaluate(packet);
        assert_eq!(v, linear_evaluate(&specs, &options, packet), "{name}");
        assert_eq!(v.rule.map(|r| r.index as usize), *expect, "{name}");
    }

    let mut group = c.benchmark_group("rules_1000");
    group.measurement_time(Duration::from_secs(3));
    for (name, packet, _) in &cases {
        group.bench_function(format!("indexed/{name}"), |b| {
            b.iter(|| ruleset.evaluate(black_box(packet)));
        });
        group.bench_function(format!("linear/{name}"), |b| {
            b.iter(|| linear_evaluate(&specs, &options, black_box(packet)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rules_1000_compile");
    group.sample_size(10);
    group.bench_function("compile", |b| {
        b.iter(|| Ruleset::compile(black_box(specs.clone()), &options).unwrap());
    });
    group.finish();
}

criterion_group!(benches, bench_rules);
criterion_main!(benches);

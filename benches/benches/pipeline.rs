//! The whole stateful path per packet, without DPDK: the forwarder with its firewall (1,000
//! rules, 1,000,000 states = 500,000 TCP connections × pf's two states) forwarding established
//! 64-byte TCP segments of random connections, 32 packets a burst. Each packet is parsed,
//! looked up and tracked inbound on the LAN and outbound on the WAN, routed, and rewritten:
//! packet by packet (`Forwarder::process`) and staged over the burst
//! (`Forwarder::process_burst`, what the workers run).
//! The burst's frames are copied from templates outside the measurement.
//! Criterion reports throughput in packets; ns/packet = 1e9 / (packets per second).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // test code: failures should panic

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::firewall::{Firewall, FirewallSettings};
use rampart_dataplane::forward::{Forwarder, Output, PortSetup};
use rampart_dataplane::neighbour::NeighbourLimits;
use rampart_dataplane::route::{Ipv4Net, RouteTable};
use rampart_dataplane::rules::{
    AddrSpec, PortRange, ProtoSpec, RuleAction, RuleIndex, RuleSpec, Ruleset, RulesetOptions,
};
use rampart_dataplane::state::Timeouts;
use rampart_dataplane::testkit::{Hosts, Segment, arp_frame, tcp_frame};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::tcp::flag::{ACK, SYN};
use rampart_dataplane::wire::{ArpOperation, MacAddr};

const BURST: usize = 32;
/// Connections loaded (two states each); `PIPELINE_CONNECTIONS` overrides it, e.g. to see
/// the cost without cache misses.
fn connections() -> usize {
    std::env::var("PIPELINE_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500_000)
}
const RULES: usize = 1_000;
const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const WAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 1]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 10]);
const GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 20);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// 999 rules that never match established traffic's port, then "pass LAN to 443".
fn ruleset() -> Arc<Ruleset> {
    let mut rules = Vec::with_capacity(RULES);
    for i in 0..RULES {
        let mut rule = RuleSpec::new(
            RuleIndex {
                index: i as u32,
                tracker: i as u32,
            },
            if i + 1 == RULES {
                RuleAction::Pass
            } else {
                RuleAction::Block
            },
            vec![0],
        );
        rule.proto = ProtoSpec::Tcp;
        rule.src = AddrSpec::Nets {
            v4: Some(vec![Ipv4Net::new(LAN_IP, 16).unwrap()]),
            v6: None,
            negate: false,
        };
        let port = if i + 1 == RULES { 443 } else { 1000 + i as u16 };
        rule.dst_ports = vec![PortRange::single(port)];
        rules.push(rule);
    }
    Arc::new(Ruleset::compile(rules, &RulesetOptions::new(2)).unwrap())
}

fn forwarder() -> Forwarder<Vec<u8>> {
    let ports = [
        PortSetup {
            name: "lan".into(),
            mac: LAN_MAC,
            addr: Some((LAN_IP, 16)),
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
    let connected = [
        (Ipv4Net::new(LAN_IP, 16).unwrap(), 0),
        (Ipv4Net::new(WAN_IP, 24).unwrap(), 1),
    ];
    let mut routes = RouteTable::with_connected(&connected).unwrap();
    routes
        .add_via(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(), GATEWAY)
        .unwrap();
    let mut f = Forwarder::new(&ports, routes, NeighbourLimits::default());
    let settings = FirewallSettings {
        states: 2 * connections() + 1024,
        creatorid: 1,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 0,
        workers: 1,
    };
    f.set_firewall(Firewall::new(0, &settings, ruleset()));
    let mut out = Output::new(2, BURST);
    f.process(
        Instant::ZERO,
        1,
        arp_frame(ArpOperation::Reply, GW_MAC, GATEWAY, WAN_MAC, WAN_IP),
        &mut out,
    );
    f
}

fn client(i: usize) -> (Ipv4Addr, u16) {
    let host = i % 65_000 + 2;
    (
        Ipv4Addr::new(10, 0, (host >> 8) as u8, host as u8),
        20_000 + (i / 65_000) as u16,
    )
}

fn from_client(i: usize, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let (ip, port) = client(i);
    tcp_frame(
        Hosts {
            src_mac: CLIENT_MAC,
            dst_mac: LAN_MAC,
            src: ip,
            dst: SERVER,
        },
        Segment {
            src_port: port,
            dst_port: 443,
            seq,
            ack,
            flags,
            window: 64_000,
            // 14 + 20 + 20 + 10 = 64 bytes on the wire with the FCS.
            payload: 6,
        },
    )
}

fn from_server(i: usize, seq: u32, ack: u32, flags: u8) -> Vec<u8> {
    let (ip, port) = client(i);
    tcp_frame(
        Hosts {
            src_mac: GW_MAC,
            dst_mac: WAN_MAC,
            src: SERVER,
            dst: ip,
        },
        Segment {
            src_port: 443,
            dst_port: port,
            seq,
            ack,
            flags,
            window: 64_000,
            payload: 0,
        },
    )
}

/// A forwarder holding 500,000 established connections (1,000,000 states).
fn loaded() -> Forwarder<Vec<u8>> {
    let mut f = forwarder();
    let mut out = Output::new(2, 4);
    for i in 0..connections() {
        f.process(Instant::ZERO, 0, from_client(i, 1000, 0, SYN), &mut out);
        // The SYN-ACK is tracked on its way back; the client's MAC is never resolved, which
        // does not matter here.
        f.process(
            Instant::ZERO,
            1,
            from_server(i, 5000, 1001, SYN | ACK),
            &mut out,
        );
        f.process(Instant::ZERO, 0, from_client(i, 1001, 5001, ACK), &mut out);
        out.tx.iter_mut().for_each(Vec::clear);
        out.free.clear();
    }
    let states = f.firewall().unwrap().table().len();
    assert_eq!(states, 2 * connections(), "{:?}", f.counters());
    f
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn bench_pipeline(c: &mut Criterion) {
    let mut f = loaded();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    // Established segments of 64 k random connections, in random order.
    let templates: Vec<Vec<u8>> = (0..65_536)
        .map(|_| from_client(rng.next() as usize % connections(), 1001, 5001, ACK))
        .collect();
    let mut out = Output::new(2, BURST);
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(BURST as u64));
    group.measurement_time(Duration::from_secs(10));
    let (forwarded, drops) = (f.counters().forwarded, f.counters().total_drops());
    // Frames are recycled: each burst copies 32 templates into buffers that come back from
    // the TX batch, so nothing is allocated while measuring. The copy alone is measured too.
    let mut pool: Vec<Vec<u8>> = templates[..BURST].to_vec();
    let mut burst: Vec<Vec<u8>> = Vec::with_capacity(BURST);
    let mut at = 0;
    let mut refill = |pool: &mut Vec<Vec<u8>>, burst: &mut Vec<Vec<u8>>| {
        for (mut buf, template) in pool.drain(..).zip(&templates[at..at + BURST]) {
            buf.clear();
            buf.extend_from_slice(template);
            burst.push(buf);
        }
        at = (at + BURST) % (templates.len() - BURST);
    };
    group.bench_function("copy_only", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                refill(&mut pool, &mut burst);
                pool.append(black_box(&mut burst));
            }
            start.elapsed()
        })
    });
    group.bench_function("established_tcp64_1M_states_1k_rules_burst32", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                refill(&mut pool, &mut burst);
                for pkt in burst.drain(..) {
                    f.process(Instant::ZERO, 0, black_box(pkt), &mut out);
                }
                pool.append(&mut out.tx[1]);
            }
            start.elapsed()
        })
    });
    group.bench_function("established_tcp64_1M_states_1k_rules_burst32_staged", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            for _ in 0..iters {
                refill(&mut pool, &mut burst);
                f.process_burst(Instant::ZERO, 0, black_box(&mut burst), &mut out);
                pool.append(&mut out.tx[1]);
            }
            start.elapsed()
        })
    });
    group.finish();
    let c = f.counters();
    assert!(c.forwarded > forwarded, "nothing forwarded");
    assert_eq!(c.total_drops(), drops, "{c:?}");
    assert!(
        out.free.is_empty(),
        "the burst must be forwarded, not dropped"
    );
}

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);

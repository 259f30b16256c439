//! ns per packet for parse + forwarding decision over a 32-packet burst, without DPDK: the
//! same `Forwarder` the workers run, over `Vec<u8>` frames (64-byte UDP, next hop resolved).
//! Criterion reports throughput in packets; ns/packet = 1e9 / (packets per second).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // test code: failures should panic

use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::forward::{Forwarder, Output, PortSetup};
use rampart_dataplane::neighbour::NeighbourLimits;
use rampart_dataplane::route::{Ipv4Net, RouteTable};
use rampart_dataplane::testkit::{Hosts, arp_frame, udp_frame_ports};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::{ArpOperation, EthernetFrame, Ipv4Packet, MacAddr};

const BURST: usize = 32;
const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 1]);
const WAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 1]);
const SERVER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 20]);

fn forwarder(routes_extra: usize) -> Forwarder<Vec<u8>> {
    let ports = [
        PortSetup {
            name: "lan".into(),
            mac: LAN_MAC,
            addr: Some((Ipv4Addr::new(10, 0, 1, 1), 24)),
            addr6: None,
            mtu: 1500,
        },
        PortSetup {
            name: "wan".into(),
            mac: WAN_MAC,
            addr: Some((Ipv4Addr::new(10, 0, 2, 1), 24)),
            addr6: None,
            mtu: 1500,
        },
    ];
    let connected = [
        (Ipv4Net::new(Ipv4Addr::new(10, 0, 1, 0), 24).unwrap(), 0),
        (Ipv4Net::new(Ipv4Addr::new(10, 0, 2, 0), 24).unwrap(), 1),
    ];
    let mut routes = RouteTable::with_connected(&connected).unwrap();
    routes
        .add_via(
            Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(),
            Ipv4Addr::new(10, 0, 2, 20),
        )
        .unwrap();
    // A routing table of realistic shape: many /24s and /16s besides the default.
    for i in 0..routes_extra {
        let len = if i % 2 == 0 { 24 } else { 16 };
        let net = Ipv4Addr::new(100 + (i / 250) as u8, (i % 250) as u8, 0, 0);
        let _ = routes.add_via(Ipv4Net::new(net, len).unwrap(), Ipv4Addr::new(10, 0, 2, 20));
    }
    let mut f = Forwarder::new(&ports, routes, NeighbourLimits::default());
    let mut out = Output::new(2, BURST);
    let reply = arp_frame(
        ArpOperation::Reply,
        SERVER_MAC,
        Ipv4Addr::new(10, 0, 2, 20),
        WAN_MAC,
        Ipv4Addr::new(10, 0, 2, 1),
    );
    f.process(Instant::ZERO, 1, reply, &mut out);
    f
}

fn burst() -> Vec<Vec<u8>> {
    (0..BURST)
        .map(|i| {
            let h = Hosts {
                src_mac: MacAddr([2, 0, 0, 0, 1, 10]),
                dst_mac: LAN_MAC,
                src: Ipv4Addr::new(10, 0, 1, 10 + i as u8),
                dst: Ipv4Addr::new(198, 18, (i / 8) as u8, i as u8),
            };
            // 64-byte frame: 14 + 20 + 8 + 22 payload (the FCS is not in the buffer).
            udp_frame_ports(h, 64, 10_000 + i as u16, 443, 18)
        })
        .collect()
}

fn bench_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(BURST as u64));
    for routes in [0usize, 1000] {
        let mut f = forwarder(routes);
        let template = burst();
        let mut out = Output::new(2, BURST);
        group.bench_function(format!("burst32_udp64_routes{}", routes + 3), |b| {
            b.iter_batched(
                || (template.clone(), Vec::with_capacity(BURST * 2)),
                |(pkts, spare)| {
                    for pkt in pkts {
                        f.process(Instant::ZERO, 0, black_box(pkt), &mut out);
                    }
                    // Hand the sent batch back to be dropped outside the measurement.
                    std::mem::replace(&mut out.tx[1], spare)
                },
                BatchSize::SmallInput,
            )
        });
        assert!(
            out.free.is_empty(),
            "the benchmark burst must be forwarded, not dropped"
        );
    }
    group.finish();

    // Parse alone, for reference: Ethernet + IPv4 views and the header checksum.
    let template = burst();
    c.benchmark_group("parse")
        .throughput(Throughput::Elements(BURST as u64))
        .bench_function("burst32_eth_ipv4_checksum", |b| {
            b.iter(|| {
                let mut ok = 0;
                for pkt in &template {
                    let eth = EthernetFrame::new_checked(black_box(&pkt[..])).unwrap();
                    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
                    ok += usize::from(ip.verify_checksum());
                }
                ok
            })
        });
}

criterion_group!(benches, bench_forward);
criterion_main!(benches);

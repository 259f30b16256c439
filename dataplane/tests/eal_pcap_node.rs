//! A whole node under real EAL, with no NIC and no hugepages: two `net_pcap` ports read
//! prepared captures and write what the node sends, so the test sees every frame on the wire.
//! One test per file: EAL starts once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_dataplane::dpdk::{EalOptions, dpdk_version};
use rampart_dataplane::route::Ipv4Net;
use rampart_dataplane::testkit::{Hosts, arp_frame, echo_request_frame, pcap, udp_frame};
use rampart_dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, MacAddr,
};
use rampart_dataplane::{DropReason, Node, NodeSpec, Polling, PortSpec};

const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 10]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    pcap::write(path, frames).unwrap();
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    pcap::read(path).unwrap()
}

fn ethertype(frame: &[u8]) -> EtherType {
    EthernetFrame::new_checked(frame).unwrap().ethertype()
}

#[test]
fn node_answers_resolves_and_forwards_over_pcap_ports() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("eal-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (lan_in, lan_out, wan_in, wan_out) = (
        dir.join("lan_in.pcap"),
        dir.join("lan_out.pcap"),
        dir.join("wan_in.pcap"),
        dir.join("wan_out.pcap"),
    );

    // net_pcap ports get random MACs; the client addresses the node by broadcast ARP first, so
    // frames that must reach the node's MAC are sent after we learn it from the ARP reply. The
    // IPv4 frames below therefore go to the node's MAC, which we learn in a first run.
    let spec = |prefix: &str, lan_rx: &Path, wan_rx: &Path| NodeSpec {
        eal: EalOptions::new(prefix),
        workers: 1,
        cpus: vec![],
        polling: Polling::Adaptive,
        ports: vec![
            PortSpec {
                name: "lan0".into(),
                devargs: format!(
                    "net_pcap0,rx_pcap={},tx_pcap={}",
                    lan_rx.display(),
                    lan_out.display()
                ),
                addr: Some((LAN_IP, 24)),
                addr6: None,
                mtu: 1500,
            },
            PortSpec {
                name: "wan0".into(),
                devargs: format!(
                    "net_pcap1,rx_pcap={},tx_pcap={}",
                    wan_rx.display(),
                    wan_out.display()
                ),
                addr: Some((WAN_IP, 24)),
                addr6: None,
                mtu: 1500,
            },
        ],
        routes: vec![(
            Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(),
            Ipv4Addr::new(10, 0, 2, 254),
        )],
        routes6: vec![],
        mbufs: 4095,
        firewall: None,
        sync: None,
        vips: Vec::new(),
        carp: false,
    };
    // net_pcap ports take a fixed MAC (02:70:63:61:70:<port id>): the node's LAN MAC is that of port 0.
    let lan_mac = MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, 0x00]);
    let wan_mac = MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, 0x01]);
    let to_node = |dst: Ipv4Addr, ttl: u8| {
        udp_frame(
            Hosts {
                src_mac: CLIENT_MAC,
                dst_mac: lan_mac,
                src: CLIENT,
                dst,
            },
            ttl,
            10,
        )
    };
    write_pcap(
        &lan_in,
        &[
            arp_frame(
                ArpOperation::Request,
                CLIENT_MAC,
                CLIENT,
                MacAddr::ZERO,
                LAN_IP,
            ),
            echo_request_frame(Hosts {
                src_mac: CLIENT_MAC,
                dst_mac: lan_mac,
                src: CLIENT,
                dst: LAN_IP,
            }),
            to_node(SERVER, 64), // held until the server answers ARP on the WAN side
            to_node(SERVER, 1),  // expires: time-exceeded back to the client
            vec![0xff; 9],       // runt
        ],
    );
    write_pcap(
        &wan_in,
        &[arp_frame(
            ArpOperation::Reply,
            SERVER_MAC,
            SERVER,
            wan_mac,
            WAN_IP,
        )],
    );

    let node = Node::start(&spec(
        &format!("rt-eal-{}", std::process::id()),
        &lan_in,
        &wan_in,
    ))
    .unwrap();
    let macs: Vec<MacAddr> = node.ports().iter().map(|p| p.mac).collect();
    assert_eq!(macs, vec![lan_mac, wan_mac], "net_pcap MACs as assumed");
    // The pcap ports deliver everything in the first polls; give the worker time to drain.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && node.ports().iter().map(|p| p.stats.tx_packets).sum::<u64>() < 4
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Counters are published while running, at most worker::PUBLISH old.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && node.report().counters.forwarded < 1 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.report().counters.forwarded, 1, "live counters");
    let report = node.stop();
    eprintln!("{} report: {:?}", dpdk_version(), report.counters);

    let c = &report.counters;
    assert_eq!(c.ports[0].rx_packets, 5);
    assert_eq!(c.ports[1].rx_packets, 1);
    assert_eq!(c.arp_replies_sent, 1);
    assert_eq!(c.echo_replies, 1);
    assert_eq!(c.forwarded, 1);
    assert_eq!(c.dropped(DropReason::TtlExceeded), 1);
    assert_eq!(c.dropped(DropReason::EthernetMalformed), 1);
    assert_eq!(c.icmp_errors_sent, 1);

    let lan_sent = read_pcap(&lan_out);
    let wan_sent = read_pcap(&wan_out);
    // LAN: ARP reply, echo reply, time exceeded (order as processed).
    assert_eq!(lan_sent.len(), 3, "lan frames: {lan_sent:02x?}");
    let arp = ArpRepr::parse(&ArpPacket::new_checked(&lan_sent[0][14..]).unwrap()).unwrap();
    assert_eq!(
        (
            arp.operation,
            arp.source_protocol_addr,
            arp.source_hardware_addr
        ),
        (ArpOperation::Reply, LAN_IP, lan_mac)
    );
    for frame in &lan_sent[1..] {
        assert_eq!(ethertype(frame), EtherType::IPV4);
        let ip = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), CLIENT);
        assert!(
            Icmpv4Packet::new_checked(ip.payload())
                .unwrap()
                .verify_checksum()
        );
    }
    // WAN: no ARP request needed (the server's reply arrived first or right after), then the
    // forwarded packet with TTL 63 to the server's MAC.
    let forwarded: Vec<_> = wan_sent
        .iter()
        .filter(|f| ethertype(f) == EtherType::IPV4)
        .collect();
    assert_eq!(forwarded.len(), 1, "wan frames: {wan_sent:02x?}");
    let eth = EthernetFrame::new_checked(&forwarded[0][..]).unwrap();
    assert_eq!((eth.src_addr(), eth.dst_addr()), (wan_mac, SERVER_MAC));
    let ip = Ipv4Packet::new_checked(&forwarded[0][14..]).unwrap();
    assert_eq!((ip.ttl(), ip.dst_addr()), (63, SERVER));
    assert!(ip.verify_checksum());
    std::fs::remove_dir_all(&dir).ok();
}

//! Two workers under real EAL over `net_pcap` ports with two queues each (one capture file per
//! queue): packets that arrive at the worker that does not own their flow are handed over, ARP
//! is copied so both neighbour tables learn, and every packet still comes out once.
//! One test per file: EAL starts once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rampart_dataplane::dpdk::EalOptions;
use rampart_dataplane::steer::{Steer, steer};
use rampart_dataplane::testkit::{Hosts, arp_frame, pcap, udp_frame_ports};
use rampart_dataplane::wire::{ArpOperation, EtherType, EthernetFrame, Ipv4Packet, MacAddr};
use rampart_dataplane::{Node, NodeSpec, Polling, PortSpec};

const CLIENT_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 1, 10]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 2, 20]);
const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 20);
// net_pcap's fixed MACs (02:70:63:61:70:<port id>).
const LAN_MAC: MacAddr = MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, 0x00]);
const WAN_MAC: MacAddr = MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, 0x01]);
// At most 16 packets wait per unresolved next hop and worker: stay under it.
const FLOWS: u16 = 16;

#[test]
fn flows_cross_to_their_owner_and_arp_reaches_both_workers() {
    let dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("eal-2w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name);

    // UDP flows from the client, spread over both LAN queues regardless of their owner.
    let flow = |i: u16| {
        udp_frame_ports(
            Hosts {
                src_mac: CLIENT_MAC,
                dst_mac: LAN_MAC,
                src: CLIENT,
                dst: SERVER,
            },
            64,
            20_000 + i,
            53,
            8,
        )
    };
    let (mut lan0, mut lan1) = (
        vec![arp_frame(
            ArpOperation::Request,
            CLIENT_MAC,
            CLIENT,
            MacAddr::ZERO,
            LAN_IP,
        )],
        vec![],
    );
    let mut misplaced = 0;
    for i in 0..FLOWS {
        let frame = flow(i);
        let queue = usize::from(i % 2);
        if steer(&frame, 2) != Steer::Worker(queue) {
            misplaced += 1;
        }
        if queue == 0 {
            lan0.push(frame)
        } else {
            lan1.push(frame)
        }
    }
    assert!(
        misplaced >= 4,
        "the test needs flows that arrive at the wrong worker ({misplaced})"
    );
    pcap::write(&path("lan_in0.pcap"), &lan0).unwrap();
    pcap::write(&path("lan_in1.pcap"), &lan1).unwrap();
    // The server announces itself on WAN queue 1 only: worker 0 must learn it from the copy.
    pcap::write(&path("wan_in0.pcap"), &[]).unwrap();
    pcap::write(
        &path("wan_in1.pcap"),
        &[arp_frame(
            ArpOperation::Reply,
            SERVER_MAC,
            SERVER,
            WAN_MAC,
            WAN_IP,
        )],
    )
    .unwrap();

    let devargs = |n: u8, side: &str| {
        format!(
            "net_pcap{n},rx_pcap={},rx_pcap={},tx_pcap={},tx_pcap={}",
            path(&format!("{side}_in0.pcap")).display(),
            path(&format!("{side}_in1.pcap")).display(),
            path(&format!("{side}_out0.pcap")).display(),
            path(&format!("{side}_out1.pcap")).display()
        )
    };
    let spec = NodeSpec {
        eal: EalOptions::new(format!("rt-2w-{}", std::process::id())),
        workers: 2,
        cpus: vec![],
        polling: Polling::Adaptive,
        ports: vec![
            PortSpec {
                name: "lan0".into(),
                devargs: devargs(0, "lan"),
                addr: Some((LAN_IP, 24)),
                addr6: None,
                mtu: 1500,
            },
            PortSpec {
                name: "wan0".into(),
                devargs: devargs(1, "wan"),
                addr: Some((WAN_IP, 24)),
                addr6: None,
                mtu: 1500,
            },
        ],
        routes: vec![],
        routes6: vec![],
        mbufs: 8191,
        firewall: None,
        sync: None,
        vips: Vec::new(),
        carp: false,
    };
    let node = Node::start(&spec).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && node.ports()[1].stats.tx_packets < u64::from(FLOWS) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = node.stop();
    let c = &report.counters;
    eprintln!("{c:?}");

    let wan_out: Vec<Vec<u8>> = ["wan_out0.pcap", "wan_out1.pcap"]
        .iter()
        .flat_map(|f| pcap::read(&path(f)).unwrap())
        .filter(|f| EthernetFrame::new_checked(&f[..]).unwrap().ethertype() == EtherType::IPV4)
        .collect();
    let mut ports: Vec<u16> = wan_out
        .iter()
        .map(|f| {
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr()), (WAN_MAC, SERVER_MAC));
            let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
            assert_eq!(ip.ttl(), 63);
            u16::from_be_bytes([ip.payload()[0], ip.payload()[1]])
        })
        .collect();
    ports.sort_unstable();
    assert_eq!(
        ports,
        (0..FLOWS).map(|i| 20_000 + i).collect::<Vec<_>>(),
        "every flow forwarded exactly once"
    );
    assert_eq!(c.forwarded, u64::from(FLOWS));
    assert_eq!(
        c.handoff_out, misplaced,
        "misplaced packets were handed over"
    );
    assert_eq!(c.handoff_in, misplaced);
    assert_eq!(
        c.arp_copies, 2,
        "the client's request and the server's reply were copied"
    );
    assert_eq!(
        c.arp_replies_sent, 1,
        "only the worker that received the request answers"
    );
    assert_eq!(c.total_drops(), 0, "{c:?}");
    // Each worker forwarded exactly the flows it owns.
    for (w, counters) in report.workers.iter().enumerate() {
        let owned = (0..FLOWS)
            .filter(|&i| steer(&flow(i), 2) == Steer::Worker(w))
            .count() as u64;
        assert_eq!(counters.forwarded, owned, "worker {w}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

//! The stateful path on arbitrary frames: a forwarder with rules (pass, reject), outbound NAT
//! and a port forward, fed packet by packet and in bursts. No panic, every frame leaves through
//! exactly one door (sent, freed or held for ARP), and the state table stays within capacity.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::firewall::{Firewall, FirewallSettings};
use rampart_dataplane::forward::{Forwarder, Output, PortSetup};
use rampart_dataplane::nat::{
    DEFAULT_PORT_RANGE, Nat, NatAddrs, NatSpec, OutboundAction, OutboundRule, PortForward,
    PortPolicy,
};
use rampart_dataplane::neighbour::NeighbourLimits;
use rampart_dataplane::route::{Ipv4Net, RouteTable};
use rampart_dataplane::rules::{
    PortRange, ProtoSpec, RuleAction, RuleIndex, RuleSpec, Ruleset, RulesetOptions,
};
use rampart_dataplane::state::Timeouts;
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::MacAddr;

const LAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const WAN_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);

fn rules() -> Option<Ruleset> {
    let id = |index| RuleIndex { index, tracker: index };
    let lan = RuleSpec::new(id(0), RuleAction::Pass, vec![0]);
    let mut web = RuleSpec::new(id(1), RuleAction::Pass, vec![1]);
    web.proto = ProtoSpec::Tcp;
    web.dst_ports = vec![PortRange::single(80)];
    let mut reject = RuleSpec::new(id(2), RuleAction::Reject, vec![1]);
    reject.proto = ProtoSpec::Udp;
    Ruleset::compile(vec![lan, web, reject], &RulesetOptions::new(2)).ok()
}

fn nat() -> Option<Nat> {
    Some(Nat::compile(NatSpec {
        outbound: vec![OutboundRule {
            port: 1,
            proto: ProtoSpec::Any,
            src: NatAddrs::Nets { nets: vec![Ipv4Net::new(LAN_IP, 24).ok()?], negate: false },
            src_ports: vec![],
            dst: NatAddrs::Any,
            dst_ports: vec![],
            action: OutboundAction::Translate { addr: WAN_IP, ports: PortPolicy::Range(DEFAULT_PORT_RANGE) },
        }],
        port_forwards: vec![PortForward {
            port: 1,
            proto: ProtoSpec::Tcp,
            src: NatAddrs::Any,
            src_ports: vec![],
            dst: NatAddrs::Nets { nets: vec![Ipv4Net::new(WAN_IP, 32).ok()?], negate: false },
            dst_ports: vec![PortRange::single(8080)],
            target: Some(Ipv4Addr::new(10, 0, 1, 10)),
            target_port: Some(80),
        }],
    }))
}

fuzz_target!(|data: &[u8]| {
    let ports = [
        PortSetup { name: "lan".into(), mac: MacAddr([2, 0, 0, 0, 1, 1]), addr: Some((LAN_IP, 24)), addr6: None, mtu: 1500 },
        PortSetup { name: "wan".into(), mac: MacAddr([2, 0, 0, 0, 2, 1]), addr: Some((WAN_IP, 24)), addr6: None, mtu: 1500 },
    ];
    let Ok(lan) = Ipv4Net::new(LAN_IP, 24) else { return };
    let Ok(wan) = Ipv4Net::new(WAN_IP, 24) else { return };
    let Ok(routes) = RouteTable::with_connected(&[(lan, 0), (wan, 1)]) else { return };
    let (Some(rules), Some(nat)) = (rules(), nat()) else { return };
    let mut forwarder = Forwarder::new(&ports, routes, NeighbourLimits::default());
    let settings = FirewallSettings {
        states: 64,
        creatorid: 1,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 16,
        workers: 2,
    };
    let mut firewall = Firewall::new(1, &settings, Arc::new(rules));
    firewall.set_nat(Arc::new(nat));
    forwarder.set_firewall(firewall);
    let mut out = Output::new(2, 64);
    // The first byte picks ports, bursts and time; the rest is split into frames at 0xA5.
    let Some((&control, rest)) = data.split_first() else { return };
    let mut frames = 0;
    let mut burst: Vec<Vec<u8>> = Vec::new();
    let mut burst_port = 0;
    for (i, chunk) in rest.split(|&b| b == 0xA5).enumerate() {
        let port = usize::from(control.rotate_left(i as u32) & 1);
        let now = Instant::from_millis(u64::from(control) * i as u64 * 100);
        let mut frame = chunk.to_vec();
        if frame.len() >= 6 && frame[0] & 1 == 0 {
            frame[..6].copy_from_slice(&ports[port].mac.0);
        }
        frames += 1;
        if control & 0x80 == 0 {
            forwarder.process(now, port, frame, &mut out);
        } else {
            if port != burst_port && !burst.is_empty() {
                forwarder.process_burst(now, burst_port, &mut burst, &mut out);
            }
            burst_port = port;
            burst.push(frame);
        }
        forwarder.maintain(now);
    }
    forwarder.process_burst(Instant::from_secs(1), burst_port, &mut burst, &mut out);
    let sent: usize = out.tx.iter().map(Vec::len).sum();
    assert_eq!(sent + out.free.len() + forwarder.neighbours_held(), frames);
    let states = forwarder.firewall().map_or(0, |f| f.table().len());
    assert!(states <= 64);
    forwarder.maintain(Instant::from_secs(7 * 24 * 3600));
});

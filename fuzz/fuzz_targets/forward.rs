//! The whole forwarding decision on arbitrary frames arriving on either port, IPv4 and IPv6:
//! no panic, and every frame leaves through exactly one door (sent, freed or held for ARP/NDP).
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::forward::{Forwarder, Output, PortSetup};
use rampart_dataplane::neighbour::NeighbourLimits;
use rampart_dataplane::route::{Ipv4Net, RouteTable};
use rampart_dataplane::route6::{Ipv6Net, Route6Table};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::MacAddr;

const LAN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const WAN6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    let ports = [
        PortSetup { name: "lan".into(), mac: MacAddr([2, 0, 0, 0, 1, 1]), addr: Some((Ipv4Addr::new(10, 0, 1, 1), 24)), addr6: Some((LAN6, 64)), mtu: 1500 },
        PortSetup { name: "wan".into(), mac: MacAddr([2, 0, 0, 0, 2, 1]), addr: Some((Ipv4Addr::new(10, 0, 2, 1), 24)), addr6: Some((WAN6, 64)), mtu: 576 },
    ];
    let Ok(lan) = Ipv4Net::new(Ipv4Addr::new(10, 0, 1, 0), 24) else { return };
    let Ok(wan) = Ipv4Net::new(Ipv4Addr::new(10, 0, 2, 0), 24) else { return };
    let Ok(mut routes) = RouteTable::with_connected(&[(lan, 0), (wan, 1)]) else { return };
    if let Ok(default) = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0) {
        let _ = routes.add_via(default, Ipv4Addr::new(10, 0, 2, 254));
    }
    let Ok(lan6) = Ipv6Net::new(LAN6, 64) else { return };
    let Ok(wan6) = Ipv6Net::new(WAN6, 64) else { return };
    let Ok(mut routes6) = Route6Table::with_connected(&[(lan6, 0), (wan6, 1)]) else { return };
    if let Ok(default) = Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0) {
        let _ = routes6.add_via(default, Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0xfe));
    }
    let mut forwarder =
        Forwarder::new(&ports, routes, NeighbourLimits::default()).with_routes6(routes6);
    let mut out = Output::new(2, 32);
    // The first byte picks the port and the time; the rest is split into frames at 0xA5 bytes.
    let Some((&control, rest)) = data.split_first() else { return };
    let mut frames = 0;
    for (i, chunk) in rest.split(|&b| b == 0xA5).enumerate() {
        let port = usize::from(control.rotate_left(i as u32) & 1);
        let now = Instant::from_millis(u64::from(control) * i as u64 * 100);
        let mut frame = chunk.to_vec();
        if frame.len() >= 6 && frame[0] & 1 == 0 {
            frame[..6].copy_from_slice(&ports[port].mac.0);
        }
        forwarder.process(now, port, frame, &mut out);
        frames += 1;
    }
    let sent: usize = out.tx.iter().map(Vec::len).sum();
    assert_eq!(sent + out.free.len() + forwarder.neighbours_held(), frames);
    forwarder.tick(Instant::from_secs(3600), &mut out);
});

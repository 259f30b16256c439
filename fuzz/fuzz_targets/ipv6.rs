//! IPv6 fixed headers (the Ethernet payload).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{Ipv6Packet, Ipv6Repr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv6Packet::new_checked(data) else {
        return;
    };
    let p = &packet;
    black_box((
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
    ));
    black_box((p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr()));
    assert_eq!(p.payload().len(), usize::from(p.payload_len()));

    if let Ok(repr) = Ipv6Repr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        let reparsed = Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap());
        assert_eq!(reparsed, Ok(repr));
    }
});

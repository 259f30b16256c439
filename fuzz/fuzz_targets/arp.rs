//! ARP packets (the Ethernet payload).
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{ArpPacket, ArpRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = ArpPacket::new_checked(data) else {
        return;
    };
    black_box((packet.hardware_type(), packet.protocol_type()));
    black_box((
        packet.hardware_len(),
        packet.protocol_len(),
        packet.operation(),
    ));
    black_box((packet.sender_hardware_addr(), packet.sender_protocol_addr()));
    black_box((packet.target_hardware_addr(), packet.target_protocol_addr()));

    if let Ok(repr) = ArpRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        let reparsed = ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap());
        assert_eq!(reparsed, Ok(repr));
    }
});

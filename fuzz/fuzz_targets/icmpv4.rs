//! ICMPv4 messages (the IPv4 payload). Random input rarely has a right checksum, so each
//! input is also tried with its checksum filled in.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{Icmpv4Packet, Icmpv4Repr, icmpv4};

fn check(data: &[u8]) {
    let Ok(packet) = Icmpv4Packet::new_checked(data) else {
        return;
    };
    let i = &packet;
    black_box((
        i.msg_type(),
        i.msg_code(),
        i.checksum(),
        i.echo_ident(),
        i.echo_seq_no(),
    ));
    black_box(i.next_hop_mtu());
    assert_eq!(i.data().len(), data.len() - icmpv4::HEADER_LEN);
    let valid = i.verify_checksum();

    if let Ok(repr) = Icmpv4Repr::parse(&packet) {
        assert!(valid);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let reparsed = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert!(reparsed.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&reparsed), Ok(repr));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut copy = data.to_vec();
    Icmpv4Packet::new_unchecked(&mut copy[..]).fill_checksum();
    check(&copy);
});

//! ICMPv6 messages (the IPv6 payload) between fe80::1 and fe80::2. Random input rarely has
//! a right checksum, so each input is also tried with its checksum filled in.
#![no_main]

use std::hint::black_box;
use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{Icmpv6Packet, Icmpv6Repr, icmpv6};

const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const DST: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

fn check(data: &[u8]) {
    let Ok(packet) = Icmpv6Packet::new_checked(data) else {
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
    black_box(i.mtu());
    assert_eq!(i.data().len(), data.len() - icmpv6::HEADER_LEN);
    let valid = i.verify_checksum(&SRC, &DST);

    if let Ok(repr) = Icmpv6Repr::parse(&SRC, &DST, &packet) {
        assert!(valid);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&SRC, &DST, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let reparsed = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert!(reparsed.verify_checksum(&SRC, &DST));
        assert_eq!(Icmpv6Repr::parse(&SRC, &DST, &reparsed), Ok(repr));
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut copy = data.to_vec();
    Icmpv6Packet::new_unchecked(&mut copy[..]).fill_checksum(&SRC, &DST);
    check(&copy);
});

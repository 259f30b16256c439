//! IPv4 packets (the Ethernet payload), and the in-place forwarding/NAT edits.
#![no_main]

use std::hint::black_box;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{Ipv4Packet, Ipv4Repr, ipv4};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Ipv4Packet::new_checked(data) else {
        return;
    };
    let p = &packet;
    black_box((
        p.version(),
        p.header_len(),
        p.dscp(),
        p.ecn(),
        p.total_len(),
        p.ident(),
    ));
    black_box((
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
        p.is_fragment(),
        p.ttl(),
    ));
    black_box((p.next_header(), p.checksum(), p.src_addr(), p.dst_addr()));
    let header_len = usize::from(p.header_len());
    assert_eq!(p.options().len(), header_len - ipv4::HEADER_LEN);
    assert_eq!(p.payload().len(), usize::from(p.total_len()) - header_len);
    let valid = p.verify_checksum();

    // Incremental checksum updates must keep a valid header valid.
    let mut copy = data.to_vec();
    let mut edited = Ipv4Packet::new_checked(&mut copy[..]).unwrap();
    if edited.ttl() > 1 {
        edited.decrement_ttl();
        assert_eq!(edited.verify_checksum(), valid);
    }
    edited.set_src_addr_incremental(Ipv4Addr::new(192, 0, 2, 1));
    edited.set_dst_addr_incremental(Ipv4Addr::new(198, 51, 100, 2));
    assert_eq!(edited.verify_checksum(), valid);

    match Ipv4Repr::parse(&packet) {
        Ok(repr) => {
            assert!(valid);
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
            let reparsed = Ipv4Repr::parse(&Ipv4Packet::new_checked(&buf[..]).unwrap());
            assert_eq!(reparsed, Ok(repr));
        }
        Err(_) => assert!(!valid),
    }
});

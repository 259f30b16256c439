//! TCP segments (the IP payload) and their options.
#![no_main]

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{TcpPacket, TcpRepr, tcp};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = TcpPacket::new_checked(data) else {
        return;
    };
    let t = &packet;
    black_box((
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.flags(),
    ));
    black_box((
        t.fin(),
        t.syn(),
        t.rst(),
        t.psh(),
        t.ack(),
        t.urg(),
        t.ece(),
        t.cwr(),
    ));
    black_box((t.window_len(), t.checksum(), t.urgent_at(), t.segment_len()));
    black_box(t.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST));
    let header_len = usize::from(t.header_len());
    assert_eq!(t.options().len(), header_len - tcp::HEADER_LEN);
    assert_eq!(t.payload().len(), data.len() - header_len);
    let mut errors = 0;
    for option in t.options_iter() {
        errors += usize::from(black_box(option).is_err());
    }
    assert!(errors <= 1);

    let mut copy = data.to_vec();
    let mut filled = TcpPacket::new_checked(&mut copy[..]).unwrap();
    filled.fill_checksum_v4(SRC, DST);
    assert!(filled.verify_checksum_v4(SRC, DST));

    match TcpRepr::parse(&packet) {
        Ok(repr) => {
            assert_eq!(errors, 0);
            let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
            repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]));
            let reparsed = TcpRepr::parse(&TcpPacket::new_checked(&buf[..]).unwrap());
            assert_eq!(reparsed, Ok(repr));
        }
        Err(_) => assert_eq!(errors, 1),
    }
});

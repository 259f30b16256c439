//! UDP datagrams (the IP payload).
#![no_main]

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{UdpPacket, UdpRepr, udp};

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = UdpPacket::new_checked(data) else {
        return;
    };
    let u = &packet;
    black_box((u.src_port(), u.dst_port(), u.len(), u.checksum()));
    black_box(u.verify_checksum_v4(SRC, DST));
    black_box(u.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST));
    assert_eq!(u.payload().len(), usize::from(u.len()) - udp::HEADER_LEN);

    let mut copy = data.to_vec();
    let mut filled = UdpPacket::new_checked(&mut copy[..]).unwrap();
    filled.fill_checksum_v4(SRC, DST);
    assert!(filled.checksum() != 0 && filled.verify_checksum_v4(SRC, DST));

    if let Ok(repr) = UdpRepr::parse(&packet) {
        let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut UdpPacket::new_unchecked(&mut buf[..]));
        let reparsed = UdpRepr::parse(&UdpPacket::new_checked(&buf[..]).unwrap());
        assert_eq!(reparsed, Ok(repr));
    }
});

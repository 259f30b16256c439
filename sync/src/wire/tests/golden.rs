//! The frames of pfsync.md §7.3 (worked out by hand from the layouts, not captured): each
//! decodes to the documented fields and re-encodes to the same bytes, IPv4 header included.

use std::net::Ipv4Addr;

use rampart_dataplane::wire::{Ipv4Packet, Ipv4Repr};

use crate::transport::{PROTO, TTL};
use crate::wire::{Bus, BusStatus, DropReason, Frame, FrameBuilder, Message, Rejected, StateRef};

/// Decodes `frame` completely: messages and rejections in order.
fn decode(frame: &[u8]) -> Vec<Result<Message, Rejected>> {
    Frame::parse(frame).unwrap().messages().collect()
}

/// Encodes `msgs` into one frame the size of `expected` at most.
fn encode(msgs: &[Message]) -> Vec<u8> {
    let mut buf = vec![0xa5u8; 1500];
    let mut b = FrameBuilder::new(&mut buf, 1480).unwrap();
    for m in msgs {
        b.push(m).unwrap();
    }
    let n = b.finish();
    buf.truncate(n);
    buf
}

/// The IPv4 header pf puts before a frame: TOS 0x10, DF, TTL 255, protocol 240.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, ident: u16, payload_len: usize) -> [u8; 20] {
    let mut h = [0u8; 20];
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: PROTO,
        payload_len,
        ttl: TTL,
        dscp: 0x10 >> 2,
        ident,
        dont_frag: true,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut h[..]));
    h
}

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| (c as char).to_digit(16).unwrap() as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

const Z16: &str = "00000000000000000000000000000000";

#[test]
fn test_freebsd_bulk_request() {
    let ip = hex("45 10 00 3c 12 34 40 00 ff f0 c5 9b c0 00 02 01 e0 00 00 f0");
    let pfsync = hex(&format!(
        "05 00 00 28 {Z16}
         05 00 00 01  00 00 00 00 00 00 00 00  00 00 00 00
         0c 00 00 01"
    ));
    assert_eq!(pfsync.len(), 40);

    let frame = Frame::parse(&pfsync).unwrap();
    assert_eq!(frame.header().len, 40);
    assert_eq!(frame.header().checksum, [0; 16]);
    let msgs = decode(&pfsync);
    assert_eq!(msgs, [Ok(Message::UpdReq(StateRef::BULK))]);

    assert_eq!(encode(&[Message::UpdReq(StateRef::BULK)]), pfsync);
    let header = ipv4(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(224, 0, 0, 240),
        0x1234,
        pfsync.len(),
    );
    assert_eq!(header[..], ip[..]);
}

#[test]
fn test_openbsd_bulk_request_refused() {
    // Version 6, subheader length 3 words, no EOF: FreeBSD (and rampart) count `badver`.
    let openbsd = hex(&format!(
        "06 00 00 24 {Z16} 05 03 00 01 00000000 00000000 00000000"
    ));
    assert_eq!(openbsd.len(), 36);
    assert_eq!(Frame::parse(&openbsd).err(), Some(DropReason::BadVersion));
}

#[test]
fn test_freebsd_bus_start() {
    let pfsync = hex(&format!(
        "05 00 00 28 {Z16}  0a 00 00 01  00 00 00 01  00 00 00 00  01 00 00 00  0c 00 00 01"
    ));
    let bus = Bus {
        creatorid: 1,
        endtime: 0,
        status: BusStatus::Start,
    };
    assert_eq!(decode(&pfsync), [Ok(Message::Bus(bus))]);
    assert_eq!(encode(&[Message::Bus(bus)]), pfsync);
}

#[test]
fn test_freebsd_del_c() {
    let wire = hex(&format!(
        "45 10 00 48 00 01 40 00 ff f0 f6 b0 c0 00 02 01 c0 00 02 02
         05 00 00 34 {Z16}
         07 00 00 02 65 53 f1 a2 00 00 00 01 00 00 00 0a 65 53 f1 a2 00 00 00 02 00 00 00 0a
         0c 00 00 01"
    ));
    let (ip, pfsync) = wire.split_at(20);
    let dels = [
        Message::DelC(StateRef {
            id: 0x6553_f1a2_0000_0001,
            creatorid: 0x0000_000a,
        }),
        Message::DelC(StateRef {
            id: 0x6553_f1a2_0000_0002,
            creatorid: 0x0000_000a,
        }),
    ];
    assert_eq!(Frame::parse(pfsync).unwrap().header().len, 0x34);
    assert_eq!(decode(pfsync), dels.map(Ok));
    assert_eq!(encode(&dels), pfsync);
    let header = ipv4(
        Ipv4Addr::new(192, 0, 2, 1),
        Ipv4Addr::new(192, 0, 2, 2),
        1,
        pfsync.len(),
    );
    assert_eq!(header[..], ip[..]);
}

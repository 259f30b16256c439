//! Ethernet frames, and the VLAN tag when the frame carries one.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::wire::{
    EtherType, EthernetFrame, EthernetRepr, VlanHeader, VlanRepr, ethernet,
};

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = EthernetFrame::new_checked(data) else {
        return;
    };
    black_box((frame.dst_addr(), frame.src_addr(), frame.ethertype()));
    assert_eq!(frame.payload().len(), data.len() - ethernet::HEADER_LEN);
    let dst = frame.dst_addr();
    black_box((dst.is_broadcast(), dst.is_multicast(), dst.is_unicast()));
    assert_eq!(dst.to_string().parse(), Ok(dst));

    if let Ok(repr) = EthernetRepr::parse(&frame) {
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        let reparsed = EthernetRepr::parse(&EthernetFrame::new_checked(&buf[..]).unwrap());
        assert_eq!(reparsed, Ok(repr));
    }

    if matches!(frame.ethertype(), EtherType::VLAN | EtherType::QINQ) {
        let Ok(tag) = VlanHeader::new_checked(frame.payload()) else {
            return;
        };
        black_box((
            tag.pcp(),
            tag.dei(),
            tag.vlan_id(),
            tag.ethertype(),
            tag.payload(),
        ));
        if let Ok(repr) = VlanRepr::parse(&tag) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit(&mut VlanHeader::new_unchecked(&mut buf[..]));
            let reparsed = VlanRepr::parse(&VlanHeader::new_checked(&buf[..]).unwrap());
            assert_eq!(reparsed, Ok(repr));
        }
    }
});

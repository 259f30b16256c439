//! Property tests: every `Repr` survives `emit` → `parse`, nothing panics on arbitrary or
//! mangled bytes, and the checksum shortcuts agree with the slow ways.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

// ---- strategies -------------------------------------------------------------------------

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

fn ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn ipv4_repr() -> impl Strategy<Value = Ipv4Repr> {
    let payload_len = prop_oneof![0..2000usize, Just(65535 - 20)];
    (
        ipv4(),
        ipv4(),
        any::<u8>(),
        payload_len,
        any::<u8>(),
        0..64u8,
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(
            |(src_addr, dst_addr, proto, payload_len, ttl, dscp, ident, dont_frag)| Ipv4Repr {
                src_addr,
                dst_addr,
                next_header: IpProtocol(proto),
                payload_len,
                ttl,
                dscp,
                ident,
                dont_frag,
            },
        )
}

fn ipv6_repr() -> impl Strategy<Value = Ipv6Repr> {
    (ipv6(), ipv6(), any::<u8>(), 0..2000usize, any::<u8>()).prop_map(
        |(src_addr, dst_addr, proto, payload_len, hop_limit)| Ipv6Repr {
            src_addr,
            dst_addr,
            next_header: IpProtocol(proto),
            payload_len,
            hop_limit,
        },
    )
}

/// Buffers of any length up to 256, weighted towards the lengths where headers end.
fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    let edges = prop::sample::select(vec![
        0usize, 1, 3, 4, 5, 7, 8, 9, 13, 14, 15, 19, 20, 21, 23, 24, 27, 28, 29, 39, 40, 41, 59,
        60, 61,
    ]);
    prop_oneof![0..=256usize, edges].prop_flat_map(|len| vec(any::<u8>(), len))
}

// ---- exercising every accessor ----------------------------------------------------------

/// Every getter and setter on a view that `new_checked` accepted, plus the same on an
/// unchecked view, which must not panic either.
fn exercise(bytes: &[u8]) {
    let mut copy = bytes.to_vec();

    if let Ok(f) = EthernetFrame::new_checked(bytes) {
        assert_eq!(f.payload().len(), bytes.len() - 14);
        let _ = EthernetRepr::parse(&f);
    }
    let f = EthernetFrame::new_unchecked(bytes);
    black_box((f.dst_addr(), f.src_addr(), f.ethertype(), f.payload()));
    let mut f = EthernetFrame::new_unchecked(&mut copy[..]);
    f.set_dst_addr(MacAddr::BROADCAST);
    f.set_src_addr(MacAddr::ZERO);
    f.set_ethertype(EtherType::VLAN);
    black_box(f.payload_mut());

    if let Ok(v) = VlanHeader::new_checked(bytes) {
        assert_eq!(v.payload().len(), bytes.len() - 4);
        let _ = VlanRepr::parse(&v);
    }
    let v = VlanHeader::new_unchecked(bytes);
    black_box((v.pcp(), v.dei(), v.vlan_id(), v.ethertype(), v.payload()));
    let mut v = VlanHeader::new_unchecked(&mut copy[..]);
    v.set_pcp(7);
    v.set_dei(true);
    v.set_vlan_id(4095);
    v.set_ethertype(EtherType::IPV6);
    black_box(v.payload_mut());

    if let Ok(a) = ArpPacket::new_checked(bytes) {
        let _ = ArpRepr::parse(&a);
    }
    let a = ArpPacket::new_unchecked(bytes);
    black_box((
        a.hardware_type(),
        a.protocol_type(),
        a.hardware_len(),
        a.protocol_len(),
    ));
    black_box((
        a.operation(),
        a.sender_hardware_addr(),
        a.sender_protocol_addr(),
    ));
    black_box((a.target_hardware_addr(), a.target_protocol_addr()));
    let mut a = ArpPacket::new_unchecked(&mut copy[..]);
    a.set_hardware_type(1);
    a.set_protocol_type(EtherType::IPV4);
    a.set_hardware_len(6);
    a.set_protocol_len(4);
    a.set_operation(ArpOperation::Reply);
    a.set_sender_hardware_addr(MacAddr::BROADCAST);
    a.set_sender_protocol_addr(Ipv4Addr::LOCALHOST);
    a.set_target_hardware_addr(MacAddr::ZERO);
    a.set_target_protocol_addr(Ipv4Addr::BROADCAST);

    if let Ok(p) = Ipv4Packet::new_checked(bytes) {
        let (header_len, total_len) = (usize::from(p.header_len()), usize::from(p.total_len()));
        assert_eq!(p.options().len(), header_len - 20);
        assert_eq!(p.payload().len(), total_len - header_len);
        let _ = Ipv4Repr::parse(&p);
    }
    let p = Ipv4Packet::new_unchecked(bytes);
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
    black_box((
        p.next_header(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
        p.options(),
    ));
    black_box((p.verify_checksum(), p.payload()));
    let mut p = Ipv4Packet::new_unchecked(&mut copy[..]);
    p.decrement_ttl();
    p.set_src_addr_incremental(Ipv4Addr::LOCALHOST);
    p.set_dst_addr_incremental(Ipv4Addr::BROADCAST);
    black_box((p.options_mut().len(), p.payload_mut().len()));
    p.set_version(4);
    p.set_header_len(60);
    p.set_dscp(63);
    p.set_ecn(3);
    p.set_total_len(65535);
    p.set_ident(1);
    p.set_dont_frag(true);
    p.set_more_frags(true);
    p.set_frag_offset(65535);
    p.set_ttl(0);
    p.set_next_header(IpProtocol::TCP);
    p.set_src_addr(Ipv4Addr::UNSPECIFIED);
    p.set_dst_addr(Ipv4Addr::UNSPECIFIED);
    p.fill_checksum();
    black_box((p.options_mut().len(), p.payload_mut().len()));

    if let Ok(p) = Ipv6Packet::new_checked(bytes) {
        assert_eq!(p.payload().len(), usize::from(p.payload_len()));
        let _ = Ipv6Repr::parse(&p);
    }
    let p = Ipv6Packet::new_unchecked(bytes);
    black_box((
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
    ));
    black_box((
        p.next_header(),
        p.hop_limit(),
        p.src_addr(),
        p.dst_addr(),
        p.payload(),
    ));
    let mut p = Ipv6Packet::new_unchecked(&mut copy[..]);
    p.set_version(6);
    p.set_traffic_class(0xff);
    p.set_flow_label(u32::MAX);
    p.set_payload_len(65535);
    p.set_next_header(IpProtocol::UDP);
    p.set_hop_limit(1);
    p.set_src_addr(Ipv6Addr::LOCALHOST);
    p.set_dst_addr(Ipv6Addr::UNSPECIFIED);
    black_box(p.payload_mut().len());

    if let Ok(t) = TcpPacket::new_checked(bytes) {
        let header_len = usize::from(t.header_len());
        assert_eq!(t.options().len(), header_len - 20);
        assert_eq!(t.payload().len(), bytes.len() - header_len);
        let _ = TcpRepr::parse(&t);
    }
    let t = TcpPacket::new_unchecked(bytes);
    black_box((
        t.src_port(),
        t.dst_port(),
        t.seq_number(),
        t.ack_number(),
        t.header_len(),
    ));
    black_box((
        t.flags(),
        t.fin(),
        t.syn(),
        t.rst(),
        t.psh(),
        t.ack(),
        t.urg(),
        t.ece(),
    ));
    black_box((
        t.cwr(),
        t.window_len(),
        t.checksum(),
        t.urgent_at(),
        t.options(),
    ));
    black_box((t.payload(), t.segment_len()));
    black_box(t.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST));
    black_box(t.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED));
    // Options iteration terminates within one item per byte and at most one error.
    let items: Vec<_> = t.options_iter().take(64).collect();
    assert!(items.len() <= t.options().len());
    assert!(items.iter().filter(|i| i.is_err()).count() <= 1);
    let mut t = TcpPacket::new_unchecked(&mut copy[..]);
    t.set_src_port(1);
    t.set_dst_port(2);
    t.set_seq_number(3);
    t.set_ack_number(4);
    t.set_flags(0xff);
    t.set_fin(false);
    t.set_syn(false);
    t.set_rst(false);
    t.set_psh(false);
    t.set_ack(false);
    t.set_urg(false);
    t.set_ece(false);
    t.set_cwr(false);
    t.set_window_len(5);
    t.set_urgent_at(6);
    t.set_checksum(7);
    black_box((t.options_mut().len(), t.payload_mut().len()));
    t.fill_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
    t.fill_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
    t.set_header_len(60);
    black_box((t.options_mut().len(), t.payload_mut().len()));

    if let Ok(u) = UdpPacket::new_checked(bytes) {
        assert_eq!(u.payload().len(), usize::from(u.len()) - 8);
        let _ = UdpRepr::parse(&u);
    }
    let u = UdpPacket::new_unchecked(bytes);
    black_box((
        u.src_port(),
        u.dst_port(),
        u.len(),
        u.checksum(),
        u.payload(),
    ));
    black_box(u.verify_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST));
    black_box(u.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED));
    let mut u = UdpPacket::new_unchecked(&mut copy[..]);
    u.set_src_port(1);
    u.set_dst_port(2);
    u.fill_checksum_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::BROADCAST);
    u.fill_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);
    u.set_len(65535);
    black_box(u.payload_mut().len());

    if let Ok(i) = Icmpv4Packet::new_checked(bytes) {
        assert_eq!(i.data().len(), bytes.len() - 8);
        let _ = Icmpv4Repr::parse(&i);
    }
    let i = Icmpv4Packet::new_unchecked(bytes);
    black_box((
        i.msg_type(),
        i.msg_code(),
        i.checksum(),
        i.echo_ident(),
        i.echo_seq_no(),
    ));
    black_box((i.next_hop_mtu(), i.data(), i.verify_checksum()));
    let mut i = Icmpv4Packet::new_unchecked(&mut copy[..]);
    i.set_msg_type(0);
    i.set_msg_code(0);
    i.set_echo_ident(1);
    i.set_echo_seq_no(2);
    i.set_next_hop_mtu(3);
    black_box(i.data_mut().len());
    i.fill_checksum();

    let (src, dst) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    if let Ok(i) = Icmpv6Packet::new_checked(bytes) {
        assert_eq!(i.data().len(), bytes.len() - 8);
        let _ = Icmpv6Repr::parse(&src, &dst, &i);
    }
    let i = Icmpv6Packet::new_unchecked(bytes);
    black_box((
        i.msg_type(),
        i.msg_code(),
        i.checksum(),
        i.echo_ident(),
        i.echo_seq_no(),
    ));
    black_box((i.mtu(), i.data(), i.verify_checksum(&src, &dst)));
    let mut i = Icmpv6Packet::new_unchecked(&mut copy[..]);
    i.set_msg_type(128);
    i.set_msg_code(0);
    i.set_echo_ident(1);
    i.set_echo_seq_no(2);
    i.set_mtu(1280);
    black_box(i.data_mut().len());
    i.fill_checksum(&src, &dst);
}

/// NDP parsing on `bytes` as they are and with a valid checksum, so the option walk is reached.
fn exercise_ndp(bytes: &[u8]) {
    let (src, dst) = (Ipv6Addr::LOCALHOST, Ipv6Addr::UNSPECIFIED);
    let mut copy = bytes.to_vec();
    if let Ok(i) = Icmpv6Packet::new_checked(bytes) {
        let _ = NdpRepr::parse(&src, &dst, &i);
    }
    if let Ok(mut i) = Icmpv6Packet::new_checked(&mut copy[..]) {
        i.fill_checksum(&src, &dst);
    }
    if let Ok(i) = Icmpv6Packet::new_checked(&copy[..]) {
        black_box(NdpRepr::parse(&src, &dst, &i).ok());
    }
}

/// A checksummed ICMPv4 message (so `Icmpv4Repr::parse` gets past the checksum).
fn with_icmpv4_checksum(mut bytes: Vec<u8>) -> Vec<u8> {
    Icmpv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
    bytes
}

/// One's-complement sum, one byte pair at a time (RFC 1071 reference).
fn naive_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in bytes.chunks(2) {
        sum += (u32::from(pair[0]) << 8) | pair.get(1).map_or(0, |&b| u32::from(b));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

proptest! {
    // ---- round trips --------------------------------------------------------------------

    #[test]
    fn ethernet_round_trip(src_addr in mac(), dst_addr in mac(), ethertype in any::<u16>()) {
        let repr = EthernetRepr { src_addr, dst_addr, ethertype: EtherType(ethertype) };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
        let frame = EthernetFrame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&frame), Ok(repr));
    }

    #[test]
    fn vlan_round_trip(pcp in 0..8u8, dei: bool, vlan_id in 0..4096u16, ethertype: u16) {
        let repr = VlanRepr { pcp, dei, vlan_id, ethertype: EtherType(ethertype) };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut VlanHeader::new_unchecked(&mut buf[..]));
        prop_assert_eq!(VlanRepr::parse(&VlanHeader::new_checked(&buf[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn arp_round_trip(op: u16, sha in mac(), spa in ipv4(), tha in mac(), tpa in ipv4()) {
        let repr = ArpRepr {
            operation: ArpOperation::from(op),
            source_hardware_addr: sha,
            source_protocol_addr: spa,
            target_hardware_addr: tha,
            target_protocol_addr: tpa,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ArpPacket::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ArpRepr::parse(&ArpPacket::new_checked(&buf[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn ipv4_round_trip(repr in ipv4_repr()) {
        let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!(Ipv4Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn ipv6_round_trip(repr in ipv6_repr()) {
        let mut buf = vec![0u8; repr.buffer_len() + repr.payload_len];
        repr.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(Ipv6Repr::parse(&Ipv6Packet::new_checked(&buf[..]).unwrap()), Ok(repr));
    }

    #[test]
    fn tcp_round_trip(
        ports: (u16, u16), seq_number: u32, ack_number: u32, flags: u8, window_len: u16,
        window_scale: Option<u8>, max_seg_size: Option<u16>, payload in vec(any::<u8>(), 0..64),
        addrs in (ipv4(), ipv4()),
    ) {
        let repr = TcpRepr {
            src_port: ports.0, dst_port: ports.1, seq_number, ack_number, flags, window_len,
            window_scale, max_seg_size, payload_len: payload.len(),
        };
        let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
        let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(&payload);
        packet.fill_checksum_v4(addrs.0, addrs.1);
        let packet = TcpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.verify_checksum_v4(addrs.0, addrs.1));
        prop_assert_eq!(packet.payload(), &payload[..]);
        prop_assert_eq!(TcpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn udp_round_trip(
        ports: (u16, u16), payload in vec(any::<u8>(), 0..512), addrs in (ipv4(), ipv4()),
    ) {
        let repr = UdpRepr { src_port: ports.0, dst_port: ports.1, payload_len: payload.len() };
        let mut buf = vec![0u8; repr.buffer_len() + payload.len()];
        let mut packet = UdpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(&payload);
        packet.fill_checksum_v4(addrs.0, addrs.1);
        let packet = UdpPacket::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.checksum() != 0);
        prop_assert!(packet.verify_checksum_v4(addrs.0, addrs.1));
        prop_assert_eq!(UdpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn icmpv4_round_trip(
        kind in 0..4u8, code: u8, ident: u16, seq_no: u16, header in ipv4_repr(),
        data in vec(any::<u8>(), 0..64),
    ) {
        let repr = match kind {
            0 => Icmpv4Repr::EchoRequest { ident, seq_no, data: &data },
            1 => Icmpv4Repr::EchoReply { ident, seq_no, data: &data },
            2 => Icmpv4Repr::DstUnreachable { code, header, data: &data },
            _ => Icmpv4Repr::TimeExceeded { code, header, data: &data },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        let packet = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv4Repr::parse(&packet), Ok(repr));
    }

    #[test]
    fn icmpv6_round_trip(
        kind in 0..5u8, code: u8, ident: u16, seq_no: u16, mtu: u32, header in ipv6_repr(),
        data in vec(any::<u8>(), 0..64), src in ipv6(), dst in ipv6(),
    ) {
        let repr = match kind {
            0 => Icmpv6Repr::EchoRequest { ident, seq_no, data: &data },
            1 => Icmpv6Repr::EchoReply { ident, seq_no, data: &data },
            2 => Icmpv6Repr::DstUnreachable { code, header, data: &data },
            3 => Icmpv6Repr::PacketTooBig { mtu, header, data: &data },
            _ => Icmpv6Repr::TimeExceeded { code, header, data: &data },
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Icmpv6Repr::parse(&src, &dst, &packet), Ok(repr));
    }

    #[test]
    fn ndp_round_trip(
        solicit: bool, flags: (bool, bool, bool), target in ipv6(), lladdr in proptest::option::of(mac()),
        src in ipv6(), dst in ipv6(),
    ) {
        // Multicast targets are invalid (RFC 4861 §7.1); parse refuses them.
        let target = if target.is_multicast() { Ipv6Addr::LOCALHOST } else { target };
        let repr = if solicit {
            NdpRepr::NeighborSolicit { target, source_lladdr: lladdr }
        } else {
            let (router, solicited, override_) = flags;
            NdpRepr::NeighborAdvert {
                flags: NaFlags { router, solicited, override_ }, target, target_lladdr: lladdr,
            }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(NdpRepr::parse(&src, &dst, &packet), Ok(repr));
    }

    #[test]
    fn arbitrary_ndp_never_panics(kind in 133u8..=137, mut bytes in vec(any::<u8>(), 0..96)) {
        if let Some(first) = bytes.first_mut() {
            *first = kind;
        }
        exercise_ndp(&bytes);
    }

    // ---- never panic --------------------------------------------------------------------

    #[test]
    fn arbitrary_bytes_never_panic(bytes in any_bytes()) {
        exercise(&bytes);
        exercise(&with_icmpv4_checksum(bytes));
    }

    /// Valid packets with a few bytes overwritten and a random cut: these get past the
    /// length checks far more often than random bytes do.
    #[test]
    fn mangled_packets_never_panic(
        ip in ipv4_repr(), tcp_flags: u8, mss: Option<u16>, ws: Option<u8>,
        edits in vec((any::<usize>(), any::<u8>()), 0..6), cut: usize,
    ) {
        let ip = Ipv4Repr { payload_len: ip.payload_len % 200 + 40, ..ip };
        let mut buf = vec![0u8; 20 + ip.payload_len];
        ip.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        let tcp = TcpRepr {
            src_port: 1, dst_port: 2, seq_number: 3, ack_number: 4, flags: tcp_flags,
            window_len: 5, window_scale: ws, max_seg_size: mss, payload_len: 0,
        };
        tcp.emit(&mut TcpPacket::new_unchecked(&mut buf[20..]));
        for (at, value) in edits {
            let len = buf.len();
            buf[at % len] = value;
        }
        let cut = cut % (buf.len() + 1);
        exercise(&buf[..cut]);
        exercise(&buf[20.min(cut)..cut]);
        exercise(&with_icmpv4_checksum(buf[20.min(cut)..cut].to_vec()));
    }

    // ---- checksums ----------------------------------------------------------------------

    #[test]
    fn checksum_matches_naive(bytes in vec(any::<u8>(), 0..1500), offset in 0..8usize) {
        let offset = offset.min(bytes.len());
        prop_assert_eq!(checksum::data(&bytes[offset..]), naive_sum(&bytes[offset..]));
    }

    #[test]
    fn update_u16_matches_recompute(
        words in vec(any::<u16>(), 2..64), at: usize, new: u16,
    ) {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        let at = at % words.len();
        let old = words[at];
        let stored = !checksum::data(&bytes);
        bytes[2 * at..2 * at + 2].copy_from_slice(&new.to_be_bytes());
        // All-zero data has two checksum encodings (0 and 0xffff); RFC 1624 §3.
        prop_assume!(bytes.iter().any(|&b| b != 0));
        prop_assert_eq!(checksum::update_u16(stored, old, new), !checksum::data(&bytes));
    }

    #[test]
    fn decrement_ttl_keeps_checksum(
        repr in ipv4_repr(), ttl in 1..=255u8, options in vec(any::<u8>(), 0..=10),
    ) {
        let options_len = options.len() * 4;
        let mut buf = vec![0u8; 20 + options_len];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        Ipv4Repr { payload_len: 0, ttl, ..repr }.emit(&mut packet);
        packet.set_header_len(20 + options_len as u8);
        packet.set_total_len(20 + options_len as u16);
        for (chunk, &b) in packet.options_mut().chunks_mut(4).zip(&options) {
            chunk.fill(b);
        }
        packet.fill_checksum();
        packet.decrement_ttl();
        prop_assert_eq!(packet.ttl(), ttl - 1);
        prop_assert!(packet.verify_checksum());
        let incremental = packet.checksum();
        packet.fill_checksum();
        prop_assert_eq!(packet.checksum(), incremental);
    }

    #[test]
    fn nat_rewrite_keeps_checksum(repr in ipv4_repr(), src in ipv4(), dst in ipv4()) {
        let mut buf = [0u8; 20];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        Ipv4Repr { payload_len: 0, ..repr }.emit(&mut packet);
        packet.set_src_addr_incremental(src);
        packet.set_dst_addr_incremental(dst);
        prop_assert!(packet.verify_checksum());
        prop_assert_eq!((packet.src_addr(), packet.dst_addr()), (src, dst));
    }

    #[test]
    fn mac_display_parses_back(addr in mac()) {
        prop_assert_eq!(addr.to_string().parse::<MacAddr>(), Ok(addr));
    }
}

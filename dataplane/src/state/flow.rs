//! From an IP packet to the key its state is looked up by, including the flow an ICMP or
//! ICMPv6 **error** belongs to (the header it quotes).
//!
//! pf (`pf_test_state_icmp`) looks an error up by the quoted packet's key with the
//! direction reversed: the quoted packet went from the host the error is addressed to, and the
//! error comes back the other way, like a reply. [`IcmpErrorFlow::key`] is that reversed key,
//! so looking it up gives the same [`Direction`](super::Direction) the error travels in, and
//! the sender of the quoted packet is the peer of the *opposite* direction. pf also requires
//! the error's destination to be the quoted packet's source, and refuses errors quoting a
//! non-first fragment; both are checked here.

use super::StateDrop;
use super::key::{Addr, Af, PacketKey};
use crate::wire::{Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet, icmpv4, icmpv6};

/// What a packet is, for the state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified {
    /// An ordinary packet of flow `PacketKey` (TCP, UDP, SCTP, ICMP echo and other queries,
    /// other protocols).
    Flow(PacketKey),
    /// An ICMP/ICMPv6 error about another flow.
    IcmpError(IcmpErrorFlow),
}

/// The flow an ICMP error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErrorFlow {
    /// The quoted packet's key **reversed**: as a packet travelling like the error.
    pub key: PacketKey,
    /// For a quoted TCP header, its sequence number, to check with
    /// [`tcp::icmp_error_seq_ok`](super::tcp::icmp_error_seq_ok).
    pub tcp_seq: Option<u32>,
}

const SCTP: IpProtocol = IpProtocol(132);

fn has_ports(proto: IpProtocol) -> bool {
    proto == IpProtocol::TCP || proto == IpProtocol::UDP || proto == SCTP
}

/// Ports of a transport header (the first 4 bytes for TCP, UDP and SCTP).
fn ports(l4: &[u8]) -> Option<(u16, u16)> {
    match l4 {
        [a, b, c, d, ..] => Some((u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))),
        _ => None,
    }
}

fn is_v4_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        icmpv4::msg_type::DST_UNREACHABLE
            | icmpv4::msg_type::SOURCE_QUENCH
            | icmpv4::msg_type::REDIRECT
            | icmpv4::msg_type::TIME_EXCEEDED
            | icmpv4::msg_type::PARAM_PROBLEM
    )
}

fn is_v6_error(msg_type: u8) -> bool {
    matches!(
        msg_type,
        icmpv6::msg_type::DST_UNREACHABLE
            | icmpv6::msg_type::PACKET_TOO_BIG
            | icmpv6::msg_type::TIME_EXCEEDED
            | icmpv6::msg_type::PARAM_PROBLEM
    )
}

/// The key of an IPv4 packet whose header has passed `Ipv4Packet::new_checked`.
///
/// # Errors
///
/// [`StateDrop::Fragment`] for a non-first fragment (no ports to match; pf reassembles
/// first), [`StateDrop::Truncated`] for a transport header too short to hold its ports, and
/// the ICMP error checks of [`StateDrop::IcmpErrorMismatch`] / [`StateDrop::Fragment`].
pub fn classify_ipv4<T: AsRef<[u8]>>(ip: &Ipv4Packet<T>) -> Result<Classified, StateDrop> {
    if ip.frag_offset() != 0 {
        return Err(StateDrop::Fragment);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let proto = ip.next_header();
    let l4 = ip.payload();
    let (sp, dp) = if has_ports(proto) {
        ports(l4).ok_or(StateDrop::Truncated)?
    } else if proto == IpProtocol::ICMP {
        let icmp = Icmpv4Packet::new_checked(l4).map_err(|_| StateDrop::Truncated)?;
        match icmp.msg_type() {
            icmpv4::msg_type::ECHO_REQUEST | icmpv4::msg_type::ECHO_REPLY => {
                (icmp.echo_ident(), icmp.echo_ident())
            }
            t if is_v4_error(t) => {
                return quoted_ipv4(icmp.data(), Addr::from(dst)).map(Classified::IcmpError);
            }
            _ => (0, 0),
        }
    } else {
        (0, 0)
    };
    Ok(Classified::Flow(PacketKey::v4(src, sp, dst, dp, proto)))
}

/// The key of an IPv6 packet whose header has passed `Ipv6Packet::new_checked`. Extension
/// headers (hop-by-hop, routing, destination options, fragment, AH) are walked.
///
/// # Errors
///
/// As [`classify_ipv4`].
pub fn classify_ipv6<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Result<Classified, StateDrop> {
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (proto, l4) = skip_ext_headers(ip.next_header(), ip.payload())?;
    let (sp, dp) = if has_ports(proto) {
        ports(l4).ok_or(StateDrop::Truncated)?
    } else if proto == IpProtocol::IPV6_ICMP {
        let icmp = Icmpv6Packet::new_checked(l4).map_err(|_| StateDrop::Truncated)?;
        match icmp.msg_type() {
            icmpv6::msg_type::ECHO_REQUEST | icmpv6::msg_type::ECHO_REPLY => {
                (icmp.echo_ident(), icmp.echo_ident())
            }
            t if is_v6_error(t) => {
                return quoted_ipv6(icmp.data(), Addr::from(dst)).map(Classified::IcmpError);
            }
            _ => (0, 0),
        }
    } else {
        (0, 0)
    };
    Ok(Classified::Flow(PacketKey::v6(src, sp, dst, dp, proto)))
}

/// The upper-layer protocol of an IPv6 packet and its bytes, past the extension headers.
///
/// # Errors
///
/// As [`classify_ipv6`] for the extension headers.
pub fn upper_layer<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Result<(IpProtocol, &[u8]), StateDrop> {
    skip_ext_headers(ip.next_header(), ip.payload())
}

/// Walks IPv6 extension headers to the transport header (at most 8 of them).
fn skip_ext_headers(
    mut proto: IpProtocol,
    mut rest: &[u8],
) -> Result<(IpProtocol, &[u8]), StateDrop> {
    for _ in 0..8 {
        let len = match proto {
            IpProtocol::HOPOPTS | IpProtocol::IPV6_ROUTE | IpProtocol::IPV6_OPTS => {
                let ext_len = rest.get(1).ok_or(StateDrop::Truncated)?;
                (usize::from(*ext_len) + 1) * 8
            }
            IpProtocol::IPV6_FRAG => {
                let [_, _, hi, lo, ..] = rest else {
                    return Err(StateDrop::Truncated);
                };
                if u16::from_be_bytes([*hi, *lo]) & 0xfff8 != 0 {
                    return Err(StateDrop::Fragment);
                }
                8
            }
            IpProtocol::AH => {
                let ah_len = rest.get(1).ok_or(StateDrop::Truncated)?;
                (usize::from(*ah_len) + 2) * 4
            }
            _ => return Ok((proto, rest)),
        };
        let next = rest.first().ok_or(StateDrop::Truncated)?;
        proto = IpProtocol(*next);
        rest = rest.get(len..).ok_or(StateDrop::Truncated)?;
    }
    Err(StateDrop::Truncated)
}

/// The inner key from the quoted transport header (ports, echo id or none), reversed.
fn inner_flow(
    af: Af,
    src: Addr,
    dst: Addr,
    proto: IpProtocol,
    l4: &[u8],
) -> Result<IcmpErrorFlow, StateDrop> {
    let mut tcp_seq = None;
    let (sp, dp) = if has_ports(proto) {
        if proto == IpProtocol::TCP {
            // pf needs the first 8 bytes of a quoted TCP header: ports and sequence number.
            let [_, _, _, _, s0, s1, s2, s3, ..] = l4 else {
                return Err(StateDrop::Truncated);
            };
            tcp_seq = Some(u32::from_be_bytes([*s0, *s1, *s2, *s3]));
        }
        ports(l4).ok_or(StateDrop::Truncated)?
    } else if proto == IpProtocol::ICMP || proto == IpProtocol::IPV6_ICMP {
        // A quoted echo: its id. Anything else quoted (an error about an error) has no id.
        let [t, _, _, _, i0, i1, ..] = l4 else {
            return Err(StateDrop::Truncated);
        };
        let echo = if proto == IpProtocol::ICMP {
            matches!(
                *t,
                icmpv4::msg_type::ECHO_REQUEST | icmpv4::msg_type::ECHO_REPLY
            )
        } else {
            matches!(
                *t,
                icmpv6::msg_type::ECHO_REQUEST | icmpv6::msg_type::ECHO_REPLY
            )
        };
        if echo {
            let id = u16::from_be_bytes([*i0, *i1]);
            (id, id)
        } else {
            (0, 0)
        }
    } else {
        (0, 0)
    };
    let quoted = PacketKey {
        src,
        dst,
        src_port: sp,
        dst_port: dp,
        proto,
        af,
    };
    Ok(IcmpErrorFlow {
        key: quoted.reversed(),
        tcp_seq,
    })
}

/// The quoted IPv4 packet of an ICMP error addressed to `outer_dst`. The quote is usually
/// truncated (header + 8 bytes), so lengths are checked against what is there, not against
/// the quoted header's total length.
fn quoted_ipv4(quote: &[u8], outer_dst: Addr) -> Result<IcmpErrorFlow, StateDrop> {
    let inner = Ipv4Packet::new_unchecked(quote);
    if quote.len() < 20 || inner.version() != 4 || inner.header_len() < 20 {
        return Err(StateDrop::Truncated);
    }
    if inner.frag_offset() != 0 {
        return Err(StateDrop::Fragment);
    }
    let src = Addr::from(inner.src_addr());
    if src != outer_dst {
        return Err(StateDrop::IcmpErrorMismatch);
    }
    let l4 = quote
        .get(usize::from(inner.header_len())..)
        .ok_or(StateDrop::Truncated)?;
    inner_flow(
        Af::Inet,
        src,
        Addr::from(inner.dst_addr()),
        inner.next_header(),
        l4,
    )
}

/// The quoted IPv6 packet of an ICMPv6 error addressed to `outer_dst`.
fn quoted_ipv6(quote: &[u8], outer_dst: Addr) -> Result<IcmpErrorFlow, StateDrop> {
    let inner = Ipv6Packet::new_unchecked(quote);
    if quote.len() < 40 || inner.version() != 6 {
        return Err(StateDrop::Truncated);
    }
    let src = Addr::from(inner.src_addr());
    if src != outer_dst {
        return Err(StateDrop::IcmpErrorMismatch);
    }
    let after = quote.get(40..).ok_or(StateDrop::Truncated)?;
    let (proto, l4) = skip_ext_headers(inner.next_header(), after)?;
    inner_flow(Af::Inet6, src, Addr::from(inner.dst_addr()), proto, l4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 20];
        b[0] = 0x45;
        let total = (20 + payload.len()) as u16;
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b[8] = 64;
        b[9] = proto;
        b[12..16].copy_from_slice(&src.octets());
        b[16..20].copy_from_slice(&dst.octets());
        let sum = !checksum::data(&b);
        b[10..12].copy_from_slice(&sum.to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 40];
        b[0] = 0x60;
        b[4..6].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        b[6] = next;
        b[7] = 64;
        b[8..24].copy_from_slice(&src.octets());
        b[24..40].copy_from_slice(&dst.octets());
        b.extend_from_slice(payload);
        b
    }

    fn tcp_hdr(sp: u16, dp: u16, seq: u32) -> Vec<u8> {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&sp.to_be_bytes());
        t[2..4].copy_from_slice(&dp.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x10;
        t
    }

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
    const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

    #[test]
    fn test_tcp_and_echo_keys() {
        let pkt = ipv4(CLIENT, SERVER, 6, &tcp_hdr(40000, 443, 1));
        let ip = Ipv4Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(
            classify_ipv4(&ip),
            Ok(Classified::Flow(PacketKey::v4(
                CLIENT,
                40000,
                SERVER,
                443,
                IpProtocol::TCP
            )))
        );
        let echo = [8u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let pkt = ipv4(CLIENT, SERVER, 1, &echo);
        let Ok(Classified::Flow(k)) = classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap())
        else {
            panic!()
        };
        assert_eq!((k.src_port, k.dst_port), (0x1234, 0x1234));
        let reply = [0u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        let pkt = ipv4(SERVER, CLIENT, 1, &reply);
        let Ok(Classified::Flow(r)) = classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap())
        else {
            panic!()
        };
        assert_eq!(r, k.reversed());
        // Truncated TCP header.
        let pkt = ipv4(CLIENT, SERVER, 6, &[0, 1]);
        assert_eq!(
            classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap()),
            Err(StateDrop::Truncated)
        );
    }

    #[test]
    fn test_icmp_error_gives_reversed_inner_key() {
        // The client's segment to the server, as the router quotes it (header + 8 bytes).
        let quoted = ipv4(CLIENT, SERVER, 6, &tcp_hdr(40000, 443, 0xdead_beef));
        let mut icmp = vec![3u8, 4, 0, 0, 0, 0, 0x05, 0xdc];
        icmp.extend_from_slice(&quoted[..28]);
        let pkt = ipv4(ROUTER, CLIENT, 1, &icmp);
        let got = classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap()).unwrap();
        let Classified::IcmpError(err) = got else {
            panic!("{got:?}")
        };
        // Reversed: it travels like the server's replies.
        assert_eq!(
            err.key,
            PacketKey::v4(SERVER, 443, CLIENT, 40000, IpProtocol::TCP)
        );
        assert_eq!(err.tcp_seq, Some(0xdead_beef));
        // Addressed to someone other than the quoted packet's source: pf refuses it.
        let pkt = ipv4(ROUTER, SERVER, 1, &icmp);
        assert_eq!(
            classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap()),
            Err(StateDrop::IcmpErrorMismatch)
        );
        // Quote too short for the sequence number.
        let mut short = vec![3u8, 4, 0, 0, 0, 0, 0, 0];
        short.extend_from_slice(&quoted[..24]);
        let pkt = ipv4(ROUTER, CLIENT, 1, &short);
        assert_eq!(
            classify_ipv4(&Ipv4Packet::new_checked(&pkt[..]).unwrap()),
            Err(StateDrop::Truncated)
        );
    }

    #[test]
    fn test_icmpv6_error_and_ext_headers() {
        let c: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let s: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let r: Ipv6Addr = "2001:db8:2::fe".parse().unwrap();
        let udp = [0x9c, 0x40, 0, 53, 0, 8, 0, 0];
        // The quoted packet carries a destination-options header before UDP.
        let mut ext = vec![17u8, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&udp);
        let quoted = ipv6(c, s, 60, &ext);
        let mut icmp = vec![1u8, 4, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let pkt = ipv6(r, c, 58, &icmp);
        let got = classify_ipv6(&Ipv6Packet::new_checked(&pkt[..]).unwrap()).unwrap();
        assert_eq!(
            got,
            Classified::IcmpError(IcmpErrorFlow {
                key: PacketKey::v6(s, 53, c, 40000, IpProtocol::UDP),
                tcp_seq: None,
            })
        );
        // A plain packet with the same extension header.
        let pkt = ipv6(c, s, 60, &ext);
        assert_eq!(
            classify_ipv6(&Ipv6Packet::new_checked(&pkt[..]).unwrap()),
            Ok(Classified::Flow(PacketKey::v6(
                c,
                40000,
                s,
                53,
                IpProtocol::UDP
            )))
        );
        // A non-first fragment.
        let frag = [17u8, 0, 0x05, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
        let pkt = ipv6(c, s, 44, &frag);
        assert_eq!(
            classify_ipv6(&Ipv6Packet::new_checked(&pkt[..]).unwrap()),
            Err(StateDrop::Fragment)
        );
        // A first fragment carries the ports.
        let mut first = vec![17u8, 0, 0x00, 0x01, 0, 0, 0, 1];
        first.extend_from_slice(&udp);
        let pkt = ipv6(c, s, 44, &first);
        assert!(matches!(
            classify_ipv6(&Ipv6Packet::new_checked(&pkt[..]).unwrap()),
            Ok(Classified::Flow(_))
        ));
    }

    #[test]
    fn test_arbitrary_bytes_never_panic() {
        use proptest::prelude::*;
        proptest!(|(bytes in proptest::collection::vec(any::<u8>(), 0..200))| {
            if let Ok(ip) = Ipv4Packet::new_checked(&bytes[..]) {
                let _ = classify_ipv4(&ip);
            }
            let _ = classify_ipv4(&Ipv4Packet::new_unchecked(&bytes[..]));
            let _ = classify_ipv6(&Ipv6Packet::new_unchecked(&bytes[..]));
            let _ = quoted_ipv4(&bytes, Addr::default());
            let _ = quoted_ipv6(&bytes, Addr::default());
        });
    }
}

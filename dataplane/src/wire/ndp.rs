//! Neighbour discovery messages (RFC 4861 §4.3, §4.4): neighbour solicitations and
//! advertisements with their link-layer address options, carried in an [`Icmpv6Packet`]. Also
//! the address helpers NDP needs: solicited-node groups, their MACs, EUI-64 link-local
//! addresses.
//!
//! Router solicitations, router advertisements and redirects are recognised by type only
//! ([`is_ndp_type`]); [`NdpRepr::parse`] calls them [`WireError::Unsupported`].

use std::net::Ipv6Addr;

use super::WireError;
use super::bytes;
use super::ethernet::MacAddr;
use super::icmpv6::{Icmpv6Packet, msg_type};

mod field {
    use super::bytes::Field;

    /// R, S and O flags of an advertisement (the first byte after the checksum).
    pub const FLAGS: usize = 4;
    pub const TARGET: Field = 8..24;
    pub const OPTIONS: usize = 24;
}

/// Length of a solicitation or advertisement without options.
pub const BASE_LEN: usize = field::OPTIONS;
/// Length of a link-layer address option carrying an Ethernet MAC.
pub const LLADDR_OPTION_LEN: usize = 8;

/// Option types (RFC 4861 §4.6).
pub mod option_type {
    /// Source link-layer address.
    pub const SOURCE_LLADDR: u8 = 1;
    /// Target link-layer address.
    pub const TARGET_LLADDR: u8 = 2;
}

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// Whether `msg_type` is one of the five NDP messages (133–137).
pub const fn is_ndp_type(msg_type: u8) -> bool {
    matches!(msg_type, 133..=137)
}

/// The solicited-node multicast group of `addr`: `ff02::1:ff00:0/104` plus its low 24 bits.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast MAC for an IPv6 multicast group: `33:33` plus its low 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The link-local address `fe80::/64` with the modified EUI-64 interface identifier of `mac`
/// (RFC 4291 appendix A: `ff:fe` in the middle, universal/local bit inverted).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 0x02,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// Whether `addr` is in `fe80::/10`.
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Flags of a neighbour advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NaFlags {
    /// R: the sender is a router.
    pub router: bool,
    /// S: an answer to a solicitation.
    pub solicited: bool,
    /// O: replace a cached link-layer address.
    pub override_: bool,
}

/// A neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpRepr {
    /// Neighbour solicitation (type 135).
    NeighborSolicit {
        /// The address being resolved.
        target: Ipv6Addr,
        /// The solicitor's MAC (source link-layer address option), if given.
        source_lladdr: Option<MacAddr>,
    },
    /// Neighbour advertisement (type 136).
    NeighborAdvert {
        /// R, S and O.
        flags: NaFlags,
        /// The address advertised.
        target: Ipv6Addr,
        /// Its MAC (target link-layer address option), if given.
        target_lladdr: Option<MacAddr>,
    },
}

impl NdpRepr {
    /// Reads a solicitation or advertisement sent from `src` to `dst`, with the checks of RFC
    /// 4861 §7.1 that the ICMPv6 message alone allows: checksum ([`WireError::Checksum`]),
    /// code 0, at least 24 bytes, a non-multicast target, no zero-length option
    /// ([`WireError::Malformed`]). The hop limit and address-dependent rules are the caller's.
    /// Other message types are [`WireError::Unsupported`].
    ///
    /// # Errors
    /// As above.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Icmpv6Packet<&T>,
    ) -> Result<NdpRepr, WireError> {
        packet.check_len()?;
        let kind = packet.msg_type();
        if kind != msg_type::NEIGHBOR_SOLICIT && kind != msg_type::NEIGHBOR_ADVERT {
            return Err(WireError::Unsupported);
        }
        let data = packet.as_ref();
        if data.len() < field::OPTIONS {
            return Err(WireError::Truncated);
        }
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        let target = Ipv6Addr::from(bytes::array::<16>(data, field::TARGET));
        if packet.msg_code() != 0 || target.is_multicast() {
            return Err(WireError::Malformed);
        }
        let wanted = if kind == msg_type::NEIGHBOR_SOLICIT {
            option_type::SOURCE_LLADDR
        } else {
            option_type::TARGET_LLADDR
        };
        let lladdr = find_lladdr(bytes::tail(data, field::OPTIONS), wanted)?;
        if kind == msg_type::NEIGHBOR_SOLICIT {
            return Ok(NdpRepr::NeighborSolicit {
                target,
                source_lladdr: lladdr,
            });
        }
        let f = bytes::u8_at(data, field::FLAGS);
        Ok(NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: f & FLAG_ROUTER != 0,
                solicited: f & FLAG_SOLICITED != 0,
                override_: f & FLAG_OVERRIDE != 0,
            },
            target,
            target_lladdr: lladdr,
        })
    }

    /// Message length: 24 bytes, plus 8 for the link-layer address option if present.
    pub fn buffer_len(&self) -> usize {
        let lladdr = match self {
            NdpRepr::NeighborSolicit { source_lladdr, .. } => source_lladdr,
            NdpRepr::NeighborAdvert { target_lladdr, .. } => target_lladdr,
        };
        BASE_LEN + lladdr.map_or(0, |_| LLADDR_OPTION_LEN)
    }

    /// Writes the whole message and fills the checksum for `src` → `dst`; the view must span
    /// exactly `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) {
        let (kind, flags, target, lladdr) = match *self {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => (
                msg_type::NEIGHBOR_SOLICIT,
                0,
                target,
                source_lladdr.map(|m| (option_type::SOURCE_LLADDR, m)),
            ),
            NdpRepr::NeighborAdvert {
                flags,
                target,
                target_lladdr,
            } => (
                msg_type::NEIGHBOR_ADVERT,
                (u8::from(flags.router) * FLAG_ROUTER)
                    | (u8::from(flags.solicited) * FLAG_SOLICITED)
                    | (u8::from(flags.override_) * FLAG_OVERRIDE),
                target,
                target_lladdr.map(|m| (option_type::TARGET_LLADDR, m)),
            ),
        };
        packet.set_msg_type(kind);
        packet.set_msg_code(0);
        // The flags and reserved bits share the four bytes that carry an error's MTU.
        packet.set_mtu(u32::from(flags) << 24);
        // `data_mut` starts after the 8-byte ICMPv6 header, where the target begins.
        let data = packet.data_mut();
        let shift = super::icmpv6::HEADER_LEN;
        let target_at = field::TARGET.start - shift..field::TARGET.end - shift;
        bytes::set_bytes(data, target_at, &target.octets());
        if let Some((option, mac)) = lladdr {
            let at = field::OPTIONS - shift;
            bytes::set_u8(data, at, option);
            bytes::set_u8(data, at + 1, 1);
            bytes::set_bytes(data, at + 2..at + 8, &mac.0);
        }
        packet.fill_checksum(src, dst);
    }
}

/// The MAC of the first option of type `wanted` in `options`; every option must have a
/// non-zero length and fit (RFC 4861 §4.6).
fn find_lladdr(mut options: &[u8], wanted: u8) -> Result<Option<MacAddr>, WireError> {
    let mut found = None;
    while !options.is_empty() {
        let kind = bytes::u8_at(options, 0);
        let len = usize::from(bytes::u8_at(options, 1)) * 8;
        if len == 0 {
            return Err(WireError::Malformed);
        }
        let Some(option) = options.get(..len) else {
            return Err(WireError::Truncated);
        };
        // Ethernet addresses are 6 bytes (RFC 2464 §8); longer options belong to other links.
        if kind == wanted && found.is_none() && len == LLADDR_OPTION_LEN {
            found = Some(MacAddr(bytes::array::<6>(option, 2..8)));
        }
        options = bytes::tail(options, len);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        (
            "fe80::1".parse().unwrap(),
            "ff02::1:ff00:2".parse().unwrap(),
        )
    }

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);

    /// Solicitation for fe80::2 from fe80::1 with source link-layer address 02:00:00:00:00:01.
    static NS: [u8; 32] = [
        0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00,
        0x00, 0x01,
    ];

    fn ns_with_checksum() -> [u8; 32] {
        let (src, dst) = addrs();
        let mut buf = NS;
        Icmpv6Packet::new_unchecked(&mut buf[..]).fill_checksum(&src, &dst);
        buf
    }

    #[test]
    fn test_deconstruct() {
        let (src, dst) = addrs();
        let buf = ns_with_checksum();
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            NdpRepr::parse(&src, &dst, &packet),
            Ok(NdpRepr::NeighborSolicit {
                target: "fe80::2".parse().unwrap(),
                source_lladdr: Some(MAC),
            })
        );
        assert_eq!(
            NdpRepr::parse(&dst, &dst, &packet),
            Err(WireError::Checksum)
        );
    }

    #[test]
    fn test_construct() {
        let (src, dst) = addrs();
        let repr = NdpRepr::NeighborSolicit {
            target: "fe80::2".parse().unwrap(),
            source_lladdr: Some(MAC),
        };
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ns_with_checksum());
    }

    #[test]
    fn test_advert_flags() {
        let (src, dst) = addrs();
        let repr = NdpRepr::NeighborAdvert {
            flags: NaFlags {
                router: true,
                solicited: false,
                override_: true,
            },
            target: src,
            target_lladdr: None,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf[4], 0xa0);
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(NdpRepr::parse(&src, &dst, &packet), Ok(repr));
    }

    #[test]
    fn test_malformed() {
        let (src, dst) = addrs();
        let check = |edit: &dyn Fn(&mut [u8]), want| {
            let mut buf = NS;
            edit(&mut buf);
            Icmpv6Packet::new_unchecked(&mut buf[..]).fill_checksum(&src, &dst);
            let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(NdpRepr::parse(&src, &dst, &packet), Err(want));
        };
        check(&|b| b[1] = 1, WireError::Malformed);
        check(&|b| b[8] = 0xff, WireError::Malformed);
        check(&|b| b[25] = 0, WireError::Malformed);
        check(&|b| b[25] = 2, WireError::Truncated);
        check(&|b| b[0] = 133, WireError::Unsupported);
        let packet = Icmpv6Packet::new_checked(&NS[..20]).unwrap();
        assert_eq!(
            NdpRepr::parse(&src, &dst, &packet),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn test_addresses() {
        let mac = MacAddr([0x00, 0x1b, 0x21, 0xaa, 0xbb, 0xcc]);
        let ll = link_local_from_mac(mac);
        assert_eq!(ll, "fe80::21b:21ff:feaa:bbcc".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(ll));
        assert!(!is_link_local("2001:db8::1".parse().unwrap()));
        let group = solicited_node("2001:db8::12:3456".parse().unwrap());
        assert_eq!(group, "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            multicast_mac(group),
            MacAddr([0x33, 0x33, 0xff, 0x12, 0x34, 0x56])
        );
    }
}

//! Flow keys: what a packet says ([`PacketKey`]), what a state stores in pf's layout
//! ([`StateKey`]), and the direction-free form the index hashes.
//!
//! pf's convention (pfsync.md §3.1): a state key holds two endpoints, index 0 and 1. For a
//! state created by an **inbound** packet, index 0 is that packet's source; for an
//! **outbound** one, index 1 is. Replies therefore fill the other index, and one key serves
//! both directions. pfsync copies keys in this layout, so [`StateKey`] keeps it.
//!
//! The index does not know directions: it hashes the key with its two endpoints in a fixed
//! order, so a packet and its reply probe the same bucket.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::IpProtocol;

/// An IPv4 or IPv6 address as pf stores it (`struct pf_addr`): IPv6 in all 16 bytes, IPv4 in
/// bytes 0–3 with the rest zero. Network byte order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr(pub [u8; 16]);

impl Addr {
    /// The address as an [`IpAddr`] of family `af`.
    pub fn to_ip(self, af: Af) -> IpAddr {
        match af {
            Af::Inet => {
                let [a, b, c, d, ..] = self.0;
                IpAddr::V4(Ipv4Addr::new(a, b, c, d))
            }
            Af::Inet6 => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(a: Ipv4Addr) -> Addr {
        let mut bytes = [0u8; 16];
        let [a0, a1, a2, a3] = a.octets();
        bytes[0] = a0;
        bytes[1] = a1;
        bytes[2] = a2;
        bytes[3] = a3;
        Addr(bytes)
    }
}

impl From<Ipv6Addr> for Addr {
    fn from(a: Ipv6Addr) -> Addr {
        Addr(a.octets())
    }
}

impl From<IpAddr> for Addr {
    fn from(a: IpAddr) -> Addr {
        match a {
            IpAddr::V4(v4) => v4.into(),
            IpAddr::V6(v6) => v6.into(),
        }
    }
}

/// Address family. pfsync numbers it per OS (IPv4 2; IPv6 28 on FreeBSD, 24 on OpenBSD), so
/// the codec maps it; the table only needs to tell the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Af {
    /// IPv4.
    Inet = 4,
    /// IPv6.
    Inet6 = 6,
}

/// The direction pf records for a state: the direction of the creating packet relative to the
/// interface it was filtered on (pfsync `direction`: 1 in, 2 out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PfDirection {
    /// Entering the firewall (pf `PF_IN`).
    In = 1,
    /// Leaving the firewall (pf `PF_OUT`).
    Out = 2,
}

impl PfDirection {
    /// pf's key index of the creating packet's source: 0 for in, 1 for out.
    pub const fn src_index(self) -> usize {
        match self {
            PfDirection::In => 0,
            PfDirection::Out => 1,
        }
    }
}

/// Which way a packet travels relative to the packet that created its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Same way as the creating packet: sent by the state's `src` peer.
    Forward,
    /// The other way (replies): sent by the `dst` peer.
    Reverse,
}

impl Direction {
    /// The other direction.
    pub const fn reverse(self) -> Direction {
        match self {
            Direction::Forward => Direction::Reverse,
            Direction::Reverse => Direction::Forward,
        }
    }

    /// pf's packet counter index: 0 in the state's own direction, 1 the other way.
    pub const fn index(self) -> usize {
        match self {
            Direction::Forward => 0,
            Direction::Reverse => 1,
        }
    }
}

/// Which of a state's two keys a packet matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeySide {
    /// The wire key: addresses as seen on the state's interface (pf `PF_SK_WIRE`).
    Wire,
    /// The stack key: the other side of NAT (pf `PF_SK_STACK`).
    Stack,
}

/// A packet's flow as it travels: addresses and ports from its headers. For ICMP and ICMPv6
/// echo both ports hold the echo id (so request and reply are each other's reverse); for
/// protocols without ports both are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketKey {
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Source port (echo id for ICMP echo).
    pub src_port: u16,
    /// Destination port (echo id for ICMP echo).
    pub dst_port: u16,
    /// IP protocol.
    pub proto: IpProtocol,
    /// Address family.
    pub af: Af,
}

impl PacketKey {
    /// An IPv4 flow.
    pub fn v4(
        src: Ipv4Addr,
        src_port: u16,
        dst: Ipv4Addr,
        dst_port: u16,
        proto: IpProtocol,
    ) -> Self {
        PacketKey {
            src: src.into(),
            dst: dst.into(),
            src_port,
            dst_port,
            proto,
            af: Af::Inet,
        }
    }

    /// An IPv6 flow.
    pub fn v6(
        src: Ipv6Addr,
        src_port: u16,
        dst: Ipv6Addr,
        dst_port: u16,
        proto: IpProtocol,
    ) -> Self {
        PacketKey {
            src: src.into(),
            dst: dst.into(),
            src_port,
            dst_port,
            proto,
            af: Af::Inet6,
        }
    }

    /// The same flow seen from the other end (a reply's key).
    pub fn reversed(&self) -> PacketKey {
        PacketKey {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }
}

/// A state key in pf's layout (`struct pf_state_key`): two endpoints by index (see the module
/// doc for which is which), family and protocol. 38 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateKey {
    /// Addresses, by pf index.
    pub addr: [Addr; 2],
    /// Ports (echo id for ICMP), by pf index.
    pub port: [u16; 2],
    /// Address family.
    pub af: Af,
    /// IP protocol.
    pub proto: IpProtocol,
}

impl StateKey {
    /// Filler for unused slots.
    pub(crate) const EMPTY: StateKey = StateKey {
        addr: [Addr([0; 16]); 2],
        port: [0; 2],
        af: Af::Inet,
        proto: IpProtocol(0),
    };

    /// The key of a state created by a packet with flow `key` travelling `dir`.
    pub fn from_packet(key: &PacketKey, dir: PfDirection) -> StateKey {
        let (src, dst) = ((key.src, key.src_port), (key.dst, key.dst_port));
        let ((a0, p0), (a1, p1)) = match dir {
            PfDirection::In => (src, dst),
            PfDirection::Out => (dst, src),
        };
        StateKey {
            addr: [a0, a1],
            port: [p0, p1],
            af: key.af,
            proto: key.proto,
        }
    }

    /// The flow of the creating packet, given the state's direction (inverse of
    /// [`from_packet`](Self::from_packet)).
    pub fn packet(&self, dir: PfDirection) -> PacketKey {
        let [a0, a1] = self.addr;
        let [p0, p1] = self.port;
        let (src, src_port, dst, dst_port) = match dir {
            PfDirection::In => (a0, p0, a1, p1),
            PfDirection::Out => (a1, p1, a0, p0),
        };
        PacketKey {
            src,
            dst,
            src_port,
            dst_port,
            proto: self.proto,
            af: self.af,
        }
    }

    /// The key a packet of flow `k` crossing its interface `dir` is looked up by: pf builds
    /// it the same way (`pf_test_state_*`: in, the source at index 0; out, at index 1), so a
    /// packet matches a state key when this equals it.
    #[inline]
    pub fn lookup(k: &PacketKey, dir: PfDirection) -> StateKey {
        StateKey::from_packet(k, dir)
    }
}

/// The index's hash: folded 64×64→128-bit multiplies (as foldhash and wyhash do) over the
/// key's words, keyed with per-table random seeds so that remote hosts cannot aim their
/// flows at one bucket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyHasher {
    seeds: [u64; 5],
}

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl KeyHasher {
    /// Seeds from the standard library's per-process random keys.
    pub(crate) fn random() -> KeyHasher {
        let rs = RandomState::new();
        let mut seeds = [0u64; 5];
        for (i, seed) in (0u64..).zip(seeds.iter_mut()) {
            // Odd, so that a multiply by a seed never zeroes a word on its own.
            *seed = rs.hash_one(i) | 1;
        }
        KeyHasher { seeds }
    }

    /// Hash of the state key `k` in pf's layout. Not symmetric: pf tells a packet's way
    /// through an interface by the order of the endpoints, and so does the index.
    #[inline]
    pub(crate) fn hash(&self, k: &StateKey) -> u64 {
        let [k0, k1, k2, k3, k4] = self.seeds;
        let a0 = u128::from_ne_bytes(k.addr[0].0);
        let a1 = u128::from_ne_bytes(k.addr[1].0);
        let rest = (u64::from(k.port[0]) << 48)
            | (u64::from(k.port[1]) << 32)
            | (u64::from(k.proto.0) << 8)
            | u64::from(k.af as u8);
        let a = fold_mul((a0 as u64) ^ k0, (a1 as u64) ^ k1);
        let b = fold_mul(((a0 >> 64) as u64) ^ k2, ((a1 >> 64) as u64) ^ k3);
        fold_mul(a ^ rest, b ^ k4)
    }

    /// Hash of a pfsync identity. Ids are counters (ours and the peer's), not chosen by
    /// anyone on the network, so the index position follows them (offset per creator):
    /// consecutive inserts write consecutive index lines, which the hardware prefetcher
    /// streams, instead of a random line each; and a window of live ids spreads evenly over
    /// the chunks. The tag bits (the top 16) are mixed as usual.
    #[inline]
    pub(crate) fn hash_id(&self, creatorid: u32, id: u64) -> u64 {
        let [k0, k1, k2, k3, _] = self.seeds;
        let mixed = fold_mul(id ^ k0, u64::from(creatorid) ^ k1);
        let position = id.wrapping_add(fold_mul(u64::from(creatorid) ^ k2, k3));
        (mixed & 0xffff_0000_0000_0000) | (position & 0x0000_ffff_ffff_ffff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(a: [u8; 4], ap: u16, b: [u8; 4], bp: u16) -> PacketKey {
        PacketKey::v4(
            Ipv4Addr::from(a),
            ap,
            Ipv4Addr::from(b),
            bp,
            IpProtocol::TCP,
        )
    }

    #[test]
    fn test_pf_index_convention() {
        let k = tcp([10, 0, 0, 1], 1234, [192, 0, 2, 1], 80);
        let inbound = StateKey::from_packet(&k, PfDirection::In);
        assert_eq!(inbound.addr[0], Addr::from(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(inbound.port, [1234, 80]);
        let outbound = StateKey::from_packet(&k, PfDirection::Out);
        assert_eq!(outbound.addr[1], Addr::from(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(outbound.port, [80, 1234]);
        assert_eq!(inbound.packet(PfDirection::In), k);
        assert_eq!(outbound.packet(PfDirection::Out), k);
        // A reply to an outbound state has the inbound layout of the same key.
        assert_eq!(
            StateKey::from_packet(&k.reversed(), PfDirection::In),
            outbound
        );
    }

    #[test]
    fn test_lookup_keys_follow_pf() {
        let k = tcp([10, 0, 0, 1], 1234, [192, 0, 2, 1], 80);
        let h = KeyHasher::random();
        // An inbound state is found by its packets in and its replies out, not the other way.
        let state = StateKey::from_packet(&k, PfDirection::In);
        assert_eq!(StateKey::lookup(&k, PfDirection::In), state);
        assert_eq!(StateKey::lookup(&k.reversed(), PfDirection::Out), state);
        assert_ne!(StateKey::lookup(&k, PfDirection::Out), state);
        assert_ne!(StateKey::lookup(&k.reversed(), PfDirection::In), state);
        assert_ne!(
            h.hash(&StateKey::lookup(&k, PfDirection::In)),
            h.hash(&StateKey::lookup(&k, PfDirection::Out))
        );
        let mut udp = k;
        udp.proto = IpProtocol::UDP;
        assert_ne!(
            h.hash(&StateKey::lookup(&udp, PfDirection::In)),
            h.hash(&state)
        );
    }

    #[test]
    fn test_addr_round_trip() {
        let v4 = Ipv4Addr::new(198, 51, 100, 7);
        assert_eq!(Addr::from(v4).to_ip(Af::Inet), IpAddr::V4(v4));
        assert_eq!(&Addr::from(v4).0[4..], &[0u8; 12]);
        let v6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(Addr::from(IpAddr::V6(v6)).to_ip(Af::Inet6), IpAddr::V6(v6));
    }

    #[test]
    fn test_hash_spreads() {
        let h = KeyHasher::random();
        let mut seen = std::collections::HashSet::new();
        for port in 0..10_000u16 {
            let k = tcp([10, 0, 0, 1], port, [192, 0, 2, 1], 80);
            seen.insert(h.hash(&StateKey::from_packet(&k, PfDirection::In)) >> 49); // the index's tag bits
            assert!(seen.len() > 1 || port < 100);
        }
        assert!(seen.len() > 100);
    }
}

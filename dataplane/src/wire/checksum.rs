//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`data`], [`combine`] and the pseudo-header helpers return the folded one's-complement
//! *sum*, not yet inverted: sums of pieces [`combine`] into the sum of the whole, and the value
//! stored in a header is `!sum`. A header verifies when the sum over it, checksum field
//! included (plus pseudo-header), is `0xffff`.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ip::IpProtocol;

/// Folds a wide one's-complement accumulator to 16 bits with end-around carries.
///
/// A non-zero accumulator never folds to zero, so `0xffff` (negative zero) is what a
/// verifying header sums to.
#[inline]
fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement sum of `bytes` taken as big-endian 16-bit words (an odd last byte is
/// padded with a zero), folded to 16 bits and not inverted.
///
/// Per-packet path: it adds native-endian 32-bit words into a 64-bit accumulator, which is
/// valid because the one's-complement sum is independent of byte order and word width
/// (RFC 1071 §2), and swaps once at the end. The accumulator cannot overflow below 16 GiB.
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        // Always 8 bytes; the fallback is never taken and compiles away.
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_ne_bytes);
        acc += (word & 0xffff_ffff) + (word >> 32);
    }
    let mut rest = chunks.remainder();
    if let Some((word, tail)) = rest.split_first_chunk::<4>() {
        acc += u64::from(u32::from_ne_bytes(*word));
        rest = tail;
    }
    if let Some((word, tail)) = rest.split_first_chunk::<2>() {
        acc += u64::from(u16::from_ne_bytes(*word));
        rest = tail;
    }
    if let Some(&last) = rest.first() {
        acc += u64::from(u16::from_ne_bytes([last, 0]));
    }
    // The sum is in memory byte order; make it a host value.
    u16::from_be(fold(acc))
}

/// One's-complement sum of partial sums (e.g. pseudo-header and segment), not inverted.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Sum of a 32-bit value's two halves.
#[inline]
fn split_u32(value: u32) -> u64 {
    u64::from(value >> 16) + u64::from(value & 0xffff)
}

/// Sum of the IPv4 pseudo-header for a TCP/UDP segment of `length` bytes, not inverted.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, proto: IpProtocol, length: u32) -> u16 {
    fold(
        split_u32(u32::from(src))
            + split_u32(u32::from(dst))
            + u64::from(proto.0)
            + split_u32(length),
    )
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet of `length` bytes,
/// not inverted.
#[inline]
pub fn pseudo_header_v6(
    src: &Ipv6Addr,
    dst: &Ipv6Addr,
    next_header: IpProtocol,
    length: u32,
) -> u16 {
    let words = |addr: &Ipv6Addr| addr.segments().iter().map(|&w| u64::from(w)).sum::<u64>();
    fold(words(src) + words(dst) + u64::from(next_header.0) + split_u32(length))
}

/// Incremental update of a stored (inverted) checksum when a 16-bit word of the covered data
/// changes from `old` to `new`: RFC 1624 eqn. 3, `HC' = ~(~HC + ~m + m')`.
///
/// Agrees with a full recomputation whenever the covered data is not all zeroes.
#[inline]
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u64::from(!checksum) + u64::from(!old) + u64::from(new))
}

/// [`update_u16`] for a 32-bit field (an IPv4 address, a TCP sequence number) that starts on
/// a 16-bit boundary.
#[inline]
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    !fold(u64::from(!checksum) + split_u32(!old) + split_u32(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-pair reference implementation, straight from RFC 1071.
    pub(crate) fn naive(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u32::from(b));
            sum += hi | lo;
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    // IPv4 header from the RFC 1071 era examples: 45 00 00 73 00 00 40 00 40 11 [b8 61]
    // c0 a8 00 01 c0 a8 00 c7 — the classic Wikipedia example, checksum 0xb861.
    static IPV4_HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn test_known_header() {
        assert_eq!(!data(&IPV4_HEADER), 0xb861);
        let mut filled = IPV4_HEADER;
        filled[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(data(&filled), 0xffff);
    }

    #[test]
    fn test_rfc1071_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
    }

    #[test]
    fn test_lengths_against_naive() {
        let bytes: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(167) ^ 0x5a) as u8)
            .collect();
        for len in 0..bytes.len() {
            assert_eq!(data(&bytes[..len]), naive(&bytes[..len]), "len {len}");
        }
        assert_eq!(data(&[0xff; 1000]), 0xffff);
        assert_eq!(data(&[]), 0);
        assert_eq!(data(&[0xab]), 0xab00);
    }

    #[test]
    fn test_combine_and_pseudo_header() {
        let src = Ipv4Addr::new(192, 168, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 0, 199);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&[0, 17, 0x01, 0x23]);
        assert_eq!(
            pseudo_header_v4(src, dst, IpProtocol::UDP, 0x123),
            data(&pseudo)
        );
        assert_eq!(
            combine(&[data(&IPV4_HEADER[..7]), data(&IPV4_HEADER[8..])]),
            {
                let mut copy = IPV4_HEADER;
                copy[7] = 0;
                data(&copy)
            }
        );

        let src6: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst6: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let mut pseudo6 = Vec::new();
        pseudo6.extend_from_slice(&src6.octets());
        pseudo6.extend_from_slice(&dst6.octets());
        pseudo6.extend_from_slice(&[0, 1, 0, 0x20, 0, 0, 0, 58]);
        assert_eq!(
            pseudo_header_v6(&src6, &dst6, IpProtocol::IPV6_ICMP, 0x10020),
            data(&pseudo6)
        );
    }

    #[test]
    fn test_update() {
        let mut header = IPV4_HEADER;
        header[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        // TTL 64 -> 63 in the TTL/protocol word.
        let updated = update_u16(0xb861, 0x4011, 0x3f11);
        header[8] = 0x3f;
        header[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(updated, !data(&header));

        // Address change via update_u32.
        let updated = update_u32(!data(&header), 0xc0a8_00c7, 0x0a00_0001);
        header[16..20].copy_from_slice(&[10, 0, 0, 1]);
        assert_eq!(updated, !data(&header));
    }
}

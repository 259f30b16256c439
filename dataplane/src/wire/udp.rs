//! UDP datagrams (RFC 768).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::WireError;
use super::bytes;
use super::checksum;
use super::ip::IpProtocol;

mod field {
    use super::bytes::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const PAYLOAD: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram: the IP payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks `8 ≤ length field ≤ buffer length`.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::PAYLOAD {
            return Err(WireError::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < field::PAYLOAD {
            return Err(WireError::Malformed);
        }
        if field_len > len {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn data(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        bytes::u16_at(self.data(), field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        bytes::u16_at(self.data(), field::DST_PORT)
    }

    /// Length field: header plus payload, in bytes.
    #[allow(clippy::len_without_is_empty)] // a header field, not a container length
    pub fn len(&self) -> u16 {
        bytes::u16_at(self.data(), field::LENGTH)
    }

    /// Checksum as stored (0 = none, IPv4 only).
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.data(), field::CHECKSUM)
    }

    /// The datagram as the length field bounds it (header included).
    fn datagram(&self) -> &[u8] {
        bytes::slice(self.data(), 0..usize::from(self.len()))
    }

    /// The payload, bounded by the length field.
    pub fn payload(&self) -> &[u8] {
        bytes::slice(self.data(), field::PAYLOAD..usize::from(self.len()))
    }

    fn sum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        let datagram = self.datagram();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::UDP, datagram.len() as u32);
        checksum::combine(&[pseudo, checksum::data(datagram)])
    }

    fn sum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let datagram = self.datagram();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::UDP, datagram.len() as u32);
        checksum::combine(&[pseudo, checksum::data(datagram)])
    }

    /// Whether the checksum is right for these IPv4 addresses; a zero checksum (none sent)
    /// counts as right.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0 || self.sum_v4(src, dst) == 0xffff
    }

    /// Whether the checksum is right for these IPv6 addresses; it is mandatory over IPv6, so
    /// zero is wrong.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.checksum() != 0 && self.sum_v6(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port (checksum untouched).
    pub fn set_src_port(&mut self, port: u16) {
        bytes::set_u16(self.data_mut(), field::SRC_PORT, port);
    }

    /// Sets the destination port (checksum untouched).
    pub fn set_dst_port(&mut self, port: u16) {
        bytes::set_u16(self.data_mut(), field::DST_PORT, port);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, len: u16) {
        bytes::set_u16(self.data_mut(), field::LENGTH, len);
    }

    /// Sets the stored checksum.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::CHECKSUM, value);
    }

    /// Computes the checksum over the IPv4 pseudo-header and the datagram. A computed zero is
    /// sent as `0xffff`, since zero means "no checksum".
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let sum = !self.sum_v4(src, dst);
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// Computes the checksum over the IPv6 pseudo-header and the datagram.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = !self.sum_v6(src, dst);
        self.set_checksum(if sum == 0 { 0xffff } else { sum });
    }

    /// The payload, bounded by the length field, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        bytes::slice_mut(self.data_mut(), field::PAYLOAD..end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for UdpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fields of a UDP header. The checksum is not checked by `parse` (it needs the IP
/// addresses: use `verify_checksum_v4`) nor set by `emit` (use `fill_checksum_v4` once the
/// payload is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(packet: &UdpPacket<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload_len: usize::from(packet.len()).saturating_sub(field::PAYLOAD),
        })
    }

    /// Header length: 8.
    pub const fn buffer_len(&self) -> usize {
        field::PAYLOAD
    }

    /// Writes the header with a zero checksum; the length is clamped to 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut UdpPacket<T>) {
        let len = self.payload_len.saturating_add(field::PAYLOAD);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(u16::try_from(len).unwrap_or(u16::MAX));
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);

    /// DNS query `example.com A` from 192.168.1.10:53000 to 192.168.1.1:53.
    static DATAGRAM: [u8; 37] = [
        0xcf, 0x08, 0x00, 0x35, 0x00, 0x25, 0x31, 0xcf, 0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63,
        0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
    ];

    #[test]
    fn test_deconstruct() {
        let packet = UdpPacket::new_checked(&DATAGRAM[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (53000, 53));
        assert_eq!(packet.len(), 37);
        assert_eq!(packet.checksum(), 0x31cf);
        assert_eq!(packet.payload(), &DATAGRAM[8..]);
        assert!(packet.verify_checksum_v4(SRC, DST));
        assert!(!packet.verify_checksum_v4(SRC, Ipv4Addr::new(192, 168, 1, 2)));
        let repr = UdpRepr::parse(&packet).unwrap();
        assert_eq!(
            repr,
            UdpRepr {
                src_port: 53000,
                dst_port: 53,
                payload_len: 29
            }
        );
    }

    #[test]
    fn test_construct() {
        let mut buf = [0x77u8; 37];
        let mut packet = UdpPacket::new_unchecked(&mut buf[..]);
        UdpRepr {
            src_port: 53000,
            dst_port: 53,
            payload_len: 29,
        }
        .emit(&mut packet);
        packet.payload_mut().copy_from_slice(&DATAGRAM[8..]);
        packet.fill_checksum_v4(SRC, DST);
        assert_eq!(buf, DATAGRAM);
    }

    #[test]
    fn test_overlong() {
        let mut buf = DATAGRAM.to_vec();
        buf.extend_from_slice(&[0xff; 9]);
        let packet = UdpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.payload(), &DATAGRAM[8..]);
        assert!(packet.verify_checksum_v4(SRC, DST));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..7]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            UdpPacket::new_checked(&DATAGRAM[..36]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = DATAGRAM;
        bad[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
    }

    #[test]
    fn test_checksum_zero() {
        let mut buf = DATAGRAM;
        let mut packet = UdpPacket::new_checked(&mut buf[..]).unwrap();
        packet.set_checksum(0);
        assert!(packet.verify_checksum_v4(SRC, DST));
        assert!(!packet.verify_checksum_v6(&SRC.to_ipv6_mapped(), &DST.to_ipv6_mapped()));
        packet.set_checksum(0x1234);
        assert!(!packet.verify_checksum_v4(SRC, DST));

        // A datagram whose sum comes out as zero is sent with 0xffff.
        let mut buf = [0u8; 8];
        let mut packet = UdpPacket::new_unchecked(&mut buf[..]);
        UdpRepr {
            src_port: 0,
            dst_port: 0,
            payload_len: 0,
        }
        .emit(&mut packet);
        // Pseudo-header 0.0.0.0 -> 0.0.0.0 proto 17 len 8, twice the length: sum 0x21;
        // choose ports that bring the sum to 0xffff.
        packet.set_src_port(0xffff - 0x21);
        packet.fill_checksum_v4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED);
        assert_eq!(packet.checksum(), 0xffff);
        assert!(packet.verify_checksum_v4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn test_v6_checksum() {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut buf = DATAGRAM;
        let mut packet = UdpPacket::new_checked(&mut buf[..]).unwrap();
        packet.fill_checksum_v6(&src, &dst);
        assert!(packet.verify_checksum_v6(&src, &dst));
        assert!(!packet.verify_checksum_v6(&src, &"2001:db8::3".parse::<Ipv6Addr>().unwrap()));
    }
}

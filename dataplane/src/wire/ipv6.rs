//! IPv6 fixed headers (RFC 8200). Extension headers are not walked: `next_header` says what
//! follows the fixed header, whatever it is.

use std::net::Ipv6Addr;

use super::WireError;
use super::bytes;
use super::ip::IpProtocol;

mod field {
    use super::bytes::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
    pub const PAYLOAD: usize = 40;
}

/// Length of the IPv6 fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of an IPv6 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks for a 40-byte header with version 6 and a payload length that fits the buffer
    /// (trailing link-layer padding is allowed).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::PAYLOAD {
            return Err(WireError::Truncated);
        }
        if self.version() != 6 {
            return Err(WireError::Malformed);
        }
        if usize::from(self.payload_len()) > len - field::PAYLOAD {
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

    fn ver_tc_flow(&self) -> u32 {
        bytes::u32_at(self.data(), field::VER_TC_FLOW)
    }

    /// IP version (6 once checked).
    pub fn version(&self) -> u8 {
        (self.ver_tc_flow() >> 28) as u8
    }

    /// Traffic class (DSCP << 2 | ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// Flow label (20 bits).
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Payload length in bytes (everything after the fixed header, extension headers too).
    pub fn payload_len(&self) -> u16 {
        bytes::u16_at(self.data(), field::LENGTH)
    }

    /// Type of the header after the fixed header.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(bytes::u8_at(self.data(), field::NXT_HDR))
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        bytes::u8_at(self.data(), field::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::array::<16>(self.data(), field::SRC_ADDR))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(bytes::array::<16>(self.data(), field::DST_ADDR))
    }

    /// The `payload_len` bytes after the fixed header.
    pub fn payload(&self) -> &[u8] {
        let end = field::PAYLOAD + usize::from(self.payload_len());
        bytes::slice(self.data(), field::PAYLOAD..end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    fn set_ver_tc_flow(&mut self, mask: u32, value: u32) {
        let word = (self.ver_tc_flow() & !mask) | (value & mask);
        bytes::set_u32(self.data_mut(), field::VER_TC_FLOW, word);
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        self.set_ver_tc_flow(0xf000_0000, u32::from(version) << 28);
    }

    /// Sets the traffic class.
    pub fn set_traffic_class(&mut self, tc: u8) {
        self.set_ver_tc_flow(0x0ff0_0000, u32::from(tc) << 20);
    }

    /// Sets the flow label (low 20 bits used).
    pub fn set_flow_label(&mut self, label: u32) {
        self.set_ver_tc_flow(0x000f_ffff, label);
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        bytes::set_u16(self.data_mut(), field::LENGTH, len);
    }

    /// Sets the next header type.
    pub fn set_next_header(&mut self, proto: IpProtocol) {
        bytes::set_u8(self.data_mut(), field::NXT_HDR, proto.0);
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        bytes::set_u8(self.data_mut(), field::HOP_LIMIT, hop_limit);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        bytes::set_bytes(self.data_mut(), field::SRC_ADDR, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        bytes::set_bytes(self.data_mut(), field::DST_ADDR, &addr.octets());
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = field::PAYLOAD + usize::from(self.payload_len());
        bytes::slice_mut(self.data_mut(), field::PAYLOAD..end)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fields of an IPv6 fixed header that the dataplane uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src_addr: Ipv6Addr,
    /// Destination address.
    pub dst_addr: Ipv6Addr,
    /// Type of the header after the fixed header.
    pub next_header: IpProtocol,
    /// Payload length in bytes.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        Ok(Self::read(packet))
    }

    /// Reads the header an ICMPv6 error quotes, whose payload is usually cut short. Returns
    /// the header and the quoted payload bytes.
    pub(crate) fn parse_quoted(data: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let packet = Ipv6Packet::new_unchecked(data);
        if data.len() < field::PAYLOAD {
            return Err(WireError::Truncated);
        }
        if packet.version() != 6 {
            return Err(WireError::Malformed);
        }
        Ok((Self::read(&packet), bytes::tail(data, field::PAYLOAD)))
    }

    fn read<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
        }
    }

    /// Header length: 40.
    pub const fn buffer_len(&self) -> usize {
        field::PAYLOAD
    }

    /// Writes the fixed header; traffic class and flow label are zero, `payload_len` is
    /// clamped to 16 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv6Packet<T>) {
        bytes::set_u32(packet.data_mut(), field::VER_TC_FLOW, 6 << 28);
        packet.set_payload_len(u16::try_from(self.payload_len).unwrap_or(u16::MAX));
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neighbour solicitation for fe80::2 from fe80::1 (ICMPv6 body omitted after 4 bytes).
    static PACKET: [u8; 44] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x04, 0x3a, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x02, 0x87, 0x00, 0x00, 0x00,
    ];

    fn repr() -> Ipv6Repr {
        Ipv6Repr {
            src_addr: "fe80::1".parse().unwrap(),
            dst_addr: "ff02::1:ff00:2".parse().unwrap(),
            next_header: IpProtocol::IPV6_ICMP,
            payload_len: 4,
            hop_limit: 255,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Ipv6Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(packet.version(), 6);
        assert_eq!((packet.traffic_class(), packet.flow_label()), (0, 0));
        assert_eq!(packet.payload_len(), 4);
        assert_eq!(packet.next_header(), IpProtocol::IPV6_ICMP);
        assert_eq!(packet.hop_limit(), 255);
        assert_eq!(packet.src_addr(), "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            packet.dst_addr(),
            "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(packet.payload(), &[0x87, 0, 0, 0]);
        assert_eq!(Ipv6Repr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_construct() {
        let mut buf = [0xeeu8; 44];
        let mut packet = Ipv6Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut packet);
        packet.payload_mut().copy_from_slice(&[0x87, 0, 0, 0]);
        assert_eq!(buf, PACKET);

        let mut packet = Ipv6Packet::new_unchecked(&mut buf[..]);
        packet.set_traffic_class(0xb8);
        packet.set_flow_label(0xfffff_u32 + 1 + 0x12345);
        assert_eq!(packet.version(), 6);
        assert_eq!(
            (packet.traffic_class(), packet.flow_label()),
            (0xb8, 0x12345)
        );
    }

    #[test]
    fn test_overlong() {
        let mut buf = PACKET.to_vec();
        buf.extend_from_slice(&[0; 16]);
        let packet = Ipv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.payload(), &[0x87, 0, 0, 0]);
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..39]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Ipv6Packet::new_checked(&PACKET[..43]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = PACKET;
        bad[0] = 0x40;
        assert_eq!(
            Ipv6Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
    }
}

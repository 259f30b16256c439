//! ARP for IPv4 over Ethernet (RFC 826).

use std::net::Ipv4Addr;

use super::WireError;
use super::bytes;
use super::ethernet::{EtherType, MacAddr};

/// ARP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// Who has this address? (1)
    Request,
    /// I have it. (2)
    Reply,
    /// Anything else (RARP, InARP, ...).
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(other) => other,
        }
    }
}

mod field {
    use super::bytes::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
    pub const END: usize = 28;
}

/// ARP hardware type for Ethernet.
const HTYPE_ETHERNET: u16 = 1;

/// Length of an Ethernet/IPv4 ARP packet.
pub const HEADER_LEN: usize = field::END;

/// A view of an Ethernet/IPv4 ARP packet. The address fields sit at the offsets for 6-byte
/// hardware and 4-byte protocol addresses; [`ArpRepr::parse`] rejects other sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        ArpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Errors with [`WireError::Truncated`] below 28 bytes. Longer buffers (Ethernet padding)
    /// are fine.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < field::END {
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

    /// Hardware type (1 = Ethernet).
    pub fn hardware_type(&self) -> u16 {
        bytes::u16_at(self.data(), field::HTYPE)
    }

    /// Protocol type (0x0800 = IPv4).
    pub fn protocol_type(&self) -> EtherType {
        EtherType(bytes::u16_at(self.data(), field::PTYPE))
    }

    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        bytes::u8_at(self.data(), field::HLEN)
    }

    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        bytes::u8_at(self.data(), field::PLEN)
    }

    /// Opcode.
    pub fn operation(&self) -> ArpOperation {
        bytes::u16_at(self.data(), field::OPER).into()
    }

    /// Sender MAC address.
    pub fn sender_hardware_addr(&self) -> MacAddr {
        MacAddr(bytes::array(self.data(), field::SHA))
    }

    /// Sender IPv4 address.
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array::<4>(self.data(), field::SPA))
    }

    /// Target MAC address (zero in requests).
    pub fn target_hardware_addr(&self) -> MacAddr {
        MacAddr(bytes::array(self.data(), field::THA))
    }

    /// Target IPv4 address.
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array::<4>(self.data(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::HTYPE, value);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, value: EtherType) {
        bytes::set_u16(self.data_mut(), field::PTYPE, value.0);
    }

    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, value: u8) {
        bytes::set_u8(self.data_mut(), field::HLEN, value);
    }

    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, value: u8) {
        bytes::set_u8(self.data_mut(), field::PLEN, value);
    }

    /// Sets the opcode.
    pub fn set_operation(&mut self, value: ArpOperation) {
        bytes::set_u16(self.data_mut(), field::OPER, value.into());
    }

    /// Sets the sender MAC address.
    pub fn set_sender_hardware_addr(&mut self, addr: MacAddr) {
        bytes::set_bytes(self.data_mut(), field::SHA, &addr.0);
    }

    /// Sets the sender IPv4 address.
    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.data_mut(), field::SPA, &addr.octets());
    }

    /// Sets the target MAC address.
    pub fn set_target_hardware_addr(&mut self, addr: MacAddr) {
        bytes::set_bytes(self.data_mut(), field::THA, &addr.0);
    }

    /// Sets the target IPv4 address.
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.data_mut(), field::TPA, &addr.octets());
    }
}

/// An Ethernet/IPv4 ARP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply, or other.
    pub operation: ArpOperation,
    /// Sender MAC address.
    pub source_hardware_addr: MacAddr,
    /// Sender IPv4 address.
    pub source_protocol_addr: Ipv4Addr,
    /// Target MAC address.
    pub target_hardware_addr: MacAddr,
    /// Target IPv4 address.
    pub target_protocol_addr: Ipv4Addr,
}

impl ArpRepr {
    /// Reads an ARP packet; anything but Ethernet/IPv4 (types 1/0x0800, lengths 6/4) is
    /// [`WireError::Unsupported`].
    pub fn parse<T: AsRef<[u8]>>(packet: &ArpPacket<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != EtherType::IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(WireError::Unsupported);
        }
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hardware_addr: packet.sender_hardware_addr(),
            source_protocol_addr: packet.sender_protocol_addr(),
            target_hardware_addr: packet.target_hardware_addr(),
            target_protocol_addr: packet.target_protocol_addr(),
        })
    }

    /// Packet length: 28.
    pub const fn buffer_len(&self) -> usize {
        field::END
    }

    /// Writes the packet, including the fixed type and length fields.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ArpPacket<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(EtherType::IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_hardware_addr(self.source_hardware_addr);
        packet.set_sender_protocol_addr(self.source_protocol_addr);
        packet.set_target_hardware_addr(self.target_hardware_addr);
        packet.set_target_protocol_addr(self.target_protocol_addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Who has 24.166.173.159? Tell 24.166.172.1", from Wireshark's arp-storm sample capture.
    static REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54, 0x18,
        0xa6, 0xac, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0xa6, 0xad, 0x9f,
    ];

    fn repr() -> ArpRepr {
        ArpRepr {
            operation: ArpOperation::Request,
            source_hardware_addr: MacAddr([0x00, 0x07, 0x0d, 0xaf, 0xf4, 0x54]),
            source_protocol_addr: Ipv4Addr::new(24, 166, 172, 1),
            target_hardware_addr: MacAddr::ZERO,
            target_protocol_addr: Ipv4Addr::new(24, 166, 173, 159),
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = ArpPacket::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(packet.hardware_type(), 1);
        assert_eq!(packet.protocol_type(), EtherType::IPV4);
        assert_eq!((packet.hardware_len(), packet.protocol_len()), (6, 4));
        assert_eq!(packet.operation(), ArpOperation::Request);
        assert_eq!(
            packet.sender_hardware_addr().to_string(),
            "00:07:0d:af:f4:54"
        );
        assert_eq!(
            packet.sender_protocol_addr(),
            Ipv4Addr::new(24, 166, 172, 1)
        );
        assert_eq!(packet.target_hardware_addr(), MacAddr::ZERO);
        assert_eq!(
            packet.target_protocol_addr(),
            Ipv4Addr::new(24, 166, 173, 159)
        );
        assert_eq!(ArpRepr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_construct() {
        let mut buf = [0xffu8; 28];
        let mut packet = ArpPacket::new_unchecked(&mut buf[..]);
        repr().emit(&mut packet);
        assert_eq!(buf, REQUEST);
        assert_eq!(repr().buffer_len(), 28);
    }

    #[test]
    fn test_overlong() {
        // Minimum-size Ethernet frames carry 18 bytes of padding after an ARP packet.
        let mut buf = REQUEST.to_vec();
        buf.extend_from_slice(&[0; 18]);
        let packet = ArpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(ArpRepr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            ArpPacket::new_checked(&REQUEST[..27]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn test_unsupported() {
        for (at, value) in [(1, 0x06), (3, 0xdd), (4, 8), (5, 16)] {
            let mut buf = REQUEST;
            buf[at] = value;
            let packet = ArpPacket::new_checked(&buf[..]).unwrap();
            assert_eq!(ArpRepr::parse(&packet), Err(WireError::Unsupported));
        }
    }

    #[test]
    fn test_operation() {
        assert_eq!(ArpOperation::from(2), ArpOperation::Reply);
        assert_eq!(ArpOperation::from(3), ArpOperation::Unknown(3));
        assert_eq!(u16::from(ArpOperation::Unknown(9)), 9);
        assert_eq!(u16::from(ArpOperation::Reply), 2);
    }
}

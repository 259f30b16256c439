//! ICMP for IPv6 (RFC 4443), plus the neighbour discovery type numbers (RFC 4861).

use std::net::Ipv6Addr;

use super::WireError;
use super::bytes;
use super::checksum;
use super::ip::IpProtocol;
use super::ipv6::{Ipv6Packet, Ipv6Repr};

/// ICMPv6 message types.
pub mod msg_type {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

mod field {
    use super::bytes::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const MTU: Field = 4..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv6 header (type, code, checksum and four more bytes).
pub const HEADER_LEN: usize = field::DATA;

/// A view of an ICMPv6 message: the whole upper-layer payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Errors with [`WireError::Truncated`] below the 8-byte header.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < field::DATA {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type; see [`msg_type`].
    pub fn msg_type(&self) -> u8 {
        bytes::u8_at(self.buffer.as_ref(), field::TYPE)
    }

    /// Message code.
    pub fn msg_code(&self) -> u8 {
        bytes::u8_at(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (echo request/reply).
    pub fn echo_ident(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (echo request/reply).
    pub fn echo_seq_no(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// MTU (packet too big).
    pub fn mtu(&self) -> u32 {
        bytes::u32_at(self.buffer.as_ref(), field::MTU)
    }

    /// Everything after the 8-byte header: echo data, the quoted packet of an error, or the
    /// NDP target address and options.
    pub fn data(&self) -> &[u8] {
        bytes::tail(self.buffer.as_ref(), field::DATA)
    }

    fn sum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> u16 {
        let data = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::IPV6_ICMP, data.len() as u32);
        checksum::combine(&[pseudo, checksum::data(data)])
    }

    /// Whether the checksum (pseudo-header plus whole buffer) is right.
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        self.sum(src, dst) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: u8) {
        bytes::set_u8(self.buffer.as_mut(), field::TYPE, value);
    }

    /// Sets the message code.
    pub fn set_msg_code(&mut self, value: u8) {
        bytes::set_u8(self.buffer.as_mut(), field::CODE, value);
    }

    /// Sets the stored checksum.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, value: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, value: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets the MTU (packet too big); also clears bytes 4..8 of other errors.
    pub fn set_mtu(&mut self, value: u32) {
        bytes::set_u32(self.buffer.as_mut(), field::MTU, value);
    }

    /// Everything after the 8-byte header, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        bytes::tail_mut(self.buffer.as_mut(), field::DATA)
    }

    /// Computes the checksum over the pseudo-header and the whole buffer, so the view must
    /// span exactly the message.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let sum = self.sum(src, dst);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv6Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The ICMPv6 messages the dataplane answers or generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv6Repr<'a> {
    /// Echo request (ping).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Echo reply.
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echo data.
        data: &'a [u8],
    },
    /// Destination unreachable, quoting the offending packet.
    DstUnreachable {
        /// Reason (0 no route, 1 prohibited, 3 address, 4 port, ...).
        code: u8,
        /// The offending packet's header (its `payload_len` is the original's).
        header: Ipv6Repr,
        /// As much of its payload as fits the minimum MTU.
        data: &'a [u8],
    },
    /// Packet too big, quoting the offending packet.
    PacketTooBig {
        /// MTU of the next hop.
        mtu: u32,
        /// The offending packet's header.
        header: Ipv6Repr,
        /// The quoted start of its payload.
        data: &'a [u8],
    },
    /// Time exceeded, quoting the offending packet.
    TimeExceeded {
        /// Reason (0 hop limit, 1 reassembly).
        code: u8,
        /// The offending packet's header.
        header: Ipv6Repr,
        /// The quoted start of its payload.
        data: &'a [u8],
    },
}

impl<'a> Icmpv6Repr<'a> {
    /// Reads a message sent from `src` to `dst`, checking its checksum. Other message types
    /// (NDP included: handle those with the view) are [`WireError::Unsupported`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &Icmpv6Packet<&'a T>,
    ) -> Result<Icmpv6Repr<'a>, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        // Borrow from the underlying buffer, not the view, so the repr can outlive it.
        let data = bytes::tail(T::as_ref(packet.buffer), field::DATA);
        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
        match (packet.msg_type(), packet.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Ok(Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            (msg_type::ECHO_REPLY, 0) => Ok(Icmpv6Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            (msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY, _) => Err(WireError::Malformed),
            (msg_type::DST_UNREACHABLE, code) => {
                let (header, data) = Ipv6Repr::parse_quoted(data)?;
                Ok(Icmpv6Repr::DstUnreachable { code, header, data })
            }
            (msg_type::PACKET_TOO_BIG, 0) => {
                let (header, data) = Ipv6Repr::parse_quoted(data)?;
                Ok(Icmpv6Repr::PacketTooBig {
                    mtu: packet.mtu(),
                    header,
                    data,
                })
            }
            (msg_type::PACKET_TOO_BIG, _) => Err(WireError::Malformed),
            (msg_type::TIME_EXCEEDED, code) => {
                let (header, data) = Ipv6Repr::parse_quoted(data)?;
                Ok(Icmpv6Repr::TimeExceeded { code, header, data })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    /// Message length: 8-byte header, plus the 40-byte quoted header for errors, plus data.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                field::DATA + data.len()
            }
            Icmpv6Repr::DstUnreachable { header, data, .. }
            | Icmpv6Repr::PacketTooBig { header, data, .. }
            | Icmpv6Repr::TimeExceeded { header, data, .. } => {
                field::DATA + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the whole message and fills the checksum for `src` → `dst`; the view must span
    /// exactly `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
        packet: &mut Icmpv6Packet<T>,
    ) {
        let (type_, code, rest) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq_no, .. } => (
                msg_type::ECHO_REQUEST,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
            ),
            Icmpv6Repr::EchoReply { ident, seq_no, .. } => (
                msg_type::ECHO_REPLY,
                0,
                u32::from(ident) << 16 | u32::from(seq_no),
            ),
            Icmpv6Repr::DstUnreachable { code, .. } => (msg_type::DST_UNREACHABLE, code, 0),
            Icmpv6Repr::PacketTooBig { mtu, .. } => (msg_type::PACKET_TOO_BIG, 0, mtu),
            Icmpv6Repr::TimeExceeded { code, .. } => (msg_type::TIME_EXCEEDED, code, 0),
        };
        packet.set_msg_type(type_);
        packet.set_msg_code(code);
        bytes::set_u32(packet.buffer.as_mut(), field::MTU, rest);
        match *self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                bytes::set_bytes(packet.data_mut(), 0..data.len(), data);
            }
            Icmpv6Repr::DstUnreachable { header, data, .. }
            | Icmpv6Repr::PacketTooBig { header, data, .. }
            | Icmpv6Repr::TimeExceeded { header, data, .. } => {
                let mut quoted = Ipv6Packet::new_unchecked(packet.data_mut());
                header.emit(&mut quoted);
                let after = header.buffer_len();
                bytes::set_bytes(quoted.into_inner(), after..after + data.len(), data);
            }
        }
        packet.fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (Ipv6Addr, Ipv6Addr) {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    }

    /// Echo request 2001:db8::1 -> 2001:db8::2 (checksum 0x5942 computed independently).
    static ECHO: [u8; 24] = [
        0x80, 0x00, 0x59, 0x42, 0x12, 0x34, 0x00, 0x01, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
        0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    ];

    #[test]
    fn test_deconstruct() {
        let (src, dst) = addrs();
        let packet = Icmpv6Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(
            (packet.msg_type(), packet.msg_code()),
            (msg_type::ECHO_REQUEST, 0)
        );
        assert_eq!(packet.checksum(), 0x5942);
        assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (0x1234, 1));
        assert_eq!(packet.data(), &ECHO[8..]);
        assert!(packet.verify_checksum(&src, &dst));
        assert!(!packet.verify_checksum(&src, &src));
        assert_eq!(
            Icmpv6Repr::parse(&src, &dst, &packet),
            Ok(Icmpv6Repr::EchoRequest {
                ident: 0x1234,
                seq_no: 1,
                data: &ECHO[8..]
            })
        );
        assert_eq!(
            Icmpv6Repr::parse(&dst, &dst, &packet),
            Err(WireError::Checksum)
        );
    }

    #[test]
    fn test_construct() {
        let (src, dst) = addrs();
        let repr = Icmpv6Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: &ECHO[8..],
        };
        let mut buf = vec![0xa5u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO);
    }

    #[test]
    fn test_packet_too_big() {
        let (src, dst) = addrs();
        let header = Ipv6Repr {
            src_addr: dst,
            dst_addr: "2001:db8:1::9".parse().unwrap(),
            next_header: IpProtocol::TCP,
            payload_len: 1460,
            hop_limit: 63,
        };
        let quoted = [0u8; 20];
        let repr = Icmpv6Repr::PacketTooBig {
            mtu: 1280,
            header,
            data: &quoted,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(&mut buf[..]));
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.mtu(), 1280);
        assert_eq!(Icmpv6Repr::parse(&src, &dst, &packet), Ok(repr));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Icmpv6Packet::new_checked(&ECHO[..7]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn test_unsupported() {
        let (src, dst) = addrs();
        let mut buf = ECHO;
        let mut packet = Icmpv6Packet::new_unchecked(&mut buf[..]);
        packet.set_msg_type(msg_type::NEIGHBOR_SOLICIT);
        packet.fill_checksum(&src, &dst);
        let packet = Icmpv6Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(
            Icmpv6Repr::parse(&src, &dst, &packet),
            Err(WireError::Unsupported)
        );
    }
}

//! ICMP for IPv4 (RFC 792).

use super::WireError;
use super::bytes;
use super::checksum;
use super::ipv4::{Ipv4Packet, Ipv4Repr};

/// ICMPv4 message types.
pub mod msg_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated by RFC 6633, but still an error message: never answer it).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect.
    pub const REDIRECT: u8 = 5;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Codes of destination unreachable messages.
pub mod unreachable_code {
    /// Network unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set; the next-hop MTU is in bytes 6..8.
    pub const FRAG_NEEDED: u8 = 4;
    /// Communication administratively prohibited (RFC 1812), what a firewall sends.
    pub const ADMIN_PROHIBITED: u8 = 13;
}

/// Codes of time exceeded messages.
pub mod time_exceeded_code {
    /// TTL reached zero in transit.
    pub const TTL_EXPIRED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_EXPIRED: u8 = 1;
}

mod field {
    use super::bytes::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const REST: Field = 4..8;
    pub const MTU: Field = 6..8;
    pub const DATA: usize = 8;
}

/// Length of the ICMPv4 header (type, code, checksum and four more bytes).
pub const HEADER_LEN: usize = field::DATA;

/// A view of an ICMPv4 message: the whole IPv4 payload, since the checksum covers all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
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

    /// Next-hop MTU (destination unreachable, fragmentation needed; RFC 1191).
    pub fn next_hop_mtu(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::MTU)
    }

    /// Everything after the 8-byte header: echo data, or the quoted packet of an error.
    pub fn data(&self) -> &[u8] {
        bytes::tail(self.buffer.as_ref(), field::DATA)
    }

    /// Whether the checksum over the whole buffer is right.
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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

    /// Sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::MTU, value);
    }

    /// Everything after the 8-byte header, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        bytes::tail_mut(self.buffer.as_mut(), field::DATA)
    }

    /// Computes the checksum over the whole buffer, so the view must span exactly the message.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref());
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Icmpv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The ICMPv4 messages the dataplane answers or generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
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
        /// Reason; see [`unreachable_code`].
        code: u8,
        /// The offending packet's IPv4 header (its `payload_len` is the original's).
        header: Ipv4Repr,
        /// The quoted start of its payload: RFC 792 asks for the first 8 bytes.
        data: &'a [u8],
    },
    /// Time exceeded, quoting the offending packet.
    TimeExceeded {
        /// Reason; see [`time_exceeded_code`].
        code: u8,
        /// The offending packet's IPv4 header (its `payload_len` is the original's).
        header: Ipv4Repr,
        /// The quoted start of its payload: RFC 792 asks for the first 8 bytes.
        data: &'a [u8],
    },
}

impl<'a> Icmpv4Repr<'a> {
    /// Reads a message, checking its checksum. The quoted header of an error is taken as is
    /// (its own checksum and truncated length are not held against it). Other message types
    /// are [`WireError::Unsupported`].
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Icmpv4Packet<&'a T>,
    ) -> Result<Icmpv4Repr<'a>, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        // Borrow from the underlying buffer, not the view, so the repr can outlive it.
        let data = bytes::tail(T::as_ref(packet.buffer), field::DATA);
        let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
        match (packet.msg_type(), packet.msg_code()) {
            (msg_type::ECHO_REQUEST, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }),
            (msg_type::ECHO_REPLY, 0) => Ok(Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            }),
            (msg_type::ECHO_REQUEST | msg_type::ECHO_REPLY, _) => Err(WireError::Malformed),
            (msg_type::DST_UNREACHABLE, code) => {
                let (header, data) = Ipv4Repr::parse_quoted(data)?;
                Ok(Icmpv4Repr::DstUnreachable { code, header, data })
            }
            (msg_type::TIME_EXCEEDED, code) => {
                let (header, data) = Ipv4Repr::parse_quoted(data)?;
                Ok(Icmpv4Repr::TimeExceeded { code, header, data })
            }
            _ => Err(WireError::Unsupported),
        }
    }

    /// Message length: 8-byte header, plus the 20-byte quoted header for errors, plus data.
    pub fn buffer_len(&self) -> usize {
        match self {
            Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                field::DATA + data.len()
            }
            Icmpv4Repr::DstUnreachable { header, data, .. }
            | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                field::DATA + header.buffer_len() + data.len()
            }
        }
    }

    /// Writes the whole message and fills the checksum; the view must span exactly
    /// `buffer_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Icmpv4Packet<T>) {
        let (type_, code) = match *self {
            Icmpv4Repr::EchoRequest { .. } => (msg_type::ECHO_REQUEST, 0),
            Icmpv4Repr::EchoReply { .. } => (msg_type::ECHO_REPLY, 0),
            Icmpv4Repr::DstUnreachable { code, .. } => (msg_type::DST_UNREACHABLE, code),
            Icmpv4Repr::TimeExceeded { code, .. } => (msg_type::TIME_EXCEEDED, code),
        };
        packet.set_msg_type(type_);
        packet.set_msg_code(code);
        match *self {
            Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            }
            | Icmpv4Repr::EchoReply {
                ident,
                seq_no,
                data,
            } => {
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                bytes::set_bytes(packet.data_mut(), 0..data.len(), data);
            }
            Icmpv4Repr::DstUnreachable { header, data, .. }
            | Icmpv4Repr::TimeExceeded { header, data, .. } => {
                // Unused (or next-hop MTU, which this repr does not carry): zero.
                bytes::set_u32(packet.buffer.as_mut(), field::REST, 0);
                let mut quoted = Ipv4Packet::new_unchecked(packet.data_mut());
                header.emit(&mut quoted);
                let after = header.buffer_len();
                bytes::set_bytes(quoted.into_inner(), after..after + data.len(), data);
            }
        }
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::IpProtocol;
    use std::net::Ipv4Addr;

    /// The ICMP part of a Windows-style ping (checksum 0x4d3a computed independently).
    static ECHO: [u8; 40] = [
        0x08, 0x00, 0x4d, 0x3a, 0x00, 0x01, 0x00, 0x21, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
        0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76,
        0x77, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    ];
    const PING_DATA: &[u8] = b"abcdefghijklmnopqrstuvwabcdefghi";

    #[test]
    fn test_deconstruct() {
        let packet = Icmpv4Packet::new_checked(&ECHO[..]).unwrap();
        assert_eq!(
            (packet.msg_type(), packet.msg_code()),
            (msg_type::ECHO_REQUEST, 0)
        );
        assert_eq!(packet.checksum(), 0x4d3a);
        assert_eq!((packet.echo_ident(), packet.echo_seq_no()), (1, 0x21));
        assert_eq!(packet.data(), PING_DATA);
        assert!(packet.verify_checksum());
        assert_eq!(
            Icmpv4Repr::parse(&packet),
            Ok(Icmpv4Repr::EchoRequest {
                ident: 1,
                seq_no: 0x21,
                data: PING_DATA
            })
        );
    }

    #[test]
    fn test_construct() {
        let repr = Icmpv4Repr::EchoRequest {
            ident: 1,
            seq_no: 0x21,
            data: PING_DATA,
        };
        let mut buf = vec![0x55u8; repr.buffer_len()];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ECHO);
    }

    #[test]
    fn test_echo_reply_in_place() {
        // Answering a ping: flip the type and patch the checksum incrementally.
        let mut buf = ECHO;
        let mut packet = Icmpv4Packet::new_checked(&mut buf[..]).unwrap();
        let sum = checksum::update_u16(packet.checksum(), 0x0800, 0x0000);
        packet.set_msg_type(msg_type::ECHO_REPLY);
        packet.set_checksum(sum);
        assert!(packet.verify_checksum());
        assert!(matches!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Ok(Icmpv4Repr::EchoReply {
                ident: 1,
                seq_no: 0x21,
                ..
            })
        ));
    }

    #[test]
    fn test_time_exceeded() {
        let header = Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(192, 0, 2, 9),
            next_header: IpProtocol::UDP,
            payload_len: 512,
            ttl: 1,
            dscp: 0,
            ident: 0x4242,
            dont_frag: false,
        };
        let quoted = [0x82, 0x9b, 0x82, 0x9b, 0x02, 0x08, 0x00, 0x00];
        let repr = Icmpv4Repr::TimeExceeded {
            code: 0,
            header,
            data: &quoted,
        };
        assert_eq!(repr.buffer_len(), 36);
        let mut buf = [0xffu8; 36];
        repr.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..8], &[11, 0, buf[2], buf[3], 0, 0, 0, 0]);
        let packet = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(Icmpv4Repr::parse(&packet), Ok(repr));

        let unreachable = Icmpv4Repr::DstUnreachable {
            code: 3,
            header,
            data: &quoted[..4],
        };
        let mut buf = vec![0u8; unreachable.buffer_len()];
        unreachable.emit(&mut Icmpv4Packet::new_unchecked(&mut buf[..]));
        assert_eq!(
            Icmpv4Repr::parse(&Icmpv4Packet::new_checked(&buf[..]).unwrap()),
            Ok(unreachable)
        );
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Icmpv4Packet::new_checked(&ECHO[..7]).unwrap_err(),
            WireError::Truncated
        );
        // An error message whose quoted header is cut short.
        let mut buf = [3u8, 1, 0, 0, 0, 0, 0, 0, 0x45, 0, 0, 0x1c];
        Icmpv4Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let packet = Icmpv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&packet), Err(WireError::Truncated));
    }

    #[test]
    fn test_rejects() {
        let mut bad = ECHO;
        bad[5] ^= 1;
        let packet = Icmpv4Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&packet), Err(WireError::Checksum));

        let mut redirect = ECHO;
        let mut packet = Icmpv4Packet::new_unchecked(&mut redirect[..]);
        packet.set_msg_type(msg_type::REDIRECT);
        packet.fill_checksum();
        let packet = Icmpv4Packet::new_checked(&redirect[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&packet), Err(WireError::Unsupported));
    }
}

//! TCP segments (RFC 9293).

use std::net::{Ipv4Addr, Ipv6Addr};

use super::WireError;
use super::bytes;
use super::checksum;
use super::ip::IpProtocol;

mod options;

pub use options::{TcpOption, TcpOptions};

/// Flag bits of [`TcpPacket::flags`] and [`TcpRepr::flags`].
pub mod flag {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

mod field {
    use super::bytes::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::OPTIONS;

/// A view of a TCP segment: the whole IP payload, as the checksum covers all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks for a 20-byte header whose data offset is at least 5 words and within the
    /// buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(WireError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < field::OPTIONS {
            return Err(WireError::Malformed);
        }
        if header_len > len {
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

    /// Sequence number.
    pub fn seq_number(&self) -> u32 {
        bytes::u32_at(self.data(), field::SEQ_NUM)
    }

    /// Acknowledgment number (meaningful when [`ack`](Self::ack) is set).
    pub fn ack_number(&self) -> u32 {
        bytes::u32_at(self.data(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4).
    pub fn header_len(&self) -> u8 {
        (bytes::u8_at(self.data(), field::DATA_OFFSET) >> 4) * 4
    }

    /// The eight flag bits (CWR ECE URG ACK PSH RST SYN FIN); see [`flag`].
    pub fn flags(&self) -> u8 {
        bytes::u8_at(self.data(), field::FLAGS)
    }

    /// FIN flag.
    pub fn fin(&self) -> bool {
        self.flags() & flag::FIN != 0
    }

    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flags() & flag::SYN != 0
    }

    /// RST flag.
    pub fn rst(&self) -> bool {
        self.flags() & flag::RST != 0
    }

    /// PSH flag.
    pub fn psh(&self) -> bool {
        self.flags() & flag::PSH != 0
    }

    /// ACK flag.
    pub fn ack(&self) -> bool {
        self.flags() & flag::ACK != 0
    }

    /// URG flag.
    pub fn urg(&self) -> bool {
        self.flags() & flag::URG != 0
    }

    /// ECE flag.
    pub fn ece(&self) -> bool {
        self.flags() & flag::ECE != 0
    }

    /// CWR flag.
    pub fn cwr(&self) -> bool {
        self.flags() & flag::CWR != 0
    }

    /// Window size (unscaled, as on the wire).
    pub fn window_len(&self) -> u16 {
        bytes::u16_at(self.data(), field::WIN_SIZE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.data(), field::CHECKSUM)
    }

    /// Urgent pointer.
    pub fn urgent_at(&self) -> u16 {
        bytes::u16_at(self.data(), field::URGENT)
    }

    /// The raw options area.
    pub fn options(&self) -> &[u8] {
        bytes::slice(self.data(), field::OPTIONS..usize::from(self.header_len()))
    }

    /// Iterates over the parsed options.
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        bytes::tail(self.data(), usize::from(self.header_len()))
    }

    /// Sequence space the segment occupies: payload length plus one each for SYN and FIN.
    pub fn segment_len(&self) -> usize {
        self.payload().len() + usize::from(self.syn()) + usize::from(self.fin())
    }

    /// Whether the checksum is right for this segment between these IPv4 addresses.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.data();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, data.len() as u32);
        checksum::combine(&[pseudo, checksum::data(data)]) == 0xffff
    }

    /// Whether the checksum is right for this segment between these IPv6 addresses.
    pub fn verify_checksum_v6(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let data = self.data();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::TCP, data.len() as u32);
        checksum::combine(&[pseudo, checksum::data(data)]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
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

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: u32) {
        bytes::set_u32(self.data_mut(), field::SEQ_NUM, value);
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, value: u32) {
        bytes::set_u32(self.data_mut(), field::ACK_NUM, value);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4; reserved bits and
    /// NS cleared).
    pub fn set_header_len(&mut self, len: u8) {
        bytes::set_u8(self.data_mut(), field::DATA_OFFSET, ((len / 4) & 0x0f) << 4);
    }

    /// Sets all eight flag bits.
    pub fn set_flags(&mut self, flags: u8) {
        bytes::set_u8(self.data_mut(), field::FLAGS, flags);
    }

    fn set_flag(&mut self, mask: u8, value: bool) {
        let flags = if value {
            self.flags() | mask
        } else {
            self.flags() & !mask
        };
        self.set_flags(flags);
    }

    /// Sets or clears FIN.
    pub fn set_fin(&mut self, value: bool) {
        self.set_flag(flag::FIN, value);
    }

    /// Sets or clears SYN.
    pub fn set_syn(&mut self, value: bool) {
        self.set_flag(flag::SYN, value);
    }

    /// Sets or clears RST.
    pub fn set_rst(&mut self, value: bool) {
        self.set_flag(flag::RST, value);
    }

    /// Sets or clears PSH.
    pub fn set_psh(&mut self, value: bool) {
        self.set_flag(flag::PSH, value);
    }

    /// Sets or clears ACK.
    pub fn set_ack(&mut self, value: bool) {
        self.set_flag(flag::ACK, value);
    }

    /// Sets or clears URG.
    pub fn set_urg(&mut self, value: bool) {
        self.set_flag(flag::URG, value);
    }

    /// Sets or clears ECE.
    pub fn set_ece(&mut self, value: bool) {
        self.set_flag(flag::ECE, value);
    }

    /// Sets or clears CWR.
    pub fn set_cwr(&mut self, value: bool) {
        self.set_flag(flag::CWR, value);
    }

    /// Sets the window size.
    pub fn set_window_len(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::WIN_SIZE, value);
    }

    /// Sets the stored checksum.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::URGENT, value);
    }

    /// The raw options area, mutably (e.g. to clamp MSS in place).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        bytes::slice_mut(self.data_mut(), field::OPTIONS..end)
    }

    /// The payload, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = usize::from(self.header_len());
        bytes::tail_mut(self.data_mut(), at)
    }

    /// Computes the checksum over the IPv4 pseudo-header and the whole buffer.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.data();
        let pseudo = checksum::pseudo_header_v4(src, dst, IpProtocol::TCP, data.len() as u32);
        let sum = checksum::combine(&[pseudo, checksum::data(data)]);
        self.set_checksum(!sum);
    }

    /// Computes the checksum over the IPv6 pseudo-header and the whole buffer.
    pub fn fill_checksum_v6(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        self.set_checksum(0);
        let data = self.data();
        let pseudo = checksum::pseudo_header_v6(src, dst, IpProtocol::TCP, data.len() as u32);
        let sum = checksum::combine(&[pseudo, checksum::data(data)]);
        self.set_checksum(!sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for TcpPacket<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fields of a TCP header that the dataplane uses. `parse` does not check the checksum
/// (use `verify_checksum_v4`) and `emit` leaves it zero (use `fill_checksum_v4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// Flag bits; see [`flag`].
    pub flags: u8,
    /// Window size as on the wire (unscaled).
    pub window_len: u16,
    /// Window scale option, if present.
    pub window_scale: Option<u8>,
    /// Maximum segment size option, if present.
    pub max_seg_size: Option<u16>,
    /// Payload length in bytes.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Reads a checked header and its MSS and window scale options; a malformed option is
    /// [`WireError::Malformed`].
    pub fn parse<T: AsRef<[u8]>>(packet: &TcpPacket<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        let mut window_scale = None;
        let mut max_seg_size = None;
        for option in packet.options_iter() {
            match option.map_err(|_| WireError::Malformed)? {
                TcpOption::WindowScale(shift) => window_scale = Some(shift),
                TcpOption::MaxSegmentSize(mss) => max_seg_size = Some(mss),
                _ => {}
            }
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            window_scale,
            max_seg_size,
            payload_len: packet.payload().len(),
        })
    }

    /// Header length with the options `emit` writes (the payload is not included, as for
    /// the other headers): MSS takes 4 bytes, window scale 4 (a NOP keeps later fields
    /// aligned, as Linux does).
    pub fn buffer_len(&self) -> usize {
        field::OPTIONS
            + if self.max_seg_size.is_some() { 4 } else { 0 }
            + if self.window_scale.is_some() { 4 } else { 0 }
    }

    /// Writes the header and options, with a zero checksum and urgent pointer. The payload
    /// is the caller's; then call `fill_checksum_v4`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut TcpPacket<T>) {
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len(self.buffer_len() as u8);
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_checksum(0);
        packet.set_urgent_at(0);
        let mut options = packet.options_mut();
        if let Some(mss) = self.max_seg_size {
            let n = TcpOption::MaxSegmentSize(mss).emit(options);
            options = bytes::tail_mut(options, n);
        }
        if let Some(shift) = self.window_scale {
            let n = TcpOption::NoOp.emit(options);
            options = bytes::tail_mut(options, n);
            TcpOption::WindowScale(shift).emit(options);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// Linux SYN 10.0.0.1:45678 -> 10.0.0.2:80 with MSS, SACK-permitted, timestamps and
    /// window scale (checksum computed independently).
    static SYN: [u8; 40] = [
        0xb2, 0x6e, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0x50, 0x6a, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x09,
        0xcd, 0x2e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
    ];

    fn syn_repr() -> TcpRepr {
        TcpRepr {
            src_port: 45678,
            dst_port: 80,
            seq_number: 0x12345678,
            ack_number: 0,
            flags: flag::SYN,
            window_len: 64240,
            window_scale: Some(7),
            max_seg_size: Some(1460),
            payload_len: 0,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = TcpPacket::new_checked(&SYN[..]).unwrap();
        assert_eq!((packet.src_port(), packet.dst_port()), (45678, 80));
        assert_eq!((packet.seq_number(), packet.ack_number()), (0x12345678, 0));
        assert_eq!(packet.header_len(), 40);
        assert_eq!(packet.flags(), flag::SYN);
        assert!(packet.syn() && !packet.ack() && !packet.fin() && !packet.rst());
        assert!(!packet.psh() && !packet.urg() && !packet.ece() && !packet.cwr());
        assert_eq!(packet.window_len(), 64240);
        assert_eq!(packet.checksum(), 0x506a);
        assert_eq!(packet.urgent_at(), 0);
        assert_eq!(packet.options(), &SYN[20..]);
        assert_eq!(packet.options_iter().count(), 5);
        assert_eq!(packet.payload(), &[]);
        assert_eq!(packet.segment_len(), 1);
        assert!(packet.verify_checksum_v4(SRC, DST));
        assert!(!packet.verify_checksum_v4(SRC, Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(TcpRepr::parse(&packet), Ok(syn_repr()));
    }

    #[test]
    fn test_construct() {
        let repr = TcpRepr {
            payload_len: 3,
            flags: flag::PSH | flag::ACK,
            ..syn_repr()
        };
        let mut buf = vec![0xaau8; repr.buffer_len() + 3];
        let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
        repr.emit(&mut packet);
        packet.payload_mut().copy_from_slice(b"GET");
        packet.fill_checksum_v4(SRC, DST);
        assert_eq!(
            &buf[20..28],
            &[0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07]
        );
        let packet = TcpPacket::new_checked(&buf[..]).unwrap();
        assert!(packet.verify_checksum_v4(SRC, DST));
        assert_eq!(packet.payload(), b"GET");
        assert_eq!(TcpRepr::parse(&packet), Ok(repr));
    }

    #[test]
    fn test_setters() {
        let mut buf = SYN;
        let mut packet = TcpPacket::new_checked(&mut buf[..]).unwrap();
        packet.set_syn(false);
        packet.set_ack(true);
        packet.set_fin(true);
        packet.set_rst(true);
        packet.set_psh(true);
        packet.set_urg(true);
        packet.set_ece(true);
        packet.set_cwr(true);
        assert_eq!(packet.flags(), 0xfd);
        packet.set_ack_number(7);
        packet.set_urgent_at(9);
        packet.fill_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
        assert!(packet.verify_checksum_v6(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST));
        assert_eq!((packet.ack_number(), packet.urgent_at()), (7, 9));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            TcpPacket::new_checked(&SYN[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            TcpPacket::new_checked(&SYN[..39]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = SYN;
        bad[12] = 0x40;
        assert_eq!(
            TcpPacket::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
    }

    #[test]
    fn test_malformed_option() {
        let mut bad = SYN;
        bad[21] = 0x09; // MSS option length runs past the header
        let packet = TcpPacket::new_checked(&bad[..]).unwrap();
        assert_eq!(TcpRepr::parse(&packet), Err(WireError::Malformed));
    }
}

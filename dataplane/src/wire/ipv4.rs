//! IPv4 headers (RFC 791).

use std::net::Ipv4Addr;

use super::WireError;
use super::bytes;
use super::checksum;
use super::ip::IpProtocol;

mod field {
    use super::bytes::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const TTL_PROTOCOL: Field = 8..10;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    pub const OPTIONS: usize = 20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::OPTIONS;

/// A view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds a whole IPv4 packet: version 4, IHL ≥ 5, and
    /// `header_len ≤ total_len ≤ buffer length`. Bytes past `total_len` (Ethernet padding) are
    /// allowed and ignored by [`payload`](Self::payload).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < field::OPTIONS {
            return Err(WireError::Truncated);
        }
        if self.version() != 4 || self.header_len() < 20 {
            return Err(WireError::Malformed);
        }
        let header_len = usize::from(self.header_len());
        let total_len = usize::from(self.total_len());
        if header_len > len {
            return Err(WireError::Truncated);
        }
        if total_len < header_len {
            return Err(WireError::Malformed);
        }
        if total_len > len {
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

    /// IP version (4 once checked).
    pub fn version(&self) -> u8 {
        bytes::u8_at(self.data(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> u8 {
        (bytes::u8_at(self.data(), field::VER_IHL) & 0x0f) * 4
    }

    /// Differentiated services code point.
    pub fn dscp(&self) -> u8 {
        bytes::u8_at(self.data(), field::DSCP_ECN) >> 2
    }

    /// Explicit congestion notification bits.
    pub fn ecn(&self) -> u8 {
        bytes::u8_at(self.data(), field::DSCP_ECN) & 0x03
    }

    /// Total length (header + payload) in bytes.
    pub fn total_len(&self) -> u16 {
        bytes::u16_at(self.data(), field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        bytes::u16_at(self.data(), field::IDENT)
    }

    fn flg_off(&self) -> u16 {
        bytes::u16_at(self.data(), field::FLG_OFF)
    }

    /// Don't fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    /// More fragments flag.
    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (other than an unfragmented packet): MF set or offset ≠ 0.
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        bytes::u8_at(self.data(), field::TTL)
    }

    /// Protocol of the payload.
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(bytes::u8_at(self.data(), field::PROTOCOL))
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        bytes::u16_at(self.data(), field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array::<4>(self.data(), field::SRC_ADDR))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(bytes::array::<4>(self.data(), field::DST_ADDR))
    }

    /// Header options (empty for IHL 5).
    pub fn options(&self) -> &[u8] {
        bytes::slice(self.data(), field::OPTIONS..usize::from(self.header_len()))
    }

    /// Whether the header checksum is correct.
    pub fn verify_checksum(&self) -> bool {
        let header = bytes::slice(self.data(), 0..usize::from(self.header_len()));
        checksum::data(header) == 0xffff
    }

    /// The payload: from the end of the header to `total_len`, excluding link-layer padding.
    pub fn payload(&self) -> &[u8] {
        bytes::slice(
            self.data(),
            usize::from(self.header_len())..usize::from(self.total_len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn data_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the version nibble.
    pub fn set_version(&mut self, version: u8) {
        let ihl = bytes::u8_at(self.data(), field::VER_IHL) & 0x0f;
        bytes::set_u8(self.data_mut(), field::VER_IHL, (version << 4) | ihl);
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4).
    pub fn set_header_len(&mut self, len: u8) {
        let ver = bytes::u8_at(self.data(), field::VER_IHL) & 0xf0;
        bytes::set_u8(self.data_mut(), field::VER_IHL, ver | ((len / 4) & 0x0f));
    }

    /// Sets the DSCP (low 6 bits used).
    pub fn set_dscp(&mut self, dscp: u8) {
        let ecn = self.ecn();
        bytes::set_u8(self.data_mut(), field::DSCP_ECN, (dscp << 2) | ecn);
    }

    /// Sets the ECN bits (low 2 bits used).
    pub fn set_ecn(&mut self, ecn: u8) {
        let dscp = bytes::u8_at(self.data(), field::DSCP_ECN) & 0xfc;
        bytes::set_u8(self.data_mut(), field::DSCP_ECN, dscp | (ecn & 0x03));
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, len: u16) {
        bytes::set_u16(self.data_mut(), field::LENGTH, len);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        bytes::set_u16(self.data_mut(), field::IDENT, ident);
    }

    fn set_flg_off(&mut self, mask: u16, value: u16) {
        let word = (self.flg_off() & !mask) | (value & mask);
        bytes::set_u16(self.data_mut(), field::FLG_OFF, word);
    }

    /// Sets the don't fragment flag.
    pub fn set_dont_frag(&mut self, value: bool) {
        self.set_flg_off(FLAG_DF, if value { FLAG_DF } else { 0 });
    }

    /// Sets the more fragments flag.
    pub fn set_more_frags(&mut self, value: bool) {
        self.set_flg_off(FLAG_MF, if value { FLAG_MF } else { 0 });
    }

    /// Sets the fragment offset in bytes (rounded down to a multiple of 8).
    pub fn set_frag_offset(&mut self, offset: u16) {
        self.set_flg_off(OFFSET_MASK, offset >> 3);
    }

    /// Sets the time to live (checksum untouched; see [`decrement_ttl`](Self::decrement_ttl)).
    pub fn set_ttl(&mut self, ttl: u8) {
        bytes::set_u8(self.data_mut(), field::TTL, ttl);
    }

    /// Sets the protocol.
    pub fn set_next_header(&mut self, proto: IpProtocol) {
        bytes::set_u8(self.data_mut(), field::PROTOCOL, proto.0);
    }

    /// Sets the stored header checksum.
    pub fn set_checksum(&mut self, value: u16) {
        bytes::set_u16(self.data_mut(), field::CHECKSUM, value);
    }

    /// Sets the source address (checksum untouched).
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.data_mut(), field::SRC_ADDR, &addr.octets());
    }

    /// Sets the destination address (checksum untouched).
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        bytes::set_bytes(self.data_mut(), field::DST_ADDR, &addr.octets());
    }

    /// Recomputes the header checksum from scratch.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header = bytes::slice(self.data(), 0..usize::from(self.header_len()));
        let sum = checksum::data(header);
        self.set_checksum(!sum);
    }

    /// Forwarding step: TTL minus one, header checksum patched incrementally (RFC 1624).
    ///
    /// The caller has checked `ttl() > 1`. A TTL of 0 stays 0 rather than wrapping to 255,
    /// so a misuse cannot give a looping packet a new lease of life.
    pub fn decrement_ttl(&mut self) {
        let old = bytes::u16_at(self.data(), field::TTL_PROTOCOL);
        let ttl = self.ttl().saturating_sub(1);
        let new = (u16::from(ttl) << 8) | (old & 0x00ff);
        let sum = checksum::update_u16(self.checksum(), old, new);
        self.set_ttl(ttl);
        self.set_checksum(sum);
    }

    /// Rewrites the source address keeping the header checksum valid (NAT). Transport
    /// checksums covering the pseudo-header need their own update.
    pub fn set_src_addr_incremental(&mut self, addr: Ipv4Addr) {
        let sum = checksum::update_u32(self.checksum(), self.src_addr().into(), addr.into());
        self.set_src_addr(addr);
        self.set_checksum(sum);
    }

    /// Rewrites the destination address keeping the header checksum valid (NAT). Transport
    /// checksums covering the pseudo-header need their own update.
    pub fn set_dst_addr_incremental(&mut self, addr: Ipv4Addr) {
        let sum = checksum::update_u32(self.checksum(), self.dst_addr().into(), addr.into());
        self.set_dst_addr(addr);
        self.set_checksum(sum);
    }

    /// Header options, mutably.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        bytes::slice_mut(self.data_mut(), field::OPTIONS..end)
    }

    /// The payload (header end to `total_len`), mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        bytes::slice_mut(self.data_mut(), range)
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Ipv4Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// The fields of an IPv4 header that the dataplane uses. Options are skipped on parse and
/// never emitted; fragment fields are exposed on the view only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Payload protocol.
    pub next_header: IpProtocol,
    /// Payload length in bytes (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Differentiated services code point (0..=63).
    pub dscp: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment flag.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Reads a checked header; a wrong header checksum is [`WireError::Checksum`].
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(WireError::Checksum);
        }
        Ok(Self::read(packet))
    }

    /// Reads the header an ICMP error quotes: it is cut short after a few payload bytes, so
    /// `total_len` may exceed the buffer, and routers may have mangled its checksum. Returns
    /// the header and the quoted payload bytes.
    pub(crate) fn parse_quoted(data: &[u8]) -> Result<(Self, &[u8]), WireError> {
        let packet = Ipv4Packet::new_unchecked(data);
        if data.len() < field::OPTIONS {
            return Err(WireError::Truncated);
        }
        let header_len = packet.header_len();
        if packet.version() != 4 || header_len < 20 || packet.total_len() < u16::from(header_len) {
            return Err(WireError::Malformed);
        }
        let payload = data
            .get(usize::from(header_len)..)
            .ok_or(WireError::Truncated)?;
        Ok((Self::read(&packet), payload))
    }

    fn read<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Self {
        Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(
                packet
                    .total_len()
                    .saturating_sub(packet.header_len().into()),
            ),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        }
    }

    /// Header length: 20 (no options are emitted).
    pub const fn buffer_len(&self) -> usize {
        field::OPTIONS
    }

    /// Writes a 20-byte header with a valid checksum. `payload_len` is clamped so that the
    /// total length fits 16 bits; ECN, MF and fragment offset are zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Ipv4Packet<T>) {
        let total_len = self.payload_len.saturating_add(field::OPTIONS);
        packet.set_version(4);
        packet.set_header_len(field::OPTIONS as u8);
        bytes::set_u8(packet.data_mut(), field::DSCP_ECN, self.dscp << 2);
        packet.set_total_len(u16::try_from(total_len).unwrap_or(u16::MAX));
        packet.set_ident(self.ident);
        bytes::set_u16(
            packet.data_mut(),
            field::FLG_OFF,
            if self.dont_frag { FLAG_DF } else { 0 },
        );
        packet.set_ttl(self.ttl);
        packet.set_next_header(self.next_header);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Windows-style `ping 10.0.0.2` from 10.0.0.1 (checksums computed independently).
    pub(crate) static PING: [u8; 60] = [
        0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x00, 0x00, 0x80, 0x01, 0x0a, 0x79, 0x0a, 0x00, 0x00,
        0x01, 0x0a, 0x00, 0x00, 0x02, 0x08, 0x00, 0x4d, 0x3a, 0x00, 0x01, 0x00, 0x21, 0x61, 0x62,
        0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71,
        0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            next_header: IpProtocol::ICMP,
            payload_len: 40,
            ttl: 128,
            dscp: 0,
            ident: 0x1c46,
            dont_frag: false,
        }
    }

    #[test]
    fn test_deconstruct() {
        let packet = Ipv4Packet::new_checked(&PING[..]).unwrap();
        assert_eq!(packet.version(), 4);
        assert_eq!(packet.header_len(), 20);
        assert_eq!((packet.dscp(), packet.ecn()), (0, 0));
        assert_eq!(packet.total_len(), 60);
        assert_eq!(packet.ident(), 0x1c46);
        assert!(!packet.dont_frag() && !packet.more_frags() && !packet.is_fragment());
        assert_eq!(packet.frag_offset(), 0);
        assert_eq!(packet.ttl(), 128);
        assert_eq!(packet.next_header(), IpProtocol::ICMP);
        assert_eq!(packet.checksum(), 0x0a79);
        assert_eq!(packet.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(packet.dst_addr(), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(packet.options(), &[]);
        assert!(packet.verify_checksum());
        assert_eq!(packet.payload(), &PING[20..]);
        assert_eq!(Ipv4Repr::parse(&packet), Ok(repr()));
    }

    #[test]
    fn test_construct() {
        let mut buf = [0xa5u8; 60];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut packet);
        packet.payload_mut().copy_from_slice(&PING[20..]);
        assert_eq!(buf, PING);
    }

    #[test]
    fn test_overlong() {
        // Ethernet pads short frames: bytes after total_len are not payload.
        let mut buf = PING.to_vec();
        buf.extend_from_slice(&[0; 6]);
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.payload(), &PING[20..]);
        assert_eq!(Ipv4Repr::parse(&packet).unwrap().payload_len, 40);
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            Ipv4Packet::new_checked(&PING[..19]).unwrap_err(),
            WireError::Truncated
        );
        assert_eq!(
            Ipv4Packet::new_checked(&PING[..59]).unwrap_err(),
            WireError::Truncated
        );
        let mut bad = PING;
        bad[0] = 0x44; // IHL 4
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
        bad[0] = 0x65; // version 6
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
        bad[0] = 0x4f; // 60-byte header, 60-byte total: fits
        assert!(Ipv4Packet::new_checked(&bad[..]).is_ok());
        bad[3] = 0x3b; // total_len < header_len
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..]).unwrap_err(),
            WireError::Malformed
        );
        bad[3] = 0x3c;
        assert_eq!(
            Ipv4Packet::new_checked(&bad[..40]).unwrap_err(),
            WireError::Truncated
        );
    }

    #[test]
    fn test_bad_checksum() {
        let mut bad = PING;
        bad[11] ^= 1;
        let packet = Ipv4Packet::new_checked(&bad[..]).unwrap();
        assert!(!packet.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&packet), Err(WireError::Checksum));
    }

    #[test]
    fn test_options_and_fragments() {
        let mut buf = [0u8; 28];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        repr().emit(&mut packet);
        packet.set_header_len(24);
        packet.set_total_len(28);
        packet
            .options_mut()
            .copy_from_slice(&[0x94, 0x04, 0x00, 0x00]); // router alert
        packet.set_more_frags(true);
        packet.set_frag_offset(1480);
        packet.set_dont_frag(true);
        packet.set_ecn(3);
        packet.set_dscp(46);
        packet.fill_checksum();
        let packet = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(packet.payload().len(), 4);
        assert!(packet.more_frags() && packet.dont_frag() && packet.is_fragment());
        assert_eq!(
            (packet.frag_offset(), packet.dscp(), packet.ecn()),
            (1480, 46, 3)
        );
        let parsed = Ipv4Repr::parse(&packet).unwrap();
        assert_eq!(
            (parsed.payload_len, parsed.dscp, parsed.dont_frag),
            (4, 46, true)
        );
    }

    #[test]
    fn test_incremental() {
        let mut buf = PING;
        let mut packet = Ipv4Packet::new_checked(&mut buf[..]).unwrap();
        packet.decrement_ttl();
        assert_eq!(packet.ttl(), 127);
        assert!(packet.verify_checksum());
        packet.set_src_addr_incremental(Ipv4Addr::new(203, 0, 113, 7));
        packet.set_dst_addr_incremental(Ipv4Addr::new(198, 51, 100, 250));
        assert!(packet.verify_checksum());
        let incremental = packet.checksum();
        packet.fill_checksum();
        assert_eq!(packet.checksum(), incremental);

        packet.set_ttl(0);
        packet.fill_checksum();
        packet.decrement_ttl();
        assert_eq!(packet.ttl(), 0);
        assert!(packet.verify_checksum());
    }

    #[test]
    fn test_unchecked_short_never_panics() {
        let mut buf = [0x4fu8; 7];
        let mut packet = Ipv4Packet::new_unchecked(&mut buf[..]);
        assert_eq!(packet.src_addr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(packet.options(), &[]);
        assert_eq!(packet.payload(), &[]);
        packet.decrement_ttl();
        packet.fill_checksum();
        packet.set_dst_addr_incremental(Ipv4Addr::BROADCAST);
        assert!(!packet.verify_checksum());
    }
}

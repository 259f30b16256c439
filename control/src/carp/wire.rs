//! The 36-byte CARP header (carp.md §1.2): a zero-copy view ([`CarpPacket`]) and the value
//! type it is parsed from and emitted into ([`Advert`]).
//!
//! ```text
//! offset size field
//!   0    1    version (high nibble, 2) | type (low nibble, 1 = advertisement)
//!   1    1    vhid
//!   2    1    advskew
//!   3    1    authlen (7: counter + HMAC in 32-bit words)
//!   4    1    demote (OpenBSD's demotion; FreeBSD and ucarp send 0 and ignore it)
//!   5    1    advbase (seconds)
//!   6    2    checksum: Internet checksum over these 36 bytes only, no pseudo-header
//!   8    8    counter, big-endian
//!  16   20    HMAC-SHA1 (see `auth`)
//! ```
//!
//! Once [`CarpPacket::new_checked`] accepts a buffer (36 bytes or more), no getter panics;
//! on an unchecked short buffer getters read zeros and setters write nothing. Bytes after
//! the 36th are ignored, as every implementation checksums and reads only the header.

use rampart_dataplane::wire::checksum;

use super::auth::Auth;
use super::interval::Interval;
use super::rx::DropReason;

/// Bytes in a CARP header; an advert is exactly this.
pub const HEADER_LEN: usize = 36;
/// CARP version sent and accepted.
pub const VERSION: u8 = 2;
/// The only message type: advertisement.
pub const TYPE_ADVERT: u8 = 1;
/// Counter plus HMAC in 32-bit words.
pub const AUTHLEN: u8 = 7;
/// advbase and advskew of a bow-out advert (OpenBSD, carp.md §3.7).
pub const BOW_OUT: u8 = 255;

mod field {
    use std::ops::Range;

    pub const VERSION_TYPE: usize = 0;
    pub const VHID: usize = 1;
    pub const ADVSKEW: usize = 2;
    pub const AUTHLEN: usize = 3;
    pub const DEMOTE: usize = 4;
    pub const ADVBASE: usize = 5;
    pub const CHECKSUM: Range<usize> = 6..8;
    pub const COUNTER: Range<usize> = 8..16;
    pub const HMAC: Range<usize> = 16..36;
}

/// A view of a CARP header over any byte buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> CarpPacket<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Self {
        CarpPacket { buffer }
    }

    /// Wraps a buffer of at least [`HEADER_LEN`] bytes.
    ///
    /// # Errors
    /// [`DropReason::Short`] if it is shorter.
    pub fn new_checked(buffer: T) -> Result<Self, DropReason> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(DropReason::Short);
        }
        Ok(CarpPacket { buffer })
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn array<const N: usize>(&self, range: std::ops::Range<usize>) -> [u8; N] {
        self.buffer
            .as_ref()
            .get(range)
            .and_then(|b| <[u8; N]>::try_from(b).ok())
            .unwrap_or([0; N])
    }

    /// Version (high nibble of byte 0).
    pub fn version(&self) -> u8 {
        self.byte(field::VERSION_TYPE) >> 4
    }

    /// Message type (low nibble of byte 0).
    pub fn kind(&self) -> u8 {
        self.byte(field::VERSION_TYPE) & 0x0f
    }

    /// Virtual host id.
    pub fn vhid(&self) -> u8 {
        self.byte(field::VHID)
    }

    /// Advertised skew (1/256 s units).
    pub fn advskew(&self) -> u8 {
        self.byte(field::ADVSKEW)
    }

    /// Authentication length in 32-bit words (7).
    pub fn authlen(&self) -> u8 {
        self.byte(field::AUTHLEN)
    }

    /// OpenBSD's demotion byte (0 from FreeBSD and ucarp).
    pub fn demote(&self) -> u8 {
        self.byte(field::DEMOTE)
    }

    /// Advertisement base interval in seconds.
    pub fn advbase(&self) -> u8 {
        self.byte(field::ADVBASE)
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes(self.array(field::CHECKSUM))
    }

    /// The counter as it is on the wire (hashed in this form).
    pub fn counter_bytes(&self) -> [u8; 8] {
        self.array(field::COUNTER)
    }

    /// The counter.
    pub fn counter(&self) -> u64 {
        u64::from_be_bytes(self.counter_bytes())
    }

    /// The HMAC-SHA1.
    pub fn hmac(&self) -> [u8; 20] {
        self.array(field::HMAC)
    }

    /// Whether the checksum over the 36 header bytes is right (sums to `0xffff`).
    pub fn verify_checksum(&self) -> bool {
        let header = self.buffer.as_ref().get(..HEADER_LEN).unwrap_or(&[]);
        header.len() == HEADER_LEN && checksum::data(header) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> CarpPacket<T> {
    fn set_byte(&mut self, at: usize, value: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(at) {
            *b = value;
        }
    }

    fn set_bytes(&mut self, range: std::ops::Range<usize>, value: &[u8]) {
        if let Some(b) = self.buffer.as_mut().get_mut(range)
            && b.len() == value.len()
        {
            b.copy_from_slice(value);
        }
    }

    /// Sets version and type.
    pub fn set_version_kind(&mut self, version: u8, kind: u8) {
        self.set_byte(field::VERSION_TYPE, (version << 4) | (kind & 0x0f));
    }

    /// Sets the vhid.
    pub fn set_vhid(&mut self, vhid: u8) {
        self.set_byte(field::VHID, vhid);
    }

    /// Sets the advskew.
    pub fn set_advskew(&mut self, advskew: u8) {
        self.set_byte(field::ADVSKEW, advskew);
    }

    /// Sets the authlen.
    pub fn set_authlen(&mut self, authlen: u8) {
        self.set_byte(field::AUTHLEN, authlen);
    }

    /// Sets the demote byte.
    pub fn set_demote(&mut self, demote: u8) {
        self.set_byte(field::DEMOTE, demote);
    }

    /// Sets the advbase.
    pub fn set_advbase(&mut self, advbase: u8) {
        self.set_byte(field::ADVBASE, advbase);
    }

    /// Sets the stored checksum.
    pub fn set_checksum(&mut self, value: u16) {
        self.set_bytes(field::CHECKSUM, &value.to_be_bytes());
    }

    /// Sets the counter.
    pub fn set_counter(&mut self, counter: u64) {
        self.set_bytes(field::COUNTER, &counter.to_be_bytes());
    }

    /// Sets the HMAC.
    pub fn set_hmac(&mut self, hmac: &[u8; 20]) {
        self.set_bytes(field::HMAC, hmac);
    }

    /// Computes and stores the checksum over the 36 header bytes (last, after every
    /// other field).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::data(self.buffer.as_ref().get(..HEADER_LEN).unwrap_or(&[]));
        self.set_checksum(!sum);
    }
}

/// An advertisement's fields; version, type and authlen are the constants above.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Advert {
    /// Virtual host id.
    pub vhid: u8,
    /// Base interval in seconds.
    pub advbase: u8,
    /// Skew in 1/256 s.
    pub advskew: u8,
    /// OpenBSD demotion byte; we send 0 and do not use it in elections (FreeBSD).
    pub demote: u8,
    /// Counter, hashed into the HMAC.
    pub counter: u64,
}

/// The caller's buffer cannot hold a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a CARP header needs {HEADER_LEN} bytes, the buffer has {0}")]
pub struct BufferTooShort(pub usize);

impl Advert {
    /// The bow-out advert (advbase 255, advskew 255) sent on a graceful stop: a backup's
    /// "master will time out" rule makes it take over at once.
    pub const fn bow_out(vhid: u8, counter: u64) -> Advert {
        Advert {
            vhid,
            advbase: BOW_OUT,
            advskew: BOW_OUT,
            demote: 0,
            counter,
        }
    }

    /// Whether this is a bow-out advert.
    pub const fn is_bow_out(&self) -> bool {
        self.advbase == BOW_OUT && self.advskew == BOW_OUT
    }

    /// The sender's advertisement interval, advbase + advskew/256.
    pub fn interval(&self) -> Interval {
        Interval::advert(self.advbase, self.advskew)
    }

    /// Reads the fields of a header (no checks: see `rx` for those).
    pub fn parse<T: AsRef<[u8]>>(packet: &CarpPacket<T>) -> Advert {
        Advert {
            vhid: packet.vhid(),
            advbase: packet.advbase(),
            advskew: packet.advskew(),
            demote: packet.demote(),
            counter: packet.counter(),
        }
    }

    /// Writes the 36-byte header into the start of `buf`: fields, the HMAC of `auth` over
    /// the counter, then the checksum. Returns the bytes written ([`HEADER_LEN`]).
    ///
    /// # Errors
    /// [`BufferTooShort`] if `buf` is shorter than [`HEADER_LEN`]; nothing is written.
    pub fn emit(&self, auth: &Auth, buf: &mut [u8]) -> Result<usize, BufferTooShort> {
        let len = buf.len();
        let header = buf.get_mut(..HEADER_LEN).ok_or(BufferTooShort(len))?;
        let mut packet = CarpPacket::new_unchecked(header);
        packet.set_version_kind(VERSION, TYPE_ADVERT);
        packet.set_vhid(self.vhid);
        packet.set_advskew(self.advskew);
        packet.set_authlen(AUTHLEN);
        packet.set_demote(self.demote);
        packet.set_advbase(self.advbase);
        let counter = self.counter.to_be_bytes();
        packet.set_counter(self.counter);
        packet.set_hmac(&auth.sign(&counter));
        packet.fill_checksum();
        Ok(HEADER_LEN)
    }

    /// The header as an array (see [`Advert::emit`]).
    pub fn to_bytes(&self, auth: &Auth) -> [u8; HEADER_LEN] {
        let mut bytes = [0; HEADER_LEN];
        // The array is exactly HEADER_LEN long, so emit cannot fail.
        let _ = self.emit(auth, &mut bytes);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_short_buffer() {
        assert_eq!(
            CarpPacket::new_checked(&[0u8; 35][..]),
            Err(DropReason::Short)
        );
        let packet = CarpPacket::new_unchecked(&[0x21u8, 7][..]);
        assert_eq!(
            (packet.version(), packet.vhid(), packet.counter()),
            (2, 7, 0)
        );
        assert!(!packet.verify_checksum());
        let mut small = [0u8; 10];
        let auth = Auth::new(b"x", 1, &[]);
        assert_eq!(
            Advert::bow_out(1, 0).emit(&auth, &mut small),
            Err(BufferTooShort(10))
        );
        assert_eq!(small, [0; 10]);
    }

    #[test]
    fn test_trailing_bytes_ignored() {
        let auth = Auth::new(b"pw", 3, &[]);
        let advert = Advert {
            vhid: 3,
            advbase: 1,
            advskew: 20,
            demote: 0,
            counter: 9,
        };
        let mut buf = [0xaau8; 40];
        assert_eq!(advert.emit(&auth, &mut buf), Ok(HEADER_LEN));
        let packet = CarpPacket::new_checked(&buf[..]).unwrap();
        assert!(packet.verify_checksum());
        assert_eq!(Advert::parse(&packet), advert);
        assert_eq!(&buf[36..], &[0xaa; 4]);
    }
}

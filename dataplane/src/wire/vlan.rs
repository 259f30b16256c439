//! IEEE 802.1Q / 802.1ad VLAN tags.
//!
//! A tagged frame carries the TPID (0x8100 or 0x88a8) where the ethertype would be; the
//! [`VlanHeader`] view covers the four bytes that follow it: the TCI and the inner ethertype.

use super::WireError;
use super::bytes;
use super::ethernet::EtherType;

mod field {
    use super::bytes::Field;

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: usize = 4;
}

/// Length of a VLAN tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a VLAN tag (TCI + inner ethertype), i.e. the payload of an Ethernet frame whose
/// ethertype is [`EtherType::VLAN`] or [`EtherType::QINQ`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VlanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanHeader<T> {
    /// The module's `HEADER_LEN`; that one can be named without a buffer type.
    pub const HEADER_LEN: usize = HEADER_LEN;

    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        VlanHeader { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// Errors with [`WireError::Truncated`] if the buffer cannot hold the tag.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < Self::HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn tci(&self) -> u16 {
        bytes::u16_at(self.buffer.as_ref(), field::TCI)
    }

    /// Priority code point (3 bits).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// Ethertype of the encapsulated payload (another TPID for QinQ).
    pub fn ethertype(&self) -> EtherType {
        EtherType(bytes::u16_at(self.buffer.as_ref(), field::ETHERTYPE))
    }

    /// Everything after the tag.
    pub fn payload(&self) -> &[u8] {
        bytes::tail(self.buffer.as_ref(), field::PAYLOAD)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanHeader<T> {
    fn set_tci(&mut self, tci: u16) {
        bytes::set_u16(self.buffer.as_mut(), field::TCI, tci);
    }

    /// Sets the priority code point; only the low 3 bits are used.
    pub fn set_pcp(&mut self, pcp: u8) {
        self.set_tci((self.tci() & 0x1fff) | (u16::from(pcp & 0x07) << 13));
    }

    /// Sets the drop eligible indicator.
    pub fn set_dei(&mut self, dei: bool) {
        self.set_tci((self.tci() & !0x1000) | if dei { 0x1000 } else { 0 });
    }

    /// Sets the VLAN identifier; only the low 12 bits are used.
    pub fn set_vlan_id(&mut self, vlan_id: u16) {
        self.set_tci((self.tci() & 0xf000) | (vlan_id & 0x0fff));
    }

    /// Sets the inner ethertype.
    pub fn set_ethertype(&mut self, ethertype: EtherType) {
        bytes::set_u16(self.buffer.as_mut(), field::ETHERTYPE, ethertype.0);
    }

    /// Everything after the tag, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        bytes::tail_mut(self.buffer.as_mut(), field::PAYLOAD)
    }
}

/// The fields of a VLAN tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanRepr {
    /// Priority code point (0..=7).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN identifier (0..=4095).
    pub vlan_id: u16,
    /// Inner ethertype.
    pub ethertype: EtherType,
}

impl VlanRepr {
    /// Reads a tag.
    pub fn parse<T: AsRef<[u8]>>(header: &VlanHeader<T>) -> Result<Self, WireError> {
        header.check_len()?;
        Ok(VlanRepr {
            pcp: header.pcp(),
            dei: header.dei(),
            vlan_id: header.vlan_id(),
            ethertype: header.ethertype(),
        })
    }

    /// Tag length: 4.
    pub const fn buffer_len(&self) -> usize {
        field::PAYLOAD
    }

    /// Writes the tag; out-of-range `pcp`/`vlan_id` bits are masked off.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, header: &mut VlanHeader<T>) {
        header.set_tci(
            (u16::from(self.pcp & 0x07) << 13)
                | if self.dei { 0x1000 } else { 0 }
                | (self.vlan_id & 0x0fff),
        );
        header.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 5, DEI 0, VID 100, inner IPv4, then the first IPv4 byte.
    static TAG: [u8; 5] = [0xa0, 0x64, 0x08, 0x00, 0x45];

    #[test]
    fn test_deconstruct() {
        let tag = VlanHeader::new_checked(&TAG[..]).unwrap();
        assert_eq!(tag.pcp(), 5);
        assert!(!tag.dei());
        assert_eq!(tag.vlan_id(), 100);
        assert_eq!(tag.ethertype(), EtherType::IPV4);
        assert_eq!(tag.payload(), &[0x45]);
        let repr = VlanRepr::parse(&tag).unwrap();
        assert_eq!(
            repr,
            VlanRepr {
                pcp: 5,
                dei: false,
                vlan_id: 100,
                ethertype: EtherType::IPV4
            }
        );
    }

    #[test]
    fn test_construct() {
        let mut buf = [0u8; 5];
        let mut tag = VlanHeader::new_unchecked(&mut buf[..]);
        VlanRepr {
            pcp: 5,
            dei: false,
            vlan_id: 100,
            ethertype: EtherType::IPV4,
        }
        .emit(&mut tag);
        tag.payload_mut()[0] = 0x45;
        assert_eq!(buf, TAG);

        let mut tag = VlanHeader::new_unchecked(&mut buf[..]);
        tag.set_dei(true);
        tag.set_vlan_id(0xffff);
        tag.set_pcp(1);
        assert_eq!((tag.pcp(), tag.dei(), tag.vlan_id()), (1, true, 0x0fff));
    }

    #[test]
    fn test_truncated() {
        assert_eq!(
            VlanHeader::new_checked(&TAG[..3]).unwrap_err(),
            WireError::Truncated
        );
    }
}

//! Zero-copy views of the packet formats the dataplane handles: Ethernet, 802.1Q, ARP, IPv4,
//! IPv6, TCP, UDP, ICMPv4, ICMPv6 and neighbour discovery.
//!
//! The design follows smoltcp. Each format has two types:
//!
//! * a **view** (`Ipv4Packet<T>`, `TcpPacket<T>`, ...) wrapping any `T: AsRef<[u8]>` — usually a
//!   `&[u8]` or `&mut [u8]` into an mbuf. Views never copy: getters read the field straight out
//!   of the buffer and setters (on `T: AsMut<[u8]>`) write it back in place.
//! * a **`Repr`** (`Ipv4Repr`, `TcpRepr`, ...): a plain value holding the fields the forwarding
//!   code cares about, with `parse(&view)`, `emit(&self, &mut view)` and `buffer_len()`.
//!
//! # Contract
//!
//! * `View::new_checked(buffer)` validates the length fields against the buffer, so every
//!   accessor is meaningful afterwards; it returns [`WireError`] otherwise.
//! * `View::new_unchecked(buffer)` skips that validation. Nothing in this module panics even
//!   then: a getter that reaches past the end of a short buffer reads zero (or an empty slice)
//!   and a setter that would write past it does nothing. Garbage in, garbage out, but the worker
//!   never dies on a malformed packet.
//! * `Repr::parse` re-checks lengths itself and validates semantics (checksums where the view
//!   holds everything needed to compute them, supported hardware/protocol types, ...).
//! * `Repr::emit` writes every header field it owns; payloads are left to the caller.
//!   `buffer_len()` is what `emit` writes: the header (options included) for Ethernet, VLAN,
//!   IPv4, IPv6, TCP and UDP, the whole message for ARP and ICMP. A shorter buffer gets a
//!   partial header, never a panic. Transport checksums need the IP addresses, so TCP and UDP
//!   leave them to `fill_checksum_v4`/`fill_checksum_v6` once the payload is in place.
//! * Multi-byte fields are big-endian on the wire; getters return host values.
#![forbid(unsafe_code)]
// Indexing is how a parser usually panics; keep it out of the non-test code altogether.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod tcp;
pub mod udp;
pub mod vlan;

#[cfg(test)]
mod proptests;

pub use arp::{ArpOperation, ArpPacket, ArpRepr};
pub use ethernet::{EtherType, EthernetFrame, EthernetRepr, MacAddr};
pub use icmpv4::{Icmpv4Packet, Icmpv4Repr};
pub use icmpv6::{Icmpv6Packet, Icmpv6Repr};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ndp::{NaFlags, NdpRepr};
pub use tcp::{TcpOption, TcpOptions, TcpPacket, TcpRepr};
pub use udp::{UdpPacket, UdpRepr};
pub use vlan::{VlanHeader, VlanRepr};

/// Why a buffer could not be viewed or parsed as a given format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the header, or than a length field says.
    Truncated,
    /// A field contradicts the format (bad version, length field too small, bad option, ...).
    Malformed,
    /// Well-formed but not something we handle (e.g. ARP for a non-Ethernet/IPv4 pair).
    Unsupported,
    /// The checksum does not match the contents.
    Checksum,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated packet",
            WireError::Malformed => "malformed packet",
            WireError::Unsupported => "unsupported packet",
            WireError::Checksum => "bad checksum",
        })
    }
}

impl std::error::Error for WireError {}

/// Bounds-checked big-endian field access shared by the views.
///
/// Out-of-range reads give zero/empty and out-of-range writes are dropped: views made with
/// `new_unchecked` over short buffers must not be able to panic the worker. After
/// `new_checked` every field is in range, so this costs only the bounds check that indexing
/// would do anyway.
mod bytes {
    /// A byte range within a header.
    pub(crate) type Field = core::ops::Range<usize>;

    /// The `N` bytes of `field`, or zeroes if out of range.
    #[inline]
    pub(crate) fn array<const N: usize>(data: &[u8], field: Field) -> [u8; N] {
        data.get(field)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .unwrap_or([0; N])
    }

    #[inline]
    pub(crate) fn u8_at(data: &[u8], at: usize) -> u8 {
        data.get(at).copied().unwrap_or(0)
    }

    #[inline]
    pub(crate) fn u16_at(data: &[u8], field: Field) -> u16 {
        u16::from_be_bytes(array(data, field))
    }

    #[inline]
    pub(crate) fn u32_at(data: &[u8], field: Field) -> u32 {
        u32::from_be_bytes(array(data, field))
    }

    #[inline]
    pub(crate) fn set_u8(data: &mut [u8], at: usize, value: u8) {
        if let Some(b) = data.get_mut(at) {
            *b = value;
        }
    }

    #[inline]
    pub(crate) fn set_bytes(data: &mut [u8], field: Field, value: &[u8]) {
        if let Some(dst) = data.get_mut(field).filter(|dst| dst.len() == value.len()) {
            dst.copy_from_slice(value);
        }
    }

    #[inline]
    pub(crate) fn set_u16(data: &mut [u8], field: Field, value: u16) {
        set_bytes(data, field, &value.to_be_bytes());
    }

    #[inline]
    pub(crate) fn set_u32(data: &mut [u8], field: Field, value: u32) {
        set_bytes(data, field, &value.to_be_bytes());
    }

    /// `data[range]`, or an empty slice if the range is inverted or out of bounds.
    #[inline]
    pub(crate) fn slice(data: &[u8], range: Field) -> &[u8] {
        data.get(range).unwrap_or_default()
    }

    /// `&mut data[range]`, or an empty slice if the range is inverted or out of bounds.
    #[inline]
    pub(crate) fn slice_mut(data: &mut [u8], range: Field) -> &mut [u8] {
        data.get_mut(range).unwrap_or_default()
    }

    /// `data[from..]`, or an empty slice if `from` is past the end.
    #[inline]
    pub(crate) fn tail(data: &[u8], from: usize) -> &[u8] {
        data.get(from..).unwrap_or_default()
    }

    /// `&mut data[from..]`, or an empty slice if `from` is past the end.
    #[inline]
    pub(crate) fn tail_mut(data: &mut [u8], from: usize) -> &mut [u8] {
        data.get_mut(from..).unwrap_or_default()
    }
}

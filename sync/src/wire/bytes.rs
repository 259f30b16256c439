//! Big-endian field access by offset range, without panics: a read past the end of the slice
//! gives zero and a write past it does nothing. The decoder hands every record parser a slice
//! of exactly the record's size, so neither happens in practice; this only keeps a mistake
//! from becoming a crash.

use std::ops::Range;

/// Byte range of a field within its structure.
pub(crate) type Field = Range<usize>;

/// The `N` bytes at `f` (zeros if out of range).
#[inline]
pub(crate) fn array<const N: usize>(b: &[u8], f: Field) -> [u8; N] {
    b.get(f)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

#[inline]
pub(crate) fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

#[inline]
pub(crate) fn u16_at(b: &[u8], f: Field) -> u16 {
    u16::from_be_bytes(array(b, f))
}

#[inline]
pub(crate) fn u32_at(b: &[u8], f: Field) -> u32 {
    u32::from_be_bytes(array(b, f))
}

#[inline]
pub(crate) fn u64_at(b: &[u8], f: Field) -> u64 {
    u64::from_be_bytes(array(b, f))
}

#[inline]
pub(crate) fn put(b: &mut [u8], f: Field, v: &[u8]) {
    if let Some(d) = b.get_mut(f).filter(|d| d.len() == v.len()) {
        d.copy_from_slice(v);
    }
}

#[inline]
pub(crate) fn put_u8(b: &mut [u8], at: usize, v: u8) {
    if let Some(d) = b.get_mut(at) {
        *d = v;
    }
}

#[inline]
pub(crate) fn put_u16(b: &mut [u8], f: Field, v: u16) {
    put(b, f, &v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u32(b: &mut [u8], f: Field, v: u32) {
    put(b, f, &v.to_be_bytes());
}

#[inline]
pub(crate) fn put_u64(b: &mut [u8], f: Field, v: u64) {
    put(b, f, &v.to_be_bytes());
}

/// Zeroes `f` (pads and spares are sent as zero).
#[inline]
pub(crate) fn zero(b: &mut [u8], f: Field) {
    if let Some(d) = b.get_mut(f) {
        d.fill(0);
    }
}

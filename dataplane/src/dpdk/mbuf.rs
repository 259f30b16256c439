//! The owning packet buffer. This is the only module that touches `rte_mbuf` fields.

use std::marker::PhantomData;
use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;

/// Packets per rx/tx burst. DPDK asks for a multiple of 8 for any driver.
pub const BURST_SIZE: usize = 32;

/// One packet buffer, owned: freed on drop, or passed to a driver by [`Mbuf::into_raw`].
/// `Send` (it may move to another worker) but not `Sync`.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf {
    raw: NonNull<rte_mbuf>,
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: an mbuf has exactly one owner; moving that ownership across threads is how DPDK
// pipelines work, and the mempool free path is thread-safe.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Take ownership of a raw mbuf.
    ///
    /// # Safety
    /// `raw` must be a valid, single-segment-or-chained mbuf that nobody else owns or frees.
    pub unsafe fn from_raw(raw: NonNull<rte_mbuf>) -> Mbuf {
        Mbuf {
            raw,
            _not_sync: PhantomData,
        }
    }

    /// The raw pointer, still owned by `self`.
    pub(super) fn as_raw(&self) -> NonNull<rte_mbuf> {
        self.raw
    }

    /// Give up ownership (to a driver): the caller is now responsible for freeing it.
    pub fn into_raw(self) -> NonNull<rte_mbuf> {
        let raw = self.raw;
        std::mem::forget(self);
        raw
    }

    fn mbuf(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as `self` lives.
        unsafe { self.raw.as_ref() }
    }

    /// The first segment's bytes (the whole packet unless [`Mbuf::is_chained`]).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.mbuf();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's data room, which we
        // own; the slice borrows self so the buffer outlives it.
        unsafe {
            std::slice::from_raw_parts(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// The first segment's bytes, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `data`, and `&mut self` makes the borrow exclusive.
        unsafe {
            let m = self.raw.as_mut();
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.mbuf().pkt_len
    }

    /// True when the packet spans more than one segment.
    #[inline]
    pub fn is_chained(&self) -> bool {
        self.mbuf().nb_segs > 1
    }

    /// The port the packet was received on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.mbuf().port
    }

    /// Record the port a packet belongs to (for copies made by software).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        // SAFETY: we own the mbuf exclusively (&mut self); `port` is a plain integer field.
        unsafe { self.raw.as_mut().port = port };
    }

    /// The RSS hash the NIC computed (0 where the driver sets none).
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reading a plain u32 out of a union of integers; any bit pattern is valid.
        unsafe { self.mbuf().__bindgen_anon_2.hash.rss }
    }

    /// Grow the packet by `len` bytes at the tail; returns the new bytes, or `None` when the
    /// tailroom is too small.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: valid mbuf; a non-null return points at `len` writable bytes inside it.
        let ptr = unsafe { dpdk_sys::rte_pktmbuf_append(self.raw.as_ptr(), len) };
        NonNull::new(ptr.cast::<u8>())
            // SAFETY: DPDK reserved exactly `len` bytes at `ptr`; the slice borrows self.
            .map(|p| unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), usize::from(len)) })
    }

    /// Shrink the packet by `len` bytes at the tail. Returns false if it is shorter than `len`.
    pub fn trim(&mut self, len: u16) -> bool {
        // SAFETY: valid mbuf; rte_pktmbuf_trim checks the length itself.
        unsafe { dpdk_sys::rte_pktmbuf_trim(self.raw.as_ptr(), len) == 0 }
    }

    /// Set the packet to exactly `len` bytes (single segment). Returns false when `len` exceeds
    /// what the segment can hold.
    pub fn set_len(&mut self, len: usize) -> bool {
        let current = usize::from(self.mbuf().data_len);
        if self.is_chained() {
            return false;
        }
        match len.cmp(&current) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => u16::try_from(current - len).is_ok_and(|n| self.trim(n)),
            std::cmp::Ordering::Greater => {
                u16::try_from(len - current).is_ok_and(|n| self.append(n).is_some())
            }
        }
    }
}

impl AsRef<[u8]> for Mbuf {
    fn as_ref(&self) -> &[u8] {
        self.data()
    }
}

impl AsMut<[u8]> for Mbuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.data_mut()
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and its chain) and nobody uses it after this.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.raw.as_ptr()) };
    }
}

/// A fixed array that one `rx_burst` fills; draining it yields owned [`Mbuf`]s. Owned by the
/// worker and reused, so receiving allocates nothing.
#[derive(Debug)]
pub struct RxBatch {
    pub(super) ptrs: [*mut rte_mbuf; BURST_SIZE],
    pub(super) len: usize,
    pub(super) next: usize,
}

// SAFETY: the pointers are mbufs owned by the batch (see Mbuf's Send).
unsafe impl Send for RxBatch {}

impl Default for RxBatch {
    fn default() -> Self {
        RxBatch {
            ptrs: [std::ptr::null_mut(); BURST_SIZE],
            len: 0,
            next: 0,
        }
    }
}

impl RxBatch {
    /// Packets not yet taken.
    pub fn remaining(&self) -> usize {
        self.len - self.next
    }
}

impl Iterator for RxBatch {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        while self.next < self.len {
            let raw = self.ptrs[self.next];
            self.next += 1;
            if let Some(raw) = NonNull::new(raw) {
                // SAFETY: rx_burst handed us ownership of each pointer in 0..len; each is taken
                // exactly once because `next` only grows.
                return Some(unsafe { Mbuf::from_raw(raw) });
            }
        }
        None
    }
}

impl Drop for RxBatch {
    fn drop(&mut self) {
        // Free whatever was received but not taken.
        for _ in self.by_ref() {}
    }
}

//! Packet-buffer pools.

use std::ffi::CString;
use std::ptr::NonNull;

use dpdk_sys::rte_mempool;
use thiserror::Error;

use super::Mbuf;

/// Why a pool could not be created.
#[derive(Debug, Error)]
pub enum MempoolError {
    /// The name contained a NUL byte or was too long for DPDK.
    #[error("bad mempool name {0:?}")]
    BadName(String),
    /// `rte_pktmbuf_pool_create` failed.
    #[error("creating mempool {name} ({count} mbufs): errno {errno}: {reason}")]
    Create {
        /// Pool name.
        name: String,
        /// Requested number of mbufs.
        count: u32,
        /// rte_errno.
        errno: i32,
        /// DPDK's text.
        reason: String,
    },
}

/// A pool of packet mbufs. Shared by reference (`Arc`) between the ports that receive into it.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<rte_mempool>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe; the pointer is never freed while
// a `Mempool` exists.
unsafe impl Send for Mempool {}
// SAFETY: as above: every operation on a mempool is thread-safe in DPDK.
unsafe impl Sync for Mempool {}

/// Data room per mbuf: 2048 bytes of packet plus DPDK's default headroom.
pub const DATA_ROOM: u16 = 2048 + 128;

impl Mempool {
    /// Create a pool of `count` mbufs with a per-lcore cache of `cache` entries.
    ///
    /// # Errors
    /// [`MempoolError`] with DPDK's reason (usually: not enough memory for `count`).
    pub fn new(name: &str, count: u32, cache: u32) -> Result<Mempool, MempoolError> {
        let c_name = CString::new(name).map_err(|_| MempoolError::BadName(name.to_string()))?;
        // SAFETY: c_name is a valid C string; EAL is initialised (the caller holds an `Eal`).
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(
                c_name.as_ptr(),
                count,
                cache,
                0,
                DATA_ROOM,
                dpdk_sys::rte_socket_id() as i32,
            )
        };
        let raw = NonNull::new(raw).ok_or_else(|| {
            let (errno, reason) = super::last_error();
            MempoolError::Create {
                name: name.to_string(),
                count,
                errno,
                reason,
            }
        })?;
        Ok(Mempool { raw })
    }

    /// The raw pool, for queue setup.
    pub(super) fn as_ptr(&self) -> *mut rte_mempool {
        self.raw.as_ptr()
    }

    /// Allocate one mbuf (empty, default headroom), or `None` when the pool is exhausted.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid; a non-null result is a fresh mbuf we now own.
        let raw = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: `raw` is null or an mbuf owned by nobody else.
        NonNull::new(raw).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Mbufs currently free in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: read-only query on a valid pool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// Mbufs currently taken out of the pool.
    pub fn in_use(&self) -> u32 {
        // SAFETY: read-only query on a valid pool.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.raw.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        let in_use = self.in_use();
        if in_use != 0 {
            // Freeing a pool with mbufs outstanding would leave dangling buffers: leak instead.
            tracing::warn!(in_use, "mempool dropped with mbufs in use; not freed");
            return;
        }
        // SAFETY: the pool is valid and no mbuf from it is outstanding.
        unsafe { dpdk_sys::rte_mempool_free(self.raw.as_ptr()) };
    }
}

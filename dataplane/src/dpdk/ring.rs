//! Single-producer/single-consumer rings of mbufs between two threads (DPDK `rte_ring` in SP/SC
//! mode): how a worker hands a packet to the worker that owns its flow, without a lock.

use std::cell::Cell;
use std::ffi::CString;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys::{rte_mbuf, rte_ring};
use thiserror::Error;

use super::{BURST_SIZE, Mbuf, RxBatch};

/// Why a ring could not be created.
#[derive(Debug, Error)]
pub enum RingError {
    /// Name with a NUL byte, or capacity not a power of two (≥ 2).
    #[error(
        "bad ring {name:?} of {capacity}: names must be NUL-free and capacities a power of two"
    )]
    Bad {
        /// Ring name.
        name: String,
        /// Requested capacity.
        capacity: u32,
    },
    /// `rte_ring_create` failed.
    #[error("creating ring {name}: errno {errno}: {reason}")]
    Create {
        /// Ring name.
        name: String,
        /// rte_errno.
        errno: i32,
        /// DPDK's text.
        reason: String,
    },
}

struct RingShared {
    raw: NonNull<rte_ring>,
}

// SAFETY: the ring is used by one producer and one consumer, each holding its own handle; DPDK's
// SP/SC ring is safe for exactly that. The pointer stays valid until the last handle drops.
unsafe impl Send for RingShared {}
// SAFETY: as above; the shared part only exposes the pointer to the two single-owner handles.
unsafe impl Sync for RingShared {}

impl Drop for RingShared {
    fn drop(&mut self) {
        // Free what is still queued, then the ring.
        let mut ptrs: [*mut rte_mbuf; BURST_SIZE] = [std::ptr::null_mut(); BURST_SIZE];
        loop {
            // SAFETY: no handle is left, so this is the only user of the ring.
            let n = unsafe {
                dpdk_sys::rte_ring_sc_dequeue_burst(
                    self.raw.as_ptr(),
                    ptrs.as_mut_ptr().cast(),
                    BURST_SIZE as u32,
                    std::ptr::null_mut(),
                )
            } as usize;
            if n == 0 {
                break;
            }
            for raw in ptrs.iter().take(n) {
                if let Some(raw) = NonNull::new(*raw) {
                    // SAFETY: queued mbufs were owned by the ring and are now ours.
                    drop(unsafe { Mbuf::from_raw(raw) });
                }
            }
        }
        // SAFETY: created by rte_ring_create, emptied above, used by nobody.
        unsafe { dpdk_sys::rte_ring_free(self.raw.as_ptr()) };
    }
}

/// The sending end, owned by one thread.
pub struct RingProducer {
    shared: Arc<RingShared>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The receiving end, owned by one thread.
pub struct RingConsumer {
    shared: Arc<RingShared>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for RingProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingProducer")
    }
}

impl std::fmt::Debug for RingConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingConsumer")
    }
}

/// A ring holding up to `capacity - 1` mbufs (`capacity` a power of two).
///
/// # Errors
/// [`RingError`] for a bad name or capacity, or DPDK's reason (e.g. the name is taken).
pub fn mbuf_ring(name: &str, capacity: u32) -> Result<(RingProducer, RingConsumer), RingError> {
    let bad = || RingError::Bad {
        name: name.to_string(),
        capacity,
    };
    if capacity < 2 || !capacity.is_power_of_two() {
        return Err(bad());
    }
    let c_name = CString::new(name).map_err(|_| bad())?;
    // SAFETY: valid C string; EAL is initialised (rings live in DPDK memory).
    let raw = unsafe {
        dpdk_sys::rte_ring_create(
            c_name.as_ptr(),
            capacity,
            dpdk_sys::rte_socket_id() as i32,
            dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ,
        )
    };
    let raw = NonNull::new(raw).ok_or_else(|| {
        let (errno, reason) = super::last_error();
        RingError::Create {
            name: name.to_string(),
            errno,
            reason,
        }
    })?;
    let shared = Arc::new(RingShared { raw });
    Ok((
        RingProducer {
            shared: shared.clone(),
            _not_sync: PhantomData,
        },
        RingConsumer {
            shared,
            _not_sync: PhantomData,
        },
    ))
}

impl RingProducer {
    /// Enqueue packets from the front of `pkts`; those the ring has no room for stay in `pkts`
    /// (the caller counts and frees them). Returns how many were enqueued.
    pub fn send(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let mut sent = 0;
        let mut ptrs: [*mut rte_mbuf; BURST_SIZE] = [std::ptr::null_mut(); BURST_SIZE];
        while sent < pkts.len() {
            let chunk = pkts.get(sent..).unwrap_or(&[]);
            let n = chunk.len().min(BURST_SIZE);
            for (slot, mbuf) in ptrs.iter_mut().zip(chunk.iter().take(n)) {
                *slot = mbuf.as_raw().as_ptr();
            }
            // SAFETY: this thread is the ring's only producer; the pointers are valid mbufs we
            // own. Ownership moves to the ring for the first `done` of them only.
            let done = unsafe {
                dpdk_sys::rte_ring_sp_enqueue_burst(
                    self.shared.raw.as_ptr(),
                    ptrs.as_ptr().cast(),
                    n as u32,
                    std::ptr::null_mut(),
                )
            } as usize;
            sent += done;
            if done < n {
                break;
            }
        }
        // The first `sent` now belong to the ring: forget them without freeing.
        for mbuf in pkts.drain(..sent) {
            let _ = mbuf.into_raw();
        }
        sent
    }
}

impl RingConsumer {
    /// Dequeue up to a burst into `batch` (whose previous contents are freed).
    pub fn recv(&mut self, batch: &mut RxBatch) -> usize {
        for _ in batch.by_ref() {}
        // SAFETY: this thread is the ring's only consumer; the array holds BURST_SIZE slots and
        // the dequeued mbufs become the batch's.
        let n = unsafe {
            dpdk_sys::rte_ring_sc_dequeue_burst(
                self.shared.raw.as_ptr(),
                batch.ptrs.as_mut_ptr().cast(),
                BURST_SIZE as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        batch.len = n;
        batch.next = 0;
        n
    }
}

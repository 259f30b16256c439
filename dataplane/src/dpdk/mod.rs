//! Safe wrappers over DPDK: the only `unsafe` in the workspace outside `dpdk-sys`.
//!
//! Ownership follows DPDK's rules: an [`Mbuf`] is freed when dropped unless it was handed to a
//! driver; an [`RxQueue`]/[`TxQueue`] belongs to exactly one thread (`Send`, not `Sync`); a
//! [`Port`] stays open while any of its queues lives. EAL is initialised once per process.
#![allow(unsafe_code)]

mod cycles;
mod eal;
mod lcore;
mod mbuf;
mod mempool;
mod port;
mod ring;

pub use cycles::{tsc, tsc_hz};
pub use eal::{Eal, EalError, EalOptions, dpdk_version};
pub use lcore::{LcoreError, spawn_lcore_thread};
pub use mbuf::{BURST_SIZE, Mbuf, RxBatch};
pub use mempool::{Mempool, MempoolError};
pub use port::{LinkStatus, Port, PortConfig, PortError, PortStats, RxQueue, TxQueue};
pub use ring::{RingConsumer, RingError, RingProducer, mbuf_ring};

/// The calling thread's `rte_errno`, with DPDK's description.
fn last_error() -> (i32, String) {
    // SAFETY: reads a thread-local integer; valid on any thread once EAL is initialised.
    let errno = unsafe { dpdk_sys::dpdk_sys_errno() };
    (errno, error_string(errno))
}

/// DPDK's text for an errno value (positive or negative).
fn error_string(errno: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_strerror(errno.abs())) };
    text.to_string_lossy().into_owned()
}

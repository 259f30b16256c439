//! The time-stamp counter, for cycle accounting on the packet path (testpmd's
//! `--record-core-cycles`): one `rdtsc` per reading, no system call.

/// The TSC now. Monotonic and the same on every core of a machine with an invariant TSC.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` has no preconditions on x86_64; it only reads the counter.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: reads the cycle counter; no memory is touched.
        unsafe { dpdk_sys::rte_rdtsc() }
    }
}

/// TSC ticks per second as EAL measured them at init (0 before EAL is up).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at init; returns 0 when EAL is not initialised.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

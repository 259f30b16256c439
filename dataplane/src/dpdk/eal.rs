//! EAL initialisation: once per process, from explicit arguments.

use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};

use thiserror::Error;

/// Set once `rte_eal_init` has been attempted: DPDK forbids a second call in one process.
static EAL_STARTED: AtomicBool = AtomicBool::new(false);

/// Why EAL did not start.
#[derive(Debug, Error)]
pub enum EalError {
    /// `rte_eal_init` was already called in this process (it may be called only once).
    #[error("EAL is already initialised in this process")]
    AlreadyInitialised,
    /// An argument contained a NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// `rte_eal_init` failed.
    #[error("rte_eal_init failed (errno {errno}: {reason}); arguments: {args}")]
    InitFailed {
        /// rte_errno.
        errno: i32,
        /// DPDK's text for it.
        reason: String,
        /// The arguments, for the log.
        args: String,
    },
}

/// The EAL command line, with defaults that run without hugepages, PCI or shared config.
#[derive(Debug, Clone)]
pub struct EalOptions {
    /// Unique per process: DPDK names its runtime files and shared objects after it.
    pub file_prefix: String,
    /// Memory to reserve, MiB, with `--no-huge`.
    pub memory_mb: u32,
    /// Use hugepages (benchmarks); tests and the lab run without.
    pub hugepages: bool,
    /// `--vdev` devices created at init (ports can also be created later from devargs).
    pub vdevs: Vec<String>,
    /// Further arguments appended verbatim (from `<rampart><eal>`).
    pub extra: Vec<String>,
}

impl EalOptions {
    /// Defaults for a process named by `file_prefix`: `--no-huge -m 256 --no-pci --no-shconf`.
    pub fn new(file_prefix: impl Into<String>) -> Self {
        EalOptions {
            file_prefix: file_prefix.into(),
            memory_mb: 256,
            hugepages: false,
            vdevs: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The argv handed to `rte_eal_init`.
    pub fn to_args(&self) -> Vec<String> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut args = vec![
            "rampart".to_string(),
            // lcore 0 (the calling thread) may float over every CPU: EAL otherwise pins it,
            // and every thread it spawns after, to CPU 0.
            format!("--lcores=0@(0-{})", cpus.saturating_sub(1)),
            "--no-pci".to_string(),
            "--no-shconf".to_string(),
            format!("--file-prefix={}", self.file_prefix),
            "--log-level=notice".to_string(),
            // No telemetry socket: status and metrics come from rampart's own endpoints.
            "--no-telemetry".to_string(),
        ];
        if !self.hugepages {
            args.push("--no-huge".to_string());
            args.push(format!("-m{}", self.memory_mb));
        } else {
            args.push("--in-memory".to_string());
        }
        args.extend(self.vdevs.iter().map(|v| format!("--vdev={v}")));
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// Proof that EAL is up. Dropping it calls `rte_eal_cleanup`: drop it last — every pool, port,
/// ring and mbuf must be gone first (`Node` orders this; tests must too).
#[derive(Debug)]
pub struct Eal {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Eal {
    /// Initialise EAL with `options`.
    ///
    /// # Errors
    /// [`EalError::AlreadyInitialised`] on a second call in the same process (even after a
    /// failure: DPDK cannot retry), or [`EalError::InitFailed`] with DPDK's reason.
    pub fn init(options: &EalOptions) -> Result<Eal, EalError> {
        let args = options.to_args();
        let c_args = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| EalError::BadArgument(a.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        if EAL_STARTED.swap(true, Ordering::SeqCst) {
            return Err(EalError::AlreadyInitialised);
        }
        // rte_eal_init may permute argv and keeps pointers into it: leak the strings.
        let mut argv: Vec<*mut std::os::raw::c_char> =
            c_args.into_iter().map(CString::into_raw).collect();
        let argc = argv.len() as i32;
        let argv_ptr = argv.as_mut_ptr();
        std::mem::forget(argv);
        // SAFETY: argc/argv describe valid NUL-terminated strings that live for the process;
        // the EAL_STARTED flag guarantees this runs at most once per process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv_ptr) };
        if rc < 0 {
            let (errno, reason) = super::last_error();
            return Err(EalError::InitFailed {
                errno,
                reason,
                args: args.join(" "),
            });
        }
        Ok(Eal {
            _not_send: std::marker::PhantomData,
        })
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL was initialised by `init`; callers drop ports and pools first.
        let rc = unsafe { dpdk_sys::rte_eal_cleanup() };
        if rc != 0 {
            tracing::warn!(rc, "rte_eal_cleanup failed");
        }
    }
}

/// The DPDK library version string, e.g. `DPDK 22.11.11`.
pub fn dpdk_version() -> String {
    // SAFETY: rte_version returns a pointer to a static NUL-terminated string; no EAL needed.
    let version = unsafe { CStr::from_ptr(dpdk_sys::rte_version()) };
    version.to_string_lossy().into_owned()
}

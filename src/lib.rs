//! The `rampart` daemon's wiring: config.xml → a dataplane node spec, and the operator's report.
//! The binaries in `src/bin` are thin shells over this.
#![forbid(unsafe_code)]

pub mod carp;
pub mod ctl;
pub mod metrics;
pub mod nat;
pub mod report;
pub mod ruleset;
pub mod setup;
pub mod sync;
pub mod telemetry;
pub mod xmlrpc;

/// Version line: crate version, git revision and the DPDK it was built against.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("RAMPART_GIT_REVISION"),
    ", DPDK ",
    env!("RAMPART_DPDK_VERSION"),
    ")"
);

//! End-to-end test support for rampart: a network-namespace lab.
//!
//! The lab builds a small, fully isolated topology out of Linux network
//! namespaces, veth pairs and bridges:
//!
//! ```text
//!  <p>-client        <p>-sw (bridges)         <p>-fw1 (and <p>-fw2)     <p>-server
//!  eth0 ──veth── client-lan ┐
//!  10.10.1.10               ├ bridge lan ── fw1-lan ──veth── lan
//!                           ├ bridge wan ── fw1-wan ──veth── wan
//!                           │              server-wan ──veth────────── eth0 10.10.2.20
//!                           └ bridge sync ─ fw1-sync ─veth── sync
//! ```
//!
//! Nothing is created in the root namespace: every veth pair is created
//! directly between the host namespace and the switch namespace.  Every
//! namespace name carries a unique per-lab prefix (`rl<pid base36>-<n>`), the
//! [`Lab`] tears everything down on `Drop` (also while a test panics), and
//! [`sweep_stale`] removes what runs that died without unwinding left behind.
//!
//! Helpers for traffic ([`ping`], [`tcp_transfer`], [`tcp_streams`],
//! [`iperf3_transfer`]) and for running code and processes inside a namespace
//! ([`in_netns`], [`Lab::exec`], [`Lab::spawn`]) live here too.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use rampart_tests::{Host, Lab, Segment, ping, tcp_transfer};
//!
//! # fn main() -> anyhow::Result<()> {
//! let lab = Lab::single_node()?; // torn down on drop, even on panic
//! // The daemon opens `net_af_packet` on these (no addresses on them).
//! let (lan, wan) = (lab.fw_iface(Host::Fw1, Segment::Lan), lab.fw_iface(Host::Fw1, Segment::Wan));
//! # let _ = (lan, wan);
//! let argv = ["rampart", "--config", "/tmp/fw1.conf"];
//! let _fw = lab.spawn(Host::Fw1, &argv, &lab.log_path("fw1"))?; // SIGTERM, then SIGKILL on drop
//! let server = lab.addressing().server;
//! let stats = ping(&lab, Host::Client, server, 3, Duration::from_secs(5))?;
//! assert!(stats.received >= 2);
//! let report = tcp_transfer(&lab, Host::Client, Host::Server, server, 5201, 2 << 20)?;
//! println!("{} bytes verified, {:.0} Mbit/s", report.bytes, report.mbit_s);
//! lab.teardown()?;
//! # Ok(())
//! # }
//! ```

pub mod failover;
pub mod lab;
pub mod netns;
pub mod node;
pub mod process;
pub mod timeline;
pub mod traffic;

pub use lab::{Addressing, Host, Lab, Segment, Topology, require_root_and_tools, sweep_stale};
pub use netns::{in_netns, spawn_in_netns};
pub use nix::sys::signal::Signal;
pub use process::{LabProcess, run_with_timeout};
pub use traffic::{
    PingStats, StreamsConfig, StreamsReport, TransferReport, iperf3_transfer, pattern_fill, ping,
    tcp_streams, tcp_transfer, wait_until,
};

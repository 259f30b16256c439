//! rampart's benchmarks: criterion micro-benchmarks live in `benches/benches/`; this library
//! is the pktgen-style load harness behind the `rampart-bench` binary (`make bench`).
//!
//! - [`load::flows`]: the offered traffic (flows, sizes, UDP/TCP) and the pcap files
//!   `net_pcap` replays.
//! - [`load::config`]: the node's config.xml for the bench topology.
//! - [`load::run`]: one in-process run of the daemon's own wiring over `net_pcap` ports.
//! - [`load::stats`]: medians and ranges.

pub mod load;

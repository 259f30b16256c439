//! rampart's packet path.
//!
//! - [`dpdk`]: safe wrappers over DPDK (EAL, mempools, mbufs, ports, queues, lcore threads): the
//!   only `unsafe` outside `dpdk-sys`.
//! - [`wire`]: zero-copy packet views over `&[u8]`; never sees an mbuf.
//! - [`forward`]: the forwarding decision (ARP, NDP, ICMP, ICMPv6, IPv4 and IPv6 routing) as a
//!   pure function of bytes, port, time and the worker's tables; [`route`], [`route6`] and
//!   [`neighbour`] are those tables.
//! - [`worker`]: the poll loop of one core; [`node`] starts and stops a whole node.
//!
//! Per-packet work takes no lock and writes no shared memory: each worker owns its queues,
//! tables and [`counters`].

pub mod control_link;
pub mod counters;
pub mod dpdk;
pub mod firewall;
pub mod forward;
pub mod handoff;
pub mod lpm;
pub mod nat;
pub mod neighbour;
pub mod node;
pub mod ops;
pub mod route;
pub mod route6;
pub mod rules;
pub mod state;
pub mod steer;
pub mod sync_link;
pub mod testkit;
pub mod time;
pub mod vip;
pub mod wire;
pub mod worker;

pub use counters::{DropReason, WorkerCounters};
pub use node::{
    FirewallSpec, Node, NodeError, NodeReport, NodeSpec, PolicyHandle, PortSpec, PortStatus,
    SyncEnds, SyncPortSpec,
};
pub use worker::Polling;

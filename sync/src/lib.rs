//! pfsync state synchronisation (issue 4): the codec ([`wire`]), coalescing and batching of
//! state events, bulk update and the routing of the peer's messages to the workers
//! ([`engine`]), authenticated frames ([`auth`]) and the sync port's link layer
//! ([`transport`]), all sans-IO: no sockets, no clock reads, no DPDK. [`lcore`] is the one
//! loop that does I/O: the sync core, on the node's sync port.
#![forbid(unsafe_code)]

pub mod auth;
pub mod engine;
pub mod frames;
pub mod lcore;
pub mod listing;
pub mod status;
pub mod transport;
pub mod wire;

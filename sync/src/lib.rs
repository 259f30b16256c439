//! pfsync state synchronisation (issue 4): the codec ([`wire`]), coalescing and batching of
//! state events, bulk update and the routing of the peer's messages to the workers
//! ([`engine`]). Sans-IO: no sockets, no clock reads, no DPDK.
#![forbid(unsafe_code)]

pub mod auth;
pub mod engine;
pub mod transport;
pub mod wire;

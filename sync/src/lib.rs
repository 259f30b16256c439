//! pfsync state synchronisation (issue 4): the codec, coalescing and batching of state
//! events, bulk update and the merge rules. Sans-IO: no sockets, no clock reads, no DPDK.
//!
//! Nothing is implemented yet; the crate exists so the workspace has the design's shape.
#![forbid(unsafe_code)]

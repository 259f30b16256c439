//! The control socket (issue 7): its protocol ([`proto`], [`reply`]), its server
//! ([`server`], over a [`server::Handler`] the daemon implements) and the client `rampartctl`
//! uses ([`client`]). No DPDK here: the daemon answers from snapshots it already publishes.

pub mod client;
pub mod proto;
pub mod reply;
pub mod server;

pub use proto::{Command, CtlError, ErrorKind, ListArgs, Response, StateSelector};
pub use reply::Reply;

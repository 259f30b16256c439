//! XMLRPC configuration sync, compatible with pfSense's `xmlrpc.php` (facts:
//! `reference/xmlrpc.md`, checked against pfSense's master sources where noted).
//!
//! | module | what it holds |
//! |---|---|
//! | [`value`] | [`Value`] (every XML-RPC type but nil) and [`Fault`] |
//! | [`codec`] | bytes ⇄ `methodCall` / `methodResponse`, lenient where senders differ |
//! | [`tree`] | XML-RPC values ⇄ `config.xml` subtrees, the way pfSense's PHP arrays do it |
//! | [`merge`] | what the secondary does with a payload: replace, overlay, keep node-local |
//! | [`auth`] | Basic credentials against `<system><user>` (bcrypt), failed-login lockout |
//! | [`store`] | [`ConfigStore`], the daemon's side; [`MemoryStore`] for tests and tools |
//! | [`handler`] | [`Handler`]: the methods, sans-IO (body in, body out) |
//!

pub mod auth;
pub mod codec;
pub mod handler;
pub mod merge;
pub mod store;
pub mod tree;
pub mod value;

#[cfg(test)]
mod proptests;

pub use auth::{Credentials, LoginLimits};
pub use codec::{DecodeError, MethodCall, MethodResponse};
pub use handler::{CallContext, Handler, HandlerOptions, Response, fault_code};
pub use merge::{MergeError, MergeReport};
pub use store::{ApplyError, ConfigStore, MemoryStore};
pub use value::{Fault, Value};

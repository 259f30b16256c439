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
//! | [`tls`] | the server certificate (self-signed on first start), the client's pinning |
//! | [`server`] | [`serve`]: hyper + rustls around the handler, graceful shutdown |
//! | [`payload`] | the primary's payload from its `<hasync>` selection |
//! | [`diff`] | section-level diff and the dry run |
//! | [`client`] | [`push`] and [`dry_run`]: the primary's calls, retries, outcome |
//!
//! # The secondary: serving
//!
//! ```no_run
//! # async fn run(config: rampart_control::config::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::{Arc, Mutex};
//! use rampart_control::xmlrpc::{
//!     Handler, HandlerOptions, MemoryStore, ServerOptions, load_or_generate, serve,
//! };
//!
//! // The daemon implements ConfigStore over its own config store; MemoryStore stands in.
//! let handler = Arc::new(Mutex::new(Handler::new(MemoryStore::new(config), HandlerOptions::default())));
//! let tls = load_or_generate(
//!     "/var/lib/rampart/xmlrpc.crt".as_ref(),
//!     "/var/lib/rampart/xmlrpc.key".as_ref(),
//!     &["fw-b".into(), "172.16.0.2".into()],
//! )?;
//! println!("pin this on the primary: {}", tls.fingerprint);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! serve(
//!     "172.16.0.2:443".parse()?,
//!     Some(tls.config),
//!     handler,
//!     ServerOptions::default(),
//!     async { let _ = stopped.await; },
//! )
//! .await?;
//! # drop(stop);
//! # Ok(()) }
//! ```
//!
//! # The primary: pushing
//!
//! ```no_run
//! # async fn run(config: rampart_control::config::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use rampart_control::xmlrpc::{Peer, PeerVerification, dry_run, push};
//!
//! let pin = "AB:CD:…".parse(); // the secondary's certificate fingerprint
//! let verification = pin.map_or(PeerVerification::Insecure, PeerVerification::Pinned);
//! let peer = Peer::from_config(&config, verification)?;
//! print!("{}", dry_run(&config, &peer).await?); // what would change
//! let outcome = push(&config, &peer).await; // after every config change
//! println!("{outcome}"); // ok, or failed with the reason; never silent
//! # Ok(()) }
//! ```

pub mod auth;
pub mod client;
pub mod codec;
pub mod diff;
pub mod handler;
pub mod merge;
pub mod payload;
pub mod server;
pub mod store;
pub mod tls;
pub mod tree;
pub mod value;

#[cfg(test)]
mod proptests;

pub use auth::{Credentials, LoginLimits};
pub use client::{CallError, Peer, Stage, SyncDone, SyncError, SyncOutcome, dry_run, push};
pub use codec::{DecodeError, MethodCall, MethodResponse};
pub use diff::{DryRun, SectionChange, SectionDiff};
pub use handler::{CallContext, Handler, HandlerOptions, Response, fault_code};
pub use merge::{MergeError, MergeReport};
pub use payload::{Payload, PayloadError, build_payload};
pub use server::{ServerOptions, SharedHandler, serve, serve_listener};
pub use store::{ApplyError, ConfigStore, MemoryStore};
pub use tls::{Fingerprint, PeerVerification, ServerTls, load_or_generate};
pub use value::{Fault, Value};

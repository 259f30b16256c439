//! CARP (Common Address Redundancy Protocol), sans-IO: the advert codec and one state
//! machine per vhid, interoperable with FreeBSD / pfSense / OPNsense, OpenBSD and ucarp
//! (facts: `reference/carp.md`).
//!
//! | module | what it holds |
//! |---|---|
//! | [`wire`] | the 36-byte header: zero-copy view [`CarpPacket`], value [`Advert`], encoder |
//! | [`auth`] | HMAC-SHA1 over version, type, vhid, the sorted addresses and the counter |
//! | [`rx`] | receive checks in FreeBSD's order, each failure a named [`DropReason`] |
//! | [`replay`] | the counter replay check |
//! | [`interval`] | timers and election intervals in exact 1/256 s |
//! | [`election`] | who wins on a valid advert, as pure functions |
//! | [`demotion`] | the node's demotion counter and its named sources |
//! | [`machine`] | [`Machine`]: INIT / BACKUP / MASTER, timers, actions, counters |
//! | [`maintenance`] | the persistent maintenance-mode record and its file |
//!
//! # How a caller drives a vhid
//!
//! ```
//! use rampart_control::carp::{Action, Config, Event, Instant, Machine, State};
//!
//! let vip = "192.0.2.100".parse().unwrap();
//! let mut vhid = Machine::new(Config::new(7, "s3cretpass", vec![vip]), 0x5eed).unwrap();
//! let mut now = Instant::from_secs(1);
//! vhid.handle(now, Event::LinkUp); // INIT → BACKUP
//! let mut adverts = 0;
//! while adverts < 2 {
//!     while let Some(action) = vhid.poll_action() {
//!         match action {
//!             Action::Transition(t) => println!("{t}"), // log and count it
//!             Action::SendAdvert(out) => {
//!                 // out.bytes: the IP payload, protocol 112, TTL 255, to 224.0.0.18.
//!                 adverts += 1;
//!             }
//!             Action::BecomeMaster => {} // claim the VIPs, gratuitous ARP / NA
//!             Action::Announce => {}     // gratuitous ARP / NA again
//!             Action::StopAnswering => {} // release the VIPs
//!         }
//!     }
//!     // Wait for poll_timeout() or a packet; a packet goes to
//!     // vhid.receive(now, &Incoming { src, ttl, bytes }).
//!     now = vhid.poll_timeout().unwrap();
//!     vhid.handle(now, Event::Tick);
//! }
//! assert_eq!(vhid.state(), State::Master); // nobody else spoke for 3 s
//! ```
//!
//! With several vhids, [`rx::parse`] checks length and checksum once and
//! [`CarpPacket::vhid`] picks the machine (none: count [`DropReason::WrongVhid`]). The node
//! keeps one [`Demotion`] and sends its total to every machine when it changes.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub mod auth;
pub mod demotion;
pub mod election;
pub mod interval;
pub mod machine;
pub mod maintenance;
pub mod replay;
pub mod rx;
pub mod transition;
pub mod wire;

#[cfg(test)]
mod proptests;

pub use auth::Auth;
pub use demotion::{Demotion, DemotionFactors, DemotionSource};
pub use interval::Interval;
pub use machine::{Action, Config, ConfigError, Event, Family, Machine, Outgoing, Stats};
pub use maintenance::MaintenanceRecord;
pub use rampart_dataplane::time::Instant;
pub use rx::{DropCounts, DropReason, Incoming, Verifier};
pub use transition::{Reason, State, Transition, TransitionCounts};
pub use wire::{Advert, CarpPacket};

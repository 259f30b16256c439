//! The pfsync codec, FreeBSD protocol version 5 (pfSense, OPNsense; pfsync.md §2–§4): bytes
//! ⇄ messages, sans-IO. No clock, no sockets, no allocation per message, no panics on any
//! input.
//!
//! # A frame
//!
//! The IP payload (protocol 240) is one frame:
//!
//! ```text
//! header (20)  | version 5 | pad | len (BE) | pfcksum (16) |
//! region       | subheader (4): action, pad, count (BE) | count × message of that action |
//! region ...
//! EOF (4)      | subheader: action 12, count 1, no body |
//! ```
//!
//! `len` counts from the header's first byte to the end of the EOF subheader. Messages of an
//! action all have one size ([`Action::message_len`]): CLR 20, INS_ACK/UPD_REQ/DEL_C/BUS 12,
//! UPD_C 84, full states 242 (1301), 277 (1400) or 360 (1500) — the format is chosen per
//! action code, the header version stays 5. The layouts, with offsets, are in each record's
//! module: [`header`], [`key`], [`peer`], [`state`] (and its [`state::v1301`],
//! [`state::v1400`], [`state::v1500`]), [`upd_c`], [`small`].
//!
//! # Types
//!
//! Records are small `Copy` values with `parse(&[u8])` (checking field values as pf does)
//! and `emit(&mut [u8])`; fields are in host order with pf's meanings. [`Message`] is any
//! one of them. [`Frame`] checks an envelope and iterates its messages, reporting each
//! skipped record and an early end with a [`DropReason`] (a stable counter name each;
//! [`DropCounts`] counts them). [`FrameBuilder`] packs messages into a caller's buffer up to
//! a limit. [`convert`] turns full states and compressed updates into the dataplane's values
//! and back.
//!
//! OpenBSD's version 6 (its subheader carries a length, its state is 264 bytes, no EOF) is
//! not spoken: FreeBSD and OpenBSD cannot sync with each other anyway, and pfSense is
//! FreeBSD.
#![forbid(unsafe_code)]
// Indexing is how a parser usually panics; keep it out of the non-test code altogether.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod build;
mod bytes;
pub mod convert;
mod decode;
pub mod header;
pub mod ifname;
pub mod key;
mod message;
pub mod peer;
mod reason;
pub mod small;
pub mod state;
pub mod upd_c;

#[cfg(test)]
mod tests;

pub use build::{FrameBuilder, LimitTooSmall, MIN_FRAME, PushError};
pub use convert::{ExportError, ImportError, InterfaceMap, Interfaces};
pub use decode::{Frame, Messages, Rejected};
pub use header::{Action, HEADER_LEN, Header, SUBHEADER_LEN, Subheader, VERSION};
pub use ifname::{BadIfName, IfName};
pub use key::{AF_INET, AF_INET6, KeyRecord};
pub use message::Message;
pub use peer::{PeerRecord, Scrub};
pub use reason::{DropCounts, DropReason};
pub use small::{Bus, BusStatus, Clr, StateRef};
pub use state::{FullState, NO_RULE, PFTM_MAX, StateActions, StateFormat};
pub use upd_c::UpdC;

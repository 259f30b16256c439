//! Why the decoder dropped something, one stable counter name per reason.
//!
//! Three levels, as in pf's input path (pfsync.md §4):
//!
//! * the **frame** is refused before any message applies: [`ShortFrame`](DropReason::ShortFrame),
//!   [`BadVersion`](DropReason::BadVersion), [`BadLength`](DropReason::BadLength);
//! * the **rest of the frame** is dropped, messages before the fault having applied:
//!   [`Truncated`](DropReason::Truncated) (a region runs past the frame) and
//!   [`UnknownAction`](DropReason::UnknownAction) (its size is unknown, so nothing after it
//!   can be found) — pf's `badlen` and `badact`;
//! * one **record** is skipped and the next one read: bad field values (pf's `badval`, and
//!   what its import refuses), records of actions rampart does not apply but whose size is
//!   known ([`IgnoredAction`](DropReason::IgnoredAction)), and records the dataplane cannot
//!   hold (reported by the conversion, [`super::ImportError::reason`]).
//!
//! [`TrailingBytes`](DropReason::TrailingBytes) reports bytes after the EOF region (pf counts
//! `badlen` too, having applied everything before).

use thiserror::Error;

/// Why a frame, the rest of a frame, or one record was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than the 20-byte pfsync header (pf `hdrops`).
    #[error("frame shorter than the pfsync header")]
    ShortFrame,
    /// Header version other than 5 (pf `badver`); OpenBSD's 6 lands here.
    #[error("pfsync version is not 5 (FreeBSD)")]
    BadVersion,
    /// Header length below the header size or beyond the buffer (pf `badlen`).
    #[error("pfsync header length disagrees with the frame")]
    BadLength,
    /// A region's messages run past the header length; the rest of the frame is dropped.
    #[error("region runs past the end of the frame")]
    Truncated,
    /// An action whose message size is unknown (INS_F, DEL_F, codes ≥ 17); the rest of the
    /// frame is dropped (pf `badact`).
    #[error("unknown action; rest of frame dropped")]
    UnknownAction,
    /// Bytes after EOF, or a partial subheader at the end (pf `badlen`).
    #[error("bytes after the last region")]
    TrailingBytes,
    /// A record of an action rampart does not apply (TDB, full-state DEL), skipped by its
    /// known size.
    #[error("record of an action rampart does not apply")]
    IgnoredAction,
    /// Address family other than IPv4 (2) or FreeBSD IPv6 (28).
    #[error("bad address family")]
    BadAf,
    /// Timeout class at or beyond pf's `PFTM_MAX` (25 on FreeBSD 14+).
    #[error("bad timeout class")]
    BadTimeout,
    /// A peer state beyond `PF_TCPS_PROXY_DST` (12).
    #[error("bad peer state")]
    BadPeerState,
    /// Direction other than 0, 1 (in) or 2 (out).
    #[error("bad direction")]
    BadDirection,
    /// creatorid 0, which pf refuses.
    #[error("creatorid 0")]
    BadCreatorid,
    /// Interface name not NUL-terminated within its 16 bytes.
    #[error("interface name not terminated")]
    BadIfname,
    /// A key pf could not have built: IPv4 address with bytes beyond the fourth set, or the
    /// two keys of one family with different protocols.
    #[error("bad state key")]
    BadKey,
    /// BUS status other than 1 (start) or 2 (end).
    #[error("bad bulk update status")]
    BadBusStatus,
    /// The state is bound to an interface this node does not have (pf skips it silently).
    #[error("unknown interface")]
    UnknownInterface,
    /// A timeout class the dataplane does not track (14–24: settings and SCTP).
    #[error("timeout class the dataplane does not track")]
    UnsupportedTimeout,
    /// Direction 0 (in/out), which a state never has.
    #[error("state without a direction")]
    UnsupportedDirection,
    /// Wire and stack keys of different families or protocols (af-to, 1500 format).
    #[error("keys of different families (af-to)")]
    MixedFamilies,
}

impl DropReason {
    /// Every reason, in declaration order (the index of [`DropCounts`]).
    pub const ALL: [DropReason; 19] = [
        DropReason::ShortFrame,
        DropReason::BadVersion,
        DropReason::BadLength,
        DropReason::Truncated,
        DropReason::UnknownAction,
        DropReason::TrailingBytes,
        DropReason::IgnoredAction,
        DropReason::BadAf,
        DropReason::BadTimeout,
        DropReason::BadPeerState,
        DropReason::BadDirection,
        DropReason::BadCreatorid,
        DropReason::BadIfname,
        DropReason::BadKey,
        DropReason::BadBusStatus,
        DropReason::UnknownInterface,
        DropReason::UnsupportedTimeout,
        DropReason::UnsupportedDirection,
        DropReason::MixedFamilies,
    ];

    /// Stable counter name.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::ShortFrame => "short_frame",
            DropReason::BadVersion => "bad_version",
            DropReason::BadLength => "bad_length",
            DropReason::Truncated => "truncated",
            DropReason::UnknownAction => "unknown_action",
            DropReason::TrailingBytes => "trailing_bytes",
            DropReason::IgnoredAction => "ignored_action",
            DropReason::BadAf => "bad_af",
            DropReason::BadTimeout => "bad_timeout",
            DropReason::BadPeerState => "bad_peer_state",
            DropReason::BadDirection => "bad_direction",
            DropReason::BadCreatorid => "bad_creatorid",
            DropReason::BadIfname => "bad_ifname",
            DropReason::BadKey => "bad_key",
            DropReason::BadBusStatus => "bad_bus_status",
            DropReason::UnknownInterface => "unknown_interface",
            DropReason::UnsupportedTimeout => "unsupported_timeout",
            DropReason::UnsupportedDirection => "unsupported_direction",
            DropReason::MixedFamilies => "mixed_families",
        }
    }

    /// Whether nothing after it in the frame is read (the frame-level reasons included).
    pub const fn ends_frame(self) -> bool {
        matches!(
            self,
            DropReason::ShortFrame
                | DropReason::BadVersion
                | DropReason::BadLength
                | DropReason::Truncated
                | DropReason::UnknownAction
                | DropReason::TrailingBytes
        )
    }
}

/// A counter per [`DropReason`]: frame-level reasons count frames, the others records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// Counts one more `reason`.
    #[inline]
    pub fn add(&mut self, reason: DropReason) {
        if let Some(c) = self.counts.get_mut(reason as usize) {
            *c += 1;
        }
    }

    /// The count of `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &DropCounts) {
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
    }

    /// All counts summed.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// `(name, count)` of every reason counted at least once, in declaration order.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (r.name(), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names_unique_and_indexed() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }

    #[test]
    fn test_counts() {
        let mut a = DropCounts::default();
        a.add(DropReason::BadAf);
        a.add(DropReason::BadAf);
        let mut b = DropCounts::default();
        b.add(DropReason::Truncated);
        b.merge(&a);
        assert_eq!(b.get(DropReason::BadAf), 2);
        assert_eq!(b.total(), 3);
        let listed: Vec<_> = b.nonzero().collect();
        assert_eq!(listed, [("truncated", 1), ("bad_af", 2)]);
    }
}

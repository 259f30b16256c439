//! The node's demotion counter (carp.md §3.6, FreeBSD semantics): one value for the whole
//! node, added to every vhid's advskew. Each vhid advertises and compares with
//! `min(240, max(0, advskew + demotion))`; its master-down timer keeps the plain advskew.
//!
//! A demotion is a node-wide statement ("this node is unhealthy"), so a dead LAN link also
//! moves the WAN vhids to the peer, as pfSense does. The caller owns one [`Demotion`],
//! changes it through the named sources and, whenever [`Demotion::total`] changes, passes
//! the new total to every machine (`Event::Demotion`); a master then advertises at once.
//!
//! Sources (each with FreeBSD's default factor, 240 = `CARP_MAXSKEW`):
//! * [`Demotion::set_link_down`]: per vhid whose parent port lost its link
//!   (`net.inet.carp.ifdown_demotion_factor`), added once per vhid however often it is
//!   reported, removed when the link returns;
//! * [`Demotion::set_bulk_pending`]: while the pfsync bulk update after start runs
//!   (`net.pfsync.carp_demotion_factor`), so a rebooted primary does not take the VIPs
//!   before it knows the connections;
//! * the operator: [`Demotion::operator_add`] (what writing the FreeBSD sysctl does) and
//!   [`Demotion::operator_set`].

use std::collections::BTreeSet;

/// FreeBSD's `CARP_MAXSKEW`: the largest skew advertised, and the default factor.
pub const MAX_SKEW: u8 = 240;

/// A named source of demotion, for status output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemotionSource {
    /// Data ports whose link is down (per vhid on them).
    LinkDown,
    /// pfsync bulk update pending.
    BulkPending,
    /// Set by the operator.
    Operator,
}

impl DemotionSource {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            DemotionSource::LinkDown => "link_down",
            DemotionSource::BulkPending => "bulk_pending",
            DemotionSource::Operator => "operator",
        }
    }
}

/// How much each automatic source demotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemotionFactors {
    /// Per vhid whose link is down.
    pub link_down: i32,
    /// While the bulk update is pending.
    pub bulk_pending: i32,
}

impl Default for DemotionFactors {
    fn default() -> Self {
        DemotionFactors {
            link_down: i32::from(MAX_SKEW),
            bulk_pending: i32::from(MAX_SKEW),
        }
    }
}

/// The node-wide demotion and where it comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Demotion {
    factors: DemotionFactors,
    /// `(port, vhid)` pairs whose port lost its link.
    links_down: BTreeSet<(u16, u8)>,
    bulk_pending: bool,
    operator: i32,
}

impl Demotion {
    /// No demotion, with these factors.
    pub fn new(factors: DemotionFactors) -> Demotion {
        Demotion {
            factors,
            ..Demotion::default()
        }
    }

    /// Records whether the port of `vhid` has lost its link (a vhid number is unique per
    /// segment, not per node, hence the port). Returns whether the total changed.
    pub fn set_link_down(&mut self, port: u16, vhid: u8, down: bool) -> bool {
        if down {
            self.links_down.insert((port, vhid))
        } else {
            self.links_down.remove(&(port, vhid))
        }
    }

    /// Records whether the pfsync bulk update is pending. Returns whether the total changed.
    pub fn set_bulk_pending(&mut self, pending: bool) -> bool {
        let changed = self.bulk_pending != pending;
        self.bulk_pending = pending;
        changed
    }

    /// Adds to the operator's share (negative lowers it), as writing FreeBSD's
    /// `net.inet.carp.demotion` does.
    pub fn operator_add(&mut self, delta: i32) {
        self.operator = self.operator.saturating_add(delta);
    }

    /// Sets the operator's share.
    pub fn operator_set(&mut self, value: i32) {
        self.operator = value;
    }

    /// One source's share.
    pub fn by_source(&self, source: DemotionSource) -> i32 {
        match source {
            DemotionSource::LinkDown => {
                let n = i32::try_from(self.links_down.len()).unwrap_or(i32::MAX);
                n.saturating_mul(self.factors.link_down)
            }
            DemotionSource::BulkPending => {
                if self.bulk_pending {
                    self.factors.bulk_pending
                } else {
                    0
                }
            }
            DemotionSource::Operator => self.operator,
        }
    }

    /// The total every machine adds to its advskew.
    pub fn total(&self) -> i32 {
        [
            DemotionSource::LinkDown,
            DemotionSource::BulkPending,
            DemotionSource::Operator,
        ]
        .into_iter()
        .fold(0i32, |acc, s| acc.saturating_add(self.by_source(s)))
    }
}

/// The skew a vhid advertises and compares with: `advskew + demotion` clamped to
/// `0..=240` (FreeBSD's `DEMOTE_ADVSKEW`, with the fix for negative demotion).
pub fn effective_skew(advskew: u8, demotion: i32) -> u8 {
    let skew = i32::from(advskew)
        .saturating_add(demotion)
        .clamp(0, i32::from(MAX_SKEW));
    u8::try_from(skew).unwrap_or(MAX_SKEW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sources_add_up() {
        let mut d = Demotion::default();
        assert_eq!(d.total(), 0);
        assert!(d.set_link_down(0, 1, true));
        assert!(!d.set_link_down(0, 1, true)); // once per vhid
        assert!(d.set_link_down(1, 1, true)); // same vhid number on another port
        assert_eq!(d.by_source(DemotionSource::LinkDown), 480);
        assert!(d.set_bulk_pending(true));
        d.operator_add(10);
        d.operator_add(-4);
        assert_eq!(d.total(), 480 + 240 + 6);
        assert!(d.set_link_down(0, 1, false));
        assert!(d.set_link_down(1, 1, false));
        assert!(d.set_bulk_pending(false));
        d.operator_set(0);
        assert_eq!(d.total(), 0);
    }

    #[test]
    fn test_effective_skew_clamps() {
        assert_eq!(effective_skew(0, 0), 0);
        assert_eq!(effective_skew(100, 240), 240);
        // pfSense maintenance: advskew 254 goes out as 240.
        assert_eq!(effective_skew(254, 0), 240);
        assert_eq!(effective_skew(100, -500), 0);
        assert_eq!(effective_skew(10, i32::MAX), 240);
    }
}

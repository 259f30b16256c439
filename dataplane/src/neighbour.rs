//! The neighbour table of one worker: next-hop IP → MAC per port, with a bounded queue of
//! packets waiting for resolution. One table serves both families: IPv4 next hops are resolved
//! by ARP, IPv6 ones by neighbour discovery (the [`NeighbourSink`] sends whichever request the
//! address calls for), with the same timers and limits.
//!
//! States: `Incomplete` (requests sent every [`RETRANSMIT`], at most [`MAX_PROBES`], packets
//! held) → `Reachable` (confirmed by an ARP reply or request, or an NDP advertisement or
//! solicitation, from the neighbour). A reachable
//! entry older than [`REACHABLE`] is still used but probed again; if the probes go unanswered
//! it is removed. An unresolved next hop is `Failed` for [`FAILED_HOLD`], during which packets
//! to it are dropped at once instead of queueing behind a dead host.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use hashbrown::HashMap;

use crate::counters::DropReason;
use crate::time::Instant;
use crate::wire::MacAddr;

/// Between ARP requests for one address.
pub const RETRANSMIT: Duration = Duration::from_secs(1);
/// Requests before an address is declared unreachable.
pub const MAX_PROBES: u8 = 3;
/// How long an answer is trusted before it is probed again.
pub const REACHABLE: Duration = Duration::from_secs(300);
/// How long an unresolved address fails fast.
pub const FAILED_HOLD: Duration = Duration::from_secs(5);

/// Limits of one table.
#[derive(Debug, Clone, Copy)]
pub struct NeighbourLimits {
    /// Entries, all ports together.
    pub max_entries: usize,
    /// Packets waiting for one address.
    pub max_held_per_entry: usize,
    /// Packets waiting, all addresses together.
    pub max_held_total: usize,
}

impl Default for NeighbourLimits {
    fn default() -> Self {
        NeighbourLimits {
            max_entries: 4096,
            // About what Linux holds (`unres_qlen_bytes` 212992, ~140 full frames): a node
            // that just took a VIP over sends every connection's next packet to the one
            // upstream router at once, and 16 dropped the rest of that burst.
            max_held_per_entry: 128,
            max_held_total: 512,
        }
    }
}

#[derive(Debug)]
enum State<P> {
    Incomplete {
        held: VecDeque<P>,
        probes: u8,
        last_probe: Instant,
    },
    Reachable {
        mac: MacAddr,
        confirmed: Instant,
        probes: u8,
        last_probe: Instant,
    },
    Failed {
        until: Instant,
    },
}

/// What the table says about a next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this MAC.
    Known(MacAddr),
    /// Unknown: hold the packet with [`NeighbourTable::hold`].
    Unknown,
    /// Recently failed to resolve: drop.
    Failed,
}

/// Work the table asks of its caller.
pub trait NeighbourSink<P> {
    /// Send an ARP request (IPv4) or neighbour solicitation (IPv6) for `ip` out of `port`.
    fn request(&mut self, port: usize, ip: IpAddr);
    /// `pkt` was waiting for `mac` on `port`: send it now.
    fn release(&mut self, port: usize, mac: MacAddr, pkt: P);
    /// `pkt` cannot be delivered.
    fn discard(&mut self, pkt: P, reason: DropReason);
}

/// Per-worker ARP and NDP cache.
#[derive(Debug)]
pub struct NeighbourTable<P> {
    entries: HashMap<(usize, IpAddr), State<P>>,
    limits: NeighbourLimits,
    held_total: usize,
}

impl<P> NeighbourTable<P> {
    /// An empty table.
    pub fn new(limits: NeighbourLimits) -> Self {
        NeighbourTable {
            entries: HashMap::with_capacity(limits.max_entries.min(1024)),
            limits,
            held_total: 0,
        }
    }

    /// Entries in any state.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Packets waiting for resolution.
    pub fn held(&self) -> usize {
        self.held_total
    }

    /// The MAC for `ip` on `port`, if resolved.
    #[inline]
    pub fn lookup(&self, port: usize, ip: impl Into<IpAddr>) -> Lookup {
        match self.entries.get(&(port, ip.into())) {
            Some(State::Reachable { mac, .. }) => Lookup::Known(*mac),
            Some(State::Failed { .. }) => Lookup::Failed,
            Some(State::Incomplete { .. }) | None => Lookup::Unknown,
        }
    }

    /// Queue `pkt` until `ip` resolves, sending the first request if this starts resolution.
    pub fn hold(
        &mut self,
        now: Instant,
        port: usize,
        ip: impl Into<IpAddr>,
        pkt: P,
        sink: &mut impl NeighbourSink<P>,
    ) {
        let ip = ip.into();
        if self.held_total >= self.limits.max_held_total {
            sink.discard(pkt, DropReason::NeighbourQueueFull);
            return;
        }
        let key = (port, ip);
        if !self.entries.contains_key(&key) && self.entries.len() >= self.limits.max_entries {
            sink.discard(pkt, DropReason::NeighbourTableFull);
            return;
        }
        let entry = self
            .entries
            .entry(key)
            .or_insert_with(|| State::Incomplete {
                held: VecDeque::new(),
                probes: 0,
                last_probe: now,
            });
        match entry {
            State::Incomplete {
                held,
                probes,
                last_probe,
            } => {
                if held.len() >= self.limits.max_held_per_entry {
                    sink.discard(pkt, DropReason::NeighbourQueueFull);
                } else {
                    held.push_back(pkt);
                    self.held_total += 1;
                }
                if *probes == 0 {
                    *probes = 1;
                    *last_probe = now;
                    sink.request(port, ip);
                }
            }
            State::Reachable { mac, .. } => sink.release(port, *mac, pkt),
            State::Failed { .. } => sink.discard(pkt, DropReason::NeighbourUnresolved),
        }
    }

    /// The neighbour `ip` on `port` said it has `mac`. Creates the entry only if `create` (ARP
    /// or NDP traffic addressed to us), otherwise just refreshes a known one; releases held packets.
    pub fn learn(
        &mut self,
        now: Instant,
        port: usize,
        ip: impl Into<IpAddr>,
        mac: MacAddr,
        create: bool,
        sink: &mut impl NeighbourSink<P>,
    ) {
        let key = (port, ip.into());
        let reachable = State::Reachable {
            mac,
            confirmed: now,
            probes: 0,
            last_probe: now,
        };
        let room = self.entries.len() < self.limits.max_entries;
        match self.entries.get_mut(&key) {
            Some(entry) => {
                let previous = std::mem::replace(entry, reachable);
                if let State::Incomplete { held, .. } = previous {
                    self.held_total -= held.len();
                    for pkt in held {
                        sink.release(port, mac, pkt);
                    }
                }
            }
            None if create && room => {
                self.entries.insert(key, reachable);
            }
            None => {}
        }
    }

    /// Retransmit, expire and fail entries. Call a few times a second.
    pub fn tick(&mut self, now: Instant, sink: &mut impl NeighbourSink<P>) {
        let mut released_held = 0;
        self.entries.retain(|&(port, ip), state| match state {
            State::Incomplete {
                held,
                probes,
                last_probe,
            } => {
                if now.since(*last_probe) < RETRANSMIT {
                    return true;
                }
                if *probes >= MAX_PROBES {
                    released_held += held.len();
                    for pkt in held.drain(..) {
                        sink.discard(pkt, DropReason::NeighbourUnresolved);
                    }
                    *state = State::Failed {
                        until: now + FAILED_HOLD,
                    };
                    return true;
                }
                *probes += 1;
                *last_probe = now;
                sink.request(port, ip);
                true
            }
            State::Reachable {
                confirmed,
                probes,
                last_probe,
                ..
            } => {
                if now.since(*confirmed) < REACHABLE || now.since(*last_probe) < RETRANSMIT {
                    return true;
                }
                if *probes >= MAX_PROBES {
                    return false;
                }
                *probes += 1;
                *last_probe = now;
                sink.request(port, ip);
                true
            }
            State::Failed { until } => now < *until,
        });
        self.held_total -= released_held;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[derive(Default)]
    struct Sink {
        requests: Vec<(usize, IpAddr)>,
        released: Vec<(usize, MacAddr, u32)>,
        discarded: Vec<(u32, DropReason)>,
    }

    impl NeighbourSink<u32> for Sink {
        fn request(&mut self, port: usize, ip: IpAddr) {
            self.requests.push((port, ip));
        }
        fn release(&mut self, port: usize, mac: MacAddr, pkt: u32) {
            self.released.push((port, mac, pkt));
        }
        fn discard(&mut self, pkt: u32, reason: DropReason) {
            self.discarded.push((pkt, reason));
        }
    }

    const IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    #[test]
    fn hold_then_resolve_releases_in_order() {
        let mut t = NeighbourTable::new(NeighbourLimits::default());
        let mut s = Sink::default();
        t.hold(Instant::ZERO, 1, IP, 1, &mut s);
        t.hold(Instant::ZERO, 1, IP, 2, &mut s);
        assert_eq!(
            s.requests,
            vec![(1, IP.into())],
            "one request for two packets"
        );
        assert_eq!(t.held(), 2);
        t.learn(Instant::from_millis(5), 1, IP, MAC, false, &mut s);
        assert_eq!(s.released, vec![(1, MAC, 1), (1, MAC, 2)]);
        assert_eq!(t.held(), 0);
        assert_eq!(t.lookup(1, IP), Lookup::Known(MAC));
        assert_eq!(t.lookup(0, IP), Lookup::Unknown, "entries are per port");
    }

    #[test]
    fn unanswered_requests_fail_then_recover() {
        let mut t = NeighbourTable::new(NeighbourLimits::default());
        let mut s = Sink::default();
        t.hold(Instant::ZERO, 0, IP, 7, &mut s);
        for sec in 1..=3 {
            t.tick(Instant::from_secs(sec), &mut s);
        }
        assert_eq!(s.requests.len(), 3);
        assert_eq!(s.discarded, vec![(7, DropReason::NeighbourUnresolved)]);
        assert_eq!(t.lookup(0, IP), Lookup::Failed);
        assert_eq!(t.held(), 0);
        t.tick(Instant::from_secs(3) + FAILED_HOLD, &mut s);
        assert_eq!(t.lookup(0, IP), Lookup::Unknown);
        assert!(t.is_empty());
    }

    #[test]
    fn queues_are_bounded() {
        let limits = NeighbourLimits {
            max_entries: 2,
            max_held_per_entry: 2,
            max_held_total: 3,
        };
        let mut t = NeighbourTable::new(limits);
        let mut s = Sink::default();
        for pkt in 0..3 {
            t.hold(Instant::ZERO, 0, IP, pkt, &mut s);
        }
        assert_eq!(s.discarded, vec![(2, DropReason::NeighbourQueueFull)]);
        t.hold(Instant::ZERO, 0, Ipv4Addr::new(10, 0, 0, 10), 3, &mut s);
        t.hold(Instant::ZERO, 0, Ipv4Addr::new(10, 0, 0, 11), 4, &mut s);
        assert_eq!(
            s.discarded.last(),
            Some(&(4, DropReason::NeighbourQueueFull))
        );
        t.hold(Instant::ZERO, 0, Ipv4Addr::new(10, 0, 0, 12), 5, &mut s);
        assert_eq!(t.held(), 3);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn stale_entry_is_probed_then_removed() {
        let mut t = NeighbourTable::<u32>::new(NeighbourLimits::default());
        let mut s = Sink::default();
        t.learn(Instant::ZERO, 0, IP, MAC, true, &mut s);
        let stale = Instant::ZERO + REACHABLE;
        t.tick(stale, &mut s);
        assert_eq!(s.requests.len(), 1);
        assert_eq!(
            t.lookup(0, IP),
            Lookup::Known(MAC),
            "still used while probing"
        );
        for sec in 1..=3 {
            t.tick(stale + Duration::from_secs(sec), &mut s);
        }
        assert_eq!(s.requests.len(), 3);
        assert!(t.is_empty());
    }

    #[test]
    fn learning_without_create_only_refreshes() {
        let mut t = NeighbourTable::<u32>::new(NeighbourLimits::default());
        let mut s = Sink::default();
        t.learn(Instant::ZERO, 0, IP, MAC, false, &mut s);
        assert!(t.is_empty());
        t.learn(Instant::ZERO, 0, IP, MAC, true, &mut s);
        let other = MacAddr([2, 0, 0, 0, 0, 10]);
        t.learn(Instant::ZERO, 0, IP, other, false, &mut s);
        assert_eq!(t.lookup(0, IP), Lookup::Known(other));
    }

    #[test]
    fn families_share_the_table_without_mixing() {
        let mut t = NeighbourTable::new(NeighbourLimits::default());
        let mut s = Sink::default();
        let v6: Ipv6Addr = "2001:db8::9".parse().unwrap();
        t.hold(Instant::ZERO, 0, v6, 1, &mut s);
        t.hold(Instant::ZERO, 0, IP, 2, &mut s);
        assert_eq!(s.requests, vec![(0, v6.into()), (0, IP.into())]);
        t.learn(Instant::ZERO, 0, v6, MAC, false, &mut s);
        assert_eq!(s.released, vec![(0, MAC, 1)]);
        assert_eq!(t.lookup(0, v6), Lookup::Known(MAC));
        assert_eq!(t.lookup(0, IP), Lookup::Unknown);
        assert_eq!(t.held(), 1);
    }
}

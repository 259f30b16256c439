//! pfsync deferral (pfsync.md §5.4): with it on, the first packet of a new state waits until
//! the peer acknowledges the state's insert (INS_ACK) or [`DEFER_DELAY`] passes, so that in
//! an active/active or asymmetric setup the reply never reaches a node that does not know
//! the state yet. At most [`MAX_HELD`] packets wait per worker; beyond, the oldest leaves at
//! once. Only forwarded IPv4 packets are held (IPv6 ones go out at once).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use super::{Forwarder, Output};
use crate::state::StateHandle;
use crate::time::Instant;

/// Longest a packet waits for its INS_ACK (FreeBSD's `net.pfsync.defer_delay`, OpenBSD's).
pub const DEFER_DELAY: Duration = Duration::from_millis(20);
/// Packets held at most (pf: 128 per bucket).
pub const MAX_HELD: usize = 128;

/// A packet waiting for its state's INS_ACK.
#[derive(Debug)]
struct Held<P> {
    state: (u32, u64),
    deadline: Instant,
    port: usize,
    next_hop: IpAddr,
    pkt: P,
}

/// The packets waiting, oldest first.
#[derive(Debug)]
pub(super) struct Deferred<P> {
    held: VecDeque<Held<P>>,
}

impl<P> Default for Deferred<P> {
    fn default() -> Self {
        Deferred {
            held: VecDeque::new(),
        }
    }
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Holds `pkt` (rewritten, waiting only for its next hop's MAC) until the INS_ACK of
    /// `state` or [`DEFER_DELAY`].
    pub(super) fn defer(
        &mut self,
        now: Instant,
        state: StateHandle,
        port: usize,
        next_hop: IpAddr,
        pkt: P,
        out: &mut Output<P>,
    ) {
        let id = self
            .firewall
            .as_ref()
            .and_then(|fw| fw.table().get(state))
            .map(|st| (st.creatorid(), st.id()));
        let Some(id) = id else {
            return self.send_to_neighbour(now, port, next_hop, pkt, out);
        };
        if self.deferred.held.len() >= MAX_HELD
            && let Some(oldest) = self.deferred.held.pop_front()
        {
            self.counters.deferred_overflow += 1;
            self.send_to_neighbour(now, oldest.port, oldest.next_hop, oldest.pkt, out);
        }
        self.counters.deferred += 1;
        self.deferred.held.push_back(Held {
            state: id,
            deadline: now + DEFER_DELAY,
            port,
            next_hop,
            pkt,
        });
    }

    /// The peer acknowledged state `(creatorid, id)`: its held packet goes out.
    pub fn release_deferred(&mut self, now: Instant, creatorid: u32, id: u64, out: &mut Output<P>) {
        let Some(i) = self
            .deferred
            .held
            .iter()
            .position(|h| h.state == (creatorid, id))
        else {
            // Already sent on its timeout, or never held (IPv6).
            return;
        };
        if let Some(h) = self.deferred.held.remove(i) {
            self.counters.deferred_acked += 1;
            self.send_to_neighbour(now, h.port, h.next_hop, h.pkt, out);
        }
    }

    /// Sends the packets whose wait is over. Call every loop (it looks at one deadline when
    /// nothing is due).
    pub fn expire_deferred(&mut self, now: Instant, out: &mut Output<P>) {
        while self
            .deferred
            .held
            .front()
            .is_some_and(|h| h.deadline <= now)
        {
            if let Some(h) = self.deferred.held.pop_front() {
                self.counters.deferred_timeout += 1;
                self.send_to_neighbour(now, h.port, h.next_hop, h.pkt, out);
            }
        }
    }

    /// Packets waiting for an INS_ACK.
    pub fn deferred_held(&self) -> usize {
        self.deferred.held.len()
    }
}

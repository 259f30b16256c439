//! A burst at a time: the same decisions as [`Forwarder::process`] packet by packet, with the
//! state lookups of the whole burst done together ([`StateTable::lookup_burst`]) so that their
//! cache misses overlap — once for the inbound pass, once for the outbound pass.
//!
//! Packets that are not plain IPv4 to our MAC go through [`Forwarder::process`] as they come
//! (ahead of the IPv4 packets before them in the same burst, which wait for their lookups);
//! the others are checked and read for the filter (stage 1), looked up inbound together (2),
//! filtered inbound and routed one by one (3), looked up outbound together (4), and filtered
//! outbound and sent one by one (5). A packet's lookup may be stale by the time it is used
//! (an earlier packet of the burst created or removed a state); [`Firewall::filter`] looks
//! such packets up again, so the outcome is the one packet-by-packet processing gives.
//!
//! [`StateTable::lookup_burst`]: crate::state::StateTable::lookup_burst
//! [`Firewall::filter`]: crate::firewall::Firewall::filter

use super::filter::read;
use super::{Forwarder, Ipv4Meta, Output, Routed};
use crate::firewall::FilterPacket;
use crate::state::{Match, PacketKey, PfDirection};
use crate::time::Instant;
use crate::wire::{EtherType, EthernetFrame};

/// Buffers reused from burst to burst.
#[derive(Debug)]
pub(super) struct Scratch<P> {
    inbound: Vec<(P, Ipv4Meta, FilterPacket)>,
    outbound: Vec<(P, Routed)>,
    keys: Vec<PacketKey>,
    found: Vec<Option<Match>>,
    twins: Vec<Option<Match>>,
}

impl<P> Default for Scratch<P> {
    fn default() -> Self {
        let n = crate::state::BURST;
        Scratch {
            inbound: Vec::with_capacity(n),
            outbound: Vec::with_capacity(n),
            keys: Vec::with_capacity(n),
            found: Vec::with_capacity(n),
            twins: Vec::with_capacity(n),
        }
    }
}

impl<P: AsRef<[u8]> + AsMut<[u8]>> Forwarder<P> {
    /// Decide what happens to every packet of `pkts` (drained), received on `rx_port`:
    /// what [`process`](Self::process) would do with each in turn, faster (see the module
    /// doc for the one difference in order).
    pub fn process_burst(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkts: &mut Vec<P>,
        out: &mut Output<P>,
    ) {
        if self.firewall.is_none() {
            for pkt in pkts.drain(..) {
                self.process(now, rx_port, pkt, out);
            }
            return;
        }
        let mut scratch = std::mem::take(&mut self.burst);
        while !pkts.is_empty() {
            let n = pkts.len().min(crate::state::BURST);
            for pkt in pkts.drain(..n) {
                self.stage_in(now, rx_port, pkt, &mut scratch, out);
            }
            self.run_inbound(now, rx_port, &mut scratch, out);
            self.run_outbound(now, rx_port, &mut scratch, out);
        }
        self.burst = scratch;
    }

    /// Stage 1: plain IPv4 to our MAC, checked and read for the filter; anything else is
    /// processed at once.
    fn stage_in(
        &mut self,
        now: Instant,
        rx_port: usize,
        pkt: P,
        scratch: &mut Scratch<P>,
        out: &mut Output<P>,
    ) {
        self.count_rx(rx_port, &pkt);
        let ours = EthernetFrame::new_checked(pkt.as_ref()).is_ok_and(|eth| {
            eth.ethertype() == EtherType::IPV4 && self.accepts_mac(rx_port, eth.dst_addr())
        }) && !super::is_carp(pkt.as_ref());
        if !ours {
            return self.dispatch(now, rx_port, pkt, out);
        }
        let checked = self
            .ipv4_checks(rx_port, &pkt)
            .and_then(|meta| Ok((meta, read(&pkt)?)));
        match checked {
            Ok((meta, fp)) => scratch.inbound.push((pkt, meta, fp)),
            Err(reason) => self.discard(pkt, reason, out),
        }
    }

    /// Stages 2 and 3: inbound lookups together, then the inbound pass and routing.
    fn run_inbound(
        &mut self,
        now: Instant,
        rx_port: usize,
        scratch: &mut Scratch<P>,
        out: &mut Output<P>,
    ) {
        scratch.keys.clear();
        scratch
            .keys
            .extend(scratch.inbound.iter().map(|(_, _, fp)| *fp.key()));
        self.lookup(PfDirection::In, scratch);
        let found = std::mem::take(&mut scratch.found);
        for ((mut pkt, meta, fp), m) in scratch.inbound.drain(..).zip(found.iter().copied()) {
            let filtered = match self.filter_in(now, rx_port, &mut pkt, Some((fp, m))) {
                Ok(f) => f,
                Err(reason) => {
                    self.discard(pkt, reason, out);
                    continue;
                }
            };
            if let Some(routed) = self.ipv4_route(now, rx_port, pkt, meta, filtered, out) {
                scratch.outbound.push(routed);
            }
        }
        scratch.found = found;
    }

    /// Stages 4 and 5: outbound lookups together, then the outbound pass and transmission.
    fn run_outbound(
        &mut self,
        now: Instant,
        rx_port: usize,
        scratch: &mut Scratch<P>,
        out: &mut Output<P>,
    ) {
        // Packets whose inbound state is linked to their outbound one need no lookup; the
        // others are looked up together.
        // First load every linked state's slot (the misses overlap), then check them.
        let mut preloaded = 0;
        for (_, routed) in &scratch.outbound {
            if let Some(twin) = routed.filtered.as_ref().and_then(|f| self.twin_of(f)) {
                preloaded ^= self
                    .firewall
                    .as_ref()
                    .map_or(0, |fw| fw.table().preload(twin));
            }
        }
        std::hint::black_box(preloaded);
        scratch.twins.clear();
        scratch.keys.clear();
        for (_, routed) in &scratch.outbound {
            let twin = routed.filtered.as_ref().and_then(|f| self.twin_hint(f));
            scratch.twins.push(twin);
            if let (None, Some(f)) = (twin, &routed.filtered) {
                scratch.keys.push(*f.packet.key());
            }
        }
        self.lookup(PfDirection::Out, scratch);
        let found = std::mem::take(&mut scratch.found);
        let mut looked_up = found.iter().copied();
        for ((pkt, routed), twin) in scratch.outbound.drain(..).zip(&scratch.twins) {
            let hint = match (twin, &routed.filtered) {
                (Some(m), _) => Some(Some(*m)),
                (None, Some(_)) => looked_up.next(),
                (None, None) => None,
            };
            self.ipv4_out(now, rx_port, pkt, routed, hint, out);
        }
        scratch.found = found;
    }

    fn lookup(&self, dir: PfDirection, scratch: &mut Scratch<P>) {
        scratch.found.clear();
        scratch.found.resize(scratch.keys.len(), None);
        if let Some(fw) = &self.firewall {
            fw.table()
                .lookup_burst(&scratch.keys, dir, &mut scratch.found);
        }
    }
}

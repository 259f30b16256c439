//! Links between workers: a packet whose flow another worker owns ([`crate::steer`]) is handed
//! to it over an SP/SC ring; ARP and NDP frames are copied to every other worker so that each
//! neighbour table learns. One ring per ordered pair of workers and kind, so every ring has exactly one
//! producer and one consumer and no lock is taken.

use crate::counters::{DropReason, WorkerCounters};
use crate::dpdk::{Mbuf, Mempool, RingConsumer, RingError, RingProducer, RxBatch, mbuf_ring};
use crate::nat::Nat;
use crate::steer::{Steer, steer_nat};

/// Slots per flow ring (power of two): a few bursts of slack between two workers.
pub const FLOW_RING_SLOTS: u32 = 1024;
/// Slots per ring of ARP and NDP copies.
pub const ARP_RING_SLOTS: u32 = 256;

/// One worker's ends of the rings to and from every other worker.
#[derive(Debug, Default)]
pub struct Handoff {
    me: usize,
    workers: usize,
    to: Vec<Option<RingProducer>>,
    arp_to: Vec<Option<RingProducer>>,
    from: Vec<RingConsumer>,
    arp_from: Vec<RingConsumer>,
    pending: Vec<Vec<Mbuf>>,
    arp_pending: Vec<Vec<Mbuf>>,
}

/// Rings between `workers` workers; element `i` belongs to worker `i`. `name` keeps ring names
/// unique per node.
///
/// # Errors
/// [`RingError`] if DPDK cannot create a ring.
pub fn mesh(name: &str, workers: usize) -> Result<Vec<Handoff>, RingError> {
    let mut ends: Vec<Handoff> = (0..workers)
        .map(|me| Handoff {
            me,
            workers,
            to: (0..workers).map(|_| None).collect(),
            arp_to: (0..workers).map(|_| None).collect(),
            pending: (0..workers).map(|_| Vec::new()).collect(),
            arp_pending: (0..workers).map(|_| Vec::new()).collect(),
            ..Handoff::default()
        })
        .collect();
    for from in 0..workers {
        for to in (0..workers).filter(|&to| to != from) {
            let (flow_tx, flow_rx) = mbuf_ring(&format!("{name}f{from}_{to}"), FLOW_RING_SLOTS)?;
            let (arp_tx, arp_rx) = mbuf_ring(&format!("{name}a{from}_{to}"), ARP_RING_SLOTS)?;
            if let Some(end) = ends.get_mut(from) {
                if let Some(slot) = end.to.get_mut(to) {
                    *slot = Some(flow_tx);
                }
                if let Some(slot) = end.arp_to.get_mut(to) {
                    *slot = Some(arp_tx);
                }
            }
            if let Some(end) = ends.get_mut(to) {
                end.from.push(flow_rx);
                end.arp_from.push(arp_rx);
            }
        }
    }
    Ok(ends)
}

impl Handoff {
    /// Decide where `mbuf` is processed: returns it if here, keeps it for its owner otherwise.
    /// ARP and NDP are returned for processing here and also copied for every other worker.
    #[inline]
    pub fn steer(
        &mut self,
        mbuf: Mbuf,
        pool: &Mempool,
        nat: &Nat,
        counters: &mut WorkerCounters,
    ) -> Option<Mbuf> {
        if self.workers <= 1 {
            return Some(mbuf);
        }
        match steer_nat(mbuf.data(), self.workers, nat) {
            Steer::Worker(owner) if owner != self.me => {
                if let Some(queue) = self.pending.get_mut(owner) {
                    queue.push(mbuf);
                }
                None
            }
            Steer::AllWorkers => {
                for (other, queue) in self.arp_pending.iter_mut().enumerate() {
                    if other == self.me {
                        continue;
                    }
                    let copy = pool.alloc().and_then(|mut copy| {
                        let room = copy.append(u16::try_from(mbuf.data().len()).ok()?)?;
                        room.copy_from_slice(mbuf.data());
                        copy.set_port(mbuf.port());
                        Some(copy)
                    });
                    match copy {
                        Some(copy) => {
                            counters.arp_copies += 1;
                            queue.push(copy);
                        }
                        None => counters.generate_failed += 1,
                    }
                }
                Some(mbuf)
            }
            _ => Some(mbuf),
        }
    }

    /// Send what [`Handoff::steer`] kept; what a full ring refuses is freed and counted.
    pub fn flush(&mut self, counters: &mut WorkerCounters) {
        for (ring, queue) in self.to.iter_mut().zip(self.pending.iter_mut()) {
            if let Some(ring) = ring {
                counters.handoff_out += ring.send(queue) as u64;
            }
            for _ in queue.drain(..) {
                counters.drop(DropReason::HandoffFull);
            }
        }
        for (ring, queue) in self.arp_to.iter_mut().zip(self.arp_pending.iter_mut()) {
            if let Some(ring) = ring {
                ring.send(queue);
            }
            // Losing an ARP or NDP copy only delays learning on that worker.
            queue.clear();
        }
    }

    /// Receive packets other workers handed to us; `each` processes one.
    pub fn recv_flows(&mut self, batch: &mut RxBatch, mut each: impl FnMut(Mbuf)) -> usize {
        let mut received = 0;
        for ring in &mut self.from {
            received += ring.recv(batch);
            batch.by_ref().for_each(&mut each);
        }
        received
    }

    /// Receive ARP and NDP copies from other workers; `each` learns from one.
    pub fn recv_arp(&mut self, batch: &mut RxBatch, mut each: impl FnMut(Mbuf)) -> usize {
        let mut received = 0;
        for ring in &mut self.arp_from {
            received += ring.recv(batch);
            batch.by_ref().for_each(&mut each);
        }
        received
    }
}

//! The run-to-completion loop of one worker: rx burst on each port → forwarding decision →
//! tx burst per port. It owns its queues, its forwarder and its counters; the only thing it
//! shares is the stop flag, read once per loop.

use std::sync::Arc;

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::control_link::{ControlLink, PortFrame};
use crate::counters::{DropReason, WorkerCounters};
use crate::dpdk::{Mbuf, Mempool, RxBatch, RxQueue, TxQueue};
use crate::firewall::Policy;
use crate::forward::{Forwarder, Output};
use crate::handoff::Handoff;
use crate::nat::Nat;
use crate::ops::OpsWorker;
use crate::sync_link::WorkerLink;
use crate::time::{Instant, MonotonicClock};
use crate::vip::VipTable;

/// How a worker waits when there is no traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Polling {
    /// Spin, then sleep progressively longer (up to [`MAX_IDLE_SLEEP`]) while idle: an idle node
    /// costs a few percent of a core, at the price of up to that much latency on the first packet.
    #[default]
    Adaptive,
    /// Spin always: lowest latency, one full core per worker.
    Busy,
}

/// Longest sleep of an idle adaptive worker.
pub const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);
/// Empty polls spent spinning before the first sleep.
const SPIN_POLLS: u32 = 256;
/// Timers (ARP, NDP) run this often.
const TICK: Duration = Duration::from_millis(100);
/// Counters are published for other threads this often.
pub const PUBLISH: Duration = Duration::from_millis(250);
/// Steering without NAT rules (a node without a firewall).
static NO_NAT: Nat = Nat::EMPTY;
/// Frames from control sent per loop at most.
const CONTROL_BURST: usize = 16;
/// State expiry, state events and the ruleset check run this often.
const MAINTAIN: Duration = Duration::from_millis(10);

/// Sleeps that grow while polls come back empty, and reset on traffic.
#[derive(Debug)]
struct Backoff {
    polling: Polling,
    empty: u32,
    sleep: Duration,
}

impl Backoff {
    fn new(polling: Polling) -> Self {
        Backoff {
            polling,
            empty: 0,
            sleep: Duration::ZERO,
        }
    }

    fn busy(&mut self) {
        self.empty = 0;
        self.sleep = Duration::ZERO;
    }

    fn idle(&mut self) {
        if self.polling == Polling::Busy {
            return;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty < SPIN_POLLS {
            std::hint::spin_loop();
            return;
        }
        self.sleep = (self.sleep * 2)
            .max(Duration::from_micros(10))
            .min(MAX_IDLE_SLEEP);
        std::thread::sleep(self.sleep);
    }
}

/// Everything one worker owns.
pub struct Worker {
    /// Dense worker index (0..workers).
    pub index: usize,
    forwarder: Forwarder<Mbuf>,
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    pool: Arc<Mempool>,
    polling: Polling,
    handoff: Handoff,
    /// DPDK port id → port index, for packets handed over by other workers.
    port_index: Vec<Option<usize>>,
    /// Where the worker publishes a copy of its counters every [`PUBLISH`], for readers on
    /// other threads; the packet path never touches it.
    published: Arc<ArcSwap<WorkerCounters>>,
    /// The node's current filter and NAT rules, checked every [`MAINTAIN`] (a reload swaps
    /// them), and the ones this worker applies.
    policies: Option<Arc<ArcSwap<Policy>>>,
    applied: Option<Arc<Policy>>,
    /// The node's clock: every worker and the sync core read the same origin, so state
    /// times mean the same on all of them.
    clock: MonotonicClock,
    /// The rings to the sync core, when pfsync is on.
    sync: Option<WorkerLink>,
    /// CARP packets to control, control's frames to send, the VIP table.
    control: Option<ControlLink>,
    vips_applied: Option<Arc<VipTable>>,
    /// The operator's requests (list, count, kill states), walked a step per maintenance.
    ops: Option<OpsWorker>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker over one RX and one TX queue per port, both indexed by port index, linked to
    /// the other workers by `handoff`.
    pub fn new(
        index: usize,
        forwarder: Forwarder<Mbuf>,
        rx: Vec<RxQueue>,
        tx: Vec<TxQueue>,
        pool: Arc<Mempool>,
        polling: Polling,
        handoff: Handoff,
    ) -> Self {
        let mut port_index = Vec::new();
        for (index, q) in rx.iter().enumerate() {
            let id = usize::from(q.port().id());
            if port_index.len() <= id {
                port_index.resize(id + 1, None);
            }
            if let Some(slot) = port_index.get_mut(id) {
                *slot = Some(index);
            }
        }
        let published = Arc::new(ArcSwap::from_pointee(forwarder.counters().clone()));
        Worker {
            index,
            forwarder,
            rx,
            tx,
            pool,
            polling,
            handoff,
            port_index,
            published,
            policies: None,
            applied: None,
            clock: MonotonicClock::default(),
            sync: None,
            control: None,
            vips_applied: None,
            ops: None,
        }
    }

    /// Exchange CARP packets and frames with the control thread over `link`, and answer for
    /// the VIPs it publishes there.
    pub fn attach_control(&mut self, link: ControlLink) {
        let vips = link.vips();
        self.forwarder.set_vips(Arc::clone(&vips));
        self.vips_applied = Some(vips);
        self.control = Some(link);
    }

    /// Answer the operator's state requests arriving on `ops`.
    pub fn attach_ops(&mut self, ops: OpsWorker) {
        self.ops = Some(ops);
    }

    /// Read time from `clock` (the node's, shared with the other workers and the sync core).
    pub fn set_clock(&mut self, clock: MonotonicClock) {
        self.clock = clock;
    }

    /// Hand state events to the sync core over `link`, and apply what it sends back.
    pub fn attach_sync(&mut self, link: WorkerLink) {
        if let Some(fw) = self.forwarder.firewall_mut() {
            fw.attach_sync();
        }
        self.sync = Some(link);
    }

    /// Follow the rules in `policies`: a reload stores new ones there and every worker swaps
    /// them in within [`MAINTAIN`].
    pub fn follow_policies(&mut self, policies: Arc<ArcSwap<Policy>>) {
        self.applied = Some(policies.load_full());
        self.policies = Some(policies);
    }

    /// The handle through which other threads read this worker's counters (at most
    /// [`PUBLISH`] old).
    pub fn published_counters(&self) -> Arc<ArcSwap<WorkerCounters>> {
        self.published.clone()
    }

    /// Poll until `stop` is set; returns the counters.
    pub fn run(mut self, stop: &AtomicBool) -> WorkerCounters {
        let clock = self.clock;
        let mut out = Output::new(self.tx.len(), crate::dpdk::BURST_SIZE);
        let mut batch = RxBatch::default();
        // The packets of a burst this worker owns (the others are handed over).
        let mut mine: Vec<Mbuf> = Vec::with_capacity(crate::dpdk::BURST_SIZE);
        let mut backoff = Backoff::new(self.polling);
        let mut last_tick = Instant::ZERO;
        let mut last_publish = Instant::ZERO;
        let mut last_maintain = Instant::ZERO;
        while !stop.load(Ordering::Relaxed) {
            let started = crate::dpdk::tsc();
            let now = clock.now();
            let mut received = 0;
            for (port, rxq) in self.rx.iter_mut().enumerate() {
                received += rxq.recv(&mut batch);
                for mbuf in batch.by_ref() {
                    let counters = self.forwarder.counters_mut();
                    if mbuf.is_chained() {
                        counters.drop(DropReason::MultiSegment);
                        continue;
                    }
                    let nat = self.applied.as_ref().map_or(&NO_NAT, |p| &*p.nat);
                    if let Some(mbuf) = self.handoff.steer(mbuf, &self.pool, nat, counters) {
                        mine.push(mbuf);
                    }
                }
                self.forwarder.process_burst(now, port, &mut mine, &mut out);
            }
            let (forwarder, port_index) = (&mut self.forwarder, &self.port_index);
            let index_of = |m: &Mbuf| port_index.get(usize::from(m.port())).copied().flatten();
            // Handed-over packets come from every port; each is processed on its own.
            received += self.handoff.recv_flows(&mut batch, |mbuf| {
                forwarder.counters_mut().handoff_in += 1;
                match index_of(&mbuf) {
                    Some(port) => forwarder.process(now, port, mbuf, &mut out),
                    None => out.free.push(mbuf),
                }
            });
            received += self
                .handoff
                .recv_arp(&mut batch, |mbuf| match index_of(&mbuf) {
                    Some(port) => forwarder.learn_neighbour(now, port, mbuf, &mut out),
                    None => out.free.push(mbuf),
                });
            self.handoff.flush(self.forwarder.counters_mut());
            if now.since(last_maintain) >= MAINTAIN {
                self.maintain(now);
                last_maintain = now;
            }
            if now.since(last_tick) >= TICK {
                self.forwarder.tick(now, &mut out);
                last_tick = now;
            }
            if let (Some(link), Some(fw)) = (self.sync.as_mut(), self.forwarder.firewall_mut()) {
                link.service(now, fw);
                for (creatorid, id) in link.take_acked() {
                    self.forwarder
                        .release_deferred(now, creatorid, id, &mut out);
                }
            }
            self.forwarder.expire_deferred(now, &mut out);
            if now.since(last_publish) >= PUBLISH {
                self.publish();
                last_publish = now;
            }
            self.exchange_control(now, &mut out);
            self.flush(&mut out);
            let counters = self.forwarder.counters_mut();
            if received == 0 {
                counters.idle_polls += 1;
                backoff.idle();
            } else {
                counters.busy_polls += 1;
                counters.busy_packets += received as u64;
                counters.busy_cycles += crate::dpdk::tsc().wrapping_sub(started);
                backoff.busy();
            }
        }
        self.publish();
        self.forwarder.counters().clone()
    }

    /// Copies the counters where other threads read them, with the sync link's.
    fn publish(&mut self) {
        if let Some(link) = &self.sync {
            let queue_dropped = self
                .forwarder
                .firewall_mut()
                .map_or(0, |fw| fw.table_mut().events().dropped());
            let c = link.counters();
            let fw = &mut self.forwarder.counters_mut().firewall;
            fw.sync_events = c.events_sent + c.events_dropped + queue_dropped;
            fw.sync_events_dropped = c.events_dropped + queue_dropped;
            fw.sync_link = *c;
        }
        self.published
            .store(Arc::new(self.forwarder.counters().clone()));
    }

    /// Expiry and state events; new rules if a reload stored them.
    fn maintain(&mut self, now: Instant) {
        if let Some(policies) = &self.policies {
            let current = policies.load();
            let stale = self
                .applied
                .as_ref()
                .is_none_or(|applied| !Arc::ptr_eq(applied, &current));
            if stale {
                let policy = Arc::clone(&current);
                self.forwarder.set_policy(now, &policy);
                self.applied = Some(policy);
            }
        }
        self.refresh_vips();
        self.forwarder.maintain(now);
        if let Some(ops) = self.ops.as_mut() {
            ops.service(self.forwarder.firewall_and_counters());
        }
    }

    /// Takes the VIP table control published last, if it changed.
    fn refresh_vips(&mut self) {
        if let Some(link) = &self.control {
            let current = link.vips();
            if self
                .vips_applied
                .as_ref()
                .is_none_or(|applied| !Arc::ptr_eq(applied, &current))
            {
                self.forwarder.set_vips(Arc::clone(&current));
                self.vips_applied = Some(current);
            }
        }
    }

    /// CARP packets to control; on worker 0, control's frames to their ports.
    fn exchange_control(&mut self, now: Instant, out: &mut Output<Mbuf>) {
        let counters = self.forwarder.counters_mut();
        for (port, mbuf) in out.punt.drain(..) {
            let frame = PortFrame {
                port,
                bytes: mbuf.data().to_vec(),
                next_hop: None,
            };
            if !self.control.as_ref().is_some_and(|link| link.punt(frame)) {
                counters.carp_punt_dropped += 1;
            }
        }
        if self.index != 0 {
            return;
        }
        if !self.control.as_ref().is_some_and(ControlLink::has_outgoing) {
            return;
        }
        // Control publishes a role change before it queues the advert and gratuitous ARPs
        // announcing it: take the new table first, so that the frames those draw here are
        // ours (not `not_our_mac`) from the moment the switch moves the VIP to this port.
        self.refresh_vips();
        let Some(link) = self.control.as_ref() else {
            return;
        };
        for _ in 0..CONTROL_BURST {
            let Some(frame) = link.take_outgoing() else {
                break;
            };
            let mbuf = self.pool.alloc().and_then(|mut mbuf| {
                let room = mbuf.append(u16::try_from(frame.bytes.len()).ok()?)?;
                room.copy_from_slice(&frame.bytes);
                Some(mbuf)
            });
            match (mbuf, frame.next_hop) {
                (Some(mbuf), Some(next_hop)) => {
                    self.forwarder
                        .send_from_control(now, frame.port, next_hop, mbuf, out);
                    self.forwarder.counters_mut().control_sent += 1;
                }
                (Some(mbuf), None) => match out.tx.get_mut(frame.port) {
                    Some(tx) => {
                        tx.push(mbuf);
                        self.forwarder.counters_mut().control_sent += 1;
                    }
                    None => self.forwarder.counters_mut().generate_failed += 1,
                },
                (None, _) => self.forwarder.counters_mut().generate_failed += 1,
            }
        }
    }

    /// Turn generated frames into mbufs, send every TX batch, free the rest.
    fn flush(&mut self, out: &mut Output<Mbuf>) {
        let mut failed = 0;
        for frame in self.forwarder.generated() {
            let bytes = frame.bytes();
            let mbuf = self.pool.alloc().and_then(|mut mbuf| {
                let room = mbuf.append(u16::try_from(bytes.len()).ok()?)?;
                room.copy_from_slice(bytes);
                Some(mbuf)
            });
            match (mbuf, out.tx.get_mut(frame.port)) {
                (Some(mbuf), Some(tx)) => tx.push(mbuf),
                _ => failed += 1,
            }
        }
        self.forwarder.clear_generated();
        self.forwarder.counters_mut().generate_failed += failed;
        let counters = self.forwarder.counters_mut();
        for (port, (txq, pkts)) in self.tx.iter_mut().zip(out.tx.iter_mut()).enumerate() {
            if pkts.is_empty() {
                continue;
            }
            let wanted = pkts.len();
            let (sent, bytes) = txq.send(pkts);
            if let Some(c) = counters.ports.get_mut(port) {
                c.tx_packets += sent as u64;
                c.tx_bytes += bytes;
            }
            for _ in sent..wanted {
                counters.drop(DropReason::TxFull);
            }
        }
        out.free.clear();
    }
}

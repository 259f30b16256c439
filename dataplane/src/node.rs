//! One forwarding node: EAL, a mempool, the ports and the workers, started from a [`NodeSpec`]
//! and stopped into a [`NodeReport`].

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;

use thiserror::Error;

use crate::control_link::ControlLink;
use crate::counters::WorkerCounters;
use crate::dpdk::{
    Eal, EalError, EalOptions, LcoreError, Mempool, MempoolError, Port, PortConfig, PortError,
    PortStats, RxQueue, TxQueue, spawn_lcore_thread,
};
use crate::firewall::Policy;
use crate::firewall::{Firewall, FirewallSettings};
use crate::forward::{Forwarder, PortSetup};
use crate::handoff::{self, Handoff};
use crate::nat::Nat;
use crate::neighbour::NeighbourLimits;
use crate::ops::OpsClient;
use crate::route::{Ipv4Net, RouteError, RouteTable};
use crate::route6::{Ipv6Net, Route6Error, Route6Table};
use crate::rules::Ruleset;
use crate::state::Timeouts;
use crate::sync_link::{CoreLink, LINK_SLOTS, WorkerLink};
use crate::time::MonotonicClock;
use crate::vip::{Vip, VipTable};
use crate::wire::MacAddr;
use crate::worker::{Polling, Worker};

/// State events a worker buffers between two maintenance passes (10 ms).
const EVENTS_PER_WORKER: usize = 4096;

/// One port of the node.
#[derive(Debug, Clone)]
pub struct PortSpec {
    /// Operator's name for it (the config's `<if>`).
    pub name: String,
    /// DPDK device arguments, e.g. `net_af_packet0,iface=veth0`.
    pub devargs: String,
    /// IPv4 address and prefix length.
    pub addr: Option<(Ipv4Addr, u8)>,
    /// Global IPv6 address and prefix length (the link-local address comes from the MAC).
    pub addr6: Option<(Ipv6Addr, u8)>,
    /// IP MTU.
    pub mtu: u16,
}

/// What to build.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// EAL command line.
    pub eal: EalOptions,
    /// Worker threads; every port gets one RX and one TX queue per worker.
    pub workers: usize,
    /// CPUs to pin workers to, in order (empty: not pinned).
    pub cpus: Vec<usize>,
    /// Idle behaviour.
    pub polling: Polling,
    /// Ports, in index order.
    pub ports: Vec<PortSpec>,
    /// Static routes: network via gateway (the default route is `0.0.0.0/0`).
    pub routes: Vec<(Ipv4Net, Ipv4Addr)>,
    /// Static IPv6 routes: prefix via a global gateway on a port's prefix (the default route
    /// is `::/0`).
    pub routes6: Vec<(Ipv6Net, Ipv6Addr)>,
    /// Mbufs in the pool.
    pub mbufs: u32,
    /// The stateful filter; `None` forwards everything (a plain router).
    pub firewall: Option<FirewallSpec>,
    /// The dedicated pfsync port; `None` runs without state sync.
    pub sync: Option<SyncPortSpec>,
    /// CARP VIPs (all BACKUP until the control thread's machines decide).
    pub vips: Vec<Vip>,
    /// Open the control link (CARP punts, the VIP table) and put the ports in promiscuous
    /// mode even when `vips` is empty: VIPs may come later with a new config (XMLRPC).
    pub carp: bool,
}

/// The port pfsync uses: not a data port (no worker polls it, no rule names it); the sync
/// core owns its one RX and one TX queue.
#[derive(Debug, Clone)]
pub struct SyncPortSpec {
    /// Operator's name for it.
    pub name: String,
    /// DPDK device arguments.
    pub devargs: String,
    /// The node's address on the sync segment.
    pub addr: Ipv4Addr,
    /// Unicast peer (`<pfsyncpeerip>`); `None` sends to the pfsync multicast group.
    pub peer: Option<Ipv4Addr>,
    /// IP MTU: frames are built up to it.
    pub mtu: u16,
}

/// What the sync core gets from the node: the sync port's queues, the rings to every
/// worker, and what it needs to read states the way the workers write them.
pub struct SyncEnds {
    /// The spec the port was opened with.
    pub spec: SyncPortSpec,
    /// The port's MAC address.
    pub mac: MacAddr,
    /// Its receive queue.
    pub rx: RxQueue,
    /// Its transmit queue.
    pub tx: TxQueue,
    /// Mbufs for frames to send.
    pub pool: Arc<Mempool>,
    /// Rings to and from the workers.
    pub core: CoreLink,
    /// The clock the workers read (state times are on it).
    pub clock: MonotonicClock,
    /// The node's filter and NAT rules (NAT decides which worker owns a peer's state).
    pub policies: Option<Arc<ArcSwap<Policy>>>,
    /// State timeouts (a received state's expiry is converted with them).
    pub timeouts: Timeouts,
    /// This node's pf hostid.
    pub creatorid: u32,
    /// Workers.
    pub workers: usize,
}

impl std::fmt::Debug for SyncEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEnds")
            .field("spec", &self.spec)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// The node's firewall: rules and state table size.
#[derive(Debug, Clone)]
pub struct FirewallSpec {
    /// The compiled ruleset; its port count must be the node's.
    pub ruleset: Arc<Ruleset>,
    /// NAT rules.
    pub nat: Arc<Nat>,
    /// States the node may hold, divided evenly among the workers.
    pub states: usize,
    /// pfsync creator id.
    pub creatorid: u32,
    /// Start of the state id counters (pf seeds them from the clock).
    pub id_seed: u64,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// pfsync deferral (only with a sync port).
    pub defer: bool,
}

/// Why the node did not start.
#[derive(Debug, Error)]
pub enum NodeError {
    /// EAL did not start.
    #[error(transparent)]
    Eal(#[from] EalError),
    /// No mempool.
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// A port failed to open.
    #[error("port {name} ({devargs}): {source}")]
    Port {
        /// Operator's name.
        name: String,
        /// Its devargs.
        devargs: String,
        /// What DPDK said.
        source: PortError,
    },
    /// Routes inconsistent with the ports.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// IPv6 routes inconsistent with the ports.
    #[error(transparent)]
    Route6(#[from] Route6Error),
    /// A worker thread did not start.
    #[error(transparent)]
    Lcore(#[from] LcoreError),
    /// The rings between workers could not be created.
    #[error(transparent)]
    Ring(#[from] crate::dpdk::RingError),
    /// Nothing to do.
    #[error("invalid node spec: {0}")]
    Spec(String),
}

/// A port as the running node reports it.
#[derive(Debug, Clone)]
pub struct PortStatus {
    /// Operator's name.
    pub name: String,
    /// DPDK device name.
    pub device: String,
    /// MAC address.
    pub mac: MacAddr,
    /// Link up.
    pub link_up: bool,
    /// Driver counters.
    pub stats: PortStats,
}

/// What the node did, read at stop.
#[derive(Debug, Clone)]
pub struct NodeReport {
    /// All workers' counters summed.
    pub counters: WorkerCounters,
    /// Per-worker counters.
    pub workers: Vec<WorkerCounters>,
    /// Ports at the end.
    pub ports: Vec<PortStatus>,
}

/// Swaps a running node's filter and NAT rules from any thread.
#[derive(Clone)]
pub struct PolicyHandle {
    policies: Arc<ArcSwap<Policy>>,
    ports: usize,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl PolicyHandle {
    /// Replaces the filter and NAT rules; every worker swaps them in within a few
    /// milliseconds, keeping its states.
    ///
    /// # Errors
    /// [`NodeError::Spec`] if the ruleset is for another number of ports; nothing changes.
    pub fn set(&self, ruleset: Ruleset, nat: Nat) -> Result<(), NodeError> {
        if ruleset.options().ports != self.ports {
            return Err(NodeError::Spec(format!(
                "the ruleset is for {} ports, the node has {}",
                ruleset.options().ports,
                self.ports
            )));
        }
        self.policies.store(Arc::new(Policy {
            ruleset: Arc::new(ruleset),
            nat: Arc::new(nat),
        }));
        Ok(())
    }
}

/// A running node.
pub struct Node {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<WorkerCounters>>,
    published: Vec<Arc<ArcSwap<WorkerCounters>>>,
    policies: Option<Arc<ArcSwap<Policy>>>,
    ports: Vec<(String, Port)>,
    pool: Arc<Mempool>,
    clock: MonotonicClock,
    sync_port: Option<(String, Port)>,
    sync_ends: Option<SyncEnds>,
    control: Option<ControlLink>,
    sync_thread: Option<JoinHandle<()>>,
    ops: Option<OpsClient>,
    // Dropped last: EAL cleanup after every DPDK object is gone.
    _eal: Eal,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("workers", &self.workers.len())
            .field("ports", &self.ports.len())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Start EAL, open the ports, build the tables and launch the workers.
    ///
    /// # Errors
    /// [`NodeError`] saying which step failed and why; nothing is left running.
    pub fn start(spec: &NodeSpec) -> Result<Node, NodeError> {
        if spec.ports.is_empty() {
            return Err(NodeError::Spec("no ports".into()));
        }
        if spec.workers == 0 {
            return Err(NodeError::Spec("workers must be at least 1".into()));
        }
        if let Some(fw) = &spec.firewall
            && fw.ruleset.options().ports != spec.ports.len()
        {
            return Err(NodeError::Spec(format!(
                "the ruleset is for {} ports, the node has {}",
                fw.ruleset.options().ports,
                spec.ports.len()
            )));
        }
        let queues = u16::try_from(spec.workers)
            .map_err(|_| NodeError::Spec(format!("{} workers is too many", spec.workers)))?;
        let connected: Vec<(Ipv4Net, usize)> = spec
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.addr.map(|(a, len)| Ipv4Net::new(a, len).map(|n| (n, i))))
            .collect::<Result<_, _>>()?;
        let mut routes = RouteTable::with_connected(&connected)?;
        for &(net, gateway) in &spec.routes {
            routes.add_via(net, gateway)?;
        }
        let connected6: Vec<(Ipv6Net, usize)> = spec
            .ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                p.addr6.map(|(a, len)| {
                    Ipv6Net::new(a, len)
                        .map(|n| (n, i))
                        .map_err(|_| Route6Error::BadPrefix(len))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut routes6 = Route6Table::with_connected(&connected6)?;
        for &(net, gateway) in &spec.routes6 {
            routes6.add_via(net, gateway)?;
        }

        let eal = Eal::init(&spec.eal)?;
        let pool = Arc::new(Mempool::new("rampart_mbufs", spec.mbufs, 256)?);
        let port_config = PortConfig {
            rx_queues: queues,
            tx_queues: queues,
            // Frames to a CARP virtual MAC must reach the workers.
            promiscuous: spec.carp || !spec.vips.is_empty(),
            ..PortConfig::default()
        };
        let control = (spec.carp || !spec.vips.is_empty())
            .then(|| ControlLink::new(VipTable::new(spec.vips.clone())));
        let mut ports = Vec::new();
        let mut rx_by_worker: Vec<Vec<_>> = (0..spec.workers).map(|_| Vec::new()).collect();
        let mut tx_by_worker: Vec<Vec<_>> = (0..spec.workers).map(|_| Vec::new()).collect();
        let mut setups = Vec::new();
        for p in &spec.ports {
            let (port, rx, tx) =
                Port::open(&p.devargs, &port_config, pool.clone()).map_err(|source| {
                    NodeError::Port {
                        name: p.name.clone(),
                        devargs: p.devargs.clone(),
                        source,
                    }
                })?;
            let mac = port.mac().map_err(|source| NodeError::Port {
                name: p.name.clone(),
                devargs: p.devargs.clone(),
                source,
            })?;
            tracing::info!(port = %p.name, device = port.name(), mac = %MacAddr(mac), "port started");
            setups.push(PortSetup {
                name: p.name.clone(),
                mac: MacAddr(mac),
                addr: p.addr,
                addr6: p.addr6,
                mtu: p.mtu,
            });
            for (w, q) in rx.into_iter().enumerate() {
                if let Some(list) = rx_by_worker.get_mut(w) {
                    list.push(q);
                }
            }
            for (w, q) in tx.into_iter().enumerate() {
                if let Some(list) = tx_by_worker.get_mut(w) {
                    list.push(q);
                }
            }
            ports.push((p.name.clone(), port));
        }

        let clock = MonotonicClock::default();
        let mut sync_port = None;
        let mut sync_parts = None;
        let mut worker_links: Vec<Option<WorkerLink>> = (0..spec.workers).map(|_| None).collect();
        if let Some(sync) = &spec.sync {
            let port_err = |source| NodeError::Port {
                name: sync.name.clone(),
                devargs: sync.devargs.clone(),
                source,
            };
            let (port, mut rx, mut tx) =
                Port::open(&sync.devargs, &PortConfig::default(), pool.clone())
                    .map_err(port_err)?;
            let mac = MacAddr(port.mac().map_err(port_err)?);
            let (Some(rx), Some(tx)) = (rx.pop(), tx.pop()) else {
                return Err(NodeError::Spec(
                    "the sync port opened without queues".into(),
                ));
            };
            tracing::info!(port = %sync.name, device = port.name(), %mac, "sync port started");
            let (links, core) = crate::sync_link::links(spec.workers, LINK_SLOTS);
            worker_links = links.into_iter().map(Some).collect();
            sync_parts = Some((sync.clone(), mac, rx, tx, core));
            sync_port = Some((sync.name.clone(), port));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut node = Node {
            stop: stop.clone(),
            workers: Vec::new(),
            published: Vec::new(),
            policies: spec.firewall.as_ref().map(|fw| {
                Arc::new(ArcSwap::from_pointee(Policy {
                    ruleset: fw.ruleset.clone(),
                    nat: fw.nat.clone(),
                }))
            }),
            ports,
            pool: pool.clone(),
            clock,
            sync_port,
            sync_ends: None,
            control: control.clone(),
            sync_thread: None,
            ops: None,
            _eal: eal,
        };
        if let Some((spec_sync, mac, rx, tx, core)) = sync_parts {
            let fw = spec.firewall.as_ref();
            node.sync_ends = Some(SyncEnds {
                spec: spec_sync,
                mac,
                rx,
                tx,
                pool: pool.clone(),
                core,
                clock,
                policies: node.policies.clone(),
                timeouts: fw.map_or_else(Timeouts::default, |f| f.timeouts),
                creatorid: fw.map_or(0, |f| f.creatorid),
                workers: spec.workers,
            });
        }
        let mut handoffs = if spec.workers > 1 {
            handoff::mesh("ho", spec.workers)?
        } else {
            vec![Handoff::default()]
        };
        let (ops_ends, ops_client) = crate::ops::links(spec.workers);
        let mut ops_ends = ops_ends.into_iter();
        node.ops = Some(ops_client);
        for (index, (rx, tx)) in rx_by_worker.into_iter().zip(tx_by_worker).enumerate() {
            let mut forwarder = Forwarder::new(&setups, routes.clone(), NeighbourLimits::default())
                .with_routes6(routes6.clone());
            if let Some(fw) = &spec.firewall {
                let settings = FirewallSettings {
                    states: fw.states.div_ceil(spec.workers).max(1),
                    creatorid: fw.creatorid,
                    id_seed: fw.id_seed,
                    timeouts: fw.timeouts,
                    event_capacity: EVENTS_PER_WORKER,
                    workers: spec.workers,
                };
                let worker_index = u8::try_from(index).map_err(|_| {
                    NodeError::Spec(format!("{} workers is too many", spec.workers))
                })?;
                let mut firewall = Firewall::new(worker_index, &settings, fw.ruleset.clone());
                firewall.set_nat(fw.nat.clone());
                firewall.set_defer(fw.defer && spec.sync.is_some());
                forwarder.set_firewall(firewall);
            }
            let handoff = std::mem::take(handoffs.get_mut(index).ok_or_else(|| {
                NodeError::Spec("handoff mesh smaller than the worker count".into())
            })?);
            let mut worker = Worker::new(
                index,
                forwarder,
                rx,
                tx,
                pool.clone(),
                spec.polling,
                handoff,
            );
            if let Some(policies) = &node.policies {
                worker.follow_policies(policies.clone());
            }
            worker.set_clock(clock);
            if let Some(link) = &control {
                worker.attach_control(link.clone());
            }
            if let Some(link) = worker_links.get_mut(index).and_then(Option::take) {
                worker.attach_sync(link);
            }
            if let Some(ops) = ops_ends.next() {
                worker.attach_ops(ops);
            }
            node.published.push(worker.published_counters());
            let stop = stop.clone();
            let cpu = spec.cpus.get(index).copied();
            let handle =
                spawn_lcore_thread(&format!("worker{index}"), cpu, move || worker.run(&stop))?;
            node.workers.push(handle);
        }
        Ok(node)
    }

    /// Ports and their driver counters now.
    pub fn ports(&self) -> Vec<PortStatus> {
        self.ports
            .iter()
            .map(|(name, port)| port_status(name, port))
            .collect()
    }

    /// Every worker's counters as last published (at most `worker::PUBLISH` old), and their
    /// sum.
    pub fn counters(&self) -> (WorkerCounters, Vec<WorkerCounters>) {
        let workers: Vec<WorkerCounters> = self
            .published
            .iter()
            .map(|p| WorkerCounters::clone(&p.load()))
            .collect();
        let mut total = WorkerCounters::new(self.ports.len());
        for w in &workers {
            total.merge(w);
        }
        (total, workers)
    }

    /// What the node has done so far, while it runs (counters at most `worker::PUBLISH` old).
    pub fn report(&self) -> NodeReport {
        let (counters, workers) = self.counters();
        NodeReport {
            counters,
            workers,
            ports: self.ports(),
        }
    }

    /// Replaces the filter and NAT rules; every worker swaps them in within a few
    /// milliseconds, keeping its states.
    ///
    /// # Errors
    /// [`NodeError::Spec`] if the node runs without a firewall or the ruleset is for another
    /// number of ports; nothing changes then.
    pub fn set_policy(&self, ruleset: Ruleset, nat: Nat) -> Result<(), NodeError> {
        self.policy_handle()
            .ok_or_else(|| NodeError::Spec("the node runs without a firewall".into()))?
            .set(ruleset, nat)
    }

    /// Where other threads swap the rules in (the control socket's `config apply`), if the
    /// node runs a firewall.
    pub fn policy_handle(&self) -> Option<PolicyHandle> {
        self.policies.as_ref().map(|policies| PolicyHandle {
            policies: policies.clone(),
            ports: self.ports.len(),
        })
    }

    /// Runs `body` on its own thread with the sync port's queues and the rings to the
    /// workers (the sync core), until the node stops; `body` must return once the stop flag
    /// it gets is set.
    ///
    /// # Errors
    /// [`NodeError::Spec`] if the node has no sync port or its sync core already runs;
    /// [`NodeError::Lcore`] if the thread did not start.
    pub fn run_sync<F>(&mut self, cpu: Option<usize>, body: F) -> Result<(), NodeError>
    where
        F: FnOnce(SyncEnds, Arc<AtomicBool>) + Send + 'static,
    {
        let ends = self
            .sync_ends
            .take()
            .ok_or_else(|| NodeError::Spec("no sync port, or its sync core already runs".into()))?;
        let stop = self.stop.clone();
        self.sync_thread = Some(spawn_lcore_thread("sync", cpu, move || body(ends, stop))?);
        Ok(())
    }

    /// The link to the workers for CARP (punted packets, frames to send, the VIP table), if
    /// the node has VIPs.
    pub fn control_link(&self) -> Option<ControlLink> {
        self.control.clone()
    }

    /// The operator's link to the workers' states (list, count, kill), once: whoever serves
    /// the operator takes it.
    pub fn take_ops(&mut self) -> Option<OpsClient> {
        self.ops.take()
    }

    /// The clock the workers read.
    pub fn clock(&self) -> MonotonicClock {
        self.clock
    }

    /// The sync port's status, if the node has one.
    pub fn sync_port(&self) -> Option<PortStatus> {
        self.sync_port
            .as_ref()
            .map(|(name, port)| port_status(name, port))
    }

    /// Mbufs currently out of the pool.
    pub fn mbufs_in_use(&self) -> u32 {
        self.pool.in_use()
    }

    /// Stop the workers, collect their counters, close the ports and EAL.
    pub fn stop(mut self) -> NodeReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut workers = Vec::new();
        for handle in self.workers.drain(..) {
            match handle.join() {
                Ok(c) => workers.push(c),
                Err(_) => tracing::error!("a worker panicked"),
            }
        }
        if let Some(handle) = self.sync_thread.take()
            && handle.join().is_err()
        {
            tracing::error!("the sync core panicked");
        }
        let mut counters = WorkerCounters::new(self.ports.len());
        for w in &workers {
            counters.merge(w);
        }
        NodeReport {
            counters,
            workers,
            ports: self.ports(),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
        if let Some(handle) = self.sync_thread.take() {
            let _ = handle.join();
        }
    }
}

fn port_status(name: &str, port: &Port) -> PortStatus {
    PortStatus {
        name: name.to_string(),
        device: port.name().to_string(),
        mac: MacAddr(port.mac().unwrap_or_default()),
        link_up: port.link().map(|l| l.up).unwrap_or(false),
        stats: port.stats().unwrap_or_default(),
    }
}

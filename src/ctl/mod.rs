//! The daemon's side of the control socket: [`NodeHandler`] answers every command from what
//! the node already publishes (counters, the sync core's and CARP's status, the running
//! config) and from the workers' operator link (states). Nothing here touches the packet
//! path: the one lock is around the operator link, which only control threads use.

pub mod config;
pub mod convert;
pub mod text;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rampart_control::carp::maintenance::{self, MaintenanceRecord};
use rampart_control::config::FilterAction;
use rampart_control::ctl::proto::{DEFAULT_LIMIT, MAX_LIMIT};
use rampart_control::ctl::reply::{
    CarpReport, ConfigText, NodeStatus, PortInfo, PortStats, ResyncReport, RuleEntry, RuleList,
    StateCount, StateList, Stats, SyncReport, WorkerStats, XmlrpcReport,
};
use rampart_control::ctl::server::Handler;
use rampart_control::ctl::{Command, CtlError, ErrorKind, Reply, StateSelector};
use rampart_dataplane::DropReason;
use rampart_dataplane::ops::{OpAnswer, OpKind, OpsClient, OpsError, StateFilter};
use rampart_dataplane::time::MonotonicClock;
use rampart_sync::status::SyncStatus;

use crate::carp::{CarpStatus, VhidSpec};
use crate::telemetry::Telemetry;
use crate::xmlrpc::DiffError;
use crate::xmlrpc::XmlrpcHandles;
use config::ConfigStore;

/// Longest wait for every worker to walk its states.
const OPS_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the CARP thread or the sync core to take a request.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(3);

/// The sync core's handles.
#[derive(Debug)]
pub struct SyncHandles {
    /// Its published status.
    pub status: Arc<ArcSwap<SyncStatus>>,
    /// Set to ask for a bulk update.
    pub resync: Arc<AtomicBool>,
}

/// The CARP thread's handles.
#[derive(Debug)]
pub struct CarpHandles {
    /// Its published status.
    pub status: Arc<ArcSwap<CarpStatus>>,
    /// Maintenance mode as wanted (the thread follows it).
    pub maintenance: Arc<AtomicBool>,
    /// Where maintenance mode persists.
    pub file: PathBuf,
    /// The vhids the node runs (none: CARP is idle until a config brings VIPs).
    pub vhids: Arc<ArcSwap<Vec<VhidSpec>>>,
}

/// Everything the node publishes for the control socket and the metrics endpoint.
#[derive(Debug)]
pub struct Sources {
    /// When the node started.
    pub started: Instant,
    /// Worker threads.
    pub workers: usize,
    /// Counters, published by the main thread.
    pub telemetry: Arc<ArcSwap<Telemetry>>,
    /// pfsync, if on.
    pub sync: Option<SyncHandles>,
    /// CARP, if the node runs vhids.
    pub carp: Option<CarpHandles>,
    /// The operator's link to the workers' states.
    pub ops: Option<Mutex<OpsClient>>,
    /// The running config.
    pub config: Arc<ConfigStore>,
    /// The workers' clock (state times are on it).
    pub clock: MonotonicClock,
    /// XMLRPC configuration sync, if on.
    pub xmlrpc: Option<XmlrpcHandles>,
}

/// Answers the control socket's commands.
#[derive(Debug, Clone)]
pub struct NodeHandler {
    sources: Arc<Sources>,
}

impl NodeHandler {
    /// A handler over `sources`.
    pub fn new(sources: Arc<Sources>) -> NodeHandler {
        NodeHandler { sources }
    }
}

fn failed(err: impl std::fmt::Display) -> CtlError {
    CtlError::new(ErrorKind::Failed, format!("{err:#}"))
}

impl Handler for NodeHandler {
    fn handle(&self, cmd: Command) -> Result<Reply, CtlError> {
        let s = &*self.sources;
        match cmd {
            Command::Status => Ok(Reply::Status(Box::new(self.status()))),
            Command::CarpStatus => Ok(Reply::Carp(convert::carp_report(
                &self.carp()?.status.load(),
            ))),
            Command::CarpMaintenance { on } => self.maintenance(on).map(Reply::Carp),
            Command::States(args) => {
                let limit = args.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize;
                let a = self.ops(OpKind::List { limit }, &args.selector())?;
                let now = s.clock.now();
                Ok(Reply::States(StateList {
                    total: a.total,
                    matched: a.matched,
                    states: a
                        .states
                        .iter()
                        .map(|(w, snap)| convert::state_entry(*w, snap, now))
                        .collect(),
                }))
            }
            Command::StatesCount(sel) => {
                let a = self.ops(OpKind::Count, &sel)?;
                Ok(Reply::Count(StateCount {
                    total: a.total,
                    matched: a.matched,
                }))
            }
            Command::StatesKill(sel) => {
                if sel.is_empty() {
                    return Err(CtlError::new(
                        ErrorKind::BadArguments,
                        "refusing to kill every state: select some with iface, proto, addr or port",
                    ));
                }
                let a = self.ops(OpKind::Kill, &sel)?;
                tracing::info!(killed = a.matched, "states killed by the operator");
                Ok(Reply::Killed(StateCount {
                    total: a.total,
                    matched: a.matched,
                }))
            }
            Command::SyncStatus => self.sync_status().map(Reply::Sync),
            Command::SyncResync => self.resync().map(Reply::Resync),
            Command::SyncDiff => {
                let Some(x) = &s.xmlrpc else {
                    return Err(CtlError::new(
                        ErrorKind::Unavailable,
                        "XMLRPC Synchronization is not configured: this node has no \
                         <hasync><synchronizetoip>",
                    ));
                };
                x.diff().map(Reply::SyncDiff).map_err(|e| match e {
                    DiffError::NotPrimary => CtlError::new(ErrorKind::Unavailable, e.to_string()),
                    DiffError::Timeout(_) => CtlError::new(ErrorKind::Timeout, e.to_string()),
                    _ => failed(e),
                })
            }
            Command::Rules => self.rules().map(Reply::Rules),
            Command::Stats => Ok(Reply::Stats(self.stats())),
            Command::ConfigShow => {
                let running = s.config.current();
                Ok(Reply::Config(ConfigText {
                    info: running.info.clone(),
                    xml: running.xml.clone(),
                }))
            }
            Command::ConfigCheck { xml } => s
                .config
                .check(&xml)
                .map(Reply::ConfigOutcome)
                .map_err(failed),
            Command::ConfigApply { xml } => {
                let result = s.config.apply(&xml);
                announce(&result);
                result.map(Reply::ConfigOutcome).map_err(failed)
            }
            Command::ConfigReload => {
                let result = s.config.reload();
                announce(&result);
                result.map(Reply::ConfigOutcome).map_err(failed)
            }
        }
    }
}

/// The daemon's log line for a reload or apply, as SIGHUP prints it.
pub fn announce(result: &Result<rampart_control::ctl::reply::ConfigOutcome, config::ApplyError>) {
    match result {
        Ok(outcome) => {
            tracing::info!(rules = outcome.filter_rules, "ruleset reloaded");
            println!("rampart: ruleset reloaded ({} rules)", outcome.filter_rules);
        }
        Err(err) => {
            tracing::error!("reload refused, the running ruleset stays: {err:#}");
            println!("rampart: reload refused: {err:#}");
        }
    }
}

impl NodeHandler {
    fn carp(&self) -> Result<&CarpHandles, CtlError> {
        carp_running(&self.sources).ok_or_else(|| {
            CtlError::new(
                ErrorKind::Unavailable,
                "CARP is not running on this node (no CARP VIP in <virtualip>)",
            )
        })
    }

    /// pfsync's report with XMLRPC's; pfsync's part says why it is off when only XMLRPC
    /// runs.
    fn sync_status(&self) -> Result<SyncReport, CtlError> {
        let xmlrpc = xmlrpc_report(&self.sources);
        match (&self.sources.sync, xmlrpc) {
            (Some(h), xmlrpc) => Ok(SyncReport {
                xmlrpc,
                ..convert::sync_report(&h.status.load())
            }),
            (None, Some(x)) => Ok(SyncReport {
                xmlrpc: Some(x),
                ..convert::sync_off(PFSYNC_OFF)
            }),
            (None, None) => Err(CtlError::new(ErrorKind::Unavailable, PFSYNC_OFF)),
        }
    }

    fn sync(&self) -> Result<&SyncHandles, CtlError> {
        self.sources
            .sync
            .as_ref()
            .ok_or_else(|| CtlError::new(ErrorKind::Unavailable, PFSYNC_OFF))
    }

    fn status(&self) -> NodeStatus {
        let s = &*self.sources;
        let telemetry = s.telemetry.load();
        let running = s.config.current();
        NodeStatus {
            hostname: running.config.system.hostname.clone(),
            version: crate::VERSION.to_owned(),
            pid: std::process::id(),
            uptime_secs: s.started.elapsed().as_secs(),
            workers: s.workers,
            ports: telemetry
                .report
                .ports
                .iter()
                .map(|p| PortInfo {
                    name: p.name.clone(),
                    device: p.device.clone(),
                    mac: p.mac.to_string(),
                    link_up: p.link_up,
                })
                .collect(),
            states: telemetry.report.counters.firewall.states,
            config: running.info.clone(),
            carp: carp_running(s).map(|c| convert::carp_report(&c.status.load())),
            sync: s
                .sync
                .as_ref()
                .map(|h| convert::sync_report(&h.status.load())),
            xmlrpc: xmlrpc_report(s),
        }
    }

    /// Persists the mode, then hands it to the CARP thread and waits until it runs it.
    fn maintenance(&self, on: bool) -> Result<CarpReport, CtlError> {
        let carp = self.carp()?;
        maintenance::store(&carp.file, &MaintenanceRecord { enabled: on }).map_err(failed)?;
        carp.maintenance.store(on, Ordering::Relaxed);
        tracing::info!(
            maintenance = on,
            "CARP maintenance mode set by the operator"
        );
        let deadline = Instant::now() + CONFIRM_TIMEOUT;
        loop {
            let status = carp.status.load();
            if status.maintenance == on {
                return Ok(convert::carp_report(&status));
            }
            if Instant::now() > deadline {
                return Err(CtlError::new(
                    ErrorKind::Timeout,
                    "maintenance mode is recorded, but the CARP thread has not confirmed it",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Asks the sync core for a bulk update and waits until it has taken the request.
    fn resync(&self) -> Result<ResyncReport, CtlError> {
        let sync = self.sync()?;
        let before = sync.status.load();
        if let Some(err) = &before.error {
            return Err(CtlError::new(
                ErrorKind::Unavailable,
                format!("pfsync is not running: {err}"),
            ));
        }
        let asked = before.resyncs;
        sync.resync.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + CONFIRM_TIMEOUT;
        loop {
            let status = sync.status.load();
            if status.resyncs > asked {
                return Ok(ResyncReport {
                    resyncs: status.resyncs,
                    sync: convert::sync_report(&status),
                });
            }
            if Instant::now() > deadline {
                return Err(CtlError::new(
                    ErrorKind::Timeout,
                    "the sync core did not take the bulk request",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ops(&self, kind: OpKind, sel: &StateSelector) -> Result<OpAnswer, CtlError> {
        let filter = convert::state_filter(sel, &self.sources.config.current().config)?;
        self.walk(kind, filter)
    }

    fn walk(&self, kind: OpKind, filter: StateFilter) -> Result<OpAnswer, CtlError> {
        let Some(ops) = &self.sources.ops else {
            return Err(CtlError::new(
                ErrorKind::Unavailable,
                "the node has no workers",
            ));
        };
        let mut ops = ops
            .lock()
            .map_err(|_| failed("the operator link is unusable (a request panicked)"))?;
        ops.run(kind, filter, OPS_TIMEOUT).map_err(|e| match e {
            OpsError::Busy => CtlError::new(ErrorKind::Busy, e.to_string()),
            OpsError::Timeout { .. } => CtlError::new(ErrorKind::Timeout, e.to_string()),
        })
    }

    fn rules(&self) -> Result<RuleList, CtlError> {
        let running = self.sources.config.current();
        let telemetry = self.sources.telemetry.load();
        let counters = &telemetry.report.counters.firewall.rules;
        let live = self.walk(OpKind::Tally, StateFilter::default())?.tally;
        let rules = running
            .config
            .filter
            .iter()
            .map(|r| {
                let c = counters.get(r.index).copied().unwrap_or_default();
                let l = live.get(r.index).copied().unwrap_or_default();
                RuleEntry {
                    index: u32::try_from(r.index).unwrap_or(u32::MAX),
                    tracker: r.tracker.map_or(String::new(), |t| t.to_string()),
                    action: match r.action {
                        FilterAction::Pass => "pass",
                        FilterAction::Block => "block",
                        FilterAction::Reject => "reject",
                        FilterAction::Match => "match",
                    }
                    .to_owned(),
                    interface: r.interfaces.join(","),
                    disabled: r.disabled,
                    descr: r.descr.clone(),
                    evaluations: c.decisions,
                    states_created: c.states_created,
                    states: l.states,
                    packets: c.state_packets + l.packets,
                    bytes: c.state_bytes + l.bytes,
                }
            })
            .collect();
        Ok(RuleList { rules })
    }

    fn stats(&self) -> Stats {
        let t = self.sources.telemetry.load();
        let workers = t
            .report
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let r = t.rates.get(i).copied().unwrap_or_default();
                WorkerStats {
                    worker: i,
                    rx_pps: r.rx_pps,
                    tx_pps: r.tx_pps,
                    drops_per_sec: r.drops_per_sec,
                    inserts_per_sec: r.inserts_per_sec,
                    busy_percent: r.busy_percent,
                    rx_packets: w.ports.iter().map(|p| p.rx_packets).sum(),
                    tx_packets: w.ports.iter().map(|p| p.tx_packets).sum(),
                    drops: w.total_drops(),
                    states: w.firewall.states,
                    states_inserted: w.firewall.states_inserted,
                }
            })
            .collect();
        let c = &t.report.counters;
        Stats {
            interval_ms: u64::try_from(t.interval.as_millis()).unwrap_or(u64::MAX),
            workers,
            drops: DropReason::ALL
                .iter()
                .filter(|r| c.dropped(**r) > 0)
                .map(|r| (r.name().to_owned(), c.dropped(*r)))
                .collect(),
            ports: t
                .report
                .ports
                .iter()
                .map(|p| PortStats {
                    name: p.name.clone(),
                    rx_packets: p.stats.rx_packets,
                    tx_packets: p.stats.tx_packets,
                    rx_missed: p.stats.rx_missed,
                    rx_errors: p.stats.rx_errors,
                    tx_errors: p.stats.tx_errors,
                })
                .collect(),
        }
    }
}

const PFSYNC_OFF: &str = "pfsync is not enabled on this node (<hasync><pfsyncenabled>)";

/// CARP's handles while the node runs at least one vhid.
pub fn carp_running(sources: &Sources) -> Option<&CarpHandles> {
    sources.carp.as_ref().filter(|c| !c.vhids.load().is_empty())
}

/// XMLRPC's report, if XMLRPC is on.
pub fn xmlrpc_report(sources: &Sources) -> Option<XmlrpcReport> {
    sources
        .xmlrpc
        .as_ref()
        .map(|x| XmlrpcReport::clone(&x.status.load()))
}

/// The sync report, for the metrics endpoint.
pub fn sync_report(sources: &Sources) -> Option<SyncReport> {
    sources
        .sync
        .as_ref()
        .map(|h| convert::sync_report(&h.status.load()))
}

//! One in-process measurement: the daemon's own wiring (config.xml → `setup::node_spec` →
//! `Node::start`, the sync core when pfsync is on) over `net_pcap` ports, sampled from the
//! drivers' counters and the workers' busy-cycle counters.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use rampart_dataplane::dpdk::tsc_hz;
use rampart_dataplane::{Node, NodeReport};
use rampart_sync::status::SyncStatus;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::config::NodeConfig;
use super::flows::addr;
use super::stats::{Summary, summarize};

/// What the node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// No firewall: the forwarding path alone (routing, neighbours, TX).
    Router,
    /// The stateful firewall with the config's rules.
    Firewall,
}

/// How the traffic is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Traffic {
    /// The LAN and WAN ports replay their files forever: rates over a fixed window.
    Replay,
    /// The LAN port plays its file once: the rate while it plays (new connections).
    Stream,
}

/// One run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// What the node runs.
    pub mode: Mode,
    /// How the traffic is measured.
    pub traffic: Traffic,
    /// The node's config.
    pub config: NodeConfig,
    /// Where the config file is written.
    pub config_path: PathBuf,
    /// DPDK file prefix (unique per process).
    pub file_prefix: String,
    /// Hugepages (benchmarks) or `--no-huge` (tests).
    pub hugepages: bool,
    /// Mbufs in the pool: `net_pcap` with `infinite_rx` keeps every frame of its file in one.
    pub mbufs: u32,
    /// Frames in the fill file: the run waits until the fill port has received them all.
    pub fill_frames: u64,
    /// Frames in the streamed LAN file (stream mode).
    pub stream_frames: u64,
    /// Time after the fill before the window.
    pub warmup: Duration,
    /// The measurement window (replay mode).
    pub measure: Duration,
    /// Frame size with FCS, for Gbit/s.
    pub size: usize,
    /// Bound on the whole run.
    pub timeout: Duration,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Packets received by the worker(s) per second, Mpps (median of the intervals).
    pub rx_mpps: f64,
    /// Packets sent per second, Mpps (median of the intervals).
    pub tx_mpps: f64,
    /// Per-interval RX rates, Mpps.
    pub rx_intervals: Vec<f64>,
    /// Forwarded bits per second at the frame size (FCS included), Gbit/s.
    pub tx_gbps: f64,
    /// Share of received packets not sent.
    pub drop_rate: f64,
    /// TSC cycles per packet in loops that received packets.
    pub cycles_per_packet: f64,
    /// TSC frequency.
    pub tsc_hz: u64,
    /// States in the table at the end (summed over workers).
    pub states: u64,
    /// States created by packets.
    pub states_inserted: u64,
    /// New connections per second while the stream played (stream mode).
    pub inserts_per_s: f64,
    /// State events handed to the sync core, and those lost.
    pub sync_events: u64,
    /// State events lost (ring full).
    pub sync_events_dropped: u64,
    /// pfsync frames the sync core sent.
    pub sync_frames: u64,
    /// Drops by reason (non-zero ones).
    pub drops: Vec<(String, u64)>,
    /// Summary of the intervals.
    pub rx_summary: Summary,
}

/// Why a run failed.
#[derive(Debug, Error)]
pub enum RunError {
    /// Config or node start.
    #[error("{0}")]
    Setup(String),
    /// A port's MAC is not the one the frames are addressed to.
    #[error("port {port} has MAC {found}, the frames expect {expected}")]
    Mac {
        /// Port index.
        port: usize,
        /// Its MAC.
        found: String,
        /// The frames' destination.
        expected: String,
    },
    /// A wait ran out.
    #[error("timed out: {0}")]
    Timeout(String),
}

/// Driver packet counters of the data ports (LAN, WAN: indices 0 and 1).
fn port_counts(node: &Node) -> (u64, u64) {
    node.ports().iter().take(2).fold((0, 0), |(rx, tx), p| {
        (rx + p.stats.rx_packets, tx + p.stats.tx_packets)
    })
}

fn busy(report: &NodeReport) -> (u64, u64) {
    (report.counters.busy_cycles, report.counters.busy_packets)
}

/// Runs `spec` to the end.
///
/// # Errors
/// [`RunError`] when the node does not start, the ports are not the expected ones, or the
/// traffic does not flow within the time bound.
pub fn run(spec: &RunSpec) -> Result<RunResult, RunError> {
    let deadline = Instant::now() + spec.timeout;
    let setup = |e: &dyn std::fmt::Display| RunError::Setup(e.to_string());
    write_config(&spec.config_path, &spec.config.to_xml()).map_err(|e| setup(&e))?;
    let config = rampart::setup::load_config(&spec.config_path).map_err(|e| setup(&e))?;
    let mut node_spec =
        rampart::setup::node_spec(&config, &spec.file_prefix).map_err(|e| setup(&e))?;
    node_spec.eal.hugepages = spec.hugepages;
    node_spec.eal.memory_mb = node_spec.eal.memory_mb.max(1024);
    node_spec.mbufs = spec.mbufs.max(node_spec.mbufs);
    if spec.mode == Mode::Router {
        node_spec.firewall = None;
    }
    let mut node = Node::start(&node_spec).map_err(|e| setup(&e))?;
    let status = Arc::new(ArcSwap::from_pointee(SyncStatus::failed("starting".into())));
    if node_spec.sync.is_some() {
        let settings = rampart::sync::settings(
            &config,
            Arc::new(AtomicBool::new(false)),
            spec.config_path.with_extension("states"),
            Arc::new(AtomicBool::new(false)),
        )
        .map_err(|e| setup(&e))?
        .ok_or_else(|| RunError::Setup("pfsync is off in the config".into()))?;
        let published = status.clone();
        // The sync core shares the first CPU with this thread; the workers have theirs.
        node.run_sync(Some(0), move |ends, stop| {
            rampart_sync::lcore::run(ends, settings, stop, published);
        })
        .map_err(|e| setup(&e))?;
    }
    for (index, port) in node.ports().iter().enumerate() {
        let expected = addr::port_mac(index as u8);
        if port.device.starts_with("net_pcap") && port.mac != expected {
            return Err(RunError::Mac {
                port: index,
                found: port.mac.to_string(),
                expected: expected.to_string(),
            });
        }
    }
    if spec.fill_frames > 0 {
        wait_for(deadline, "the fill file to play", || {
            node.ports()
                .get(2)
                .is_some_and(|p| p.stats.rx_packets >= spec.fill_frames)
        })?;
    }
    let result = match spec.traffic {
        Traffic::Replay => measure_replay(&node, spec, deadline)?,
        Traffic::Stream => measure_stream(&node, spec, deadline)?,
    };
    let report = node.stop();
    Ok(finish(result, &report, &status.load(), spec))
}

fn write_config(path: &Path, xml: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, xml)
}

/// Polls `done` every 20 ms until it holds or `deadline` passes.
fn wait_for(deadline: Instant, what: &str, mut done: impl FnMut() -> bool) -> Result<(), RunError> {
    while !done() {
        if Instant::now() >= deadline {
            return Err(RunError::Timeout(format!("waiting for {what}")));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Sleeps until `deadline` or `until`, whichever is first.
fn sleep_bounded(deadline: Instant, d: Duration) -> Result<(), RunError> {
    let now = Instant::now();
    if now + d > deadline {
        return Err(RunError::Timeout("the measurement window".into()));
    }
    std::thread::sleep(d);
    Ok(())
}

/// Intervals of this length make up the window.
const INTERVAL: Duration = Duration::from_millis(500);

fn measure_replay(node: &Node, spec: &RunSpec, deadline: Instant) -> Result<Partial, RunError> {
    sleep_bounded(deadline, spec.warmup)?;
    let intervals = (spec.measure.as_millis() / INTERVAL.as_millis()).max(1) as usize;
    let mut rx_rates = Vec::with_capacity(intervals);
    let mut tx_rates = Vec::with_capacity(intervals);
    let busy0 = busy(&node.report());
    let (mut rx0, mut tx0) = port_counts(node);
    let mut t0 = Instant::now();
    let start = t0;
    let (rx_first, tx_first) = (rx0, tx0);
    for _ in 0..intervals {
        sleep_bounded(deadline, INTERVAL)?;
        let (rx1, tx1) = port_counts(node);
        let t1 = Instant::now();
        let dt = t1.duration_since(t0).as_secs_f64();
        rx_rates.push((rx1 - rx0) as f64 / dt / 1e6);
        tx_rates.push((tx1 - tx0) as f64 / dt / 1e6);
        (rx0, tx0, t0) = (rx1, tx1, t1);
    }
    // The workers publish every 250 ms: wait for one more so the busy counters cover the
    // window.
    std::thread::sleep(Duration::from_millis(300));
    let busy1 = busy(&node.report());
    let total = t0.duration_since(start).as_secs_f64();
    Ok(Partial {
        rx_rates,
        tx_rates,
        rx_total: rx0 - rx_first,
        tx_total: tx0 - tx_first,
        seconds: total,
        busy: (busy1.0 - busy0.0, busy1.1 - busy0.1),
        inserts_per_s: 0.0,
    })
}

/// Stream mode: sample every 50 ms while the LAN file plays; the rate is taken between the
/// first and the last sample that saw the LAN counter move.
fn measure_stream(node: &Node, spec: &RunSpec, deadline: Instant) -> Result<Partial, RunError> {
    let lan_rx = |node: &Node| node.ports().first().map_or(0, |p| p.stats.rx_packets);
    let busy0 = busy(&node.report());
    let mut samples: Vec<(Instant, u64)> = vec![(Instant::now(), lan_rx(node))];
    loop {
        sleep_bounded(deadline, Duration::from_millis(50))?;
        let now = (Instant::now(), lan_rx(node));
        samples.push(now);
        if now.1 >= spec.stream_frames {
            break;
        }
    }
    let first = samples.iter().rposition(|s| s.1 == 0).unwrap_or(0);
    let (ta, ra) = samples.get(first).copied().unwrap_or((Instant::now(), 0));
    let (tb, rb) = samples.last().copied().unwrap_or((ta, ra));
    let seconds = tb.duration_since(ta).as_secs_f64().max(1e-9);
    // Let the workers finish the last bursts and publish.
    std::thread::sleep(Duration::from_millis(600));
    let report = node.report();
    let busy1 = busy(&report);
    let rate = (rb - ra) as f64 / seconds / 1e6;
    Ok(Partial {
        rx_rates: vec![rate],
        tx_rates: vec![],
        rx_total: rb - ra,
        tx_total: port_counts(node).1,
        seconds,
        busy: (busy1.0 - busy0.0, busy1.1 - busy0.1),
        inserts_per_s: report.counters.firewall.states_inserted as f64 / seconds,
    })
}

/// What a measurement found before the node stops.
struct Partial {
    rx_rates: Vec<f64>,
    tx_rates: Vec<f64>,
    rx_total: u64,
    tx_total: u64,
    seconds: f64,
    busy: (u64, u64),
    inserts_per_s: f64,
}

fn finish(p: Partial, report: &NodeReport, sync: &SyncStatus, spec: &RunSpec) -> RunResult {
    let rx_summary = summarize(&p.rx_rates);
    let tx_mpps = if p.tx_rates.is_empty() {
        p.tx_total as f64 / p.seconds / 1e6
    } else {
        summarize(&p.tx_rates).median
    };
    let c = &report.counters;
    let drops = rampart_dataplane::DropReason::ALL
        .iter()
        .filter_map(|r| {
            let n = c.dropped(*r);
            (n > 0).then(|| (r.name().to_string(), n))
        })
        .collect();
    RunResult {
        rx_mpps: rx_summary.median,
        tx_mpps,
        rx_intervals: p.rx_rates.clone(),
        tx_gbps: tx_mpps * 1e6 * spec.size as f64 * 8.0 / 1e9,
        drop_rate: if p.rx_total == 0 {
            0.0
        } else {
            1.0 - (p.tx_total as f64 / p.rx_total as f64).min(1.0)
        },
        cycles_per_packet: if p.busy.1 == 0 {
            0.0
        } else {
            p.busy.0 as f64 / p.busy.1 as f64
        },
        tsc_hz: tsc_hz(),
        states: c.firewall.states,
        states_inserted: c.firewall.states_inserted,
        inserts_per_s: p.inserts_per_s,
        sync_events: c.firewall.sync_events,
        sync_events_dropped: c.firewall.sync_events_dropped,
        sync_frames: sync.frames_sent_wire,
        drops,
        rx_summary,
    }
}

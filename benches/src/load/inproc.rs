//! The in-process run from the command line's numbers: writes (or reuses) the pcap files,
//! builds the node's config and measures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::NodeConfig;
use super::flows::{self, FlowSet, Proto, Side};
use super::run::{Mode, RunError, RunResult, RunSpec, Traffic, run};

/// An in-process run as the command line describes it.
#[derive(Debug, Clone)]
pub struct InProc {
    /// Router (no firewall) or firewall.
    pub mode: Mode,
    /// Replayed flows (replay) or new connections (stream).
    pub flows: usize,
    /// Connections in the table before the window (firewall, replay): the replayed flows
    /// plus idle ones, opened through the fill port. 0: only what the replay creates.
    pub connections: usize,
    /// Filter rules.
    pub rules: usize,
    /// Frame size with FCS.
    pub size: usize,
    /// Transport.
    pub proto: Proto,
    /// New-connection mode: the LAN port plays `flows` first packets once.
    pub new_connections: bool,
    /// pfsync on (its port is `net_null` without RX).
    pub pfsync: bool,
    /// Workers (each gets its share of the flows as its own RX file per port).
    pub workers: usize,
    /// CPUs of the workers.
    pub cores: Vec<usize>,
    /// Where files go.
    pub workdir: PathBuf,
    /// DPDK file prefix.
    pub prefix: String,
    /// Hugepages.
    pub hugepages: bool,
    /// Warm-up.
    pub warmup: Duration,
    /// Window.
    pub measure: Duration,
    /// Bound on the run.
    pub timeout: Duration,
}

/// Writes a pcap file with `write` unless a file of that name exists already (names carry
/// every parameter); returns its frame count.
fn cached(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<u64>) -> Result<u64, RunError> {
    let count_path = path.with_extension("frames");
    if path.is_file()
        && let Ok(text) = std::fs::read_to_string(&count_path)
        && let Ok(n) = text.trim().parse::<u64>()
    {
        return Ok(n);
    }
    let io = |e: std::io::Error| RunError::Setup(format!("writing {}: {e}", path.display()));
    let tmp = path.with_extension("tmp");
    let n = write(&tmp).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    std::fs::write(&count_path, n.to_string()).map_err(io)?;
    Ok(n)
}

/// The replay files of each port (`rx_pcap=` arguments): one file per worker, each with the flows `i` where
/// `i % workers == w`.
pub fn replay_files(
    set: &FlowSet,
    workers: usize,
    dir: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>, u64), RunError> {
    let (mut lans, mut wans, mut frames) = (Vec::new(), Vec::new(), 0);
    for w in 0..workers {
        let tag = format!("{}-{}-{}-w{w}of{workers}", set.proto, set.size, set.flows);
        let lan = dir.join(format!("lan-{tag}.pcap"));
        let wan = dir.join(format!("wan-{tag}.pcap"));
        let share: Vec<usize> = (w..set.flows).step_by(workers).collect();
        let write_side = |side: Side, path: &Path| -> std::io::Result<u64> {
            let mut out = flows::PcapWriter::create(path)?;
            out.push(&flows::gateway_arp(side))?;
            for &i in &share {
                match side {
                    Side::Wan => out.push(&set.reverse(i, Side::Wan))?,
                    _ => out.push(&set.forward(i, Side::Lan))?,
                }
            }
            out.finish()
        };
        frames += cached(&lan, |p| write_side(Side::Lan, p))?;
        frames += cached(&wan, |p| write_side(Side::Wan, p))?;
        lans.push(lan);
        wans.push(wan);
    }
    Ok((lans, wans, frames))
}

fn devargs(name: &str, files: &[PathBuf], infinite: bool) -> String {
    let mut s = name.to_string();
    for f in files {
        s.push_str(&format!(",rx_pcap={}", f.display()));
    }
    if infinite {
        s.push_str(",infinite_rx=1");
    }
    s
}

impl InProc {
    /// Writes the files, runs, returns what it measured.
    ///
    /// # Errors
    /// [`RunError`] from writing files, starting the node or measuring.
    pub fn run(&self) -> Result<RunResult, RunError> {
        let set = FlowSet {
            flows: self.flows,
            size: self.size,
            proto: self.proto,
        };
        set.check().map_err(RunError::Setup)?;
        let workers = self.workers.max(1);
        std::fs::create_dir_all(&self.workdir)
            .map_err(|e| RunError::Setup(format!("{}: {e}", self.workdir.display())))?;
        let dir = &self.workdir;
        let mut fill = None;
        let mut fill_frames = 0;
        let mut stream_frames = 0;
        let (lan, wan, mbufs, traffic);
        if self.new_connections {
            let path = dir.join(format!("new-{}-{}-{}.pcap", set.proto, set.size, set.flows));
            stream_frames = cached(&path, |p| flows::write_new(&set, set.flows, p))?;
            let arp = dir.join("wan-arp.pcap");
            cached(&arp, |p| flows::write_arp_only(Side::Wan, p))?;
            lan = devargs("net_pcap0", &[path], false);
            wan = devargs("net_pcap1", &[arp], false);
            mbufs = 16_384;
            traffic = Traffic::Stream;
        } else {
            let (lans, wans, frames) = replay_files(&set, workers, dir)?;
            lan = devargs("net_pcap0", &lans, true);
            wan = devargs("net_pcap1", &wans, true);
            mbufs = u32::try_from(frames + 16_384 * workers as u64)
                .map_err(|_| RunError::Setup("too many frames for one mempool".into()))?;
            traffic = Traffic::Replay;
            let opened = self.connections.max(set.flows);
            if self.mode == Mode::Firewall && (self.connections > 0 || set.proto == Proto::Tcp) {
                let path = dir.join(format!("fill-{}-{}-{opened}.pcap", set.proto, set.size));
                fill_frames = cached(&path, |p| flows::write_fill(&set, opened, p))?;
                fill = Some(devargs("net_pcap2", &[path], false));
            }
        }
        let connections = self.connections.max(self.flows);
        let config = NodeConfig {
            lan,
            wan,
            fill,
            sync: self.pfsync.then(|| "net_null0,no-rx=1".to_string()),
            rules: self.rules,
            // Every forwarded connection is two states (in on one port, out on the other).
            max_states: (connections * 2 + 65_536).min(i32::MAX as usize - 2),
            workers,
            cores: self.cores.clone(),
        };
        let spec = RunSpec {
            mode: self.mode,
            traffic,
            config,
            config_path: dir.join(format!("{}.xml", self.prefix)),
            file_prefix: self.prefix.clone(),
            hugepages: self.hugepages,
            mbufs,
            fill_frames,
            stream_frames,
            warmup: self.warmup,
            measure: self.measure,
            size: self.size,
            timeout: self.timeout,
        };
        let result = run(&spec);
        super::stats::remove_eal_runtime_dir(&self.prefix);
        let _ = std::fs::remove_file(&spec.config_path);
        result
    }
}

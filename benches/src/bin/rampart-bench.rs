//! `rampart-bench`: the pktgen-style load harness (see `make bench` and the README).
//!
//! - `run`: one in-process measurement of the daemon's forwarding path over `net_pcap`
//!   replays; prints one JSON line.
//! - `table`: the `make bench` table (ceiling, rampart rows, kernel peer) from A/B pairs,
//!   the sweeps and the plot.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use rampart_benches::load::flows::Proto;
use rampart_benches::load::inproc::InProc;
use rampart_benches::load::run::Mode;
use rampart_benches::load::table::{TableSpec, run_table};

#[derive(Debug, Parser)]
#[command(about = "rampart's load harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One in-process run over net_pcap replays; prints one JSON line on stdout.
    Run(RunArgs),
    /// The make bench table: rounds of ceiling/rampart pairs, the kernel peer, sweeps, plot.
    Table(TableArgs),
}

#[derive(Debug, Args)]
struct TableArgs {
    #[command(flatten)]
    common: Common,
    /// A/B rounds (pairs).
    #[arg(long, default_value_t = 5)]
    pairs: usize,
    /// Replayed flows.
    #[arg(long, default_value_t = 65_536)]
    flows: usize,
    /// Connections in the table for the stateful hit row.
    #[arg(long, default_value_t = 1_000_000)]
    connections: usize,
    /// Filter rules.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// New connections played in the new-connection row.
    #[arg(long, default_value_t = 2_000_000)]
    new_connections: usize,
    /// Frame size with FCS.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// udp or tcp.
    #[arg(long, default_value = "udp")]
    proto: Proto,
    /// Seconds of warm-up per run.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds of window per run.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// dpdk-testpmd binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: String,
    /// The kernel-peer script (benches/scripts/kernel-nft.sh); omitted: no kernel row.
    #[arg(long)]
    kernel_script: Option<PathBuf>,
    /// Flow counts of the plot's sweep (comma-separated; empty: no sweeps).
    #[arg(long, value_delimiter = ',')]
    sweep_flows: Vec<usize>,
    /// Connection counts of the states sweep.
    #[arg(long, value_delimiter = ',')]
    sweep_states: Vec<usize>,
    /// Rule counts of the rules sweep.
    #[arg(long, value_delimiter = ',')]
    sweep_rules: Vec<usize>,
    /// Worker counts of the workers sweep.
    #[arg(long, value_delimiter = ',')]
    sweep_workers: Vec<usize>,
    /// Where the plot (SVG) goes.
    #[arg(long, default_value = "/tmp/rampart-bench/flows.svg")]
    plot: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Router,
    Firewall,
}

#[derive(Debug, Args)]
struct Common {
    /// Directory for pcap files and configs (reused between runs).
    #[arg(long, default_value = "/tmp/rampart-bench")]
    workdir: PathBuf,
    /// DPDK file prefix (default: rbench-<pid>).
    #[arg(long)]
    prefix: Option<String>,
    /// Run EAL on hugepages (reserve them first); without, --no-huge.
    #[arg(long)]
    hugepages: bool,
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// Router (no firewall) or the stateful firewall.
    #[arg(long, value_enum, default_value = "firewall")]
    mode: ModeArg,
    /// Flows replayed (or new connections with --new-connections).
    #[arg(long, default_value_t = 65_536)]
    flows: usize,
    /// Connections opened before the window (the replayed flows plus idle ones).
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Filter rules.
    #[arg(long, default_value_t = 1000)]
    rules: usize,
    /// Frame size with FCS.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// udp or tcp.
    #[arg(long, default_value = "udp")]
    proto: Proto,
    /// Play `flows` first packets once and measure the state insert rate.
    #[arg(long)]
    new_connections: bool,
    /// pfsync on (the sync port is net_null).
    #[arg(long)]
    pfsync: bool,
    /// Worker lcores.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// CPUs of the workers (comma-separated); the main thread and the sync core use CPU 0.
    #[arg(long, value_delimiter = ',')]
    cores: Vec<usize>,
    /// Seconds between the end of the fill and the window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds of the window.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Bound on the whole run, seconds.
    #[arg(long, default_value_t = 180.0)]
    timeout: f64,
}

fn seconds(s: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).context("a duration in seconds")
}

fn main() {
    if let Err(err) = real_main() {
        eprintln!("rampart-bench: {err:#}");
        std::process::exit(2);
    }
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(a) => {
            let prefix = a
                .common
                .prefix
                .clone()
                .unwrap_or_else(|| format!("rbench-{}", std::process::id()));
            let run = InProc {
                mode: match a.mode {
                    ModeArg::Router => Mode::Router,
                    ModeArg::Firewall => Mode::Firewall,
                },
                flows: a.flows,
                connections: a.connections,
                rules: a.rules,
                size: a.size,
                proto: a.proto,
                new_connections: a.new_connections,
                pfsync: a.pfsync,
                workers: a.workers,
                cores: a.cores.clone(),
                workdir: a.common.workdir.clone(),
                prefix,
                hugepages: a.common.hugepages,
                warmup: seconds(a.warmup)?,
                measure: seconds(a.secs)?,
                timeout: seconds(a.timeout)?,
            };
            let result = run.run()?;
            println!("{}", serde_json::to_string(&result)?);
        }
        Command::Table(a) => {
            let spec = TableSpec {
                exe: std::env::current_exe().context("locating this binary")?,
                testpmd: a.testpmd.clone(),
                kernel_script: a.kernel_script.clone(),
                pairs: a.pairs.max(1),
                flows: a.flows,
                connections: a.connections,
                rules: a.rules,
                new_connections: a.new_connections,
                size: a.size,
                proto: a.proto,
                sweep_flows: a.sweep_flows.clone(),
                sweep_states: a.sweep_states.clone(),
                sweep_rules: a.sweep_rules.clone(),
                sweep_workers: a.sweep_workers.clone(),
                workdir: a.common.workdir.clone(),
                prefix: a
                    .common
                    .prefix
                    .clone()
                    .unwrap_or_else(|| format!("rb{}", std::process::id())),
                hugepages: a.common.hugepages,
                warmup: seconds(a.warmup)?,
                measure: seconds(a.secs)?,
                plot: a.plot.clone(),
            };
            let report = run_table(&spec).map_err(anyhow::Error::msg)?;
            print!("{report}");
        }
    }
    Ok(())
}

//! `rampart --config FILE`: run one firewall node in the foreground until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use rampart::nat::compile_nat;
use rampart::report::format_report;
use rampart::ruleset::{compile_filter, compile_filter_report, port_map};
use rampart::setup::{load_config, node_spec};
use rampart_dataplane::Node;
use tracing_subscriber::EnvFilter;

/// A DPDK userspace firewall node with pfSense-style high availability.
#[derive(Debug, Parser)]
#[command(version = rampart::VERSION)]
struct Args {
    /// pfSense config.xml with a <rampart> section for this node.
    #[arg(long, short)]
    config: PathBuf,
    /// Validate the config and exit (0 when valid, 2 with every error listed otherwise).
    #[arg(long)]
    check: bool,
    /// DPDK --file-prefix (default: rampart-<pid>); must be unique per running node.
    #[arg(long)]
    file_prefix: Option<String>,
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => {}
        Err(err) => {
            eprintln!("rampart: {err:#}");
            std::process::exit(2);
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let config = load_config(&args.config)?;
    let prefix = args
        .file_prefix
        .clone()
        .unwrap_or_else(|| format!("rampart-{}", std::process::id()));
    let spec = node_spec(&config, &prefix)?;
    if args.check {
        let filter = compile_filter_report(&config, &port_map(&config))?;
        println!(
            "{}: valid ({} ports, {} routes, {} workers, {} filter rules)",
            args.config.display(),
            spec.ports.len(),
            spec.routes.len(),
            spec.workers,
            filter.ruleset.len()
        );
        let nat = compile_nat(&config, &port_map(&config))?;
        println!(
            "  NAT: {} outbound rules, {} port forwards",
            nat.nat.spec().outbound.len(),
            nat.nat.spec().port_forwards.len()
        );
        for (path, reason) in &nat.skipped {
            println!("  skipped {path}: {reason}");
        }
        for skipped in &filter.skipped {
            let tracker = skipped
                .tracker
                .map_or(String::new(), |t| format!(" (tracker {t})"));
            println!("  skipped {}{tracker}: {}", skipped.path, skipped.reason);
        }
        return Ok(());
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    // SIGUSR1 prints the counters without stopping (until the control socket of issue 7).
    let dump = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, dump.clone())
        .context("installing signal handlers")?;
    // SIGHUP reloads the filter rules from the config file, keeping every state.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .context("installing signal handlers")?;
    tracing::info!(version = rampart::VERSION, config = %args.config.display(), "starting");
    let node = Node::start(&spec).context("starting the dataplane")?;
    for port in node.ports() {
        tracing::info!(port = %port.name, device = %port.device, mac = %port.mac, link_up = port.link_up, "port ready");
    }
    if spec.workers == 0 {
        bail!("no workers");
    }
    println!(
        "rampart: forwarding on {} ports with {} worker(s)",
        spec.ports.len(),
        spec.workers
    );
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        if reload.swap(false, Ordering::Relaxed) {
            match reload_rules(&args.config, &config, &node) {
                Ok(rules) => {
                    tracing::info!(rules, "ruleset reloaded");
                    println!("rampart: ruleset reloaded ({rules} rules)");
                }
                Err(err) => {
                    tracing::error!("reload refused, the running ruleset stays: {err:#}");
                    println!("rampart: reload refused: {err:#}");
                }
            }
        }
        if dump.swap(false, Ordering::Relaxed) {
            print!("{}", format_report(&node.report()));
            println!("rampart: counters end");
        }
    }
    tracing::info!("stopping");
    let report = node.stop();
    print!("{}", format_report(&report));
    println!("rampart: stopped");
    Ok(())
}

/// Reads `path` again and swaps in its `<filter>` and `<nat>` rules. The ports must be the ones the node
/// runs with (changing ports needs a restart). Returns the number of rules.
fn reload_rules(
    path: &std::path::Path,
    running: &rampart_control::config::Config,
    node: &Node,
) -> anyhow::Result<usize> {
    let config = load_config(path)?;
    let ports = port_map(&config);
    if ports != port_map(running) {
        bail!("the ports changed; restart the node to change ports");
    }
    let ruleset = compile_filter(&config, &ports)?;
    let nat = compile_nat(&config, &ports)?;
    let rules = ruleset.len();
    node.set_policy(ruleset, nat.nat)?;
    Ok(rules)
}

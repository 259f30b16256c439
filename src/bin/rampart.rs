//! `rampart --config FILE`: run one firewall node in the foreground until SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use clap::Parser;
use rampart::carp::CarpStatus;
use rampart::ctl::config::ConfigStore;
use rampart::ctl::{CarpHandles, NodeHandler, Sources, SyncHandles, announce};
use rampart::nat::compile_nat;
use rampart::report::format_report;
use rampart::ruleset::{compile_filter_report, port_map};
use rampart::setup::{load_config, node_spec};
use rampart::telemetry::{PUBLISH, RateKeeper};
use rampart_control::ctl::server::{Server, ServerConfig};
use rampart_control::metrics::http::MetricsServer;
use rampart_dataplane::Node;
use rampart_sync::status::SyncStatus;
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
        // Colour codes only for a terminal: logs written to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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

    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    // SIGUSR1 prints the counters without stopping (the control socket has them too).
    let dump = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, dump.clone())
        .context("installing signal handlers")?;
    // SIGHUP reloads the filter rules from the config file, keeping every state.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())
        .context("installing signal handlers")?;
    tracing::info!(version = rampart::VERSION, config = %args.config.display(), "starting");
    // SIGUSR2 writes every state to <config>.states (through the sync core).
    let list_states = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR2, list_states.clone())
        .context("installing signal handlers")?;
    let xml = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut node = Node::start(&spec).context("starting the dataplane")?;
    let sync = start_sync(
        &config,
        &mut node,
        list_states,
        args.config.with_extension("states"),
    )?;
    let links = Arc::new(ArcSwap::from_pointee(link_states(&node)));
    let carp = start_carp(
        &config,
        &args.config,
        &node,
        sync.as_ref().map(|s| s.status.clone()),
        links.clone(),
    )?;
    let store = Arc::new(ConfigStore::new(
        args.config.clone(),
        config.clone(),
        xml,
        node.policy_handle(),
        carp.as_ref().map(|c| c.vhids.clone()),
    ));
    let xmlrpc = rampart::xmlrpc::XmlrpcNode::start(&config, &args.config, store.clone())
        .context("starting XMLRPC configuration sync")?;
    for port in node.ports() {
        tracing::info!(port = %port.name, device = %port.device, mac = %port.mac, link_up = port.link_up, "port ready");
    }
    if spec.workers == 0 {
        bail!("no workers");
    }
    let mut rates = RateKeeper::default();
    let telemetry = Arc::new(ArcSwap::from_pointee(
        rates.next(Instant::now(), node.report()),
    ));
    let sources = Arc::new(Sources {
        started,
        workers: spec.workers,
        telemetry: telemetry.clone(),
        sync: sync.as_ref().map(|s| SyncHandles {
            status: s.status.clone(),
            resync: s.resync.clone(),
        }),
        carp: carp.as_ref().map(|c| CarpHandles {
            status: c.status.clone(),
            maintenance: c.maintenance.clone(),
            file: args.config.with_extension("maintenance"),
            vhids: c.vhids.clone(),
        }),
        ops: node.take_ops().map(Mutex::new),
        config: store,
        clock: node.clock(),
        xmlrpc: xmlrpc.as_ref().map(|x| x.handles()),
    });
    let (ctl, metrics) = start_servers(&config, &args.config, &sources)?;
    println!(
        "rampart: forwarding on {} ports with {} worker(s)",
        spec.ports.len(),
        spec.workers
    );
    let mut last_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
        links.store(Arc::new(link_states(&node)));
        if last_publish.elapsed() >= PUBLISH {
            last_publish = Instant::now();
            telemetry.store(Arc::new(rates.next(last_publish, node.report())));
        }
        if reload.swap(false, Ordering::Relaxed) {
            announce(&sources.config.reload());
        }
        if dump.swap(false, Ordering::Relaxed) {
            print!("{}", format_report(&node.report()));
            if let Some(sync) = &sync {
                print!("{}", sync.status.load().format());
            }
            if let Some(carp) = &carp {
                print!("{}", carp.status.load().format());
            }
            println!("rampart: counters end");
        }
    }
    tracing::info!("stopping");
    drop(metrics);
    ctl.stop();
    if let Some(carp) = &carp {
        // Bow out first (advbase 255, advskew 255: the backup takes over at once), and give
        // worker 0 a moment to send it before the workers stop.
        carp.stop.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(50));
    }
    // After the bow-out: an XMLRPC apply in progress may take its time to finish.
    if let Some(xmlrpc) = xmlrpc {
        xmlrpc.stop();
    }
    let report = node.stop();
    if let Some(carp) = carp {
        if carp.thread.join().is_err() {
            tracing::error!("the CARP thread panicked");
        }
        print!("{}", carp.status.load().format());
    }
    print!("{}", format_report(&report));
    if let Some(sync) = &sync {
        print!("{}", sync.status.load().format());
    }
    println!("rampart: stopped");
    Ok(())
}

/// The control socket (`<rampart><ctlsocket>`, else `<config>.sock`) and, with
/// `<rampart><metrics>`, the Prometheus endpoint.
fn start_servers(
    config: &rampart_control::config::Config,
    config_path: &Path,
    sources: &Arc<Sources>,
) -> anyhow::Result<(Server, Option<MetricsServer>)> {
    let settings = config.rampart.as_ref();
    let socket = settings
        .and_then(|r| r.ctl_socket.as_ref())
        .map_or_else(|| config_path.with_extension("sock"), PathBuf::from);
    let handler = Arc::new(NodeHandler::new(sources.clone()));
    let ctl =
        Server::start(ServerConfig::new(socket), handler).context("opening the control socket")?;
    let metrics = match settings.and_then(|r| r.metrics) {
        Some(addr) => {
            let sources = sources.clone();
            let render = Arc::new(move || rampart::metrics::render(&sources));
            let server = MetricsServer::start(addr, render)
                .with_context(|| format!("opening the metrics endpoint on {addr}"))?;
            println!("rampart: metrics on http://{}/metrics", server.addr());
            Some(server)
        }
        None => None,
    };
    Ok((ctl, metrics))
}

/// The CARP thread, its stop flag, its status and its maintenance switch.
struct CarpHandle {
    vhids: Arc<ArcSwap<Vec<rampart::carp::VhidSpec>>>,
    stop: Arc<AtomicBool>,
    status: Arc<ArcSwap<CarpStatus>>,
    maintenance: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// The sync core's status and its resync switch.
struct SyncHandle {
    status: Arc<ArcSwap<SyncStatus>>,
    resync: Arc<AtomicBool>,
}

/// Link state of every data port.
fn link_states(node: &Node) -> Vec<bool> {
    node.ports().iter().map(|p| p.link_up).collect()
}

/// Starts CARP when the node can run it (the dataplane opened its control link: CARP VIPs
/// at start, or VIPs that may come with a later config); it idles without vhids.
fn start_carp(
    config: &rampart_control::config::Config,
    config_path: &std::path::Path,
    node: &Node,
    sync_status: Option<Arc<ArcSwap<SyncStatus>>>,
    links: Arc<ArcSwap<Vec<bool>>>,
) -> anyhow::Result<Option<CarpHandle>> {
    let vhids = Arc::new(ArcSwap::from_pointee(rampart::carp::vhids(
        config,
        &port_map(config),
    )?));
    let Some(link) = node.control_link() else {
        return Ok(None);
    };
    let stop = Arc::new(AtomicBool::new(false));
    let status = Arc::new(ArcSwap::from_pointee(CarpStatus::default()));
    let maintenance = Arc::new(AtomicBool::new(rampart::carp::load_maintenance(
        &config_path.with_extension("maintenance"),
    )));
    let runtime = rampart::carp::CarpRuntime {
        vhids: vhids.clone(),
        link,
        clock: node.clock(),
        bulk_pending: Box::new(move || sync_status.as_ref().is_some_and(|s| s.load().demoted())),
        links_up: Box::new(move || links.load().as_ref().clone()),
        maintenance: maintenance.clone(),
        stop: stop.clone(),
        status: status.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("carp".into())
        .spawn(move || rampart::carp::run(runtime))
        .context("starting the CARP thread")?;
    Ok(Some(CarpHandle {
        vhids,
        stop,
        status,
        maintenance,
        thread,
    }))
}

/// Starts the sync core when the config turns pfsync on; returns where it publishes its
/// status and the switch that asks it for a bulk update.
fn start_sync(
    config: &rampart_control::config::Config,
    node: &mut Node,
    list_request: Arc<AtomicBool>,
    list_path: PathBuf,
) -> anyhow::Result<Option<SyncHandle>> {
    let resync = Arc::new(AtomicBool::new(false));
    let Some(settings) = rampart::sync::settings(config, list_request, list_path, resync.clone())?
    else {
        return Ok(None);
    };
    let status = Arc::new(ArcSwap::from_pointee(SyncStatus::failed(
        "starting".to_string(),
    )));
    let published = status.clone();
    node.run_sync(None, move |ends, stop| {
        rampart_sync::lcore::run(ends, settings, stop, published);
    })
    .context("starting the sync core")?;
    Ok(Some(SyncHandle { status, resync }))
}

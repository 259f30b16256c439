//! `make demo`: one rampart node between a client and a server, each in its own network
//! namespace; ping and a verified TCP transfer through the node, then its counters.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rampart_tests::node::{rampart_binary, single_node_config, start_node};
use rampart_tests::{
    Host, Lab, StreamsConfig, ping, require_root_and_tools, sweep_stale, tcp_streams, tcp_transfer,
};

fn main() {
    if let Err(err) = run() {
        eprintln!("demo failed: {err:#}");
        std::process::exit(1);
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut binary = None;
    let mut idle_seconds = 3u64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rampart" => binary = args.next().map(PathBuf::from),
            "--idle-seconds" => {
                idle_seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .context("--idle-seconds takes a whole number")?
            }
            other => bail!(
                "unknown argument {other:?} (usage: rampart-demo [--rampart PATH] [--idle-seconds N])"
            ),
        }
    }
    let binary = match binary {
        Some(b) => b,
        None => rampart_binary()?,
    };
    let started = Instant::now();
    require_root_and_tools()?;
    let swept = sweep_stale()?;
    if swept > 0 {
        println!("(removed {swept} objects left by an earlier run)");
    }

    step("building the lab: client — [LAN bridge] — fw1 (rampart) — [WAN bridge] — server");
    let lab = Lab::single_node()?;
    let a = lab.addressing().clone();
    println!(
        "namespaces {prefix}-*: client {} (gw {}), server {} (gw {}), rampart ports lan/wan over net_af_packet",
        a.client,
        a.lan_gateway,
        a.server,
        a.wan_gateway,
        prefix = lab.prefix()
    );

    step(&format!("starting {}", binary.display()));
    let node = start_node(
        &lab,
        Host::Fw1,
        &binary,
        &single_node_config(&lab, Host::Fw1),
    )?;
    println!(
        "rampart pid {} is forwarding (config {})",
        node.process.pid(),
        node.config.display()
    );

    step(&format!(
        "idle: the node's CPU use over {idle_seconds} s with no traffic (from /proc)"
    ));
    let before = node.cpu_time()?;
    std::thread::sleep(Duration::from_secs(idle_seconds));
    let used = node.cpu_time()? - before;
    println!(
        "{:.2} s of CPU in {idle_seconds} s = {:.1}% of one core (adaptive polling)",
        used.as_secs_f64(),
        100.0 * used.as_secs_f64() / idle_seconds.max(1) as f64
    );

    step("ping from the client: the firewall's LAN address, then the server through it");
    for (what, addr) in [("fw1 LAN", a.lan_gateway), ("server", a.server)] {
        let stats = ping(&lab, Host::Client, addr, 5, Duration::from_secs(10))?;
        println!(
            "ping {what} {addr}: {}/{} replies, avg rtt {}",
            stats.received,
            stats.transmitted,
            stats
                .rtt_avg_ms
                .map_or("-".into(), |ms| format!("{ms:.2} ms"))
        );
        if stats.received == 0 {
            bail!("no ping reply from {what} {addr}:\n{}", node.process.log());
        }
    }

    step("TCP through the node: one 32 MiB stream, every byte verified by the server");
    let single = tcp_transfer(&lab, Host::Client, Host::Server, a.server, 5201, 32 << 20)
        .with_context(|| format!("transfer failed; rampart log:\n{}", node.process.log()))?;
    println!(
        "{} bytes verified in {:.2} s = {:.0} Mbit/s",
        single.bytes, single.seconds, single.mbit_s
    );

    step("TCP through the node: 50 concurrent streams of 256 KiB");
    let many = tcp_streams(
        &lab,
        Host::Client,
        Host::Server,
        a.server,
        5202,
        &StreamsConfig {
            streams: 50,
            bytes_per_stream: 256 << 10,
            timeout: Duration::from_secs(60),
        },
    )?;
    println!(
        "{}/{} streams complete, {} bytes verified, {:.0} Mbit/s",
        many.streams_ok, many.streams, many.bytes_verified, many.mbit_s
    );
    if !many.all_ok() {
        bail!("streams failed: {:?}", many.errors);
    }

    step("stopping rampart (SIGTERM): its counters");
    let log = node.stop()?;
    let report: Vec<&str> = log
        .lines()
        .skip_while(|l| !l.starts_with("port "))
        .take_while(|l| !l.starts_with("rampart: stopped"))
        .collect();
    println!("{}", report.join("\n"));

    step("tearing the lab down");
    lab.teardown()?;
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

//! `make demo`: the product's promise, shown. Two rampart nodes (fw1 primary, fw2
//! secondary) with CARP VIPs on the LAN and the WAN and pfsync between them, a client and a
//! server in their own network namespaces. Transfers run from the client to the server
//! through the VIPs (outbound NAT to the WAN VIP); fw1 is SIGKILLed mid-transfer, fw2 takes
//! over with every connection, fw1 comes back, gets the states by bulk update and preempts;
//! the transfers complete with every byte verified. Then the report and the timeline.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rampart_tests::failover::{self, LAN_VIP, Loss, Scenario, WAN_VIP};
use rampart_tests::node::rampart_binary;
use rampart_tests::{require_root_and_tools, sweep_stale};

fn main() {
    if let Err(err) = run() {
        eprintln!("demo failed: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut binary = None;
    let mut streams = 8usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rampart" => binary = args.next().map(PathBuf::from),
            "--streams" => {
                streams = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| (1..=500).contains(n))
                    .context("--streams takes a number from 1 to 500")?
            }
            other => bail!(
                "unknown argument {other:?} (usage: rampart-demo [--rampart PATH] [--streams N])"
            ),
        }
    }
    let binary = match binary {
        Some(b) => b,
        None => rampart_binary()?,
    };
    let rampartctl = binary.with_file_name("rampartctl");
    if !rampartctl.exists() {
        bail!(
            "{} not found: build it beside rampart",
            rampartctl.display()
        );
    }
    let started = Instant::now();
    require_root_and_tools()?;
    let swept = sweep_stale()?;
    if swept > 0 {
        println!("(removed {swept} objects left by an earlier run)");
    }
    println!(
        "The lab, in network namespaces: client 10.10.1.10 (gateway: LAN VIP {LAN_VIP}) and \
         server 10.10.2.20 (gateway: WAN VIP {WAN_VIP}); fw1 and fw2 run {} with ports lan, wan \
         and sync over net_af_packet; CARP vhid 1 on lan and 2 on wan (advbase 1 s, fw2's \
         advskew 100); pfsync on the sync link; outbound NAT of the LAN to the WAN VIP.",
        binary.display()
    );
    // 1 MiB/s per stream for 24 s: the transfers outlast the kill, the takeover, fw1's
    // restart, its bulk update and its preemption.
    let rate = 1 << 20;
    let scenario = Scenario {
        streams,
        bytes_per_stream: 24 * rate,
        rate_per_stream: Some(rate),
        nat: true,
        loss: Loss::KillAndReturn,
        rampartctl: Some(rampartctl),
    };
    let outcome = failover::run(&binary, &scenario, &mut |step| println!("\n==> {step}"))?;
    println!("\n{outcome}");
    println!("done in {:.1} s", started.elapsed().as_secs_f64());
    if !outcome.all_survived() {
        bail!(
            "{} of {} connections did not survive",
            outcome.streams.streams - outcome.streams.streams_ok,
            outcome.streams.streams
        );
    }
    Ok(())
}

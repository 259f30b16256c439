//! The load harness end to end, without hugepages: `rampart-bench run` over small `net_pcap`
//! replays (router, firewall with a fill port, new connections with pfsync on); each run is
//! its own process (EAL starts once per process) with a unique DPDK file prefix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;
use std::process::Command;

use rampart_benches::load::run::RunResult;

fn workdir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rbtest-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(tag: &str, extra: &[&str]) -> RunResult {
    let dir = workdir(tag);
    let out = Command::new(env!("CARGO_BIN_EXE_rampart-bench"))
        .args(["run", "--workdir"])
        .arg(&dir)
        .args(["--prefix", &format!("rbtest-{tag}-{}", std::process::id())])
        .args(["--warmup", "0.5", "--secs", "1", "--timeout", "25"])
        .args(extra)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{tag}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn router_firewall_and_new_connections_forward_and_count() {
    let router = run(
        "rt",
        &["--mode", "router", "--flows", "64", "--rules", "10"],
    );
    assert!(router.rx_mpps > 0.0 && router.tx_mpps > 0.0, "{router:?}");
    assert!(router.drop_rate < 0.01, "{router:?}");
    assert!(router.cycles_per_packet > 0.0);

    // The fill port opens every connection (request and reply), 64 of them are replayed.
    let fw = run(
        "fw",
        &[
            "--mode",
            "firewall",
            "--flows",
            "64",
            "--connections",
            "256",
            "--rules",
            "50",
        ],
    );
    assert!(fw.rx_mpps > 0.0, "{fw:?}");
    assert!(fw.drop_rate < 0.01, "{fw:?}");
    assert_eq!(fw.states, 512, "two states per connection: {fw:?}");

    let new = run(
        "nc",
        &[
            "--mode",
            "firewall",
            "--new-connections",
            "--pfsync",
            "--flows",
            "2000",
            "--rules",
            "20",
        ],
    );
    assert_eq!(new.states_inserted, 4000, "{new:?}");
    assert!(new.inserts_per_s > 0.0 && new.sync_events > 0, "{new:?}");
}

//! Smoke tests of the network-namespace lab itself, with a plain Linux
//! router in fw1 standing in for rampart.  They need root; without it they
//! fail with a message saying so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use rampart_tests::lab::{list_netns, list_root_links, prefix_for};
use rampart_tests::{
    Host, Lab, Segment, StreamsConfig, iperf3_transfer, ping, require_root_and_tools, sweep_stale,
    tcp_streams, tcp_transfer, wait_until,
};

/// The tests count and sweep namespaces; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(e) = require_root_and_tools() {
        panic!("{e:#}");
    }
    guard
}

fn new_lab(ha: bool) -> Lab {
    let r = if ha {
        Lab::ha_pair()
    } else {
        Lab::single_node()
    };
    r.unwrap_or_else(|e| panic!("building lab: {e:#}"))
}

/// Namespaces and root-namespace interfaces whose names start with `prefix`.
fn leftovers(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = list_netns()
        .unwrap()
        .into_iter()
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.extend(
        list_root_links()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(prefix)),
    );
    // Also via the tool, as a user would look.
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    v.extend(
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string),
    );
    v
}

/// Turns fw1 into a plain router: the addresses rampart would own, and
/// kernel forwarding.
fn make_router(lab: &Lab) {
    let a = lab.addressing().clone();
    for (seg, gw) in [(Segment::Lan, a.lan_gateway), (Segment::Wan, a.wan_gateway)] {
        let cidr = format!("{gw}/{}", a.prefix_len);
        let dev = lab.fw_iface(Host::Fw1, seg);
        lab.exec_ok(Host::Fw1, &["ip", "addr", "add", &cidr, "dev", &dev])
            .unwrap();
    }
    lab.exec_ok(Host::Fw1, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        .unwrap();
}

fn netns_inode() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn single_node_router_ping_and_verified_tcp() {
    let _serial = serial();
    let started = Instant::now();
    let lab = new_lab(false);
    let prefix = lab.prefix().to_string();
    make_router(&lab);
    let server = lab.addressing().server;

    // Threads spawned from a namespace thread stay in that namespace (the
    // multi-stream sender relies on it); nothing runs in the root ns.
    let root = netns_inode();
    let (inner, child) = lab
        .in_ns(Host::Client, || {
            let inner = netns_inode();
            let child = std::thread::spawn(netns_inode).join().unwrap();
            Ok((inner, child))
        })
        .unwrap();
    assert_ne!(inner, root);
    assert_eq!(inner, child);

    let stats = ping(&lab, Host::Client, server, 3, Duration::from_secs(8)).unwrap();
    eprintln!("ping client -> {server}: {stats:?}");
    assert_eq!(stats.transmitted, 3);
    assert!(stats.received >= 2, "{stats:?}");

    // Nobody answers: losses are counted, not errors.
    let silent = std::net::Ipv4Addr::new(10, 10, 2, 99);
    let stats = ping(&lab, Host::Client, silent, 2, Duration::from_secs(2)).unwrap();
    assert_eq!(stats.received, 0, "{stats:?}");
    assert!(stats.transmitted >= 1, "{stats:?}");

    let bytes = 2 * 1024 * 1024;
    let r = tcp_transfer(&lab, Host::Client, Host::Server, server, 5201, bytes).unwrap();
    eprintln!("tcp 2 MiB: {r:?}");
    assert_eq!(r.bytes, bytes);

    let cfg = StreamsConfig {
        streams: 200,
        bytes_per_stream: 64 * 1024,
        timeout: Duration::from_secs(15),
        rate_per_stream: None,
    };
    let r = tcp_streams(&lab, Host::Client, Host::Server, server, 5202, &cfg).unwrap();
    eprintln!(
        "200 streams: ok {} verified {} in {:.2}s",
        r.streams_ok, r.bytes_verified, r.seconds
    );
    assert!(r.all_ok(), "{:?}", r.errors);
    assert_eq!(r.bytes_verified, 200 * 64 * 1024);

    // A closed port fails cleanly and quickly rather than hanging.
    let cfg = StreamsConfig {
        streams: 1,
        bytes_per_stream: 10,
        timeout: Duration::from_secs(5),
        rate_per_stream: None,
    };
    let t = Instant::now();
    let r = tcp_streams(
        &lab,
        Host::Server,
        Host::Server,
        lab.addressing().client,
        5203,
        &cfg,
    )
    .unwrap();
    assert_eq!(r.streams_ok, 0);
    assert!(!r.errors.is_empty());
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "took {:?}",
        t.elapsed()
    );

    if Command::new("sh")
        .args(["-c", "command -v iperf3"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let r =
            iperf3_transfer(&lab, Host::Client, Host::Server, server, 5204, 1024 * 1024).unwrap();
        eprintln!("iperf3 1 MiB: {r:?}");
        assert!(r.bytes >= 1024 * 1024);
    } else {
        eprintln!("iperf3 not installed; skipping the iperf3 part");
    }

    lab.teardown().unwrap();
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    eprintln!("smoke test took {:?}", started.elapsed());
}

#[test]
fn ha_pair_has_unaddressed_firewall_ports() {
    let _serial = serial();
    let lab = new_lab(true);
    let prefix = lab.prefix().to_string();
    assert_eq!(lab.firewalls(), vec![Host::Fw1, Host::Fw2]);
    for fw in lab.firewalls() {
        for seg in Segment::ALL {
            let dev = lab.fw_iface(fw, seg);
            let link = lab
                .exec_ok(fw, &["ip", "-o", "link", "show", "dev", &dev])
                .unwrap();
            assert!(link.contains("LOWER_UP"), "{fw}/{dev}: {link}");
            assert!(link.contains(&lab.mac(fw, seg).unwrap()), "{link}");
            let addrs = lab
                .exec_ok(fw, &["ip", "-o", "addr", "show", "dev", &dev])
                .unwrap();
            assert!(addrs.trim().is_empty(), "{fw}/{dev} has addresses: {addrs}");
            let k = lab.exec_ok(fw, &["ethtool", "-k", &dev]).unwrap();
            for feature in [
                "tx-checksumming: off",
                "rx-checksumming: off",
                "generic-segmentation-offload: off",
            ] {
                assert!(k.contains(feature), "{fw}/{dev}: {feature} missing in\n{k}");
            }
        }
    }
    assert!(lab.exec(Host::Fw2, &["true"]).unwrap().status.success());
    let single = new_lab(false);
    assert!(
        single.exec(Host::Fw2, &["true"]).is_err(),
        "single-node lab has no fw2"
    );
    assert_ne!(single.prefix(), lab.prefix());
    drop(single);
    lab.teardown().unwrap();
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
}

#[test]
fn panicking_test_body_still_tears_down() {
    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    let body = std::thread::spawn(move || {
        let lab = new_lab(false);
        // A process the lab doesn't own (as a crashed test would leave).
        let out = lab
            .exec_ok(
                Host::Fw1,
                &["sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"],
            )
            .unwrap();
        let orphan: u32 = out.trim().parse().unwrap();
        // And one it does own.
        let owned = lab
            .spawn(Host::Server, &["sleep", "60"], &lab.log_path("sleep"))
            .unwrap();
        tx.send((lab.prefix().to_string(), orphan, owned.pid()))
            .unwrap();
        panic!("deliberate panic inside a lab test");
    });
    assert!(body.join().is_err(), "the body should have panicked");
    let (prefix, orphan, owned) = rx.recv().unwrap();
    assert_eq!(leftovers(&prefix), Vec::<String>::new());
    // Logs of a panicking test are kept for the post-mortem.
    let logs = std::env::temp_dir().join(&prefix);
    assert!(logs.join("sleep.log").exists());
    std::fs::remove_dir_all(&logs).unwrap();
    for pid in [orphan, owned] {
        let gone =
            rampart_tests::wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
                // Gone, or a zombie waiting for its parent.
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
                    .unwrap_or(true)
            });
        assert!(gone, "process {pid} survived the teardown");
    }
}

#[test]
fn sweep_removes_only_dead_runs() {
    let _serial = serial();
    sweep_stale().unwrap();

    // A pid that certainly belonged to a process that has exited.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{dead}")).exists());
    let stale = prefix_for(dead, 0);
    let live = prefix_for(std::process::id(), 4000);

    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    let (stale_sw, stale_fw, live_sw) = (
        format!("{stale}-sw"),
        format!("{stale}-fw1"),
        format!("{live}-sw"),
    );
    for ns in [&stale_sw, &stale_fw, &live_sw] {
        ip(&["netns", "add", ns]);
    }
    ip(&[
        "-n", &stale_fw, "link", "add", "lan", "type", "veth", "peer", "name", "fw1-lan", "netns",
        &stale_sw,
    ]);
    // A daemon a killed run left behind inside its namespace.
    let mut daemon = Command::new("ip")
        .args(["netns", "exec", &stale_fw, "sleep", "60"])
        .spawn()
        .unwrap();
    // `ip netns exec` enters the namespace asynchronously: wait until the process is inside,
    // or the sweep may run before there is anything to kill.
    let inside = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        Command::new("ip")
            .args(["netns", "pids", &stale_fw])
            .output()
            .is_ok_and(|o| !o.stdout.trim_ascii().is_empty())
    });
    assert!(inside, "the fake daemon never appeared in {stale_fw}");
    let dpdk_dir = std::path::Path::new("/var/run/dpdk").join(format!("{stale}-fw1"));
    std::fs::create_dir_all(&dpdk_dir).unwrap();
    std::fs::write(dpdk_dir.join("config"), b"x").unwrap();

    let removed = sweep_stale().unwrap();
    let names = list_netns().unwrap();
    let live_survived = names.contains(&live_sw);
    // Clean up the fake live lab before asserting.
    ip(&["netns", "delete", &live_sw]);

    assert_eq!(removed, 3, "two namespaces and one DPDK dir");
    assert!(live_survived, "sweep removed a live process's namespace");
    assert!(!names.iter().any(|n| n.starts_with(&stale)), "{names:?}");
    assert!(!dpdk_dir.exists());
    let status = daemon.wait().unwrap();
    assert!(
        !status.success(),
        "daemon should have been killed: {status}"
    );
    assert_eq!(sweep_stale().unwrap(), 0);
}

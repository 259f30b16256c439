//! The control socket and `rampartctl` against running nodes, as an operator uses them: every
//! command on an HA pair in the namespace lab (CARP VIPs, pfsync, 50 TCP connections through
//! fw1), the Prometheus endpoint read by Python's `prometheus_client` parser, and bad input —
//! unknown commands, malformed JSON, another protocol version, an oversized line, another
//! user — on a node over `net_ring` vdevs. Needs root and built `rampart` and `rampartctl`
//! binaries (`make test` does both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rampart_tests::node::{HaNode, RunningNode, rampart_binary, start_node};
use rampart_tests::{Host, Lab, LabProcess, Signal, wait_until};
use serde_json::Value;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const LAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 254);
const WAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 254);
const CONNECTIONS: u64 = 50;

/// Holds every accepted connection open.
const SERVER: &str = r#"
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 5001)); ls.listen(512); sel.register(ls, selectors.EVENT_READ)
print('listening', flush=True)
while True:
    for key, _ in sel.select(1):
        s = key.fileobj
        if s is ls:
            c, _ = ls.accept(); sel.register(c, selectors.EVENT_READ)
        elif not s.recv(100):
            sel.unregister(s); s.close()
"#;

/// Opens N connections, sends a few bytes on each, and holds them.
const CLIENT: &str = r#"
import socket, sys, time
n, server = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(n):
    s = socket.socket(); s.settimeout(10); s.connect((server, 5001)); s.sendall(b'hello'); socks.append(s)
print('open', len(socks), flush=True)
time.sleep(600)
"#;

/// Fetches the endpoint, parses it with the reference parser, prints `name{labels} value`.
const SCRAPE: &str = r#"
import sys, urllib.request
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen(sys.argv[1], timeout=5).read().decode()
for family in text_string_to_metric_families(body):
    for s in family.samples:
        labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))
        print(f'{s.name}{{{labels}}} {s.value}')
"#;

fn ctl_binary() -> PathBuf {
    rampart_binary().unwrap().with_file_name("rampartctl")
}

/// Runs `rampartctl --socket SOCKET ARGS`: exit code, stdout, stderr.
fn ctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    ctl_as(socket, args, None)
}

fn ctl_as(socket: &Path, args: &[&str], uid: Option<u32>) -> (i32, String, String) {
    let mut cmd = Command::new(ctl_binary());
    cmd.arg("--socket").arg(socket).args(args);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rampartctl --json ARGS`, which must succeed.
fn json(socket: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = ctl(socket, &all);
    assert_eq!(code, 0, "rampartctl {args:?}: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn socket_of(node: &RunningNode) -> PathBuf {
    node.config.with_extension("sock")
}

fn vip(iface: &str, vhid: u8, advskew: u8, addr: Ipv4Addr) -> String {
    format!(
        "<vip><mode>carp</mode><interface>{iface}</interface><vhid>{vhid}</vhid>\
         <advskew>{advskew}</advskew><advbase>1</advbase><password>ctl-{vhid}</password>\
         <uniqid>65a0000000{vhid:03}</uniqid><type>single</type><subnet_bits>24</subnet_bits>\
         <subnet>{addr}</subnet></vip>"
    )
}

fn roles(socket: &Path) -> Vec<String> {
    let carp = json(socket, &["carp", "status"]);
    carp["vhids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap().to_string())
        .collect()
}

fn wait_roles(socket: &Path, role: &str) -> bool {
    wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        roles(socket).iter().all(|r| r == role)
    })
}

fn spawn_python(lab: &Lab, host: Host, script: &str, args: &[&str], ready: &str) -> LabProcess {
    let mut argv = vec!["python3", "-c", script];
    argv.extend_from_slice(args);
    let p = lab
        .spawn(host, &argv, &lab.log_path(&format!("{host:?}-py")))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(50), || p
            .log()
            .contains(ready)),
        "{}",
        p.log()
    );
    p
}

#[test]
fn every_command_against_an_ha_pair() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    let member = |fw, skew, extra: &str| HaNode {
        virtualip: vip("lan", 1, skew, LAN_VIP) + &vip("wan", 2, skew, WAN_VIP),
        rampart_extra: extra.to_string(),
        ..HaNode::new(fw)
    };
    let spec1 = member(Host::Fw1, 0, "<metrics>127.0.0.1:9100</metrics>");
    let mut fw1 = start_node(&lab, Host::Fw1, &binary, &spec1.config(&lab)).unwrap();
    let fw2 = start_node(
        &lab,
        Host::Fw2,
        &binary,
        &member(Host::Fw2, 100, "").config(&lab),
    )
    .unwrap();
    let (s1, s2) = (socket_of(&fw1), socket_of(&fw2));
    let mode = std::fs::metadata(&s1).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");
    assert!(wait_roles(&s1, "MASTER"), "fw1: {:?}", roles(&s1));
    assert!(wait_roles(&s2, "BACKUP"), "fw2: {:?}", roles(&s2));

    let server = lab.addressing().server.to_string();
    let _server = spawn_python(&lab, Host::Server, SERVER, &[&server], "listening");
    let n = CONNECTIONS.to_string();
    let _client = spawn_python(&lab, Host::Client, CLIENT, &[&n, &server], "open");

    // status: human and JSON.
    let (code, out, err) = ctl(&s1, &["status"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("node      fw1 (pid "), "{out}");
    for want in [
        "vhid 1 on lan MASTER",
        "vhid 2 on wan MASTER",
        "sync      opt1 (sync0) -> 224.0.0.240",
    ] {
        assert!(out.contains(want), "no {want:?} in\n{out}");
    }
    let status = json(&s1, &["status"]);
    assert_eq!(status["hostname"], "fw1");
    assert!(status["version"].as_str().unwrap().contains("DPDK"));
    assert_eq!(status["config"]["how"], "start");
    assert_eq!(status["config"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(status["workers"], 1);

    // carp status.
    let (code, out, _) = ctl(&s1, &["carp", "status"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("VHID  IFACE  STATE"), "{out}");

    // states: every connection holds two states on fw1 (LAN in, WAN out).
    let want = 2 * CONNECTIONS;
    let mut listed = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            listed = json(&s1, &["states", "--proto", "tcp", "--port", "5001"]);
            listed["matched"] == want
        }),
        "{listed}"
    );
    assert_eq!(listed["states"].as_array().unwrap().len() as u64, want);
    let client_ip = lab.addressing().client.to_string();
    let first = &listed["states"][0];
    assert_eq!(first["state"], "ESTABLISHED:ESTABLISHED", "{first}");
    assert!(
        first["src"].as_str().unwrap().starts_with(&client_ip),
        "{first}"
    );
    let (code, out, _) = ctl(&s1, &["states", "--port", "5001", "--limit", "5"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!(", {want} match, 5 shown")), "{out}");
    assert!(out.contains("tcp    in   "), "{out}");
    let lan = json(
        &s1,
        &["states", "count", "--iface", "lan", "--proto", "tcp"],
    );
    assert_eq!(
        lan["matched"], CONNECTIONS,
        "states created by the LAN rule: {lan}"
    );
    let by_addr = json(
        &s1,
        &["states", "count", "--addr", &format!("{client_ip}/32")],
    );
    assert_eq!(by_addr["matched"], want);
    let (code, out, _) = ctl(
        &s1,
        &["states", "count", "--proto", "tcp", "--port", "5001"],
    );
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("{want} of ")), "{out}");

    // fw2 has them by pfsync; sync status and a resync with progress.
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            json(&s2, &["states", "count", "--port", "5001"])["matched"] == want
        }),
        "fw2 never held fw1's states"
    );
    let (code, out, err) = ctl(&s2, &["sync", "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("interface  opt1 (sync0) -> 224.0.0.240"),
        "{out}"
    );
    let (code, out, err) = ctl(&s2, &["sync", "resync"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("resync 1 taken: bulk "), "{out}");
    assert!(
        err.contains(&format!("bulk update done: {want} states")),
        "{err}"
    );
    let sync2 = json(&s2, &["sync", "status"]);
    assert_eq!(sync2["resyncs"], 1);
    assert_eq!(sync2["bulk"]["state"], "done");
    assert_eq!(sync2["bulk"]["demoting"], false);
    // The operator's resync did not demote fw2 (it would have been a 240 demotion).
    assert_eq!(json(&s2, &["carp", "status"])["demotion"], 0);
    // A session for the README.
    for (socket, name, args) in [
        (&s1, "fw1", &["status"][..]),
        (&s2, "fw2", &["sync", "status"][..]),
        (&s1, "fw1", &["carp", "status"][..]),
    ] {
        let (_, out, _) = ctl(socket, args);
        eprintln!("{name}# rampartctl {}\n{out}", args.join(" "));
    }

    // rules: the LAN rule created one state per connection, all alive.
    let rules = json(&s1, &["rules"]);
    let lan_rule = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tracker"] == "1000000101")
        .unwrap()
        .clone();
    assert_eq!(lan_rule["states"], CONNECTIONS, "{lan_rule}");
    assert!(
        lan_rule["evaluations"].as_u64().unwrap() >= CONNECTIONS,
        "{lan_rule}"
    );
    assert!(lan_rule["bytes"].as_u64().unwrap() > 0, "{lan_rule}");
    let (code, out, _) = ctl(&s1, &["rules"]);
    assert_eq!(code, 0);
    assert!(out.contains("Default allow LAN to any rule"), "{out}");

    // stats.
    let stats = json(&s1, &["stats"]);
    assert!(
        stats["workers"][0]["rx_packets"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let (code, out, _) = ctl(&s1, &["stats"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("WORKER  RX/s"), "{out}");

    // Metrics, read in fw1's namespace by the reference parser.
    let scraped = lab
        .exec_ok(
            Host::Fw1,
            &[
                "/usr/bin/python3",
                "-c",
                SCRAPE,
                "http://127.0.0.1:9100/metrics",
            ],
        )
        .unwrap();
    for want_line in [
        format!("rampart_states{{worker=0}} {}.0", want),
        "rampart_carp_role{interface=lan,role=MASTER,vhid=1} 1.0".to_string(),
        "rampart_pfsync_bulk_state{state=done} 1.0".to_string(),
    ] {
        assert!(
            scraped.lines().any(|l| l == want_line),
            "no {want_line:?} in\n{scraped}"
        );
    }
    for name in [
        "rampart_rx_packets_total{",
        "rampart_drops_total{",
        "rampart_state_inserts_total{",
        "rampart_carp_transitions_total{",
        "rampart_pfsync_frames_sent_total{",
        "rampart_pfsync_lag_seconds{",
    ] {
        assert!(scraped.contains(name), "no {name} in\n{scraped}");
    }

    // config: show, check, apply (good and bad), reload.
    let shown = json(&s1, &["config", "show"]);
    let file = std::fs::read_to_string(&fw1.config).unwrap();
    assert_eq!(shown["xml"].as_str().unwrap(), file);
    let dir = fw1.config.parent().unwrap().to_path_buf();
    let edited = dir.join("fw1-edited.xml");
    std::fs::write(
        &edited,
        file.replace("Default allow LAN to any rule", "LAN out"),
    )
    .unwrap();
    let bad = dir.join("fw1-bad.xml");
    std::fs::write(
        &bad,
        file.replace("<subnet>24</subnet>", "<subnet>33</subnet>"),
    )
    .unwrap();
    let (code, out, _) = ctl(&s1, &["config", "check", edited.to_str().unwrap()]);
    assert_eq!(
        (code, out.starts_with("valid: 2 filter rules")),
        (0, true),
        "{out}"
    );
    let (code, _, err) = ctl(&s1, &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/pfsense/interfaces/lan/subnet"), "{err}");
    let (code, _, err) = ctl(&s1, &["config", "apply", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        std::fs::read_to_string(&fw1.config).unwrap(),
        file,
        "a refused apply left the file"
    );
    let (code, out, err) = ctl(&s1, &["config", "apply", edited.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("applied: 2 filter rules"), "{out}");
    assert!(
        std::fs::read_to_string(&fw1.config)
            .unwrap()
            .contains("LAN out")
    );
    assert_eq!(json(&s1, &["status"])["config"]["how"], "apply");
    let rules = json(&s1, &["rules"]);
    assert!(
        rules["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["descr"] == "LAN out")
    );
    let (code, out, _) = ctl(&s1, &["config", "reload"]);
    assert_eq!((code, out.starts_with("applied:")), (0, true), "{out}");
    // The states lived through both swaps.
    assert_eq!(
        json(&s1, &["states", "count", "--port", "5001"])["matched"],
        want
    );

    // sync diff: fw1 pushes to no XMLRPC secondary.
    let (code, _, err) = ctl(&s1, &["sync", "diff"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("XMLRPC Synchronization is not configured"),
        "{err}"
    );

    // Maintenance mode: persisted, and fw2 takes the VIPs at once; off gives them back.
    let (code, out, err) = ctl(&s1, &["carp", "maintenance", "on"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("maintenance on"), "{out}");
    let record = std::fs::read_to_string(fw1.config.with_extension("maintenance")).unwrap();
    assert!(record.contains("maintenance=on"), "{record}");
    assert!(wait_roles(&s2, "MASTER"), "fw2: {:?}", roles(&s2));
    assert!(wait_roles(&s1, "BACKUP"), "fw1: {:?}", roles(&s1));
    let (code, _, _) = ctl(&s1, &["carp", "maintenance", "off"]);
    assert_eq!(code, 0);
    assert!(wait_roles(&s1, "MASTER"), "fw1: {:?}", roles(&s1));
    assert!(wait_roles(&s2, "BACKUP"), "fw2: {:?}", roles(&s2));

    // Kill: fw1's states go, and pfsync takes fw2's with them.
    let (code, out, _) = ctl(&s1, &["states", "kill", "--proto", "tcp", "--port", "5001"]);
    assert_eq!(code, 0);
    assert!(out.starts_with(&format!("killed {want} of ")), "{out}");
    assert_eq!(
        json(&s1, &["states", "count", "--port", "5001"])["matched"],
        0
    );
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
            json(&s2, &["states", "count", "--port", "5001"])["matched"] == 0
        }),
        "fw2 kept the killed states"
    );

    let _ = fw1.counters();
    fw2.stop().unwrap();
    fw1.stop().unwrap();
    assert!(!s1.exists(), "the socket outlived the node");
}

/// A node over `net_ring` ports, no lab needed: no pfsync, no CARP.
struct RingNode {
    process: LabProcess,
    socket: PathBuf,
    dir: PathBuf,
}

fn ring_node(name: &str) -> RingNode {
    let dir = std::env::temp_dir().join(format!("rampart-ctl-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = include_str!("../../control/examples/lab-node.xml")
        .replace("net_af_packet0,iface=PLACEHOLDER_LAN", "net_ring0")
        .replace("net_af_packet1,iface=PLACEHOLDER_WAN", "net_ring1")
        .replace("<rampart>", "<rampart><metrics>127.0.0.1:0</metrics>");
    let path = dir.join("node.xml");
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(rampart_binary().unwrap());
    cmd.arg("--config").arg(&path).args([
        "--file-prefix",
        &format!("ctl-{name}-{}", std::process::id()),
    ]);
    let process = LabProcess::start(cmd, &dir.join("node.log")).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            process.log().contains("rampart: forwarding on")
        }),
        "{}",
        process.log()
    );
    RingNode {
        process,
        socket: path.with_extension("sock"),
        dir,
    }
}

/// Sends `line` on a fresh connection; the node's answer.
fn raw(socket: &Path, line: &[u8]) -> Value {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = {
        let mut s = s.try_clone().unwrap();
        let line = line.to_vec();
        // A large line is still being written when the node answers and closes.
        std::thread::spawn(move || {
            let _ = s.write_all(&line);
        })
    };
    let mut answer = String::new();
    BufReader::new(&mut s).read_line(&mut answer).unwrap();
    writer.join().unwrap();
    serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[test]
fn bad_input_and_other_users_never_affect_the_node() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut node = ring_node("bad");
    let socket = node.socket.clone();
    let kind = |v: &Value| v["error"]["kind"].as_str().unwrap_or("").to_string();

    let cases: [(&[u8], &str); 6] = [
        (b"{\"v\":1,\"cmd\":\"frobnicate\"}\n", "unknown_command"),
        (b"status\n", "bad_json"),
        (b"{\"v\":1,\"cmd\":\n", "bad_json"),
        (b"{\"v\":2,\"cmd\":\"status\"}\n", "bad_version"),
        (
            b"{\"v\":1,\"cmd\":\"states\",\"args\":{\"port\":\"http\"}}\n",
            "bad_arguments",
        ),
        (b"[1,2,3]\n", "bad_request"),
    ];
    for (line, want) in cases {
        let answer = raw(&socket, line);
        assert_eq!(kind(&answer), want, "{answer}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    let unknown = raw(&socket, b"{\"v\":1,\"cmd\":\"frobnicate\"}\n");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sync.status"),
        "{unknown}"
    );
    let huge = vec![b'x'; 9 << 20];
    assert_eq!(kind(&raw(&socket, &huge)), "too_long");
    // One connection goes on after a bad request.
    let mut c = UnixStream::connect(&socket).unwrap();
    c.write_all(b"nonsense\n{\"v\":1,\"cmd\":\"status\"}\n")
        .unwrap();
    let mut r = BufReader::new(c);
    let (mut a, mut b) = (String::new(), String::new());
    r.read_line(&mut a).unwrap();
    r.read_line(&mut b).unwrap();
    assert!(
        a.contains("bad_json") && b.contains("\"hostname\":\"lab-node\""),
        "{a}{b}"
    );

    // Features the node does not run, usage errors, no socket.
    let (code, _, err) = ctl(&socket, &["sync", "status"]);
    assert_eq!(code, 1);
    assert!(err.contains("pfsync is not enabled"), "{err}");
    let (code, _, err) = ctl(&socket, &["carp", "maintenance", "on"]);
    assert_eq!(code, 1);
    assert!(err.contains("CARP is not running"), "{err}");
    assert_eq!(ctl(&socket, &["frobnicate"]).0, 2);
    assert_eq!(ctl(&socket, &["carp", "maintenance", "maybe"]).0, 2);
    assert_eq!(ctl(&node.dir.join("none.sock"), &["status"]).0, 3);
    let (code, _, err) = ctl(&socket, &["states", "kill"]);
    assert_eq!(code, 1);
    assert!(err.contains("refusing to kill every state"), "{err}");
    // Without pfsync, kills still work (here: nothing to kill).
    let (code, out, _) = ctl(&socket, &["states", "kill", "--proto", "udp"]);
    assert_eq!((code, out.as_str()), (0, "killed 0 of 0 states\n"));

    // Another user: the socket's mode stops it; opened up, the peer check still does.
    let nobody = 65534;
    let (code, _, err) = ctl_as(&socket, &["status"], Some(nobody));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("ermission denied"), "{err}");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, err) = ctl_as(&socket, &["status"], Some(nobody));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("uid 65534 may not use this socket"), "{err}");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600)).unwrap();

    // The node is unharmed.
    let status = json(&socket, &["status"]);
    assert_eq!(status["hostname"], "lab-node");
    assert!(node.process.is_running());
    assert!(
        node.process.log().contains("control client refused"),
        "no log of the refusal"
    );

    // Its metrics parse.
    let log = node.process.log();
    let url = log
        .lines()
        .find_map(|l| l.strip_prefix("rampart: metrics on "))
        .unwrap()
        .to_string();
    let out = Command::new("/usr/bin/python3")
        .args(["-c", SCRAPE, &url])
        .output()
        .unwrap();
    let scraped = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        scraped.contains("rampart_drops_total{reason=not_our_mac,worker=0} 0.0"),
        "{scraped}"
    );
    assert!(
        !scraped.contains("rampart_carp"),
        "no CARP, no CARP metrics"
    );

    node.process.signal(Signal::SIGTERM).unwrap();
    let status = node.process.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        node.process.log()
    );
    assert!(!socket.exists());
    let _ = std::fs::remove_dir_all(&node.dir);
}

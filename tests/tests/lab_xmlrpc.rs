//! XMLRPC configuration sync between two running nodes, tried as a new user would: fw2
//! starts with only its node-local settings (interfaces, pfsync, ports, its XMLRPC server
//! on the management link) and the XMLRPC user; fw1, the primary, pins fw2's certificate
//! and pushes its config at start. Then: fw2 runs fw1's rules and CARP VIPs (advskew + 100);
//! `sync diff` on fw1 shows a hand edit on fw2 and nothing once fw1 pushed again; a rule
//! changed on fw1 with `rampartctl config apply` is enforced by fw2 within 5 s while a TCP
//! connection through fw2 (client and server routed through it) keeps flowing; with fw2
//! stopped, fw1 reports the failed push with its reason in `rampartctl sync status` and in
//! its metrics (read by Python's `prometheus_client`). Needs root and built `rampart` and
//! `rampartctl` binaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rampart_tests::lab::MANAGEMENT;
use rampart_tests::node::{HaNode, rampart_binary, start_node, xmlrpc_fingerprint};
use rampart_tests::{Host, Lab, LabProcess, wait_until};
use serde_json::Value;

const LAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 254);
const WAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 254);
const XMLRPC_PORT: u16 = 8443;

/// Echoes every connection's bytes back.
const ECHO_SERVER: &str = r#"
import selectors, socket, sys
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 5001)); ls.listen(64); sel.register(ls, selectors.EVENT_READ)
print('listening', flush=True)
while True:
    for key, _ in sel.select(1):
        s = key.fileobj
        if s is ls:
            c, _ = ls.accept(); sel.register(c, selectors.EVENT_READ)
        else:
            try:
                d = s.recv(100)
            except OSError:
                d = b''
            if d:
                s.sendall(d)
            else:
                sel.unregister(s); s.close()
"#;

/// One connection, a ping every 100 ms; prints `ok N` every 10 pings and `broken ...` on
/// the first failure (then exits).
const PINGER: &str = r#"
import socket, sys, time
s = socket.socket(); s.settimeout(3); s.connect((sys.argv[1], 5001))
print('connected', flush=True)
n = 0
while True:
    try:
        s.sendall(b'ping'); d = b''
        while len(d) < 4:
            r = s.recv(4 - len(d))
            if not r: raise OSError('closed by peer')
            d += r
    except OSError as e:
        print('broken after %d: %s' % (n, e), flush=True); sys.exit(1)
    n += 1
    if n % 10 == 0: print('ok %d' % n, flush=True)
    time.sleep(0.1)
"#;

/// A new connection: `open` or `blocked`.
const PROBE: &str = r#"
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], 5001)); s.sendall(b'ping'); print('open' if s.recv(4) == b'ping' else 'odd')
except OSError:
    print('blocked')
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

/// `rampartctl --socket SOCKET ARGS`: exit code, stdout, stderr.
fn ctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ctl_binary())
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .unwrap();
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

fn vip(iface: &str, vhid: u8, advskew: u8, addr: Ipv4Addr) -> String {
    format!(
        "<vip><mode>carp</mode><interface>{iface}</interface><vhid>{vhid}</vhid>\
         <advskew>{advskew}</advskew><advbase>1</advbase><password>xmlrpc-{vhid}</password>\
         <uniqid>65b0000000{vhid:03}</uniqid><type>single</type><subnet_bits>24</subnet_bits>\
         <subnet>{addr}</subnet></vip>"
    )
}

/// `(vhid, advskew, state)` of every vhid the node runs.
fn vhids(socket: &Path) -> Vec<(u64, u64, String)> {
    let (code, out, _) = ctl(socket, &["--json", "carp", "status"]);
    if code != 0 {
        return Vec::new();
    }
    let carp: Value = serde_json::from_str(&out).unwrap();
    carp["vhids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["vhid"].as_u64().unwrap(),
                v["advskew"].as_u64().unwrap(),
                v["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn rule_descrs(socket: &Path) -> Vec<String> {
    json(socket, &["rules"])["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["descr"].as_str().unwrap().to_owned())
        .collect()
}

/// fw1's XMLRPC push state, once no push is running.
fn push_state(socket: &Path) -> Value {
    json(socket, &["sync", "status"])["xmlrpc"].clone()
}

fn spawn_python(lab: &Lab, host: Host, name: &str, script: &str, args: &[&str]) -> LabProcess {
    let mut argv = vec!["python3", "-u", "-c", script];
    argv.extend_from_slice(args);
    lab.spawn(host, &argv, &lab.log_path(name)).unwrap()
}

fn probe(lab: &Lab, server: &str) -> String {
    let out = lab
        .exec_timeout(
            Host::Client,
            &["python3", "-c", PROBE, server],
            Duration::from_secs(5),
        )
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn scrape(lab: &Lab) -> String {
    lab.exec_ok(
        Host::Fw1,
        &[
            "/usr/bin/python3",
            "-c",
            SCRAPE,
            "http://127.0.0.1:9100/metrics",
        ],
    )
    .unwrap()
}

#[test]
fn secondary_takes_its_config_from_the_primary() {
    let binary = rampart_binary().unwrap();
    // Lab::drop removes the namespaces (and the management link in them) even on a panic.
    let lab = Lab::ha_pair().unwrap();
    lab.add_management_link().unwrap();
    let mgmt2 = MANAGEMENT[1];

    // fw2: node-local settings and the XMLRPC user only.
    let fw2_spec = HaNode {
        rampart_extra: format!("<xmlrpc><listen>{mgmt2}:{XMLRPC_PORT}</listen></xmlrpc>"),
        ..HaNode::new(Host::Fw2)
    };
    let bootstrap = fw2_spec.bootstrap_config(&lab);
    assert!(
        !bootstrap.contains("<filter>") && !bootstrap.contains("<virtualip>"),
        "{bootstrap}"
    );
    let fw2 = start_node(&lab, Host::Fw2, &binary, &bootstrap).unwrap();
    let s2 = fw2.config.with_extension("sock");
    let log = fw2.process.log();
    let fingerprint =
        xmlrpc_fingerprint(&log).unwrap_or_else(|| panic!("fw2 printed no certificate:\n{log}"));
    assert!(rule_descrs(&s2).is_empty(), "fw2 starts with no rules");
    assert!(vhids(&s2).is_empty(), "fw2 starts with no VIPs");

    // fw1: the primary, pinning fw2's certificate.
    let fw1_spec = HaNode {
        virtualip: vip("lan", 1, 0, LAN_VIP) + &vip("wan", 2, 0, WAN_VIP),
        system: format!("<webgui><protocol>https</protocol><port>{XMLRPC_PORT}</port></webgui>"),
        hasync_extra: format!(
            "<synchronizetoip>{mgmt2}</synchronizetoip><username>admin</username>\
             <password>pfsense</password><synchronizerules>on</synchronizerules>\
             <synchronizealiases>on</synchronizealiases><synchronizenat>on</synchronizenat>\
             <synchronizevirtualip>on</synchronizevirtualip>"
        ),
        rampart_extra: format!(
            "<metrics>127.0.0.1:9100</metrics><xmlrpc><peerfingerprint>{fingerprint}</peerfingerprint></xmlrpc>"
        ),
        ..HaNode::new(Host::Fw1)
    };
    let fw1_config = fw1_spec.config(&lab);
    let fw1 = start_node(&lab, Host::Fw1, &binary, &fw1_config).unwrap();
    let s1 = fw1.config.with_extension("sock");

    // fw1 pushed at start: fw2 runs its rules and its VIPs, with advskew + 100.
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(200), || {
            push_state(&s1)["state"] != "running" && push_state(&s1)["last"].is_object()
        }),
        "no push: {}",
        push_state(&s1)
    );
    let state = push_state(&s1);
    assert_eq!(state["state"], "ok", "{state}");
    assert_eq!(
        state["peer"],
        format!("https://{mgmt2}:{XMLRPC_PORT}/xmlrpc.php")
    );
    assert_eq!(state["last"]["trigger"], "start");
    assert!(state["last_success_unix"].as_u64().unwrap() > 0);
    assert_eq!(rule_descrs(&s2), rule_descrs(&s1));
    assert_eq!(rule_descrs(&s2).len(), 2);
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            vhids(&s1).iter().all(|v| v.2 == "MASTER")
                && vhids(&s2).len() == 2
                && vhids(&s2).iter().all(|v| v.2 == "BACKUP")
        }),
        "fw1 {:?} fw2 {:?}",
        vhids(&s1),
        vhids(&s2)
    );
    for ((vhid1, skew1, _), (vhid2, skew2, _)) in vhids(&s1).iter().zip(vhids(&s2).iter()) {
        assert_eq!((vhid1, *skew1), (vhid2, 0));
        assert_eq!(*skew2, skew1 + 100, "vhid {vhid2}");
    }
    let fw2_file = std::fs::read_to_string(&fw2.config).unwrap();
    assert!(fw2_file.contains("<advskew>100</advskew>"), "{fw2_file}");
    assert!(
        fw2_file.contains(&format!("<listen>{mgmt2}:{XMLRPC_PORT}</listen>")),
        "fw2's node-local <rampart> went:\n{fw2_file}"
    );
    assert!(!fw2_file.contains("synchronizetoip"), "{fw2_file}");
    assert_eq!(json(&s2, &["status"])["config"]["how"], "xmlrpc");
    let (code, out, err) = ctl(&s1, &["sync", "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("xmlrpc     push to https://"), "{out}");
    assert!(out.contains(": ok "), "{out}");

    // sync diff: fw2 hand-edited shows; after fw1 pushes again, nothing would change.
    let fw2_edited = fw2_file.replace("Default allow LAN to any rule", "Edited on fw2 by hand");
    let edited_path = fw2.config.with_file_name("fw2-edited.xml");
    std::fs::write(&edited_path, &fw2_edited).unwrap();
    let (code, out, err) = ctl(&s2, &["config", "apply", edited_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ctl(&s1, &["sync", "diff"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!(
            "dry run against https://{mgmt2}:{XMLRPC_PORT}/xmlrpc.php: would change"
        )),
        "{out}"
    );
    assert!(
        out.contains("filter: changed (rule 2 → 2, 1 differ)"),
        "{out}"
    );
    assert!(out.contains("virtualip: unchanged"), "{out}");
    assert!(rule_descrs(&s2).contains(&"Edited on fw2 by hand".to_string()));
    let (code, _, err) = ctl(&s2, &["sync", "diff"]);
    assert_eq!(code, 1);
    assert!(err.contains("not configured"), "{err}");

    // Traffic through fw2: client and server route via fw2's own addresses.
    let a = lab.addressing().clone();
    let via = |ip: Ipv4Addr| Ipv4Addr::new(ip.octets()[0], ip.octets()[1], ip.octets()[2], 2);
    lab.exec_ok(
        Host::Client,
        &[
            "ip",
            "route",
            "replace",
            "default",
            "via",
            &via(a.lan_gateway).to_string(),
        ],
    )
    .unwrap();
    lab.exec_ok(
        Host::Server,
        &[
            "ip",
            "route",
            "replace",
            "default",
            "via",
            &via(a.wan_gateway).to_string(),
        ],
    )
    .unwrap();
    let server = a.server.to_string();
    let echo = spawn_python(&lab, Host::Server, "echo", ECHO_SERVER, &[&server]);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || echo
            .log()
            .contains("listening")),
        "{}",
        echo.log()
    );
    let pinger = spawn_python(&lab, Host::Client, "pinger", PINGER, &[&server]);
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            pinger.log().contains("ok 10")
        }),
        "no connection through fw2: {}",
        pinger.log()
    );
    assert_eq!(probe(&lab, &server), "open");
    let through_fw2 = json(&s2, &["states", "count", "--port", "5001"]);
    assert!(
        through_fw2["matched"].as_u64().unwrap() >= 2,
        "the connection does not cross fw2: {through_fw2}"
    );

    // A rule on the primary: new connections to port 5001 from the LAN are blocked (placed
    // first). fw1 pushes; fw2 enforces it within 5 s; the open connection keeps flowing.
    let block = r#"<filter>
		<rule>
			<tracker>1000000100</tracker>
			<type>block</type>
			<interface>lan</interface>
			<ipprotocol>inet</ipprotocol>
			<protocol>tcp</protocol>
			<source><any></any></source>
			<destination><any></any><port>5001</port></destination>
			<descr><![CDATA[Block new connections to 5001]]></descr>
		</rule>"#;
    let changed = fw1_config.replacen("<filter>", block, 1);
    let changed_path = fw1.config.with_file_name("fw1-changed.xml");
    std::fs::write(&changed_path, &changed).unwrap();
    let pings_before = pinger.log().matches("ok ").count();
    let applied = Instant::now();
    // `config apply` on a primary follows the push it triggers to its end.
    let (code, out, err) = ctl(&s1, &["config", "apply", changed_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&format!(
            "push to https://{mgmt2}:{XMLRPC_PORT}/xmlrpc.php: ok "
        )) && err.contains("trigger apply"),
        "{out}{err}"
    );
    eprintln!("fw1# rampartctl config apply fw1-changed.xml\n{out}{err}");
    let mut last = String::new();
    let enforced = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        last = probe(&lab, &server);
        last == "blocked"
    });
    let took = applied.elapsed();
    assert!(
        enforced,
        "fw2 still lets new connections through after {took:?} ({last}); fw1: {}",
        push_state(&s1)
    );
    assert!(took <= Duration::from_secs(6), "enforced after {took:?}");
    assert_eq!(
        rule_descrs(&s2).first().map(String::as_str),
        Some("Block new connections to 5001")
    );
    // The existing connection lives on through fw2 (its states were kept).
    let flowing = wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        pinger.log().matches("ok ").count() >= pings_before + 3
    });
    assert!(
        flowing && !pinger.log().contains("broken"),
        "{}",
        pinger.log()
    );
    eprintln!("fw2 enforced fw1's new rule {took:?} after `config apply`");
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            let s = push_state(&s1);
            s["state"] == "ok" && s["last"]["trigger"] == "apply"
        }),
        "{}",
        push_state(&s1)
    );
    let (code, out, _) = ctl(&s1, &["sync", "diff"]);
    assert_eq!(code, 0);
    assert!(out.contains(": nothing would change"), "{out}");
    // A session for the README.
    for (socket, name, args) in [
        (&s1, "fw1", &["sync", "status"][..]),
        (&s1, "fw1", &["sync", "diff"][..]),
        (&s2, "fw2", &["status"][..]),
    ] {
        let (_, out, _) = ctl(socket, args);
        eprintln!("{name}# rampartctl {}\n{out}", args.join(" "));
    }
    drop(pinger);
    drop(echo);

    // The secondary goes away: the next push fails, visibly, with its reason.
    fw2.stop().unwrap();
    let failures_before = push_state(&s1)["failures_total"].as_u64().unwrap();
    let again = changed.replace("Block new connections to 5001", "Block new 5001");
    std::fs::write(&changed_path, &again).unwrap();
    // Applied on fw1 all the same; rampartctl follows the push and exits 1 when it fails.
    let (code, out, err) = ctl(&s1, &["config", "apply", changed_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("FAILED")
            && err.contains("applied here, but the push to the secondary failed"),
        "{out}{err}"
    );
    eprintln!("fw1# rampartctl config apply fw1-changed.xml    (fw2 stopped)\n{out}{err}");
    assert_eq!(
        rule_descrs(&s1).first().map(String::as_str),
        Some("Block new 5001")
    );
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
            push_state(&s1)["state"] == "failed"
        }),
        "{}",
        push_state(&s1)
    );
    let state = push_state(&s1);
    let reason = state["last"]["error"].as_str().unwrap();
    assert!(
        reason.contains("pfsense.host_firmware_version failed after 4 attempt(s)")
            && reason.contains(&format!("{mgmt2}:{XMLRPC_PORT}")),
        "{state}"
    );
    assert_eq!(state["last"]["attempts"], 4);
    assert_eq!(state["last"]["ok"], false);
    assert_eq!(
        state["failures_total"].as_u64().unwrap(),
        failures_before + 1
    );
    let success = state["last_success_unix"].as_u64().unwrap();
    assert!(success > 0);
    let (code, out, _) = ctl(&s1, &["sync", "status"]);
    assert_eq!(code, 0);
    eprintln!("fw1# rampartctl sync status    (fw2 stopped)\n{out}");
    assert!(out.contains("FAILED"), "{out}");
    assert!(out.contains("4 attempt(s)"), "{out}");
    let (_, status, _) = ctl(&s1, &["status"]);
    assert!(status.contains("xmlrpc    push to https://"), "{status}");
    assert!(status.contains("FAILED"), "{status}");
    let scraped = scrape(&lab);
    for want in [
        "rampart_xmlrpc_sync_outcome{outcome=failed} 1.0".to_string(),
        "rampart_xmlrpc_sync_outcome{outcome=ok} 0.0".to_string(),
        format!(
            "rampart_xmlrpc_sync_failures_total{{}} {}.0",
            failures_before + 1
        ),
        "rampart_xmlrpc_sync_last_attempts{} 4.0".to_string(),
    ] {
        assert!(
            scraped.lines().any(|l| l == want),
            "no {want:?} in\n{scraped}"
        );
    }
    let last_success = scraped
        .lines()
        .find_map(|l| l.strip_prefix("rampart_xmlrpc_sync_last_success_timestamp_seconds{} "))
        .unwrap_or_else(|| panic!("no last success in\n{scraped}"));
    assert_eq!(last_success, format!("{success}.0"));
    // The warning is in fw1's log too.
    assert!(
        fw1.process.log().contains("XMLRPC sync failed"),
        "{}",
        fw1.process.log()
    );
    fw1.stop().unwrap();
    lab.teardown().unwrap();
}

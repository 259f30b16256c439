//! XMLRPC against a running node, with a client no one here wrote: Python's
//! `xmlrpc.client` talks to the `rampart` daemon (EAL over `net_ring` vdevs, no lab) that
//! serves `<rampart><xmlrpc><listen>` with the self-signed certificate it generated on
//! first start. The version call; a filter restore that the node's ruleset follows
//! (`rampartctl rules`) and that lands in its config file; a wrong password (fault -1), a
//! malformed body (fault 0), a payload the node refuses (fault -5) and an oversized body
//! (413): none of them changes anything. Needs root (EAL) and built `rampart` and
//! `rampartctl` binaries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rampart_tests::lab::prefix_for;
use rampart_tests::node::rampart_binary;
use rampart_tests::{LabProcess, Signal, wait_until};
use serde_json::Value;

/// Python's side: one step per run, printing one line.
const PYTHON: &str = r#"
import http.client, ssl, sys, xmlrpc.client
port, step = int(sys.argv[1]), sys.argv[2]
ctx = ssl._create_unverified_context()

def proxy(user="admin", password="pfsense"):
    return xmlrpc.client.ServerProxy(
        "https://%s:%s@127.0.0.1:%d/xmlrpc.php" % (user, password, port), context=ctx)

def raw(body):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=30)
    h = {"Content-Type": "text/xml", "Authorization": "Basic YWRtaW46cGZzZW5zZQ=="}  # admin:pfsense
    try:
        conn.request("POST", "/xmlrpc.php", body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError as e:
        # The server may answer 413 and close before the whole body is sent.
        return "closed", repr(e)

def rule(descr, interface="lan"):
    return {"tracker": "1700000999", "type": "block", "interface": interface, "ipprotocol": "inet",
            "protocol": "tcp", "source": {"any": ""},
            "destination": {"network": "lanip", "port": "22"}, "descr": descr}

LAN = {"tracker": "0100000101", "type": "pass", "interface": "lan", "ipprotocol": "inet",
       "source": {"network": "lan"}, "destination": {"any": ""},
       "descr": "Default allow LAN to any rule"}

try:
    if step == "version":
        v = proxy().pfsense.host_firmware_version("", 240)
        print("config_version=%s platform=%s" % (v["config_version"], v["platform"]))
    elif step == "restore":
        r = proxy().pfsense.restore_config_section(
            {"filter": {"rule": [rule("Block SSH to the firewall (pushed by Python)"), LAN]}}, 900)
        print("result=%r" % r)
    elif step == "wrong_password":
        proxy(password="wrong").pfsense.restore_config_section({"filter": ""}, 900)
        print("no fault")
    elif step == "malformed":
        status, body = raw(b"<?xml version='1.0'?><methodCall><methodName>pfsense.restore_config_section</methodName><params><param><value><struct>")
        try:
            xmlrpc.client.loads(body)
            print("status=%s no fault" % status)
        except xmlrpc.client.Fault as f:
            print("status=%s fault=%d %s" % (status, f.faultCode, f.faultString.split(":")[0]))
    elif step == "refused":
        # A rule on an interface this node does not have: invalid once merged.
        proxy().pfsense.restore_config_section({"filter": {"rule": [rule("nowhere", "opt7")]}}, 900)
        print("no fault")
    elif step == "oversized":
        # <maxbody> is 64 KiB: 100 KB of a valid call is refused.
        body = (b"<?xml version='1.0'?><methodCall><methodName>pfsense.restore_config_section"
                b"</methodName><params><param><value><struct><member><name>filter</name><value>"
                b"<string>" + b"x" * 100000 + b"</string></value></member></struct></value>"
                b"</param></params></methodCall>")
        status, _ = raw(body)
        print("status=%s" % status)
    else:
        print("unknown step")
except xmlrpc.client.Fault as f:
    print("fault=%d %s" % (f.faultCode, f.faultString))
"#;

fn python(port: u16, step: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(PYTHON)
        .arg(port.to_string())
        .arg(step)
        .output()
        .expect("python3 is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        out.status.success(),
        "python step {step} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `rampartctl --json --socket SOCKET ARGS`, which must succeed.
fn ctl_json(socket: &Path, args: &[&str]) -> Value {
    let ctl = rampart_binary().unwrap().with_file_name("rampartctl");
    let out = Command::new(ctl)
        .arg("--socket")
        .arg(socket)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "rampartctl {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn rule_descrs(socket: &Path) -> Vec<String> {
    ctl_json(socket, &["rules"])["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["descr"].as_str().unwrap().to_owned())
        .collect()
}

/// The node, its files, and their removal (also when the test fails).
struct Node {
    process: LabProcess,
    dir: PathBuf,
    prefix: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.process.signal(Signal::SIGTERM);
        let _ = self.process.wait_timeout(Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

#[test]
fn python_xmlrpc_client_against_a_running_node() {
    let prefix = prefix_for(std::process::id(), 900);
    let dir = std::env::temp_dir().join(format!("{prefix}-xmlrpc"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = include_str!("../../control/examples/lab-node.xml")
        .replace("net_af_packet0,iface=PLACEHOLDER_LAN", "net_ring0")
        .replace("net_af_packet1,iface=PLACEHOLDER_WAN", "net_ring1")
        .replace(
            "<rampart>",
            "<rampart><xmlrpc><listen>127.0.0.1:0</listen><maxbody>65536</maxbody></xmlrpc>",
        );
    let path = dir.join("node.xml");
    std::fs::write(&path, &config).unwrap();
    let mut cmd = Command::new(rampart_binary().unwrap());
    cmd.arg("--config")
        .arg(&path)
        .args(["--file-prefix", &prefix]);
    let node = Node {
        process: LabProcess::start(cmd, &dir.join("node.log")).unwrap(),
        dir: dir.clone(),
        prefix,
    };
    assert!(
        wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            node.process.log().contains("rampart: forwarding on")
        }),
        "{}",
        node.process.log()
    );
    let socket = path.with_extension("sock");
    let log = node.process.log();
    let line = log
        .lines()
        .find_map(|l| l.strip_prefix("rampart: xmlrpc on https://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no xmlrpc line in\n{log}"));
    let port: u16 = line.split('/').next().unwrap().parse().unwrap();
    // The certificate was generated beside the config, and the fingerprint printed is its.
    let cert = std::fs::read_to_string(path.with_extension("xmlrpc.crt")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert!(
        line.contains("(certificate sha256 ") && line.matches(':').count() == 31,
        "{line}"
    );
    let status = ctl_json(&socket, &["status"]);
    assert_eq!(
        status["xmlrpc"]["serving"],
        format!("https://127.0.0.1:{port}/xmlrpc.php")
    );
    assert_eq!(status["xmlrpc"]["state"], "off", "not a primary: {status}");

    assert_eq!(
        python(port, "version"),
        "config_version=23.3 platform=rampart"
    );

    // Wrong password, malformed XML, a payload the node refuses, an oversized body:
    // nothing changes (config, file, rules).
    let sha = |s: &Value| s["config"]["sha256"].as_str().unwrap().to_owned();
    let before = ctl_json(&socket, &["status"]);
    let file_before = std::fs::read_to_string(&path).unwrap();
    let rules_before = rule_descrs(&socket);
    assert_eq!(rules_before, ["Default allow LAN to any rule"]);
    assert_eq!(
        python(port, "wrong_password"),
        "fault=-1 Authentication failed: Invalid username or password"
    );
    assert_eq!(
        python(port, "malformed"),
        "status=200 fault=0 Unable to parse request XML"
    );
    let refused = python(port, "refused");
    assert!(refused.starts_with("fault=-5 "), "{refused}");
    assert!(
        refused.contains("nothing changed") && refused.contains("opt7"),
        "{refused}"
    );
    let oversized = python(port, "oversized");
    assert!(
        matches!(oversized.as_str(), "status=413" | "status=closed"),
        "{oversized}"
    );
    let after = ctl_json(&socket, &["status"]);
    assert_eq!(sha(&after), sha(&before));
    assert_eq!(after["config"]["how"], "start");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), file_before);
    assert_eq!(rule_descrs(&socket), rules_before);
    assert_eq!(after["xmlrpc"]["received_total"], 0);

    // A filter restore: the node's ruleset follows at once, the file holds it, the
    // node-local <rampart> section is untouched.
    assert_eq!(python(port, "restore"), "result=True");
    assert_eq!(
        rule_descrs(&socket),
        [
            "Block SSH to the firewall (pushed by Python)",
            "Default allow LAN to any rule"
        ]
    );
    let status = ctl_json(&socket, &["status"]);
    assert_eq!(status["config"]["how"], "xmlrpc");
    assert_eq!(status["config"]["filter_rules"], 2);
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.contains("pushed by Python"), "{file}");
    assert!(
        file.contains("<listen>127.0.0.1:0</listen>"),
        "node-local section lost:\n{file}"
    );
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
            ctl_json(&socket, &["status"])["xmlrpc"]["received_total"] == 1
        }),
        "the received count did not move"
    );
    assert!(
        node.process
            .log()
            .contains("rampart: config synced by XMLRPC (2 rules)"),
        "{}",
        node.process.log()
    );
    // A second identical restore changes nothing (the primary's retries are harmless).
    let sha_synced = sha(&status);
    assert_eq!(python(port, "restore"), "result=True");
    assert_eq!(sha(&ctl_json(&socket, &["status"])), sha_synced);

    // The node stops cleanly with its server.
    let mut node = node;
    node.process.signal(Signal::SIGTERM).unwrap();
    let exit = node.process.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(exit.is_some_and(|s| s.success()), "{}", node.process.log());
}

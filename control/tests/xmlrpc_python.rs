//! The XMLRPC server against clients no one here wrote, and the Rust client against the
//! server: the real hyper + rustls server on 127.0.0.1 (self-signed certificate generated on
//! first start), an in-memory store loaded from real pfSense configs.
//!
//! * Python's `xmlrpc.client` (what pfSense users script with): the version call, a filter
//!   restore that changes the store, a wrong password (fault -1, nothing changes), a
//!   malformed body (fault 0, nothing changes), an oversized body (413), and the other
//!   faults;
//! * the Rust client pushing the reference HA primary to a secondary (pinned certificate):
//!   dry run, push, dry run again, and the failures a primary must report.

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rampart_control::config::Config;
use rampart_control::xmlrpc::{
    CallError, ConfigStore, Fingerprint, Handler, HandlerOptions, MemoryStore, Peer,
    PeerVerification, SectionChange, ServerOptions, Stage, SyncError, dry_run, fault_code,
    load_or_generate, push, serve_listener,
};

/// A running server: its address, its store, the certificate fingerprint, and how to stop it.
struct Server {
    addr: SocketAddr,
    store: MemoryStore,
    fingerprint: Fingerprint,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
    dir: PathBuf,
}

impl Server {
    fn start(config: Config, name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("rampart-xmlrpc-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // No certificate configured: one is generated, then loaded.
        let tls = load_or_generate(
            &dir.join("cert.pem"),
            &dir.join("key.pem"),
            &["127.0.0.1".into()],
        )
        .unwrap();
        assert!(tls.generated);
        let store = MemoryStore::new(config);
        let handler = Arc::new(Mutex::new(Handler::new(
            store.clone(),
            HandlerOptions::default(),
        )));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let done = runtime.spawn(serve_listener(
            listener,
            Some(tls.config),
            handler,
            ServerOptions::default(),
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            store,
            fingerprint: tls.fingerprint,
            runtime,
            stop: Some(stop),
            done: Some(done),
            dir,
        }
    }

    /// Stops the server and waits for it (graceful shutdown must finish).
    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let done = self.done.take().unwrap();
        self.runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), done).await })
            .expect("server did not shut down")
            .unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/pfsense-configs")
        .join(name)
}

/// Python's side: one step per run, printing one line.
const PYTHON: &str = r#"
import http.client, ssl, sys, xmlrpc.client
port, step = int(sys.argv[1]), sys.argv[2]
ctx = ssl._create_unverified_context()

def proxy(user="admin", password="pfsense"):
    return xmlrpc.client.ServerProxy(
        "https://%s:%s@127.0.0.1:%d/xmlrpc.php" % (user, password, port), context=ctx)

def raw(body, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
    h = {"Content-Type": "text/xml", "Authorization": "Basic YWRtaW46cGZzZW5zZQ=="}  # admin:pfsense
    h.update(headers or {})
    try:
        conn.request("POST", "/xmlrpc.php", body=body, headers=h)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except OSError as e:
        # The server may answer 413 and close before the whole body is sent.
        return "closed", repr(e)

RULE = {
    "tracker": "1700000999", "type": "block", "interface": "lan", "ipprotocol": "inet",
    "protocol": "tcp", "source": {"any": ""},
    "destination": {"network": "lanip", "port": "22"}, "log": "",
    "descr": "Block SSH to the firewall (pushed by Python)",
}

try:
    if step == "version":
        v = proxy().pfsense.host_firmware_version("", 240)
        v1 = proxy().pfsense.host_firmware_version("")
        print("config_version=%s platform=%s same=%s" % (v["config_version"], v["platform"], v == v1))
    elif step == "restore":
        print("result=%r" % proxy().pfsense.restore_config_section({"filter": {"rule": [RULE]}}, 900))
    elif step == "restore1":
        # The 2.4-era one-parameter form, a rule list with a hole (struct with numeric keys).
        print("result=%r" % proxy().pfsense.restore_config_section({"filter": {"rule": {"0": RULE, "2": dict(RULE, tracker="1700001000", descr="second")}}}))
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
    elif step == "oversized":
        # Only the headers: a 17 MiB Content-Length is refused before any body is read.
        import socket
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
        sock.sendall(b"POST /xmlrpc.php HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                     b"Authorization: Basic YWRtaW46cGZzZW5zZQ==\r\nContent-Length: %d\r\n\r\n" % (17 << 20))
        print("status=%s" % sock.recv(64).split(b" ")[1].decode())
    elif step == "oversized_sent":
        body = b"<?xml version='1.0'?><methodCall><methodName>pfsense.restore_config_section</methodName><params><param><value><string>" + b"x" * (17 << 20) + b"</string></value></param></params></methodCall>"
        status, _ = raw(body)
        print("status=%s" % status)
    elif step == "oversized_chunked":
        def chunks():
            yield b"<?xml version='1.0'?><methodCall><methodName>pfsense.restore_config_section</methodName><params><param><value><string>"
            for _ in range(17):
                yield b"y" * (1 << 20)
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60)
        try:
            conn.request("POST", "/xmlrpc.php", body=chunks(), encode_chunked=True,
                         headers={"Content-Type": "text/xml", "Authorization": "Basic YWRtaW46cGZzZW5zZQ=="})
            print("status=%s" % conn.getresponse().status)
        except OSError:
            print("status=closed")
    elif step == "unknown":
        proxy().pfsense.no_such_method()
    elif step == "exec_php":
        proxy().pfsense.exec_php("echo 1;")
    elif step == "bad_params":
        proxy().pfsense.restore_config_section("not a struct", 900)
    elif step == "get":
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("GET", "/xmlrpc.php")
        a = conn.getresponse().status
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        conn.request("POST", "/index.php", body=b"x")
        print("get=%d other_path=%d" % (a, conn.getresponse().status))
    elif step == "backup":
        b = proxy().pfsense.backup_config_section(["filter", "nosuchsection"])
        print("sections=%s rules=%d" % (sorted(b), len(b["filter"]["rule"])))
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

#[test]
fn python_xmlrpc_client_against_the_server() {
    // pfSense's factory-default config (admin / pfsense), as shipped.
    let config = Config::load(fixture("pfsense__FreeBSD-ports__config.xml")).unwrap();
    let rules_before = config.filter_rules.len();
    let server = Server::start(config, "python");
    let port = server.addr.port();

    assert_eq!(
        python(port, "version"),
        "config_version=23.7 platform=rampart same=True"
    );

    // Wrong password: fault -1, nothing changes.
    let before = server.store.current();
    assert_eq!(
        python(port, "wrong_password"),
        "fault=-1 Authentication failed: Invalid username or password"
    );
    assert_eq!(server.store.current(), before);

    // Malformed XML: fault 0, nothing changes.
    assert_eq!(
        python(port, "malformed"),
        "status=200 fault=0 Unable to parse request XML"
    );
    assert_eq!(server.store.current(), before);

    // Oversized bodies: refused with 413 (declared length); sent whole or chunked, the
    // server answers 413 and closes while the client is still sending.
    assert_eq!(python(port, "oversized"), "status=413");
    for step in ["oversized_sent", "oversized_chunked"] {
        let answer = python(port, step);
        assert!(
            matches!(answer.as_str(), "status=413" | "status=closed"),
            "{step}: {answer}"
        );
    }
    assert_eq!(server.store.current(), before);

    // Other faults, as pfSense numbers them.
    assert_eq!(
        python(port, "unknown"),
        "fault=-32601 server error. requested method not found"
    );
    assert_eq!(
        python(port, "bad_params"),
        "fault=-32602 server error. invalid method parameters"
    );
    assert_eq!(
        python(port, "exec_php"),
        format!(
            "fault={} pfsense.exec_php is not supported by rampart",
            fault_code::NOT_SUPPORTED
        )
    );
    assert_eq!(python(port, "get"), "get=405 other_path=404");
    assert_eq!(server.store.current(), before);
    assert!(server.store.applied().is_empty());

    // Restore a filter section: the store's ruleset changes.
    assert_eq!(python(port, "restore"), "result=True");
    let after = server.store.current();
    assert_eq!(rules_before, 2);
    assert_eq!(after.filter_rules.len(), 1);
    assert_eq!(
        after.filter_rules[0].descr,
        "Block SSH to the firewall (pushed by Python)"
    );
    assert_eq!(after.filter_rules[0].action, "block");
    assert_eq!(after.filter.len(), 1, "the rule is typed and valid");
    assert_eq!(
        server.store.applied(),
        ["Merged in config (filter sections) from XMLRPC client."]
    );
    // Everything else stayed.
    assert_eq!(
        after.doc.section("interfaces"),
        before.doc.section("interfaces")
    );
    assert_eq!(after.system, before.system);
    assert_eq!(python(port, "backup"), "sections=['filter'] rules=1");

    // The one-parameter form, with a list that has a hole.
    assert_eq!(python(port, "restore1"), "result=True");
    let after = server.store.current();
    let descrs: Vec<&str> = after
        .filter_rules
        .iter()
        .map(|r| r.descr.as_str())
        .collect();
    assert_eq!(
        descrs,
        ["Block SSH to the firewall (pushed by Python)", "second"]
    );

    server.stop();
}

/// The reference primary (xmlrpc.md §7.10) pointed at `port` on 127.0.0.1, its sync
/// password the secondary's admin password.
fn primary(port: u16) -> Config {
    let xml = std::fs::read_to_string(data("ha-primary.xml")).unwrap();
    let xml = xml
        .replace(
            "<synchronizetoip>172.16.0.2</synchronizetoip>",
            "<synchronizetoip>127.0.0.1</synchronizetoip>",
        )
        .replace("<port>443</port>", &format!("<port>{port}</port>"))
        .replace("xmlrpc-sync-secret", "pfsense");
    Config::parse(xml.as_bytes()).unwrap()
}

/// Its secondary before any sync: own hostname and addresses, no sync target, one local
/// rule, CARP VIPs with advskew 0, a local IP alias on the LAN.
fn secondary() -> Config {
    let xml = std::fs::read_to_string(data("ha-primary.xml")).unwrap();
    let start = xml.find("\t<filter>").unwrap();
    let end = xml.find("</filter>").unwrap() + "</filter>".len();
    let xml = format!(
        "{}\t<filter>\n\t\t<rule>\n\t\t\t<type>pass</type>\n\t\t\t<interface>lan</interface>\n\t\t\t<source><any/></source>\n\t\t\t<destination><any/></destination>\n\t\t\t<descr>local only</descr>\n\t\t</rule>\n\t</filter>{}",
        &xml[..start],
        &xml[end..]
    )
    .replace("<hostname>fw-a</hostname>", "<hostname>fw-b</hostname>")
    .replace("<ipaddr>198.51.100.2</ipaddr>", "<ipaddr>198.51.100.3</ipaddr>")
    .replace("<ipaddr>10.0.0.2</ipaddr>", "<ipaddr>10.0.0.3</ipaddr>")
    .replace("<ipaddr>172.16.0.1</ipaddr>", "<ipaddr>172.16.0.2</ipaddr>")
    .replace("<synchronizetoip>172.16.0.2</synchronizetoip>", "")
    .replace(
        "</virtualip>",
        "\t<vip>\n\t\t\t<mode>ipalias</mode>\n\t\t\t<interface>lan</interface>\n\t\t\t<uniqid>65a1b2c3d4e99</uniqid>\n\t\t\t<type>single</type>\n\t\t\t<subnet_bits>24</subnet_bits>\n\t\t\t<subnet>10.0.0.53</subnet>\n\t\t</vip>\n\t</virtualip>",
    );
    Config::parse(xml.as_bytes()).unwrap()
}

#[test]
fn rust_client_pushes_to_the_rust_server() {
    let server = Server::start(secondary(), "push");
    let port = server.addr.port();
    let primary = primary(port);
    let mut peer =
        Peer::from_config(&primary, PeerVerification::Pinned(server.fingerprint)).unwrap();
    peer.retry_delay = Duration::from_millis(20);
    assert_eq!(peer.url(), format!("https://127.0.0.1:{port}/xmlrpc.php"));
    let before = server.store.current();

    // Dry run: what would change, and nothing changes.
    let run = server.runtime.block_on(dry_run(&primary, &peer)).unwrap();
    let text = run.to_string();
    assert!(
        text.contains("filter: changed (rule 1 → 4, 4 differ)"),
        "{text}"
    );
    assert!(text.contains("virtualip: changed (vip 4 → 4"), "{text}");
    assert!(text.contains("aliases: unchanged"), "{text}");
    assert!(!run.is_noop());
    assert_eq!(server.store.current(), before);

    // Push.
    let outcome = server.runtime.block_on(push(&primary, &peer));
    assert!(outcome.is_ok(), "{outcome}");
    let done = outcome.result.as_ref().unwrap();
    assert_eq!(done.remote_version, "23.3");
    assert_eq!(done.attempts, 1);
    let after = server.store.current();
    // The primary's rules without its nosync one; the secondary's local rule is gone.
    let descrs: Vec<&str> = after
        .filter_rules
        .iter()
        .map(|r| r.descr.as_str())
        .collect();
    assert_eq!(
        descrs,
        [
            "SYNC: pfsync + XMLRPC between nodes",
            "Allow LAN to any",
            "Block abusive net from web",
            "Floating: drop NetBIOS everywhere"
        ]
    );
    // CARP VIPs with the primary's advskew + 100; the local IP alias kept, in front.
    let vips: Vec<(String, Option<u8>)> = after
        .virtual_ips
        .iter()
        .map(|v| (v.address.unwrap().to_string(), v.advskew))
        .collect();
    assert_eq!(
        vips,
        [
            ("10.0.0.53".to_owned(), None),
            ("198.51.100.10".to_owned(), Some(100)),
            ("10.0.0.1".to_owned(), Some(100)),
            ("198.51.100.11".to_owned(), None),
        ]
    );
    // Node-local parts untouched.
    assert_eq!(after.system.hostname, "fw-b");
    assert_eq!(after.interfaces, before.interfaces);
    assert_eq!(after.hasync, before.hasync);
    assert_eq!(after.rampart, before.rampart);
    assert_eq!(server.store.applied().len(), 1);

    // Nothing left to change; pushing again applies nothing.
    let run = server.runtime.block_on(dry_run(&primary, &peer)).unwrap();
    assert!(run.is_noop(), "{run}");
    assert!(server.runtime.block_on(push(&primary, &peer)).is_ok());
    assert_eq!(server.store.applied().len(), 1);

    // A wrong pin: the TLS handshake fails on every attempt, and the outcome says so.
    let mut wrong = peer.clone();
    wrong.verification = PeerVerification::Pinned(Fingerprint([7; 32]));
    let outcome = server.runtime.block_on(push(&primary, &wrong));
    match &outcome.result {
        Err(SyncError::Call {
            stage: Stage::VersionCheck,
            attempts: 4,
            error: CallError::Transport(msg),
        }) => assert!(msg.contains("not the pinned"), "{msg}"),
        other => panic!("{other:?}"),
    }

    // A wrong password: fault -1 from the secondary.
    let mut bad = peer.clone();
    bad.credentials.password = "nope".into();
    bad.attempts = 2;
    let outcome = server.runtime.block_on(push(&primary, &bad));
    match &outcome.result {
        Err(SyncError::Call {
            stage: Stage::VersionCheck,
            attempts: 2,
            error: CallError::Fault(f),
        }) => assert_eq!(f.code, fault_code::AUTH),
        other => panic!("{other:?}"),
    }

    // Another config version: no push.
    let xml = primary
        .to_xml()
        .replace("<version>23.3</version>", "<version>24.5</version>");
    let newer = Config::parse(xml.as_bytes()).unwrap();
    let outcome = server.runtime.block_on(push(&newer, &peer));
    assert_eq!(
        outcome.result,
        Err(SyncError::VersionMismatch {
            local: "24.5".into(),
            remote: "23.3".into()
        })
    );
    assert_eq!(server.store.applied().len(), 1);
    assert!(
        run.sections
            .iter()
            .all(|s| s.change == SectionChange::Unchanged)
    );

    server.stop();
}

#[test]
fn push_to_a_stopped_server_reports_the_reason() {
    let server = Server::start(secondary(), "stopped");
    let port = server.addr.port();
    let fingerprint = server.fingerprint;
    server.stop();
    let primary = primary(port);
    let mut peer = Peer::from_config(&primary, PeerVerification::Pinned(fingerprint)).unwrap();
    peer.retry_delay = Duration::from_millis(10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = rt.block_on(push(&primary, &peer));
    assert!(!outcome.is_ok());
    let text = outcome.to_string();
    assert!(
        text.contains(
            "pfsense.host_firmware_version failed after 4 attempt(s): communications error"
        ),
        "{text}"
    );
}

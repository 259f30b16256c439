//! pfsync between two rampart nodes in the namespace lab, tried as a user would: fw1 routes
//! the client's 1,000 TCP connections to the server; fw2, joined to fw1 by the sync link
//! only, holds the same states within a flush interval, drops them when the connections
//! close, and gets every live state back by bulk update when restarted. With a sync key,
//! forged frames are refused and counted, and a key on one side only syncs nothing, both
//! nodes saying why. Needs root and a built `rampart` binary (`make test` does both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::time::{Duration, Instant};

use rampart_tests::node::{HaNode, RunningNode, counter, rampart_binary, start_node};
use rampart_tests::{Host, Lab, LabProcess, Signal, wait_until};

/// Holds every accepted connection open and closes its side when the peer closes.
const SERVER: &str = r#"
import resource, selectors, socket, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
sel = selectors.DefaultSelector()
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], 5001)); ls.listen(4096); sel.register(ls, selectors.EVENT_READ)
print('listening', flush=True)
while True:
    for key, _ in sel.select(1):
        s = key.fileobj
        if s is ls:
            c, _ = ls.accept(); sel.register(c, selectors.EVENT_READ)
        elif not s.recv(100):
            sel.unregister(s); s.close()
"#;

/// Opens N connections, holds them until SIGUSR1, then closes them all.
const CLIENT: &str = r#"
import resource, signal, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
n, server = int(sys.argv[1]), sys.argv[2]
done = []
signal.signal(signal.SIGUSR1, lambda *a: done.append(1))
socks = []
for i in range(n):
    s = socket.socket(); s.settimeout(10); s.connect((server, 5001)); socks.append(s)
print('open', len(socks), flush=True)
while not done:
    time.sleep(0.05)
for s in socks:
    s.close()
print('closed', flush=True)
time.sleep(30)
"#;

/// A pfsync frame on the sync segment from the test tool: Ethernet + IPv4 (proto 240,
/// TTL 255, to 224.0.0.240) + a CLR of creator 1, with `trailer` bytes after it.
const FORGE: &str = r#"
import socket, struct, sys
iface, trailer = sys.argv[1], bytes.fromhex(sys.argv[2])
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
clr = b'\0' * 16 + struct.pack('!I', 1)
body = struct.pack('!BBH', 0, 0, 1) + clr + struct.pack('!BBH', 12, 0, 1)
pfsync = struct.pack('!BBH', 5, 0, 20 + len(body)) + b'\0' * 16 + body + trailer
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(pfsync), 1, 0x4000, 255, 240, 0,
                 socket.inet_aton('10.10.3.66'), socket.inet_aton('224.0.0.240'))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
eth = bytes.fromhex('01005e0000f0') + bytes.fromhex('02000000beef') + b'\x08\x00'
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((iface, 0))
for _ in range(3):
    s.send(eth + ip + pfsync)
"#;

/// Short closing timeouts so that closed connections' states end within seconds.
const FAST_CLOSE: &str =
    "<tcpfinwaittimeout>3</tcpfinwaittimeout><tcpclosedtimeout>3</tcpclosedtimeout>";

fn node(lab: &Lab, binary: &std::path::Path, spec: &HaNode) -> RunningNode {
    start_node(lab, spec.fw, binary, &spec.config(lab)).unwrap()
}

/// Polls `node`'s counters until `cond` holds on them (or `timeout`); the last report.
fn counters_until(
    node: &mut RunningNode,
    timeout: Duration,
    cond: impl Fn(&str) -> bool,
) -> (bool, String) {
    let mut last = String::new();
    let ok = wait_until(timeout, Duration::from_millis(200), || {
        last = node.counters().unwrap();
        cond(&last)
    });
    (ok, last)
}

/// Every state of `node`, one line each (SIGUSR2 makes the daemon write them next to its
/// config).
fn states(node: &mut RunningNode) -> String {
    let path = node.config.with_extension("states");
    let _ = std::fs::remove_file(&path);
    node.process.signal(Signal::SIGUSR2).unwrap();
    let mut text = String::new();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            text = std::fs::read_to_string(&path).unwrap_or_default();
            !text.is_empty()
        }),
        "no state listing at {}",
        path.display()
    );
    text
}

/// Both nodes list the same states (ids, keys, TCP peers, timeout class), allowing a few
/// seconds for updates in flight.
fn assert_same_states(fw1: &mut RunningNode, fw2: &mut RunningNode, count: u64) {
    let mut diff = String::new();
    for _ in 0..10 {
        let (s1, s2) = (states(fw1), states(fw2));
        assert_eq!(s1.lines().count() as u64, count, "{s1}");
        if s1 == s2 {
            return;
        }
        diff = s1
            .lines()
            .zip(s2.lines())
            .find(|(a, b)| a != b)
            .map(|(a, b)| format!("fw1: {a}\nfw2: {b}"))
            .unwrap_or_default();
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("the nodes' states differ:\n{diff}");
}

fn server(lab: &Lab) -> LabProcess {
    let addr = lab.addressing().server.to_string();
    let p = lab
        .spawn(
            Host::Server,
            &["python3", "-c", SERVER, &addr],
            &lab.log_path("server"),
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(50), || p
            .log()
            .contains("listening")),
        "{}",
        p.log()
    );
    p
}

fn clients(lab: &Lab, n: usize) -> LabProcess {
    let server = lab.addressing().server.to_string();
    let p = lab
        .spawn(
            Host::Client,
            &["python3", "-c", CLIENT, &n.to_string(), &server],
            &lab.log_path("client"),
        )
        .unwrap();
    let want = format!("open {n}");
    assert!(
        wait_until(Duration::from_secs(60), Duration::from_millis(50), || p
            .log()
            .contains(&want)),
        "client: {}",
        p.log()
    );
    p
}

#[test]
fn states_reach_the_backup_leave_with_their_connections_and_return_by_bulk() {
    const CONNECTIONS: usize = 1000;
    // Each connection through a node holds pf's two states (LAN in, WAN out).
    const STATES: u64 = 2 * CONNECTIONS as u64;
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    let spec = |fw| HaNode {
        system: FAST_CLOSE.into(),
        ..HaNode::new(fw)
    };
    let (spec1, spec2) = (spec(Host::Fw1), spec(Host::Fw2));
    let mut fw1 = node(&lab, &binary, &spec1);
    let mut fw2 = node(&lab, &binary, &spec2);
    let _server = server(&lab);

    let mut client = clients(&lab, CONNECTIONS);
    let opened = Instant::now();
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(10), |r| {
        counter(r, "states_imported") >= STATES
    });
    let took = opened.elapsed();
    let report1 = fw1.counters().unwrap();
    assert!(
        ok,
        "fw2 did not get fw1's states\nfw2:\n{report}\nfw1:\n{report1}"
    );
    assert_eq!(counter(&report, "states"), STATES, "{report}");
    // fw1's counters and sync status are published every 250 ms: wait for the ones that
    // have every state and every INS.
    let (_, report1) = counters_until(&mut fw1, Duration::from_secs(2), |r| {
        counter(r, "ins") >= STATES && counter(r, "states") >= STATES
    });
    assert_eq!(counter(&report1, "states"), STATES, "{report1}");
    assert_eq!(
        counter(&report1, "ins"),
        STATES,
        "one INS per state: {report1}"
    );
    assert!(counter(&report, "import_exists") == 0, "{report}");
    eprintln!("fw2 held all {STATES} states {took:?} after the client opened them");
    // One flush interval (1 s), plus the counters' publication (250 ms) and polling.
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    // Same ids, keys and TCP peers on both nodes, once the last updates are through.
    assert_same_states(&mut fw1, &mut fw2, STATES);

    // fw2 restarts: it asks for a bulk update and gets every live state back.
    fw2.stop().unwrap();
    let mut fw2 = node(&lab, &binary, &spec2);
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(15), |r| {
        counter(r, "states_imported") >= STATES && r.contains("bulk done")
    });
    assert!(
        ok,
        "no bulk update\n{report}\nfw1:\n{}",
        fw1.counters().unwrap()
    );
    assert_eq!(counter(&report, "states"), STATES, "{report}");

    // The client closes everything: fw1's states end, and fw2's follow.
    client.signal(Signal::SIGUSR1).unwrap();
    assert!(wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || client.log().contains("closed")
    ));
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(20), |r| {
        counter(r, "states") == 0
    });
    assert!(
        ok,
        "fw2 kept states\n{report}\nfw1:\n{}",
        fw1.counters().unwrap()
    );
    let log2 = fw2.stop().unwrap();
    let log1 = fw1.stop().unwrap();
    // Nothing lost on the way: no frame the port could not take, no command a worker could
    // not take. (Both nodes delete states that expire, so DEL_C for a state the other has
    // already removed is normal, as in pf: `unknown_deletes`.)
    for log in [&log1, &log2] {
        for name in [
            "tx_failed",
            "backlog_full",
            "sync_replies_dropped",
            "sync_events_dropped",
        ] {
            assert_eq!(counter(log, name), 0, "{name}\n{log}");
        }
    }
    lab.teardown().unwrap();
}

#[test]
fn forged_and_unauthenticated_frames_are_refused_and_counted() {
    const KEY: &str = "lab-sync-key-0123456789";
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    let keyed = |fw, key: Option<&str>| HaNode {
        sync_key: key.map(str::to_string),
        ..HaNode::new(fw)
    };
    let mut fw1 = node(&lab, &binary, &keyed(Host::Fw1, Some(KEY)));
    let mut fw2 = node(&lab, &binary, &keyed(Host::Fw2, Some(KEY)));
    let _server = server(&lab);
    let _client = clients(&lab, 20);
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(10), |r| {
        counter(r, "states_imported") >= 40
    });
    assert!(ok, "authenticated sync failed\n{report}");

    // A frame clearing fw1's states, without a trailer and then with a made-up one.
    let sync_if = lab.fw_iface(Host::Fw1, rampart_tests::Segment::Sync);
    for trailer in ["", &format!("52505331{}", "00".repeat(40))] {
        lab.exec_ok(Host::Fw1, &["python3", "-c", FORGE, &sync_if, trailer])
            .unwrap();
    }
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(5), |r| {
        counter(r, "auth_missing") >= 3 && counter(r, "auth_bad_tag") >= 3
    });
    assert!(ok, "forged frames not counted\n{report}");
    assert_eq!(
        counter(&report, "states"),
        40,
        "a forged CLR removed states\n{report}"
    );
    fw2.stop().unwrap();

    // fw2 without the key: nothing syncs, and both say why.
    let mut fw2 = node(&lab, &binary, &keyed(Host::Fw2, None));
    let (ok, report2) = counters_until(&mut fw2, Duration::from_secs(5), |r| {
        counter(r, "auth_unexpected") >= 1
    });
    assert!(ok, "fw2 took authenticated frames without a key\n{report2}");
    let (ok, report1) = counters_until(&mut fw1, Duration::from_secs(5), |r| {
        counter(r, "auth_missing") >= 1
    });
    assert!(ok, "fw1 took fw2's plain frames\n{report1}");
    assert_eq!(counter(&report2, "states_imported"), 0, "{report2}");
    let log2 = fw2.stop().unwrap();
    let log1 = fw1.stop().unwrap();
    assert!(
        log2.contains("authenticated frame but no sync key is set here"),
        "{log2}"
    );
    assert!(
        log1.lines()
            .any(|l| l.contains("unauthenticated frame") && l.contains("from=10.10.3.2")),
        "{log1}"
    );
    lab.teardown().unwrap();
}

#[test]
fn deferral_holds_first_packets_until_the_peer_acknowledges() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    let deferring = |fw| HaNode {
        rampart_extra: "<pfsyncdefer/>".into(),
        ..HaNode::new(fw)
    };
    let mut fw1 = node(&lab, &binary, &deferring(Host::Fw1));
    let mut fw2 = node(&lab, &binary, &deferring(Host::Fw2));
    let _server = server(&lab);
    let _client = clients(&lab, 20);
    let (ok, report) = counters_until(&mut fw2, Duration::from_secs(10), |r| {
        counter(r, "states_imported") >= 40
    });
    assert!(ok, "{report}");
    // fw1's counters are published every 250 ms: wait for the ones with every SYN released.
    let (_, report) = counters_until(&mut fw1, Duration::from_secs(3), |r| {
        counter(r, "deferred") >= 20
            && counter(r, "deferred")
                == counter(r, "deferred_acked")
                    + counter(r, "deferred_timeout")
                    + counter(r, "deferred_overflow")
    });
    let (held, acked, timed_out) = (
        counter(&report, "deferred"),
        counter(&report, "deferred_acked"),
        counter(&report, "deferred_timeout"),
    );
    // Each connection's SYN waited for fw2's INS_ACK (the handshake's other packets match
    // states and are never held).
    assert!(held >= 20, "{report}");
    assert_eq!(
        acked + timed_out + counter(&report, "deferred_overflow"),
        held,
        "{report}"
    );
    assert!(
        acked >= held / 2,
        "most acknowledgements arrive within 20 ms: {report}"
    );
    assert!(counter(&report, "ins_ack") >= 40 || acked > 0, "{report}");
    eprintln!("deferred {held}: {acked} released by INS_ACK, {timed_out} after 20 ms");
    fw2.stop().unwrap();
    fw1.stop().unwrap();
    lab.teardown().unwrap();
}

//! The stateful filter in the namespace lab, tried as a user would: a ruleset that lets the LAN
//! reach the WAN on TCP/80 only; curl passes, the server cannot connect back, a forged segment
//! outside the TCP window is dropped and counted, a rule reload during a transfer breaks
//! nothing. Needs root and a built `rampart` binary (`make test` does both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::time::{Duration, Instant};

use rampart_tests::node::{counter, rampart_binary, single_node_config_with_filter, start_node};
use rampart_tests::{Host, Lab, StreamsConfig, tcp_streams, tcp_transfer, wait_until};

/// LAN may open TCP/80 (and, with `extra_port`, that port too); the WAN gets a `reject` for
/// TCP/22 to the LAN; everything else is the default deny.
fn filter(extra_port: Option<u16>) -> String {
    let extra = extra_port.map_or(String::new(), |port| {
        format!(
            r#"<rule>
			<tracker>1700000003</tracker>
			<type>pass</type>
			<interface>lan</interface>
			<ipprotocol>inet</ipprotocol>
			<protocol>tcp</protocol>
			<source><network>lan</network></source>
			<destination><any></any><port>{port}</port></destination>
			<descr>added by the reload</descr>
		</rule>"#
        )
    });
    format!(
        r#"<filter>
		<rule>
			<tracker>1700000001</tracker>
			<type>pass</type>
			<interface>lan</interface>
			<ipprotocol>inet</ipprotocol>
			<protocol>tcp</protocol>
			<source><network>lan</network></source>
			<destination><any></any><port>80</port></destination>
			<descr>LAN to HTTP</descr>
		</rule>
		<rule>
			<tracker>1700000002</tracker>
			<type>reject</type>
			<interface>wan</interface>
			<ipprotocol>inet</ipprotocol>
			<protocol>tcp</protocol>
			<source><any></any></source>
			<destination><network>lan</network><port>22</port></destination>
			<descr>refuse SSH to the LAN</descr>
		</rule>
		{extra}
	</filter>"#
    )
}

/// A raw TCP segment from the server's namespace (Python: nothing here writes raw sockets).
const FORGE: &str = r#"
import socket, struct, sys
src, dst, sport, dport, seq = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return (~s) & 0xffff
data = b'forged!'
hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, 0, 5 << 4, 0x18, 65535, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(hdr) + len(data))
hdr = hdr[:16] + struct.pack('!H', csum(pseudo + hdr + data)) + hdr[18:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
for _ in range(3):
    s.sendto(hdr + data, (dst, 0))
"#;

/// A client that connects from a known port, waits, then asks for `/` and prints the status.
const SLOW_CLIENT: &str = r#"
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(10)
s.connect((sys.argv[3], 80))
print('connected', flush=True)
time.sleep(float(sys.argv[4]))
s.sendall(b'GET / HTTP/1.0\r\n\r\n')
print(s.recv(200).split(b'\r\n')[0].decode(), flush=True)
"#;

/// Python's HTTP server on `addr`:80 in the server's namespace (it starts slowly: its reverse
/// DNS lookups time out in the lab).
fn serve_http(lab: &Lab, addr: &str, log: &std::path::Path) -> rampart_tests::LabProcess {
    let argv = [
        "python3",
        "-m",
        "http.server",
        "80",
        "--bind",
        addr,
        "--directory",
        "/usr/share/doc",
    ];
    lab.spawn(Host::Server, &argv, log).unwrap()
}

/// curl `url` from the client until it answers 200 (15 s at most); the last status seen.
fn curl_until_ok(lab: &Lab, url: &str) -> (bool, String) {
    let mut status = String::new();
    let ok = wait_until(Duration::from_secs(15), Duration::from_millis(300), || {
        let argv = [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "2",
            url,
        ];
        let out = lab.exec(Host::Client, &argv).unwrap();
        status = String::from_utf8_lossy(&out.stdout).into_owned();
        status == "200"
    });
    (ok, status)
}

#[test]
fn lan_reaches_http_only_and_the_state_table_guards_the_rest() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::single_node().unwrap();
    let a = lab.addressing().clone();
    let (client, server) = (a.client.to_string(), a.server.to_string());
    let config = |extra| single_node_config_with_filter(&lab, Host::Fw1, 1, &filter(extra));
    let mut node = start_node(&lab, Host::Fw1, &binary, &config(None)).unwrap();

    // An HTTP server on the WAN side.
    let www = lab.log_path("www");
    std::fs::create_dir_all(www.parent().unwrap()).unwrap();
    let http = serve_http(&lab, &server, &www);

    // 1. curl from the client passes (retried while ARP and the server start).
    let url = format!("http://{server}/");
    let (served, status) = curl_until_ok(&lab, &url);
    assert!(
        served,
        "curl from the client got {status:?}\n{}",
        http.log()
    );

    // 2. The server cannot connect to the client: refused on 22 (reject), silence elsewhere.
    let started = Instant::now();
    let refused = lab
        .exec(
            Host::Server,
            &[
                "curl",
                "-s",
                "--max-time",
                "3",
                &format!("http://{client}:22/"),
            ],
        )
        .unwrap();
    assert_eq!(
        refused.status.code(),
        Some(7),
        "curl to :22 should be refused by an RST"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    let silent = lab
        .exec(
            Host::Server,
            &[
                "curl",
                "-s",
                "--max-time",
                "2",
                &format!("http://{client}:8080/"),
            ],
        )
        .unwrap();
    assert_eq!(
        silent.status.code(),
        Some(28),
        "curl to :8080 should time out (dropped)"
    );
    let report = node.counters().unwrap();
    assert!(counter(&report, "rejects_rst") >= 1, "{report}");
    assert!(counter(&report, "filter_block_in") >= 1, "{report}");

    // 3. A forged segment outside the window of an open connection is dropped and counted;
    //    the connection still works afterwards.
    let slow = lab
        .spawn(
            Host::Client,
            &["python3", "-c", SLOW_CLIENT, &client, "45678", &server, "2"],
            &lab.log_path("slow-client"),
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || slow
            .log()
            .contains("connected")),
        "{}",
        slow.log()
    );
    let before = counter(&node.counters().unwrap(), "tcp_bad_state");
    let forged = lab
        .exec(
            Host::Server,
            &[
                "python3",
                "-c",
                FORGE,
                &server,
                &client,
                "80",
                "45678",
                "3000000000",
            ],
        )
        .unwrap();
    assert!(forged.status.success(), "{forged:?}");
    let after = wait_until(Duration::from_secs(2), Duration::from_millis(100), || {
        counter(&node.counters().unwrap(), "tcp_bad_state") >= before + 3
    });
    assert!(after, "{}", node.counters().unwrap());
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || slow
            .log()
            .contains("HTTP/1.0 200")),
        "the connection survived the forgery: {}",
        slow.log()
    );
    drop(http);

    // 4. Reload during a transfer on port 80: the transfer completes; the new rule works.
    //    Nothing listens on 8443: "refused" (7) means the SYN got through, a timeout (28)
    //    that the firewall dropped it.
    let to_8443 = || {
        lab.exec(
            Host::Client,
            &[
                "curl",
                "-s",
                "--max-time",
                "2",
                &format!("http://{server}:8443/"),
            ],
        )
        .unwrap()
        .status
        .code()
    };
    assert_eq!(to_8443(), Some(28), "port 8443 is not allowed yet");
    let cfg = StreamsConfig {
        streams: 4,
        bytes_per_stream: 64 << 20,
        timeout: Duration::from_secs(60),
        rate_per_stream: None,
    };
    let (transfer, answer) = std::thread::scope(|scope| {
        let transfer =
            scope.spawn(|| tcp_streams(&lab, Host::Client, Host::Server, a.server, 80, &cfg));
        std::thread::sleep(Duration::from_millis(500));
        let answer = node.reload(&config(Some(8443))).unwrap();
        (transfer.join().unwrap().unwrap(), answer)
    });
    assert!(answer.contains("ruleset reloaded (3 rules)"), "{answer}");
    assert!(transfer.all_ok(), "{:?}", transfer.errors);
    eprintln!(
        "transfer across the reload: {} bytes verified, {:.0} Mbit/s",
        transfer.bytes_verified, transfer.mbit_s
    );
    assert_eq!(to_8443(), Some(7), "port 8443 is allowed after the reload");
    tcp_transfer(&lab, Host::Client, Host::Server, a.server, 80, 1 << 20).unwrap();
    // A broken file is refused and the rules stay.
    let refused = node.reload("<pfsense><broken").unwrap();
    assert!(refused.contains("reload refused"), "{refused}");
    assert_eq!(to_8443(), Some(7), "the rules stayed");

    let report = node.counters().unwrap();
    eprintln!("{report}");
    assert_eq!(counter(&report, "ruleset_reloads"), 1, "{report}");
    assert_eq!(counter(&report, "state_invalid"), 0, "{report}");
    let log = node.stop().unwrap();
    assert!(log.contains("rampart: stopped"), "{log}");
    lab.teardown().unwrap();
}

/// Outbound NAT of the LAN to the WAN address (manual mode, as an operator writes it).
const NAT_LAN_TO_WAN: &str = r#"<nat>
		<outbound>
			<mode>advanced</mode>
			<rule>
				<interface>wan</interface>
				<ipprotocol>inet</ipprotocol>
				<source><network>LAN_NET</network></source>
				<destination><any></any></destination>
				<target></target>
				<descr><![CDATA[LAN to WAN address]]></descr>
			</rule>
		</outbound>
	</nat>"#;

#[test]
fn outbound_nat_hides_the_lan_with_two_workers() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::single_node().unwrap();
    let a = lab.addressing().clone();
    let lan_net = format!("{}/{}", a.lan_gateway, a.prefix_len);
    let filter = format!(
        "{}\n\t{}",
        rampart_tests::node::LAN_ONLY_FILTER,
        NAT_LAN_TO_WAN.replace("LAN_NET", &lan_net)
    );
    let config = single_node_config_with_filter(&lab, Host::Fw1, 2, &filter);
    let mut node = start_node(&lab, Host::Fw1, &binary, &config).unwrap();
    let server = a.server.to_string();
    let www = lab.log_path("www-nat");
    let http = serve_http(&lab, &server, &www);
    let url = format!("http://{server}/");
    let (served, _) = curl_until_ok(&lab, &url);
    assert!(served, "{}", http.log());
    // The server saw the firewall's WAN address, never the client's.
    let log = http.log();
    assert!(log.contains(&format!("{} - -", a.wan_gateway)), "{log}");
    assert!(!log.contains(&a.client.to_string()), "{log}");

    // ICMP echo through NAT (the id is translated), and many TCP streams: with two workers,
    // replies to translated ports must reach the worker that owns the port's slice.
    // (The server's own DNS queries, python's reverse lookups, are blocked at the WAN: count
    // blocks from here on only.)
    let blocked_before = counter(&node.counters().unwrap(), "filter_block_in");
    let pinged =
        rampart_tests::ping(&lab, Host::Client, a.server, 3, Duration::from_secs(10)).unwrap();
    assert!(pinged.received >= 2, "{pinged:?}");
    let streams = tcp_streams(
        &lab,
        Host::Client,
        Host::Server,
        a.server,
        5202,
        &StreamsConfig {
            streams: 16,
            bytes_per_stream: 1 << 20,
            timeout: Duration::from_secs(60),
            rate_per_stream: None,
        },
    )
    .unwrap();
    assert!(
        streams.all_ok(),
        "{:?}\n{}",
        streams.errors,
        node.process.log()
    );
    let report = node.counters().unwrap();
    eprintln!("{report}");
    assert_eq!(
        counter(&report, "filter_block_in"),
        blocked_before,
        "a reply reached a worker without its state: {report}"
    );
    // (tcp_bad_state may count a few segments at the streams' end, after a RST, as pf does;
    // with RAMPART_LOG=rampart_dataplane=debug the daemon says which.)
    for line in node
        .process
        .log()
        .lines()
        .filter(|l| l.contains("outside the state's windows"))
    {
        eprintln!("{line}");
    }
    assert!(!report.contains("nat_"), "{report}");
    node.stop().unwrap();
    lab.teardown().unwrap();
}

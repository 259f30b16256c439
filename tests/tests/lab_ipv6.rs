//! IPv6 through the firewall in the namespace lab: the client and server get global IPv6
//! addresses and routes through rampart, which answers neighbour discovery, forwards with
//! states, and keeps the WAN closed. Needs root and a built `rampart` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::time::Duration;

use rampart_tests::node::{counter, rampart_binary, single_node_config_with_filter, start_node};
use rampart_tests::{Host, Lab, Segment, wait_until};

const FW_LAN: &str = "2001:db8:1::1";
const FW_WAN: &str = "2001:db8:2::1";
const CLIENT: &str = "2001:db8:1::10";
const SERVER: &str = "2001:db8:2::20";

/// pfSense's default LAN rule for both families; nothing on the WAN.
const FILTER: &str = r#"<filter>
		<rule>
			<tracker>1000000103</tracker>
			<type>pass</type>
			<interface>lan</interface>
			<ipprotocol>inet46</ipprotocol>
			<source><network>lan</network></source>
			<destination><any></any></destination>
			<descr><![CDATA[Default allow LAN to any rule]]></descr>
		</rule>
	</filter>"#;

/// A TCP echo server, and a client that sends 1 MiB and checks every byte comes back.
const ECHO_SERVER: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080)); s.listen(4)
print('listening', flush=True)
while True:
    c, _ = s.accept()
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.close()
"#;
const ECHO_CLIENT: &str = r#"
import os, socket, sys
data = os.urandom(1 << 20)
s = socket.create_connection((sys.argv[1], 8080), timeout=10)
s.sendall(data); s.shutdown(socket.SHUT_WR)
got = b''
while True:
    b = s.recv(65536)
    if not b: break
    got += b
print('ok' if got == data else 'MISMATCH %d' % len(got), flush=True)
"#;
const CONNECT: &str = r#"
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
    print('connected')
except socket.timeout:
    print('timeout')
except OSError as e:
    print('error', e)
"#;

#[test]
fn ipv6_is_routed_and_filtered_with_states() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::single_node().unwrap();
    let config = single_node_config_with_filter(&lab, Host::Fw1, 1, FILTER)
        .replace(
            "<descr><![CDATA[LAN]]></descr>",
            &format!(
                "<descr><![CDATA[LAN]]></descr><ipaddrv6>{FW_LAN}</ipaddrv6><subnetv6>64</subnetv6>"
            ),
        )
        .replace(
            "<descr><![CDATA[WAN]]></descr>",
            &format!(
                "<descr><![CDATA[WAN]]></descr><ipaddrv6>{FW_WAN}</ipaddrv6><subnetv6>64</subnetv6>"
            ),
        );
    let mut node = start_node(&lab, Host::Fw1, &binary, &config).unwrap();
    for (host, seg, addr, gw) in [
        (Host::Client, Segment::Lan, CLIENT, FW_LAN),
        (Host::Server, Segment::Wan, SERVER, FW_WAN),
    ] {
        let iface = lab.iface(host, seg).unwrap().to_string();
        let cidr = format!("{addr}/64");
        // The lab keeps IPv6 off unless a test asks for it.
        let knob = format!("net.ipv6.conf.{iface}.disable_ipv6=0");
        lab.exec_ok(host, &["sysctl", "-qw", &knob]).unwrap();
        lab.exec_ok(
            host,
            &["ip", "-6", "addr", "add", &cidr, "dev", &iface, "nodad"],
        )
        .unwrap();
        lab.exec_ok(
            host,
            &[
                "ip", "-6", "route", "add", "default", "via", gw, "dev", &iface,
            ],
        )
        .unwrap();
    }
    let server = lab
        .spawn(
            Host::Server,
            &["python3", "-c", ECHO_SERVER, SERVER],
            &lab.log_path("echo6"),
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(50), || server
            .log()
            .contains("listening")),
        "{}",
        server.log()
    );
    // The first exchange waits for neighbour discovery on both sides.
    let mut last = String::new();
    let echoed = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        let out = lab
            .exec_timeout(
                Host::Client,
                &["python3", "-c", ECHO_CLIENT, SERVER],
                Duration::from_secs(15),
            )
            .unwrap();
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        last.trim() == "ok"
    });
    assert!(
        echoed,
        "1 MiB echoed over IPv6 through rampart: {last}\n{}",
        node.process.log()
    );
    // The WAN cannot open a connection to the client.
    let back = lab
        .exec_timeout(
            Host::Server,
            &["python3", "-c", CONNECT, CLIENT, "22"],
            Duration::from_secs(5),
        )
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&back.stdout).trim(), "timeout");
    let report = node.counters().unwrap();
    eprintln!("{report}");
    assert!(counter(&report, "filter_block_in") >= 1, "{report}");
    assert!(counter(&report, "inserted") >= 2, "{report}");
    node.stop().unwrap();
    lab.teardown().unwrap();
}

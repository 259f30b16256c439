//! The real daemon in the namespace lab: Linux TCP stacks on either side, rampart on
//! `net_af_packet` in between. Needs root and a built `rampart` binary (`make test` does both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::time::Duration;

use rampart_tests::node::{
    LAN_ONLY_FILTER, counter, rampart_binary, single_node_config, single_node_config_with_filter,
    start_node,
};
use rampart_tests::{Host, Lab, StreamsConfig, ping, tcp_streams, tcp_transfer};

#[test]
fn rampart_routes_ping_and_tcp_between_namespaces() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::single_node().unwrap();
    let a = lab.addressing().clone();
    let node = start_node(
        &lab,
        Host::Fw1,
        &binary,
        &single_node_config(&lab, Host::Fw1),
    )
    .unwrap();

    // An idle node backs off: measure its CPU over 3 s before any traffic.
    let before = node.cpu_time().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let idle_share = (node.cpu_time().unwrap() - before).as_secs_f64() / 3.0;
    eprintln!("idle CPU: {:.1}% of one core", idle_share * 100.0);
    assert!(
        idle_share < 0.15,
        "idle node used {:.1}% of a core",
        idle_share * 100.0
    );

    let to_fw = ping(
        &lab,
        Host::Client,
        a.lan_gateway,
        3,
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        to_fw.received >= 2,
        "fw LAN address answered {}/3 pings",
        to_fw.received
    );
    let through = ping(&lab, Host::Client, a.server, 3, Duration::from_secs(10)).unwrap();
    assert!(
        through.received >= 2,
        "server answered {}/3 pings through rampart",
        through.received
    );
    let back = ping(&lab, Host::Server, a.client, 3, Duration::from_secs(10)).unwrap();
    assert!(
        back.received >= 2,
        "client answered {}/3 pings from the server",
        back.received
    );

    let single = tcp_transfer(&lab, Host::Client, Host::Server, a.server, 5201, 8 << 20)
        .unwrap_or_else(|e| panic!("transfer: {e:#}\n{}", node.process.log()));
    assert_eq!(single.bytes, 8 << 20);
    let many = tcp_streams(
        &lab,
        Host::Client,
        Host::Server,
        a.server,
        5202,
        &StreamsConfig {
            streams: 20,
            bytes_per_stream: 256 << 10,
            timeout: Duration::from_secs(60),
            rate_per_stream: None,
        },
    )
    .unwrap();
    assert!(many.all_ok(), "{:?}", many.errors);

    // SIGUSR1: the counters while running.
    let mut node = node;
    node.process.signal(rampart_tests::Signal::SIGUSR1).unwrap();
    assert!(
        rampart_tests::wait_until(Duration::from_secs(5), Duration::from_millis(50), || node
            .process
            .log()
            .contains("rampart: counters end")),
        "no counters on SIGUSR1:\n{}",
        node.process.log()
    );
    let log = node.stop().unwrap();
    let forwarded: u64 = log
        .lines()
        .rev() // the report at stop, after the SIGUSR1 one
        .find_map(|l| l.strip_prefix("forwarded "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counters in the log:\n{log}"));
    // Every TCP segment both ways plus the pings went through the node.
    assert!(
        forwarded > 8 * 1024 * 1024 / 1500,
        "forwarded only {forwarded}:\n{log}"
    );
    assert!(log.contains("echo_replies 3"), "{log}");
    lab.teardown().unwrap();
}

/// Two workers on two af_packet queue pairs: the kernel spreads flows over the queues, rampart
/// hands each packet to the worker that owns its flow, and everything still arrives.
#[test]
fn two_workers_forward_every_stream() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::single_node().unwrap();
    let a = lab.addressing().clone();
    // pfSense's default rules: the WAN gets no rule of its own, so a reply handled by a
    // worker that does not hold its connection's state would be dropped (filter_block_in).
    let config = single_node_config_with_filter(&lab, Host::Fw1, 2, LAN_ONLY_FILTER);
    let node = start_node(&lab, Host::Fw1, &binary, &config).unwrap();
    let through = ping(&lab, Host::Client, a.server, 3, Duration::from_secs(10)).unwrap();
    assert!(
        through.received >= 2,
        "server answered {}/3 pings",
        through.received
    );
    let many = tcp_streams(
        &lab,
        Host::Client,
        Host::Server,
        a.server,
        5203,
        &StreamsConfig {
            streams: 32,
            bytes_per_stream: 256 << 10,
            timeout: Duration::from_secs(60),
            rate_per_stream: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\n{}", node.process.log()));
    assert!(many.all_ok(), "{:?}\n{}", many.errors, node.process.log());
    let log = node.stop().unwrap();
    assert!(log.contains("with 2 worker(s)"), "{log}");
    let report = &log[log.rfind("forwarded ").unwrap()..];
    assert!(!report.contains("filter_block_in"), "{report}");
    assert!(
        counter(report, "handoff_in") > 0,
        "packets reached their flow's owner by handoff: {report}"
    );
    lab.teardown().unwrap();
}

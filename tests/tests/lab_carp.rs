//! CARP against a real peer in the namespace lab, tried as a user would: rampart (advskew 0)
//! and ucarp (advskew 100) share vhid 7 on the LAN; rampart is elected, ucarp takes over when
//! rampart is killed, rampart preempts back when restarted; with rampart the backup, killing
//! ucarp hands the VIP to rampart and the client reaches the VIP through it. tshark decodes
//! rampart's adverts (good checksum, the configured vhid, advskew and advbase), and the
//! failover times are measured from the captures. Needs root, ucarp and tshark (`make test`
//! installs them) and a built `rampart` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::path::Path;
use std::time::{Duration, SystemTime};

use rampart_tests::node::{HaNode, RunningNode, rampart_binary, start_node};
use rampart_tests::{Host, Lab, LabProcess, Segment, Signal, wait_until};

const VIP: &str = "10.10.1.254";
const VHID: u8 = 7;
const PASSWORD: &str = "s3cretpass";
const VMAC: &str = "00:00:5e:00:01:07";
/// ucarp's address on the LAN, in fw2's namespace (rampart runs in fw1's).
const UCARP_ADDR: &str = "10.10.1.2";

fn carp_node(fw: Host, advskew: u8, peer: Option<&str>) -> HaNode {
    let peer = peer.map_or(String::new(), |p| format!("<peer>{p}</peer>"));
    HaNode {
        pfsync: false,
        virtualip: format!(
            "<vip><mode>carp</mode><interface>lan</interface><vhid>{VHID}</vhid>\
             <advskew>{advskew}</advskew><advbase>1</advbase><password>{PASSWORD}</password>\
             <uniqid>6541a2b3c4d5e</uniqid><type>single</type><subnet_bits>24</subnet_bits>\
             <subnet>{VIP}</subnet><descr>LAN VIP</descr>{peer}</vip>"
        ),
        ..HaNode::new(fw)
    }
}

fn start_rampart(lab: &Lab, binary: &Path, advskew: u8) -> RunningNode {
    start_node(
        lab,
        Host::Fw1,
        binary,
        &carp_node(Host::Fw1, advskew, None).config(lab),
    )
    .unwrap()
}

/// tshark capturing CARP and ARP on the LAN bridge into `capture`.
fn capture_lan(lab: &Lab, capture: &Path) -> LabProcess {
    let p = lab
        .spawn(
            Host::Switch,
            &[
                "tshark",
                "-q",
                "-i",
                Segment::Lan.name(),
                "-f",
                "ip proto 112 or arp",
                "-w",
                &capture.to_string_lossy(),
            ],
            &lab.log_path("tshark"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    p
}

/// ucarp in fw2's namespace on its LAN interface, with scripts that add and remove the VIP.
fn start_ucarp(lab: &Lab, advskew: u8, run: usize) -> LabProcess {
    let dir = lab.log_path("ucarp-scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let (up, down) = (dir.join("up.sh"), dir.join("down.sh"));
    for (path, verb) in [(&up, "add"), (&down, "del")] {
        std::fs::write(
            path,
            format!("#!/bin/sh\nip addr {verb} \"$2\"/24 dev \"$1\" 2>/dev/null\nexit 0\n"),
        )
        .unwrap();
        lab.exec_ok(Host::Fw2, &["chmod", "+x", &path.to_string_lossy()])
            .unwrap();
    }
    let skew = advskew.to_string();
    let (up, down) = (up.to_string_lossy(), down.to_string_lossy());
    let argv = [
        "ucarp", "-i", "lan", "-s", UCARP_ADDR, "-v", "7", "-p", PASSWORD, "-a", VIP, "-b", "1",
        "-k", &skew, "-P", "-u", &up, "-d", &down,
    ];
    lab.spawn(Host::Fw2, &argv, &lab.log_path(&format!("ucarp-{run}")))
        .unwrap()
}

fn rampart_state(node: &mut RunningNode) -> String {
    let report = node.counters().unwrap();
    report
        .lines()
        .find(|l| l.starts_with(&format!("carp vhid {VHID} ")))
        .unwrap_or("")
        .to_string()
}

fn wait_rampart(node: &mut RunningNode, state: &str, timeout: Duration) -> bool {
    wait_until(timeout, Duration::from_millis(100), || {
        rampart_state(node).contains(&format!(": {state} "))
    })
}

fn client_reaches_vip(lab: &Lab) -> bool {
    let vip = VIP.parse().unwrap();
    wait_until(Duration::from_secs(8), Duration::from_millis(200), || {
        rampart_tests::traffic::ping(lab, Host::Client, vip, 1, Duration::from_secs(2))
            .is_ok_and(|stats| stats.received > 0)
    })
}

/// Seconds since the epoch, as tshark prints frame times.
fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Times (epoch seconds) of gratuitous ARPs for the VIP from `mac` in `capture`.
fn garps(lab: &Lab, capture: &Path, mac: &str) -> Vec<f64> {
    let filter =
        format!("arp.src.proto_ipv4 == {VIP} && arp.dst.proto_ipv4 == {VIP} && eth.src == {mac}");
    let out = lab
        .exec_ok(
            Host::Switch,
            &[
                "tshark",
                "-r",
                &capture.to_string_lossy(),
                "-Y",
                &filter,
                "-T",
                "fields",
                "-e",
                "frame.time_epoch",
            ],
        )
        .unwrap();
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Seconds of the day (UTC, as the lab's clock) at which ucarp logged becoming MASTER.
fn ucarp_master_times(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains("Switching to state: MASTER"))
        .filter_map(|l| {
            let time = l.split('T').nth(1)?.split(':').take(3).collect::<Vec<_>>();
            let [h, m, s] = time.as_slice() else {
                return None;
            };
            let s = s.trim_end_matches(|c: char| !c.is_ascii_digit());
            Some(
                h.parse::<f64>().ok()? * 3600.0
                    + m.parse::<f64>().ok()? * 60.0
                    + s.parse::<f64>().ok()?,
            )
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn rampart_and_ucarp_elect_fail_over_and_preempt() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    lab.exec_ok(
        Host::Fw2,
        &[
            "ip",
            "addr",
            "add",
            &format!("{UCARP_ADDR}/24"),
            "dev",
            "lan",
        ],
    )
    .unwrap();
    lab.exec_ok(Host::Fw2, &["ip", "link", "set", "lan", "up"])
        .unwrap();
    let capture = lab.log_path("carp").with_extension("pcap");
    let _tshark = lab
        .spawn(
            Host::Switch,
            &[
                "tshark",
                "-q",
                "-i",
                Segment::Lan.name(),
                "-f",
                "ip proto 112 or arp",
                "-w",
                &capture.to_string_lossy(),
            ],
            &lab.log_path("tshark"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));

    // Election: rampart (advskew 0) wins over ucarp (100).
    let mut fw1 = start_rampart(&lab, &binary, 0);
    let mut ucarp = start_ucarp(&lab, 100, 0);
    assert!(
        wait_rampart(&mut fw1, "MASTER", Duration::from_secs(6)),
        "{}",
        rampart_state(&mut fw1)
    );
    assert!(
        client_reaches_vip(&lab),
        "the client cannot reach the VIP through rampart"
    );

    // SIGKILL rampart: ucarp takes over and answers for the VIP.
    fw1.process.signal(Signal::SIGKILL).unwrap();
    let _ = fw1.process.wait_timeout(Duration::from_secs(5));
    assert!(
        wait_until(Duration::from_secs(8), Duration::from_millis(100), || ucarp
            .log()
            .contains("Switching to state: MASTER")),
        "ucarp did not take over:\n{}",
        ucarp.log()
    );
    assert!(
        client_reaches_vip(&lab),
        "the client cannot reach the VIP through ucarp"
    );

    // rampart comes back and preempts.
    let mut fw1 = start_rampart(&lab, &binary, 0);
    assert!(
        wait_rampart(&mut fw1, "MASTER", Duration::from_secs(6)),
        "{}",
        rampart_state(&mut fw1)
    );
    assert!(
        wait_until(Duration::from_secs(6), Duration::from_millis(100), || ucarp
            .log()
            .matches("Switching to state: BACKUP")
            .count()
            >= 2),
        "ucarp did not step back:\n{}",
        ucarp.log()
    );
    assert!(client_reaches_vip(&lab));
    // Graceful stop: rampart bows out, ucarp takes over at once. ucarp reads with libpcap's
    // buffering (up to ~1 s late, carp.md §4.6), so its own reaction bounds this figure.
    let stopped_at = epoch_now();
    fw1.stop().unwrap();
    assert!(
        wait_until(Duration::from_secs(6), Duration::from_millis(50), || {
            ucarp.log().matches("Switching to state: MASTER").count() >= 2
        }),
        "ucarp did not take over after the bow-out:\n{}",
        ucarp.log()
    );
    let graceful = ucarp_master_times(&ucarp.log())
        .last()
        .map(|t| t - stopped_at.rem_euclid(86_400.0));
    ucarp.signal(Signal::SIGKILL).unwrap();
    let _ = ucarp.wait_timeout(Duration::from_secs(5));
    lab.exec(
        Host::Fw2,
        &["ip", "addr", "del", &format!("{VIP}/24"), "dev", "lan"],
    )
    .unwrap();

    // rampart as the backup (advskew 200): kill ucarp, rampart takes over; five times.
    let mut takeovers = Vec::new();
    let mut fw1 = start_rampart(&lab, &binary, 200);
    for run in 1..=5 {
        let mut ucarp = start_ucarp(&lab, 100, run);
        assert!(
            wait_until(Duration::from_secs(8), Duration::from_millis(100), || ucarp
                .log()
                .contains("Switching to state: MASTER")),
            "ucarp did not become master:\n{}",
            ucarp.log()
        );
        assert!(
            wait_rampart(&mut fw1, "BACKUP", Duration::from_secs(5)),
            "{}",
            rampart_state(&mut fw1)
        );
        std::thread::sleep(Duration::from_millis(1500));
        let killed_at = epoch_now();
        ucarp.signal(Signal::SIGKILL).unwrap();
        let _ = ucarp.wait_timeout(Duration::from_secs(5));
        // SIGKILL skips ucarp's down script.
        lab.exec(
            Host::Fw2,
            &["ip", "addr", "del", &format!("{VIP}/24"), "dev", "lan"],
        )
        .unwrap();
        assert!(
            wait_rampart(&mut fw1, "MASTER", Duration::from_secs(8)),
            "{}",
            rampart_state(&mut fw1)
        );
        assert!(
            client_reaches_vip(&lab),
            "the client cannot reach the VIP after rampart took over"
        );
        // tshark writes its capture file in blocks: wait until the GARP is in it.
        let mut garp = None;
        wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
            garp = garps(&lab, &capture, VMAC)
                .into_iter()
                .find(|t| *t > killed_at);
            garp.is_some()
        });
        takeovers.push(garp.expect("rampart sent no gratuitous ARP") - killed_at);
    }
    let report = fw1.counters().unwrap();
    fw1.stop().unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // tshark decodes rampart's adverts: good checksum, vhid 7, advbase 1, advskew 0 and 200.
    let fields = lab
        .exec_ok(
            Host::Switch,
            &[
                "tshark",
                "-r",
                &capture.to_string_lossy(),
                "-d",
                "ip.proto==112,carp",
                "-Y",
                &format!("carp && eth.src == {VMAC}"),
                "-T",
                "fields",
                "-E",
                "separator=,",
                "-e",
                "carp.vhid",
                "-e",
                "carp.advskew",
                "-e",
                "carp.adver_int",
                "-e",
                "carp.checksum.status",
                "-e",
                "ip.ttl",
            ],
        )
        .unwrap();
    let adverts: Vec<&str> = fields.lines().collect();
    assert!(adverts.len() > 5, "{fields}");
    for line in &adverts {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], "7", "{line}");
        assert!(f[1] == "0" || f[1] == "200" || f[1] == "255", "{line}");
        assert!(f[2] == "1" || f[2] == "255", "{line}");
        // Wireshark: 0 bad, 1 good, 2 unverified.
        assert_eq!(f[3], "1", "checksum status good: {line}");
        assert_eq!(f[4], "255", "{line}");
    }
    assert!(
        adverts.iter().any(|l| l.starts_with("7,255,255")),
        "no bow-out advert:\n{fields}"
    );

    let goal = 3.0 + 200.0 / 256.0 + 0.1;
    eprintln!(
        "rampart took over {:.0} ms (median of 5; runs {:?} ms) after ucarp's SIGKILL; goal {:.0} ms",
        median(takeovers.clone()) * 1000.0,
        takeovers
            .iter()
            .map(|t| (t * 1000.0) as u64)
            .collect::<Vec<_>>(),
        goal * 1000.0
    );
    eprintln!(
        "ucarp took over {:.0} ms after rampart's graceful stop (its libpcap latency included)",
        graceful.unwrap_or(f64::NAN) * 1000.0
    );
    assert!(median(takeovers) <= goal, "{report}");
    lab.teardown().unwrap();
}

#[test]
fn two_rampart_nodes_over_unicast_carp_fail_over_on_kill_and_on_bow_out() {
    let binary = rampart_binary().unwrap();
    let lab = Lab::ha_pair().unwrap();
    let capture = lab.log_path("unicast").with_extension("pcap");
    let _tshark = capture_lan(&lab, &capture);
    let (ip1, ip2) = ("10.10.1.1", "10.10.1.2");
    let node = |fw, skew, peer| carp_node(fw, skew, Some(peer)).config(&lab);
    let mut fw1 = start_node(&lab, Host::Fw1, &binary, &node(Host::Fw1, 0, ip2)).unwrap();
    let mut fw2 = start_node(&lab, Host::Fw2, &binary, &node(Host::Fw2, 100, ip1)).unwrap();
    assert!(
        wait_rampart(&mut fw1, "MASTER", Duration::from_secs(6)),
        "{}",
        rampart_state(&mut fw1)
    );
    assert!(
        wait_rampart(&mut fw2, "BACKUP", Duration::from_secs(3)),
        "{}",
        rampart_state(&mut fw2)
    );
    assert!(client_reaches_vip(&lab));

    // Graceful stop: the bow-out hands the VIP over at once.
    let stopped_at = epoch_now();
    fw1.stop().unwrap();
    assert!(
        wait_rampart(&mut fw2, "MASTER", Duration::from_secs(5)),
        "{}",
        rampart_state(&mut fw2)
    );
    assert!(client_reaches_vip(&lab));
    // fw1 comes back and preempts; then it is killed.
    let mut fw1 = start_node(&lab, Host::Fw1, &binary, &node(Host::Fw1, 0, ip2)).unwrap();
    assert!(
        wait_rampart(&mut fw1, "MASTER", Duration::from_secs(6)),
        "{}",
        rampart_state(&mut fw1)
    );
    assert!(
        wait_rampart(&mut fw2, "BACKUP", Duration::from_secs(3)),
        "{}",
        rampart_state(&mut fw2)
    );
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = epoch_now();
    fw1.process.signal(Signal::SIGKILL).unwrap();
    assert!(
        wait_rampart(&mut fw2, "MASTER", Duration::from_secs(8)),
        "{}",
        rampart_state(&mut fw2)
    );
    assert!(client_reaches_vip(&lab));
    fw2.stop().unwrap();
    // tshark writes its capture file in blocks: wait until the last takeover is in it.
    let mut fw2_garps = Vec::new();
    wait_until(Duration::from_secs(5), Duration::from_millis(200), || {
        fw2_garps = garps(&lab, &capture, VMAC);
        fw2_garps.iter().any(|t| *t > killed_at)
    });
    let after = |t0: f64| fw2_garps.iter().copied().find(|t| *t > t0).map(|t| t - t0);
    let graceful = after(stopped_at).expect("no takeover after the graceful stop");
    let kill = after(killed_at).expect("no takeover after SIGKILL");
    eprintln!(
        "unicast CARP, rampart to rampart: takeover {:.0} ms after a graceful stop, {:.0} ms after SIGKILL",
        graceful * 1000.0,
        kill * 1000.0
    );
    assert!(graceful < 1.0, "graceful stop took {graceful} s");
    assert!(kill <= 3.0 + 100.0 / 256.0 + 0.1, "SIGKILL took {kill} s");
    // The adverts went to the peers' addresses, not to the group.
    let dsts = lab
        .exec_ok(
            Host::Switch,
            &[
                "tshark",
                "-r",
                &capture.to_string_lossy(),
                "-Y",
                "ip.proto == 112",
                "-T",
                "fields",
                "-e",
                "ip.dst",
            ],
        )
        .unwrap();
    assert!(dsts.lines().count() > 3, "{dsts}");
    assert!(dsts.lines().all(|d| d == ip1 || d == ip2), "{dsts}");
    lab.teardown().unwrap();
}

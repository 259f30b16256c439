//! The product's promise as one scenario, shared by `lab_failover` and `make demo`: two
//! rampart nodes with CARP VIPs on the LAN (the client's gateway) and the WAN (the server's,
//! and the outbound NAT address), pfsync on the sync link; verified TCP streams run from the
//! client to the server through the VIPs; the master goes away mid-stream; every stream must
//! complete through the backup, which already knew the connections.
//!
//! [`run`] returns an [`Outcome`]: the streams' report, the failover gap seen on the WAN, TCP
//! retransmissions, the states on each node and a [`Timeline`] of what happened.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::lab::MANAGEMENT;
use crate::node::{ADMIN_ACCOUNT, HaNode, RunningNode, counter, start_node, xmlrpc_fingerprint};
use crate::timeline::{self, Mark, Timeline, epoch_now};
use crate::{
    Addressing, Host, Lab, Segment, Signal, StreamsConfig, StreamsReport, Topology, tcp_streams,
    wait_until,
};

/// The client's gateway.
pub const LAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 1, 254);
/// The server's gateway and the outbound NAT address.
pub const WAN_VIP: Ipv4Addr = Ipv4Addr::new(10, 10, 2, 254);
/// Where the streams go on the server.
const PORT: u16 = 5201;
/// fw2's XMLRPC server, on the management link (fw1 pushes to its own webgui port).
const XMLRPC_PORT: u16 = 8443;
/// What a node prints when it applied a config pushed by its primary.
const SYNCED_LINE: &str = "rampart: config synced by XMLRPC";

/// The HA lab's addresses: client and server route through the VIPs.
pub fn ha_addressing() -> Addressing {
    Addressing {
        lan_gateway: LAN_VIP,
        wan_gateway: WAN_VIP,
        ..Addressing::default()
    }
}

fn vip(iface: &str, vhid: u8, advskew: u8, addr: Ipv4Addr) -> String {
    format!(
        "<vip><mode>carp</mode><interface>{iface}</interface><vhid>{vhid}</vhid>\
         <advskew>{advskew}</advskew><advbase>1</advbase><password>failover-{vhid}</password>\
         <uniqid>65a0000000{vhid:03}</uniqid><type>single</type><subnet_bits>24</subnet_bits>\
         <subnet>{addr}</subnet></vip>"
    )
}

/// A member of the pair: VIP 1 on the LAN and VIP 2 on the WAN with `advskew`; with `nat`,
/// outbound NAT of the LAN to the WAN VIP, as pfSense HA pairs are set up (the server sees
/// the VIP, which moves with the master).
pub fn member(fw: Host, advskew: u8, nat: bool) -> HaNode {
    let mut node = HaNode {
        virtualip: vip("lan", 1, advskew, LAN_VIP) + &vip("wan", 2, advskew, WAN_VIP),
        ..HaNode::new(fw)
    };
    if nat {
        node.filter.push_str(&format!(
            "<nat><outbound><mode>advanced</mode>\
             <rule><interface>wan</interface><source><network>10.10.1.0/24</network></source>\
             <destination><any/></destination><target>{WAN_VIP}</target></rule>\
             </outbound></nat>"
        ));
    }
    node
}

/// fw1 as the primary: [`member`] with advskew 0, syncing rules, aliases, NAT and VIPs to
/// fw2's XMLRPC server, whose certificate it pins by `fingerprint`.
fn primary(nat: bool, fingerprint: &str) -> HaNode {
    HaNode {
        system: format!(
            "{ADMIN_ACCOUNT}<webgui><protocol>https</protocol><port>{XMLRPC_PORT}</port></webgui>"
        ),
        hasync_extra: format!(
            "<synchronizetoip>{}</synchronizetoip><username>admin</username>\
             <password>pfsense</password><synchronizerules>on</synchronizerules>\
             <synchronizealiases>on</synchronizealiases><synchronizenat>on</synchronizenat>\
             <synchronizevirtualip>on</synchronizevirtualip>",
            MANAGEMENT[1]
        ),
        rampart_extra: format!("<xmlrpc><peerfingerprint>{fingerprint}</peerfingerprint></xmlrpc>"),
        ..member(Host::Fw1, 0, nat)
    }
}

/// The CARP role `node` reports for `vhid` (`?` if none).
pub fn role(node: &mut RunningNode, vhid: u8) -> String {
    let Ok(report) = node.counters() else {
        return "?".into();
    };
    report
        .lines()
        .find(|l| l.starts_with(&format!("carp vhid {vhid} ")))
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

/// Waits until `node` holds `wanted` for both VIPs.
pub fn wait_role(node: &mut RunningNode, wanted: &str, timeout: Duration) -> bool {
    wait_until(timeout, Duration::from_millis(100), || {
        role(node, 1) == wanted && role(node, 2) == wanted
    })
}

/// How the master goes away mid-stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// SIGKILL: the backup notices when the adverts stop.
    Kill,
    /// SIGTERM: the master bows out and the backup takes over at once.
    Stop,
    /// SIGKILL, then the old master restarts while the streams still run: it gets the
    /// states back by bulk update, stays demoted meanwhile, then preempts.
    KillAndReturn,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::Kill => "SIGKILL of the master",
            Loss::Stop => "graceful stop of the master (SIGTERM, CARP bow-out)",
            Loss::KillAndReturn => "SIGKILL of the master, which then comes back and preempts",
        })
    }
}

/// One run of the scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Concurrent connections.
    pub streams: usize,
    /// Bytes each sends (every one verified by the server).
    pub bytes_per_stream: u64,
    /// Pace per stream in bytes/s (`None`: as fast as it goes).
    pub rate_per_stream: Option<u64>,
    /// Outbound NAT to the WAN VIP.
    pub nat: bool,
    /// What happens to the master.
    pub loss: Loss,
    /// A `rampartctl` binary: when set, what `status`, `carp status` and `sync status` say
    /// on each node before the loss and at the end is told to `say`.
    pub rampartctl: Option<PathBuf>,
}

/// What a run saw.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was run.
    pub scenario: Scenario,
    /// The streams: how many completed with every byte verified.
    pub streams: StreamsReport,
    /// Last frame fw1 forwarded to the server before the first fw2 did, after the loss (ms).
    pub gap_ms: Option<f64>,
    /// TCP segments the client and the server retransmitted during the run.
    pub retransmissions: u64,
    /// States on fw1 and fw2 just before the loss.
    pub states_before: (u64, u64),
    /// States on fw1 (if running) and fw2 once the streams were done.
    pub states_after: (Option<u64>, u64),
    /// Roles for the LAN VIP at the end: fw1 (if running) and fw2.
    pub roles_after: (Option<String>, String),
    /// fw1's counters just before the loss.
    pub fw1_report_before: String,
    /// fw2's counters at the end.
    pub fw2_report: String,
    /// The returned fw1's counters once it preempted (KillAndReturn).
    pub fw1_returned_report: Option<String>,
    /// What happened, in order.
    pub timeline: Timeline,
}

impl Outcome {
    /// Every stream completed with every byte verified.
    pub fn all_survived(&self) -> bool {
        self.streams.all_ok()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scenario;
        writeln!(
            f,
            "failover report: {}, {} connections{}",
            s.loss,
            s.streams,
            if s.nat {
                ", outbound NAT to the WAN VIP"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "  connections survived  {} / {} ({} MiB verified byte by byte, {:.0} Mbit/s)",
            self.streams.streams_ok,
            self.streams.streams,
            self.streams.bytes_verified >> 20,
            self.streams.mbit_s
        )?;
        match self.gap_ms {
            Some(gap) => writeln!(
                f,
                "  failover gap          {gap:.0} ms (last frame through fw1 -> first through fw2, on the WAN)"
            )?,
            None => writeln!(f, "  failover gap          not seen (no frame through fw2)")?,
        }
        writeln!(
            f,
            "  TCP retransmissions   {} (client and server)",
            self.retransmissions
        )?;
        let (fw1_after, fw2_after) = self.states_after;
        writeln!(
            f,
            "  states                before: fw1 {}, fw2 {}; after: fw1 {}, fw2 {}",
            self.states_before.0,
            self.states_before.1,
            fw1_after.map_or("(down)".to_string(), |n| n.to_string()),
            fw2_after
        )?;
        let (fw1_role, fw2_role) = &self.roles_after;
        writeln!(
            f,
            "  roles at the end      fw1 {}, fw2 {fw2_role}",
            fw1_role.as_deref().unwrap_or("(down)")
        )?;
        writeln!(
            f,
            "  fw2                   picked_up_loose {}  tcp_bad_state {}",
            counter(&self.fw2_report, "picked_up_loose"),
            counter(&self.fw2_report, "tcp_bad_state")
        )?;
        let drops = |report: &str| {
            report
                .lines()
                .find(|l| l.starts_with("drops:"))
                .unwrap_or("drops: ?")
                .to_string()
        };
        writeln!(
            f,
            "  fw1 before the loss   {}; rx_missed {}",
            drops(&self.fw1_report_before),
            rx_missed(&self.fw1_report_before)
        )?;
        writeln!(
            f,
            "  fw2 at the end        {}; rx_missed {}",
            drops(&self.fw2_report),
            rx_missed(&self.fw2_report)
        )?;
        if let Some(back) = &self.fw1_returned_report {
            writeln!(
                f,
                "  fw1 returned, at end  {}; rx_missed {}; picked_up_loose {}  tcp_bad_state {}",
                drops(back),
                rx_missed(back),
                counter(back, "picked_up_loose"),
                counter(back, "tcp_bad_state")
            )?;
        }
        for e in self.streams.errors.iter().take(10) {
            writeln!(f, "  error: {e}")?;
        }
        writeln!(f, "timeline:")?;
        write!(f, "{}", self.timeline)
    }
}

/// Packets the ports' devices dropped before a worker saw them (the report's last column).
fn rx_missed(report: &str) -> u64 {
    report
        .lines()
        .skip_while(|l| !l.starts_with("port "))
        .skip(1)
        .take_while(|l| !l.starts_with("forwarded "))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// What `rampartctl` says about `node` (its socket is `<config>.sock`), for an operator's eyes.
fn ctl_session(ctl: &Path, name: &str, node: &RunningNode, say: &mut dyn FnMut(&str)) {
    let socket = node.config.with_extension("sock");
    for args in [&["status"][..], &["carp", "status"], &["sync", "status"]] {
        let out = std::process::Command::new(ctl)
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output();
        let text = match out {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("cannot run {}: {e}\n", ctl.display()),
        };
        say(&format!(
            "{name}# rampartctl {}\n{}",
            args.join(" "),
            text.trim_end()
        ));
    }
}

/// TCP segments `host` has retransmitted (its namespace's `/proc/net/snmp`).
fn retransmitted(lab: &Lab, host: Host) -> Result<u64> {
    let snmp = lab.exec_ok(host, &["cat", "/proc/net/snmp"])?;
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next(), tcp.next());
    let (Some(names), Some(values)) = (names, values) else {
        bail!("no Tcp lines in /proc/net/snmp");
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .context("no RetransSegs in /proc/net/snmp")
}

/// The gap in `capture` (the WAN; frames towards the server count): the last frame from fw1's
/// MAC before the first from fw2's after `lost_at`.
fn gap_ms(lab: &Lab, capture: &Path, lost_at: f64) -> Result<Option<f64>> {
    // A long capture takes tshark a while to read.
    let out = lab.exec_timeout(
        Host::Switch,
        &[
            "tshark",
            "-r",
            &capture.to_string_lossy(),
            "-Y",
            &format!("tcp.dstport == {PORT}"),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "eth.src",
        ],
        Duration::from_secs(120),
    )?;
    let frames = String::from_utf8_lossy(&out.stdout);
    let (fw1_mac, fw2_mac) = (
        lab.mac(Host::Fw1, Segment::Wan)?,
        lab.mac(Host::Fw2, Segment::Wan)?,
    );
    let times = |mac: &str| -> Vec<f64> {
        frames
            .lines()
            .filter(|l| l.ends_with(mac))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    };
    let first_fw2 = times(&fw2_mac).into_iter().find(|t| *t > lost_at);
    let last_fw1 = first_fw2.and_then(|first| {
        times(&fw1_mac)
            .into_iter()
            .filter(|t| *t < first)
            .reduce(f64::max)
    });
    Ok(first_fw2.zip(last_fw1).map(|(f, l)| (f - l) * 1000.0))
}

/// Runs `scenario` with `binary` in a fresh HA lab (torn down at the end, also on error);
/// `say` hears each step as it happens.
///
/// # Errors
/// When the lab cannot be set up, a node does not start or take the role it should, or
/// the streams cannot run; a stream that fails is reported in the [`Outcome`], not here.
pub fn run(binary: &Path, scenario: &Scenario, say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let mut lab = Lab::new(Topology::HaPair, ha_addressing())?;
    let mut marks = vec![timeline::harness("lab up")];
    // As pfSense pairs are run: fw2 starts with its node-local settings only (interfaces,
    // pfsync, ports, its XMLRPC server on the management link); fw1, the primary, pushes it
    // its rules, NAT and VIPs (advskew + 100) over XMLRPC when it starts.
    lab.add_management_link()?;
    let fw2_spec = HaNode {
        rampart_extra: format!(
            "<xmlrpc><listen>{}:{XMLRPC_PORT}</listen></xmlrpc>",
            MANAGEMENT[1]
        ),
        ..member(Host::Fw2, 0, scenario.nat)
    };
    say("starting fw2 (secondary) with its node-local settings only: no rules, no VIPs");
    let mut fw2 = start_node(&lab, Host::Fw2, binary, &fw2_spec.bootstrap_config(&lab))?;
    let fingerprint = xmlrpc_fingerprint(&fw2.process.log())
        .with_context(|| format!("fw2 printed no XMLRPC certificate:\n{}", fw2.process.log()))?;
    let fw1_config = primary(scenario.nat, &fingerprint).config(&lab);
    say("starting fw1 (primary, advskew 0): it pushes its config to fw2 over XMLRPC");
    let mut fw1 = start_node(&lab, Host::Fw1, binary, &fw1_config)?;
    let pushed = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        fw2.process.log().contains(SYNCED_LINE)
    });
    if !pushed {
        bail!(
            "fw2 got no config from fw1 over XMLRPC:\nfw1:\n{}\nfw2:\n{}",
            fw1.process.log(),
            fw2.process.log()
        );
    }
    marks.push(timeline::harness("fw2 has fw1's config (XMLRPC)"));
    if !wait_role(&mut fw1, "MASTER", Duration::from_secs(8)) {
        bail!("fw1 did not become master:\n{}", fw1.process.log());
    }
    if !wait_role(&mut fw2, "BACKUP", Duration::from_secs(8)) {
        bail!("fw2 is not backup:\n{}", fw2.process.log());
    }
    say("fw1 is MASTER of both VIPs, fw2 is BACKUP");

    // Headers only, both directions, on both segments: who forwarded each frame, and when
    // (kept with the logs when a stream fails, to see which side lost what).
    let capture = lab.log_path("wan").with_extension("pcap");
    let lan_capture = lab.log_path("lan").with_extension("pcap");
    let mut captures = Vec::new();
    for (segment, file, name) in [
        (Segment::Wan, &capture, "tshark-wan"),
        (Segment::Lan, &lan_capture, "tshark-lan"),
    ] {
        captures.push(lab.spawn(
            Host::Switch,
            &[
                "tshark",
                "-q",
                "-i",
                segment.name(),
                "-s",
                "96",
                "-f",
                &format!("tcp port {PORT} or arp or ip proto 112"),
                "-w",
                &file.to_string_lossy(),
            ],
            &lab.log_path(name),
        )?);
    }
    std::thread::sleep(Duration::from_secs(2));
    let retrans_before = retransmitted(&lab, Host::Client)? + retransmitted(&lab, Host::Server)?;
    let cfg = StreamsConfig {
        streams: scenario.streams,
        bytes_per_stream: scenario.bytes_per_stream,
        rate_per_stream: scenario.rate_per_stream,
        timeout: Duration::from_secs(90),
    };
    let server = lab.addressing().server;
    let pace = scenario
        .rate_per_stream
        .map_or(String::new(), |r| format!(" at {} KiB/s each", r >> 10));
    say(&format!(
        "client -> {server}:{PORT} through the LAN VIP {LAN_VIP}: {} streams of {} KiB{pace}, \
         every byte verified by the server",
        scenario.streams,
        scenario.bytes_per_stream >> 10
    ));
    marks.push(timeline::harness(format!(
        "{} streams start",
        scenario.streams
    )));
    let mut lost_at = 0.0;
    let mut states_before = (0, 0);
    let mut fw1_report_before = String::new();
    let mut returned = None;
    let streams = std::thread::scope(|scope| -> Result<StreamsReport> {
        let running =
            scope.spawn(|| tcp_streams(&lab, Host::Client, Host::Server, server, PORT, &cfg));
        let lose = (|| -> Result<()> {
            // Every connection established, with fw2 holding its states: the promise is about
            // established connections (one still in its handshake may lose its SYN to the
            // dead master and time out, as with pf).
            let want = 2 * scenario.streams as u64;
            let synced = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
                fw2.counters()
                    .is_ok_and(|r| counter(&r, "states_imported") >= want)
            });
            if !synced {
                bail!("fw2 did not get the {want} states of the connections through fw1");
            }
            // A state exists from the SYN on: give the last handshakes time to finish.
            std::thread::sleep(Duration::from_secs(3));
            fw1_report_before = fw1.counters()?;
            states_before = (
                counter(&fw1_report_before, "states"),
                counter(&fw2.counters()?, "states"),
            );
            say(&format!(
                "states: fw1 {}, fw2 {} (pf keeps two per connection, one per interface)",
                states_before.0, states_before.1
            ));
            if let Some(ctl) = &scenario.rampartctl {
                ctl_session(ctl, "fw1", &fw1, say);
                ctl_session(ctl, "fw2", &fw2, say);
            }
            lost_at = epoch_now();
            match scenario.loss {
                Loss::Stop => {
                    say("SIGTERM fw1: it bows out");
                    marks.push(timeline::harness("fw1 SIGTERM"));
                    fw1.process.signal(Signal::SIGTERM)?;
                }
                Loss::Kill | Loss::KillAndReturn => {
                    say("SIGKILL fw1 mid-transfer");
                    marks.push(timeline::harness("fw1 SIGKILL"));
                    fw1.process.signal(Signal::SIGKILL)?;
                }
            }
            if scenario.loss != Loss::KillAndReturn {
                return Ok(());
            }
            if !wait_role(&mut fw2, "MASTER", Duration::from_secs(8)) {
                bail!("fw2 did not take over");
            }
            say("fw2 is MASTER");
            let _ = fw1.process.wait_timeout(Duration::from_secs(5));
            say("restarting fw1: it asks fw2 for every state and stays demoted until it has them");
            marks.push(timeline::harness("fw1 restarted"));
            let mut back = start_node(&lab, Host::Fw1, binary, &fw1_config)?;
            if !wait_role(&mut back, "MASTER", Duration::from_secs(15)) {
                bail!("fw1 did not come back:\n{}", back.counters()?);
            }
            say("fw1 has the states and preempted: MASTER again");
            returned = Some(back);
            Ok(())
        })();
        let report = running
            .join()
            .map_err(|_| anyhow::anyhow!("the streams' thread panicked"))??;
        lose?;
        Ok(report)
    })?;
    marks.push(timeline::harness(format!(
        "streams done: {}/{} verified",
        streams.streams_ok, streams.streams
    )));
    say(&format!(
        "streams done: {}/{} complete, every byte verified",
        streams.streams_ok, streams.streams
    ));
    let retransmissions = (retransmitted(&lab, Host::Client)? + retransmitted(&lab, Host::Server)?)
        .saturating_sub(retrans_before);
    if let Some(ctl) = &scenario.rampartctl {
        if let Some(back) = &returned {
            ctl_session(ctl, "fw1", back, say);
        }
        ctl_session(ctl, "fw2", &fw2, say);
    }
    let fw2_report = fw2.counters()?;
    let fw1_returned_report = returned.as_mut().map(RunningNode::counters).transpose()?;
    let states_after = (
        fw1_returned_report.as_deref().map(|r| counter(r, "states")),
        counter(&fw2_report, "states"),
    );
    let roles_after = (returned.as_mut().map(|n| role(n, 1)), role(&mut fw2, 1));
    for tshark in &mut captures {
        tshark.signal(Signal::SIGINT)?;
        let _ = tshark.wait_timeout(Duration::from_secs(10));
    }
    let gap_ms = gap_ms(&lab, &capture, lost_at)?;

    // The returned fw1 appends to the killed one's log: one file holds both lives.
    let fw1_log = returned
        .as_ref()
        .map_or_else(|| fw1.process.log(), |n| n.process.log());
    if let Some(node) = returned {
        node.stop()?;
    }
    let fw2_log = fw2.process.log();
    fw2.stop()?;
    // RAMPART_KEEP_LOGS keeps them from a passing run too (to study its captures).
    if !streams.all_ok() || std::env::var_os("RAMPART_KEEP_LOGS").is_some() {
        lab.keep_logs();
    }
    lab.teardown()?;
    let mut all: Vec<Mark> = marks;
    all.extend(timeline::from_log(Host::Fw1, &fw1_log));
    all.extend(timeline::from_log(Host::Fw2, &fw2_log));
    let start = all.first().map_or(0.0, |m| m.at);
    Ok(Outcome {
        scenario: scenario.clone(),
        streams,
        gap_ms,
        retransmissions,
        states_before,
        states_after,
        roles_after,
        fw1_report_before,
        fw2_report,
        fw1_returned_report,
        timeline: Timeline::new(all).since(start),
    })
}

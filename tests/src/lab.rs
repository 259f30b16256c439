//! The lab itself: namespaces, bridges, veth pairs, and their teardown.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::netns::{NETNS_RUN_DIR, in_netns};
use crate::process::{LabProcess, child_path, run_ok, run_with_timeout};
use crate::traffic::wait_until;

/// Every lab object name starts with this.
pub const NAME_TAG: &str = "rl";
/// Linux limit on interface names (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Default timeout of [`Lab::exec`].
pub const DEFAULT_EXEC_TIMEOUT: Duration = Duration::from_secs(10);
/// Where DPDK keeps its runtime directories (`--file-prefix` subdirectories).
pub const DPDK_RUN_DIR: &str = "/var/run/dpdk";
/// Where DPDK keeps hugepage files (`<file-prefix>map_*`).
pub const HUGEPAGE_DIR: &str = "/dev/hugepages";

/// fw1's and fw2's addresses on the management link ([`Lab::add_management_link`]).
pub const MANAGEMENT: [Ipv4Addr; 2] = [Ipv4Addr::new(10, 10, 9, 1), Ipv4Addr::new(10, 10, 9, 2)];

/// Timeout for the lab's own setup commands.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Serialises lab creation and sweeps within this process.
static SETUP_LOCK: Mutex<()> = Mutex::new(());
/// Distinguishes labs of one process.
static NEXT_LAB: AtomicU32 = AtomicU32::new(0);

/// A machine of the lab; each has its own network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// The client, on the LAN segment.
    Client,
    /// The server, on the WAN segment.
    Server,
    /// Firewall node 1 (lan, wan, sync).
    Fw1,
    /// Firewall node 2 (HA pair only).
    Fw2,
    /// The switch namespace holding the bridges.
    Switch,
}

impl Host {
    /// All hosts.
    pub const ALL: [Host; 5] = [
        Host::Client,
        Host::Server,
        Host::Fw1,
        Host::Fw2,
        Host::Switch,
    ];

    /// Short name, used in namespace names (`<prefix>-<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Host::Client => "client",
            Host::Server => "server",
            Host::Fw1 => "fw1",
            Host::Fw2 => "fw2",
            Host::Switch => "sw",
        }
    }

    /// Whether this is a firewall node.
    pub fn is_fw(self) -> bool {
        matches!(self, Host::Fw1 | Host::Fw2)
    }

    fn index(self) -> u8 {
        match self {
            Host::Client => 1,
            Host::Server => 2,
            Host::Fw1 => 3,
            Host::Fw2 => 4,
            Host::Switch => 5,
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A layer-2 segment (one bridge in the switch namespace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    /// Client side.
    Lan,
    /// Server side.
    Wan,
    /// Firewall state-sync / CARP link.
    Sync,
}

impl Segment {
    /// All segments.
    pub const ALL: [Segment; 3] = [Segment::Lan, Segment::Wan, Segment::Sync];

    /// Bridge name, and the firewall's interface name on this segment.
    pub fn name(self) -> &'static str {
        match self {
            Segment::Lan => "lan",
            Segment::Wan => "wan",
            Segment::Sync => "sync",
        }
    }

    fn index(self) -> u8 {
        match self {
            Segment::Lan => 1,
            Segment::Wan => 2,
            Segment::Sync => 3,
        }
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which hosts the lab has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// client, server, fw1 (lan, wan, sync).
    SingleNode,
    /// client, server, fw1 and fw2 (each lan, wan, sync).
    HaPair,
}

/// IPv4 addressing of the lab.  Only the client's and server's addresses and
/// routes are configured by the lab; firewall interfaces stay unaddressed
/// (rampart owns them) and the other fields are the plan for its configs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressing {
    /// Client address on the LAN (default 10.10.1.10).
    pub client: Ipv4Addr,
    /// Server address on the WAN (default 10.10.2.20).
    pub server: Ipv4Addr,
    /// Client's default gateway: the firewall's LAN address, or the CARP VIP
    /// in the HA lab (default 10.10.1.1).
    pub lan_gateway: Ipv4Addr,
    /// Server's default gateway: the firewall's WAN address or VIP
    /// (default 10.10.2.1).
    pub wan_gateway: Ipv4Addr,
    /// Prefix length of all segments (default 24).
    pub prefix_len: u8,
    /// Planned sync-link addresses of fw1 and fw2 (default 10.10.3.1, .2).
    pub sync: [Ipv4Addr; 2],
}

impl Default for Addressing {
    fn default() -> Self {
        Addressing {
            client: Ipv4Addr::new(10, 10, 1, 10),
            server: Ipv4Addr::new(10, 10, 2, 20),
            lan_gateway: Ipv4Addr::new(10, 10, 1, 1),
            wan_gateway: Ipv4Addr::new(10, 10, 2, 1),
            prefix_len: 24,
            sync: [Ipv4Addr::new(10, 10, 3, 1), Ipv4Addr::new(10, 10, 3, 2)],
        }
    }
}

/// One veth pair: `iface` in the host namespace, `port` in the switch
/// namespace enslaved to the segment's bridge.
#[derive(Clone, Debug)]
struct Attachment {
    host: Host,
    segment: Segment,
    iface: String,
    port: String,
}

/// Deterministic, locally administered MAC: 02:72:6c:<host>:<segment>:<end>
/// (end 1 = host side, 2 = switch side).
fn mac_for(host: Host, segment: Segment, end: u8) -> String {
    format!(
        "02:72:6c:{:02x}:{:02x}:{:02x}",
        host.index(),
        segment.index(),
        end
    )
}

/// Base-36 (0-9a-z) rendering of `n`.
pub fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

/// The lab prefix for process `pid`, lab number `n`: `rl<pid36>-<n36>`.
pub fn prefix_for(pid: u32, n: u32) -> String {
    format!(
        "{NAME_TAG}{}-{}",
        base36(u64::from(pid)),
        base36(u64::from(n))
    )
}

/// If `name` starts with a lab prefix (`rl<pid36>-<n36>`, followed by
/// nothing or by `-...`), the pid it was made by.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_TAG)?;
    let mut parts = rest.splitn(3, '-');
    let pid = parts.next()?;
    let n = parts.next()?;
    let is36 = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    };
    if !is36(pid) || !is36(n) || pid.len() > 7 {
        return None;
    }
    u32::from_str_radix(pid, 36).ok()
}

fn pid_alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists()
}

fn ip(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run_ok(cmd, SETUP_TIMEOUT)
}

fn ns_exec(ns: &str, argv: &[&str], timeout: Duration) -> Result<Output> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv);
    run_with_timeout(cmd, timeout)
}

fn ns_exec_ok(ns: &str, argv: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns]).args(argv);
    run_ok(cmd, SETUP_TIMEOUT)
}

/// Names of all named network namespaces (from `/var/run/netns`).
pub fn list_netns() -> Result<Vec<String>> {
    let dir = match std::fs::read_dir(NETNS_RUN_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).context(format!("reading {NETNS_RUN_DIR}")),
    };
    let mut names = Vec::new();
    for entry in dir {
        let entry = entry.with_context(|| format!("reading {NETNS_RUN_DIR}"))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// Interface names in the root network namespace.
pub fn list_root_links() -> Result<Vec<String>> {
    let out = ip(&["-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .filter(|n| !n.is_empty())
        .collect())
}

/// Pids of processes whose network namespace is `ns` (`ip netns pids`),
/// excluding this process.
fn netns_pids(ns: &str) -> Result<Vec<i32>> {
    let out = ip(&["netns", "pids", ns])?;
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    Ok(out
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|&p| p != me)
        .collect())
}

/// Terminates every process living in namespace `ns`: SIGTERM, then SIGKILL
/// after 3 s.
fn kill_netns_processes(ns: &str) -> Result<()> {
    let pids = netns_pids(ns)?;
    if pids.is_empty() {
        return Ok(());
    }
    eprintln!("lab: terminating processes left in netns {ns}: {pids:?}");
    for &p in &pids {
        let _ = kill(Pid::from_raw(p), Signal::SIGTERM);
    }
    let gone = || netns_pids(ns).map(|v| v.is_empty()).unwrap_or(false);
    if wait_until(Duration::from_secs(3), Duration::from_millis(50), gone) {
        return Ok(());
    }
    for p in netns_pids(ns)? {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    if wait_until(Duration::from_secs(3), Duration::from_millis(50), gone) {
        Ok(())
    } else {
        bail!(
            "processes in netns {ns} survived SIGKILL: {:?}",
            netns_pids(ns)?
        )
    }
}

/// Kills what lives in `ns` and deletes it.
fn destroy_netns(ns: &str) -> Result<()> {
    let killed = kill_netns_processes(ns);
    ip(&["netns", "delete", ns]).with_context(|| format!("deleting netns {ns}"))?;
    killed
}

/// Removes DPDK runtime directories and hugepage files whose names satisfy
/// `matches`.  Returns how many were removed.
fn remove_dpdk_leftovers(matches: &dyn Fn(&str) -> bool) -> Result<usize> {
    let mut removed = 0;
    for dir in [DPDK_RUN_DIR, HUGEPAGE_DIR] {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !matches(&name) {
                continue;
            }
            let path = entry.path();
            let res = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            res.with_context(|| format!("removing {}", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn sweep_locked() -> Result<usize> {
    let stale = |name: &str| owner_pid(name).is_some_and(|pid| !pid_alive(pid));
    let mut removed = 0;
    let mut errors = Vec::new();
    for ns in list_netns()? {
        if stale(&ns) {
            match destroy_netns(&ns) {
                Ok(()) => removed += 1,
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
    }
    // The lab never creates root-namespace interfaces, but older or
    // interrupted runs might have; recognise them by the same scheme.
    for link in list_root_links()? {
        if stale(&link) {
            match ip(&["link", "delete", &link]) {
                Ok(_) => removed += 1,
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
    }
    match remove_dpdk_leftovers(&stale) {
        Ok(n) => removed += n,
        Err(e) => errors.push(format!("{e:#}")),
    }
    if errors.is_empty() {
        Ok(removed)
    } else {
        bail!(
            "sweep removed {removed} stale objects but failed on: {}",
            errors.join("; ")
        )
    }
}

/// Removes namespaces, root-namespace interfaces and DPDK runtime files left
/// by labs of processes that no longer exist (recognised by the
/// `rl<pid36>-<n>` prefix).  Labs of live processes are never touched.
/// Returns the number of objects removed.
pub fn sweep_stale() -> Result<usize> {
    let _guard = SETUP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    sweep_locked()
}

fn find_tool(name: &str) -> bool {
    std::env::split_paths(&child_path()).any(|dir| dir.join(name).is_file())
}

/// Checks that we run as root and that the tools the lab uses are installed;
/// the error names every missing tool and its Debian package.
pub fn require_root_and_tools() -> Result<()> {
    let mut problems = Vec::new();
    if !nix::unistd::geteuid().is_root() {
        problems.push(
            "the network-namespace lab must run as root (it creates namespaces, veths and \
             bridges); run the tests as root, e.g. `sudo -E cargo test -p rampart-tests`"
                .to_string(),
        );
    }
    for (tool, package) in [
        ("ip", "iproute2"),
        ("ethtool", "ethtool"),
        ("sysctl", "procps"),
    ] {
        if !find_tool(tool) {
            problems.push(format!(
                "`{tool}` not found: install the Debian package `{package}` (apt-get install {package})"
            ));
        }
    }
    if !Path::new("/proc/sys/net/ipv4").is_dir() {
        problems.push("/proc/sys/net/ipv4 missing: is /proc mounted?".to_string());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "lab prerequisites not met:\n  - {}",
            problems.join("\n  - ")
        )
    }
}

/// A running lab.  Everything it created is removed by [`Lab::teardown`] or,
/// failing that, on `Drop` (errors are printed, never panicked).
#[derive(Debug)]
pub struct Lab {
    prefix: String,
    /// Namespace names, indexed like [`Host::ALL`].
    ns_names: Vec<String>,
    topology: Topology,
    addressing: Addressing,
    /// Hosts whose namespaces exist (in creation order).
    hosts: Vec<Host>,
    attachments: Vec<Attachment>,
    torn_down: bool,
    /// Keep the log folder at teardown (a failure the caller will report).
    keep_logs: bool,
}

impl Lab {
    /// client, server and fw1 (lan, wan, sync) with default addressing.
    pub fn single_node() -> Result<Lab> {
        Lab::new(Topology::SingleNode, Addressing::default())
    }

    /// client, server, fw1 and fw2 (each fw with lan, wan, sync) with
    /// default addressing.
    pub fn ha_pair() -> Result<Lab> {
        Lab::new(Topology::HaPair, Addressing::default())
    }

    /// Builds a lab.  Also sweeps stale objects of dead earlier runs first.
    /// On error everything created so far is removed again.
    pub fn new(topology: Topology, addressing: Addressing) -> Result<Lab> {
        require_root_and_tools()?;
        let _guard = SETUP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = sweep_locked() {
            eprintln!("lab: sweeping stale labs: {e:#}");
        }
        let n = NEXT_LAB.fetch_add(1, Ordering::Relaxed);
        let prefix = prefix_for(std::process::id(), n);
        let mut lab = Lab {
            ns_names: Host::ALL
                .iter()
                .map(|h| format!("{prefix}-{}", h.name()))
                .collect(),
            prefix,
            topology,
            addressing,
            hosts: Vec::new(),
            attachments: Vec::new(),
            torn_down: false,
            keep_logs: false,
        };
        // On error, `lab` is dropped here and removes what exists.
        lab.build()
            .with_context(|| format!("building lab {}", lab.prefix))?;
        Ok(lab)
    }

    fn planned_hosts(&self) -> Vec<Host> {
        match self.topology {
            Topology::SingleNode => vec![Host::Switch, Host::Client, Host::Server, Host::Fw1],
            Topology::HaPair => {
                vec![
                    Host::Switch,
                    Host::Client,
                    Host::Server,
                    Host::Fw1,
                    Host::Fw2,
                ]
            }
        }
    }

    fn planned_attachments(&self) -> Vec<Attachment> {
        let mut v = vec![
            (Host::Client, Segment::Lan, "eth0"),
            (Host::Server, Segment::Wan, "eth0"),
        ];
        for fw in [Host::Fw1, Host::Fw2] {
            if fw == Host::Fw2 && self.topology == Topology::SingleNode {
                continue;
            }
            for seg in Segment::ALL {
                v.push((fw, seg, seg.name()));
            }
        }
        v.into_iter()
            .map(|(host, segment, iface)| Attachment {
                host,
                segment,
                iface: iface.to_string(),
                port: format!("{}-{}", host.name(), segment.name()),
            })
            .collect()
    }

    fn build(&mut self) -> Result<()> {
        for host in self.planned_hosts() {
            let ns = self.ns(host).to_string();
            ip(&["netns", "add", &ns])?;
            self.hosts.push(host);
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            // `default` makes interfaces created later come up without IPv6.
            ns_exec_ok(
                &ns,
                &[
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
            )?;
        }
        let sw = self.ns(Host::Switch).to_string();
        for seg in Segment::ALL {
            let br = seg.name();
            ip(&[
                "-n",
                &sw,
                "link",
                "add",
                br,
                "type",
                "bridge",
                "forward_delay",
                "0",
                "stp_state",
                "0",
                "mcast_snooping",
                "0",
            ])?;
            ip(&["-n", &sw, "link", "set", br, "up"])?;
        }
        for att in self.planned_attachments() {
            if att.iface.len() > IFNAME_MAX || att.port.len() > IFNAME_MAX {
                bail!(
                    "interface name {} / {} longer than {IFNAME_MAX}",
                    att.iface,
                    att.port
                );
            }
            let ns = self.ns(att.host).to_string();
            let mac = mac_for(att.host, att.segment, 1);
            let peer_mac = mac_for(att.host, att.segment, 2);
            ip(&[
                "-n", &ns, "link", "add", &att.iface, "address", &mac, "type", "veth", "peer",
                "name", &att.port, "address", &peer_mac, "netns", &sw,
            ])?;
            ip(&[
                "-n",
                &sw,
                "link",
                "set",
                &att.port,
                "master",
                att.segment.name(),
            ])?;
            for (n, dev) in [(&sw, &att.port), (&ns, &att.iface)] {
                ns_exec_ok(
                    n,
                    &[
                        "ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off", "gso", "off",
                        "gro", "off",
                    ],
                )?;
                ip(&["-n", n, "link", "set", dev, "up"])?;
            }
            self.attachments.push(att);
        }
        let a = self.addressing.clone();
        for (host, addr, gw) in [
            (Host::Client, a.client, a.lan_gateway),
            (Host::Server, a.server, a.wan_gateway),
        ] {
            let ns = self.ns(host).to_string();
            let cidr = format!("{addr}/{}", a.prefix_len);
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", &ns, "route", "add", "default", "via", &gw.to_string()])?;
        }
        self.wait_links_up()
    }

    /// Waits (bounded) until every lab interface reports carrier.
    fn wait_links_up(&self) -> Result<()> {
        let mut pending: Vec<(String, String)> = Vec::new();
        let sw = self.ns(Host::Switch).to_string();
        for att in &self.attachments {
            pending.push((self.ns(att.host).to_string(), att.iface.clone()));
            pending.push((sw.clone(), att.port.clone()));
        }
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            pending.retain(|(ns, dev)| {
                ip(&["-n", ns, "-o", "link", "show", "dev", dev])
                    .map(|out| !out.contains("LOWER_UP"))
                    .unwrap_or(true)
            });
            pending.is_empty()
        });
        if ok {
            Ok(())
        } else {
            bail!("interfaces without carrier after 5 s: {pending:?}")
        }
    }

    /// A kernel veth pair between fw1's and fw2's namespaces (`<prefix>-mg` in each),
    /// addressed [`MANAGEMENT`]`/24`: the nodes' management link, for control-plane TCP
    /// such as XMLRPC (the data and sync NICs belong to DPDK). It lives in the firewall
    /// namespaces, so teardown removes it with them. Returns the interface name.
    ///
    /// # Errors
    /// Without fw2 (a single-node lab), or when `ip` fails.
    pub fn add_management_link(&self) -> Result<String> {
        let (ns1, ns2) = (
            self.check_host(Host::Fw1)?.to_string(),
            self.check_host(Host::Fw2)?.to_string(),
        );
        let name = format!("{}-mg", self.prefix);
        if name.len() > IFNAME_MAX {
            bail!("management interface name {name} is too long");
        }
        ip(&[
            "-n", &ns1, "link", "add", &name, "type", "veth", "peer", "name", &name, "netns", &ns2,
        ])?;
        for (ns, addr) in [(&ns1, MANAGEMENT[0]), (&ns2, MANAGEMENT[1])] {
            let cidr = format!("{addr}/24");
            ip(&["-n", ns, "addr", "add", &cidr, "dev", &name])?;
            ip(&["-n", ns, "link", "set", &name, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        let up = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            [&ns1, &ns2].iter().all(|ns| {
                ip(&["-n", ns, "-o", "link", "show", "dev", &name])
                    .is_ok_and(|out| out.contains("LOWER_UP"))
            })
        });
        if !up {
            bail!("management link {name} has no carrier after 5 s");
        }
        Ok(name)
    }

    /// The lab's unique prefix (`rl<pid36>-<n36>`); all its namespace names
    /// start with it.  Also the base for DPDK `--file-prefix`
    /// (see [`Lab::dpdk_file_prefix`]).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The topology this lab was built with.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The addressing plan.
    pub fn addressing(&self) -> &Addressing {
        &self.addressing
    }

    /// Hosts present in this lab (the switch included).
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Whether `host` exists in this lab (e.g. `Fw2` only in the HA lab).
    pub fn has(&self, host: Host) -> bool {
        self.hosts.contains(&host)
    }

    /// The firewall nodes of this lab.
    pub fn firewalls(&self) -> Vec<Host> {
        self.hosts.iter().copied().filter(|h| h.is_fw()).collect()
    }

    /// Full namespace name of `host`: `<prefix>-<host>`.
    pub fn ns(&self, host: Host) -> &str {
        let idx = Host::ALL.iter().position(|h| *h == host).unwrap_or(0);
        self.ns_names
            .get(idx)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Name of the interface inside a firewall namespace on `seg` (what
    /// rampart opens with `net_af_packet`, e.g. `iface=lan`).
    pub fn fw_iface(&self, _fw: Host, seg: Segment) -> String {
        seg.name().to_string()
    }

    /// Name of `host`'s interface on `seg` inside its namespace.
    pub fn iface(&self, host: Host, seg: Segment) -> Result<&str> {
        self.attachment(host, seg).map(|a| a.iface.as_str())
    }

    /// MAC address of `host`'s interface on `seg` (deterministic:
    /// `02:72:6c:<host>:<segment>:01`).
    pub fn mac(&self, host: Host, seg: Segment) -> Result<String> {
        self.attachment(host, seg)
            .map(|a| mac_for(a.host, a.segment, 1))
    }

    fn attachment(&self, host: Host, seg: Segment) -> Result<&Attachment> {
        self.attachments
            .iter()
            .find(|a| a.host == host && a.segment == seg)
            .ok_or_else(|| {
                anyhow!(
                    "{host} has no interface on segment {seg} in lab {}",
                    self.prefix
                )
            })
    }

    /// A DPDK `--file-prefix` for a daemon running on `host`, unique per lab
    /// and host, and removed (runtime dir, hugepage files) at teardown.
    pub fn dpdk_file_prefix(&self, host: Host) -> String {
        format!("{}-{}", self.prefix, host.name())
    }

    fn check_host(&self, host: Host) -> Result<&str> {
        if !self.has(host) {
            bail!(
                "lab {} ({:?}) has no host {host}",
                self.prefix,
                self.topology
            );
        }
        Ok(self.ns(host))
    }

    /// Runs `argv` inside `host`'s namespace to completion (10 s timeout),
    /// capturing its output.  A non-zero exit is not an error here.
    pub fn exec(&self, host: Host, argv: &[&str]) -> Result<Output> {
        self.exec_timeout(host, argv, DEFAULT_EXEC_TIMEOUT)
    }

    /// [`Lab::exec`] with an explicit timeout.
    pub fn exec_timeout(&self, host: Host, argv: &[&str], timeout: Duration) -> Result<Output> {
        let ns = self.check_host(host)?;
        ns_exec(ns, argv, timeout)
    }

    /// Runs `argv` in `host`'s namespace (10 s timeout); a non-zero exit is
    /// an error.  Returns stdout.
    pub fn exec_ok(&self, host: Host, argv: &[&str]) -> Result<String> {
        let ns = self.check_host(host)?;
        ns_exec_ok(ns, argv)
    }

    /// Starts `argv` in the background inside `host`'s namespace, stdout and
    /// stderr appended to `log_path`.  The returned [`LabProcess`] stops it
    /// on drop; anything still running in the namespace is also killed at
    /// teardown.  For environment variables use `["env", "K=V", prog, ...]`.
    pub fn spawn(&self, host: Host, argv: &[&str], log_path: &Path) -> Result<LabProcess> {
        let ns = self.check_host(host)?;
        if argv.is_empty() {
            bail!("spawn: empty argv");
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(argv);
        LabProcess::start(cmd, log_path)
    }

    /// A log path for `name` under the system temp dir, unique to this lab:
    /// `<tmp>/<prefix>/<name>.log`.  The directory is removed at teardown,
    /// except when tearing down during a panic (kept for the post-mortem).
    pub fn log_path(&self, name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(&self.prefix)
            .join(format!("{name}.log"))
    }

    /// Runs `f` on a thread inside `host`'s namespace (see [`in_netns`]).
    pub fn in_ns<T, F>(&self, host: Host, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce() -> Result<T> + Send,
    {
        let ns = self.check_host(host)?;
        in_netns(ns, f)
    }

    /// Tears the lab down, reporting every error.
    pub fn teardown(mut self) -> Result<()> {
        self.teardown_inner()
    }

    /// Keeps the logs (daemons', captures) past the teardown, as after a panic: for a
    /// failure found while the lab runs and reported after it is gone.
    pub fn keep_logs(&mut self) {
        self.keep_logs = true;
    }

    fn teardown_inner(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut errors = Vec::new();
        // Hosts before the switch: stops daemons before their links vanish.
        for host in self.hosts.iter().rev() {
            let ns = self.ns(*host).to_string();
            if let Err(e) = destroy_netns(&ns) {
                errors.push(format!("{e:#}"));
            }
        }
        let ours = |name: &str| {
            name == self.prefix
                || name
                    .strip_prefix(self.prefix.as_str())
                    .is_some_and(|r| r.starts_with('-'))
        };
        match list_netns() {
            Ok(left) => {
                let left: Vec<_> = left.into_iter().filter(|n| ours(n)).collect();
                if !left.is_empty() {
                    errors.push(format!("namespaces still present: {left:?}"));
                }
            }
            Err(e) => errors.push(format!("{e:#}")),
        }
        if let Err(e) = remove_dpdk_leftovers(&ours) {
            errors.push(format!("{e:#}"));
        }
        let logs = std::env::temp_dir().join(&self.prefix);
        if logs.is_dir() {
            if std::thread::panicking() || self.keep_logs {
                eprintln!("lab: keeping logs of the failed test in {}", logs.display());
            } else if let Err(e) = std::fs::remove_dir_all(&logs) {
                errors.push(format!("removing {}: {e}", logs.display()));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("tearing down lab {}: {}", self.prefix, errors.join("; "))
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown_inner() {
            eprintln!("lab: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_round_trips_and_fits() {
        for (pid, n) in [(1, 0), (4_194_304, 35), (u32::MAX, 1295)] {
            let p = prefix_for(pid, n);
            assert_eq!(owner_pid(&p), Some(pid), "{p}");
            assert_eq!(owner_pid(&format!("{p}-client")), Some(pid));
            // Namespace names have no 15-byte limit, but keep them short.
            assert!(format!("{p}-server").len() <= 22, "{p}");
        }
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn foreign_names_are_not_ours() {
        for name in [
            "rl",
            "rlx",
            "rl-1",
            "rlab",
            "rlAB-1",
            "rl12--x",
            "eth0",
            "docker0",
            "rl1234567890-1",
        ] {
            assert_eq!(owner_pid(name), None, "{name}");
        }
    }

    #[test]
    fn interface_names_fit_ifnamsiz() {
        for host in Host::ALL {
            for seg in Segment::ALL {
                assert!(format!("{}-{}", host.name(), seg.name()).len() <= IFNAME_MAX);
            }
        }
    }
}

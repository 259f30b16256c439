//! Running the real `rampart` daemon inside the lab: its config, its start, its stop.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{Host, Lab, LabProcess, Segment, Signal};

/// The daemon binary: `$RAMPART_BIN`, else `target/{release,debug}/rampart` of this workspace.
///
/// # Errors
/// When no binary is found (build it first: `cargo build --bin rampart`).
pub fn rampart_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("RAMPART_BIN") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!("RAMPART_BIN={} does not exist", path.display());
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    for profile in ["debug", "release"] {
        let candidate = target.join(profile).join("rampart");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("no rampart binary: run `cargo build --bin rampart` or set RAMPART_BIN")
}

/// config.xml for `fw` as the single router between the lab's LAN and WAN: its LAN and WAN
/// ports are the namespace's `lan`/`wan` veths opened with `net_af_packet`.
pub fn single_node_config(lab: &Lab, fw: Host) -> String {
    single_node_config_with_workers(lab, fw, 1)
}

/// As [`single_node_config`], with `workers` workers (each af_packet port gets as many queue
/// pairs).
pub fn single_node_config_with_workers(lab: &Lab, fw: Host, workers: usize) -> String {
    single_node_config_with_filter(lab, fw, workers, ALLOW_ALL_FILTER)
}

/// A `<filter>` that lets everything in on both interfaces, keeping state: for tests of
/// routing rather than filtering. (pfSense's own default has the LAN rule only.)
pub const ALLOW_ALL_FILTER: &str = r#"<filter>
		<rule>
			<tracker>1000000101</tracker>
			<type>pass</type>
			<interface>lan</interface>
			<ipprotocol>inet</ipprotocol>
			<statetype><![CDATA[keep state]]></statetype>
			<source><network>lan</network></source>
			<destination><any></any></destination>
			<descr><![CDATA[Default allow LAN to any rule]]></descr>
		</rule>
		<rule>
			<tracker>1000000102</tracker>
			<type>pass</type>
			<interface>wan</interface>
			<ipprotocol>inet</ipprotocol>
			<statetype><![CDATA[keep state]]></statetype>
			<source><any></any></source>
			<destination><any></any></destination>
			<descr><![CDATA[Lab: allow WAN to any]]></descr>
		</rule>
	</filter>"#;

/// pfSense's default `<filter>`: the LAN may go anywhere, nothing may come in from the WAN
/// (replies pass by state only).
pub const LAN_ONLY_FILTER: &str = r#"<filter>
		<rule>
			<tracker>1000000101</tracker>
			<type>pass</type>
			<interface>lan</interface>
			<ipprotocol>inet</ipprotocol>
			<statetype><![CDATA[keep state]]></statetype>
			<source><network>lan</network></source>
			<destination><any></any></destination>
			<descr><![CDATA[Default allow LAN to any rule]]></descr>
		</rule>
	</filter>"#;

/// The kernel ring of each `net_af_packet` queue: 2048 frames rather than the PMD's 512, so a
/// debug-build node descheduled for a moment on the shared 2-core machine (about 40 ms at
/// the failover lab's rate with 512) does not lose a burst. The kernel drops frames silently
/// when it is full: DPDK 22.11's af_packet PMD reports no `imissed`, so `rx_missed` stays 0.
const LAB_RING: &str = "framecnt=2048";

/// As [`single_node_config_with_workers`], with `filter` (a whole `<filter>` element, plus
/// `<aliases>` or `<nat>` if the test needs them) in place of [`ALLOW_ALL_FILTER`].
pub fn single_node_config_with_filter(lab: &Lab, fw: Host, workers: usize, filter: &str) -> String {
    let a = lab.addressing();
    let (lan, wan) = (
        lab.fw_iface(fw, Segment::Lan),
        lab.fw_iface(fw, Segment::Wan),
    );
    format!(
        r#"<?xml version="1.0"?>
<pfsense>
	<version>23.3</version>
	<system>
		<hostname>{host}</hostname>
		<domain>lab.test</domain>
	</system>
	<interfaces>
		<lan>
			<enable></enable>
			<if>lan0</if>
			<descr><![CDATA[LAN]]></descr>
			<ipaddr>{lan_ip}</ipaddr>
			<subnet>{len}</subnet>
		</lan>
		<wan>
			<enable></enable>
			<if>wan0</if>
			<descr><![CDATA[WAN]]></descr>
			<ipaddr>{wan_ip}</ipaddr>
			<subnet>{len}</subnet>
		</wan>
	</interfaces>
	<gateways></gateways>
	<staticroutes></staticroutes>
	{filter}
	<rampart>
		<workers>{workers}</workers>
		<polling>adaptive</polling>
		<port>
			<if>lan0</if>
			<devargs>net_af_packet0,iface={lan},qpairs={workers},{ring}</devargs>
		</port>
		<port>
			<if>wan0</if>
			<devargs>net_af_packet1,iface={wan},qpairs={workers},{ring}</devargs>
		</port>
	</rampart>
</pfsense>
"#,
        host = fw.name(),
        lan_ip = a.lan_gateway,
        wan_ip = a.wan_gateway,
        len = a.prefix_len,
        ring = LAB_RING,
    )
}

/// One member of the HA lab: its index (1 or 2) picks its addresses (`.1`/`.2` on every
/// segment) and its pf hostid; pfsync runs on the sync segment (multicast unless `peer`).
#[derive(Debug, Clone)]
pub struct HaNode {
    /// `Host::Fw1` or `Host::Fw2`.
    pub fw: Host,
    /// Workers.
    pub workers: usize,
    /// `<filter>` (and `<aliases>`/`<nat>`) element(s).
    pub filter: String,
    /// Extra `<system>` children (timeouts, ...).
    pub system: String,
    /// `<rampart><synckey>`, if any.
    pub sync_key: Option<String>,
    /// Unicast pfsync peer.
    pub peer: Option<std::net::Ipv4Addr>,
    /// `<virtualip>` children (CARP VIPs).
    pub virtualip: String,
    /// Whether pfsync runs (`<hasync><pfsyncenabled>`).
    pub pfsync: bool,
    /// Extra `<rampart>` children (e.g. `<pfsyncdefer/>`).
    pub rampart_extra: String,
    /// Extra `<hasync>` children (e.g. the XMLRPC sync target and `<synchronize*>`).
    pub hasync_extra: String,
}

impl HaNode {
    /// A member with the allow-all filter, one worker, multicast pfsync, no key.
    pub fn new(fw: Host) -> HaNode {
        HaNode {
            fw,
            workers: 1,
            filter: ALLOW_ALL_FILTER.to_string(),
            system: String::new(),
            sync_key: None,
            peer: None,
            virtualip: String::new(),
            pfsync: true,
            rampart_extra: String::new(),
            hasync_extra: String::new(),
        }
    }

    fn index(&self) -> u8 {
        if self.fw == Host::Fw2 { 2 } else { 1 }
    }

    /// Its config.xml in `lab`.
    pub fn config(&self, lab: &Lab) -> String {
        let a = lab.addressing();
        let n = self.index();
        let host = |ip: std::net::Ipv4Addr| {
            let [x, y, z, _] = ip.octets();
            std::net::Ipv4Addr::new(x, y, z, n)
        };
        let sync_ip = a.sync[usize::from(n - 1)];
        let peer = self.peer.map_or(String::new(), |p| {
            format!("<pfsyncpeerip>{p}</pfsyncpeerip>")
        });
        let key = self
            .sync_key
            .as_ref()
            .map_or(String::new(), |k| format!("<synckey>{k}</synckey>"));
        format!(
            r#"<?xml version="1.0"?>
<pfsense>
	<version>23.3</version>
	<system>
		<hostname>{name}</hostname>
		<domain>lab.test</domain>
		{system}
	</system>
	<interfaces>
		<lan><enable></enable><if>lan0</if><ipaddr>{lan}</ipaddr><subnet>{len}</subnet></lan>
		<wan><enable></enable><if>wan0</if><ipaddr>{wan}</ipaddr><subnet>{len}</subnet></wan>
		<opt1><enable></enable><if>sync0</if><descr>SYNC</descr><ipaddr>{sync_ip}</ipaddr><subnet>{len}</subnet></opt1>
	</interfaces>
	<gateways></gateways>
	<staticroutes></staticroutes>
	{filter}
	<virtualip>{virtualip}</virtualip>
	<hasync>
		{pfsync_enabled}
		<pfsyncinterface>opt1</pfsyncinterface>
		<pfhostid>{n:x}</pfhostid>
		{peer}
		{hasync_extra}
	</hasync>
	<rampart>
		<workers>{workers}</workers>
		<polling>adaptive</polling>
		{key}
		{rampart_extra}
		<port><if>lan0</if><devargs>net_af_packet0,iface={lan_if},qpairs={workers},{ring}</devargs></port>
		<port><if>wan0</if><devargs>net_af_packet1,iface={wan_if},qpairs={workers},{ring}</devargs></port>
		<port><if>sync0</if><devargs>net_af_packet2,iface={sync_if}</devargs></port>
	</rampart>
</pfsense>
"#,
            name = self.fw.name(),
            system = self.system,
            lan = host(a.lan_gateway),
            wan = host(a.wan_gateway),
            len = a.prefix_len,
            filter = self.filter,
            virtualip = self.virtualip,
            rampart_extra = self.rampart_extra,
            hasync_extra = self.hasync_extra,
            pfsync_enabled = if self.pfsync {
                "<pfsyncenabled>on</pfsyncenabled>"
            } else {
                ""
            },
            workers = self.workers,
            ring = LAB_RING,
            lan_if = lab.fw_iface(self.fw, Segment::Lan),
            wan_if = lab.fw_iface(self.fw, Segment::Wan),
            sync_if = lab.fw_iface(self.fw, Segment::Sync),
        )
    }
}

/// pfSense's factory `admin` account (password `pfsense`) and the `admins` group: what an
/// XMLRPC peer authenticates as in the lab.
pub const ADMIN_ACCOUNT: &str = r#"<group><name>admins</name><scope>system</scope><gid>1999</gid><member>0</member><priv>page-all</priv></group>
		<user><name>admin</name><scope>system</scope><groupname>admins</groupname><bcrypt-hash>$2b$10$13u6qwCOwODv34GyCMgdWub6oQF3RX0rG7c3d3X4JvzuEmAXLYDd2</bcrypt-hash><uid>0</uid></user>
		<nextuid>2000</nextuid><nextgid>2000</nextgid>"#;

impl HaNode {
    /// A bootstrap config for an XMLRPC secondary: only what is node-local — its
    /// `<interfaces>`, its `<hasync>` (pfsync, no sync target), its `<rampart>` section
    /// (ports, `rampart_extra` such as `<xmlrpc><listen>`) — and the XMLRPC user
    /// ([`ADMIN_ACCOUNT`]). No rules (everything is blocked), no VIPs: those come from the
    /// primary. `filter`, `virtualip` and `system` of `self` are not used.
    pub fn bootstrap_config(&self, lab: &Lab) -> String {
        let full = HaNode {
            filter: String::new(),
            virtualip: String::new(),
            system: ADMIN_ACCOUNT.to_string(),
            ..self.clone()
        }
        .config(lab);
        full.replace("\t<gateways></gateways>\n", "")
            .replace("\t<staticroutes></staticroutes>\n", "")
            .replace("\t<virtualip></virtualip>\n", "")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    }
}

/// The certificate fingerprint a node printed when its XMLRPC server started.
pub fn xmlrpc_fingerprint(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let rest = l.strip_prefix("rampart: xmlrpc on https://")?;
        let (_, fp) = rest.split_once("(certificate sha256 ")?;
        Some(fp.strip_suffix(')')?.to_owned())
    })
}

/// A rampart daemon running in a lab namespace.
#[derive(Debug)]
pub struct RunningNode {
    /// The process (killed on drop).
    pub process: LabProcess,
    /// Its config file.
    pub config: PathBuf,
}

/// Write `config` for `fw` and start `binary` on it; returns once the daemon says it forwards.
///
/// # Errors
/// When the daemon exits or stays silent for 30 s (the error quotes its log).
pub fn start_node(lab: &Lab, fw: Host, binary: &Path, config: &str) -> Result<RunningNode> {
    let config_path = lab
        .log_path(&format!("{}-config", fw.name()))
        .with_extension("xml");
    if let Some(dir) = config_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let prefix = lab.dpdk_file_prefix(fw);
    // RAMPART_LOG (e.g. `rampart_dataplane=debug`) sets the daemon's log filter in tests.
    let log_filter = format!(
        "RUST_LOG={}",
        std::env::var("RAMPART_LOG").unwrap_or_else(|_| "info".into())
    );
    let binary = binary.to_string_lossy().into_owned();
    let config_arg = config_path.to_string_lossy().into_owned();
    let argv = [
        "env",
        log_filter.as_str(),
        binary.as_str(),
        "--config",
        config_arg.as_str(),
        "--file-prefix",
        prefix.as_str(),
    ];
    // A restarted node appends to the same log: wait for a new "forwarding" line.
    const READY: &str = "rampart: forwarding on";
    let log_path = lab.log_path(fw.name());
    let before = std::fs::read_to_string(&log_path)
        .map(|l| l.matches(READY).count())
        .unwrap_or(0);
    let mut process = lab.spawn(fw, &argv, &log_path)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if process.log().matches(READY).count() > before {
            return Ok(RunningNode {
                process,
                config: config_path,
            });
        }
        if let Some(status) = process.try_status()? {
            bail!(
                "rampart exited ({status}) before forwarding:\n{}",
                process.log()
            );
        }
        if Instant::now() > deadline {
            bail!("rampart did not start within 30 s:\n{}", process.log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl RunningNode {
    /// SIGTERM, wait for a clean exit, and return the daemon's log (which ends with its counters).
    ///
    /// # Errors
    /// When it does not exit within 10 s or exits with a failure.
    pub fn stop(mut self) -> Result<String> {
        self.process.signal(Signal::SIGTERM)?;
        match self.process.wait_timeout(Duration::from_secs(10))? {
            Some(status) if status.success() => Ok(self.process.log()),
            Some(status) => bail!("rampart exited with {status}:\n{}", self.process.log()),
            None => bail!("rampart ignored SIGTERM for 10 s:\n{}", self.process.log()),
        }
    }

    /// The daemon's counters now: SIGUSR1, then the report it prints (the last one in its
    /// log), as text.
    ///
    /// # Errors
    /// When the signal fails or no report appears within 5 s.
    pub fn counters(&mut self) -> Result<String> {
        const END: &str = "rampart: counters end";
        let before = self.process.log().matches(END).count();
        self.process.signal(Signal::SIGUSR1)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.process.log();
            if log.matches(END).count() > before {
                let end = log.rfind(END).unwrap_or(log.len());
                let start = log[..end].rfind("port ").unwrap_or(0);
                return Ok(log[start..end].to_string());
            }
            if Instant::now() > deadline {
                bail!("no counters 5 s after SIGUSR1:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Writes `config` over the node's config file and sends SIGHUP; returns the daemon's
    /// answer (`rampart: ruleset reloaded …` or `rampart: reload refused: …`).
    ///
    /// # Errors
    /// When the file cannot be written or no answer appears within 5 s.
    pub fn reload(&mut self, config: &str) -> Result<String> {
        std::fs::write(&self.config, config)
            .with_context(|| format!("writing {}", self.config.display()))?;
        let answers = |log: &str| {
            log.lines()
                .filter(|l| {
                    l.starts_with("rampart: ruleset reloaded")
                        || l.starts_with("rampart: reload refused")
                })
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let before = answers(&self.process.log()).len();
        self.process.signal(Signal::SIGHUP)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let now = answers(&self.process.log());
            if now.len() > before {
                return Ok(now.last().cloned().unwrap_or_default());
            }
            if Instant::now() > deadline {
                bail!("no answer 5 s after SIGHUP:\n{}", self.process.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time (user + system) the daemon has used so far, from /proc.
    ///
    /// # Errors
    /// When /proc cannot be read (the process is gone).
    pub fn cpu_time(&self) -> Result<Duration> {
        cpu_time_of(self.daemon_pid()?)
    }

    /// The pid of the daemon itself (the lab spawns it through `env`, which execs it).
    ///
    /// # Errors
    /// Never in practice; kept fallible for symmetry with /proc reads.
    pub fn daemon_pid(&self) -> Result<u32> {
        Ok(self.process.pid())
    }
}

/// utime + stime of `pid` from `/proc/<pid>/stat`, all threads.
///
/// # Errors
/// When the file is missing or malformed.
pub fn cpu_time_of(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc stat")?
            .parse::<u64>()
            .context("bad /proc stat field")
    };
    // `after` starts at field 3, so field N is at index N - 3.
    let total = ticks(14 - 3)? + ticks(15 - 3)?;
    // /proc reports clock ticks in USER_HZ, which Linux fixes at 100 for userspace.
    let hz = 100;
    Ok(Duration::from_micros(total * 1_000_000 / hz))
}

/// The value of counter `name` in a report the daemon printed (`name value` pairs); 0 when
/// absent, as the report leaves out drop reasons that never happened.
pub fn counter(report: &str, name: &str) -> u64 {
    report
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w.first() == Some(&name))
        .and_then(|w| w.get(1)?.parse().ok())
        .unwrap_or(0)
}

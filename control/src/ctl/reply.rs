//! What the node answers, one type per kind of reply (the `"type"` tag of `ok`). Plain
//! data: strings, numbers and maps, so that scripts read it without knowing rampart's types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// `status` (boxed: it is by far the largest reply).
    Status(Box<NodeStatus>),
    /// `carp.status`, `carp.maintenance`.
    Carp(CarpReport),
    /// `states`.
    States(StateList),
    /// `states.count`.
    Count(StateCount),
    /// `states.kill`.
    Killed(StateCount),
    /// `sync.status`.
    Sync(SyncReport),
    /// `sync.resync`.
    Resync(ResyncReport),
    /// `sync.diff`.
    SyncDiff(SyncDiffReport),
    /// `rules`.
    Rules(RuleList),
    /// `stats`.
    Stats(Stats),
    /// `config.show`.
    Config(ConfigText),
    /// `config.check`, `config.apply`, `config.reload`.
    ConfigOutcome(ConfigOutcome),
}

/// `status`: the node at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// `<system><hostname>`.
    pub hostname: String,
    /// rampart's version line.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the node started.
    pub uptime_secs: u64,
    /// Worker threads.
    pub workers: usize,
    /// Data ports.
    pub ports: Vec<PortInfo>,
    /// States held now.
    pub states: u64,
    /// The running config.
    pub config: ConfigInfo,
    /// CARP, if the node runs vhids.
    pub carp: Option<CarpReport>,
    /// pfsync, if it is on.
    pub sync: Option<SyncReport>,
    /// XMLRPC configuration sync, if this node serves it or pushes it.
    #[serde(default)]
    pub xmlrpc: Option<XmlrpcReport>,
}

/// One data port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortInfo {
    /// Interface device name (the config's `<if>`).
    pub name: String,
    /// DPDK device.
    pub device: String,
    /// MAC address.
    pub mac: String,
    /// Link up.
    pub link_up: bool,
}

/// Which config the node runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    /// The file.
    pub path: String,
    /// SHA-256 of the bytes loaded, hex.
    pub sha256: String,
    /// `<version>` of the config.xml.
    pub version: String,
    /// `<revision><time>`, if present (pfSense stamps every save).
    pub revision: Option<String>,
    /// Unix time it was loaded.
    pub loaded_unix: u64,
    /// How: `start`, `reload` (SIGHUP or `config reload`) or `apply`.
    pub how: String,
    /// Filter rules compiled from it.
    pub filter_rules: usize,
}

/// CARP on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarpReport {
    /// Demotion total.
    pub demotion: i32,
    /// Maintenance mode on.
    pub maintenance: bool,
    /// Per vhid.
    pub vhids: Vec<VhidReport>,
    /// CARP packets for vhids the node does not run.
    pub unknown_vhid: u64,
    /// CARP packets too short or with a bad checksum.
    pub malformed: u64,
    /// Frames the workers could not take.
    pub send_failed: u64,
}

/// One vhid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VhidReport {
    /// Interface key.
    pub interface: String,
    /// The vhid.
    pub vhid: u8,
    /// `INIT`, `BACKUP` or `MASTER`.
    pub state: String,
    /// Skew in use.
    pub advskew: u8,
    /// Transitions so far.
    pub transitions: u64,
    /// The last one, as logged.
    pub last_transition: Option<String>,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received.
    pub adverts_received: u64,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
}

/// pfsync on the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Why the sync core is not running, if it is not.
    pub error: Option<String>,
    /// Sync interface.
    pub interface: String,
    /// Where frames go (the pfsync group or the unicast peer).
    pub peer: String,
    /// Whether the unicast peer's MAC is known.
    pub peer_resolved: bool,
    /// Frames carry the authentication trailer.
    pub authenticated: bool,
    /// Full-state format sent (1301 or 1400).
    pub format: u32,
    /// Frames sent.
    pub frames_sent: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Frames that could not be sent.
    pub tx_failed: u64,
    /// Messages waiting for a frame.
    pub pending: usize,
    /// Age of the oldest waiting message, ms.
    pub lag_ms: u64,
    /// States the sync core knows an owner for.
    pub known_states: usize,
    /// Our bulk update request.
    pub bulk: BulkReport,
    /// Whether we are sending a bulk update to the peer.
    pub responding: bool,
    /// Bulk updates the operator asked for.
    pub resyncs: u64,
    /// Messages sent, by type.
    pub sent: BTreeMap<String, u64>,
    /// Messages received, by type.
    pub received: BTreeMap<String, u64>,
    /// Drops by reason (non-zero only).
    pub drops: BTreeMap<String, u64>,
    /// Average frame fill, percent.
    pub fill_percent: f64,
    /// XMLRPC configuration sync, if this node serves it or pushes it.
    #[serde(default)]
    pub xmlrpc: Option<XmlrpcReport>,
}

/// XMLRPC configuration sync on the node: the server it runs (a secondary) and the pushes
/// it makes (a primary). A failed push is reported here until one succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlrpcReport {
    /// The URL this node serves (`https://172.16.0.2:443/xmlrpc.php`), if it serves.
    pub serving: Option<String>,
    /// SHA-256 fingerprint of the certificate it serves with (to pin on the primary).
    pub fingerprint: Option<String>,
    /// The secondary this node pushes to, if it is a primary (`<hasync><synchronizetoip>`).
    pub peer: Option<String>,
    /// `off` (not a primary), `never` (no push yet), `running`, `ok` or `failed`.
    pub state: String,
    /// The last push that ended.
    pub last: Option<XmlrpcPush>,
    /// Unix time of the last successful push.
    pub last_success_unix: Option<u64>,
    /// Pushes that ended.
    pub pushes_total: u64,
    /// Pushes that failed.
    pub failures_total: u64,
    /// Configs the primary pushed to this node and it applied.
    pub received_total: u64,
}

/// One push to the secondary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlrpcPush {
    /// Whether the secondary took the config.
    pub ok: bool,
    /// Unix time it ended.
    pub finished_unix: u64,
    /// What triggered it: `start`, `apply`, `reload`, `xmlrpc`.
    pub trigger: String,
    /// Attempts made by the call that ended it (up to 4, 1 s apart).
    pub attempts: u32,
    /// Sections sent (on success).
    pub sections: Vec<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// `sync.diff`: what a push would change on the secondary, section by section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDiffReport {
    /// The secondary's URL.
    pub peer: String,
    /// Each section the push carries.
    pub sections: Vec<SectionDiffEntry>,
    /// Parts of the payload the secondary would not apply (node-local).
    pub ignored: Vec<String>,
    /// Whether the push would change nothing.
    pub noop: bool,
}

/// One section of a [`SyncDiffReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionDiffEntry {
    /// The section (`filter`, `virtualip`, …).
    pub section: String,
    /// `unchanged`, `added`, `removed` or `changed`.
    pub change: String,
    /// The change in words (`filter: changed (rule 2 → 3, 1 differ)`).
    pub detail: String,
}

/// A bulk update's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkReport {
    /// `idle`, `requested`, `receiving`, `done` or `failed`.
    pub state: String,
    /// States received so far (or in the finished update).
    pub states: u64,
    /// Requests sent.
    pub tries: u32,
    /// How long the finished update took, ms.
    pub took_ms: Option<u64>,
    /// Whether CARP is demoted while it runs (the start-up update; not an operator's).
    pub demoting: bool,
}

impl BulkReport {
    /// Whether the update is still under way.
    pub fn in_progress(&self) -> bool {
        self.state == "requested" || self.state == "receiving"
    }
}

/// `sync.resync`: the request was taken; `resyncs` numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResyncReport {
    /// The operator's bulk requests so far, this one included.
    pub resyncs: u64,
    /// The sync status once the request was taken.
    pub sync: SyncReport,
}

/// `states`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateList {
    /// States the node holds.
    pub total: u64,
    /// States the selector matched (the list may be shorter: the limit).
    pub matched: u64,
    /// The states, by creator and id.
    pub states: Vec<StateEntry>,
}

/// One state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntry {
    /// Worker holding it.
    pub worker: usize,
    /// pf creator id, hex.
    pub creatorid: String,
    /// pf state id, hex.
    pub id: String,
    /// Protocol name.
    pub proto: String,
    /// `in` or `out`: the creating packet's direction.
    pub direction: String,
    /// The creating packet's source, `addr:port` (as on the wire).
    pub src: String,
    /// Its destination.
    pub dst: String,
    /// The other side of NAT (`src -> dst`), if translated.
    pub nat: Option<String>,
    /// Both peers' states, pfctl style (`ESTABLISHED:ESTABLISHED`, `MULTIPLE:SINGLE`).
    pub state: String,
    /// Seconds since creation.
    pub age_secs: u64,
    /// Seconds until expiry.
    pub expires_secs: u64,
    /// Packets `[forward, reverse]`.
    pub packets: [u64; 2],
    /// Bytes `[forward, reverse]`.
    pub bytes: [u64; 2],
    /// Rule that created it (index in `<filter>`).
    pub rule: Option<u32>,
}

/// `states.count` and `states.kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCount {
    /// States the node held (before a kill).
    pub total: u64,
    /// States matched (and removed, for a kill).
    pub matched: u64,
}

/// `rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleList {
    /// Every `<filter><rule>`, in config order.
    pub rules: Vec<RuleEntry>,
}

/// One filter rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleEntry {
    /// Position in `<filter>`, 0-based.
    pub index: u32,
    /// pfSense tracker.
    pub tracker: String,
    /// `pass`, `block`, `reject`, `match`.
    pub action: String,
    /// Interfaces (comma-separated; floating rules may name several).
    pub interface: String,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Description.
    pub descr: String,
    /// Packets it decided (state misses).
    pub evaluations: u64,
    /// States it created.
    pub states_created: u64,
    /// Its states alive now.
    pub states: u64,
    /// Packets of its states (alive and ended).
    pub packets: u64,
    /// Bytes of its states (alive and ended).
    pub bytes: u64,
}

/// `stats`: rates over the last interval and totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Length of the interval the rates are over, ms (0: no rates yet).
    pub interval_ms: u64,
    /// Per worker.
    pub workers: Vec<WorkerStats>,
    /// Drops by reason, all workers (non-zero only).
    pub drops: BTreeMap<String, u64>,
    /// Driver counters per port.
    pub ports: Vec<PortStats>,
}

/// One worker's rates and totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Worker index.
    pub worker: usize,
    /// Packets received per second.
    pub rx_pps: f64,
    /// Packets sent per second.
    pub tx_pps: f64,
    /// Drops per second.
    pub drops_per_sec: f64,
    /// States created per second.
    pub inserts_per_sec: f64,
    /// Share of polls that found packets, percent.
    pub busy_percent: f64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Drops.
    pub drops: u64,
    /// States held.
    pub states: u64,
    /// States created.
    pub states_inserted: u64,
}

/// A port's driver counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStats {
    /// Interface device name.
    pub name: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Received packets the device dropped.
    pub rx_missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// `config.show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigText {
    /// Which config.
    pub info: ConfigInfo,
    /// The XML as loaded.
    pub xml: String,
}

/// What a check, apply or reload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigOutcome {
    /// Whether the node now runs it (false for a check).
    pub applied: bool,
    /// Filter rules compiled.
    pub filter_rules: usize,
    /// Outbound NAT rules.
    pub outbound_nat: usize,
    /// Port forwards.
    pub port_forwards: usize,
    /// Rules the node cannot apply, and why.
    pub skipped: Vec<String>,
    /// Sections that changed but take effect only at a restart.
    pub restart_needed: Vec<String>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
}

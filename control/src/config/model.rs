//! Typed, validated views of the `config.xml` sections rampart uses. They are
//! read from the tree by [`Config::analyze`](super::Config::analyze); they are
//! never written back (edit the tree instead and re-run the analysis).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::net::{Ipv4Cidr, Ipv6Cidr, MacAddr};

/// The `<system>` elements of pf's state timeouts, in pf's class order (`tcp.first` …
/// `other.multiple`).
pub const STATE_TIMEOUT_ELEMENTS: [&str; 14] = [
    "tcpfirsttimeout",
    "tcpopeningtimeout",
    "tcpestablishedtimeout",
    "tcpclosingtimeout",
    "tcpfinwaittimeout",
    "tcpclosedtimeout",
    "udpfirsttimeout",
    "udpsingletimeout",
    "udpmultipletimeout",
    "icmpfirsttimeout",
    "icmperrortimeout",
    "otherfirsttimeout",
    "othersingletimeout",
    "othermultipletimeout",
];

/// `<system>`: identity and the local accounts (for XMLRPC authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// `<hostname>`.
    pub hostname: String,
    /// `<domain>`.
    pub domain: String,
    /// `<maximumstates>` (System > Advanced > Firewall): the state table size; pfSense's
    /// default depends on memory, rampart's is 1,000,000.
    pub maximum_states: Option<u32>,
    /// State timeouts set in System > Advanced > Firewall, in seconds, by pf class in the
    /// order of [`STATE_TIMEOUT_ELEMENTS`] (`None`: pf's default).
    pub state_timeouts: [Option<u32>; STATE_TIMEOUT_ELEMENTS.len()],
    /// `<user>` entries.
    pub users: Vec<User>,
    /// `<group>` entries.
    pub groups: Vec<Group>,
}

impl System {
    /// The user called `name`.
    #[must_use]
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The group called `name`.
    #[must_use]
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Groups `user` belongs to: those listing its uid as `<member>`, plus its
    /// legacy `<groupname>`.
    pub fn groups_of<'a>(&'a self, user: &'a User) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups.iter().filter(move |g| {
            user.uid.is_some_and(|uid| g.members.contains(&uid))
                || user.groupname.as_deref() == Some(g.name.as_str())
        })
    }
}

/// A `<system><user>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    /// `<name>`.
    pub name: String,
    /// `<uid>`.
    pub uid: Option<u32>,
    /// `<scope>` (`system`, `user`, …).
    pub scope: Option<String>,
    /// `<groupname>` (legacy primary group).
    pub groupname: Option<String>,
    /// `<bcrypt-hash>`.
    pub bcrypt_hash: Option<String>,
    /// `<sha512-hash>`.
    pub sha512_hash: Option<String>,
    /// `<priv>` entries.
    pub privs: Vec<String>,
    /// `<disabled>` flag.
    pub disabled: bool,
    /// `<descr>`.
    pub descr: String,
}

/// A `<system><group>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// `<name>`.
    pub name: String,
    /// `<gid>`.
    pub gid: Option<u32>,
    /// `<scope>`.
    pub scope: Option<String>,
    /// `<description>`.
    pub description: String,
    /// `<member>` uids.
    pub members: Vec<u32>,
    /// `<priv>` entries.
    pub privs: Vec<String>,
}

/// How an interface gets its IPv4 address (`<ipaddr>` + `<subnet>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ipv4Mode {
    /// No IPv4 address (`<ipaddr>` empty or absent).
    #[default]
    None,
    /// A static address with its prefix length.
    Static(Ipv4Cidr),
    /// A keyword such as `dhcp`, `pppoe`, `pptp`, `l2tp`, `ppp`.
    Dynamic(String),
}

/// How an interface gets its IPv6 address (`<ipaddrv6>` + `<subnetv6>`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Ipv6Mode {
    /// No IPv6 address.
    #[default]
    None,
    /// A static address with its prefix length.
    Static(Ipv6Cidr),
    /// A keyword such as `dhcp6`, `slaac`, `track6`, `6rd`, `6to4`.
    Dynamic(String),
}

/// One `<interfaces>` child (`wan`, `lan`, `optN`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// The key (element name): what rules, VIPs and NAT refer to.
    pub key: String,
    /// `<enable>` flag.
    pub enabled: bool,
    /// `<if>`: the device name (for rampart, the name a `<rampart><port>` maps).
    pub if_name: String,
    /// `<descr>`.
    pub descr: String,
    /// IPv4 addressing.
    pub ipv4: Ipv4Mode,
    /// IPv6 addressing.
    pub ipv6: Ipv6Mode,
    /// `<gateway>`: name of a gateway in `<gateways>`.
    pub gateway: Option<String>,
    /// `<gatewayv6>`.
    pub gateway_v6: Option<String>,
    /// `<mtu>`.
    pub mtu: Option<u16>,
    /// `<spoofmac>`.
    pub spoofmac: Option<MacAddr>,
}

impl Interface {
    /// The static IPv4 address and prefix, if any.
    #[must_use]
    pub fn ipv4_cidr(&self) -> Option<Ipv4Cidr> {
        match self.ipv4 {
            Ipv4Mode::Static(c) => Some(c),
            _ => None,
        }
    }

    /// The static IPv6 address and prefix, if any.
    #[must_use]
    pub fn ipv6_cidr(&self) -> Option<Ipv6Cidr> {
        match self.ipv6 {
            Ipv6Mode::Static(c) => Some(c),
            _ => None,
        }
    }

    /// The name pfSense shows: `<descr>`, or the upper-cased key.
    #[must_use]
    pub fn display_name(&self) -> String {
        if self.descr.is_empty() {
            self.key.to_ascii_uppercase()
        } else {
            self.descr.clone()
        }
    }
}

/// Address family of a gateway (`<ipprotocol>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpProtocol {
    /// `inet` (the default when absent).
    #[default]
    Inet,
    /// `inet6`.
    Inet6,
}

/// A gateway's `<gateway>` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayAddress {
    /// `dynamic`: learnt from DHCP/PPP on the interface.
    Dynamic,
    /// A fixed IPv4 next hop.
    V4(Ipv4Addr),
    /// A fixed IPv6 next hop.
    V6(Ipv6Addr),
}

/// A `<gateways><gateway_item>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// `<name>` (unique).
    pub name: String,
    /// `<interface>`: interface key.
    pub interface: String,
    /// `<gateway>`.
    pub address: GatewayAddress,
    /// `<ipprotocol>`.
    pub ip_protocol: IpProtocol,
    /// `<weight>` (1–30).
    pub weight: Option<u8>,
    /// `<disabled>` flag.
    pub disabled: bool,
    /// `<force_down>` flag.
    pub force_down: bool,
    /// Legacy `<defaultgw>` flag (configs before `defaultgw4`/`defaultgw6`).
    pub legacy_default: bool,
    /// `<descr>`.
    pub descr: String,
}

/// `<gateways>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gateways {
    /// `<gateway_item>` entries.
    pub items: Vec<Gateway>,
    /// Names of `<gateway_group>` entries.
    pub groups: Vec<String>,
    /// Default IPv4 gateway (or group) name: `<defaultgw4>`, or for old
    /// configs the first `inet` item flagged `<defaultgw>`. `-` means "none".
    pub default_v4: Option<String>,
    /// Default IPv6 gateway name, same rules as `default_v4`.
    pub default_v6: Option<String>,
}

/// Destination of a static route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteNetwork {
    /// An IPv4 network.
    V4(Ipv4Cidr),
    /// An IPv6 network.
    V6(Ipv6Cidr),
    /// The name of an alias from `<aliases>`.
    Alias(String),
}

/// A `<staticroutes><route>`. Its index in the list matters to the sync diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// `<network>`.
    pub network: RouteNetwork,
    /// `<gateway>`: gateway name.
    pub gateway: String,
    /// `<disabled>` flag.
    pub disabled: bool,
    /// `<descr>`.
    pub descr: String,
}

/// A VIP's `<mode>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipMode {
    /// `carp`.
    Carp,
    /// `ipalias`.
    IpAlias,
    /// `proxyarp`.
    ProxyArp,
    /// `other`.
    Other,
}

/// A `<virtualip><vip>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualIp {
    /// `<mode>`.
    pub mode: VipMode,
    /// `<interface>`: key, `lo0`, `_vip<uniqid>` or legacy `<key>_vip<vhid>`.
    pub interface: String,
    /// `<vhid>` (CARP, 1–255).
    pub vhid: Option<u8>,
    /// `<advskew>` (CARP, 0–254).
    pub advskew: Option<u8>,
    /// `<advbase>` (CARP, seconds, 1–255).
    pub advbase: Option<u8>,
    /// `<password>` (CARP shared secret, clear text).
    pub password: String,
    /// `<uniqid>`.
    pub uniqid: String,
    /// `<subnet>`: the address, despite the name.
    pub address: Option<IpAddr>,
    /// `<subnet_bits>`: prefix length of the real subnet.
    pub subnet_bits: Option<u8>,
    /// `<type>` (`single`, `network`).
    pub vip_type: String,
    /// `<descr>`.
    pub descr: String,
    /// `<peer>`: unicast CARP to this address instead of the multicast group (OPNsense's
    /// element; FreeBSD 14's `carppeer`).
    pub peer: Option<Ipv4Addr>,
}

impl VirtualIp {
    /// `advskew`, defaulting to 0.
    #[must_use]
    pub fn advskew_or_default(&self) -> u8 {
        self.advskew.unwrap_or(0)
    }

    /// `advbase`, defaulting to 1 second.
    #[must_use]
    pub fn advbase_or_default(&self) -> u8 {
        self.advbase.unwrap_or(1)
    }
}

/// `<hasync>` (node-local, never synced).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HaSync {
    /// `<pfsyncenabled>` flag.
    pub pfsync_enabled: bool,
    /// `<pfsyncinterface>`: interface key.
    pub pfsync_interface: Option<String>,
    /// `<pfsyncpeerip>`: unicast pfsync peer (none = multicast).
    pub pfsync_peer_ip: Option<Ipv4Addr>,
    /// `<pfhostid>`: up to 8 hex digits.
    pub pfhostid: Option<String>,
    /// `<synchronizetoip>`: XMLRPC target (set only on the primary).
    pub synchronize_to_ip: Option<String>,
    /// `<username>` (empty = `admin`).
    pub username: Option<String>,
    /// `<password>`.
    pub password: Option<String>,
    /// `<adminsync>` flag.
    pub adminsync: bool,
    /// Names of the `synchronize*` flags present (`synchronizerules`, …),
    /// excluding `synchronizetoip`.
    pub synchronize: BTreeSet<String>,
}

impl HaSync {
    /// Whether the `synchronize<what>` flag is set, e.g. `syncs("rules")`.
    #[must_use]
    pub fn syncs(&self, what: &str) -> bool {
        self.synchronize.contains(&format!("synchronize{what}"))
    }
}

/// An `<aliases><alias>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alias {
    /// `<name>`.
    pub name: String,
    /// `<type>` (`host`, `network`, `port`, `url`, …).
    pub alias_type: String,
    /// `<address>` split on whitespace.
    pub addresses: Vec<String>,
    /// `<descr>`.
    pub descr: String,
    /// `<detail>` (per-member descriptions joined with `||`).
    pub detail: String,
}

/// A `<filter><rule>`, reduced to what is needed to list it. The full rule
/// stays in the tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterRuleSummary {
    /// Position in `<filter>` (0-based, evaluation order).
    pub index: usize,
    /// `<tracker>`.
    pub tracker: String,
    /// `<type>`: `pass`, `block`, `reject`, `match` (empty means pass).
    pub action: String,
    /// `<interface>`.
    pub interface: String,
    /// `<ipprotocol>`.
    pub ip_protocol: String,
    /// `<protocol>` (empty = any).
    pub protocol: String,
    /// `<floating>` flag.
    pub floating: bool,
    /// `<disabled>` flag.
    pub disabled: bool,
    /// `<descr>`.
    pub descr: String,
}

/// Counts from `<nat>`, until a later change models NAT rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatSummary {
    /// `<outbound><mode>`.
    pub outbound_mode: Option<String>,
    /// Number of `<outbound><rule>`.
    pub outbound_rules: usize,
    /// Number of port forwards (`<nat><rule>`).
    pub port_forwards: usize,
    /// Number of `<onetoone>` entries.
    pub one_to_one: usize,
}

/// Worker polling strategy (`<rampart><polling>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Polling {
    /// Busy-poll, backing off to sleep when idle (default).
    #[default]
    Adaptive,
    /// Always busy-poll.
    Busy,
}

/// One `<rampart><port>`: a DPDK port backing an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// `<if>`: equals the `<if>` of an interface in `<interfaces>`.
    pub if_name: String,
    /// `<devargs>`: the DPDK device string (e.g. `net_af_packet0,iface=veth0`).
    pub devargs: String,
    /// `<cpu>`: optional CPU hint.
    pub cpu: Option<u32>,
}

/// `<rampart>`: this node's dataplane settings. Node-local: never synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSettings {
    /// `<workers>`: number of worker lcores, 1–64 (default 1).
    pub workers: u8,
    /// `<polling>`.
    pub polling: Polling,
    /// `<eal>`: extra EAL arguments.
    pub eal_args: Vec<String>,
    /// `<creatorid>`: pfsync creator id.
    pub creator_id: Option<u32>,
    /// `<port>` entries, in order.
    pub ports: Vec<PortConfig>,
    /// `<cores>`: CPU list for the workers.
    pub cores: Option<Vec<u32>>,
    /// `<synckey>`: shared key that authenticates pfsync frames (none: plain pfsync, for pf
    /// peers).
    pub sync_key: Option<String>,
    /// `<pfsyncversion>`: full-state format sent (1400 by default; 1301 for FreeBSD 13 peers).
    pub pfsync_version: PfsyncVersion,
    /// `<pfsyncdefer>` flag: hold a new state's first packet until the peer acknowledges
    /// the state (or 20 ms), as `ifconfig pfsync0 defer`.
    pub pfsync_defer: bool,
    /// `<ctlsocket>`: the control socket's path (the daemon's default when absent).
    pub ctl_socket: Option<String>,
    /// `<metrics>`: address and port of the Prometheus endpoint (off when absent).
    pub metrics: Option<std::net::SocketAddr>,
    /// `<xmlrpc>`: XMLRPC configuration sync (off when absent).
    pub xmlrpc: Option<XmlrpcSettings>,
}

/// `<rampart><xmlrpc>`: this node's side of XMLRPC configuration sync. Node-local like the
/// rest of `<rampart>`: XMLRPC never writes it.
///
/// The secondary serves with `<listen>`; the primary pushes to `<hasync><synchronizetoip>`
/// on the port and protocol of its own `<system><webgui>` (as pfSense does), so the
/// secondary's `<listen>` port must be that port.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlrpcSettings {
    /// `<listen>`: the management address and port the server listens on (no server when
    /// absent).
    pub listen: Option<std::net::SocketAddr>,
    /// `<cert>`: the server's PEM certificate chain (absolute path; the daemon's default
    /// is beside the config file). Generated, self-signed, on first start when neither it
    /// nor the key exists.
    pub cert: Option<String>,
    /// `<key>`: the server's PEM private key (absolute path).
    pub key: Option<String>,
    /// `<maxbody>`: the largest request body accepted, bytes (the server's default when
    /// absent: 16 MiB).
    pub max_body: Option<u32>,
    /// `<peerfingerprint>`: the primary pins the secondary's certificate to this SHA-256
    /// fingerprint (as printed by the secondary at start, or `openssl x509 -fingerprint
    /// -sha256`).
    pub peer_fingerprint: Option<crate::xmlrpc::Fingerprint>,
    /// `<insecure>` flag: the primary accepts any certificate, as pfSense does.
    pub insecure: bool,
}

/// The pfsync full-state format a node sends (it accepts both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PfsyncVersion {
    /// FreeBSD ≤ 13 (242-byte states).
    V1301,
    /// FreeBSD 14 (277-byte states).
    #[default]
    V1400,
}

impl NodeSettings {
    /// The port mapped to interface device `if_name`.
    #[must_use]
    pub fn port(&self, if_name: &str) -> Option<&PortConfig> {
        self.ports.iter().find(|p| p.if_name == if_name)
    }
}

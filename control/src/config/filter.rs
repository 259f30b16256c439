//! `<filter>` rules: the typed model and its validation.
//!
//! Each `<filter><rule>` becomes a [`FilterRule`] with every field that
//! decides what the rule matches and does, parsed into types (action,
//! interfaces, direction, address family, protocol and ICMP types, source and
//! destination [`Endpoint`]s, state type, TCP flags), plus the advanced
//! options rampart does not implement (`gateway`, `sched`, `tag`, `os`, …)
//! kept as strings so the compiler can refuse or ignore them explicitly.
//!
//! Validation (part of [`Config::analyze`](super::Config::analyze)) reports, with the element
//! path of each problem:
//! an unknown `type`, `direction`, `ipprotocol`, `protocol`, `statetype`,
//! `icmptype` name or TCP flag name; a bad port or port range; a source or
//! destination with none of `any`/`address`/`network`; an address of the
//! wrong family for `ipprotocol`; an alias that `<aliases>` does not define
//! (or one of the wrong kind: a port alias as an address, a host alias as a
//! port); and an interface key (`wan`, `lan`, `optN`, also in
//! `network`, e.g. `opt2ip`) that `<interfaces>` does not define.
//! Other interface names (groups such as `openvpn`, `enc0`, `ipsec`,
//! `wireguard`, user interface groups) are accepted and only logged. A
//! document without an `<interfaces>` section (a fragment) is not checked
//! for interface references.
//!
//! A rule with any problem is left out of the typed list (the summary in
//! [`FilterRuleSummary`](super::FilterRuleSummary) still lists it), so a
//! half-understood rule can never be compiled.

use std::fmt;
use std::net::IpAddr;

use super::model::{Alias, Interface};
use super::net::{Ipv4Cidr, Ipv6Cidr, parse_decimal};
use super::validate::{ConfigError, ConfigErrorKind, items, opt_text, raw_text, text};
use super::xml::Element;

/// A rule's `<type>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterAction {
    /// `pass` (also an empty or absent `<type>`, as pfSense reads old rules).
    Pass,
    /// `block`: drop silently.
    Block,
    /// `reject`: drop and answer (TCP RST or ICMP unreachable).
    Reject,
    /// `match` (floating rules only): matches without deciding anything.
    Match,
}

/// A floating rule's `<direction>`; interface rules are always `In`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDirection {
    /// `in`: packets arriving on the interface.
    In,
    /// `out`: packets leaving through the interface.
    Out,
    /// `any` (or empty): both.
    Any,
}

/// A rule's `<ipprotocol>`: which address families it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleIpProtocol {
    /// `inet` (also when empty or absent): IPv4 only.
    Inet,
    /// `inet6`: IPv6 only.
    Inet6,
    /// `inet46`: both families.
    Inet46,
}

impl RuleIpProtocol {
    /// Whether the rule applies to IPv4 packets.
    #[must_use]
    pub fn has_v4(self) -> bool {
        matches!(self, Self::Inet | Self::Inet46)
    }

    /// Whether the rule applies to IPv6 packets.
    #[must_use]
    pub fn has_v6(self) -> bool {
        matches!(self, Self::Inet6 | Self::Inet46)
    }
}

impl fmt::Display for RuleIpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Inet => "inet",
            Self::Inet6 => "inet6",
            Self::Inet46 => "inet46",
        })
    }
}

/// An ICMP type from `<icmptype>`: a pf name (`echoreq`) or a number, with
/// the ICMPv4 and ICMPv6 codes it stands for (a name may exist for only one
/// family, e.g. `toobig` is ICMPv6 only; a number stands for itself in both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpType {
    /// The name (or number) as written.
    pub name: String,
    /// The ICMPv4 type, if the name exists for IPv4.
    pub v4: Option<u8>,
    /// The ICMPv6 type, if the name exists for IPv6.
    pub v6: Option<u8>,
}

/// pf's ICMP type names (pfSense's `$icmptypes`): name, ICMPv4 type, ICMPv6 type.
pub const ICMP_TYPES: &[(&str, Option<u8>, Option<u8>)] = &[
    ("althost", Some(6), None),
    ("dataconv", Some(31), None),
    ("echorep", Some(0), Some(129)),
    ("echoreq", Some(8), Some(128)),
    ("fqdnrep", None, Some(140)),
    ("fqdnreq", None, Some(139)),
    ("groupqry", None, Some(130)),
    ("grouprep", None, Some(131)),
    ("groupterm", None, Some(132)),
    ("inforep", Some(16), None),
    ("inforeq", Some(15), None),
    ("ipv6-here", Some(34), None),
    ("ipv6-where", Some(33), None),
    ("listendone", None, Some(132)),
    ("listenrep", None, Some(131)),
    ("listqry", None, Some(130)),
    ("maskrep", Some(18), None),
    ("maskreq", Some(17), None),
    ("mobredir", Some(32), None),
    ("mobregrep", Some(36), None),
    ("mobregreq", Some(35), None),
    ("mtrace", None, Some(201)),
    ("mtraceresp", None, Some(200)),
    ("neighbradv", None, Some(136)),
    ("neighbrsol", None, Some(135)),
    ("niqry", None, Some(139)),
    ("nirep", None, Some(140)),
    ("paramprob", Some(12), Some(4)),
    ("photuris", Some(40), None),
    ("redir", Some(5), Some(137)),
    ("routeradv", Some(9), Some(134)),
    ("routersol", Some(10), Some(133)),
    ("routrrenum", None, Some(138)),
    ("skip", Some(39), None),
    ("squench", Some(4), None),
    ("timerep", Some(14), None),
    ("timereq", Some(13), None),
    ("timex", Some(11), Some(3)),
    ("toobig", None, Some(2)),
    ("trace", Some(30), None),
    ("unreach", Some(3), Some(1)),
    ("wrurep", None, Some(140)),
    ("wrureq", None, Some(139)),
];

impl IcmpType {
    /// Parses a pf ICMP type name or a number 0–255.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(n) = parse_decimal::<u8>(s) {
            return Some(Self {
                name: s.to_owned(),
                v4: Some(n),
                v6: Some(n),
            });
        }
        ICMP_TYPES
            .iter()
            .find(|(name, _, _)| *name == s)
            .map(|&(name, v4, v6)| Self {
                name: name.to_owned(),
                v4,
                v6,
            })
    }
}

/// A protocol named in `<protocol>` other than TCP, UDP and ICMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherProtocol {
    /// The name as written (`esp`, `gre`, …, or a number).
    pub name: String,
    /// The IP protocol number.
    pub number: u8,
}

/// The protocol names pfSense offers besides TCP/UDP/ICMP, with their numbers.
pub const OTHER_PROTOCOLS: &[(&str, u8)] = &[
    ("igmp", 2),
    ("ipv6", 41),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("ospf", 89),
    ("etherip", 97),
    ("pim", 103),
    ("carp", 112),
    ("sctp", 132),
    ("pfsync", 240),
];

/// A rule's `<protocol>` (with `<icmptype>` for ICMP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// Absent, empty or `any`.
    Any,
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `tcp/udp`.
    TcpUdp,
    /// `icmp`: ICMP for IPv4 rules, ICMPv6 for IPv6 rules, both for `inet46`.
    /// `types` empty = every type.
    Icmp {
        /// `<icmptype>` entries.
        types: Vec<IcmpType>,
    },
    /// `ipv6-icmp` (or `icmp6`): ICMPv6 only. `types` empty = every type.
    Icmp6 {
        /// `<icmptype>` entries.
        types: Vec<IcmpType>,
    },
    /// Another protocol by name (`esp`, `gre`, …) or number.
    Other(OtherProtocol),
}

impl Protocol {
    /// Whether ports apply (pfSense only writes ports for TCP and UDP).
    #[must_use]
    pub fn has_ports(&self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::TcpUdp)
    }
}

/// The address part of a source or destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointAddr {
    /// `<any/>`.
    Any,
    /// `<address>`: an IP address, a CIDR network or an alias name.
    Address(String),
    /// `<network>`: a special name: `lan` (the LAN subnet), `lanip` (the LAN
    /// address), `wan`, `wanip`, `optN`, `optNip`, `(self)`, `pppoe`, `l2tp`,
    /// or an interface group.
    Network(String),
}

/// A port or port range in `<port>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// One port, 1–65535.
    Port(u16),
    /// An inclusive range `first-last`.
    Range(u16, u16),
    /// A port alias.
    Alias(String),
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Port(p) => write!(f, "{p}"),
            Self::Range(a, b) => write!(f, "{a}-{b}"),
            Self::Alias(name) => f.write_str(name),
        }
    }
}

/// A rule's `<source>` or `<destination>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// What addresses it names.
    pub addr: EndpointAddr,
    /// `<not/>`: match everything except `addr` (ignored with `any`).
    pub not: bool,
    /// `<port>`, if set (meaningful for TCP and UDP only).
    pub port: Option<PortSpec>,
}

/// A rule's `<statetype>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    /// `keep state` (also empty/absent, and the deprecated `modulate state`).
    Keep,
    /// `sloppy state`: no TCP sequence checks.
    Sloppy,
    /// `synproxy state` (TCP rules only; pf keeps plain state otherwise).
    Synproxy,
    /// `none`: no state is created.
    None,
}

/// TCP flag bits in the order pf writes them.
pub const TCP_FLAG_NAMES: &[(&str, u8)] = &[
    ("fin", 0x01),
    ("syn", 0x02),
    ("rst", 0x04),
    ("psh", 0x08),
    ("ack", 0x10),
    ("urg", 0x20),
    ("ece", 0x40),
    ("cwr", 0x80),
];

/// The TCP flags test of a rule (`<tcpflags1>`, `<tcpflags2>`, `<tcpflags_any>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFlags {
    /// Nothing set: pf's default, `flags S/SA` on stateful pass rules.
    Default,
    /// `<tcpflags_any/>`: any flags (`flags any`).
    Any,
    /// `flags <set>/<out_of>`: of the `out_of` bits, exactly `set` are set.
    Custom {
        /// `<tcpflags1>` bits.
        set: u8,
        /// `<tcpflags2>` bits.
        out_of: u8,
    },
}

/// A typed `<filter><rule>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRule {
    /// Position among the `<rule>` entries of `<filter>` (0-based), as in
    /// [`FilterRuleSummary::index`](super::FilterRuleSummary::index).
    pub index: usize,
    /// Element path, e.g. `/pfsense/filter/rule[3]`.
    pub path: String,
    /// `<tracker>`: the rule's id in logs and counters.
    pub tracker: Option<u32>,
    /// `<type>`.
    pub action: FilterAction,
    /// `<interface>` split on commas: one key for interface rules; floating
    /// rules may list several, or `any`.
    pub interfaces: Vec<String>,
    /// `<floating>` flag.
    pub floating: bool,
    /// `<direction>` for floating rules; always `In` for interface rules.
    pub direction: RuleDirection,
    /// Whether the first match decides: `<quick>` for floating rules, always
    /// true for interface rules (pfSense writes them `quick`).
    pub quick: bool,
    /// `<ipprotocol>`.
    pub ip_protocol: RuleIpProtocol,
    /// `<protocol>` and `<icmptype>`.
    pub protocol: Protocol,
    /// `<source>`.
    pub source: Endpoint,
    /// `<destination>`.
    pub destination: Endpoint,
    /// `<disabled>` flag.
    pub disabled: bool,
    /// `<log>` flag.
    pub log: bool,
    /// `<statetype>`.
    pub state_type: StateType,
    /// TCP flags test.
    pub tcp_flags: TcpFlags,
    /// `<descr>`.
    pub descr: String,
    /// `<gateway>`: policy routing (not applied by rampart).
    pub gateway: Option<String>,
    /// `<sched>`: schedule name.
    pub schedule: Option<String>,
    /// `<tag>`: tag set on matching packets.
    pub tag: Option<String>,
    /// `<tagged>`: match only packets carrying this tag.
    pub tagged: Option<String>,
    /// `<os>`: OS fingerprint match.
    pub os: Option<String>,
    /// `<dscp>`: DSCP match.
    pub dscp: Option<String>,
    /// `<vlanprio>`: 802.1p priority match.
    pub vlan_prio: Option<String>,
    /// `<nosync>`: not replicated by XMLRPC.
    pub no_sync: bool,
    /// `<nopfsync>`: states are not sent over pfsync.
    pub no_pfsync: bool,
    /// `<associated-rule-id>`: the NAT port forward this rule belongs to.
    pub associated_rule_id: Option<String>,
}

/// Interface keys pfSense itself uses: `wan`, `lan`, `optN`.
fn is_builtin_key(name: &str) -> bool {
    name == "wan"
        || name == "lan"
        || name
            .strip_prefix("opt")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A name an alias could have: letters, digits and `_`.
fn is_alias_like(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Alias types usable as addresses / as ports.
const ADDRESS_ALIAS_TYPES: &[&str] = &["host", "network", "url", "urltable", ""];
const PORT_ALIAS_TYPES: &[&str] = &["port", "url_ports", "urltable_ports"];

/// What [`analyze`] checks references against.
pub(crate) struct Refs<'a> {
    /// `<interfaces>`; `None` when the document has no such section.
    pub interfaces: Option<&'a [Interface]>,
    /// `<aliases>`.
    pub aliases: &'a [Alias],
}

impl Refs<'_> {
    fn alias(&self, name: &str) -> Option<&Alias> {
        self.aliases.iter().find(|a| a.name == name)
    }

    /// Checks an interface name; `Err` only for a missing `wan`/`lan`/`optN`.
    fn check_interface(&self, name: &str) -> Result<(), ConfigErrorKind> {
        let Some(interfaces) = self.interfaces else {
            return Ok(());
        };
        if interfaces.iter().any(|i| i.key == name) {
            return Ok(());
        }
        if is_builtin_key(name) {
            return Err(ConfigErrorKind::UnknownInterface(name.to_owned()));
        }
        tracing::debug!(
            interface = name,
            "filter rule on an interface group or tunnel"
        );
        Ok(())
    }
}

/// Reads and checks every `<filter><rule>`; returns the rules that are valid
/// and every problem found.
pub(crate) fn analyze(
    root: &Element,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<FilterRule> {
    let Some(section) = root.child("filter") else {
        return Vec::new();
    };
    let base = format!("/{}/filter", root.name());
    items(section, "rule")
        .enumerate()
        .filter_map(|(index, (i, r))| {
            let path = format!("{base}/rule[{i}]");
            let before = errors.len();
            let rule = parse_rule(r, index, path, refs, errors);
            rule.filter(|_| errors.len() == before)
        })
        .collect()
}

pub(super) fn err(errors: &mut Vec<ConfigError>, path: String, kind: ConfigErrorKind) {
    errors.push(ConfigError { path, kind });
}

pub(super) fn invalid(value: &str, expected: &'static str) -> ConfigErrorKind {
    ConfigErrorKind::Invalid {
        value: value.to_owned(),
        expected,
    }
}

fn parse_rule(
    r: &Element,
    index: usize,
    path: String,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<FilterRule> {
    let floating = r.has_child("floating");

    let tracker = match text(r, "tracker") {
        "" => None,
        t => {
            let parsed = parse_decimal::<u32>(t);
            if parsed.is_none() {
                err(
                    errors,
                    format!("{path}/tracker"),
                    ConfigErrorKind::OutOfRange {
                        value: t.to_owned(),
                        min: 0,
                        max: u32::MAX,
                    },
                );
            }
            parsed
        }
    };

    let action = match text(r, "type") {
        "" | "pass" => FilterAction::Pass,
        "block" => FilterAction::Block,
        "reject" => FilterAction::Reject,
        "match" if floating => FilterAction::Match,
        other => {
            let expected = if other == "match" {
                "pass, block or reject (match is for floating rules only)"
            } else {
                "pass, block, reject or match"
            };
            err(errors, format!("{path}/type"), invalid(other, expected));
            FilterAction::Pass
        }
    };

    let interfaces: Vec<String> = text(r, "interface")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if interfaces.is_empty() {
        err(
            errors,
            format!("{path}/interface"),
            ConfigErrorKind::Missing,
        );
    }
    for name in &interfaces {
        if name == "any" && floating {
            continue;
        }
        if let Err(kind) = refs.check_interface(name) {
            err(errors, format!("{path}/interface"), kind);
        }
    }

    let direction = if floating {
        match text(r, "direction") {
            "" | "any" => RuleDirection::Any,
            "in" => RuleDirection::In,
            "out" => RuleDirection::Out,
            other => {
                err(
                    errors,
                    format!("{path}/direction"),
                    invalid(other, "in, out or any"),
                );
                RuleDirection::Any
            }
        }
    } else {
        RuleDirection::In
    };
    let quick = !floating || r.has_child("quick");

    let ip_protocol = match text(r, "ipprotocol") {
        "" | "inet" => RuleIpProtocol::Inet,
        "inet6" => RuleIpProtocol::Inet6,
        "inet46" => RuleIpProtocol::Inet46,
        other => {
            err(
                errors,
                format!("{path}/ipprotocol"),
                invalid(other, "inet, inet6 or inet46"),
            );
            RuleIpProtocol::Inet
        }
    };

    let protocol = parse_protocol(r, &path, errors);
    let source = endpoint(r, "source", &path, ip_protocol, refs, errors);
    let destination = endpoint(r, "destination", &path, ip_protocol, refs, errors);

    let state_type = match text(r, "statetype") {
        "" | "keep state" | "modulate state" => StateType::Keep,
        "sloppy state" => StateType::Sloppy,
        "synproxy state" => StateType::Synproxy,
        "none" => StateType::None,
        other => {
            err(
                errors,
                format!("{path}/statetype"),
                invalid(other, "keep state, sloppy state, synproxy state or none"),
            );
            StateType::Keep
        }
    };

    let tcp_flags = if r.has_child("tcpflags_any") {
        TcpFlags::Any
    } else {
        let set = tcp_flag_bits(r, "tcpflags1", &path, errors);
        let out_of = tcp_flag_bits(r, "tcpflags2", &path, errors);
        if out_of == 0 {
            TcpFlags::Default
        } else {
            TcpFlags::Custom { set, out_of }
        }
    };

    Some(FilterRule {
        index,
        tracker,
        action,
        interfaces,
        floating,
        direction,
        quick,
        ip_protocol,
        protocol: protocol?,
        source: source?,
        destination: destination?,
        disabled: r.has_child("disabled"),
        log: r.has_child("log"),
        state_type,
        tcp_flags,
        descr: raw_text(r, "descr"),
        gateway: opt_text(r, "gateway"),
        schedule: opt_text(r, "sched"),
        tag: opt_text(r, "tag"),
        tagged: opt_text(r, "tagged"),
        os: opt_text(r, "os"),
        dscp: opt_text(r, "dscp"),
        vlan_prio: opt_text(r, "vlanprio").filter(|v| v != "none"),
        no_sync: r.has_child("nosync"),
        no_pfsync: r.has_child("nopfsync"),
        associated_rule_id: opt_text(r, "associated-rule-id"),
        path,
    })
}

fn tcp_flag_bits(r: &Element, name: &str, path: &str, errors: &mut Vec<ConfigError>) -> u8 {
    let mut bits = 0;
    for flag in text(r, name)
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        match TCP_FLAG_NAMES.iter().find(|(n, _)| *n == flag) {
            Some((_, bit)) => bits |= bit,
            None => err(
                errors,
                format!("{path}/{name}"),
                invalid(
                    flag,
                    "TCP flag names: fin, syn, rst, psh, ack, urg, ece, cwr",
                ),
            ),
        }
    }
    bits
}

pub(super) fn parse_protocol(
    r: &Element,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Protocol> {
    let value = text(r, "protocol");
    let icmp_types = |errors: &mut Vec<ConfigError>| -> Option<Vec<IcmpType>> {
        let mut types = Vec::new();
        let mut ok = true;
        for name in text(r, "icmptype")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "any")
        {
            match IcmpType::parse(name) {
                Some(t) => types.push(t),
                None => {
                    ok = false;
                    err(
                        errors,
                        format!("{path}/icmptype"),
                        invalid(name, "an ICMP type name such as echoreq or unreach"),
                    );
                }
            }
        }
        ok.then_some(types)
    };
    Some(match value {
        "" | "any" => Protocol::Any,
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "tcp/udp" => Protocol::TcpUdp,
        "icmp" => Protocol::Icmp {
            types: icmp_types(errors)?,
        },
        "ipv6-icmp" | "icmp6" => Protocol::Icmp6 {
            types: icmp_types(errors)?,
        },
        other => {
            let number = OTHER_PROTOCOLS
                .iter()
                .find(|(n, _)| *n == other)
                .map(|&(_, number)| number)
                .or_else(|| parse_decimal::<u8>(other));
            match number {
                Some(number) => Protocol::Other(OtherProtocol {
                    name: other.to_owned(),
                    number,
                }),
                None => {
                    err(
                        errors,
                        format!("{path}/protocol"),
                        invalid(
                            other,
                            "any, tcp, udp, tcp/udp, icmp, esp, ah, gre, etherip, ipv6, igmp, \
                             pim, ospf, sctp, carp, pfsync or a protocol number",
                        ),
                    );
                    return None;
                }
            }
        }
    })
}

/// Parses `<source>` or `<destination>`.
pub(super) fn endpoint(
    r: &Element,
    name: &str,
    path: &str,
    ip_protocol: RuleIpProtocol,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<Endpoint> {
    let ep_path = format!("{path}/{name}");
    let Some(el) = r.child(name) else {
        err(errors, ep_path, ConfigErrorKind::Missing);
        return None;
    };
    let before = errors.len();
    let network = text(el, "network");
    let address = text(el, "address");
    // pfSense's precedence: any, then network, then address.
    let addr = if el.has_child("any") {
        EndpointAddr::Any
    } else if !network.is_empty() {
        check_network(network, refs).unwrap_or_else(|kind| {
            err(errors, format!("{ep_path}/network"), kind);
        });
        EndpointAddr::Network(network.to_owned())
    } else if !address.is_empty() {
        if let Err(kind) = check_address(address, ip_protocol, refs) {
            err(errors, format!("{ep_path}/address"), kind);
        }
        EndpointAddr::Address(address.to_owned())
    } else {
        // None of <any/>, <address>, <network>.
        err(errors, ep_path.clone(), ConfigErrorKind::Missing);
        EndpointAddr::Any
    };
    let port = match text(el, "port") {
        "" => None,
        p => match parse_port_spec(p, refs) {
            Ok(spec) => Some(spec),
            Err(kind) => {
                err(errors, format!("{ep_path}/port"), kind);
                None
            }
        },
    };
    (errors.len() == before).then_some(Endpoint {
        addr,
        not: el.has_child("not"),
        port,
    })
}

fn check_network(name: &str, refs: &Refs<'_>) -> Result<(), ConfigErrorKind> {
    if matches!(name, "(self)" | "pppoe" | "l2tp") {
        return Ok(());
    }
    let key = match name.strip_suffix("ip") {
        Some(key) if is_builtin_key(key) => key,
        _ => name,
    };
    refs.check_interface(key)
}

/// An IP address or CIDR network of either family.
fn parse_ip_or_cidr(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(c) = s.parse::<Ipv4Cidr>() {
        return Some(IpAddr::V4(c.addr));
    }
    s.parse::<Ipv6Cidr>().ok().map(|c| IpAddr::V6(c.addr))
}

pub(super) fn check_address(
    value: &str,
    ip_protocol: RuleIpProtocol,
    refs: &Refs<'_>,
) -> Result<(), ConfigErrorKind> {
    if let Some(ip) = parse_ip_or_cidr(value) {
        let ok = match ip {
            IpAddr::V4(_) => ip_protocol != RuleIpProtocol::Inet6,
            IpAddr::V6(_) => ip_protocol != RuleIpProtocol::Inet,
        };
        return if ok {
            Ok(())
        } else {
            Err(ConfigErrorKind::FamilyMismatch {
                value: value.to_owned(),
                protocol: ip_protocol.to_string(),
            })
        };
    }
    if !is_alias_like(value) {
        return Err(ConfigErrorKind::InvalidIp(value.to_owned()));
    }
    match refs.alias(value) {
        None => Err(ConfigErrorKind::UnknownAlias(value.to_owned())),
        Some(a) if !ADDRESS_ALIAS_TYPES.contains(&a.alias_type.as_str()) => Err(invalid(
            value,
            "an address, a network or a host/network alias",
        )),
        Some(_) => Ok(()),
    }
}

/// Parses a port value: `443`, `1000-2000` or a port alias.
pub(super) fn parse_port_spec(value: &str, refs: &Refs<'_>) -> Result<PortSpec, ConfigErrorKind> {
    const EXPECTED: &str = "a port 1-65535, a range such as 1000-2000, or a port alias";
    let port = |s: &str| parse_decimal::<u16>(s.trim()).filter(|p| *p > 0);
    if let Some((a, b)) = value.split_once('-') {
        return match (port(a), port(b)) {
            (Some(a), Some(b)) if a <= b => Ok(PortSpec::Range(a, b)),
            _ => Err(invalid(value, EXPECTED)),
        };
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        return port(value)
            .map(PortSpec::Port)
            .ok_or_else(|| invalid(value, EXPECTED));
    }
    if !is_alias_like(value) {
        return Err(invalid(value, EXPECTED));
    }
    match refs.alias(value) {
        None => Err(ConfigErrorKind::UnknownAlias(value.to_owned())),
        Some(a) if !PORT_ALIAS_TYPES.contains(&a.alias_type.as_str()) => {
            Err(invalid(value, "a port alias"))
        }
        Some(_) => Ok(PortSpec::Alias(value.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_icmp_type_names() {
        let t = IcmpType::parse("echoreq").unwrap();
        assert_eq!((t.v4, t.v6), (Some(8), Some(128)));
        let t = IcmpType::parse("toobig").unwrap();
        assert_eq!((t.v4, t.v6), (None, Some(2)));
        let t = IcmpType::parse("13").unwrap();
        assert_eq!((t.v4, t.v6), (Some(13), Some(13)));
        assert!(IcmpType::parse("echo").is_none());
        assert!(IcmpType::parse("256").is_none());
    }

    #[test]
    fn test_port_spec() {
        let refs = Refs {
            interfaces: None,
            aliases: &[],
        };
        assert_eq!(parse_port_spec("443", &refs), Ok(PortSpec::Port(443)));
        assert_eq!(
            parse_port_spec("1000-2000", &refs),
            Ok(PortSpec::Range(1000, 2000))
        );
        for bad in ["0", "65536", "2000-1000", "1-", "-5", "a b", "80,443"] {
            assert!(parse_port_spec(bad, &refs).is_err(), "{bad}");
        }
        assert_eq!(
            parse_port_spec("WEB", &refs),
            Err(ConfigErrorKind::UnknownAlias("WEB".into()))
        );
        assert_eq!(PortSpec::Range(1, 2).to_string(), "1-2");
    }

    #[test]
    fn test_builtin_keys() {
        assert!(is_builtin_key("opt12") && is_builtin_key("wan"));
        assert!(!is_builtin_key("opt") && !is_builtin_key("openvpn"));
    }
}

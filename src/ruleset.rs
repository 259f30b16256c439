//! From the config's `<filter>` rules to the dataplane's [`Ruleset`]: interface keys become
//! port indices, aliases and interface names become address lists, port aliases become ranges.
//! The semantics live in [`rampart_dataplane::rules`]; this module only resolves names, and
//! follows pfSense's `filter.inc` where it shapes what a rule matches:
//!
//! - Floating rules come first, then rules on interface groups (`<ifgroups>`, expanded to their
//!   member ports), then interface rules. Interface and group rules are `in` and `quick`.
//! - A rule on an interface that is disabled or has no DPDK port, or on a tunnel group
//!   (`openvpn`, `enc0`, `ipsec`, `wireguard`, …), cannot see rampart's traffic: it is skipped
//!   and listed in [`CompiledFilter::skipped`]. A floating rule keeps the ports it has.
//! - `network` names: `lan`/`optN`/`wan` are the interface subnet plus the subnets of its CARP
//!   and IP-alias VIPs outside it; `lanip`/`optNip`/`wanip` the interface address; `(self)` every
//!   static interface address and every CARP/IP-alias VIP (loopback and link-local addresses
//!   are not included); `pppoe`/`l2tp` (servers rampart does not run) nothing. A name with no
//!   address of a family makes the rule miss that family, as pfSense drops such a rule.
//! - `address` literals imply their family; host and network aliases are pf tables (members
//!   of both families, `! <alias>` matches the other family). Nested aliases are expanded up
//!   to [`MAX_ALIAS_DEPTH`] levels; a cycle is an error; IP ranges (`a-b`) become networks;
//!   `url*` aliases and host names (which need downloads or DNS) are errors.
//! - Ports count only for TCP/UDP rules (`1-65535` means any). A rule with protocol "any" and a
//!   port becomes "TCP, any port", as pfSense writes it.
//! - TCP flags: `flags S/SA` on every `tcp` rule unless "any flags" or custom flags are set,
//!   and, as pfctl adds it, on every other stateful pass rule.
//! - `synproxy state` only applies to `tcp` rules (plain state otherwise).
//! - Matching features rampart does not implement (schedules, matching tags, OS fingerprints,
//!   DSCP and 802.1p matches) are errors; options that do not change what a rule matches
//!   (setting a tag — nothing can match it —, gateway, limiters, queues, state limits and
//!   timeouts, `allowopts`, `nopfsync`) are ignored.
//! - `<syslog><nologdefaultblock>` / `<nologdefaultpass>` set the default rules' logging.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rampart_control::config::{
    Alias, Config, Endpoint, EndpointAddr, FilterAction, FilterRule, Ipv4Cidr, Ipv6Cidr, PortSpec,
    Protocol, RuleDirection as CfgDirection, RuleIpProtocol, StateType as CfgStateType, TcpFlags,
    VipMode,
};
use rampart_dataplane::route::Ipv4Net;
use rampart_dataplane::rules::{
    AddrSpec, IcmpMatch, Interfaces, IpFamilies, Ipv6Net, PortRange, ProtoSpec, RuleAction,
    RuleDirection, RuleError, RuleIndex, RuleSpec, Ruleset, RulesetOptions, StateType,
    TcpFlagsMatch,
};
use thiserror::Error;

/// How deep aliases may nest (an alias naming an alias naming an alias …).
pub const MAX_ALIAS_DEPTH: usize = 8;

/// Interface groups for tunnels rampart has no ports for: rules on them are skipped.
pub const TUNNEL_GROUPS: &[&str] = &[
    "openvpn",
    "enc0",
    "ipsec",
    "wireguard",
    "tailscale",
    "l2tp",
    "pppoe",
];

/// Why `<filter>` could not be compiled. Paths point at the offending element.
#[derive(Debug, Error)]
pub enum RulesetError {
    /// A NAT rule that does not resolve.
    #[error("{path}: {reason}")]
    Nat {
        /// Element path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An alias of a type that needs downloads (`url`, `urltable`, `url_ports`, …).
    #[error("{path}: alias `{alias}` is of type `{kind}`: URL aliases are not supported")]
    UnsupportedAlias {
        /// Element path of the reference.
        path: String,
        /// The alias.
        alias: String,
        /// Its type.
        kind: String,
    },
    /// An alias name that `<aliases>` does not define.
    #[error("{path}: alias `{alias}` is not defined")]
    UnknownAlias {
        /// Element path of the reference.
        path: String,
        /// The alias.
        alias: String,
    },
    /// An alias used where its type does not fit (a port alias as an address, …).
    #[error("{path}: alias `{alias}` is of type `{kind}`, expected {expected}")]
    WrongAliasType {
        /// Element path of the reference.
        path: String,
        /// The alias.
        alias: String,
        /// Its type.
        kind: String,
        /// What fits.
        expected: &'static str,
    },
    /// Aliases nested deeper than [`MAX_ALIAS_DEPTH`].
    #[error("{path}: alias `{alias}` nests more than {MAX_ALIAS_DEPTH} levels deep")]
    AliasTooDeep {
        /// Element path of the reference.
        path: String,
        /// The alias at the limit.
        alias: String,
    },
    /// An alias that contains itself.
    #[error("{path}: alias cycle {chain}")]
    AliasCycle {
        /// Element path of the reference.
        path: String,
        /// The aliases in the cycle, `A -> B -> A`.
        chain: String,
    },
    /// An alias member that is not an address, network, range, port or alias.
    #[error("{path}: alias `{alias}` member `{member}`: {reason}")]
    BadAliasMember {
        /// Element path of the reference.
        path: String,
        /// The alias.
        alias: String,
        /// The member.
        member: String,
        /// Why.
        reason: &'static str,
    },
    /// An interface name that is neither an interface, a group nor a known tunnel group.
    #[error("{path}: interface `{name}` does not exist")]
    UnknownInterface {
        /// Element path.
        path: String,
        /// The name.
        name: String,
    },
    /// A `network` name rampart cannot resolve.
    #[error("{path}: network `{name}` is not an interface, interface address or (self)")]
    UnknownNetwork {
        /// Element path.
        path: String,
        /// The name.
        name: String,
    },
    /// A rule uses a matching feature rampart does not implement.
    #[error("{path}: {feature} is not supported")]
    Unsupported {
        /// Element path.
        path: String,
        /// The feature.
        feature: &'static str,
    },
    /// The dataplane refused the resolved rules.
    #[error("compiling the ruleset: {0}")]
    Compile(#[from] RuleError),
}

/// Why a rule is not in the compiled ruleset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRule {
    /// The rule's element path.
    pub path: String,
    /// Its tracker.
    pub tracker: Option<u32>,
    /// Why it cannot match anything here.
    pub reason: String,
}

/// A compiled `<filter>` and the rules left out of it.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    /// The ruleset.
    pub ruleset: Ruleset,
    /// Enabled rules that cannot match on this node (no port for their interfaces, addresses
    /// that resolve to nothing), in config order.
    pub skipped: Vec<SkippedRule>,
}

/// Compiles `config`'s `<filter>` for ports `ports` (`(interface key, port index)`; see
/// [`port_map`]).
///
/// # Errors
/// [`RulesetError`] for references that do not resolve and features rampart does not support.
pub fn compile_filter(config: &Config, ports: &[(String, usize)]) -> Result<Ruleset, RulesetError> {
    compile_filter_report(config, ports).map(|c| c.ruleset)
}

/// [`compile_filter`], also listing the rules that were skipped.
///
/// # Errors
/// As [`compile_filter`].
pub fn compile_filter_report(
    config: &Config,
    ports: &[(String, usize)],
) -> Result<CompiledFilter, RulesetError> {
    let resolver = Resolver::new(config, ports);
    let mut floating = Vec::new();
    let mut group = Vec::new();
    let mut interface = Vec::new();
    let mut skipped = Vec::new();
    for rule in config.filter.iter().filter(|r| !r.disabled) {
        match resolver.rule(rule)? {
            Ok(spec) if rule.floating => floating.push(spec),
            Ok(spec) if resolver.is_group_rule(rule) => group.push(spec),
            Ok(spec) => interface.push(spec),
            Err(reason) => skipped.push(SkippedRule {
                path: rule.path.clone(),
                tracker: rule.tracker,
                reason,
            }),
        }
    }
    let specs: Vec<RuleSpec> = floating.into_iter().chain(group).chain(interface).collect();
    let options = RulesetOptions {
        ports: ports.iter().map(|&(_, p)| p + 1).max().unwrap_or(0),
        log_default_block: !syslog_flag(config, "nologdefaultblock"),
        log_default_pass: syslog_flag(config, "nologdefaultpass"),
    };
    let ruleset = Ruleset::compile(specs, &options)?;
    tracing::debug!(
        rules = ruleset.len(),
        skipped = skipped.len(),
        buckets = ruleset.buckets(),
        bytes = ruleset.memory_bytes(),
        "filter compiled"
    );
    Ok(CompiledFilter { ruleset, skipped })
}

/// `(interface key, port index)` for every `<rampart><port>`, in port order (the order
/// [`crate::setup::node_spec`] gives the ports). Ports whose `<if>` matches no interface are
/// left out.
pub fn port_map(config: &Config) -> Vec<(String, usize)> {
    let Some(settings) = &config.rampart else {
        return Vec::new();
    };
    let sync = crate::setup::sync_interface(config);
    settings
        .ports
        .iter()
        .filter_map(|p| config.interface_by_if(&p.if_name).map(|i| i.key.clone()))
        // The pfsync port is the sync core's, not a data port.
        .filter(|key| Some(key.as_str()) != sync)
        .enumerate()
        .map(|(i, key)| (key, i))
        .collect()
}

fn syslog_flag(config: &Config, name: &str) -> bool {
    config
        .doc
        .section("syslog")
        .is_some_and(|s| s.has_child(name))
}

/// A rule's outcome: a spec, or why it is skipped.
type Resolved = Result<RuleSpec, String>;

/// Address lists of both families.
#[derive(Default)]
struct Nets {
    v4: Vec<Ipv4Net>,
    v6: Vec<Ipv6Net>,
}

/// Resolves names in a config (interfaces, aliases, groups) for rules; shared with NAT.
pub(crate) struct Resolver<'a> {
    config: &'a Config,
    ports: &'a [(String, usize)],
    /// `<ifgroups>`: group name → member interface keys.
    groups: HashMap<String, Vec<String>>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(config: &'a Config, ports: &'a [(String, usize)]) -> Self {
        let groups = config
            .doc
            .section("ifgroups")
            .into_iter()
            .flat_map(|s| s.children_named("ifgroupentry"))
            .filter_map(|g| {
                let name = g.child_text("ifname")?.trim().to_owned();
                let members = g
                    .child_text("members")
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                Some((name, members))
            })
            .collect();
        Resolver {
            config,
            ports,
            groups,
        }
    }

    fn is_group_rule(&self, rule: &FilterRule) -> bool {
        rule.interfaces
            .iter()
            .any(|i| self.groups.contains_key(i) && self.config.interface(i).is_none())
    }

    /// The IPv4 networks of host/network alias `name` (nested aliases expanded).
    pub(crate) fn alias_v4(&self, name: &str, path: &str) -> Result<Vec<Ipv4Net>, RulesetError> {
        let mut nets = Nets::default();
        self.expand_addresses(name, path, &mut Vec::new(), &mut nets)?;
        Ok(nets.v4)
    }

    /// The port of an enabled interface, if it has one.
    pub(crate) fn port_of(&self, key: &str) -> Option<usize> {
        let iface = self.config.interface(key).filter(|i| i.enabled)?;
        self.ports
            .iter()
            .find(|(k, _)| *k == iface.key)
            .map(|&(_, p)| p)
    }

    fn rule(&self, rule: &FilterRule) -> Result<Resolved, RulesetError> {
        let path = &rule.path;
        for (present, feature, element) in [
            (rule.schedule.is_some(), "a schedule (<sched>)", "sched"),
            (rule.tagged.is_some(), "matching tags (<tagged>)", "tagged"),
            (
                rule.os.is_some() && rule.protocol == Protocol::Tcp,
                "OS fingerprinting (<os>)",
                "os",
            ),
            (rule.dscp.is_some(), "DSCP matching (<dscp>)", "dscp"),
            (
                rule.vlan_prio.is_some(),
                "802.1p matching (<vlanprio>)",
                "vlanprio",
            ),
        ] {
            if present {
                return Err(RulesetError::Unsupported {
                    path: format!("{path}/{element}"),
                    feature,
                });
            }
        }
        let interfaces = match self.interfaces(rule)? {
            Ok(i) => i,
            Err(reason) => return Ok(Err(reason)),
        };
        let families = match rule.ip_protocol {
            RuleIpProtocol::Inet => IpFamilies::V4,
            RuleIpProtocol::Inet6 => IpFamilies::V6,
            RuleIpProtocol::Inet46 => IpFamilies::Both,
        };
        let src = self.addr(&rule.source, &format!("{path}/source"))?;
        let dst = self.addr(&rule.destination, &format!("{path}/destination"))?;
        let (v4, v6) = (rule.ip_protocol.has_v4(), rule.ip_protocol.has_v6());
        let reaches = |fam_v6: bool| {
            (if fam_v6 { v6 } else { v4 }) && src.allows(fam_v6) && dst.allows(fam_v6)
        };
        if !reaches(false) && !reaches(true) {
            return Ok(Err(
                "its source or destination has no address of the rule's family".to_owned(),
            ));
        }

        let any_port = rule.source.port.is_some() || rule.destination.port.is_some();
        let proto = match &rule.protocol {
            // pfSense writes `proto tcp` (and no port) for "any" with a port set.
            Protocol::Any if any_port => ProtoSpec::Tcp,
            Protocol::Any => ProtoSpec::Any,
            Protocol::Tcp => ProtoSpec::Tcp,
            Protocol::Udp => ProtoSpec::Udp,
            Protocol::TcpUdp => ProtoSpec::TcpUdp,
            Protocol::Icmp { types } => ProtoSpec::Icmp {
                v4: icmp_match(types, v4, |t| t.v4),
                v6: icmp_match(types, v6, |t| t.v6),
            },
            Protocol::Icmp6 { types } => ProtoSpec::Icmp {
                v4: IcmpMatch::None,
                v6: icmp_match(types, v6, |t| t.v6),
            },
            Protocol::Other(o) => ProtoSpec::Number(o.number),
        };
        if let ProtoSpec::Icmp {
            v4: IcmpMatch::None,
            v6: IcmpMatch::None,
        } = proto
        {
            return Ok(Err("an ICMPv6 rule for IPv4 only".to_owned()));
        }
        let (src_ports, dst_ports) = if rule.protocol.has_ports() {
            let src_ports = self.ports(&rule.source, &format!("{path}/source/port"))?;
            let dst_ports = self.ports(&rule.destination, &format!("{path}/destination/port"))?;
            match (src_ports, dst_ports) {
                (Some(s), Some(d)) => (s, d),
                _ => return Ok(Err("a port alias is empty".to_owned())),
            }
        } else {
            (Vec::new(), Vec::new())
        };

        let action = match rule.action {
            FilterAction::Pass => RuleAction::Pass,
            FilterAction::Block => RuleAction::Block,
            FilterAction::Reject => RuleAction::Reject,
            FilterAction::Match => RuleAction::Match,
        };
        let is_tcp = rule.protocol == Protocol::Tcp;
        let state_type = match rule.state_type {
            CfgStateType::Keep => StateType::Keep,
            CfgStateType::Sloppy => StateType::Sloppy,
            CfgStateType::Synproxy if is_tcp => StateType::Synproxy,
            CfgStateType::Synproxy => StateType::Keep,
            CfgStateType::None => StateType::None,
        };
        let tcp_flags = match (is_tcp, rule.tcp_flags) {
            (true, TcpFlags::Any) => None,
            (true, TcpFlags::Custom { set, out_of }) => Some(TcpFlagsMatch {
                flags: set & out_of,
                mask: out_of,
            }),
            (true, TcpFlags::Default) => Some(TcpFlagsMatch::SYN_ONLY),
            // pfctl's default for stateful pass rules.
            (false, _) if action == RuleAction::Pass && state_type != StateType::None => {
                Some(TcpFlagsMatch::SYN_ONLY)
            }
            (false, _) => None,
        };
        let direction = match rule.direction {
            _ if !rule.floating => RuleDirection::In,
            CfgDirection::In => RuleDirection::In,
            CfgDirection::Out => RuleDirection::Out,
            CfgDirection::Any => RuleDirection::Any,
        };
        Ok(Ok(RuleSpec {
            id: RuleIndex {
                index: u32::try_from(rule.index).unwrap_or(u32::MAX),
                tracker: rule.tracker.unwrap_or(0),
            },
            action,
            interfaces,
            floating: rule.floating,
            direction,
            quick: rule.quick || !rule.floating,
            families,
            proto,
            src,
            dst,
            src_ports,
            dst_ports,
            tcp_flags,
            state_type: if action == RuleAction::Pass {
                state_type
            } else {
                StateType::None
            },
            log: rule.log,
            disabled: false,
        }))
    }

    /// The rule's ports, or why it has none here.
    fn interfaces(&self, rule: &FilterRule) -> Result<Result<Interfaces, String>, RulesetError> {
        let path = format!("{}/interface", rule.path);
        if rule.floating && rule.interfaces.iter().any(|i| i == "any") {
            return Ok(Ok(Interfaces::Any));
        }
        let mut ports = Vec::new();
        for name in &rule.interfaces {
            if self.config.interface(name).is_some() {
                ports.extend(self.port_of(name));
            } else if let Some(members) = self.groups.get(name) {
                ports.extend(members.iter().filter_map(|m| self.port_of(m)));
            } else if !TUNNEL_GROUPS.contains(&name.as_str()) && name != "any" {
                return Err(RulesetError::UnknownInterface {
                    path,
                    name: name.clone(),
                });
            }
        }
        ports.sort_unstable();
        ports.dedup();
        if ports.is_empty() {
            return Ok(Err(format!(
                "interface {} is disabled or has no DPDK port",
                rule.interfaces.join(",")
            )));
        }
        Ok(Ok(Interfaces::Ports(ports)))
    }

    pub(crate) fn addr(&self, ep: &Endpoint, path: &str) -> Result<AddrSpec, RulesetError> {
        let negate = ep.not;
        Ok(match &ep.addr {
            EndpointAddr::Any => AddrSpec::Any,
            EndpointAddr::Address(value) => match parse_literal(value) {
                Some(Literal::V4(net)) => AddrSpec::Nets {
                    v4: Some(vec![net]),
                    v6: None,
                    negate,
                },
                Some(Literal::V6(net)) => AddrSpec::Nets {
                    v4: None,
                    v6: Some(vec![net]),
                    negate,
                },
                None => {
                    let mut nets = Nets::default();
                    let path = format!("{path}/address");
                    self.expand_addresses(value, &path, &mut Vec::new(), &mut nets)?;
                    AddrSpec::Nets {
                        v4: Some(nets.v4),
                        v6: Some(nets.v6),
                        negate,
                    }
                }
            },
            EndpointAddr::Network(name) => {
                let nets = self.network(name, &format!("{path}/network"))?;
                AddrSpec::Nets {
                    v4: Some(nets.v4).filter(|l| !l.is_empty()),
                    v6: Some(nets.v6).filter(|l| !l.is_empty()),
                    negate,
                }
            }
        })
    }

    fn alias_chain_check(
        &self,
        name: &str,
        path: &str,
        chain: &[String],
    ) -> Result<(), RulesetError> {
        if chain.iter().any(|c| c == name) {
            let mut names = chain.to_vec();
            names.push(name.to_owned());
            return Err(RulesetError::AliasCycle {
                path: path.to_owned(),
                chain: names.join(" -> "),
            });
        }
        if chain.len() >= MAX_ALIAS_DEPTH {
            return Err(RulesetError::AliasTooDeep {
                path: path.to_owned(),
                alias: name.to_owned(),
            });
        }
        Ok(())
    }

    /// The alias `name`, if it exists and its type is one of `accepted`; URL aliases are refused
    /// as unsupported (they need downloads), other types as the wrong kind for this place.
    fn typed_alias(
        &self,
        name: &str,
        path: &str,
        accepted: &[&str],
        expected: &'static str,
    ) -> Result<&Alias, RulesetError> {
        let alias = self
            .config
            .alias(name)
            .ok_or_else(|| RulesetError::UnknownAlias {
                path: path.to_owned(),
                alias: name.to_owned(),
            })?;
        let kind = alias.alias_type.as_str();
        if accepted.contains(&kind) {
            return Ok(alias);
        }
        if matches!(kind, "url" | "urltable" | "url_ports" | "urltable_ports") {
            return Err(RulesetError::UnsupportedAlias {
                path: path.to_owned(),
                alias: name.to_owned(),
                kind: kind.to_owned(),
            });
        }
        Err(RulesetError::WrongAliasType {
            path: path.to_owned(),
            alias: name.to_owned(),
            kind: kind.to_owned(),
            expected,
        })
    }

    /// Expands a host/network alias (recursively) into `out`.
    fn expand_addresses(
        &self,
        name: &str,
        path: &str,
        chain: &mut Vec<String>,
        out: &mut Nets,
    ) -> Result<(), RulesetError> {
        self.alias_chain_check(name, path, chain)?;
        let alias = self.typed_alias(
            name,
            path,
            &["host", "network", ""],
            "a host or network alias",
        )?;
        chain.push(name.to_owned());
        for member in &alias.addresses {
            let bad = |reason| RulesetError::BadAliasMember {
                path: path.to_owned(),
                alias: name.to_owned(),
                member: member.clone(),
                reason,
            };
            if let Some(lit) = parse_literal(member) {
                match lit {
                    Literal::V4(n) => out.v4.push(n),
                    Literal::V6(n) => out.v6.push(n),
                }
            } else if let Some((a, b)) = member.split_once('-') {
                match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
                    (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) if a <= b => {
                        out.v4.extend(v4_range(a, b));
                    }
                    (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if a <= b => {
                        out.v6.extend(v6_range(a, b));
                    }
                    _ => return Err(bad("not an address range")),
                }
            } else if self.config.alias(member).is_some() {
                self.expand_addresses(member, path, chain, out)?;
            } else if member.contains('.') && member.bytes().any(|b| b.is_ascii_alphabetic()) {
                return Err(bad(
                    "host names need DNS resolution, which is not supported",
                ));
            } else {
                return Err(bad("neither an address, a network, a range nor an alias"));
            }
        }
        chain.pop();
        Ok(())
    }

    /// A `<port>`'s ranges: empty = any; `None` when an alias expands to nothing.
    pub(crate) fn ports(
        &self,
        ep: &Endpoint,
        path: &str,
    ) -> Result<Option<Vec<PortRange>>, RulesetError> {
        let ranges = match &ep.port {
            None | Some(PortSpec::Range(1, 65535)) => return Ok(Some(Vec::new())),
            Some(PortSpec::Port(p)) => vec![PortRange::single(*p)],
            Some(PortSpec::Range(a, b)) => vec![PortRange {
                first: *a,
                last: *b,
            }],
            Some(PortSpec::Alias(name)) => {
                let mut out = Vec::new();
                self.expand_ports(name, path, &mut Vec::new(), &mut out)?;
                if out.is_empty() {
                    return Ok(None);
                }
                out
            }
        };
        Ok(Some(ranges))
    }

    fn expand_ports(
        &self,
        name: &str,
        path: &str,
        chain: &mut Vec<String>,
        out: &mut Vec<PortRange>,
    ) -> Result<(), RulesetError> {
        self.alias_chain_check(name, path, chain)?;
        let alias = self.typed_alias(name, path, &["port"], "a port alias")?;
        chain.push(name.to_owned());
        for member in &alias.addresses {
            let port = |s: &str| s.trim().parse::<u16>().ok();
            let range = match member.split_once([':', '-']) {
                Some((a, b)) => port(a).zip(port(b)).filter(|(a, b)| a <= b),
                None => port(member).map(|p| (p, p)),
            };
            if let Some((first, last)) = range {
                out.push(PortRange { first, last });
            } else if self.config.alias(member).is_some() {
                self.expand_ports(member, path, chain, out)?;
            } else {
                return Err(RulesetError::BadAliasMember {
                    path: path.to_owned(),
                    alias: name.to_owned(),
                    member: member.clone(),
                    reason: "neither a port, a port range nor an alias",
                });
            }
        }
        chain.pop();
        Ok(())
    }

    /// A `<network>` special name's addresses.
    fn network(&self, name: &str, path: &str) -> Result<Nets, RulesetError> {
        let mut nets = Nets::default();
        match name {
            "(self)" => self.self_addresses(&mut nets),
            "pppoe" | "l2tp" => {}
            _ => {
                if let Some(iface) = self.config.interface(name) {
                    if iface.enabled {
                        self.interface_subnets(&iface.key, &mut nets);
                    }
                } else if let Some(iface) = name
                    .strip_suffix("ip")
                    .and_then(|key| self.config.interface(key))
                {
                    if iface.enabled {
                        if let Some(c) = iface.ipv4_cidr() {
                            nets.v4.extend(Ipv4Net::new(c.addr, 32).ok());
                        }
                        if let Some(c) = iface.ipv6_cidr() {
                            nets.v6.extend(Ipv6Net::new(c.addr, 128).ok());
                        }
                    }
                } else {
                    return Err(RulesetError::UnknownNetwork {
                        path: path.to_owned(),
                        name: name.to_owned(),
                    });
                }
            }
        }
        Ok(nets)
    }

    /// An interface's subnets, plus its VIPs' subnets outside them (pfSense's
    /// `filter_address_add_vips_subnets`).
    fn interface_subnets(&self, key: &str, nets: &mut Nets) {
        let Some(iface) = self.config.interface(key) else {
            return;
        };
        let v4 = iface
            .ipv4_cidr()
            .and_then(|c| Ipv4Net::new(c.addr, c.prefix_len).ok());
        let v6 = iface
            .ipv6_cidr()
            .and_then(|c| Ipv6Net::new(c.addr, c.prefix_len).ok());
        nets.v4.extend(v4);
        nets.v6.extend(v6);
        for vip in
            self.config.virtual_ips.iter().filter(|v| {
                v.interface == key && matches!(v.mode, VipMode::Carp | VipMode::IpAlias)
            })
        {
            match (vip.address, vip.subnet_bits) {
                (Some(IpAddr::V4(a)), Some(bits)) if v4.is_some() => {
                    if !nets.v4.iter().any(|n| n.contains(a))
                        && let Ok(n) = Ipv4Net::new(a, bits)
                    {
                        nets.v4.push(n);
                    }
                }
                (Some(IpAddr::V6(a)), Some(bits)) if v6.is_some() => {
                    if !nets.v6.iter().any(|n| n.contains(a))
                        && let Ok(n) = Ipv6Net::new(a, bits)
                    {
                        nets.v6.push(n);
                    }
                }
                _ => {}
            }
        }
    }

    /// `(self)`: every enabled interface's static addresses and every CARP/IP-alias VIP.
    fn self_addresses(&self, nets: &mut Nets) {
        for iface in self.config.interfaces.iter().filter(|i| i.enabled) {
            if let Some(c) = iface.ipv4_cidr() {
                nets.v4.extend(Ipv4Net::new(c.addr, 32).ok());
            }
            if let Some(c) = iface.ipv6_cidr() {
                nets.v6.extend(Ipv6Net::new(c.addr, 128).ok());
            }
        }
        for vip in &self.config.virtual_ips {
            if !matches!(vip.mode, VipMode::Carp | VipMode::IpAlias) {
                continue;
            }
            match vip.address {
                Some(IpAddr::V4(a)) => nets.v4.extend(Ipv4Net::new(a, 32).ok()),
                Some(IpAddr::V6(a)) => nets.v6.extend(Ipv6Net::new(a, 128).ok()),
                None => {}
            }
        }
    }
}

fn icmp_match(
    types: &[rampart_control::config::IcmpType],
    family_on: bool,
    code: impl Fn(&rampart_control::config::IcmpType) -> Option<u8>,
) -> IcmpMatch {
    if !family_on {
        IcmpMatch::None
    } else if types.is_empty() {
        IcmpMatch::Any
    } else {
        IcmpMatch::Types(types.iter().filter_map(code).collect())
    }
}

enum Literal {
    V4(Ipv4Net),
    V6(Ipv6Net),
}

/// An address or CIDR network (host bits cleared), of either family.
fn parse_literal(s: &str) -> Option<Literal> {
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => return Ipv4Net::new(a, 32).ok().map(Literal::V4),
        Ok(IpAddr::V6(a)) => return Ipv6Net::new(a, 128).ok().map(Literal::V6),
        Err(_) => {}
    }
    if let Ok(c) = s.parse::<Ipv4Cidr>() {
        return Ipv4Net::new(c.addr, c.prefix_len).ok().map(Literal::V4);
    }
    let c = s.parse::<Ipv6Cidr>().ok()?;
    Ipv6Net::new(c.addr, c.prefix_len).ok().map(Literal::V6)
}

/// The fewest networks covering `first..=last` (u128 keys, `bits`-bit addresses).
fn range_to_prefixes(first: u128, last: u128, bits: u32) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut start = first;
    loop {
        // Largest block aligned at `start` that stays within `last`.
        let mut size_log = if start == 0 {
            bits
        } else {
            start.trailing_zeros().min(bits)
        };
        while size_log > 0 {
            let span = if size_log >= 128 {
                u128::MAX
            } else {
                (1u128 << size_log) - 1
            };
            if start.checked_add(span).is_some_and(|end| end <= last) {
                break;
            }
            size_log -= 1;
        }
        let prefix = u8::try_from(bits - size_log).unwrap_or(0);
        out.push((start, prefix));
        let span = if size_log >= 128 {
            u128::MAX
        } else {
            (1u128 << size_log) - 1
        };
        match start.checked_add(span) {
            Some(end) if end < last => start = end + 1,
            _ => break,
        }
    }
    out
}

fn v4_range(a: Ipv4Addr, b: Ipv4Addr) -> Vec<Ipv4Net> {
    range_to_prefixes(u128::from(u32::from(a)), u128::from(u32::from(b)), 32)
        .into_iter()
        .filter_map(|(start, p)| {
            let addr = Ipv4Addr::from(u32::try_from(start).ok()?);
            Ipv4Net::new(addr, p).ok()
        })
        .collect()
}

fn v6_range(a: Ipv6Addr, b: Ipv6Addr) -> Vec<Ipv6Net> {
    range_to_prefixes(u128::from(a), u128::from(b), 128)
        .into_iter()
        .filter_map(|(start, p)| Ipv6Net::new(Ipv6Addr::from(start), p).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::Path;

    use rampart_control::config::{Config, ConfigDocument};
    use rampart_dataplane::rules::{Action, Direction, PacketMeta, TCP_ACK, TCP_SYN, Verdict};

    use super::*;

    const WAN: usize = 0;
    const LAN: usize = 1;
    const DMZ: usize = 2;

    /// A config with the given `<filter>` body and extra top-level sections.
    fn config(rules: &str, extra: &str) -> Config {
        let xml = format!(
            r#"<?xml version="1.0"?>
<pfsense>
	<interfaces>
		<wan><enable/><if>wan0</if><ipaddr>198.51.100.2</ipaddr><subnet>24</subnet></wan>
		<lan><enable/><if>lan0</if><ipaddr>10.0.0.1</ipaddr><subnet>24</subnet>
			<ipaddrv6>2001:db8::1</ipaddrv6><subnetv6>64</subnetv6></lan>
		<opt1><enable/><if>dmz0</if><ipaddr>10.10.20.1</ipaddr><subnet>24</subnet></opt1>
		<opt2><if>old0</if><ipaddr>10.99.0.1</ipaddr><subnet>24</subnet></opt2>
		<opt3><enable/><if>ovpns1</if></opt3>
	</interfaces>
	<virtualip>
		<vip><mode>carp</mode><interface>wan</interface><vhid>1</vhid><password>x</password>
			<subnet>198.51.100.10</subnet><subnet_bits>24</subnet_bits></vip>
		<vip><mode>ipalias</mode><interface>lan</interface>
			<subnet>192.168.77.1</subnet><subnet_bits>24</subnet_bits></vip>
	</virtualip>
	<aliases>
		<alias><name>WEB</name><type>host</type><address>10.10.20.5 10.10.20.6</address></alias>
		<alias><name>NETS</name><type>network</type><address>172.16.0.0/12 2001:db8:5::/48</address></alias>
		<alias><name>ALL</name><type>host</type><address>WEB NETS 10.10.20.100-10.10.20.103</address></alias>
		<alias><name>WEBPORTS</name><type>port</type><address>80 443</address></alias>
		<alias><name>HIGH</name><type>port</type><address>WEBPORTS 8000:8080</address></alias>
		<alias><name>NOPORTS</name><type>port</type><address></address></alias>
		<alias><name>FEED</name><type>urltable</type><url>https://example.com/x</url></alias>
		<alias><name>LOOP1</name><type>host</type><address>LOOP2</address></alias>
		<alias><name>LOOP2</name><type>host</type><address>LOOP1</address></alias>
		<alias><name>MIXED</name><type>host</type><address>10.0.0.3 WEBPORTS</address></alias>
		<alias><name>FQDN</name><type>host</type><address>www.example.com</address></alias>
		<alias><name>D0</name><type>host</type><address>D1</address></alias>
		<alias><name>D1</name><type>host</type><address>D2</address></alias>
		<alias><name>D2</name><type>host</type><address>D3</address></alias>
		<alias><name>D3</name><type>host</type><address>D4</address></alias>
		<alias><name>D4</name><type>host</type><address>D5</address></alias>
		<alias><name>D5</name><type>host</type><address>D6</address></alias>
		<alias><name>D6</name><type>host</type><address>D7</address></alias>
		<alias><name>D7</name><type>host</type><address>D8</address></alias>
		<alias><name>D8</name><type>host</type><address>10.0.0.8</address></alias>
	</aliases>
	<filter>
{rules}
	</filter>
{extra}
</pfsense>"#
        );
        let doc = ConfigDocument::parse(xml.as_bytes()).unwrap();
        Config::from_document(doc).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ports() -> Vec<(String, usize)> {
        vec![
            ("wan".into(), WAN),
            ("lan".into(), LAN),
            ("opt1".into(), DMZ),
        ]
    }

    fn compile(rules: &str) -> CompiledFilter {
        compile_filter_report(&config(rules, ""), &ports()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn compile_err(rules: &str) -> String {
        compile_filter_report(&config(rules, ""), &ports())
            .expect_err("compiling should fail")
            .to_string()
    }

    fn pkt(port: usize, proto: u8, src: &str, dst: &str, dport: u16) -> PacketMeta {
        PacketMeta {
            port,
            direction: Direction::In,
            proto,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: 40000,
            dst_port: dport,
            icmp_type: 8,
            tcp_flags: if proto == 6 { TCP_SYN } else { 0 },
        }
    }

    fn tracker(v: Verdict) -> Option<u32> {
        v.rule.map(|r| r.tracker)
    }

    /// `<rule>` with tracker, type, interface and free-form children.
    fn r(tracker: u32, action: &str, interface: &str, body: &str) -> String {
        format!(
            "<rule><tracker>{tracker}</tracker><type>{action}</type>\
             <interface>{interface}</interface>{body}</rule>"
        )
    }

    const ANY_ANY: &str = "<source><any/></source><destination><any/></destination>";

    #[test]
    fn test_networks_self_and_vips() {
        let rules = [
            r(1, "pass", "lan", "<source><network>lan</network></source><destination><network>lanip</network></destination>"),
            r(2, "block", "lan", "<source><any/></source><destination><network>(self)</network></destination>"),
            r(3, "pass", "lan", ANY_ANY),
        ]
        .concat();
        let rs = compile(&rules).ruleset;
        // lan = 10.0.0.0/24 plus the IP alias subnet outside it; lanip = 10.0.0.1.
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 6, "10.0.0.9", "10.0.0.1", 22))),
            Some(1)
        );
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 6, "192.168.77.9", "10.0.0.1", 22))),
            Some(1)
        );
        // (self): every interface address and the CARP VIP.
        for own in [
            "198.51.100.2",
            "198.51.100.10",
            "10.10.20.1",
            "192.168.77.1",
        ] {
            assert_eq!(
                tracker(rs.evaluate(&pkt(LAN, 17, "10.0.0.9", own, 53))),
                Some(2),
                "{own}"
            );
        }
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 17, "10.0.0.9", "8.8.8.8", 53))),
            Some(3)
        );
        // The disabled opt2's address is not ours.
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 17, "10.0.0.9", "10.99.0.1", 53))),
            Some(3)
        );
    }

    #[test]
    fn test_aliases_nested_ranges_and_ports() {
        let rules = [
            r(1, "pass", "wan", "<protocol>tcp</protocol><source><any/></source><destination><address>ALL</address><port>HIGH</port></destination>"),
            r(2, "block", "wan", "<ipprotocol>inet46</ipprotocol><source><any/></source><destination><not/><address>WEB</address></destination>"),
        ]
        .concat();
        let rs = compile(&rules).ruleset;
        let ok = |dst: &str, dport: u16| tracker(rs.evaluate(&pkt(WAN, 6, "1.2.3.4", dst, dport)));
        assert_eq!(ok("10.10.20.5", 80), Some(1)); // WEB via ALL, WEBPORTS via HIGH
        assert_eq!(ok("172.20.1.1", 8080), Some(1)); // NETS via ALL, 8000:8080
        assert_eq!(ok("10.10.20.103", 443), Some(1)); // the range
        assert_eq!(ok("10.10.20.104", 443), Some(2)); // just outside the range
        assert_eq!(ok("10.10.20.5", 22), None); // wrong port, WEB not negated
        // `! <WEB>` is a table: every IPv6 destination is outside it.
        assert_eq!(
            tracker(rs.evaluate(&pkt(WAN, 17, "2001:db8:9::1", "2001:db8::5", 53))),
            Some(2)
        );

        // An empty port alias can never match: the rule is skipped.
        let c = compile(&r(
            1,
            "pass",
            "wan",
            "<protocol>tcp</protocol><source><any/></source><destination><any/><port>NOPORTS</port></destination>",
        ));
        assert_eq!((c.ruleset.len(), c.skipped.len()), (0, 1));
        assert!(c.skipped[0].reason.contains("empty"));
    }

    #[test]
    fn test_alias_errors() {
        let dst = |a: &str| {
            r(
                1,
                "pass",
                "wan",
                &format!(
                    "<source><any/></source><destination><address>{a}</address></destination>"
                ),
            )
        };
        assert_eq!(
            compile_err(&dst("FEED")),
            "/pfsense/filter/rule[1]/destination/address: alias `FEED` is of type `urltable`: URL aliases are not supported"
        );
        assert!(compile_err(&dst("LOOP1")).contains("alias cycle LOOP1 -> LOOP2 -> LOOP1"));
        assert!(compile_err(&dst("D0")).contains("alias `D8` nests more than 8 levels deep"));
        assert!(compile_err(&dst("FQDN")).contains("host names need DNS resolution"));
        assert!(compile_err(&dst("MIXED")).contains("expected a host or network alias"));
    }

    #[test]
    fn test_alias_depth_limit_is_inclusive() {
        let c = compile(&r(
            1,
            "pass",
            "wan",
            "<source><any/></source><destination><address>D1</address></destination>",
        ));
        assert_eq!(c.ruleset.len(), 1);
    }

    #[test]
    fn test_floating_quick_non_quick_and_interface_rules() {
        // thoai-system443 floating.xml in miniature.
        let rules = [
            r(1, "block", "lan", "<floating>yes</floating><direction>any</direction><protocol>tcp</protocol><source><any/></source><destination><any/><port>445</port></destination>"),
            r(2, "block", "lan", "<floating>yes</floating><quick>yes</quick><direction>any</direction><protocol>tcp</protocol><source><any/></source><destination><any/><port>23</port></destination>"),
            r(3, "pass", "lan", "<protocol>tcp</protocol><source><network>lan</network></source><destination><network>opt1</network><port>445</port></destination>"),
            r(4, "pass", "lan", "<protocol>tcp</protocol><source><network>lan</network></source><destination><network>opt1</network><port>23</port></destination>"),
        ]
        .concat();
        let rs = compile(&rules).ruleset;
        let v = |dst: &str, port: u16| rs.evaluate(&pkt(LAN, 6, "10.0.0.9", dst, port));
        assert_eq!(
            (tracker(v("10.10.20.9", 23)), v("10.10.20.9", 23).action),
            (Some(2), Action::Block)
        );
        assert_eq!(
            (tracker(v("10.10.20.9", 445)), v("10.10.20.9", 445).action),
            (Some(3), Action::Pass)
        );
        assert_eq!(
            (tracker(v("8.8.8.8", 445)), v("8.8.8.8", 445).action),
            (Some(1), Action::Block)
        );
        assert_eq!(v("8.8.8.8", 80).rule, None);
        // Interface rules are inbound only; the floating rules (direction any) also see outbound.
        let mut out = pkt(LAN, 6, "10.10.20.9", "10.0.0.9", 23);
        out.direction = Direction::Out;
        assert_eq!(tracker(rs.evaluate(&out)), Some(2));
        out.dst_port = 80;
        assert_eq!(
            (rs.evaluate(&out).rule, rs.evaluate(&out).action),
            (None, Action::Pass)
        );
    }

    #[test]
    fn test_skipped_interfaces_groups_and_unknown_names() {
        let rules = [
            r(1, "pass", "opt2", ANY_ANY),    // disabled interface
            r(2, "pass", "opt3", ANY_ANY),    // no DPDK port
            r(3, "pass", "openvpn", ANY_ANY), // tunnel group
            r(
                4,
                "pass",
                "opt2,wan",
                &format!("<floating>yes</floating>{ANY_ANY}"),
            ),
        ]
        .concat();
        let c = compile(&rules);
        assert_eq!(c.ruleset.len(), 1);
        let skipped: Vec<_> = c.skipped.iter().map(|s| s.tracker).collect();
        assert_eq!(skipped, [Some(1), Some(2), Some(3)]);
        assert_eq!(
            tracker(c.ruleset.evaluate(&pkt(WAN, 17, "1.2.3.4", "10.0.0.9", 53))),
            Some(4)
        );
        assert_eq!(
            c.ruleset
                .evaluate(&pkt(LAN, 17, "10.0.0.9", "1.2.3.4", 53))
                .rule,
            None
        );

        // An interface group is expanded, and its rules come before interface rules.
        let groups = "<ifgroups><ifgroupentry><ifname>INSIDE</ifname><members>lan opt1</members></ifgroupentry></ifgroups>";
        let rules = [
            r(1, "pass", "lan", ANY_ANY),
            r(2, "block", "INSIDE", ANY_ANY),
        ]
        .concat();
        let rs = compile_filter(&config(&rules, groups), &ports()).unwrap();
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 17, "10.0.0.9", "1.2.3.4", 53))),
            Some(2)
        );
        assert_eq!(
            tracker(rs.evaluate(&pkt(DMZ, 17, "10.10.20.9", "1.2.3.4", 53))),
            Some(2)
        );

        // A user group rampart does not know is an error.
        assert_eq!(
            compile_err(&r(1, "pass", "NOSUCHGROUP", ANY_ANY)),
            "/pfsense/filter/rule[1]/interface: interface `NOSUCHGROUP` does not exist"
        );
    }

    #[test]
    fn test_protocols_flags_and_unsupported() {
        let rules = [
            // "any" with a port: pfSense writes `proto tcp` without the port.
            r(1, "pass", "wan", "<source><any/></source><destination><any/><port>53</port></destination>"),
            r(2, "reject", "lan", "<protocol>tcp</protocol><source><any/></source><destination><any/></destination>"),
            r(3, "pass", "lan", "<protocol>icmp</protocol><icmptype>echoreq</icmptype><ipprotocol>inet46</ipprotocol><source><any/></source><destination><any/></destination>"),
            r(4, "pass", "lan", "<protocol>gre</protocol><source><any/></source><destination><any/></destination>"),
            r(5, "pass", "opt1", "<protocol>tcp</protocol><tcpflags_any/><statetype>sloppy state</statetype><source><any/></source><destination><any/></destination>"),
        ]
        .concat();
        let rs = compile(&rules).ruleset;
        assert_eq!(
            tracker(rs.evaluate(&pkt(WAN, 6, "1.2.3.4", "10.0.0.9", 22))),
            Some(1)
        );
        assert_eq!(
            rs.evaluate(&pkt(WAN, 17, "1.2.3.4", "10.0.0.9", 53)).rule,
            None
        );
        // A tcp rule has `flags S/SA`, block or not: only SYNs are rejected.
        let v = rs.evaluate(&pkt(LAN, 6, "10.0.0.9", "1.2.3.4", 80));
        assert_eq!((tracker(v), v.reject), (Some(2), true));
        let mut ack = pkt(LAN, 6, "10.0.0.9", "1.2.3.4", 80);
        ack.tcp_flags = TCP_ACK;
        assert_eq!(rs.evaluate(&ack).rule, None);
        // ICMP echo request by name, for both families.
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 1, "10.0.0.9", "1.2.3.4", 0))),
            Some(3)
        );
        let mut echo6 = pkt(LAN, 58, "2001:db8::9", "2001:db8:1::1", 0);
        echo6.icmp_type = 128;
        assert_eq!(tracker(rs.evaluate(&echo6)), Some(3));
        echo6.icmp_type = 8;
        assert_eq!(rs.evaluate(&echo6).rule, None);
        assert_eq!(
            tracker(rs.evaluate(&pkt(LAN, 47, "10.0.0.9", "1.2.3.4", 0))),
            Some(4)
        );
        // flags any + sloppy.
        ack.port = DMZ;
        let v = rs.evaluate(&ack);
        assert_eq!((tracker(v), v.state_type), (Some(5), StateType::Sloppy));

        assert_eq!(
            compile_err(&r(
                1,
                "pass",
                "lan",
                &format!("<sched>work</sched>{ANY_ANY}")
            )),
            "/pfsense/filter/rule[1]/sched: a schedule (<sched>) is not supported"
        );
        assert!(
            compile_err(&r(
                1,
                "pass",
                "lan",
                &format!("<tagged>X</tagged>{ANY_ANY}")
            ))
            .contains("<tagged>")
        );
    }

    #[test]
    fn test_disabled_and_default_logging() {
        let rules = [
            r(1, "block", "lan", &format!("<disabled/>{ANY_ANY}")),
            r(2, "pass", "lan", &format!("<log/>{ANY_ANY}")),
        ]
        .concat();
        let rs = compile(&rules).ruleset;
        let v = rs.evaluate(&pkt(LAN, 17, "10.0.0.9", "1.2.3.4", 53));
        assert_eq!((tracker(v), v.log), (Some(2), true));
        assert!(rs.evaluate(&pkt(WAN, 17, "1.2.3.4", "10.0.0.9", 53)).log);
        let quiet = "<syslog><nologdefaultblock/></syslog>";
        let rs = compile_filter(&config(&rules, quiet), &ports()).unwrap();
        assert!(!rs.evaluate(&pkt(WAN, 17, "1.2.3.4", "10.0.0.9", 53)).log);
    }

    #[test]
    fn test_ha_example_with_port_map() {
        let xml = include_str!("../control/tests/data/ha-primary.xml");
        let config = Config::parse(xml.as_bytes()).unwrap();
        let ports = port_map(&config);
        // opt1 is the pfsync interface: the sync core's port, not a data port.
        assert_eq!(ports, [("wan".into(), 0), ("lan".into(), 1)]);
        let c = compile_filter_report(&config, &ports).unwrap();
        // Rule 5 is disabled; the SYNC rule is skipped (the sync port is the sync core's,
        // which takes only pfsync and ARP there); the other three compile.
        assert_eq!(
            (c.ruleset.len(), c.skipped.len()),
            (3, 1),
            "{:?}",
            c.skipped
        );
        // The floating NetBIOS block (quick) beats "Allow LAN to any".
        let v = c
            .ruleset
            .evaluate(&pkt(1, 17, "10.0.0.50", "10.0.0.60", 138));
        assert_eq!((tracker(v), v.action), (Some(1_700_000_004), Action::Block));
        let v = c.ruleset.evaluate(&pkt(1, 6, "10.0.0.50", "1.1.1.1", 443));
        assert_eq!((tracker(v), v.action), (Some(1_700_000_002), Action::Pass));
        // Abusive network to the web farm's ports, from WAN.
        let v = c
            .ruleset
            .evaluate(&pkt(0, 6, "203.0.113.7", "10.0.0.21", 443));
        assert_eq!((tracker(v), v.log), (Some(1_700_000_003), true));
        assert_eq!(
            c.ruleset
                .evaluate(&pkt(0, 6, "203.0.113.7", "10.0.0.22", 443))
                .rule,
            None
        );
    }

    #[test]
    fn test_range_to_prefixes() {
        let r = |a: &str, b: &str| -> Vec<String> {
            v4_range(a.parse().unwrap(), b.parse().unwrap())
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            r("10.0.0.1", "10.0.0.6"),
            ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]
        );
        assert_eq!(r("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(r("10.0.0.0", "10.0.1.255"), ["10.0.0.0/23"]);
        assert_eq!(
            r("255.255.255.255", "255.255.255.255"),
            ["255.255.255.255/32"]
        );
        let v6: Vec<String> = v6_range(
            "::".parse().unwrap(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap(),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(v6, ["::/0"]);
    }

    /// Expected outcome of compiling each fixture's `<filter>` with one port per enabled
    /// interface: `Ok((rules compiled, rules skipped))` or `Err(part of the message)`.
    type Expected = Result<(usize, usize), &'static str>;

    const FIXTURES: &[(&str, Expected)] = &[
        ("EvilBit-Labs__opnDossier__config-2.6.x.xml", Ok((2, 0))),
        ("EvilBit-Labs__opnDossier__config-2.7.x.xml", Ok((1, 0))),
        // A fragment without <interfaces>: its rule is on a `wan` that does not exist.
        (
            "EvilBit-Labs__opnDossier__pfsense-aliases.xml",
            Err("interface `wan` does not exist"),
        ),
        (
            "cshearhod-heart__pfsense-ha-builder__sample-config-existing-ha.xml",
            Ok((0, 0)),
        ),
        (
            "cshearhod-heart__pfsense-ha-builder__sample-config-kea-existing-ha.xml",
            Ok((0, 0)),
        ),
        (
            "cshearhod-heart__pfsense-ha-builder__sample-config-multi-vip.xml",
            Ok((0, 0)),
        ),
        (
            "cshearhod-heart__pfsense-ha-builder__sample-config.xml",
            Ok((0, 0)),
        ),
        // Its floating rule matches on pf tags.
        (
            "grounzero__pfsense-redactor__test-config2.xml",
            Err("matching tags (<tagged>) is not supported"),
        ),
        (
            "opoplawski__ansible-pfsense__pfsense_syslog_config.xml",
            Ok((0, 0)),
        ),
        // 1.x config: lan/wan carry no <enable/>, so both rules are on disabled interfaces.
        ("oxypwn__pfsense-tools__config.xml", Ok((0, 2))),
        // The IPv6 default rule: LAN is track6, so `lan` has no IPv6 network yet.
        ("pfsense__FreeBSD-ports__config.xml", Ok((1, 1))),
        ("pfsense__pfsense__config.xml", Ok((1, 1))),
        (
            "pfsensible__core__pfsense_dns_resolver_config_full.xml",
            Ok((0, 0)),
        ),
        (
            "thoai-system443__pfsense-network-map__floating.xml",
            Ok((4, 0)),
        ),
        (
            "thoai-system443__pfsense-network-map__routed.xml",
            Ok((1, 0)),
        ),
        // A rule on the disabled opt2 is skipped; the disabled rule is dropped.
        (
            "wesparish__pfsense-to-mikrotik-routerboard__minimal.xml",
            Ok((3, 1)),
        ),
    ];

    #[test]
    fn test_every_fixture_filter() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pfsense-configs");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "xml") {
                continue;
            }
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let (_, expected) = FIXTURES
                .iter()
                .find(|(f, _)| *f == file)
                .unwrap_or_else(|| panic!("new fixture {file}: add it to FIXTURES"));
            seen += 1;
            let doc = ConfigDocument::parse(&std::fs::read(&path).unwrap()).unwrap();
            let (config, errors) = Config::analyze(doc);
            assert!(errors.is_empty(), "{file}: {errors:?}");
            assert_eq!(
                config.filter.len(),
                config.filter_rules.len(),
                "{file}: typed rules"
            );
            let ports: Vec<(String, usize)> = config
                .interfaces
                .iter()
                .filter(|i| i.enabled)
                .enumerate()
                .map(|(n, i)| (i.key.clone(), n))
                .collect();
            match (compile_filter_report(&config, &ports), expected) {
                (Ok(c), Ok((rules, skipped))) => {
                    assert_eq!(
                        (c.ruleset.len(), c.skipped.len()),
                        (*rules, *skipped),
                        "{file}: {:?}",
                        c.skipped
                    );
                }
                (Err(e), Err(part)) => assert!(e.to_string().contains(part), "{file}: {e}"),
                (Ok(c), Err(part)) => panic!(
                    "{file}: compiled {} rules, expected `{part}`",
                    c.ruleset.len()
                ),
                (Err(e), Ok(_)) => panic!("{file}: {e}"),
            }
        }
        assert_eq!(seen, FIXTURES.len(), "a fixture disappeared");
    }

    #[test]
    fn test_floating_fixture_semantics() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pfsense-configs");
        let config =
            Config::load(dir.join("thoai-system443__pfsense-network-map__floating.xml")).unwrap();
        let ports = [
            ("wan".to_owned(), 0),
            ("lan".to_owned(), 1),
            ("opt1".to_owned(), 2),
        ];
        let rs = compile_filter(&config, &ports).unwrap();
        let by_descr = |v: Verdict| {
            v.rule
                .map(|r| config.filter[r.index as usize].descr.clone())
        };
        let v = |dport| rs.evaluate(&pkt(1, 6, "192.168.1.10", "10.10.20.5", dport));
        assert_eq!(by_descr(v(23)).as_deref(), Some("Hard block telnet, quick"));
        assert_eq!(by_descr(v(445)).as_deref(), Some("Allow LAN to DMZ SMB"));
        let v = rs.evaluate(&pkt(1, 6, "192.168.1.10", "8.8.8.8", 445));
        assert_eq!(
            (by_descr(v).as_deref(), v.action),
            (Some("Soft block SMB, not quick"), Action::Block)
        );
    }
}

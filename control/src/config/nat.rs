//! The typed `<nat>` section: outbound NAT (`<outbound>`: mode and manual rules) and port
//! forwards (`<rule>`). As for `<filter>`, a rule with a problem is left out and every problem
//! is reported with its element path. Only IPv4 NAT is modelled (pfSense's outbound NAT and
//! port forwards are IPv4 unless NPt, which lives in `<npt>`).

use std::net::Ipv4Addr;

use super::filter::RuleIpProtocol;
use super::filter::{
    Endpoint, PortSpec, Protocol, Refs, endpoint, err, invalid, parse_port_spec, parse_protocol,
};
use super::net::{Ipv4Cidr, Ipv6Cidr};
use super::validate::{ConfigError, ConfigErrorKind, items, raw_text, text};
use super::xml::Element;

/// `<nat><outbound><mode>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutboundMode {
    /// Rules generated from the interfaces (pfSense's default).
    #[default]
    Automatic,
    /// Manual rules first, then the generated ones.
    Hybrid,
    /// Manual rules only (`advanced` in config.xml).
    Manual,
    /// No outbound NAT.
    Disabled,
}

/// An address set in an outbound NAT rule's `<source>` / `<destination>` `<network>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatNetwork {
    /// `any` (or empty).
    Any,
    /// An address or CIDR network.
    Cidr(Ipv4Cidr),
    /// An IPv6 address or network: the rule is for IPv6 (NAT66), which rampart does not do;
    /// it is kept so that the file stays valid, and skipped when rules are compiled.
    Ipv6(Ipv6Cidr),
    /// A host or network alias.
    Alias(String),
}

/// What an outbound rule translates to (`<target>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NatTarget {
    /// Empty: the address of the rule's interface.
    InterfaceAddress,
    /// A single address (often a CARP VIP or IP alias).
    Address(Ipv4Addr),
    /// `other-subnet` with `<targetip>` / `<targetip_subnet>`.
    Subnet(Ipv4Cidr),
    /// An alias name (a host alias of addresses to use).
    Alias(String),
}

/// One `<nat><outbound><rule>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundNatRule {
    /// Element path.
    pub path: String,
    /// `<interface>`: where translated packets leave.
    pub interface: String,
    /// `<protocol>`.
    pub protocol: Protocol,
    /// `<source><network>`.
    pub source: NatNetwork,
    /// `<sourceport>`.
    pub source_port: Option<PortSpec>,
    /// `<destination>` (`<any/>` or `<network>`).
    pub destination: NatNetwork,
    /// `<destination><not/>`.
    pub destination_not: bool,
    /// `<dstport>`.
    pub destination_port: Option<PortSpec>,
    /// `<target>`.
    pub target: NatTarget,
    /// `<natport>`: the source port (range) to translate to.
    pub nat_port: Option<PortSpec>,
    /// `<staticnatport/>`: keep the source port.
    pub static_port: bool,
    /// `<nonat/>`: do not translate what this rule matches.
    pub no_nat: bool,
    /// `<nosync/>`.
    pub no_sync: bool,
    /// `<descr>`.
    pub descr: String,
}

/// One `<nat><rule>`: a port forward (pf `rdr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortForward {
    /// Element path.
    pub path: String,
    /// `<interface>` it listens on.
    pub interface: String,
    /// `<protocol>` (tcp, udp, tcp/udp, …).
    pub protocol: Protocol,
    /// `<source>`.
    pub source: Endpoint,
    /// `<destination>`: the address and port(s) it catches.
    pub destination: Endpoint,
    /// `<target>`: the internal address (or a host alias).
    pub target: String,
    /// `<local-port>`: the first internal port (the range keeps its length).
    pub local_port: Option<u16>,
    /// `<nordr/>`: "no redirect" (exempts what it matches from later forwards).
    pub no_rdr: bool,
    /// `<associated-rule-id>`: the filter rule pfSense created for it (`pass` = none, the
    /// forward passes by itself).
    pub associated_rule_id: String,
    /// `<nosync/>`.
    pub no_sync: bool,
    /// `<descr>`.
    pub descr: String,
}

/// The typed `<nat>`: enabled rules only, in document order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NatConfig {
    /// Outbound mode.
    pub outbound_mode: OutboundMode,
    /// Manual outbound rules (used in hybrid and manual modes).
    pub outbound: Vec<OutboundNatRule>,
    /// Port forwards.
    pub port_forwards: Vec<PortForward>,
}

/// Reads `<nat>`; every problem goes to `errors`, rules with one are left out.
pub(crate) fn analyze(root: &Element, refs: &Refs<'_>, errors: &mut Vec<ConfigError>) -> NatConfig {
    let Some(nat) = root.child("nat") else {
        return NatConfig::default();
    };
    let base = format!("/{}/nat", root.name());
    let mut config = NatConfig::default();
    if let Some(outbound) = nat.child("outbound") {
        config.outbound_mode = match text(outbound, "mode") {
            "" | "automatic" => OutboundMode::Automatic,
            "hybrid" => OutboundMode::Hybrid,
            "advanced" => OutboundMode::Manual,
            "disabled" => OutboundMode::Disabled,
            other => {
                err(
                    errors,
                    format!("{base}/outbound/mode"),
                    invalid(other, "automatic, hybrid, advanced or disabled"),
                );
                OutboundMode::Automatic
            }
        };
        config.outbound = enabled_rules(
            outbound,
            &format!("{base}/outbound"),
            errors,
            |r, path, errors| outbound_rule(r, path, refs, errors),
        );
    }
    config.port_forwards = enabled_rules(nat, &base, errors, |r, path, errors| {
        port_forward(r, path, refs, errors)
    });
    config
}

/// The `<rule>` children of `section` that are not disabled, each read by `read` (given its
/// element path); a rule that added any problem to `errors` is left out.
fn enabled_rules<T>(
    section: &Element,
    base: &str,
    errors: &mut Vec<ConfigError>,
    mut read: impl FnMut(&Element, String, &mut Vec<ConfigError>) -> Option<T>,
) -> Vec<T> {
    let mut rules = Vec::new();
    for (i, r) in items(section, "rule") {
        if r.has_child("disabled") {
            continue;
        }
        let before = errors.len();
        let rule = read(r, format!("{base}/rule[{i}]"), errors);
        if let Some(rule) = rule.filter(|_| errors.len() == before) {
            rules.push(rule);
        }
    }
    rules
}

/// IPv4 only: pfSense's outbound NAT and port forwards are `inet` (empty means inet).
fn check_ipv4(r: &Element, path: &str, errors: &mut Vec<ConfigError>) {
    match text(r, "ipprotocol") {
        "" | "inet" => {}
        other => err(
            errors,
            format!("{path}/ipprotocol"),
            invalid(other, "inet (rampart does IPv4 NAT only)"),
        ),
    }
}

fn interface(r: &Element, path: &str, errors: &mut Vec<ConfigError>) -> String {
    let name = text(r, "interface");
    if name.is_empty() {
        err(
            errors,
            format!("{path}/interface"),
            ConfigErrorKind::Missing,
        );
    }
    name.to_owned()
}

fn nat_network(
    value: &str,
    path: String,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> NatNetwork {
    match value {
        "" | "any" => NatNetwork::Any,
        v => {
            if let Ok(cidr) = v.parse::<Ipv4Cidr>() {
                NatNetwork::Cidr(cidr)
            } else if let Ok(addr) = v.parse::<Ipv4Addr>() {
                NatNetwork::Cidr(Ipv4Cidr {
                    addr,
                    prefix_len: 32,
                })
            } else if let Ok(cidr) = v.parse::<Ipv6Cidr>() {
                NatNetwork::Ipv6(cidr)
            } else if let Ok(addr) = v.parse::<std::net::Ipv6Addr>() {
                NatNetwork::Ipv6(Ipv6Cidr {
                    addr,
                    prefix_len: 128,
                })
            } else if refs.aliases.iter().any(|a| a.name == v) {
                NatNetwork::Alias(v.to_owned())
            } else {
                err(
                    errors,
                    path,
                    invalid(v, "any, an address or network, or an alias"),
                );
                NatNetwork::Any
            }
        }
    }
}

fn optional_port(
    r: &Element,
    name: &str,
    path: &str,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<PortSpec> {
    match text(r, name) {
        "" | "any" => None,
        p => match parse_port_spec(p, refs) {
            Ok(spec) => Some(spec),
            Err(kind) => {
                err(errors, format!("{path}/{name}"), kind);
                None
            }
        },
    }
}

fn outbound_rule(
    r: &Element,
    path: String,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<OutboundNatRule> {
    check_ipv4(r, &path, errors);
    let interface = interface(r, &path, errors);
    let protocol = parse_protocol(r, &path, errors)?;
    let source = match r.child("source") {
        Some(s) => nat_network(
            text(s, "network"),
            format!("{path}/source/network"),
            refs,
            errors,
        ),
        None => {
            err(errors, format!("{path}/source"), ConfigErrorKind::Missing);
            NatNetwork::Any
        }
    };
    let (destination, destination_not) = match r.child("destination") {
        Some(d) if d.has_child("any") => (NatNetwork::Any, false),
        Some(d) => (
            nat_network(
                text(d, "network"),
                format!("{path}/destination/network"),
                refs,
                errors,
            ),
            d.has_child("not"),
        ),
        None => (NatNetwork::Any, false),
    };
    let target = match text(r, "target") {
        "" => NatTarget::InterfaceAddress,
        "other-subnet" => {
            let ip = text(r, "targetip");
            let len = text(r, "targetip_subnet");
            match format!("{ip}/{len}").parse::<Ipv4Cidr>() {
                Ok(cidr) => NatTarget::Subnet(cidr),
                Err(_) => {
                    err(
                        errors,
                        format!("{path}/targetip"),
                        invalid(ip, "an IPv4 address with <targetip_subnet>"),
                    );
                    NatTarget::InterfaceAddress
                }
            }
        }
        t => match t.parse::<Ipv4Addr>() {
            Ok(addr) => NatTarget::Address(addr),
            Err(_) if refs.aliases.iter().any(|a| a.name == t) => NatTarget::Alias(t.to_owned()),
            Err(_) => {
                err(
                    errors,
                    format!("{path}/target"),
                    invalid(
                        t,
                        "empty (interface address), an IPv4 address, other-subnet or an alias",
                    ),
                );
                NatTarget::InterfaceAddress
            }
        },
    };
    Some(OutboundNatRule {
        source_port: optional_port(r, "sourceport", &path, refs, errors),
        destination_port: optional_port(r, "dstport", &path, refs, errors),
        nat_port: optional_port(r, "natport", &path, refs, errors),
        static_port: r.has_child("staticnatport"),
        no_nat: r.has_child("nonat"),
        no_sync: r.has_child("nosync"),
        descr: raw_text(r, "descr"),
        path,
        interface,
        protocol,
        source,
        destination,
        destination_not,
        target,
    })
}

fn port_forward(
    r: &Element,
    path: String,
    refs: &Refs<'_>,
    errors: &mut Vec<ConfigError>,
) -> Option<PortForward> {
    check_ipv4(r, &path, errors);
    let interface = interface(r, &path, errors);
    let protocol = parse_protocol(r, &path, errors)?;
    let source = endpoint(r, "source", &path, RuleIpProtocol::Inet, refs, errors)?;
    let destination = endpoint(r, "destination", &path, RuleIpProtocol::Inet, refs, errors)?;
    let no_rdr = r.has_child("nordr");
    let target = text(r, "target").to_owned();
    if target.is_empty() && !no_rdr {
        err(errors, format!("{path}/target"), ConfigErrorKind::Missing);
    }
    let local_port = match text(r, "local-port") {
        "" => None,
        p => match parse_port_spec(p, refs) {
            Ok(PortSpec::Port(port)) => Some(port),
            Ok(PortSpec::Range(first, _)) => Some(first),
            Ok(PortSpec::Alias(_)) | Err(_) => {
                err(
                    errors,
                    format!("{path}/local-port"),
                    invalid(p, "a port 1-65535"),
                );
                None
            }
        },
    };
    Some(PortForward {
        associated_rule_id: text(r, "associated-rule-id").to_owned(),
        no_sync: r.has_child("nosync"),
        descr: raw_text(r, "descr"),
        path,
        interface,
        protocol,
        source,
        destination,
        target,
        local_port,
        no_rdr,
    })
}

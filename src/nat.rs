//! From the config's `<nat>` to the dataplane's [`Nat`]: interfaces become ports, aliases and
//! interface names become networks, targets become addresses. The semantics are in
//! [`rampart_dataplane::nat`]; this module follows pfSense's `filter.inc` for what the rules
//! are:
//!
//! - **Automatic** outbound NAT (the default mode): for every interface with a DPDK port and a
//!   gateway (`<gateway>` set, or the interface of the default IPv4 gateway) — a WAN — traffic
//!   from the subnets of the other interfaces with ports leaves with the WAN's address;
//!   UDP 500 (ISAKMP) keeps its source port, as pfSense's generated rule does. **Hybrid**: the
//!   manual rules, then the automatic ones. **Advanced** (manual): the manual rules only.
//!   **Disabled**: none.
//! - A manual rule's target: empty is the interface's address; an address (a CARP VIP or IP
//!   alias, typically) is used as given; `other-subnet` and aliases translate to their first
//!   address (pools over several addresses are not implemented: a documented simplification).
//!   `natport` gives the port range, `staticnatport` keeps the port, `nonat` exempts.
//! - Port forwards: the destination (`wanip`, an address, a host alias) and port (range) are
//!   caught on the rule's interface and redirected to `target`:`local-port` (a range keeps
//!   its offset); `nordr` exempts. The filter rule pfSense associates with a forward is an
//!   ordinary `<filter>` rule and is compiled with the others.
//! - Rules rampart cannot apply are listed in [`CompiledNat::skipped`] with the reason (and
//!   logged at start and by `rampart --check`): IPv6 rules (NAT66, from `::1/128` auto-created
//!   rules and the like), rules on interfaces without a DPDK port, sources or destinations with
//!   no IPv4 address, and every enabled 1:1 NAT (`<onetoone>`) and NPt (`<npt>`) entry, which
//!   are not implemented.

use std::net::Ipv4Addr;

use rampart_control::config::{
    Config, Endpoint, EndpointAddr, Ipv4Mode, NatNetwork, NatTarget, OutboundMode, OutboundNatRule,
    PortForward as CfgPortForward, PortSpec, Protocol,
};
use rampart_dataplane::nat::{
    DEFAULT_PORT_RANGE, Nat, NatAddrs, NatSpec, OutboundAction, OutboundRule, PortForward,
    PortPolicy,
};
use rampart_dataplane::route::Ipv4Net;
use rampart_dataplane::rules::{AddrSpec, IcmpMatch, PortRange, ProtoSpec};

use crate::ruleset::{Resolver, RulesetError};

/// A compiled `<nat>` and the rules left out of it.
#[derive(Debug, Clone)]
pub struct CompiledNat {
    /// What the dataplane applies.
    pub nat: Nat,
    /// Rules that cannot apply here: (element path, reason).
    pub skipped: Vec<(String, String)>,
}

/// Compiles `config`'s `<nat>` for ports `ports` (see [`crate::ruleset::port_map`]).
///
/// # Errors
/// [`RulesetError`] for references that do not resolve (aliases, cycles).
pub fn compile_nat(
    config: &Config,
    ports: &[(String, usize)],
) -> Result<CompiledNat, RulesetError> {
    let resolver = Resolver::new(config, ports);
    let mut spec = NatSpec::default();
    let mut skipped = Vec::new();
    let nat = &config.nat_rules;
    if matches!(
        nat.outbound_mode,
        OutboundMode::Hybrid | OutboundMode::Manual
    ) {
        for rule in &nat.outbound {
            match outbound(config, &resolver, rule)? {
                Ok(r) => spec.outbound.push(r),
                Err(reason) => skipped.push((rule.path.clone(), reason)),
            }
        }
    }
    if matches!(
        nat.outbound_mode,
        OutboundMode::Automatic | OutboundMode::Hybrid
    ) {
        spec.outbound.extend(automatic(config, &resolver, ports));
    }
    // 1:1 NAT and NPt are not implemented: say so for every enabled entry rather than let
    // traffic that relies on them go untranslated without a word.
    for (section, what) in [
        ("onetoone", "1:1 NAT"),
        ("npt", "NPt (IPv6 prefix translation)"),
    ] {
        let entries = config
            .doc
            .section("nat")
            .into_iter()
            .flat_map(|n| n.children_named(section));
        for (i, entry) in entries.enumerate() {
            if !entry.has_child("disabled") {
                skipped.push((
                    format!("/pfsense/nat/{section}[{}]", i + 1),
                    format!("{what} is not implemented"),
                ));
            }
        }
    }
    for rule in &nat.port_forwards {
        match port_forward(&resolver, rule)? {
            Ok(r) => spec.port_forwards.push(r),
            Err(reason) => skipped.push((rule.path.clone(), reason)),
        }
    }
    Ok(CompiledNat {
        nat: Nat::compile(spec),
        skipped,
    })
}

fn interface_v4(config: &Config, key: &str) -> Option<(Ipv4Addr, u8)> {
    match config.interface(key)?.ipv4 {
        Ipv4Mode::Static(c) => Some((c.addr, c.prefix_len)),
        _ => None,
    }
}

/// pfSense's automatic rules: local subnets out of every WAN (an interface with a gateway).
fn automatic(
    config: &Config,
    resolver: &Resolver<'_>,
    ports: &[(String, usize)],
) -> Vec<OutboundRule> {
    let default_gw_iface = config.default_gateway_v4().map(|gw| gw.interface.clone());
    let is_wan = |key: &str| {
        config.interface(key).is_some_and(|i| i.gateway.is_some())
            || default_gw_iface.as_deref() == Some(key)
    };
    let locals: Vec<Ipv4Net> = ports
        .iter()
        .filter(|(key, _)| !is_wan(key) && resolver.port_of(key).is_some())
        .filter_map(|(key, _)| interface_v4(config, key))
        .filter_map(|(addr, len)| Ipv4Net::new(addr, len).ok())
        .collect();
    let mut rules = Vec::new();
    if locals.is_empty() {
        return rules;
    }
    for (key, _) in ports.iter().filter(|(key, _)| is_wan(key)) {
        let (Some(port), Some((addr, _))) = (resolver.port_of(key), interface_v4(config, key))
        else {
            continue;
        };
        let rule = |proto, dst_ports: Vec<PortRange>, ports| OutboundRule {
            port,
            proto,
            src: NatAddrs::Nets {
                nets: locals.clone(),
                negate: false,
            },
            src_ports: Vec::new(),
            dst: NatAddrs::Any,
            dst_ports,
            action: OutboundAction::Translate { addr, ports },
        };
        rules.push(rule(
            ProtoSpec::Udp,
            vec![PortRange::single(500)],
            PortPolicy::Static,
        ));
        rules.push(rule(
            ProtoSpec::Any,
            Vec::new(),
            PortPolicy::Range(DEFAULT_PORT_RANGE),
        ));
    }
    rules
}

fn proto(p: &Protocol) -> Result<ProtoSpec, String> {
    Ok(match p {
        Protocol::Any => ProtoSpec::Any,
        Protocol::Tcp => ProtoSpec::Tcp,
        Protocol::Udp => ProtoSpec::Udp,
        Protocol::TcpUdp => ProtoSpec::TcpUdp,
        Protocol::Icmp { .. } => ProtoSpec::Icmp {
            v4: IcmpMatch::Any,
            v6: IcmpMatch::None,
        },
        Protocol::Icmp6 { .. } => return Err("ICMPv6: rampart does IPv4 NAT only".into()),
        Protocol::Other(o) => ProtoSpec::Number(o.number),
    })
}

fn nat_network(
    resolver: &Resolver<'_>,
    net: &NatNetwork,
    negate: bool,
    path: &str,
) -> Result<Result<NatAddrs, String>, RulesetError> {
    Ok(Ok(match net {
        NatNetwork::Any if !negate => NatAddrs::Any,
        NatNetwork::Any => NatAddrs::Nets {
            nets: Vec::new(),
            negate: false,
        },
        NatNetwork::Cidr(c) => NatAddrs::Nets {
            nets: vec![
                Ipv4Net::new(c.addr, c.prefix_len).map_err(|_| RulesetError::Nat {
                    path: path.to_owned(),
                    reason: format!("bad network {c}"),
                })?,
            ],
            negate,
        },
        NatNetwork::Alias(name) => NatAddrs::Nets {
            nets: resolver.alias_v4(name, path)?,
            negate,
        },
        NatNetwork::Ipv6(c) => {
            return Ok(Err(format!("{c} is IPv6: rampart does IPv4 NAT only")));
        }
    }))
}

fn port_ranges(
    resolver: &Resolver<'_>,
    spec: Option<&PortSpec>,
    path: &str,
) -> Result<Vec<PortRange>, RulesetError> {
    let ep = Endpoint {
        addr: EndpointAddr::Any,
        not: false,
        port: spec.cloned(),
    };
    Ok(resolver.ports(&ep, path)?.unwrap_or_default())
}

fn outbound(
    config: &Config,
    resolver: &Resolver<'_>,
    rule: &OutboundNatRule,
) -> Result<Result<OutboundRule, String>, RulesetError> {
    let path = &rule.path;
    let Some(port) = resolver.port_of(&rule.interface) else {
        return Ok(Err(format!(
            "interface {} has no DPDK port",
            rule.interface
        )));
    };
    let proto = match proto(&rule.protocol) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let src = match nat_network(resolver, &rule.source, false, &format!("{path}/source"))? {
        Ok(s) => s,
        Err(reason) => return Ok(Err(reason)),
    };
    let dst = match nat_network(
        resolver,
        &rule.destination,
        rule.destination_not,
        &format!("{path}/destination"),
    )? {
        Ok(d) => d,
        Err(reason) => return Ok(Err(reason)),
    };
    let action = if rule.no_nat {
        OutboundAction::NoNat
    } else {
        let addr = match &rule.target {
            NatTarget::InterfaceAddress => match interface_v4(config, &rule.interface) {
                Some((addr, _)) => addr,
                None => {
                    return Ok(Err(format!(
                        "interface {} has no static IPv4 address to translate to",
                        rule.interface
                    )));
                }
            },
            NatTarget::Address(a) => *a,
            NatTarget::Subnet(c) => c.addr,
            NatTarget::Alias(name) => {
                match resolver.alias_v4(name, &format!("{path}/target"))?.first() {
                    Some(net) => net.network(),
                    None => return Ok(Err(format!("alias {name} has no IPv4 address"))),
                }
            }
        };
        let ports = if rule.static_port {
            PortPolicy::Static
        } else {
            match port_ranges(resolver, rule.nat_port.as_ref(), &format!("{path}/natport"))?.first()
            {
                Some(r) => PortPolicy::Range(*r),
                None => PortPolicy::Range(DEFAULT_PORT_RANGE),
            }
        };
        OutboundAction::Translate { addr, ports }
    };
    Ok(Ok(OutboundRule {
        port,
        proto,
        src,
        src_ports: port_ranges(
            resolver,
            rule.source_port.as_ref(),
            &format!("{path}/sourceport"),
        )?,
        dst,
        dst_ports: port_ranges(
            resolver,
            rule.destination_port.as_ref(),
            &format!("{path}/dstport"),
        )?,
        action,
    }))
}

fn v4_only(spec: AddrSpec) -> Result<NatAddrs, String> {
    match spec {
        AddrSpec::Any => Ok(NatAddrs::Any),
        AddrSpec::Nets {
            v4: Some(nets),
            negate,
            ..
        } => Ok(NatAddrs::Nets { nets, negate }),
        AddrSpec::Nets { v4: None, .. } => Err("no IPv4 address to match".into()),
    }
}

fn port_forward(
    resolver: &Resolver<'_>,
    rule: &CfgPortForward,
) -> Result<Result<PortForward, String>, RulesetError> {
    let path = &rule.path;
    let Some(port) = resolver.port_of(&rule.interface) else {
        return Ok(Err(format!(
            "interface {} has no DPDK port",
            rule.interface
        )));
    };
    let proto = match proto(&rule.protocol) {
        Ok(p) => p,
        Err(reason) => return Ok(Err(reason)),
    };
    let src = match v4_only(resolver.addr(&rule.source, &format!("{path}/source"))?) {
        Ok(s) => s,
        Err(reason) => return Ok(Err(reason)),
    };
    let dst = match v4_only(resolver.addr(&rule.destination, &format!("{path}/destination"))?) {
        Ok(d) => d,
        Err(reason) => return Ok(Err(reason)),
    };
    let target = if rule.no_rdr {
        None
    } else if let Ok(addr) = rule.target.parse::<Ipv4Addr>() {
        Some(addr)
    } else {
        match resolver
            .alias_v4(&rule.target, &format!("{path}/target"))?
            .first()
        {
            Some(net) => Some(net.network()),
            None => return Ok(Err(format!("target {} has no IPv4 address", rule.target))),
        }
    };
    Ok(Ok(PortForward {
        port,
        proto,
        src,
        src_ports: resolver
            .ports(&rule.source, &format!("{path}/source/port"))?
            .unwrap_or_default(),
        dst,
        dst_ports: resolver
            .ports(&rule.destination, &format!("{path}/destination/port"))?
            .unwrap_or_default(),
        target,
        target_port: rule.local_port,
    }))
}

#[cfg(test)]
mod tests;

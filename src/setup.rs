//! From a validated `config.xml` to the dataplane's [`NodeSpec`]: which DPDK device each
//! interface is, its address, the routes. Everything the dataplane cannot honour yet is an
//! error here, never a silent omission.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use rampart_control::config::{
    Config, GatewayAddress, Ipv4Mode, Ipv6Mode, LoadError, Polling as ConfigPolling, RouteNetwork,
};
use rampart_dataplane::dpdk::EalOptions;
use rampart_dataplane::route::Ipv4Net;
use rampart_dataplane::route6::Ipv6Net;
use rampart_dataplane::state::{Timeout, Timeouts};
use rampart_dataplane::wire::ndp::is_link_local;
use rampart_dataplane::{FirewallSpec, NodeSpec, Polling, PortSpec, SyncPortSpec};

use crate::nat::compile_nat;
use crate::ruleset::{RulesetError, compile_filter, port_map};
use thiserror::Error;

/// States a node holds when `<system><maximumstates>` is not set.
pub const DEFAULT_MAX_STATES: usize = 1_000_000;

/// Default IP MTU where `<mtu>` is not set.
pub const DEFAULT_MTU: u16 = 1500;
/// Mbufs in the node's pool: enough for every RX ring plus bursts in flight.
const MBUFS_PER_PORT_QUEUE: u32 = 2048;

/// Why a config cannot drive this node.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The file did not load or validate.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// `<filter>` did not compile.
    #[error(transparent)]
    Filter(#[from] RulesetError),
    /// No `<rampart>` section: nothing says which DPDK devices to use.
    #[error("/pfsense/rampart is missing: add a <rampart> section with a <port> per interface")]
    NoRampartSection,
    /// No `<port>` in `<rampart>`.
    #[error("/pfsense/rampart has no <port>: nothing to forward between")]
    NoPorts,
    /// A `<port>` names an `<if>` no interface has.
    #[error("/pfsense/rampart/port <if>{0}</if> matches no interface in /pfsense/interfaces")]
    UnknownInterface(String),
    /// The interface behind a port is disabled.
    #[error("/pfsense/interfaces/{0} is not enabled but /pfsense/rampart maps a port to it")]
    InterfaceDisabled(String),
    /// DHCP, PPPoE, … on a DPDK port.
    #[error("/pfsense/interfaces/{key}/ipaddr is {mode:?}: DPDK ports need a static IPv4 address")]
    DynamicAddress {
        /// Interface key.
        key: String,
        /// The keyword.
        mode: String,
    },
    /// DHCPv6, SLAAC, track6, … on a DPDK port.
    #[error(
        "/pfsense/interfaces/{key}/ipaddrv6 is {mode:?}: DPDK ports need a static IPv6 address or none"
    )]
    DynamicAddress6 {
        /// Interface key.
        key: String,
        /// The keyword.
        mode: String,
    },
    /// A route or default that needs a gateway the node cannot use.
    #[error("{path}: gateway {name:?} {reason}")]
    Gateway {
        /// Element path of the reference.
        path: String,
        /// Gateway name.
        name: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// pfsync is on but its interface has no DPDK port or no static address.
    #[error("/pfsense/hasync/pfsyncinterface {key}: {reason}")]
    SyncInterface {
        /// Interface key.
        key: String,
        /// What is missing.
        reason: &'static str,
    },
    /// A CARP VIP the node cannot run.
    #[error(transparent)]
    Carp(#[from] crate::carp::CarpSetupError),
    /// A static route to an alias (1-based index, as validation errors count).
    #[error("/pfsense/staticroutes/route[{0}]: routes to aliases are not supported yet")]
    AliasRoute(usize),
}

/// Load and validate `path`.
///
/// # Errors
/// [`SetupError::Load`] listing every problem with its element path.
pub fn load_config(path: &Path) -> Result<Config, SetupError> {
    Ok(Config::load(path)?)
}

/// The dataplane spec for `config`, with DPDK file prefix `file_prefix`.
///
/// # Errors
/// [`SetupError`] for anything in the config this node cannot do.
pub fn node_spec(config: &Config, file_prefix: &str) -> Result<NodeSpec, SetupError> {
    let settings = config
        .rampart
        .as_ref()
        .ok_or(SetupError::NoRampartSection)?;
    if settings.ports.is_empty() {
        return Err(SetupError::NoPorts);
    }
    let mut ports = Vec::new();
    let mut port_keys = Vec::new();
    let sync_key = sync_interface(config);
    let mut sync = None;
    for port in &settings.ports {
        let iface = config
            .interface_by_if(&port.if_name)
            .ok_or_else(|| SetupError::UnknownInterface(port.if_name.clone()))?;
        if !iface.enabled {
            return Err(SetupError::InterfaceDisabled(iface.key.clone()));
        }
        if Some(iface.key.as_str()) == sync_key {
            sync = Some(sync_port(config, iface, port)?);
            continue;
        }
        let addr = match &iface.ipv4 {
            Ipv4Mode::None => None,
            Ipv4Mode::Static(cidr) => Some((cidr.addr, cidr.prefix_len)),
            Ipv4Mode::Dynamic(mode) => {
                return Err(SetupError::DynamicAddress {
                    key: iface.key.clone(),
                    mode: mode.clone(),
                });
            }
        };
        if let Ipv6Mode::Dynamic(mode) = &iface.ipv6 {
            return Err(SetupError::DynamicAddress6 {
                key: iface.key.clone(),
                mode: mode.clone(),
            });
        }
        ports.push(PortSpec {
            name: format!("{} ({})", iface.key, port.if_name),
            devargs: port.devargs.clone(),
            addr,
            addr6: iface.ipv6_cidr().map(|c| (c.addr, c.prefix_len)),
            mtu: iface.mtu.unwrap_or(DEFAULT_MTU),
        });
        port_keys.push(iface.key.clone());
    }

    let gateway = |path: &str, name: &str| -> Result<GatewayAddress, SetupError> {
        let err = |reason| SetupError::Gateway {
            path: path.to_string(),
            name: name.to_string(),
            reason,
        };
        let gw = config.gateway(name).ok_or_else(|| {
            err("is not in /pfsense/gateways (gateway groups are not supported yet)")
        })?;
        if !port_keys.contains(&gw.interface) {
            return Err(err("is on an interface that has no DPDK port"));
        }
        match gw.address {
            GatewayAddress::Dynamic => Err(err("is dynamic; DPDK ports need a static gateway")),
            address => Ok(address),
        }
    };
    let gateway_err = |path: &str, name: &str, reason| SetupError::Gateway {
        path: path.to_string(),
        name: name.to_string(),
        reason,
    };
    let gateway_ip = |path: String, name: &str| -> Result<Ipv4Addr, SetupError> {
        match gateway(&path, name)? {
            GatewayAddress::V4(ip) => Ok(ip),
            _ => Err(gateway_err(&path, name, "is IPv6 but routes IPv4")),
        }
    };
    let gateway_ip6 = |path: String, name: &str| -> Result<Ipv6Addr, SetupError> {
        match gateway(&path, name)? {
            // A link-local next hop is valid on every port: the spec would need its port.
            GatewayAddress::V6(ip) if is_link_local(ip) => Err(gateway_err(
                &path,
                name,
                "is link-local; use the gateway's global address on the port's prefix",
            )),
            GatewayAddress::V6(ip) => Ok(ip),
            _ => Err(gateway_err(&path, name, "is IPv4 but routes IPv6")),
        }
    };

    let mut routes = Vec::new();
    let mut routes6 = Vec::new();
    for (i, route) in config.static_routes.iter().enumerate() {
        if route.disabled {
            continue;
        }
        let path = format!("/pfsense/staticroutes/route[{}]/gateway", i + 1);
        match &route.network {
            RouteNetwork::V4(cidr) => {
                let net =
                    Ipv4Net::new(cidr.addr, cidr.prefix_len).map_err(|_| SetupError::Gateway {
                        path: format!("/pfsense/staticroutes/route[{}]/network", i + 1),
                        name: route.gateway.clone(),
                        reason: "routes a network with an invalid prefix",
                    })?;
                routes.push((net, gateway_ip(path, &route.gateway)?));
            }
            RouteNetwork::V6(cidr) => {
                let net =
                    Ipv6Net::new(cidr.addr, cidr.prefix_len).map_err(|_| SetupError::Gateway {
                        path: format!("/pfsense/staticroutes/route[{}]/network", i + 1),
                        name: route.gateway.clone(),
                        reason: "routes a network with an invalid prefix",
                    })?;
                routes6.push((net, gateway_ip6(path, &route.gateway)?));
            }
            RouteNetwork::Alias(_) => return Err(SetupError::AliasRoute(i + 1)),
        }
    }
    if let Some(name) = config.gateways.default_v4.as_deref().filter(|n| *n != "-") {
        let ip = gateway_ip("/pfsense/gateways/defaultgw4".into(), name)?;
        let default = Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).map_err(|_| SetupError::NoPorts)?;
        routes.push((default, ip));
    }
    if let Some(name) = config.gateways.default_v6.as_deref().filter(|n| *n != "-") {
        let ip = gateway_ip6("/pfsense/gateways/defaultgw6".into(), name)?;
        let default = Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0).map_err(|_| SetupError::NoPorts)?;
        routes6.push((default, ip));
    }

    let ports_by_key = port_map(config);
    let vips = crate::carp::vip_table(&crate::carp::vhids(config, &ports_by_key)?);
    let ruleset = compile_filter(config, &ports_by_key)?;
    let nat = compile_nat(config, &ports_by_key)?;
    for (path, reason) in &nat.skipped {
        tracing::warn!(%path, %reason, "NAT rule skipped");
    }
    let firewall = FirewallSpec {
        ruleset: std::sync::Arc::new(ruleset),
        nat: std::sync::Arc::new(nat.nat),
        states: config
            .system
            .maximum_states
            .map_or(DEFAULT_MAX_STATES, |n| n as usize),
        creatorid: creatorid(config).unwrap_or_else(random_creatorid),
        id_seed: id_seed(),
        timeouts: state_timeouts(config),
        defer: settings.pfsync_defer,
    };

    if let (None, Some(key)) = (&sync, sync_key) {
        return Err(SetupError::SyncInterface {
            key: key.to_string(),
            reason: "has no <rampart><port>: map the sync NIC to a DPDK port",
        });
    }
    let workers = usize::from(settings.workers.max(1));
    let mut eal = EalOptions::new(file_prefix);
    eal.extra = settings.eal_args.clone();
    Ok(NodeSpec {
        eal,
        workers,
        cpus: settings
            .cores
            .as_ref()
            .map(|c| c.iter().map(|&cpu| cpu as usize).collect())
            .unwrap_or_default(),
        polling: match settings.polling {
            ConfigPolling::Adaptive => Polling::Adaptive,
            ConfigPolling::Busy => Polling::Busy,
        },
        mbufs: (MBUFS_PER_PORT_QUEUE * ports.len() as u32 * workers as u32).max(4096) - 1,
        ports,
        routes,
        firewall: Some(firewall),
        routes6,
        sync,
        // A node that serves XMLRPC may be given VIPs by its primary.
        carp: !vips.is_empty() || settings.xmlrpc.as_ref().is_some_and(|x| x.listen.is_some()),
        vips,
    })
}

/// The interface key pfsync runs on, when `<hasync><pfsyncenabled>` is set.
pub fn sync_interface(config: &Config) -> Option<&str> {
    config
        .hasync
        .as_ref()
        .filter(|h| h.pfsync_enabled)
        .and_then(|h| h.pfsync_interface.as_deref())
}

/// The pf hostid: `<hasync><pfhostid>` (pfSense's "Filter Host ID", hex), else
/// `<rampart><creatorid>`.
fn creatorid(config: &Config) -> Option<u32> {
    let from_hasync = config
        .hasync
        .as_ref()
        .and_then(|h| h.pfhostid.as_deref())
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .filter(|id| *id != 0);
    from_hasync.or_else(|| config.rampart.as_ref().and_then(|r| r.creator_id))
}

fn sync_port(
    config: &Config,
    iface: &rampart_control::config::Interface,
    port: &rampart_control::config::PortConfig,
) -> Result<SyncPortSpec, SetupError> {
    let err = |reason| SetupError::SyncInterface {
        key: iface.key.clone(),
        reason,
    };
    let Ipv4Mode::Static(cidr) = &iface.ipv4 else {
        return Err(err("needs a static IPv4 address (pfsync runs over IPv4)"));
    };
    Ok(SyncPortSpec {
        name: format!("{} ({})", iface.key, port.if_name),
        devargs: port.devargs.clone(),
        addr: cidr.addr,
        peer: config.hasync.as_ref().and_then(|h| h.pfsync_peer_ip),
        mtu: iface.mtu.unwrap_or(DEFAULT_MTU),
    })
}

/// pf's default timeouts, with those System > Advanced > Firewall sets.
fn state_timeouts(config: &Config) -> Timeouts {
    let mut timeouts = Timeouts::default();
    for (class, secs) in Timeout::ALL.iter().zip(config.system.state_timeouts) {
        if let Some(secs) = secs {
            timeouts.set(*class, secs);
        }
    }
    timeouts
}

/// A non-zero creator id for a node whose config sets none (pf draws one at random too).
fn random_creatorid() -> u32 {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    (random as u32).max(1)
}

/// State ids start from the wall clock, as pf seeds them, so that a restarted node does not
/// reuse ids its peer still holds.
fn id_seed() -> u64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs());
    secs << 24
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra_interfaces: &str, gateways: &str, routes: &str, rampart: &str) -> Config {
        let xml = format!(
            r#"<?xml version="1.0"?>
<pfsense>
	<version>23.3</version>
	<interfaces>
		<lan><enable></enable><if>lan0</if><ipaddr>10.0.1.1</ipaddr><subnet>24</subnet></lan>
		<wan><enable></enable><if>wan0</if><ipaddr>10.0.2.1</ipaddr><subnet>24</subnet><mtu>9000</mtu></wan>
		{extra_interfaces}
	</interfaces>
	<gateways>{gateways}</gateways>
	<staticroutes>{routes}</staticroutes>
	{rampart}
</pfsense>"#
        );
        Config::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    const PORTS: &str = "<rampart><workers>2</workers><polling>busy</polling>\
        <port><if>lan0</if><devargs>net_ring0</devargs></port>\
        <port><if>wan0</if><devargs>net_ring1</devargs></port></rampart>";
    const WANGW: &str = "<gateway_item><interface>wan</interface><gateway>10.0.2.254</gateway>\
        <name>WANGW</name><ipprotocol>inet</ipprotocol></gateway_item><defaultgw4>WANGW</defaultgw4>";

    #[test]
    fn maps_ports_addresses_and_routes() {
        let route = "<route><network>192.168.7.0/24</network><gateway>WANGW</gateway></route>\
            <route><network>192.168.8.0/24</network><gateway>WANGW</gateway><disabled></disabled></route>";
        let spec = node_spec(&config("", WANGW, route, PORTS), "t").unwrap();
        assert_eq!(spec.workers, 2);
        assert_eq!(spec.polling, Polling::Busy);
        assert_eq!(spec.ports.len(), 2);
        assert_eq!(spec.ports[0].devargs, "net_ring0");
        assert_eq!(spec.ports[0].addr, Some(("10.0.1.1".parse().unwrap(), 24)));
        assert_eq!((spec.ports[0].mtu, spec.ports[1].mtu), (1500, 9000));
        assert_eq!(spec.ports[1].name, "wan (wan0)");
        let gw: Ipv4Addr = "10.0.2.254".parse().unwrap();
        assert_eq!(
            spec.routes,
            vec![
                (
                    Ipv4Net::new("192.168.7.0".parse().unwrap(), 24).unwrap(),
                    gw
                ),
                (Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0).unwrap(), gw),
            ],
            "disabled routes are skipped, the default comes last"
        );
        assert!(spec.eal.to_args().contains(&"--file-prefix=t".to_string()));
    }

    #[test]
    fn maps_ipv6_addresses_and_routes() {
        let lan6 = "<opt1><enable></enable><if>opt0</if><ipaddrv6>2001:db8:3::1</ipaddrv6>\
            <subnetv6>64</subnetv6></opt1>";
        let gw6 = "<gateway_item><interface>opt1</interface><gateway>2001:db8:3::fe</gateway>\
            <name>GW6</name><ipprotocol>inet6</ipprotocol></gateway_item><defaultgw6>GW6</defaultgw6>";
        let route = "<route><network>2001:db8:99::/48</network><gateway>GW6</gateway></route>";
        let ports = "<rampart><port><if>lan0</if><devargs>net_ring0</devargs></port>\
            <port><if>opt0</if><devargs>net_ring1</devargs></port></rampart>";
        let spec = node_spec(&config(lan6, gw6, route, ports), "t").unwrap();
        assert_eq!(spec.ports[0].addr6, None);
        let addr: Ipv6Addr = "2001:db8:3::1".parse().unwrap();
        assert_eq!(spec.ports[1].addr6, Some((addr, 64)));
        assert_eq!(spec.ports[1].addr, None);
        let gw: Ipv6Addr = "2001:db8:3::fe".parse().unwrap();
        let net = |a: &str, len| Ipv6Net::new(a.parse().unwrap(), len).unwrap();
        assert_eq!(
            spec.routes6,
            vec![(net("2001:db8:99::", 48), gw), (net("::", 0), gw)]
        );
        assert!(spec.routes.is_empty());

        let link_local = gw6.replace("2001:db8:3::fe", "fe80::1");
        let err = node_spec(&config(lan6, &link_local, "", ports), "t").unwrap_err();
        assert!(err.to_string().contains("link-local"), "{err}");
        let v4_for_v6 = route.replace("GW6", "WANGW");
        let wangw = format!("{WANGW}{}", gw6.replace("<defaultgw6>GW6</defaultgw6>", ""));
        let err = node_spec(&config(lan6, &wangw, &v4_for_v6, PORTS), "t").unwrap_err();
        assert!(err.to_string().contains("is IPv4 but routes IPv6"), "{err}");
        let slaac = "<opt1><enable></enable><if>opt0</if><ipaddrv6>slaac</ipaddrv6></opt1>";
        let err = node_spec(&config(slaac, "", "", ports), "t").unwrap_err();
        assert!(matches!(err, SetupError::DynamicAddress6 { .. }), "{err}");
    }

    #[test]
    fn state_timeouts_and_table_size_come_from_system_advanced() {
        let mut c = config("", WANGW, "", PORTS);
        let xml = c.to_xml().replace(
            "<version>23.3</version>",
            "<version>23.3</version><system><maximumstates>200000</maximumstates>\
             <tcpestablishedtimeout>3600</tcpestablishedtimeout>\
             <udpfirsttimeout>30</udpfirsttimeout></system>",
        );
        c = Config::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let fw = node_spec(&c, "t").unwrap().firewall.unwrap();
        assert_eq!(fw.states, 200_000);
        assert_eq!(fw.timeouts.secs(Timeout::TcpEstablished), 3600);
        assert_eq!(fw.timeouts.secs(Timeout::UdpFirst), 30);
        assert_eq!(
            fw.timeouts.secs(Timeout::TcpFirst),
            Timeouts::default().secs(Timeout::TcpFirst),
            "unset classes keep pf's defaults"
        );
        let bad = Config::parse(xml.replace("3600", "0").as_bytes());
        assert!(bad.is_err(), "a zero timeout is refused");
    }

    #[test]
    fn the_pfsync_interface_is_the_sync_core_s_port() {
        let sync_if = "<opt1><enable></enable><if>sync0</if><ipaddr>10.9.0.1</ipaddr><subnet>24</subnet></opt1>";
        let hasync = "<hasync><pfsyncenabled>on</pfsyncenabled><pfsyncinterface>opt1</pfsyncinterface>\
            <pfsyncpeerip>10.9.0.2</pfsyncpeerip><pfhostid>ff01</pfhostid></hasync>";
        let rampart = "<rampart><port><if>lan0</if><devargs>net_ring0</devargs></port>\
            <port><if>sync0</if><devargs>net_ring9</devargs></port>\
            <port><if>wan0</if><devargs>net_ring1</devargs></port></rampart>";
        let c = config(sync_if, "", "", &format!("{hasync}{rampart}"));
        let spec = node_spec(&c, "t").unwrap();
        let sync = spec.sync.as_ref().unwrap();
        assert_eq!(sync.devargs, "net_ring9");
        assert_eq!(sync.addr, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(sync.peer, Some(Ipv4Addr::new(10, 9, 0, 2)));
        // Two data ports, in order, and the rules see the same two.
        let devargs: Vec<_> = spec.ports.iter().map(|p| p.devargs.as_str()).collect();
        assert_eq!(devargs, ["net_ring0", "net_ring1"]);
        assert_eq!(
            crate::ruleset::port_map(&c),
            [("lan".to_string(), 0), ("wan".to_string(), 1)]
        );
        assert_eq!(spec.firewall.as_ref().unwrap().creatorid, 0xff01);

        // Without a DPDK port for it, pfsync cannot run: said, not ignored.
        let no_port = config(sync_if, "", "", &format!("{hasync}{PORTS}"));
        assert!(matches!(
            node_spec(&no_port, "t"),
            Err(SetupError::SyncInterface { key, .. }) if key == "opt1"
        ));
        // pfsync off: no sync port, and its NIC would be a data port.
        let off = config(sync_if, "", "", rampart);
        let spec = node_spec(&off, "t").unwrap();
        assert!(spec.sync.is_none());
        assert_eq!(spec.ports.len(), 3);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let no_rampart = config("", "", "", "");
        assert!(matches!(
            node_spec(&no_rampart, "t"),
            Err(SetupError::NoRampartSection)
        ));

        let dynamic = "<gateway_item><interface>wan</interface><gateway>dynamic</gateway>\
            <name>DYN</name><ipprotocol>inet</ipprotocol></gateway_item><defaultgw4>DYN</defaultgw4>";
        let err = node_spec(&config("", dynamic, "", PORTS), "t").unwrap_err();
        assert!(
            err.to_string().contains("defaultgw4") && err.to_string().contains("dynamic"),
            "{err}"
        );

        let dhcp = "<opt1><enable></enable><if>opt0</if><ipaddr>dhcp</ipaddr></opt1>";
        let ports = "<rampart><port><if>opt0</if><devargs>net_ring2</devargs></port></rampart>";
        let err = node_spec(&config(dhcp, "", "", ports), "t").unwrap_err();
        assert!(matches!(err, SetupError::DynamicAddress { .. }), "{err}");

        let off_port = "<gateway_item><interface>opt1</interface><gateway>10.0.3.1</gateway>\
            <name>OPTGW</name><ipprotocol>inet</ipprotocol></gateway_item><defaultgw4>OPTGW</defaultgw4>";
        let opt = "<opt1><enable></enable><if>opt0</if><ipaddr>10.0.3.2</ipaddr><subnet>24</subnet></opt1>";
        let err = node_spec(&config(opt, off_port, "", PORTS), "t").unwrap_err();
        assert!(err.to_string().contains("no DPDK port"), "{err}");
    }
}

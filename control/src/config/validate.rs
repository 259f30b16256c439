//! Reading the typed model out of the tree, and checking the whole file.
//!
//! Extraction is best-effort: a bad value is reported as a [`ConfigError`] and
//! left out of the typed view (or replaced by its default), so that *every*
//! problem in a file is found in one pass.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::document::ConfigDocument;
use super::filter::{self, FilterRule};
use super::model::{
    Alias, FilterRuleSummary, Gateway, GatewayAddress, Gateways, Group, HaSync, Interface,
    IpProtocol, Ipv4Mode, Ipv6Mode, NatSummary, NodeSettings, PfsyncVersion, Polling, PortConfig,
    RouteNetwork, STATE_TIMEOUT_ELEMENTS, StaticRoute, System, User, VipMode, VirtualIp,
    XmlrpcSettings,
};
use super::net::{Ipv4Cidr, Ipv6Cidr, MacAddr, parse_decimal, parse_prefix};
use super::xml::{Element, is_listtag};

/// Top-level sections rampart models; duplicate checks recurse into these.
pub const MODELLED_SECTIONS: &[&str] = &[
    "system",
    "interfaces",
    "gateways",
    "staticroutes",
    "virtualip",
    "hasync",
    "aliases",
    "filter",
    "nat",
    "rampart",
];

/// Extra listtags that apply inside `<rampart>` only.
pub const RAMPART_LISTTAGS: &[&str] = &["port"];

/// What is wrong with one element.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// A non-listtag element occurs twice under one parent.
    #[error("<{element}> cannot occur more than once")]
    Repeated {
        /// The repeated element's name.
        element: String,
    },
    /// A required value is absent or empty.
    #[error("required value is missing or empty")]
    Missing,
    /// Not an IPv4 address.
    #[error("`{0}` is not a valid IPv4 address")]
    InvalidIpv4(String),
    /// Not an IPv6 address.
    #[error("`{0}` is not a valid IPv6 address")]
    InvalidIpv6(String),
    /// Not an IPv4 or IPv6 address.
    #[error("`{0}` is not a valid IP address")]
    InvalidIp(String),
    /// Not a prefix length in range.
    #[error("`{value}` is not a valid prefix length (0–{max})")]
    InvalidPrefix {
        /// The value found.
        value: String,
        /// Largest allowed prefix.
        max: u8,
    },
    /// Not a decimal number within its allowed range.
    #[error("`{value}` is not a number from {min} to {max}")]
    OutOfRange {
        /// The value found.
        value: String,
        /// Smallest allowed.
        min: u32,
        /// Largest allowed.
        max: u32,
    },
    /// Some other malformed value.
    #[error("`{value}` is not valid: expected {expected}")]
    Invalid {
        /// The value found.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// Two enabled interfaces use the same `<if>`.
    #[error("device `{if_name}` is already used by enabled interface `{other}`")]
    DuplicateDevice {
        /// The device name.
        if_name: String,
        /// Key of the interface that uses it first.
        other: String,
    },
    /// Two entries with the same name.
    #[error("duplicate {what} name `{name}`")]
    DuplicateName {
        /// Kind of entry (`gateway`, `alias`, …).
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A gateway name that `<gateways>` does not define.
    #[error("gateway `{0}` is not defined in <gateways>")]
    UnknownGateway(String),
    /// An interface key that `<interfaces>` does not define.
    #[error("interface `{0}` does not exist in <interfaces>")]
    UnknownInterface(String),
    /// `_vip<uniqid>` (or legacy `<if>_vip<vhid>`) not matching any CARP VIP.
    #[error("`{0}` does not refer to an existing CARP VIP")]
    UnknownVip(String),
    /// A static route network that is neither a CIDR nor an alias.
    #[error("`{0}` is neither a network in CIDR form nor a defined alias")]
    InvalidRouteNetwork(String),
    /// A CARP vhid used twice on one interface.
    #[error("vhid {vhid} is already used on interface `{interface}`")]
    DuplicateVhid {
        /// The vhid.
        vhid: u8,
        /// The interface key.
        interface: String,
    },
    /// A gateway address of the wrong family for its `<ipprotocol>`.
    #[error("address `{value}` does not match <ipprotocol> `{protocol}`")]
    FamilyMismatch {
        /// The address.
        value: String,
        /// The declared protocol.
        protocol: String,
    },
    /// A `<rampart><port><if>` naming no interface's `<if>`.
    #[error("`{0}` is not the <if> of any interface in <interfaces>")]
    UnknownDevice(String),
    /// Two `<rampart><port>` entries for one device.
    #[error("device `{0}` is mapped by more than one <port>")]
    DuplicatePort(String),
    /// An element `<rampart>` does not know.
    #[error("unknown element <{0}>")]
    UnknownElement(String),
    /// A gateway address outside its interface's subnet (without the
    /// `<nonlocalgateway>` flag).
    #[error("gateway address {address} is outside {subnet} of interface `{interface}`")]
    GatewayOutsideSubnet {
        /// The gateway address.
        address: Ipv4Addr,
        /// The interface key.
        interface: String,
        /// The interface's address/prefix.
        subnet: Ipv4Cidr,
    },
    /// A CARP VIP whose address lies in no subnet of its interface.
    #[error("CARP address {address} is outside {subnet} of interface `{interface}`")]
    VipOutsideSubnet {
        /// The VIP address.
        address: Ipv4Addr,
        /// The interface key.
        interface: String,
        /// The interface's address/prefix.
        subnet: Ipv4Cidr,
    },
    /// An alias name that `<aliases>` does not define.
    #[error("alias `{0}` is not defined in <aliases>")]
    UnknownAlias(String),
}

/// One validation problem: where (an element path such as
/// `/pfsense/interfaces/lan/subnet`; repeated elements carry a 1-based index,
/// `/pfsense/gateways/gateway_item[2]/name`) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct ConfigError {
    /// Element path.
    pub path: String,
    /// The problem.
    pub kind: ConfigErrorKind,
}

/// Every problem found in a config (never empty when returned as an error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    /// The problems, in document order per section.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the configuration", self.errors.len())?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// The typed sections, as read by [`analyze`].
pub(crate) struct Sections {
    pub system: System,
    pub interfaces: Vec<Interface>,
    pub gateways: Gateways,
    pub static_routes: Vec<StaticRoute>,
    pub virtual_ips: Vec<VirtualIp>,
    pub hasync: Option<HaSync>,
    pub aliases: Vec<Alias>,
    pub filter_rules: Vec<FilterRuleSummary>,
    pub filter: Vec<FilterRule>,
    pub nat: NatSummary,
    pub nat_rules: super::nat::NatConfig,
    pub rampart: Option<NodeSettings>,
}

struct Ctx {
    root: String,
    errors: Vec<ConfigError>,
}

impl Ctx {
    fn err(&mut self, path: String, kind: ConfigErrorKind) {
        self.errors.push(ConfigError { path, kind });
    }

    fn section_path(&self, name: &str) -> String {
        format!("/{}/{name}", self.root)
    }

    /// Optional decimal number child in `min..=max`.
    fn number<T: TryFrom<u32>>(
        &mut self,
        el: &Element,
        name: &str,
        path: &str,
        min: u32,
        max: u32,
    ) -> Option<T> {
        let value = text(el, name);
        if value.is_empty() {
            return None;
        }
        match parse_decimal::<u32>(value).filter(|v| (min..=max).contains(v)) {
            Some(v) => T::try_from(v).ok(),
            None => {
                self.err(
                    format!("{path}/{name}"),
                    ConfigErrorKind::OutOfRange {
                        value: value.to_owned(),
                        min,
                        max,
                    },
                );
                None
            }
        }
    }
}

/// Child text with surrounding spaces removed (for values parsed into types).
pub(super) fn text<'a>(el: &'a Element, name: &str) -> &'a str {
    el.child_text(name).unwrap_or("").trim()
}

/// Non-empty trimmed child text.
pub(super) fn opt_text(el: &Element, name: &str) -> Option<String> {
    Some(text(el, name))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Raw child text (descriptions keep their spaces).
pub(super) fn raw_text(el: &Element, name: &str) -> String {
    el.child_text(name).unwrap_or("").to_owned()
}

/// Non-empty children called `name`, with their 1-based index among all
/// same-named siblings (empty listtag entries are dropped, as pfSense does).
pub(super) fn items<'a>(
    el: &'a Element,
    name: &'a str,
) -> impl Iterator<Item = (usize, &'a Element)> + 'a {
    el.children_named(name)
        .enumerate()
        .filter(|(_, e)| !e.is_empty())
        .map(|(i, e)| (i + 1, e))
}

/// A keyword such as `dhcp`, `pppoe`, `track6`, `6rd`.
fn is_keyword(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Builds the typed sections of `doc` and checks them; returns every problem.
pub(crate) fn analyze(doc: &ConfigDocument) -> (Sections, Vec<ConfigError>) {
    let root = doc.root();
    let mut ctx = Ctx {
        root: root.name().to_owned(),
        errors: Vec::new(),
    };
    check_repeats_root(&mut ctx, root);

    let system = system(&mut ctx, root);
    let interfaces = interfaces(&mut ctx, root);
    let aliases = aliases(&mut ctx, root);
    let gateways = gateways(&mut ctx, root, &interfaces);
    let known_gw = KnownGateways::new(root, &gateways, &interfaces);
    check_interface_gateways(&mut ctx, &interfaces, &known_gw);
    check_default_gateways(&mut ctx, root, &known_gw);
    let static_routes = static_routes(&mut ctx, root, &aliases, &known_gw);
    let virtual_ips = virtual_ips(&mut ctx, root, &interfaces);
    let hasync = hasync(&mut ctx, root, &interfaces);
    let filter_rules = filter_rules(root);
    let refs = filter::Refs {
        interfaces: root.child("interfaces").map(|_| interfaces.as_slice()),
        aliases: &aliases,
    };
    let filter = filter::analyze(root, &refs, &mut ctx.errors);
    let nat = nat(root);
    let nat_rules = super::nat::analyze(root, &refs, &mut ctx.errors);
    let rampart = rampart(&mut ctx, root, &interfaces);

    let sections = Sections {
        system,
        interfaces,
        gateways,
        static_routes,
        virtual_ips,
        hasync,
        aliases,
        filter_rules,
        filter,
        nat,
        nat_rules,
        rampart,
    };
    (sections, ctx.errors)
}

// ---------------------------------------------------------------- repeats

fn check_repeats_root(ctx: &mut Ctx, root: &Element) {
    let path = format!("/{}", ctx.root);
    report_repeats(ctx, root, &path, &[]);
    for name in MODELLED_SECTIONS {
        for section in root.children_named(name) {
            let extra: &[&str] = if *name == "rampart" {
                RAMPART_LISTTAGS
            } else {
                &[]
            };
            check_repeats(ctx, section, &format!("{path}/{name}"), extra);
        }
    }
}

fn report_repeats(ctx: &mut Ctx, el: &Element, path: &str, extra: &[&str]) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in el.children() {
        *counts.entry(c.name()).or_default() += 1;
    }
    // Report in document order of first occurrence.
    let mut reported = BTreeSet::new();
    for c in el.children() {
        let name = c.name();
        if counts.get(name).copied().unwrap_or(0) > 1
            && !is_listtag(name)
            && !extra.contains(&name)
            && reported.insert(name)
        {
            ctx.err(
                format!("{path}/{name}"),
                ConfigErrorKind::Repeated {
                    element: name.to_owned(),
                },
            );
        }
    }
}

fn check_repeats(ctx: &mut Ctx, el: &Element, path: &str, extra: &[&str]) {
    report_repeats(ctx, el, path, extra);
    let mut index: HashMap<&str, usize> = HashMap::new();
    for c in el.children() {
        let i = index.entry(c.name()).or_default();
        *i += 1;
        let child_path = if is_listtag(c.name()) || extra.contains(&c.name()) || *i > 1 {
            format!("{path}/{}[{i}]", c.name())
        } else {
            format!("{path}/{}", c.name())
        };
        if !c.children().is_empty() {
            check_repeats(ctx, c, &child_path, extra);
        }
    }
}

// ---------------------------------------------------------------- system

/// Longest state timeout accepted: a year (pf takes any number; more is a typo).
const MAX_STATE_TIMEOUT: u32 = 365 * 24 * 3600;

/// Most states `<maximumstates>` may ask for: what a state table can index.
const MAX_STATES: u32 = (1 << 31) - 2;

fn system(ctx: &mut Ctx, root: &Element) -> System {
    let Some(sys) = root.child("system") else {
        return System::default();
    };
    let path = ctx.section_path("system");
    let maximum_states = ctx.number::<u32>(sys, "maximumstates", &path, 1, MAX_STATES);
    let mut state_timeouts = [None; STATE_TIMEOUT_ELEMENTS.len()];
    for (slot, name) in state_timeouts.iter_mut().zip(STATE_TIMEOUT_ELEMENTS) {
        *slot = ctx.number::<u32>(sys, name, &path, 1, MAX_STATE_TIMEOUT);
    }
    let mut out = System {
        hostname: text(sys, "hostname").to_owned(),
        domain: text(sys, "domain").to_owned(),
        maximum_states,
        state_timeouts,
        ..System::default()
    };
    let mut names = BTreeSet::new();
    for (i, u) in items(sys, "user") {
        let up = format!("{path}/user[{i}]");
        let name = text(u, "name").to_owned();
        if name.is_empty() {
            ctx.err(format!("{up}/name"), ConfigErrorKind::Missing);
        } else if !names.insert(name.clone()) {
            ctx.err(
                format!("{up}/name"),
                ConfigErrorKind::DuplicateName {
                    what: "user",
                    name: name.clone(),
                },
            );
        }
        let uid = ctx.number::<u32>(u, "uid", &up, 0, u32::MAX);
        out.users.push(User {
            name,
            uid,
            scope: opt_text(u, "scope"),
            groupname: opt_text(u, "groupname"),
            bcrypt_hash: opt_text(u, "bcrypt-hash"),
            sha512_hash: opt_text(u, "sha512-hash"),
            privs: u
                .children_named("priv")
                .map(|p| p.text().trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            disabled: u.has_child("disabled"),
            descr: raw_text(u, "descr"),
        });
    }
    let mut names = BTreeSet::new();
    for (i, g) in items(sys, "group") {
        let gp = format!("{path}/group[{i}]");
        let name = text(g, "name").to_owned();
        if name.is_empty() {
            ctx.err(format!("{gp}/name"), ConfigErrorKind::Missing);
        } else if !names.insert(name.clone()) {
            ctx.err(
                format!("{gp}/name"),
                ConfigErrorKind::DuplicateName {
                    what: "group",
                    name: name.clone(),
                },
            );
        }
        let gid = ctx.number::<u32>(g, "gid", &gp, 0, u32::MAX);
        let mut members = Vec::new();
        for (j, m) in g.children_named("member").enumerate() {
            let v = m.text().trim();
            if v.is_empty() {
                continue;
            }
            match parse_decimal::<u32>(v) {
                Some(uid) => members.push(uid),
                None => ctx.err(
                    format!("{gp}/member[{}]", j + 1),
                    ConfigErrorKind::Invalid {
                        value: v.to_owned(),
                        expected: "a numeric uid",
                    },
                ),
            }
        }
        out.groups.push(Group {
            name,
            gid,
            scope: opt_text(g, "scope"),
            description: raw_text(g, "description"),
            members,
            privs: g
                .children_named("priv")
                .map(|p| p.text().trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        });
    }
    out
}

// ---------------------------------------------------------------- interfaces

fn interfaces(ctx: &mut Ctx, root: &Element) -> Vec<Interface> {
    let Some(section) = root.child("interfaces") else {
        return Vec::new();
    };
    let base = ctx.section_path("interfaces");
    let mut out: Vec<Interface> = Vec::new();
    for el in section.children() {
        let key = el.name().to_owned();
        if out.iter().any(|i| i.key == key) {
            continue; // reported as a repeat
        }
        let path = format!("{base}/{key}");
        let iface = Interface {
            enabled: el.has_child("enable"),
            if_name: text(el, "if").to_owned(),
            descr: raw_text(el, "descr"),
            ipv4: ipv4_mode(ctx, el, &path),
            ipv6: ipv6_mode(ctx, el, &path),
            gateway: opt_text(el, "gateway"),
            gateway_v6: opt_text(el, "gatewayv6"),
            mtu: ctx.number::<u16>(el, "mtu", &path, 1, u32::from(u16::MAX)),
            spoofmac: opt_text(el, "spoofmac").and_then(|m| match m.parse::<MacAddr>() {
                Ok(mac) => Some(mac),
                Err(_) => {
                    ctx.err(
                        format!("{path}/spoofmac"),
                        ConfigErrorKind::Invalid {
                            value: m,
                            expected: "a MAC address such as 00:11:22:33:44:55",
                        },
                    );
                    None
                }
            }),
            key,
        };
        out.push(iface);
    }
    // <if> must be unique among enabled interfaces.
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut dups = Vec::new();
    for i in out.iter().filter(|i| i.enabled && !i.if_name.is_empty()) {
        if let Some(other) = seen.get(i.if_name.as_str()) {
            dups.push((
                format!("{base}/{}/if", i.key),
                ConfigErrorKind::DuplicateDevice {
                    if_name: i.if_name.clone(),
                    other: (*other).to_owned(),
                },
            ));
        } else {
            seen.insert(&i.if_name, &i.key);
        }
    }
    for (path, kind) in dups {
        ctx.err(path, kind);
    }
    out
}

fn ipv4_mode(ctx: &mut Ctx, el: &Element, path: &str) -> Ipv4Mode {
    let value = text(el, "ipaddr");
    if value.is_empty() {
        return Ipv4Mode::None;
    }
    if let Ok(addr) = value.parse::<Ipv4Addr>() {
        let subnet = text(el, "subnet");
        if subnet.is_empty() {
            ctx.err(format!("{path}/subnet"), ConfigErrorKind::Missing);
            return Ipv4Mode::None;
        }
        return match parse_prefix(subnet, 32) {
            Some(prefix_len) => Ipv4Mode::Static(Ipv4Cidr { addr, prefix_len }),
            None => {
                ctx.err(
                    format!("{path}/subnet"),
                    ConfigErrorKind::InvalidPrefix {
                        value: subnet.to_owned(),
                        max: 32,
                    },
                );
                Ipv4Mode::None
            }
        };
    }
    if is_keyword(value) {
        Ipv4Mode::Dynamic(value.to_owned())
    } else {
        ctx.err(
            format!("{path}/ipaddr"),
            ConfigErrorKind::InvalidIpv4(value.to_owned()),
        );
        Ipv4Mode::None
    }
}

fn ipv6_mode(ctx: &mut Ctx, el: &Element, path: &str) -> Ipv6Mode {
    let value = text(el, "ipaddrv6");
    if value.is_empty() {
        return Ipv6Mode::None;
    }
    if let Ok(addr) = value.parse::<Ipv6Addr>() {
        let subnet = text(el, "subnetv6");
        if subnet.is_empty() {
            ctx.err(format!("{path}/subnetv6"), ConfigErrorKind::Missing);
            return Ipv6Mode::None;
        }
        return match parse_prefix(subnet, 128) {
            Some(prefix_len) => Ipv6Mode::Static(Ipv6Cidr { addr, prefix_len }),
            None => {
                ctx.err(
                    format!("{path}/subnetv6"),
                    ConfigErrorKind::InvalidPrefix {
                        value: subnet.to_owned(),
                        max: 128,
                    },
                );
                Ipv6Mode::None
            }
        };
    }
    if is_keyword(value) {
        Ipv6Mode::Dynamic(value.to_owned())
    } else {
        ctx.err(
            format!("{path}/ipaddrv6"),
            ConfigErrorKind::InvalidIpv6(value.to_owned()),
        );
        Ipv6Mode::None
    }
}

// ---------------------------------------------------------------- aliases

fn aliases(ctx: &mut Ctx, root: &Element) -> Vec<Alias> {
    let Some(section) = root.child("aliases") else {
        return Vec::new();
    };
    let base = ctx.section_path("aliases");
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for (i, a) in items(section, "alias") {
        let name = text(a, "name").to_owned();
        let path = format!("{base}/alias[{i}]/name");
        if name.is_empty() {
            ctx.err(path, ConfigErrorKind::Missing);
        } else if !names.insert(name.clone()) {
            ctx.err(
                path,
                ConfigErrorKind::DuplicateName {
                    what: "alias",
                    name: name.clone(),
                },
            );
        }
        out.push(Alias {
            name,
            alias_type: text(a, "type").to_owned(),
            addresses: text(a, "address")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            descr: raw_text(a, "descr"),
            detail: raw_text(a, "detail"),
        });
    }
    out
}

// ---------------------------------------------------------------- gateways

fn gateways(ctx: &mut Ctx, root: &Element, interfaces: &[Interface]) -> Gateways {
    let Some(section) = root.child("gateways") else {
        return Gateways::default();
    };
    let base = ctx.section_path("gateways");
    let mut out = Gateways::default();
    let mut names = BTreeSet::new();
    for (i, g) in items(section, "gateway_item") {
        let path = format!("{base}/gateway_item[{i}]");
        let name = text(g, "name").to_owned();
        if name.is_empty() {
            ctx.err(format!("{path}/name"), ConfigErrorKind::Missing);
        } else if !names.insert(name.clone()) {
            ctx.err(
                format!("{path}/name"),
                ConfigErrorKind::DuplicateName {
                    what: "gateway",
                    name: name.clone(),
                },
            );
        }
        let interface = text(g, "interface").to_owned();
        if interface.is_empty() {
            ctx.err(format!("{path}/interface"), ConfigErrorKind::Missing);
        } else if !interfaces.iter().any(|i| i.key == interface) {
            ctx.err(
                format!("{path}/interface"),
                ConfigErrorKind::UnknownInterface(interface.clone()),
            );
        }
        let declared = match text(g, "ipprotocol") {
            "" => None,
            "inet" => Some(IpProtocol::Inet),
            "inet6" => Some(IpProtocol::Inet6),
            other => {
                ctx.err(
                    format!("{path}/ipprotocol"),
                    ConfigErrorKind::Invalid {
                        value: other.to_owned(),
                        expected: "inet or inet6",
                    },
                );
                None
            }
        };
        let value = text(g, "gateway");
        let address = if value.is_empty() {
            ctx.err(format!("{path}/gateway"), ConfigErrorKind::Missing);
            None
        } else if value == "dynamic" {
            Some(GatewayAddress::Dynamic)
        } else {
            match value.parse::<IpAddr>() {
                Ok(IpAddr::V4(a)) => Some(GatewayAddress::V4(a)),
                Ok(IpAddr::V6(a)) => Some(GatewayAddress::V6(a)),
                Err(_) => {
                    ctx.err(
                        format!("{path}/gateway"),
                        ConfigErrorKind::InvalidIp(value.to_owned()),
                    );
                    None
                }
            }
        };
        let inferred = match address {
            Some(GatewayAddress::V6(_)) => IpProtocol::Inet6,
            _ => IpProtocol::Inet,
        };
        let ip_protocol = declared.unwrap_or(inferred);
        if declared.is_some_and(|d| d != inferred)
            && !matches!(address, Some(GatewayAddress::Dynamic) | None)
        {
            ctx.err(
                format!("{path}/gateway"),
                ConfigErrorKind::FamilyMismatch {
                    value: value.to_owned(),
                    protocol: text(g, "ipprotocol").to_owned(),
                },
            );
        }
        if let (Some(GatewayAddress::V4(address)), Some(cidr)) = (
            address,
            interfaces
                .iter()
                .find(|i| i.key == interface)
                .and_then(Interface::ipv4_cidr),
        ) && !cidr.contains(address)
            && !g.has_child("nonlocalgateway")
        {
            ctx.err(
                format!("{path}/gateway"),
                ConfigErrorKind::GatewayOutsideSubnet {
                    address,
                    interface: interface.clone(),
                    subnet: cidr,
                },
            );
        }
        let weight = ctx.number::<u8>(g, "weight", &path, 1, 30);
        let Some(address) = address else { continue };
        if name.is_empty() {
            continue;
        }
        out.items.push(Gateway {
            name,
            interface,
            address,
            ip_protocol,
            weight,
            disabled: g.has_child("disabled"),
            force_down: g.has_child("force_down"),
            legacy_default: g.has_child("defaultgw"),
            descr: raw_text(g, "descr"),
        });
    }
    out.groups = items(section, "gateway_group")
        .filter_map(|(_, g)| opt_text(g, "name"))
        .collect();
    let legacy = |proto: IpProtocol| {
        out.items
            .iter()
            .find(|g| g.legacy_default && g.ip_protocol == proto)
            .map(|g| g.name.clone())
    };
    let default_v4 = opt_text(section, "defaultgw4").or_else(|| legacy(IpProtocol::Inet));
    let default_v6 = opt_text(section, "defaultgw6").or_else(|| legacy(IpProtocol::Inet6));
    out.default_v4 = default_v4;
    out.default_v6 = default_v6;
    out
}

/// Gateway names that references may use: configured items (even ones with a
/// bad value, already reported, so errors do not cascade), groups, and the
/// dynamic gateways pfSense creates implicitly for DHCP/PPP/VPN interfaces
/// (`WAN_DHCP`, `WAN_DHCP6`, `MULLVAD_VPNV4`, …; compared case-insensitively).
struct KnownGateways {
    items: BTreeSet<String>,
    groups: BTreeSet<String>,
    implicit: BTreeSet<String>,
}

impl KnownGateways {
    fn new(root: &Element, gateways: &Gateways, interfaces: &[Interface]) -> Self {
        let mut implicit = BTreeSet::new();
        for i in interfaces {
            let base = i.display_name().to_ascii_uppercase();
            if let Ipv4Mode::Dynamic(kw) = &i.ipv4 {
                implicit.insert(format!("{base}_{}", kw.to_ascii_uppercase()));
            }
            if let Ipv6Mode::Dynamic(kw) = &i.ipv6 {
                implicit.insert(format!("{base}_{}", kw.to_ascii_uppercase()));
            }
            if i.if_name.starts_with("ovpn") {
                implicit.insert(format!("{base}_VPNV4"));
                implicit.insert(format!("{base}_VPNV6"));
            }
            if i.if_name.starts_with("gif") || i.if_name.starts_with("gre") {
                implicit.insert(format!("{base}_TUNNELV4"));
                implicit.insert(format!("{base}_TUNNELV6"));
            }
        }
        let declared = root
            .child("gateways")
            .into_iter()
            .flat_map(|s| items(s, "gateway_item"))
            .filter_map(|(_, g)| opt_text(g, "name"));
        Self {
            items: declared.collect(),
            groups: gateways.groups.iter().cloned().collect(),
            implicit,
        }
    }

    /// A single gateway (not a group).
    fn is_gateway(&self, name: &str) -> bool {
        self.items.contains(name) || self.implicit.contains(&name.to_ascii_uppercase())
    }
}

fn check_interface_gateways(ctx: &mut Ctx, interfaces: &[Interface], known: &KnownGateways) {
    let base = ctx.section_path("interfaces");
    for i in interfaces {
        for (field, value) in [("gateway", &i.gateway), ("gatewayv6", &i.gateway_v6)] {
            if let Some(name) = value
                && !known.is_gateway(name)
            {
                ctx.err(
                    format!("{base}/{}/{field}", i.key),
                    ConfigErrorKind::UnknownGateway(name.clone()),
                );
            }
        }
    }
}

fn check_default_gateways(ctx: &mut Ctx, root: &Element, known: &KnownGateways) {
    let Some(section) = root.child("gateways") else {
        return;
    };
    let base = ctx.section_path("gateways");
    for field in ["defaultgw4", "defaultgw6"] {
        if let Some(name) = opt_text(section, field)
            && name != "-"
            && !known.is_gateway(&name)
            && !known.groups.contains(&name)
        {
            ctx.err(
                format!("{base}/{field}"),
                ConfigErrorKind::UnknownGateway(name),
            );
        }
    }
}

// ---------------------------------------------------------------- routes

fn static_routes(
    ctx: &mut Ctx,
    root: &Element,
    aliases: &[Alias],
    known: &KnownGateways,
) -> Vec<StaticRoute> {
    let Some(section) = root.child("staticroutes") else {
        return Vec::new();
    };
    let base = ctx.section_path("staticroutes");
    let mut out = Vec::new();
    for (i, r) in items(section, "route") {
        let path = format!("{base}/route[{i}]");
        let value = text(r, "network");
        let network = if value.is_empty() {
            ctx.err(format!("{path}/network"), ConfigErrorKind::Missing);
            None
        } else if let Ok(c) = value.parse::<Ipv4Cidr>() {
            Some(RouteNetwork::V4(c))
        } else if let Ok(c) = value.parse::<Ipv6Cidr>() {
            Some(RouteNetwork::V6(c))
        } else if aliases.iter().any(|a| a.name == value) {
            Some(RouteNetwork::Alias(value.to_owned()))
        } else {
            ctx.err(
                format!("{path}/network"),
                ConfigErrorKind::InvalidRouteNetwork(value.to_owned()),
            );
            None
        };
        let gateway = text(r, "gateway").to_owned();
        if gateway.is_empty() {
            ctx.err(format!("{path}/gateway"), ConfigErrorKind::Missing);
        } else if !known.is_gateway(&gateway) {
            ctx.err(
                format!("{path}/gateway"),
                ConfigErrorKind::UnknownGateway(gateway.clone()),
            );
        }
        if let Some(network) = network {
            out.push(StaticRoute {
                network,
                gateway,
                disabled: r.has_child("disabled"),
                descr: raw_text(r, "descr"),
            });
        }
    }
    out
}

// ---------------------------------------------------------------- VIPs

fn virtual_ips(ctx: &mut Ctx, root: &Element, interfaces: &[Interface]) -> Vec<VirtualIp> {
    let Some(section) = root.child("virtualip") else {
        return Vec::new();
    };
    let base = ctx.section_path("virtualip");
    // (path, vip) so cross-checks can point at the element.
    let mut out: Vec<(String, VirtualIp)> = Vec::new();
    for (i, v) in items(section, "vip") {
        let path = format!("{base}/vip[{i}]");
        let mode = match text(v, "mode") {
            "carp" => VipMode::Carp,
            "ipalias" => VipMode::IpAlias,
            "proxyarp" => VipMode::ProxyArp,
            "other" => VipMode::Other,
            other => {
                ctx.err(
                    format!("{path}/mode"),
                    if other.is_empty() {
                        ConfigErrorKind::Missing
                    } else {
                        ConfigErrorKind::Invalid {
                            value: other.to_owned(),
                            expected: "carp, ipalias, proxyarp or other",
                        }
                    },
                );
                continue;
            }
        };
        let interface = text(v, "interface").to_owned();
        if interface.is_empty() {
            ctx.err(format!("{path}/interface"), ConfigErrorKind::Missing);
        }
        let vhid = ctx.number::<u8>(v, "vhid", &path, 1, 255);
        let advskew = ctx.number::<u8>(v, "advskew", &path, 0, 254);
        let advbase = ctx.number::<u8>(v, "advbase", &path, 1, 255);
        if mode == VipMode::Carp && text(v, "vhid").is_empty() {
            ctx.err(format!("{path}/vhid"), ConfigErrorKind::Missing);
        }
        let subnet = text(v, "subnet");
        let address = if subnet.is_empty() {
            if matches!(mode, VipMode::Carp | VipMode::IpAlias) {
                ctx.err(format!("{path}/subnet"), ConfigErrorKind::Missing);
            }
            None
        } else {
            match subnet.parse::<IpAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    ctx.err(
                        format!("{path}/subnet"),
                        ConfigErrorKind::InvalidIp(subnet.to_owned()),
                    );
                    None
                }
            }
        };
        let max_bits = if matches!(address, Some(IpAddr::V6(_))) {
            128
        } else {
            32
        };
        let subnet_bits = ctx.number::<u8>(v, "subnet_bits", &path, 0, max_bits);
        // Unicast CARP (OPNsense's `<peer>`; FreeBSD 14's `carppeer`).
        let peer = match text(v, "peer") {
            "" => None,
            p => match p.parse::<Ipv4Addr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    ctx.err(
                        format!("{path}/peer"),
                        ConfigErrorKind::InvalidIp(p.to_owned()),
                    );
                    None
                }
            },
        };
        out.push((
            path,
            VirtualIp {
                mode,
                interface,
                vhid,
                advskew,
                advbase,
                password: raw_text(v, "password"),
                uniqid: text(v, "uniqid").to_owned(),
                address,
                subnet_bits,
                vip_type: text(v, "type").to_owned(),
                descr: raw_text(v, "descr"),
                peer,
            },
        ));
    }

    let carp = |pred: &dyn Fn(&VirtualIp) -> bool| {
        out.iter().any(|(_, v)| v.mode == VipMode::Carp && pred(v))
    };
    let mut errors = Vec::new();
    for (path, v) in &out {
        let iface = v.interface.as_str();
        if iface.is_empty() || iface == "lo0" || interfaces.iter().any(|i| i.key == iface) {
            continue;
        }
        let ok = if let Some(uniqid) = iface.strip_prefix("_vip") {
            !uniqid.is_empty() && carp(&|c| c.uniqid == uniqid)
        } else if let Some((key, vhid)) = iface.split_once("_vip") {
            let vhid = parse_decimal::<u8>(vhid);
            interfaces.iter().any(|i| i.key == key)
                && carp(&|c| c.interface == key && vhid.is_some() && c.vhid == vhid)
        } else {
            errors.push((
                format!("{path}/interface"),
                ConfigErrorKind::UnknownInterface(iface.to_owned()),
            ));
            continue;
        };
        if !ok {
            errors.push((
                format!("{path}/interface"),
                ConfigErrorKind::UnknownVip(iface.to_owned()),
            ));
        }
    }
    // A CARP address must lie in the interface subnet or in the subnet of an
    // IP alias on that interface (pfSense's GUI rule).
    for (path, v) in &out {
        let (VipMode::Carp, Some(IpAddr::V4(address))) = (v.mode, v.address) else {
            continue;
        };
        let Some(subnet) = interfaces
            .iter()
            .find(|i| i.key == v.interface)
            .and_then(Interface::ipv4_cidr)
        else {
            continue;
        };
        let in_alias = out.iter().any(|(_, a)| {
            a.mode == VipMode::IpAlias
                && a.interface == v.interface
                && matches!((a.address, a.subnet_bits), (Some(IpAddr::V4(ip)), Some(bits))
                    if Ipv4Cidr { addr: ip, prefix_len: bits.min(32) }.contains(address))
        });
        if !subnet.contains(address) && !in_alias {
            errors.push((
                format!("{path}/subnet"),
                ConfigErrorKind::VipOutsideSubnet {
                    address,
                    interface: v.interface.clone(),
                    subnet,
                },
            ));
        }
    }
    let mut seen: BTreeSet<(&str, u8)> = BTreeSet::new();
    for (path, v) in &out {
        if v.mode != VipMode::Carp {
            continue;
        }
        if let Some(vhid) = v.vhid
            && !seen.insert((v.interface.as_str(), vhid))
        {
            errors.push((
                format!("{path}/vhid"),
                ConfigErrorKind::DuplicateVhid {
                    vhid,
                    interface: v.interface.clone(),
                },
            ));
        }
    }
    for (path, kind) in errors {
        ctx.err(path, kind);
    }
    out.into_iter().map(|(_, v)| v).collect()
}

// ---------------------------------------------------------------- hasync

fn hasync(ctx: &mut Ctx, root: &Element, interfaces: &[Interface]) -> Option<HaSync> {
    let section = root.child("hasync")?;
    let path = ctx.section_path("hasync");
    let pfsync_interface = opt_text(section, "pfsyncinterface");
    if let Some(key) = &pfsync_interface
        && !interfaces.iter().any(|i| &i.key == key)
    {
        ctx.err(
            format!("{path}/pfsyncinterface"),
            ConfigErrorKind::UnknownInterface(key.clone()),
        );
    }
    let pfsync_peer_ip = opt_text(section, "pfsyncpeerip").and_then(|v| match v.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            ctx.err(
                format!("{path}/pfsyncpeerip"),
                ConfigErrorKind::InvalidIpv4(v),
            );
            None
        }
    });
    let pfhostid = opt_text(section, "pfhostid");
    if let Some(id) = &pfhostid
        && (id.len() > 8 || !is_hex(id))
    {
        ctx.err(
            format!("{path}/pfhostid"),
            ConfigErrorKind::Invalid {
                value: id.clone(),
                expected: "up to 8 hex digits",
            },
        );
    }
    let synchronize = section
        .children()
        .iter()
        .map(Element::name)
        .filter(|n| n.starts_with("synchronize") && *n != "synchronizetoip")
        .map(str::to_owned)
        .collect();
    Some(HaSync {
        pfsync_enabled: section.has_child("pfsyncenabled"),
        pfsync_interface,
        pfsync_peer_ip,
        pfhostid,
        synchronize_to_ip: opt_text(section, "synchronizetoip"),
        username: opt_text(section, "username"),
        password: Some(raw_text(section, "password")).filter(|p| !p.is_empty()),
        adminsync: section.has_child("adminsync"),
        synchronize,
    })
}

// ---------------------------------------------------------------- filter / nat

fn filter_rules(root: &Element) -> Vec<FilterRuleSummary> {
    let Some(section) = root.child("filter") else {
        return Vec::new();
    };
    items(section, "rule")
        .enumerate()
        .map(|(index, (_, r))| FilterRuleSummary {
            index,
            tracker: text(r, "tracker").to_owned(),
            action: text(r, "type").to_owned(),
            interface: text(r, "interface").to_owned(),
            ip_protocol: text(r, "ipprotocol").to_owned(),
            protocol: text(r, "protocol").to_owned(),
            floating: r.has_child("floating"),
            disabled: r.has_child("disabled"),
            descr: raw_text(r, "descr"),
        })
        .collect()
}

fn nat(root: &Element) -> NatSummary {
    let Some(section) = root.child("nat") else {
        return NatSummary::default();
    };
    let outbound = section.child("outbound");
    NatSummary {
        outbound_mode: outbound.and_then(|o| opt_text(o, "mode")),
        outbound_rules: outbound.map_or(0, |o| items(o, "rule").count()),
        port_forwards: items(section, "rule").count(),
        one_to_one: items(section, "onetoone").count(),
    }
}

// ---------------------------------------------------------------- rampart

/// Most worker lcores `<rampart><workers>` accepts.
pub const MAX_WORKERS: u32 = 64;

fn rampart(ctx: &mut Ctx, root: &Element, interfaces: &[Interface]) -> Option<NodeSettings> {
    const KNOWN: &[&str] = &[
        "workers",
        "polling",
        "eal",
        "creatorid",
        "port",
        "cores",
        "synckey",
        "pfsyncversion",
        "pfsyncdefer",
        "ctlsocket",
        "metrics",
        "xmlrpc",
    ];
    const PORT_KNOWN: &[&str] = &["if", "devargs", "cpu"];
    let section = root.child("rampart")?;
    let path = ctx.section_path("rampart");
    for c in section.children() {
        if !KNOWN.contains(&c.name()) {
            ctx.err(
                format!("{path}/{}", c.name()),
                ConfigErrorKind::UnknownElement(c.name().to_owned()),
            );
        }
    }
    let workers = ctx
        .number::<u8>(section, "workers", &path, 1, MAX_WORKERS)
        .unwrap_or(1);
    let polling = match text(section, "polling") {
        "" => Polling::default(),
        value => value.parse().unwrap_or_else(|kind| {
            ctx.err(format!("{path}/polling"), kind);
            Polling::default()
        }),
    };
    let creator_id = opt_text(section, "creatorid").and_then(|v| {
        if v.len() == 8 && is_hex(&v) {
            u32::from_str_radix(&v, 16).ok()
        } else {
            ctx.err(
                format!("{path}/creatorid"),
                ConfigErrorKind::Invalid {
                    value: v,
                    expected: "exactly 8 hex digits",
                },
            );
            None
        }
    });
    let sync_key = opt_text(section, "synckey").and_then(|v| {
        if v.len() >= MIN_SYNC_KEY_LEN {
            Some(v)
        } else {
            ctx.err(
                format!("{path}/synckey"),
                ConfigErrorKind::Invalid {
                    value: "(hidden)".into(),
                    expected: "a key of at least 16 characters",
                },
            );
            None
        }
    });
    let pfsync_version = match opt_text(section, "pfsyncversion").as_deref() {
        None | Some("1400") => PfsyncVersion::V1400,
        Some("1301") => PfsyncVersion::V1301,
        Some(other) => {
            ctx.err(
                format!("{path}/pfsyncversion"),
                ConfigErrorKind::Invalid {
                    value: other.to_owned(),
                    expected: "1301 or 1400",
                },
            );
            PfsyncVersion::V1400
        }
    };
    let ctl_socket = opt_text(section, "ctlsocket").and_then(|v| {
        if v.starts_with('/') {
            Some(v)
        } else {
            ctx.err(
                format!("{path}/ctlsocket"),
                ConfigErrorKind::Invalid {
                    value: v,
                    expected: "an absolute path",
                },
            );
            None
        }
    });
    let metrics = opt_text(section, "metrics").and_then(|v| match v.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.err(
                format!("{path}/metrics"),
                ConfigErrorKind::Invalid {
                    value: v,
                    expected: "an address and port such as 127.0.0.1:9100 or [::1]:9100",
                },
            );
            None
        }
    });
    let mut ports: Vec<PortConfig> = Vec::new();
    for (i, p) in items(section, "port") {
        let pp = format!("{path}/port[{i}]");
        for c in p.children() {
            if !PORT_KNOWN.contains(&c.name()) {
                ctx.err(
                    format!("{pp}/{}", c.name()),
                    ConfigErrorKind::UnknownElement(c.name().to_owned()),
                );
            }
        }
        let if_name = text(p, "if").to_owned();
        if if_name.is_empty() {
            ctx.err(format!("{pp}/if"), ConfigErrorKind::Missing);
        } else if !interfaces.iter().any(|i| i.if_name == if_name) {
            ctx.err(
                format!("{pp}/if"),
                ConfigErrorKind::UnknownDevice(if_name.clone()),
            );
        } else if ports.iter().any(|q| q.if_name == if_name) {
            ctx.err(
                format!("{pp}/if"),
                ConfigErrorKind::DuplicatePort(if_name.clone()),
            );
        }
        let devargs = text(p, "devargs").to_owned();
        if devargs.is_empty() {
            ctx.err(format!("{pp}/devargs"), ConfigErrorKind::Missing);
        }
        let cpu = ctx.number::<u32>(p, "cpu", &pp, 0, u32::MAX);
        ports.push(PortConfig {
            if_name,
            devargs,
            cpu,
        });
    }
    let cores = opt_text(section, "cores").and_then(|v| match parse_cpu_list(&v) {
        Some(list) => Some(list),
        None => {
            ctx.err(
                format!("{path}/cores"),
                ConfigErrorKind::Invalid {
                    value: v,
                    expected: "a CPU list such as 1,2 or 2-5",
                },
            );
            None
        }
    });
    Some(NodeSettings {
        workers,
        polling,
        eal_args: text(section, "eal")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        creator_id,
        ports,
        cores,
        sync_key,
        pfsync_version,
        pfsync_defer: section.has_child("pfsyncdefer"),
        ctl_socket,
        metrics,
        xmlrpc: section
            .child("xmlrpc")
            .map(|x| xmlrpc_settings(ctx, x, &format!("{path}/xmlrpc"))),
    })
}

/// Smallest and largest `<rampart><xmlrpc><maxbody>` (1 KiB, 256 MiB).
pub const XMLRPC_MAX_BODY_RANGE: (u32, u32) = (1024, 256 << 20);

fn xmlrpc_settings(ctx: &mut Ctx, section: &Element, path: &str) -> XmlrpcSettings {
    const KNOWN: &[&str] = &[
        "listen",
        "cert",
        "key",
        "maxbody",
        "peerfingerprint",
        "insecure",
    ];
    for c in section.children() {
        if !KNOWN.contains(&c.name()) {
            ctx.err(
                format!("{path}/{}", c.name()),
                ConfigErrorKind::UnknownElement(c.name().to_owned()),
            );
        }
    }
    let listen = opt_text(section, "listen").and_then(|v| match v.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            ctx.err(
                format!("{path}/listen"),
                ConfigErrorKind::Invalid {
                    value: v,
                    expected: "the management address and port, such as 172.16.0.2:443 or [fd00::2]:443",
                },
            );
            None
        }
    });
    let mut file = |name: &str| {
        opt_text(section, name).and_then(|v| {
            if v.starts_with('/') {
                Some(v)
            } else {
                ctx.err(
                    format!("{path}/{name}"),
                    ConfigErrorKind::Invalid {
                        value: v,
                        expected: "an absolute path",
                    },
                );
                None
            }
        })
    };
    let cert = file("cert");
    let key = file("key");
    if section.has_child("cert") != section.has_child("key") {
        let missing = if section.has_child("cert") {
            "key"
        } else {
            "cert"
        };
        ctx.err(
            format!("{path}/{missing}"),
            ConfigErrorKind::Invalid {
                value: String::new(),
                expected: "both <cert> and <key>, or neither (then a self-signed certificate is generated)",
            },
        );
    }
    let (min, max) = XMLRPC_MAX_BODY_RANGE;
    let max_body = ctx.number::<u32>(section, "maxbody", path, min, max);
    let peer_fingerprint = opt_text(section, "peerfingerprint").and_then(|v| match v.parse() {
        Ok(fp) => Some(fp),
        Err(_) => {
            ctx.err(
                format!("{path}/peerfingerprint"),
                ConfigErrorKind::Invalid {
                    value: v.chars().take(100).collect(),
                    expected: "a SHA-256 fingerprint: 64 hex digits, colons allowed",
                },
            );
            None
        }
    });
    let insecure = section.has_child("insecure");
    if insecure && peer_fingerprint.is_some() {
        ctx.err(
            format!("{path}/insecure"),
            ConfigErrorKind::Invalid {
                value: String::new(),
                expected: "either <peerfingerprint> or <insecure>, not both",
            },
        );
    }
    XmlrpcSettings {
        listen,
        cert,
        key,
        max_body,
        peer_fingerprint,
        insecure,
    }
}

/// Shortest `<rampart><synckey>` accepted.
pub const MIN_SYNC_KEY_LEN: usize = 16;

/// Parses `1,2,5-7` into `[1, 2, 5, 6, 7]` (at most 1024 CPUs).
fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        match part.split_once('-') {
            Some((a, b)) => {
                let a = parse_decimal::<u32>(a.trim())?;
                let b = parse_decimal::<u32>(b.trim())?;
                if a > b || b - a >= 1024 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(parse_decimal::<u32>(part)?),
        }
        if out.len() > 1024 {
            return None;
        }
    }
    Some(out)
}

impl FromStr for Polling {
    type Err = ConfigErrorKind;

    /// `adaptive` or `busy`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "adaptive" => Ok(Self::Adaptive),
            "busy" => Ok(Self::Busy),
            other => Err(ConfigErrorKind::Invalid {
                value: other.to_owned(),
                expected: "adaptive or busy",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cpu_list() {
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list("1, 3,5-7"), Some(vec![1, 3, 5, 6, 7]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("1,,2"), None);
        assert_eq!(parse_cpu_list("0-4000000000"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }

    #[test]
    fn test_keyword() {
        assert!(is_keyword("dhcp"));
        assert!(is_keyword("6rd"));
        assert!(!is_keyword("10.0.0.256"));
        assert!(!is_keyword("12"));
        assert!(!is_keyword("1.2.3.4/24"));
    }
}

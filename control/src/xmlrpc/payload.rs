//! What the primary sends: the `restore_config_section` struct built from its config, as
//! pfSense's `rc.filter_synchronize` builds it (master, reference §4.2/§4.4, checked
//! against the source).
//!
//! * Sections come from the `<hasync>` checkboxes ([`selected_sections`]), in pfSense's
//!   order. A checkbox counts when its value is truthy (`on`), as PHP tests it.
//! * A section the primary lacks is sent as an empty array; for the sections pfSense
//!   initialises first (`filter`, `nat`, `aliases`, `gateways`, `virtualip`, …) an empty
//!   element is sent as an empty array too, so a secondary's `gateways` are not wiped by a
//!   primary that has none, exactly as with pfSense. `staticroutes` always carries a
//!   `route` list (empty included), so deleting the last route propagates.
//! * `nosync` entries are removed from `filter/rule`, `nat/rule`, `nat/outbound/rule`,
//!   `aliases/alias`, `dnsmasq/hosts` and `ipsec/tunnel`. The remaining entries are sent as
//!   a plain array (pfSense sends a struct with numeric keys when a hole is left; both mean
//!   the same to a pfSense secondary).
//! * `virtualip` carries every VIP except `ipalias`/`proxyarp` ones on a real interface;
//!   `advskew` becomes the integer `min(advskew + 100, 254)` and `advbase`
//!   `min(advbase, 254)`, each only when set (PHP `intval`: leading digits, else 0).
//! * Users and groups travel as `system/user` + `system/nextuid` and `system/group` +
//!   `system/nextgid`, auth servers as `system/authserver`; `hasync/adminsync` is added
//!   when set. A `nextuid`/`nextgid` the config lacks is left out (pfSense would send
//!   `NULL`, which its encoder cannot).
//! * DHCP failover peers point at the primary's own interface address; Kea HA settings
//!   are mirrored (local/remote addresses and ports swapped, roles flipped, the node's
//!   name sent as the peer's `remotename`, node-local TLS settings removed).
//!
//! A payload holding a control character is refused ([`PayloadError::ControlChar`]): XML
//! cannot carry it and a pfSense secondary would fail to parse the whole message.

use crate::config::Config;
use crate::config::xml::{Element, is_listtag};

use super::tree::element_to_value;
use super::value::Value;

/// Why no payload could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// No `<hasync>` or no `<synchronizetoip>`: this node is not a sync primary.
    #[error("XMLRPC Synchronization is not configured.")]
    NotConfigured,
    /// No `synchronize*` checkbox is set.
    #[error("Nothing has been configured to be synched.")]
    NothingSelected,
    /// A value XML cannot carry.
    #[error("{path}: control character U+{code:04X} cannot be sent over XML-RPC")]
    ControlChar {
        /// Where, e.g. `filter/rule/2/descr`.
        path: String,
        /// The character.
        code: u32,
    },
}

/// The parameter of `restore_config_section`.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The top-level members, in order (`filter`, `system`, `hasync`, …).
    pub sections: Vec<String>,
    /// The struct itself.
    pub value: Value,
}

/// One `synchronize*` checkbox and the sections it selects, in pfSense's order.
struct Rule {
    flag: &'static str,
    sections: &'static [&'static str],
    /// Sent only when the section exists as a container (PHP `is_array`).
    only_if_present: bool,
}

const RULES: &[Rule] = &[
    Rule {
        flag: "synchronizerules",
        sections: &["filter"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizenat",
        sections: &["nat"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizealiases",
        sections: &["aliases"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizedhcpd",
        sections: &["dhcpd", "kea"],
        only_if_present: true,
    },
    Rule {
        flag: "synchronizekea6",
        sections: &["dhcpdv6", "kea6"],
        only_if_present: true,
    },
    Rule {
        flag: "synchronizedhcrelay",
        sections: &["dhcrelay"],
        only_if_present: true,
    },
    Rule {
        flag: "synchronizedhcrelay6",
        sections: &["dhcrelay6"],
        only_if_present: true,
    },
    Rule {
        flag: "synchronizewol",
        sections: &["wol"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizetrafficshaper",
        sections: &["shaper"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizetrafficshaperlimiter",
        sections: &["dnshaper"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizestaticroutes",
        sections: &["staticroutes", "gateways"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizevirtualip",
        sections: &["virtualip"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizeipsec",
        sections: &["ipsec"],
        only_if_present: false,
    },
    Rule {
        flag: "synchronizeopenvpn",
        sections: &["openvpn"],
        only_if_present: false,
    },
];

/// Sections pfSense creates as empty arrays before reading them (`config_init_path`).
const INITIALISED: &[&str] = &[
    "filter",
    "nat",
    "aliases",
    "wol",
    "shaper",
    "dnshaper",
    "staticroutes",
    "gateways",
    "virtualip",
    "ipsec",
    "openvpn",
    "cert",
    "ca",
    "crl",
    "captiveportal",
];

/// Lists whose `nosync` entries stay home.
const NOSYNC_LISTS: &[&[&str]] = &[
    &["nat", "outbound", "rule"],
    &["nat", "rule"],
    &["filter", "rule"],
    &["aliases", "alias"],
    &["dnsmasq", "hosts"],
    &["ipsec", "tunnel"],
];

/// PHP truthiness of a leaf's text.
fn truthy(text: &str) -> bool {
    !text.is_empty() && text != "0"
}

fn flag(hasync: &Element, name: &str) -> bool {
    hasync.child_text(name).is_some_and(truthy)
}

/// PHP `is_array($config[$name])`: present, and a container (or a top-level list).
fn is_container(root: &Element, name: &str) -> bool {
    let mut same = root.children_named(name);
    match same.next() {
        Some(first) => is_listtag(name) || !first.children().is_empty() || same.next().is_some(),
        None => false,
    }
}

/// The sections the `<hasync>` checkboxes select, in the order pfSense sends them. `user`,
/// `group` and `authserver` stand for their `system/…` lists.
#[must_use]
pub fn selected_sections(root: &Element) -> Vec<&'static str> {
    let Some(hasync) = root.child("hasync") else {
        return Vec::new();
    };
    let mut out: Vec<&'static str> = Vec::new();
    for rule in RULES {
        if !flag(hasync, rule.flag) {
            continue;
        }
        for (i, s) in rule.sections.iter().enumerate() {
            // dhcpd/dhcpdv6 gate their Kea companion.
            if rule.only_if_present
                && (!is_container(root, s) || (i > 0 && !out.contains(&rule.sections[0])))
            {
                continue;
            }
            out.push(s);
        }
    }
    if flag(hasync, "synchronizecerts") || flag(hasync, "synchronizeopenvpn") {
        out.extend(["cert", "ca", "crl"]);
    }
    if flag(hasync, "synchronizeusers") {
        out.extend(["user", "group"]);
    }
    if flag(hasync, "synchronizeauthservers") {
        out.push("authserver");
    }
    if flag(hasync, "synchronizednsforwarder") {
        for s in ["dnsmasq", "unbound"] {
            if is_container(root, s) {
                out.push(s);
            }
        }
    }
    // pfSense: `synchronizeschedules || synchronizerules != ""`.
    if flag(hasync, "synchronizeschedules")
        || hasync
            .child_text("synchronizerules")
            .is_some_and(|t| !t.is_empty())
    {
        out.push("schedules");
    }
    if flag(hasync, "synchronizecaptiveportal") {
        out.push("captiveportal");
        if is_container(root, "voucher") {
            out.push("voucher");
        }
    }
    out
}

/// The value of the top-level `name` (a list for a listtag or a repeated name).
fn section_value(root: &Element, name: &str) -> Option<Value> {
    let same: Vec<&Element> = root.children_named(name).collect();
    match same.as_slice() {
        [] => None,
        [only] if !is_listtag(name) => Some(element_to_value(only)),
        _ => Some(Value::Array(
            same.into_iter().map(element_to_value).collect(),
        )),
    }
}

fn list_value(parent: Option<&Element>, name: &str) -> Value {
    Value::Array(
        parent
            .map(|p| p.children_named(name).map(element_to_value).collect())
            .unwrap_or_default(),
    )
}

/// PHP `intval`: optional blanks and sign, then leading digits; anything else is 0.
fn php_intval(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = match digits.get(..end) {
        Some("") | None => 0,
        // Too many digits: PHP saturates.
        Some(d) => d.parse::<i64>().unwrap_or(i64::MAX),
    };
    if neg { -n } else { n }
}

/// The primary's `virtualip` member.
fn vip_section(root: &Element) -> Value {
    let mut vips = Vec::new();
    for vip in root
        .child("virtualip")
        .map(|v| v.children_named("vip").collect::<Vec<_>>())
        .unwrap_or_default()
    {
        let mode = vip.child_text("mode").unwrap_or("");
        let iface = vip.child_text("interface").unwrap_or("");
        if (mode == "proxyarp" || mode == "ipalias")
            && !iface.contains("_vip")
            && !iface.contains("lo0")
        {
            continue;
        }
        let mut v = element_to_value(vip);
        if let Value::Struct(members) = &mut v {
            for (k, val) in members.iter_mut() {
                let Some(text) = val.as_str().filter(|t| !t.is_empty()) else {
                    continue;
                };
                match k.as_str() {
                    "advskew" => *val = Value::Int(php_intval(text).saturating_add(100).min(254)),
                    "advbase" => *val = Value::Int(php_intval(text).min(254)),
                    _ => {}
                }
            }
        }
        vips.push(v);
    }
    Value::structure([("vip", Value::Array(vips))])
}

/// Removes `nosync` entries, points DHCP failover at this node, mirrors Kea HA.
fn prepare_copy(config: &Config) -> Element {
    let original = config.doc.root();
    let mut root = original.clone();
    for path in NOSYNC_LISTS {
        let Some((last, parents)) = path.split_last() else {
            continue;
        };
        let mut at = Some(&mut root);
        for p in parents {
            at = at.and_then(|e| e.child_mut(p));
        }
        if let Some(parent) = at
            && parent.children_named(last).any(|c| c.has_child("nosync"))
        {
            parent
                .children_mut()
                .retain(|c| c.name() != *last || !c.has_child("nosync"));
        }
    }
    if let Some(dhcpd) = root.child_mut("dhcpd") {
        for iface in dhcpd.children_mut() {
            let own = original
                .child("interfaces")
                .and_then(|i| i.child(iface.name()))
                .and_then(|i| i.child_text("ipaddr"))
                .filter(|a| !a.is_empty());
            if let Some(own) = own
                && iface
                    .child_text("failover_peerip")
                    .is_some_and(|p| !p.is_empty())
            {
                iface.set_child(Element::with_text("failover_peerip", own));
            }
        }
    }
    let hostname = original
        .child("system")
        .and_then(|s| s.child_text("hostname"))
        .unwrap_or("pfSense")
        .to_owned();
    for kea in ["kea", "kea6"] {
        let Some(orig_ha) = original.child(kea).and_then(|k| k.child("ha")) else {
            continue;
        };
        let Some(ha) = root.child_mut(kea).and_then(|k| k.child_mut("ha")) else {
            continue;
        };
        for (from, to) in [
            ("localip", "remoteip"),
            ("remoteip", "localip"),
            ("localport", "remoteport"),
            ("remoteport", "localport"),
        ] {
            if let Some(v) = orig_ha.child_text(from).filter(|v| truthy(v)) {
                ha.set_child(Element::with_text(to, v));
            }
        }
        let name = orig_ha
            .child_text("localname")
            .unwrap_or(&hostname)
            .trim()
            .to_owned();
        ha.set_child(Element::with_text("remotename", &name));
        let role = match orig_ha.child_text("role").unwrap_or("primary") {
            "primary" => "standby",
            "standby" => "primary",
            other => other,
        }
        .to_owned();
        ha.set_child(Element::with_text("role", &role));
        for name in ["localname", "tls", "mutualtls", "scertref", "ccertref"] {
            ha.remove_children_named(name);
        }
    }
    root
}

/// Builds the `restore_config_section` payload for `config` (see the module docs).
///
/// # Errors
/// [`PayloadError::NotConfigured`] when this node has no sync target,
/// [`PayloadError::NothingSelected`] when no checkbox is set,
/// [`PayloadError::ControlChar`] when a value cannot travel.
pub fn build_payload(config: &Config) -> Result<Payload, PayloadError> {
    let original = config.doc.root();
    let Some(hasync) = original.child("hasync") else {
        return Err(PayloadError::NotConfigured);
    };
    if hasync
        .child_text("synchronizetoip")
        .is_none_or(str::is_empty)
    {
        return Err(PayloadError::NotConfigured);
    }
    let selected = selected_sections(original);
    if selected.is_empty() {
        return Err(PayloadError::NothingSelected);
    }
    let root = prepare_copy(config);
    let mut members: Vec<(String, Value)> = Vec::new();
    let mut system: Vec<(String, Value)> = Vec::new();
    let sys = root.child("system");
    let text = |name: &str| sys.and_then(|s| s.child_text(name)).map(Value::str);
    for section in selected {
        match section {
            "virtualip" => members.push((section.into(), vip_section(&root))),
            "user" | "group" => {
                system.push((section.into(), list_value(sys, section)));
                let next = if section == "user" {
                    "nextuid"
                } else {
                    "nextgid"
                };
                if let Some(v) = text(next) {
                    system.push((next.into(), v));
                }
            }
            "authserver" => system.push((section.into(), list_value(sys, section))),
            _ => {
                let mut v = section_value(&root, section);
                if INITIALISED.contains(&section) && v.as_ref().is_none_or(|v| !v.is_container()) {
                    v = Some(Value::Array(Vec::new()));
                }
                let mut v = v.unwrap_or(Value::Array(Vec::new()));
                if section == "staticroutes" {
                    v = with_route_list(v);
                }
                members.push((section.into(), v));
            }
        }
        // `system` takes the place of its first list.
        if matches!(section, "user" | "group" | "authserver")
            && !members.iter().any(|(k, _)| k == "system")
        {
            members.push(("system".into(), Value::Struct(Vec::new())));
        }
    }
    if let Some(slot) = members.iter_mut().find(|(k, _)| k == "system") {
        slot.1 = Value::Struct(system);
    }
    if let Some(adminsync) = root.child("hasync").and_then(|h| h.child("adminsync")) {
        members.push((
            "hasync".into(),
            Value::structure([("adminsync", Value::str(adminsync.text()))]),
        ));
    }
    let value = Value::Struct(members);
    check_text(&value, "")?;
    let sections = match &value {
        Value::Struct(m) => m.iter().map(|(k, _)| k.clone()).collect(),
        _ => Vec::new(),
    };
    Ok(Payload { sections, value })
}

/// `staticroutes` with a `route` list, as `config_init_path('staticroutes/route')` leaves it.
fn with_route_list(v: Value) -> Value {
    match v {
        Value::Struct(mut m) => {
            if !m.iter().any(|(k, _)| k == "route") {
                m.push(("route".into(), Value::Array(Vec::new())));
            }
            Value::Struct(m)
        }
        _ => Value::structure([("route", Value::Array(Vec::new()))]),
    }
}

fn check_text(v: &Value, path: &str) -> Result<(), PayloadError> {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}/{k}")
        }
    };
    let bad = |s: &str| {
        s.chars()
            .find(|&c| u32::from(c) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    };
    match v {
        Value::Str(s) | Value::DateTime(s) => match bad(s) {
            Some(c) => Err(PayloadError::ControlChar {
                path: path.to_owned(),
                code: u32::from(c),
            }),
            None => Ok(()),
        },
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_text(item, &join(&i.to_string()))),
        Value::Struct(m) => m.iter().try_for_each(|(k, item)| {
            if let Some(c) = bad(k) {
                return Err(PayloadError::ControlChar {
                    path: join(k),
                    code: u32::from(c),
                });
            }
            check_text(item, &join(k))
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = include_str!("../../tests/data/ha-primary.xml");

    fn primary() -> Config {
        Config::parse(PRIMARY.as_bytes()).unwrap()
    }

    #[test]
    fn test_sections_of_the_reference_primary() {
        let p = build_payload(&primary()).unwrap();
        // hasync: users, certs, rules, schedules, aliases, nat, staticroutes, virtualip,
        // dnsforwarder (no dnsmasq/unbound section: nothing sent for it).
        assert_eq!(
            p.sections,
            [
                "filter",
                "nat",
                "aliases",
                "staticroutes",
                "gateways",
                "virtualip",
                "cert",
                "ca",
                "crl",
                "system",
                "schedules"
            ]
        );
        let v = &p.value;
        // The nosync rule stayed home.
        let rules = v
            .member("filter")
            .and_then(|f| f.member("rule"))
            .and_then(Value::as_list)
            .unwrap();
        assert_eq!(rules.len(), 4);
        assert!(rules.iter().all(|r| r.member("nosync").is_none()));
        // Absent sections travel as empty arrays.
        assert_eq!(v.member("cert"), Some(&Value::Array(vec![])));
        assert_eq!(v.member("schedules"), Some(&Value::Array(vec![])));
        let system = v.member("system").unwrap();
        let Value::Struct(sm) = system else { panic!() };
        assert_eq!(
            sm.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["user", "nextuid", "group", "nextgid"]
        );
        assert_eq!(
            system
                .member("user")
                .and_then(Value::as_list)
                .map(|l| l.len()),
            Some(1)
        );
        assert!(v.member("hasync").is_none(), "no adminsync on this primary");
    }

    #[test]
    fn test_vips_for_the_secondary() {
        let p = build_payload(&primary()).unwrap();
        let vips = p
            .value
            .member("virtualip")
            .and_then(|v| v.member("vip"))
            .and_then(Value::as_list)
            .unwrap();
        // Both CARP VIPs and the IP alias stacked on the WAN CARP VIP.
        assert_eq!(vips.len(), 3);
        assert_eq!(vips[0].member("advskew"), Some(&Value::Int(100)));
        assert_eq!(vips[0].member("advbase"), Some(&Value::Int(1)));
        assert_eq!(
            vips[0].member("password"),
            Some(&Value::str("carp-wan-secret"))
        );
        assert_eq!(
            vips[2].member("interface"),
            Some(&Value::str("_vip65a1b2c3d4e5f"))
        );
        assert_eq!(vips[2].member("advskew"), None);
    }

    #[test]
    fn test_advskew_cap_and_local_aliases() {
        let xml = PRIMARY
            .replace("<advskew>0</advskew>", "<advskew>200</advskew>")
            .replace("<advbase>1</advbase>", "<advbase>300x</advbase>")
            .replace(
                "</virtualip>",
                "<vip><mode>ipalias</mode><interface>lan</interface><subnet>10.0.0.99</subnet><subnet_bits>24</subnet_bits><type>single</type></vip></virtualip>",
            );
        let c = Config::analyze(crate::config::ConfigDocument::parse(xml.as_bytes()).unwrap()).0;
        let p = build_payload(&c).unwrap();
        let vips = p
            .value
            .member("virtualip")
            .and_then(|v| v.member("vip"))
            .and_then(Value::as_list)
            .unwrap();
        assert_eq!(vips.len(), 3, "the LAN IP alias is node-local");
        assert_eq!(vips[0].member("advskew"), Some(&Value::Int(254)));
        assert_eq!(vips[0].member("advbase"), Some(&Value::Int(254)));
        assert_eq!(php_intval(" -5x"), -5);
        assert_eq!(php_intval("abc"), 0);
    }

    #[test]
    fn test_not_configured_and_nothing_selected() {
        let no_target = PRIMARY.replace("<synchronizetoip>172.16.0.2</synchronizetoip>", "");
        let c = Config::parse(no_target.as_bytes()).unwrap();
        assert_eq!(build_payload(&c), Err(PayloadError::NotConfigured));
        let mut nothing = PRIMARY.to_owned();
        for f in [
            "users",
            "certs",
            "rules",
            "schedules",
            "aliases",
            "nat",
            "staticroutes",
            "virtualip",
            "dnsforwarder",
        ] {
            nothing = nothing.replace(&format!("<synchronize{f}>on</synchronize{f}>"), "");
        }
        let c = Config::parse(nothing.as_bytes()).unwrap();
        assert_eq!(build_payload(&c), Err(PayloadError::NothingSelected));
        // A flag written empty is false to PHP.
        let empty_flag = nothing.replace(
            "<pfsyncenabled>",
            "<synchronizerules></synchronizerules><pfsyncenabled>",
        );
        let c = Config::parse(empty_flag.as_bytes()).unwrap();
        assert_eq!(build_payload(&c), Err(PayloadError::NothingSelected));
    }

    #[test]
    fn test_adminsync_dhcp_kea_and_control_chars() {
        let xml = PRIMARY
            .replace("<synchronizeusers>", "<adminsync>on</adminsync><synchronizedhcpd>on</synchronizedhcpd><synchronizeusers>")
            .replace(
                "<hasync>",
                "<dhcpd><lan><enable/><failover_peerip>10.0.0.3</failover_peerip></lan></dhcpd>\
                 <kea><ha><role>primary</role><localip>10.0.0.2</localip><remoteip>10.0.0.3</remoteip><tls/><localname>kea-a</localname></ha></kea><hasync>",
            );
        let c = Config::parse(xml.as_bytes()).unwrap();
        let p = build_payload(&c).unwrap();
        assert!(p.sections.contains(&"dhcpd".to_owned()) && p.sections.contains(&"kea".to_owned()));
        assert_eq!(
            p.value.member("hasync"),
            Some(&Value::structure([("adminsync", Value::str("on"))]))
        );
        let lan = p
            .value
            .member("dhcpd")
            .and_then(|d| d.member("lan"))
            .unwrap();
        assert_eq!(lan.member("failover_peerip"), Some(&Value::str("10.0.0.2")));
        let ha = p.value.member("kea").and_then(|k| k.member("ha")).unwrap();
        assert_eq!(ha.member("role"), Some(&Value::str("standby")));
        assert_eq!(ha.member("localip"), Some(&Value::str("10.0.0.3")));
        assert_eq!(ha.member("remoteip"), Some(&Value::str("10.0.0.2")));
        assert_eq!(ha.member("remotename"), Some(&Value::str("kea-a")));
        assert!(ha.member("tls").is_none() && ha.member("localname").is_none());
        let bad = PRIMARY.replace("Allow LAN to any", "Allow &#7; LAN");
        let c = Config::analyze(crate::config::ConfigDocument::parse(bad.as_bytes()).unwrap()).0;
        assert_eq!(
            build_payload(&c),
            Err(PayloadError::ControlChar {
                path: "filter/rule/1/descr".into(),
                code: 7
            })
        );
    }
}

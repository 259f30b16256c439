//! The HA example config (`tests/data/ha-primary.xml`, §7.10 of the reference
//! plus a `<rampart>` section), the lab example (`examples/lab-node.xml`), and
//! one negative test per validation rule, each checking the error path and
//! message.

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use rampart_control::config::{
    Config, ConfigDocument, ConfigErrorKind, Element, GatewayAddress, IpProtocol, LoadError,
    Polling, RouteNetwork, VipMode,
};

const HA: &str = include_str!("data/ha-primary.xml");

fn data(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Validation errors of `xml`, rendered as `path: message`.
fn errors_of(xml: &str) -> Vec<String> {
    let doc = ConfigDocument::parse(xml.as_bytes()).expect("test input parses");
    Config::analyze(doc)
        .1
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Applies text replacements to the HA config (each `from` must occur exactly
/// once) and returns the validation errors.
fn ha_with(edits: &[(&str, &str)]) -> Vec<String> {
    let mut xml = HA.to_owned();
    for (from, to) in edits {
        assert_eq!(xml.matches(from).count(), 1, "`{from}` must occur once");
        xml = xml.replacen(from, to, 1);
    }
    errors_of(&xml)
}

fn ha_doc() -> ConfigDocument {
    ConfigDocument::parse(HA.as_bytes()).unwrap()
}

fn tree_errors(doc: ConfigDocument) -> Vec<String> {
    Config::analyze(doc)
        .1
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn ha_primary_validates_and_reads() {
    let c = Config::load(data("tests/data/ha-primary.xml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.doc.root_name(), "pfsense");
    assert_eq!(c.doc.version(), Some("23.3"));
    assert_eq!(c.system.hostname, "fw-a");
    assert_eq!(c.system.domain, "example.lan");

    let admin = c.system.user("admin").unwrap();
    assert_eq!(admin.uid, Some(0));
    assert!(admin.bcrypt_hash.as_deref().unwrap().starts_with("$2b$10$"));
    assert_eq!(admin.groupname.as_deref(), Some("admins"));
    assert!(!admin.disabled);
    let groups: Vec<_> = c.system.groups_of(admin).map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["all", "admins"]);
    assert_eq!(c.system.group("admins").unwrap().privs, ["page-all"]);
    assert_eq!(c.system.group("admins").unwrap().gid, Some(1999));

    let keys: Vec<_> = c.interfaces.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(keys, ["wan", "lan", "opt1"]);
    let wan = c.interface("wan").unwrap();
    assert_eq!(wan.ipv4_cidr().unwrap().to_string(), "198.51.100.2/24");
    assert_eq!(wan.gateway.as_deref(), Some("WANGW"));
    assert_eq!(wan.descr, "WAN");
    assert_eq!(c.interface_by_if("igb2").unwrap().key, "opt1");

    let gw = c.default_gateway_v4().unwrap();
    assert_eq!(gw.name, "WANGW");
    assert_eq!(
        gw.address,
        GatewayAddress::V4(Ipv4Addr::new(198, 51, 100, 1))
    );
    assert_eq!(gw.ip_protocol, IpProtocol::Inet);
    assert_eq!(gw.weight, Some(1));
    assert_eq!(c.gateway("LABGW").unwrap().interface, "lan");
    assert!(c.default_gateway_v6().is_none());

    assert_eq!(c.static_routes.len(), 1);
    assert_eq!(
        c.static_routes[0].network,
        RouteNetwork::V4("192.168.50.0/24".parse().unwrap())
    );
    assert_eq!(c.static_routes[0].descr, "Lab network");

    assert_eq!(c.virtual_ips.len(), 3);
    let carp: Vec<_> = c.carp_vips().collect();
    assert_eq!(carp.len(), 2);
    assert_eq!(carp[0].vhid, Some(1));
    assert_eq!(carp[0].advskew, Some(0));
    assert_eq!(carp[0].advbase, Some(1));
    assert_eq!(carp[0].password, "carp-wan-secret");
    assert_eq!(
        carp[0].address,
        Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)))
    );
    assert_eq!(carp[0].subnet_bits, Some(24));
    assert_eq!(carp[1].descr, "LAN CARP (default gateway)");
    assert_eq!(c.virtual_ips[2].mode, VipMode::IpAlias);
    assert_eq!(c.virtual_ips[2].interface, "_vip65a1b2c3d4e5f");

    let h = c.hasync.as_ref().unwrap();
    assert!(h.pfsync_enabled);
    assert_eq!(h.pfsync_interface.as_deref(), Some("opt1"));
    assert_eq!(h.synchronize_to_ip.as_deref(), Some("172.16.0.2"));
    assert_eq!(h.username.as_deref(), Some("admin"));
    assert_eq!(h.password.as_deref(), Some("xmlrpc-sync-secret"));
    assert!(!h.adminsync);
    assert_eq!(h.synchronize.len(), 9);
    assert!(h.syncs("staticroutes"));

    assert_eq!(c.alias("WEB_PORTS").unwrap().addresses, ["80", "443"]);
    assert_eq!(c.alias("WEB_SERVERS").unwrap().detail, "web1||web2");

    assert_eq!(c.filter_rules.len(), 5);
    let floating = &c.filter_rules[3];
    assert!(floating.floating);
    assert_eq!(floating.interface, "wan,lan");
    assert_eq!(floating.protocol, "tcp/udp");
    assert!(c.filter_rules[4].disabled);
    assert_eq!(c.filter_rules[2].action, "block");
    assert_eq!(c.nat.outbound_mode.as_deref(), Some("hybrid"));
    assert_eq!((c.nat.outbound_rules, c.nat.port_forwards), (1, 1));

    let r = c.rampart.as_ref().unwrap();
    assert_eq!(r.workers, 2);
    assert_eq!(r.polling, Polling::Busy);
    assert_eq!(r.eal_args, ["--log-level=lib.eal:notice", "--no-telemetry"]);
    assert_eq!(r.creator_id, Some(0x1a2b_3c4d));
    assert_eq!(r.ports.len(), 3);
    assert_eq!(r.port("igb0").unwrap().devargs, "0000:03:00.0");
    assert_eq!(r.port("igb0").unwrap().cpu, Some(1));
    assert_eq!(r.port("igb2").unwrap().cpu, None);
    assert_eq!(r.cores, Some(vec![2, 3]));
}

#[test]
fn ha_primary_round_trips() {
    let doc = ha_doc();
    let again = ConfigDocument::parse(doc.to_xml().as_bytes()).unwrap();
    assert_eq!(again, doc);
    // The source is written in pfSense's style, so only the comment differs.
    let start = HA.find("<!--").unwrap();
    let end = HA.find("-->\n").unwrap() + 4;
    let expected = format!("{}{}", &HA[..start], &HA[end..]);
    assert_eq!(doc.to_xml(), expected);
}

#[test]
fn lab_node_example_validates() {
    let c = Config::load(data("examples/lab-node.xml")).unwrap_or_else(|e| panic!("{e}"));
    let lan = c.interface("lan").unwrap();
    assert_eq!(lan.if_name, "lan0");
    assert_eq!(lan.ipv4_cidr().unwrap().to_string(), "10.10.1.1/24");
    let wan = c.interface_by_if("wan0").unwrap();
    assert_eq!(wan.key, "wan");
    assert_eq!(wan.ipv4_cidr().unwrap().to_string(), "10.10.2.1/24");
    assert!(c.doc.section("gateways").is_some());
    assert!(c.default_gateway_v4().is_none());
    let r = c.rampart.as_ref().unwrap();
    assert_eq!(r.workers, 1);
    assert_eq!(r.polling, Polling::Adaptive);
    assert_eq!(
        r.port("lan0").unwrap().devargs,
        "net_af_packet0,iface=PLACEHOLDER_LAN"
    );
    assert_eq!(
        r.port("wan0").unwrap().devargs,
        "net_af_packet1,iface=PLACEHOLDER_WAN"
    );
    assert!(c.hasync.is_none());
}

#[test]
fn missing_rampart_is_a_valid_config_without_node_settings() {
    let doc = {
        let mut d = ha_doc();
        assert!(d.remove_section("rampart").is_some());
        d
    };
    let c = Config::from_document(doc).unwrap();
    assert!(c.rampart.is_none());
}

#[test]
fn empty_rampart_takes_defaults() {
    let mut d = ha_doc();
    d.replace_section(Element::new("rampart"));
    let c = Config::from_document(d).unwrap();
    let r = c.rampart.unwrap();
    assert_eq!(
        (r.workers, r.polling, r.ports.len()),
        (1, Polling::Adaptive, 0)
    );
    assert_eq!(r.cores, None);
}

// ------------------------------------------------------------ negative tests

#[test]
fn repeated_non_listtag_elements() {
    assert_eq!(
        ha_with(&[(
            "<hostname>fw-a</hostname>",
            "<hostname>fw-a</hostname><hostname>x</hostname>"
        )]),
        ["/pfsense/system/hostname: <hostname> cannot occur more than once"]
    );
    assert_eq!(
        ha_with(&[(
            "<tracker>1700000002</tracker>",
            "<tracker>1700000002</tracker><tracker>1</tracker>"
        )]),
        ["/pfsense/filter/rule[2]/tracker: <tracker> cannot occur more than once"]
    );
    // Inside <rampart>, <port> repeats; other names do not.
    assert_eq!(
        ha_with(&[(
            "<workers>2</workers>",
            "<workers>2</workers><workers>3</workers>"
        )]),
        ["/pfsense/rampart/workers: <workers> cannot occur more than once"]
    );
    // A repeated top-level section.
    let mut d = ha_doc();
    d.root_mut().push(Element::new("hasync"));
    assert_eq!(
        tree_errors(d),
        ["/pfsense/hasync: <hasync> cannot occur more than once"]
    );
    // Unmodelled sections are not inspected.
    let mut d = ha_doc();
    d.root_mut().push(
        Element::new("dhcpd")
            .with_child(Element::with_text("x", "1"))
            .with_child(Element::with_text("x", "2")),
    );
    assert!(tree_errors(d).is_empty());
}

#[test]
fn interface_address_syntax() {
    assert_eq!(
        ha_with(&[("<ipaddr>10.0.0.2</ipaddr>", "<ipaddr>10.0.0.256</ipaddr>")]),
        ["/pfsense/interfaces/lan/ipaddr: `10.0.0.256` is not a valid IPv4 address"]
    );
    assert_eq!(
        ha_with(&[(
            "<ipaddr>172.16.0.1</ipaddr>",
            "<ipaddr>172.16.0.1/30</ipaddr>"
        )]),
        ["/pfsense/interfaces/opt1/ipaddr: `172.16.0.1/30` is not a valid IPv4 address"]
    );
    // Keywords are dynamic modes, not errors.
    assert!(ha_with(&[("<ipaddr>172.16.0.1</ipaddr>", "<ipaddr>dhcp</ipaddr>")]).is_empty());
}

#[test]
fn interface_prefix_range() {
    assert_eq!(
        ha_with(&[("<subnet>30</subnet>", "<subnet>33</subnet>")]),
        ["/pfsense/interfaces/opt1/subnet: `33` is not a valid prefix length (0–32)"]
    );
    assert_eq!(
        ha_with(&[("<subnet>30</subnet>", "<subnet></subnet>")]),
        ["/pfsense/interfaces/opt1/subnet: required value is missing or empty"]
    );
}

#[test]
fn interface_mtu_and_spoofmac() {
    assert_eq!(
        ha_with(&[(
            "<descr><![CDATA[SYNC]]></descr>",
            "<descr><![CDATA[SYNC]]></descr><mtu>70000</mtu><spoofmac>00:11:22:33:44</spoofmac>"
        )]),
        [
            "/pfsense/interfaces/opt1/mtu: `70000` is not a number from 1 to 65535",
            "/pfsense/interfaces/opt1/spoofmac: `00:11:22:33:44` is not valid: expected a MAC address such as 00:11:22:33:44:55",
        ]
    );
}

#[test]
fn device_unique_among_enabled_interfaces() {
    assert_eq!(
        ha_with(&[(
            "<if>igb2</if>\n\t\t\t<descr>",
            "<if>igb1</if>\n\t\t\t<descr>"
        )]),
        [
            "/pfsense/interfaces/opt1/if: device `igb1` is already used by enabled interface `lan`",
            "/pfsense/rampart/port[3]/if: `igb2` is not the <if> of any interface in <interfaces>",
        ]
    );
    // A disabled interface may share a device.
    let mut d = ha_doc();
    let ifaces = d.section_mut("interfaces").unwrap();
    ifaces.push(Element::new("opt2").with_child(Element::with_text("if", "igb1")));
    assert!(tree_errors(d).is_empty());
}

#[test]
fn gateway_names_unique_and_references_exist() {
    assert_eq!(
        ha_with(&[("<name>LABGW</name>", "<name>WANGW</name>")]),
        [
            "/pfsense/gateways/gateway_item[2]/name: duplicate gateway name `WANGW`",
            "/pfsense/staticroutes/route[1]/gateway: gateway `LABGW` is not defined in <gateways>",
        ]
    );
    assert_eq!(
        ha_with(&[("<gateway>WANGW</gateway>", "<gateway>NOPE</gateway>")]),
        ["/pfsense/interfaces/wan/gateway: gateway `NOPE` is not defined in <gateways>"]
    );
    assert_eq!(
        ha_with(&[(
            "<defaultgw4>WANGW</defaultgw4>",
            "<defaultgw4>OTHER</defaultgw4>"
        )]),
        ["/pfsense/gateways/defaultgw4: gateway `OTHER` is not defined in <gateways>"]
    );
    // "-" means "no default gateway".
    assert!(
        ha_with(&[(
            "<defaultgw4>WANGW</defaultgw4>",
            "<defaultgw4>-</defaultgw4>"
        )])
        .is_empty()
    );
    // Implicit dynamic gateways of DHCP interfaces may be referenced.
    assert!(
        ha_with(&[
            ("<ipaddr>172.16.0.1</ipaddr>", "<ipaddr>dhcp</ipaddr>"),
            (
                "<gateway>LABGW</gateway>\n\t\t\t<descr>",
                "<gateway>SYNC_DHCP</gateway>\n\t\t\t<descr>"
            ),
        ])
        .is_empty()
    );
}

#[test]
fn gateway_interface_and_address() {
    assert_eq!(
        ha_with(&[(
            "<interface>lan</interface>\n\t\t\t<gateway>10.0.0.254",
            "<interface>opt9</interface>\n\t\t\t<gateway>10.0.0.254"
        )]),
        [
            "/pfsense/gateways/gateway_item[2]/interface: interface `opt9` does not exist in <interfaces>"
        ]
    );
    assert_eq!(
        ha_with(&[(
            "<gateway>10.0.0.254</gateway>",
            "<gateway>10.0.0.300</gateway>"
        )]),
        ["/pfsense/gateways/gateway_item[2]/gateway: `10.0.0.300` is not a valid IP address"]
    );
    assert_eq!(
        ha_with(&[(
            "<gateway>10.0.0.254</gateway>",
            "<gateway>2001:db8::1</gateway>"
        )]),
        [
            "/pfsense/gateways/gateway_item[2]/gateway: address `2001:db8::1` does not match <ipprotocol> `inet`"
        ]
    );
    assert_eq!(
        ha_with(&[(
            "<gateway>10.0.0.254</gateway>",
            "<gateway>10.9.0.254</gateway>"
        )]),
        [
            "/pfsense/gateways/gateway_item[2]/gateway: gateway address 10.9.0.254 is outside 10.0.0.2/24 of interface `lan`"
        ]
    );
    assert!(
        ha_with(&[(
            "<gateway>10.0.0.254</gateway>",
            "<gateway>10.9.0.254</gateway><nonlocalgateway></nonlocalgateway>"
        )])
        .is_empty()
    );
}

#[test]
fn static_route_network() {
    assert_eq!(
        ha_with(&[(
            "<network>192.168.50.0/24</network>",
            "<network>192.168.50.0/33</network>"
        )]),
        [
            "/pfsense/staticroutes/route[1]/network: `192.168.50.0/33` is neither a network in CIDR form nor a defined alias"
        ]
    );
    assert_eq!(
        ha_with(&[(
            "<network>192.168.50.0/24</network>",
            "<network>NO_SUCH_ALIAS</network>"
        )]),
        [
            "/pfsense/staticroutes/route[1]/network: `NO_SUCH_ALIAS` is neither a network in CIDR form nor a defined alias"
        ]
    );
    let mut xml = HA.replacen(
        "<network>192.168.50.0/24</network>",
        "<network>WEB_SERVERS</network>",
        1,
    );
    assert!(errors_of(&xml).is_empty());
    xml = xml.replacen(
        "<network>WEB_SERVERS</network>",
        "<network>2001:db8:1::/48</network>",
        1,
    );
    assert!(errors_of(&xml).is_empty());
}

#[test]
fn vip_ranges() {
    assert_eq!(
        ha_with(&[("<vhid>1</vhid>", "<vhid>0</vhid>")]),
        ["/pfsense/virtualip/vip[1]/vhid: `0` is not a number from 1 to 255"]
    );
    assert_eq!(
        ha_with(&[("<vhid>2</vhid>", "<vhid>256</vhid>")]),
        ["/pfsense/virtualip/vip[2]/vhid: `256` is not a number from 1 to 255"]
    );
    assert_eq!(
        ha_with(&[("<vhid>2</vhid>", "")]),
        ["/pfsense/virtualip/vip[2]/vhid: required value is missing or empty"]
    );
    assert_eq!(
        ha_with(&[(
            "<vhid>2</vhid>\n\t\t\t<advskew>0</advskew>",
            "<vhid>2</vhid>\n\t\t\t<advskew>255</advskew>"
        )]),
        ["/pfsense/virtualip/vip[2]/advskew: `255` is not a number from 0 to 254"]
    );
    assert_eq!(
        ha_with(&[(
            "<vhid>2</vhid>\n\t\t\t<advskew>0</advskew>\n\t\t\t<advbase>1</advbase>",
            "<vhid>2</vhid>\n\t\t\t<advskew>0</advskew>\n\t\t\t<advbase>0</advbase>"
        )]),
        ["/pfsense/virtualip/vip[2]/advbase: `0` is not a number from 1 to 255"]
    );
    assert_eq!(
        ha_with(&[("<subnet>10.0.0.1</subnet>", "<subnet>10.0.9.1</subnet>")]),
        [
            "/pfsense/virtualip/vip[2]/subnet: CARP address 10.0.9.1 is outside 10.0.0.2/24 of interface `lan`"
        ]
    );
    assert_eq!(
        ha_with(&[("<mode>ipalias</mode>", "<mode>alias</mode>")]),
        [
            "/pfsense/virtualip/vip[3]/mode: `alias` is not valid: expected carp, ipalias, proxyarp or other"
        ]
    );
}

#[test]
fn vip_vhid_unique_per_interface() {
    let mut d = ha_doc();
    let vips = d.section_mut("virtualip").unwrap();
    let mut dup = vips.children()[0].clone();
    dup.set_child(Element::with_text("subnet", "198.51.100.12"));
    dup.set_child(Element::with_text("uniqid", "65a1b2c3d4e70"));
    vips.push(dup.clone());
    assert_eq!(
        tree_errors(d.clone()),
        ["/pfsense/virtualip/vip[4]/vhid: vhid 1 is already used on interface `wan`"]
    );
    // The same vhid on another interface is fine.
    let vips = d.section_mut("virtualip").unwrap();
    vips.children_mut().pop();
    dup.set_child(Element::with_text("interface", "opt1"));
    dup.set_child(Element::with_text("subnet", "172.16.0.3"));
    vips.push(dup);
    assert!(tree_errors(d).is_empty());
}

#[test]
fn vip_interface_exists() {
    assert_eq!(
        ha_with(&[(
            "<interface>_vip65a1b2c3d4e5f</interface>",
            "<interface>_vipdeadbeef</interface>"
        )]),
        [
            "/pfsense/virtualip/vip[3]/interface: `_vipdeadbeef` does not refer to an existing CARP VIP"
        ]
    );
    assert_eq!(
        ha_with(&[(
            "<interface>_vip65a1b2c3d4e5f</interface>",
            "<interface>opt7</interface>"
        )]),
        ["/pfsense/virtualip/vip[3]/interface: interface `opt7` does not exist in <interfaces>"]
    );
    // Legacy `<if>_vip<vhid>` and the loopback are accepted.
    assert!(
        ha_with(&[(
            "<interface>_vip65a1b2c3d4e5f</interface>",
            "<interface>wan_vip1</interface>"
        )])
        .is_empty()
    );
    assert_eq!(
        ha_with(&[(
            "<interface>_vip65a1b2c3d4e5f</interface>",
            "<interface>wan_vip9</interface>"
        )]),
        ["/pfsense/virtualip/vip[3]/interface: `wan_vip9` does not refer to an existing CARP VIP"]
    );
    assert!(
        ha_with(&[(
            "<interface>_vip65a1b2c3d4e5f</interface>",
            "<interface>lo0</interface>"
        )])
        .is_empty()
    );
}

#[test]
fn hasync_references() {
    assert_eq!(
        ha_with(&[(
            "<pfsyncinterface>opt1</pfsyncinterface>",
            "<pfsyncinterface>opt5</pfsyncinterface>"
        )]),
        ["/pfsense/hasync/pfsyncinterface: interface `opt5` does not exist in <interfaces>"]
    );
    assert_eq!(
        ha_with(&[(
            "<pfsyncpeerip>172.16.0.2</pfsyncpeerip>",
            "<pfsyncpeerip>peer</pfsyncpeerip>"
        )]),
        ["/pfsense/hasync/pfsyncpeerip: `peer` is not a valid IPv4 address"]
    );
    assert_eq!(
        ha_with(&[(
            "<pfsyncenabled>on</pfsyncenabled>",
            "<pfsyncenabled>on</pfsyncenabled><pfhostid>123456789</pfhostid>"
        )]),
        ["/pfsense/hasync/pfhostid: `123456789` is not valid: expected up to 8 hex digits"]
    );
}

#[test]
fn rampart_ports() {
    assert_eq!(
        ha_with(&[(
            "<if>igb0</if>\n\t\t\t<devargs>",
            "<if>igb9</if>\n\t\t\t<devargs>"
        )]),
        ["/pfsense/rampart/port[1]/if: `igb9` is not the <if> of any interface in <interfaces>"]
    );
    assert_eq!(
        ha_with(&[(
            "<if>igb1</if>\n\t\t\t<devargs>",
            "<if>igb0</if>\n\t\t\t<devargs>"
        )]),
        ["/pfsense/rampart/port[2]/if: device `igb0` is mapped by more than one <port>"]
    );
    assert_eq!(
        ha_with(&[("<devargs>0000:03:00.1</devargs>", "<devargs>  </devargs>")]),
        ["/pfsense/rampart/port[2]/devargs: required value is missing or empty"]
    );
    assert_eq!(
        ha_with(&[(
            "<devargs>0000:03:00.1</devargs>",
            "<devargs>0000:03:00.1</devargs><queues>2</queues>"
        )]),
        ["/pfsense/rampart/port[2]/queues: unknown element <queues>"]
    );
    assert_eq!(
        ha_with(&[("<devargs>0000:03:00.1</devargs>", "")]),
        ["/pfsense/rampart/port[2]/devargs: required value is missing or empty"]
    );
}

#[test]
fn rampart_settings() {
    for (workers, value) in [("0", "0"), ("65", "65"), ("two", "two")] {
        assert_eq!(
            ha_with(&[(
                "<workers>2</workers>",
                &format!("<workers>{workers}</workers>")
            )]),
            [format!(
                "/pfsense/rampart/workers: `{value}` is not a number from 1 to 64"
            )]
        );
    }
    assert_eq!(
        ha_with(&[("<polling>busy</polling>", "<polling>spin</polling>")]),
        ["/pfsense/rampart/polling: `spin` is not valid: expected adaptive or busy"]
    );
    assert_eq!(
        ha_with(&[(
            "<creatorid>1a2b3c4d</creatorid>",
            "<creatorid>1a2b3c</creatorid>"
        )]),
        ["/pfsense/rampart/creatorid: `1a2b3c` is not valid: expected exactly 8 hex digits"]
    );
    assert_eq!(
        ha_with(&[("<cores>2,3</cores>", "<cores>2;3</cores>")]),
        ["/pfsense/rampart/cores: `2;3` is not valid: expected a CPU list such as 1,2 or 2-5"]
    );
    assert_eq!(
        ha_with(&[("<workers>2</workers>", "<worker>2</worker>")]),
        ["/pfsense/rampart/worker: unknown element <worker>"]
    );
    let ok =
        "<workers>2</workers><ctlsocket>/run/fw1.sock</ctlsocket><metrics>[::1]:9100</metrics>";
    assert!(ha_with(&[("<workers>2</workers>", ok)]).is_empty());
    let mut doc = HA.replacen("<workers>2</workers>", ok, 1);
    let r = Config::parse(doc.as_bytes()).unwrap().rampart.unwrap();
    assert_eq!(r.ctl_socket.as_deref(), Some("/run/fw1.sock"));
    assert_eq!(r.metrics, Some("[::1]:9100".parse().unwrap()));
    doc = HA.replacen(
        "<workers>2</workers>",
        "<workers>2</workers><ctlsocket>fw1.sock</ctlsocket><metrics>localhost</metrics>",
        1,
    );
    assert_eq!(
        errors_of(&doc),
        [
            "/pfsense/rampart/ctlsocket: `fw1.sock` is not valid: expected an absolute path",
            "/pfsense/rampart/metrics: `localhost` is not valid: expected an address and port such as 127.0.0.1:9100 or [::1]:9100"
        ]
    );
}

#[test]
fn rampart_xmlrpc_settings() {
    let fp = "AB:".repeat(31) + "AB";
    let ok = format!(
        "<workers>2</workers><xmlrpc><listen>172.16.0.2:8443</listen>\
         <cert>/var/db/rampart/x.crt</cert><key>/var/db/rampart/x.key</key>\
         <maxbody>65536</maxbody><peerfingerprint>{fp}</peerfingerprint></xmlrpc>"
    );
    assert!(ha_with(&[("<workers>2</workers>", &ok)]).is_empty());
    let doc = HA.replacen("<workers>2</workers>", &ok, 1);
    let x = Config::parse(doc.as_bytes())
        .unwrap()
        .rampart
        .unwrap()
        .xmlrpc
        .unwrap();
    assert_eq!(x.listen, Some("172.16.0.2:8443".parse().unwrap()));
    assert_eq!(x.cert.as_deref(), Some("/var/db/rampart/x.crt"));
    assert_eq!(x.key.as_deref(), Some("/var/db/rampart/x.key"));
    assert_eq!(x.max_body, Some(65536));
    assert_eq!(x.peer_fingerprint.unwrap().0, [0xAB; 32]);
    assert!(!x.insecure);
    // An empty <xmlrpc> is valid: a primary that pushes, with no server.
    let empty = HA.replacen("<workers>2</workers>", "<workers>2</workers><xmlrpc/>", 1);
    let x = Config::parse(empty.as_bytes())
        .unwrap()
        .rampart
        .unwrap()
        .xmlrpc
        .unwrap();
    assert_eq!(x, rampart_control::config::XmlrpcSettings::default());
    let bad = "<workers>2</workers><xmlrpc><listen>172.16.0.2</listen><cert>x.crt</cert>\
         <maxbody>10</maxbody><peerfingerprint>AB:CD</peerfingerprint><insecure/><port>1</port></xmlrpc>";
    assert_eq!(
        ha_with(&[("<workers>2</workers>", bad)]),
        [
            "/pfsense/rampart/xmlrpc/port: unknown element <port>",
            "/pfsense/rampart/xmlrpc/listen: `172.16.0.2` is not valid: expected the management address and port, such as 172.16.0.2:443 or [fd00::2]:443",
            "/pfsense/rampart/xmlrpc/cert: `x.crt` is not valid: expected an absolute path",
            "/pfsense/rampart/xmlrpc/key: `` is not valid: expected both <cert> and <key>, or neither (then a self-signed certificate is generated)",
            "/pfsense/rampart/xmlrpc/maxbody: `10` is not a number from 1024 to 268435456",
            "/pfsense/rampart/xmlrpc/peerfingerprint: `AB:CD` is not valid: expected a SHA-256 fingerprint: 64 hex digits, colons allowed",
        ]
    );
    let both = format!(
        "<workers>2</workers><xmlrpc><peerfingerprint>{fp}</peerfingerprint><insecure></insecure></xmlrpc>"
    );
    assert_eq!(
        ha_with(&[("<workers>2</workers>", &both)]),
        [
            "/pfsense/rampart/xmlrpc/insecure: `` is not valid: expected either <peerfingerprint> or <insecure>, not both"
        ]
    );
}

#[test]
fn duplicate_names_in_lists() {
    assert_eq!(
        ha_with(&[("<name>WEB_PORTS</name>", "<name>WEB_SERVERS</name>")]),
        [
            "/pfsense/aliases/alias[2]/name: duplicate alias name `WEB_SERVERS`",
            // The renamed alias leaves the rule that used it dangling.
            "/pfsense/filter/rule[3]/destination/port: alias `WEB_PORTS` is not defined in <aliases>"
        ]
    );
    assert_eq!(
        ha_with(&[("<name>all</name>", "<name>admins</name>")]),
        ["/pfsense/system/group[2]/name: duplicate group name `admins`"]
    );
    assert_eq!(
        ha_with(&[("<uid>0</uid>", "<uid>root</uid>")]),
        ["/pfsense/system/user[1]/uid: `root` is not a number from 0 to 4294967295"]
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let errors = ha_with(&[
        ("<subnet>30</subnet>", "<subnet>99</subnet>"),
        ("<vhid>2</vhid>", "<vhid>0</vhid>"),
        ("<polling>busy</polling>", "<polling>x</polling>"),
        (
            "<pfsyncinterface>opt1</pfsyncinterface>",
            "<pfsyncinterface>opt5</pfsyncinterface>",
        ),
    ]);
    assert_eq!(errors.len(), 4, "{errors:#?}");
    let doc = ConfigDocument::parse(
        HA.replacen("<subnet>30</subnet>", "<subnet>99</subnet>", 1)
            .as_bytes(),
    )
    .unwrap();
    let err = Config::from_document(doc).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    assert_eq!(
        err.errors[0].kind,
        ConfigErrorKind::InvalidPrefix {
            value: "99".into(),
            max: 32
        }
    );
    assert!(
        err.to_string()
            .starts_with("1 problem(s) in the configuration\n  /pfsense/interfaces/opt1/subnet")
    );
}

#[test]
fn load_errors() {
    match Config::load(data("tests/data/does-not-exist.xml")) {
        Err(LoadError::Io { .. }) => {}
        other => panic!("{other:?}"),
    }
    match Config::parse(b"<pfsense>\n<system>\n</pfsense>") {
        Err(e @ LoadError::Xml { .. }) => assert!(e.to_string().contains("line 3"), "{e}"),
        other => panic!("{other:?}"),
    }
    match Config::parse(
        HA.replacen("<subnet>30</subnet>", "<subnet>x</subnet>", 1)
            .as_bytes(),
    ) {
        Err(e @ LoadError::Invalid { .. }) => {
            assert!(
                e.to_string().contains("/pfsense/interfaces/opt1/subnet"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn replacing_a_section_like_a_sync_receiver() {
    let primary = ha_doc();
    let mut secondary = ha_doc();
    // Secondary: same roles, its own addresses and no sync target.
    secondary.replace_section(
        Element::new("hasync")
            .with_child(Element::with_text("pfsyncenabled", "on"))
            .with_child(Element::with_text("pfsyncinterface", "opt1"))
            .with_child(Element::with_text("pfsyncpeerip", "172.16.0.1")),
    );
    let mut filter = primary.section("filter").unwrap().clone();
    filter.children_mut().retain(|r| !r.has_child("nosync"));
    secondary.replace_section(filter);
    // Users are replaced as a list inside <system>.
    let users: Vec<Element> = primary
        .section("system")
        .unwrap()
        .children_named("user")
        .cloned()
        .collect();
    secondary
        .section_mut("system")
        .unwrap()
        .replace_children_named("user", users);

    let c = Config::from_document(secondary).unwrap();
    assert_eq!(c.filter_rules.len(), 4);
    assert!(c.hasync.as_ref().unwrap().synchronize_to_ip.is_none());
    assert!(c.rampart.is_some(), "node-local sections are untouched");
    // Section order is kept.
    let names: Vec<_> = c.doc.sections().iter().map(Element::name).collect();
    let original: Vec<_> = primary.sections().iter().map(Element::name).collect();
    assert_eq!(names, original);
}

//! The typed `<filter>` model: what the HA example's rules read as, every fixture's rules
//! parse, and one negative test per rule check (error path and message).

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use rampart_control::config::{
    Config, ConfigDocument, Endpoint, EndpointAddr, FilterAction, PortSpec, Protocol,
    RuleDirection, RuleIpProtocol, StateType, TcpFlags,
};

const HA: &str = include_str!("data/ha-primary.xml");

/// The HA config with text replacements applied (each `from` must occur exactly once):
/// its validation errors rendered as `path: message`, and the typed model.
fn ha_with(edits: &[(&str, &str)]) -> (Vec<String>, Config) {
    let mut xml = HA.to_owned();
    for (from, to) in edits {
        assert_eq!(xml.matches(from).count(), 1, "`{from}` must occur once");
        xml = xml.replacen(from, to, 1);
    }
    let doc = ConfigDocument::parse(xml.as_bytes()).expect("test input parses");
    let (config, errors) = Config::analyze(doc);
    (errors.iter().map(ToString::to_string).collect(), config)
}

fn errors(edits: &[(&str, &str)]) -> Vec<String> {
    ha_with(edits).0
}

/// Rule 3 of the HA example: block tcp from 203.0.113.0/24 to WEB_SERVERS port WEB_PORTS.
const RULE3_PROTO: &str =
    "<protocol>tcp</protocol>\n\t\t\t<source>\n\t\t\t\t<address>203.0.113.0/24</address>";

#[test]
fn ha_rules_read_typed() {
    let (errs, c) = ha_with(&[]);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(c.filter.len(), 5);

    let sync = &c.filter[0];
    assert_eq!(sync.path, "/pfsense/filter/rule[1]");
    assert_eq!(sync.tracker, Some(1_700_000_001));
    assert_eq!(sync.action, FilterAction::Pass);
    assert_eq!(sync.interfaces, ["opt1"]);
    assert!(!sync.floating && sync.quick);
    assert_eq!(sync.direction, RuleDirection::In);
    assert_eq!(sync.ip_protocol, RuleIpProtocol::Inet);
    assert_eq!(sync.protocol, Protocol::Any);
    assert_eq!(sync.source.addr, EndpointAddr::Network("opt1".into()));
    assert_eq!(sync.destination.addr, EndpointAddr::Any);
    assert_eq!(sync.state_type, StateType::Keep);
    assert_eq!(sync.tcp_flags, TcpFlags::Default);
    assert_eq!(sync.descr, "SYNC: pfsync + XMLRPC between nodes");

    let block = &c.filter[2];
    assert_eq!(block.action, FilterAction::Block);
    assert_eq!(block.protocol, Protocol::Tcp);
    assert!(block.log);
    assert_eq!(
        block.source,
        Endpoint {
            addr: EndpointAddr::Address("203.0.113.0/24".into()),
            not: false,
            port: None
        }
    );
    assert_eq!(
        block.destination,
        Endpoint {
            addr: EndpointAddr::Address("WEB_SERVERS".into()),
            not: false,
            port: Some(PortSpec::Alias("WEB_PORTS".into()))
        }
    );

    let floating = &c.filter[3];
    assert!(floating.floating && floating.quick);
    assert_eq!(floating.interfaces, ["wan", "lan"]);
    assert_eq!(floating.direction, RuleDirection::Any);
    assert_eq!(floating.ip_protocol, RuleIpProtocol::Inet46);
    assert_eq!(floating.protocol, Protocol::TcpUdp);
    assert_eq!(floating.destination.port, Some(PortSpec::Range(137, 139)));

    let local = &c.filter[4];
    assert!(local.disabled && local.no_sync);
    assert_eq!(
        local.destination.addr,
        EndpointAddr::Network("lanip".into())
    );
    assert_eq!(local.destination.port, Some(PortSpec::Port(53)));

    // The summary is unchanged and agrees with the typed rules.
    for (typed, summary) in c.filter.iter().zip(&c.filter_rules) {
        assert_eq!(typed.index, summary.index);
        assert_eq!(typed.descr, summary.descr);
        assert_eq!(typed.floating, summary.floating);
    }
}

#[test]
fn optional_fields_and_icmp() {
    let (errs, c) = ha_with(&[(
        RULE3_PROTO,
        "<protocol>icmp</protocol><icmptype>echoreq,toobig,13</icmptype>\
         <statetype>sloppy state</statetype><tcpflags1>syn</tcpflags1><tcpflags2>syn,ack</tcpflags2>\
         <gateway>WANGW</gateway><sched>office</sched><tag>T</tag><tagged>U</tagged>\
         <vlanprio>none</vlanprio><nopfsync/><associated-rule-id>nat_1</associated-rule-id>\
         <source><not/><address>203.0.113.0/24</address>",
    )]);
    assert!(errs.is_empty(), "{errs:?}");
    let r = &c.filter[2];
    let Protocol::Icmp { types } = &r.protocol else {
        panic!("{:?}", r.protocol)
    };
    let codes: Vec<_> = types
        .iter()
        .map(|t| (t.name.as_str(), t.v4, t.v6))
        .collect();
    assert_eq!(
        codes,
        [
            ("echoreq", Some(8), Some(128)),
            ("toobig", None, Some(2)),
            ("13", Some(13), Some(13))
        ]
    );
    assert_eq!(r.state_type, StateType::Sloppy);
    assert_eq!(
        r.tcp_flags,
        TcpFlags::Custom {
            set: 0x02,
            out_of: 0x12
        }
    );
    assert!(r.source.not);
    assert_eq!(r.gateway.as_deref(), Some("WANGW"));
    assert_eq!(r.schedule.as_deref(), Some("office"));
    assert_eq!(
        (r.tag.as_deref(), r.tagged.as_deref()),
        (Some("T"), Some("U"))
    );
    assert_eq!(r.vlan_prio, None);
    assert!(r.no_pfsync);
    assert_eq!(r.associated_rule_id.as_deref(), Some("nat_1"));

    let (errs, c) = ha_with(&[(
        "<type>block</type>\n\t\t\t<interface>wan,lan</interface>",
        "<type>match</type><tcpflags_any/>\n\t\t\t<interface>any</interface>",
    )]);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(c.filter[3].action, FilterAction::Match);
    assert_eq!(c.filter[3].interfaces, ["any"]);
    assert_eq!(c.filter[3].tcp_flags, TcpFlags::Any);
}

#[test]
fn rule_values_are_checked() {
    let r1 = "/pfsense/filter/rule[1]";
    let r3 = "/pfsense/filter/rule[3]";
    let cases: &[(&str, &str, String)] = &[
        (
            "<type>pass</type>\n\t\t\t<interface>opt1</interface>",
            "<type>allow</type>\n\t\t\t<interface>opt1</interface>",
            format!("{r1}/type: `allow` is not valid: expected pass, block, reject or match"),
        ),
        (
            "<type>pass</type>\n\t\t\t<interface>opt1</interface>",
            "<type>match</type>\n\t\t\t<interface>opt1</interface>",
            format!(
                "{r1}/type: `match` is not valid: expected pass, block or reject (match is for floating rules only)"
            ),
        ),
        (
            "<tracker>1700000001</tracker>",
            "<tracker>soon</tracker>",
            format!("{r1}/tracker: `soon` is not a number from 0 to 4294967295"),
        ),
        (
            "<interface>opt1</interface>",
            "<interface>opt7</interface>",
            format!("{r1}/interface: interface `opt7` does not exist in <interfaces>"),
        ),
        (
            "<network>opt1</network>",
            "<network>opt9ip</network>",
            format!("{r1}/source/network: interface `opt9` does not exist in <interfaces>"),
        ),
        (
            "<tracker>1700000001</tracker>\n\t\t\t<type>pass</type>\n\t\t\t<interface>opt1</interface>\n\t\t\t<ipprotocol>inet</ipprotocol>",
            "<tracker>1700000001</tracker>\n\t\t\t<type>pass</type>\n\t\t\t<interface>opt1</interface>\n\t\t\t<ipprotocol>inet5</ipprotocol>",
            format!("{r1}/ipprotocol: `inet5` is not valid: expected inet, inet6 or inet46"),
        ),
        (
            "<direction>any</direction>",
            "<direction>both</direction>",
            "/pfsense/filter/rule[4]/direction: `both` is not valid: expected in, out or any".into(),
        ),
        (
            RULE3_PROTO,
            "<protocol>tcpp</protocol><source><address>203.0.113.0/24</address>",
            format!(
                "{r3}/protocol: `tcpp` is not valid: expected any, tcp, udp, tcp/udp, icmp, esp, ah, gre, \
                 etherip, ipv6, igmp, pim, ospf, sctp, carp, pfsync or a protocol number"
            ),
        ),
        (
            RULE3_PROTO,
            "<protocol>icmp</protocol><icmptype>echoreq,echo</icmptype><source><address>203.0.113.0/24</address>",
            format!("{r3}/icmptype: `echo` is not valid: expected an ICMP type name such as echoreq or unreach"),
        ),
        (
            RULE3_PROTO,
            "<protocol>tcp</protocol><tcpflags2>syn,bogus</tcpflags2><source><address>203.0.113.0/24</address>",
            format!(
                "{r3}/tcpflags2: `bogus` is not valid: expected TCP flag names: fin, syn, rst, psh, ack, urg, ece, cwr"
            ),
        ),
        (
            "<address>203.0.113.0/24</address>",
            "<address>2001:db8::/32</address>",
            format!("{r3}/source/address: address `2001:db8::/32` does not match <ipprotocol> `inet`"),
        ),
        (
            "<address>203.0.113.0/24</address>",
            "<address>203.0.113.0/33</address>",
            format!("{r3}/source/address: `203.0.113.0/33` is not a valid IP address"),
        ),
        (
            "<address>WEB_SERVERS</address>",
            "<address>NOPE</address>",
            format!("{r3}/destination/address: alias `NOPE` is not defined in <aliases>"),
        ),
        (
            "<address>WEB_SERVERS</address>",
            "<address>WEB_PORTS</address>",
            format!(
                "{r3}/destination/address: `WEB_PORTS` is not valid: expected an address, a network or a host/network alias"
            ),
        ),
        (
            "<port>WEB_PORTS</port>",
            "<port>WEB_SERVERS</port>",
            format!("{r3}/destination/port: `WEB_SERVERS` is not valid: expected a port alias"),
        ),
        (
            "<port>WEB_PORTS</port>",
            "<port>MISSING_PORTS</port>",
            format!("{r3}/destination/port: alias `MISSING_PORTS` is not defined in <aliases>"),
        ),
        (
            "<port>137-139</port>",
            "<port>139-137</port>",
            "/pfsense/filter/rule[4]/destination/port: `139-137` is not valid: expected a port 1-65535, \
             a range such as 1000-2000, or a port alias"
                .into(),
        ),
        (
            "<port>53</port>",
            "<port>65536</port>",
            "/pfsense/filter/rule[5]/destination/port: `65536` is not valid: expected a port 1-65535, \
             a range such as 1000-2000, or a port alias"
                .into(),
        ),
        (
            "<source>\n\t\t\t\t<network>opt1</network>\n\t\t\t</source>",
            "<source></source>",
            format!("{r1}/source: required value is missing or empty"),
        ),
        (
            "<statetype><![CDATA[keep state]]></statetype>\n\t\t\t<source>\n\t\t\t\t<network>opt1</network>",
            "<statetype>bogus state</statetype>\n\t\t\t<source>\n\t\t\t\t<network>opt1</network>",
            format!(
                "{r1}/statetype: `bogus state` is not valid: expected keep state, sloppy state, synproxy state or none"
            ),
        ),
    ];
    for (from, to, expected) in cases {
        let (errs, c) = ha_with(&[(from, to)]);
        assert_eq!(&errs, std::slice::from_ref(expected), "{to}");
        // The rule with the problem is left out of the typed list, not of the summary.
        assert_eq!(c.filter.len(), 4, "{to}");
        assert_eq!(c.filter_rules.len(), 5);
    }
}

#[test]
fn groups_are_lenient_and_fragments_unchecked() {
    // Interface groups and tunnels are accepted (and only logged).
    for group in ["openvpn", "enc0", "ipsec", "wireguard", "MYGROUP"] {
        let errs = errors(&[(
            "<interface>opt1</interface>",
            &format!("<interface>{group}</interface>"),
        )]);
        assert!(errs.is_empty(), "{group}: {errs:?}");
    }
    assert!(errors(&[("<network>opt1</network>", "<network>(self)</network>")]).is_empty());
    // A document without <interfaces> is a fragment: its references are not checked.
    let xml = br#"<pfsense><filter><rule><type>pass</type><interface>opt4</interface>
        <source><network>opt4ip</network></source><destination><any/></destination></rule></filter></pfsense>"#;
    let (config, errs) = Config::analyze(ConfigDocument::parse(xml).unwrap());
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(config.filter.len(), 1);
}

#[test]
fn every_fixture_rule_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/pfsense-configs");
    let mut rules = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "xml") {
            continue;
        }
        let doc = ConfigDocument::parse(&std::fs::read(&path).unwrap()).unwrap();
        let (c, errs) = Config::analyze(doc);
        assert!(errs.is_empty(), "{}: {errs:?}", path.display());
        assert_eq!(c.filter.len(), c.filter_rules.len(), "{}", path.display());
        rules += c.filter.len();
    }
    assert_eq!(rules, 33);
}

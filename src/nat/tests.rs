use super::*;
use crate::ruleset::port_map;
use rampart_dataplane::state::PacketKey;
use rampart_dataplane::wire::IpProtocol;

fn config(nat: &str) -> Config {
    let xml = format!(
        r#"<?xml version="1.0"?>
<pfsense>
	<version>23.3</version>
	<interfaces>
		<wan><enable></enable><if>wan0</if><ipaddr>203.0.113.2</ipaddr><subnet>24</subnet><gateway>WANGW</gateway></wan>
		<lan><enable></enable><if>lan0</if><ipaddr>10.0.1.1</ipaddr><subnet>24</subnet></lan>
		<opt1><enable></enable><if>dmz0</if><ipaddr>10.0.2.1</ipaddr><subnet>24</subnet></opt1>
	</interfaces>
	<gateways>
		<gateway_item><interface>wan</interface><gateway>203.0.113.1</gateway><name>WANGW</name><ipprotocol>inet</ipprotocol></gateway_item>
		<defaultgw4>WANGW</defaultgw4>
	</gateways>
	<virtualip>
		<vip><mode>carp</mode><interface>wan</interface><vhid>1</vhid><subnet>203.0.113.10</subnet><subnet_bits>24</subnet_bits><password>x</password><advskew>0</advskew><advbase>1</advbase></vip>
	</virtualip>
	<aliases>
		<alias><name>web</name><type>host</type><address>10.0.2.80</address></alias>
	</aliases>
	{nat}
	<rampart>
		<port><if>lan0</if><devargs>net_ring0</devargs></port>
		<port><if>wan0</if><devargs>net_ring1</devargs></port>
		<port><if>dmz0</if><devargs>net_ring2</devargs></port>
	</rampart>
</pfsense>"#
    );
    Config::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn compile(nat: &str) -> CompiledNat {
    let c = config(nat);
    compile_nat(&c, &port_map(&c)).unwrap()
}

fn key(src: &str, sport: u16, dst: &str, dport: u16, proto: IpProtocol) -> PacketKey {
    PacketKey::v4(
        src.parse().unwrap(),
        sport,
        dst.parse().unwrap(),
        dport,
        proto,
    )
}

const WAN: usize = 1;

#[test]
fn test_automatic_mode_nats_local_subnets_out_of_the_wan() {
    let c = compile("");
    let out = |k| c.nat.outbound(WAN, &k);
    let wan_ip: Ipv4Addr = "203.0.113.2".parse().unwrap();
    for src in ["10.0.1.5", "10.0.2.9"] {
        assert_eq!(
            out(key(src, 40000, "198.51.100.7", 443, IpProtocol::TCP)),
            Some(OutboundAction::Translate {
                addr: wan_ip,
                ports: PortPolicy::Range(DEFAULT_PORT_RANGE)
            })
        );
    }
    assert_eq!(
        out(key("10.0.1.5", 500, "198.51.100.7", 500, IpProtocol::UDP)),
        Some(OutboundAction::Translate {
            addr: wan_ip,
            ports: PortPolicy::Static
        }),
        "ISAKMP keeps its port"
    );
    assert_eq!(
        out(key("192.168.9.9", 1, "198.51.100.7", 2, IpProtocol::TCP)),
        None
    );
    // Nothing is translated leaving the LAN.
    assert_eq!(
        c.nat
            .outbound(0, &key("10.0.2.9", 1, "10.0.1.5", 2, IpProtocol::TCP)),
        None
    );
}

#[test]
fn test_hybrid_manual_rules_first_and_targets() {
    let nat = r#"<nat><outbound><mode>hybrid</mode>
		<rule><interface>wan</interface><source><network>10.0.2.0/24</network></source>
			<destination><any/></destination><target>203.0.113.10</target></rule>
		<rule><interface>wan</interface><source><network>10.0.1.0/24</network></source>
			<destination><network>198.51.100.0/24</network></destination><nonat/></rule>
		<rule><interface>wan</interface><source><network>::1/128</network></source>
			<destination><any/></destination></rule>
	</outbound></nat>"#;
    let c = compile(nat);
    assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
    assert!(c.skipped[0].1.contains("IPv6"));
    let vip: Ipv4Addr = "203.0.113.10".parse().unwrap();
    assert!(matches!(
        c.nat.outbound(WAN, &key("10.0.2.9", 1, "8.8.8.8", 53, IpProtocol::UDP)),
        Some(OutboundAction::Translate { addr, .. }) if addr == vip
    ));
    assert_eq!(
        c.nat.outbound(
            WAN,
            &key("10.0.1.9", 1, "198.51.100.1", 80, IpProtocol::TCP)
        ),
        Some(OutboundAction::NoNat)
    );
    // The automatic rules follow the manual ones.
    assert!(matches!(
        c.nat
            .outbound(WAN, &key("10.0.1.9", 1, "8.8.8.8", 80, IpProtocol::TCP)),
        Some(OutboundAction::Translate { .. })
    ));
    // Manual mode keeps only the manual rules; disabled has none.
    let manual = compile(&nat.replace("hybrid", "advanced"));
    assert_eq!(
        manual
            .nat
            .outbound(WAN, &key("10.0.1.9", 1, "8.8.8.8", 80, IpProtocol::TCP)),
        None
    );
    assert!(
        compile("<nat><outbound><mode>disabled</mode></outbound></nat>")
            .nat
            .is_empty()
    );
}

#[test]
fn test_port_forward_to_an_alias_target() {
    let nat = r#"<nat><rule>
		<source><any/></source>
		<destination><network>wanip</network><port>8080-8081</port></destination>
		<protocol>tcp</protocol><target>web</target><local-port>80</local-port>
		<interface>wan</interface><associated-rule-id>pass</associated-rule-id>
	</rule></nat>"#;
    let c = compile(nat);
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    let to = c
        .nat
        .port_forward(
            WAN,
            &key("198.51.100.7", 5000, "203.0.113.2", 8081, IpProtocol::TCP),
        )
        .unwrap();
    assert_eq!(
        to,
        key("198.51.100.7", 5000, "10.0.2.80", 81, IpProtocol::TCP)
    );
    assert_eq!(
        c.nat.port_forward(
            WAN,
            &key("198.51.100.7", 5000, "203.0.113.2", 8082, IpProtocol::TCP)
        ),
        None
    );
}

#[test]
fn test_every_fixture_nat_compiles_or_explains() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/pfsense-configs");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut seen = 0;
    for entry in entries.flatten() {
        let Ok(config) = Config::load(entry.path()) else {
            continue;
        };
        // Fixtures have no <rampart>: map every enabled interface to a port, in order.
        let ports: Vec<(String, usize)> = config
            .interfaces
            .iter()
            .filter(|i| i.enabled)
            .enumerate()
            .map(|(n, i)| (i.key.clone(), n))
            .collect();
        match compile_nat(&config, &ports) {
            Ok(_) => seen += 1,
            Err(e) => assert!(
                e.to_string().contains("alias"),
                "{}: {e}",
                entry.path().display()
            ),
        }
    }
    assert!(seen > 0);
}

#[test]
fn test_one_to_one_nat_is_reported_not_ignored() {
    let nat = r#"<nat><onetoone><external>203.0.113.50</external><interface>wan</interface>
		<source><address>10.0.1.50</address></source><destination><any/></destination></onetoone>
		<onetoone><disabled/><external>203.0.113.51</external><interface>wan</interface>
		<source><address>10.0.1.51</address></source><destination><any/></destination></onetoone></nat>"#;
    let c = compile(nat);
    assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
    assert!(c.skipped[0].1.contains("1:1 NAT"));
}

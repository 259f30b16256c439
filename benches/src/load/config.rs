//! The node's config.xml: the same pfSense file the daemon reads, written for the bench
//! topology (LAN, WAN, an optional fill port and an optional pfsync port) with `rules` filter
//! rules.

use std::fmt::Write as _;

use super::flows::addr;

/// What the config holds.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// DPDK devargs of the LAN port.
    pub lan: String,
    /// DPDK devargs of the WAN port.
    pub wan: String,
    /// DPDK devargs of the fill port, if any.
    pub fill: Option<String>,
    /// DPDK devargs of the pfsync port (pfsync on), if any.
    pub sync: Option<String>,
    /// Filter rules in all (at least the passing ones: 2, or 3 with a fill port); the others
    /// block traffic the bench never sends, ahead of the passing ones.
    pub rules: usize,
    /// `<maximumstates>`.
    pub max_states: usize,
    /// Worker lcores.
    pub workers: usize,
    /// CPUs of the workers, in order.
    pub cores: Vec<usize>,
}

fn pass_rule(tracker: u64, iface: &str) -> String {
    format!(
        "\t\t<rule><tracker>{tracker}</tracker><type>pass</type><interface>{iface}</interface>\
         <ipprotocol>inet</ipprotocol><statetype><![CDATA[keep state]]></statetype>\
         <source><any></any></source><destination><any></any></destination>\
         <descr><![CDATA[bench: pass in on {iface}]]></descr></rule>\n"
    )
}

/// Rule `n` of the non-matching ones: TCP or UDP from a documentation address to a port,
/// alternating interfaces, so each is a distinct rule of realistic shape.
fn block_rule(n: usize) -> String {
    let iface = if n.is_multiple_of(2) { "lan" } else { "wan" };
    let proto = if n.is_multiple_of(3) { "udp" } else { "tcp" };
    let src = format!("192.0.2.{}", n % 250 + 1);
    let port = 1000 + n;
    format!(
        "\t\t<rule><tracker>{tracker}</tracker><type>block</type><interface>{iface}</interface>\
         <ipprotocol>inet</ipprotocol><protocol>{proto}</protocol>\
         <source><address>{src}</address></source>\
         <destination><any></any><port>{port}</port></destination>\
         <descr><![CDATA[bench: block {n}]]></descr></rule>\n",
        tracker = 1_700_000_000 + n as u64
    )
}

impl NodeConfig {
    /// The passing rules this config needs.
    pub fn pass_rules(&self) -> usize {
        2 + usize::from(self.fill.is_some())
    }

    /// The config.xml text.
    pub fn to_xml(&self) -> String {
        let mut filter = String::new();
        for n in 0..self.rules.saturating_sub(self.pass_rules()) {
            filter.push_str(&block_rule(n));
        }
        filter.push_str(&pass_rule(1_600_000_001, "lan"));
        filter.push_str(&pass_rule(1_600_000_002, "wan"));
        let mut ifaces = format!(
            "\t\t<lan><enable></enable><if>lan0</if><ipaddr>{}</ipaddr><subnet>24</subnet></lan>\n\
             \t\t<wan><enable></enable><if>wan0</if><ipaddr>{}</ipaddr><subnet>24</subnet></wan>\n",
            addr::LAN_IP,
            addr::WAN_IP
        );
        let mut ports = format!(
            "\t\t<port><if>lan0</if><devargs>{}</devargs></port>\n\
             \t\t<port><if>wan0</if><devargs>{}</devargs></port>\n",
            self.lan, self.wan
        );
        if let Some(fill) = &self.fill {
            filter.push_str(&pass_rule(1_600_000_003, "opt2"));
            let _ = writeln!(
                ifaces,
                "\t\t<opt2><enable></enable><if>fill0</if><ipaddr>{}</ipaddr><subnet>24</subnet></opt2>",
                addr::FILL_IP
            );
            let _ = writeln!(
                ports,
                "\t\t<port><if>fill0</if><devargs>{fill}</devargs></port>"
            );
        }
        let mut hasync = String::new();
        if let Some(sync) = &self.sync {
            let _ = writeln!(
                ifaces,
                "\t\t<opt1><enable></enable><if>sync0</if><ipaddr>{}</ipaddr><subnet>24</subnet></opt1>",
                addr::SYNC_IP
            );
            let _ = writeln!(
                ports,
                "\t\t<port><if>sync0</if><devargs>{sync}</devargs></port>"
            );
            hasync = "\t<hasync><pfsyncenabled>on</pfsyncenabled><pfsyncinterface>opt1</pfsyncinterface>\
                      <pfhostid>b0b0</pfhostid></hasync>\n"
                .to_string();
        }
        let cores = self
            .cores
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let cores = if cores.is_empty() {
            String::new()
        } else {
            format!("<cores>{cores}</cores>")
        };
        format!(
            r#"<?xml version="1.0"?>
<pfsense>
	<version>23.3</version>
	<system>
		<hostname>bench</hostname>
		<domain>bench.test</domain>
		<maximumstates>{max_states}</maximumstates>
	</system>
	<interfaces>
{ifaces}	</interfaces>
	<gateways>
		<gateway_item><interface>wan</interface><gateway>{wan_gw}</gateway><name>WANGW</name><weight>1</weight><ipprotocol>inet</ipprotocol></gateway_item>
		<gateway_item><interface>lan</interface><gateway>{lan_gw}</gateway><name>LANGW</name><weight>1</weight><ipprotocol>inet</ipprotocol></gateway_item>
		<defaultgw4>WANGW</defaultgw4>
	</gateways>
	<staticroutes>
		<route><network>{clients}/12</network><gateway>LANGW</gateway></route>
	</staticroutes>
	<nat><outbound><mode>disabled</mode></outbound></nat>
	<filter>
{filter}	</filter>
{hasync}	<rampart>
		<workers>{workers}</workers>
		<polling>busy</polling>
		{cores}
{ports}	</rampart>
</pfsense>
"#,
            max_states = self.max_states.max(1),
            wan_gw = addr::WAN_GW,
            lan_gw = addr::LAN_GW,
            clients = addr::CLIENTS,
            workers = self.workers.max(1),
        )
    }
}

//! CARP on a running node: the vhids from `<virtualip>`, one [`Machine`] each, driven by the
//! node's clock on the control thread. Workers punt the CARP packets they receive; adverts
//! and gratuitous ARPs go out through worker 0; becoming MASTER or BACKUP publishes a new
//! VIP table that every worker follows within a few milliseconds (`dataplane::vip`).
//!
//! The node's demotion counter takes the pfsync bulk update (+240 while it is pending, as
//! pfSense) and data ports whose link is down; maintenance mode (advskew 254) is kept in a
//! file beside the config so that it survives a restart, and the control socket turns it on
//! or off live through [`CarpRuntime::maintenance`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rampart_control::carp::{
    Action, Config as VhidConfig, Demotion, DemotionFactors, Event, Incoming, Machine, State,
    Transition, rx,
};
use rampart_control::config::{Config, Ipv4Mode, VipMode};
use rampart_dataplane::control_link::{ControlLink, PortFrame};
use rampart_dataplane::time::{Instant, MonotonicClock};
use rampart_dataplane::vip::{Vip, VipTable, virtual_mac};
use rampart_dataplane::wire::{
    ArpOperation, ArpPacket, ArpRepr, EtherType, EthernetFrame, EthernetRepr, IpProtocol,
    Ipv4Packet, Ipv4Repr, MacAddr,
};
use thiserror::Error;

/// CARP's IPv4 group.
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
const GROUP_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
/// The control thread wakes at least this often.
const MAX_SLEEP: Duration = Duration::from_millis(5);

/// One vhid of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhidSpec {
    /// Data port index.
    pub port: usize,
    /// Port name, for logs.
    pub port_name: String,
    /// The port's own address (adverts' source).
    pub port_addr: Ipv4Addr,
    /// The vhid's settings.
    pub vhid: u8,
    /// Advert base interval, seconds.
    pub advbase: u8,
    /// Skew.
    pub advskew: u8,
    /// Shared password.
    pub password: String,
    /// The CARP VIP and the IP aliases stacked on it.
    pub addrs: Vec<Ipv4Addr>,
    /// Unicast CARP: adverts go to this address instead of 224.0.0.18.
    pub peer: Option<Ipv4Addr>,
}

/// A `<virtualip>` the node cannot run.
#[derive(Debug, Error)]
pub enum CarpSetupError {
    /// A CARP VIP on an interface without a DPDK port.
    #[error("/pfsense/virtualip/vip[{index}]: interface {interface} has no DPDK port")]
    NoPort {
        /// 1-based position.
        index: usize,
        /// Interface key.
        interface: String,
    },
    /// A CARP VIP on an interface without a static IPv4 address to send adverts from.
    #[error("/pfsense/virtualip/vip[{index}]: interface {interface} needs a static IPv4 address")]
    NoAddress {
        /// 1-based position.
        index: usize,
        /// Interface key.
        interface: String,
    },
    /// IPv6 CARP VIPs are not carried by the dataplane yet.
    #[error("/pfsense/virtualip/vip[{0}]: IPv6 CARP VIPs are not supported yet")]
    Ipv6(usize),
    /// Two vhids with the same number on one port.
    #[error("/pfsense/virtualip/vip[{index}]: vhid {vhid} is already used on {interface}")]
    DuplicateVhid {
        /// 1-based position.
        index: usize,
        /// The vhid.
        vhid: u8,
        /// Interface key.
        interface: String,
    },
}

/// The vhids of `config`: CARP VIPs on data ports, with the IP aliases stacked on them
/// (`<interface>_vip<uniqid>` of a CARP VIP); `ports` maps interface keys to port indices.
///
/// # Errors
/// [`CarpSetupError`] for a VIP the node cannot run.
pub fn vhids(config: &Config, ports: &[(String, usize)]) -> Result<Vec<VhidSpec>, CarpSetupError> {
    let mut out: Vec<VhidSpec> = Vec::new();
    for (i, vip) in config.virtual_ips.iter().enumerate() {
        let index = i + 1;
        if vip.mode != VipMode::Carp {
            continue;
        }
        let (Some(vhid), Some(addr)) = (vip.vhid, vip.address) else {
            continue; // validation reports these
        };
        let IpAddr::V4(addr) = addr else {
            return Err(CarpSetupError::Ipv6(index));
        };
        let port = ports
            .iter()
            .find(|(key, _)| *key == vip.interface)
            .map(|(_, p)| *p)
            .ok_or_else(|| CarpSetupError::NoPort {
                index,
                interface: vip.interface.clone(),
            })?;
        let port_addr = match config.interface(&vip.interface).map(|i| &i.ipv4) {
            Some(Ipv4Mode::Static(cidr)) => cidr.addr,
            _ => {
                return Err(CarpSetupError::NoAddress {
                    index,
                    interface: vip.interface.clone(),
                });
            }
        };
        if out.iter().any(|v| v.port == port && v.vhid == vhid) {
            return Err(CarpSetupError::DuplicateVhid {
                index,
                vhid,
                interface: vip.interface.clone(),
            });
        }
        let mut addrs = vec![addr];
        let parent = format!("_vip{}", vip.uniqid);
        for alias in &config.virtual_ips {
            if alias.mode == VipMode::IpAlias
                && !vip.uniqid.is_empty()
                && alias.interface == parent
                && let Some(IpAddr::V4(a)) = alias.address
            {
                addrs.push(a);
            }
        }
        out.push(VhidSpec {
            port,
            port_name: vip.interface.clone(),
            port_addr,
            vhid,
            advbase: vip.advbase_or_default(),
            advskew: vip.advskew_or_default(),
            password: vip.password.clone(),
            addrs,
            peer: vip.peer,
        });
    }
    Ok(out)
}

/// The dataplane's VIP table for `vhids`, every vhid BACKUP.
pub fn vip_table(vhids: &[VhidSpec]) -> Vec<Vip> {
    vhids
        .iter()
        .flat_map(|v| {
            v.addrs.iter().map(|&addr| Vip {
                port: v.port,
                addr,
                vhid: v.vhid,
                master: false,
            })
        })
        .collect()
}

/// One vhid's line of the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VhidStatus {
    /// Interface key.
    pub interface: String,
    /// The vhid.
    pub vhid: u8,
    /// INIT, BACKUP or MASTER.
    pub state: State,
    /// Skew in use (254 in maintenance).
    pub advskew: u8,
    /// The last transition, as logged.
    pub last_transition: Option<String>,
    /// Transitions so far.
    pub transitions: u64,
    /// Adverts sent and received.
    pub adverts_sent: u64,
    /// Adverts received.
    pub adverts_received: u64,
    /// Drops by reason (`name count`).
    pub drops: Vec<(String, u64)>,
}

/// CARP's status, published for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CarpStatus {
    /// Per vhid.
    pub vhids: Vec<VhidStatus>,
    /// The node's demotion total.
    pub demotion: i32,
    /// Whether maintenance mode is on.
    pub maintenance: bool,
    /// CARP packets no vhid of ours matched (other vhids on the segment).
    pub unknown_vhid: u64,
    /// CARP packets too short or with a bad checksum (before any vhid is known).
    pub malformed: u64,
    /// Frames the workers could not take.
    pub send_failed: u64,
}

impl CarpStatus {
    /// `name value` lines for the node's report.
    pub fn format(&self) -> String {
        let mut out = format!(
            "carp demotion {}  maintenance {}  unknown_vhid {}  carp_malformed {}  carp_send_failed {}\n",
            self.demotion, self.maintenance, self.unknown_vhid, self.malformed, self.send_failed
        );
        for v in &self.vhids {
            let drops: Vec<String> = v.drops.iter().map(|(n, c)| format!("{n} {c}")).collect();
            out.push_str(&format!(
                "carp vhid {} on {}: {}  advskew {}  transitions {}  adverts_sent {}  \
                 adverts_received {}  drops: {}  last: {}\n",
                v.vhid,
                v.interface,
                v.state,
                v.advskew,
                v.transitions,
                v.adverts_sent,
                v.adverts_received,
                if drops.is_empty() {
                    "none".to_string()
                } else {
                    drops.join("  ")
                },
                v.last_transition.as_deref().unwrap_or("-"),
            ));
        }
        out
    }
}

/// What the CARP thread needs from the node.
pub struct CarpRuntime {
    /// The vhids.
    pub vhids: Vec<VhidSpec>,
    /// The workers' side.
    pub link: ControlLink,
    /// The node's clock.
    pub clock: MonotonicClock,
    /// Whether a pfsync bulk update of ours is pending (demote by 240 meanwhile).
    pub bulk_pending: Box<dyn Fn() -> bool + Send>,
    /// Link state of every data port, by index.
    pub links_up: Box<dyn Fn() -> Vec<bool> + Send>,
    /// Maintenance mode as the operator wants it: set from the persistent file at start
    /// ([`load_maintenance`]), changed live by the control socket; the thread follows it
    /// within a few milliseconds.
    pub maintenance: Arc<AtomicBool>,
    /// Set to stop: every MASTER sends its bow-out first.
    pub stop: Arc<AtomicBool>,
    /// Where the status goes.
    pub status: Arc<ArcSwap<CarpStatus>>,
}

/// Maintenance mode as recorded in `path` (off when the file is missing; off, with an error
/// logged, when it cannot be read).
pub fn load_maintenance(path: &Path) -> bool {
    match rampart_control::carp::maintenance::load(path) {
        Ok(record) => record.enabled,
        Err(err) => {
            tracing::error!(%err, "maintenance mode record unreadable; starting out of maintenance");
            false
        }
    }
}

/// Runs CARP until `stop`; sends the bow-outs before returning.
pub fn run(rt: CarpRuntime) {
    let mut machines: Vec<(VhidSpec, Machine, Option<String>, u64)> = Vec::new();
    let mut maintenance = rt.maintenance.load(Ordering::Relaxed);
    let now = rt.clock.now();
    for (i, spec) in rt.vhids.iter().enumerate() {
        let mut config = VhidConfig::new(
            spec.vhid,
            spec.password.as_bytes().to_vec(),
            spec.addrs.iter().map(|a| IpAddr::V4(*a)).collect(),
        );
        config.advbase = spec.advbase;
        config.advskew = spec.advskew;
        config.local = vec![IpAddr::V4(spec.port_addr)];
        // Unicast adverts may cross routers: FreeBSD skips the TTL check for them.
        config.check_ttl = spec.peer.is_none();
        let seed = u64::from(std::process::id()) << 16 | i as u64;
        match Machine::new(config, seed) {
            Ok(mut m) => {
                m.handle(now, Event::Maintenance(maintenance));
                m.handle(now, Event::LinkUp);
                machines.push((spec.clone(), m, None, 0));
            }
            Err(err) => tracing::error!(vhid = spec.vhid, %err, "CARP vhid not started"),
        }
    }
    let by_key: HashMap<(usize, u8), usize> = machines
        .iter()
        .enumerate()
        .map(|(i, (s, ..))| ((s.port, s.vhid), i))
        .collect();
    let mut table = VipTable::new(vip_table(&rt.vhids));
    let mut demotion = Demotion::new(DemotionFactors::default());
    let mut status = CarpStatus {
        maintenance,
        ..CarpStatus::default()
    };
    let mut last_links = Instant::ZERO;
    let mut last_publish = Instant::ZERO;
    loop {
        let now = rt.clock.now();
        let stopping = rt.stop.load(Ordering::Relaxed);
        let wanted = rt.maintenance.load(Ordering::Relaxed);
        if wanted != maintenance {
            maintenance = wanted;
            tracing::info!(maintenance, "CARP maintenance mode changed by the operator");
            for (_, m, ..) in &mut machines {
                m.handle(now, Event::Maintenance(maintenance));
            }
            status.maintenance = maintenance;
            last_publish = Instant::ZERO;
        }
        if stopping {
            for (_, m, ..) in &mut machines {
                m.handle(now, Event::Shutdown);
            }
        }
        while let Some(frame) = rt.link.take_punted() {
            receive(&frame, now, &by_key, &mut machines, &mut status);
        }
        if now.since(last_links) >= Duration::from_millis(100) {
            last_links = now;
            let before = demotion.total();
            demotion.set_bulk_pending((rt.bulk_pending)());
            let links = (rt.links_up)();
            for (spec, ..) in &machines {
                let down = !links.get(spec.port).copied().unwrap_or(true);
                demotion.set_link_down(
                    u16::try_from(spec.port).unwrap_or(u16::MAX),
                    spec.vhid,
                    down,
                );
            }
            if demotion.total() != before {
                tracing::info!(demotion = demotion.total(), "CARP demotion changed");
                for (_, m, ..) in &mut machines {
                    m.handle(now, Event::Demotion(demotion.total()));
                }
            }
            status.demotion = demotion.total();
        }
        for (_, m, ..) in &mut machines {
            if m.poll_timeout().is_some_and(|t| t <= now) {
                m.handle(now, Event::Tick);
            }
        }
        for (spec, m, last, transitions) in &mut machines {
            while let Some(action) = m.poll_action() {
                match action {
                    Action::Transition(t) => {
                        log_transition(spec, &t);
                        *last = Some(t.to_string());
                        *transitions += 1;
                    }
                    Action::SendAdvert(out) => {
                        if out.family == rampart_control::carp::Family::V4 {
                            let frame = advert_frame(spec, &out.bytes);
                            send(&rt.link, spec.port, spec.peer, frame, &mut status);
                        }
                    }
                    Action::BecomeMaster => {
                        table = table.with_master(spec.vhid, true);
                        rt.link.publish_vips(table.clone());
                        for addr in &spec.addrs {
                            send(&rt.link, spec.port, None, garp(spec, *addr), &mut status);
                        }
                    }
                    Action::Announce => {
                        for addr in &spec.addrs {
                            send(&rt.link, spec.port, None, garp(spec, *addr), &mut status);
                        }
                    }
                    Action::StopAnswering => {
                        table = table.with_master(spec.vhid, false);
                        rt.link.publish_vips(table.clone());
                    }
                }
            }
        }
        if stopping || now.since(last_publish) >= Duration::from_millis(250) {
            last_publish = now;
            status.vhids = machines
                .iter()
                .map(|(spec, m, last, transitions)| vhid_status(spec, m, last, *transitions))
                .collect();
            rt.status.store(Arc::new(status.clone()));
        }
        if stopping {
            return;
        }
        let next = machines
            .iter()
            .filter_map(|(_, m, ..)| m.poll_timeout())
            .min()
            .map_or(MAX_SLEEP, |t| t.since(now).min(MAX_SLEEP));
        std::thread::sleep(next.max(Duration::from_micros(200)));
    }
}

fn log_transition(spec: &VhidSpec, t: &Transition) {
    tracing::info!(
        vhid = spec.vhid,
        interface = %spec.port_name,
        from = %t.from,
        to = %t.to,
        reason = t.reason.name(),
        "CARP transition"
    );
}

fn vhid_status(
    spec: &VhidSpec,
    m: &Machine,
    last: &Option<String>,
    transitions: u64,
) -> VhidStatus {
    let stats = m.stats();
    VhidStatus {
        interface: spec.port_name.clone(),
        vhid: spec.vhid,
        state: m.state(),
        advskew: m.advskew(),
        last_transition: last.clone(),
        transitions,
        adverts_sent: stats.adverts_sent,
        adverts_received: stats.adverts_received,
        drops: stats
            .drops
            .iter()
            .filter(|(_, c)| *c > 0)
            .map(|(n, c)| (n.to_string(), c))
            .collect(),
    }
}

/// A punted frame: IPv4 protocol 112 (the worker checked that much) to the vhid it names.
fn receive(
    frame: &PortFrame,
    now: Instant,
    by_key: &HashMap<(usize, u8), usize>,
    machines: &mut [(VhidSpec, Machine, Option<String>, u64)],
    status: &mut CarpStatus,
) {
    let Some(l3) = frame.bytes.get(14..) else {
        return;
    };
    let Ok(ip) = Ipv4Packet::new_checked(l3) else {
        return;
    };
    if ip.next_header() != IpProtocol::CARP || ip.is_fragment() {
        return;
    }
    let payload = ip.payload();
    let Ok(packet) = rx::parse(payload) else {
        status.malformed += 1;
        return;
    };
    let Some(&i) = by_key.get(&(frame.port, packet.vhid())) else {
        status.unknown_vhid += 1;
        return;
    };
    if let Some((_, m, ..)) = machines.get_mut(i) {
        let incoming = Incoming {
            src: IpAddr::V4(ip.src_addr()),
            ttl: ip.ttl(),
            bytes: payload,
        };
        let _ = m.receive(now, &incoming);
    }
}

/// Queues `bytes` for worker 0; with `next_hop`, the worker fills in its MAC (unicast CARP).
fn send(
    link: &ControlLink,
    port: usize,
    next_hop: Option<Ipv4Addr>,
    bytes: Vec<u8>,
    status: &mut CarpStatus,
) {
    if !link.send(PortFrame {
        port,
        bytes,
        next_hop,
    }) {
        status.send_failed += 1;
    }
}

/// An advert: from the virtual MAC (as the BSDs send it) and the port's address, to the group
/// (or the unicast peer, whose MAC the worker fills in) with TTL 255.
fn advert_frame(spec: &VhidSpec, carp: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + 20 + carp.len()];
    EthernetRepr {
        src_addr: virtual_mac(spec.vhid),
        dst_addr: if spec.peer.is_some() {
            MacAddr::ZERO
        } else {
            GROUP_MAC
        },
        ethertype: EtherType::IPV4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    Ipv4Repr {
        src_addr: spec.port_addr,
        dst_addr: spec.peer.unwrap_or(GROUP),
        next_header: IpProtocol::CARP,
        payload_len: carp.len(),
        ttl: 255,
        dscp: 0x30, // CS6 (internetwork control), as carp(4) marks adverts
        ident: 0,
        dont_frag: false,
    }
    .emit(&mut Ipv4Packet::new_unchecked(&mut frame[14..]));
    frame[34..].copy_from_slice(carp);
    frame
}

/// A gratuitous ARP for `addr` from the vhid's virtual MAC, so switches and hosts move the
/// address to this node.
fn garp(spec: &VhidSpec, addr: Ipv4Addr) -> Vec<u8> {
    let vmac = virtual_mac(spec.vhid);
    let mut frame = vec![0u8; 60];
    EthernetRepr {
        src_addr: vmac,
        dst_addr: MacAddr::BROADCAST,
        ethertype: EtherType::ARP,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    ArpRepr {
        operation: ArpOperation::Request,
        source_hardware_addr: vmac,
        source_protocol_addr: addr,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: addr,
    }
    .emit(&mut ArpPacket::new_unchecked(&mut frame[14..42]));
    frame
}

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
    /// The vhids the node should run. The thread follows a new list within a few
    /// milliseconds (a config apply or an XMLRPC sync stores one): a vhid whose settings
    /// are unchanged keeps its machine and role; a changed one is restarted (a MASTER bows
    /// out first); a removed one bows out and stops; a new one starts in BACKUP.
    pub vhids: Arc<ArcSwap<Vec<VhidSpec>>>,
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

/// One running vhid: its settings, its machine, its last transition and their count.
struct Running {
    spec: VhidSpec,
    machine: Machine,
    last: Option<String>,
    transitions: u64,
}

/// What the running vhids share while they act.
struct Out<'a> {
    link: &'a ControlLink,
    table: &'a mut VipTable,
    status: &'a mut CarpStatus,
}

/// A machine for `spec`, in BACKUP-bound INIT with the node's maintenance and demotion.
fn start_machine(
    spec: &VhidSpec,
    now: Instant,
    maintenance: bool,
    demotion: i32,
    n: u64,
) -> Option<Machine> {
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
    let seed = u64::from(std::process::id()) << 16 | n;
    match Machine::new(config, seed) {
        Ok(mut m) => {
            m.handle(now, Event::Maintenance(maintenance));
            if demotion != 0 {
                m.handle(now, Event::Demotion(demotion));
            }
            m.handle(now, Event::LinkUp);
            Some(m)
        }
        Err(err) => {
            tracing::error!(vhid = spec.vhid, %err, "CARP vhid not started");
            None
        }
    }
}

/// Makes the running vhids those of `wanted` (see [`CarpRuntime::vhids`]); returns the
/// lookup from (port, vhid) to position.
fn reconcile(
    now: Instant,
    wanted: &[VhidSpec],
    machines: &mut Vec<Running>,
    out: &mut Out<'_>,
    maintenance: bool,
    demotion: i32,
    started: &mut u64,
) -> HashMap<(usize, u8), usize> {
    let _span = tracing::info_span!("carp_reconfigure", vhids = wanted.len()).entered();
    let mut old: Vec<Running> = std::mem::take(machines);
    // Those that go or change bow out first, so their VIPs are released before new ones
    // claim anything.
    old.retain_mut(|r| {
        if wanted.contains(&r.spec) {
            return true;
        }
        let changed = wanted
            .iter()
            .any(|w| w.port == r.spec.port && w.vhid == r.spec.vhid);
        tracing::info!(
            vhid = r.spec.vhid,
            interface = %r.spec.port_name,
            "CARP vhid {}",
            if changed { "changed: restarting it" } else { "removed" }
        );
        r.machine.handle(now, Event::Shutdown);
        act(r, out);
        false
    });
    for spec in wanted {
        if let Some(at) = old.iter().position(|r| r.spec == *spec) {
            machines.push(old.swap_remove(at));
            continue;
        }
        *started += 1;
        if let Some(machine) = start_machine(spec, now, maintenance, demotion, *started) {
            tracing::info!(vhid = spec.vhid, interface = %spec.port_name, advskew = spec.advskew, "CARP vhid configured");
            machines.push(Running {
                spec: spec.clone(),
                machine,
                last: None,
                transitions: 0,
            });
        }
    }
    let mut table = VipTable::new(vip_table(wanted));
    for r in machines
        .iter()
        .filter(|r| r.machine.state() == State::Master)
    {
        table = table.with_master(r.spec.vhid, true);
    }
    *out.table = table;
    out.link.publish_vips(out.table.clone());
    machines
        .iter()
        .enumerate()
        .map(|(i, r)| ((r.spec.port, r.spec.vhid), i))
        .collect()
}

/// Carries out what one machine asks for.
fn act(r: &mut Running, out: &mut Out<'_>) {
    let spec = &r.spec;
    let actions: Vec<Action> = std::iter::from_fn(|| r.machine.poll_action()).collect();
    // The role first: worker 0 takes the table before it sends the frames below, so the
    // advert and gratuitous ARPs that move the VIP here never draw frames it would refuse.
    for action in &actions {
        let master = match action {
            Action::BecomeMaster => true,
            Action::StopAnswering => false,
            _ => continue,
        };
        *out.table = out.table.with_master(spec.vhid, master);
        out.link.publish_vips(out.table.clone());
    }
    for action in actions {
        match action {
            Action::Transition(t) => {
                log_transition(spec, &t);
                r.last = Some(t.to_string());
                r.transitions += 1;
            }
            Action::SendAdvert(o) => {
                if o.family == rampart_control::carp::Family::V4 {
                    let frame = advert_frame(spec, &o.bytes);
                    send(out.link, spec.port, spec.peer, frame, out.status);
                }
            }
            Action::BecomeMaster => {
                for addr in &spec.addrs {
                    send(out.link, spec.port, None, garp(spec, *addr), out.status);
                }
            }
            Action::Announce => {
                for addr in &spec.addrs {
                    send(out.link, spec.port, None, garp(spec, *addr), out.status);
                }
            }
            Action::StopAnswering => {} // the table, above
        }
    }
}

/// Runs CARP until `stop`; sends the bow-outs before returning.
pub fn run(rt: CarpRuntime) {
    let mut machines: Vec<Running> = Vec::new();
    let mut maintenance = rt.maintenance.load(Ordering::Relaxed);
    let mut table = VipTable::new(Vec::new());
    let mut demotion = Demotion::new(DemotionFactors::default());
    let mut status = CarpStatus {
        maintenance,
        ..CarpStatus::default()
    };
    let mut applied: Option<Arc<Vec<VhidSpec>>> = None;
    let mut by_key: HashMap<(usize, u8), usize> = HashMap::new();
    let mut started = 0u64;
    let mut last_links = Instant::ZERO;
    let mut last_publish = Instant::ZERO;
    loop {
        let now = rt.clock.now();
        let stopping = rt.stop.load(Ordering::Relaxed);
        let wanted = rt.vhids.load_full();
        if !stopping && applied.as_ref().is_none_or(|a| !Arc::ptr_eq(a, &wanted)) {
            let mut out = Out {
                link: &rt.link,
                table: &mut table,
                status: &mut status,
            };
            by_key = reconcile(
                now,
                &wanted,
                &mut machines,
                &mut out,
                maintenance,
                demotion.total(),
                &mut started,
            );
            applied = Some(wanted);
            last_links = Instant::ZERO;
            last_publish = Instant::ZERO;
        }
        let want_maintenance = rt.maintenance.load(Ordering::Relaxed);
        if want_maintenance != maintenance {
            maintenance = want_maintenance;
            tracing::info!(maintenance, "CARP maintenance mode changed by the operator");
            for r in &mut machines {
                r.machine.handle(now, Event::Maintenance(maintenance));
            }
            status.maintenance = maintenance;
            last_publish = Instant::ZERO;
        }
        if stopping {
            for r in &mut machines {
                r.machine.handle(now, Event::Shutdown);
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
            for r in &machines {
                let down = !links.get(r.spec.port).copied().unwrap_or(true);
                demotion.set_link_down(
                    u16::try_from(r.spec.port).unwrap_or(u16::MAX),
                    r.spec.vhid,
                    down,
                );
            }
            if demotion.total() != before {
                tracing::info!(demotion = demotion.total(), "CARP demotion changed");
                for r in &mut machines {
                    r.machine.handle(now, Event::Demotion(demotion.total()));
                }
            }
            status.demotion = demotion.total();
        }
        for r in &mut machines {
            if r.machine.poll_timeout().is_some_and(|t| t <= now) {
                r.machine.handle(now, Event::Tick);
            }
        }
        let mut out = Out {
            link: &rt.link,
            table: &mut table,
            status: &mut status,
        };
        for r in &mut machines {
            act(r, &mut out);
        }
        if stopping || now.since(last_publish) >= Duration::from_millis(250) {
            last_publish = now;
            status.vhids = machines.iter().map(vhid_status).collect();
            rt.status.store(Arc::new(status.clone()));
        }
        if stopping {
            return;
        }
        let next = machines
            .iter()
            .filter_map(|r| r.machine.poll_timeout())
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

fn vhid_status(r: &Running) -> VhidStatus {
    let (spec, m) = (&r.spec, &r.machine);
    let stats = m.stats();
    VhidStatus {
        interface: spec.port_name.clone(),
        vhid: spec.vhid,
        state: m.state(),
        advskew: m.advskew(),
        last_transition: r.last.clone(),
        transitions: r.transitions,
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
    machines: &mut [Running],
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
    if let Some(Running { machine: m, .. }) = machines.get_mut(i) {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn spec(port: usize, vhid: u8, advskew: u8, last: u8) -> VhidSpec {
        VhidSpec {
            port,
            port_name: format!("p{port}"),
            port_addr: Ipv4Addr::new(10, 0, port as u8, 1),
            vhid,
            advbase: 1,
            advskew,
            password: "secret".into(),
            addrs: vec![Ipv4Addr::new(10, 0, port as u8, last)],
            peer: None,
        }
    }

    fn outgoing(link: &ControlLink) -> usize {
        std::iter::from_fn(|| link.take_outgoing()).count()
    }

    #[test]
    fn test_reconcile_keeps_unchanged_vhids_and_restarts_changed_ones() {
        let link = ControlLink::new(VipTable::new(Vec::new()));
        let mut table = VipTable::new(Vec::new());
        let mut status = CarpStatus::default();
        let mut machines = Vec::new();
        let mut started = 0;
        let (a, b, d) = (spec(0, 1, 0, 254), spec(1, 2, 0, 254), spec(1, 4, 0, 250));
        let t0 = Instant::from_secs(10);
        let mut out = Out {
            link: &link,
            table: &mut table,
            status: &mut status,
        };
        // From nothing: every vhid starts, BACKUP, the VIPs published unanswered.
        let by_key = reconcile(
            t0,
            &[a.clone(), b.clone(), d.clone()],
            &mut machines,
            &mut out,
            false,
            0,
            &mut started,
        );
        assert_eq!(by_key.len(), 3);
        assert_eq!(by_key[&(1, 2)], 1);
        assert!(machines.iter().all(|r| r.machine.state() == State::Backup));
        assert_eq!(link.vips().vips().len(), 3);
        // Nobody else speaks: all three become MASTER.
        let t1 = t0 + Duration::from_secs(5);
        for r in &mut machines {
            r.machine.handle(t1, Event::Tick);
            act(r, &mut out);
        }
        assert!(machines.iter().all(|r| r.machine.state() == State::Master));
        assert!(link.vips().answering(0, a.addrs[0]).is_some());
        let _ = outgoing(&link);
        let a_transitions = machines[0].transitions;

        // b's skew changes, d goes, c comes.
        let b2 = VhidSpec {
            advskew: 100,
            ..b.clone()
        };
        let c = spec(0, 3, 0, 253);
        let by_key = reconcile(
            t1,
            &[a.clone(), b2.clone(), c.clone()],
            &mut machines,
            &mut out,
            false,
            0,
            &mut started,
        );
        assert_eq!(by_key.len(), 3);
        assert!(!by_key.contains_key(&(1, 4)));
        let specs: Vec<&VhidSpec> = machines.iter().map(|r| &r.spec).collect();
        assert_eq!(specs, [&a, &b2, &c]);
        // a kept its machine and role; b restarted (bows out first), d bowed out.
        assert_eq!(machines[0].machine.state(), State::Master);
        assert_eq!(machines[0].transitions, a_transitions);
        assert_eq!(machines[1].machine.state(), State::Backup);
        assert_eq!(machines[1].machine.advskew(), 100);
        assert_eq!(machines[2].machine.state(), State::Backup);
        assert_eq!(outgoing(&link), 2, "one bow-out each for b and d");
        // The table: a still answered, b (now BACKUP) not, d gone, c present.
        let vips = link.vips();
        assert!(vips.answering(0, a.addrs[0]).is_some());
        assert!(vips.answering(1, b.addrs[0]).is_none());
        assert!(!vips.is_vip_on(1, d.addrs[0]));
        assert!(vips.is_vip_on(0, c.addrs[0]));

        // The same list again changes nothing.
        reconcile(
            t1,
            &[a.clone(), b2, c],
            &mut machines,
            &mut out,
            false,
            0,
            &mut started,
        );
        assert_eq!(started, 5);
        assert_eq!(outgoing(&link), 0);
        assert_eq!(machines[0].machine.state(), State::Master);
    }
}

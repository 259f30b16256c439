//! The stateful filter of one worker: its [state shard](crate::state) and the node's compiled
//! [ruleset](crate::rules), applied to a packet on each port it crosses, as pf does.
//!
//! # What happens to a packet
//!
//! The forwarder calls [`Firewall::filter`] once when a packet arrives (pf direction `In`, the
//! receiving port) and, if it is to be forwarded, once more for the egress port (`Out`),
//! after routing. Each call:
//!
//! 1. TCP packets with an impossible flag combination are dropped (pf scrub).
//! 2. The state table is looked up pf's way ([`StateTable::lookup`]). On a hit the packet is
//!    tracked (TCP windows, UDP/other single/multiple, ICMP echo), ICMP errors are checked
//!    against the flow they quote, and the packet passes — no rule is consulted. A TCP
//!    segment outside the windows is dropped as `tcp_bad_state`.
//! 3. On a miss the ruleset decides for this port and direction. A pass with `keep state`
//!    (or sloppy, or synproxy, which is kept as plain state) creates a floating state
//!    (pfSense's default state policy) in the packet's direction, carrying the rule's index;
//!    `no state` passes without one. ICMP errors never create states (pf). A block drops,
//!    a `reject` also tells the forwarder to answer.
//!
//! A connection through the node thus has two states, as in pf: one created inbound on the
//! client's port and one outbound on the server's; replies match both. When a state's keys
//! differ (NAT), [`Outcome::Pass`] carries the flow the packet must be rewritten to.
//!
//! Between bursts the worker calls [`Firewall::maintain`]: expiry (bounded work), and the
//! state events, which are counted and dropped unless a sync core takes them
//! ([`Firewall::attach_sync`], [`crate::sync_link`]). What the pfsync peer sends about states
//! is applied by [`Firewall::apply_sync`].
//!
//! # Reload
//!
//! [`Firewall::set_ruleset`] swaps the ruleset; states stay and keep passing their packets.
//! Rule counters restart with the new ruleset (as pf's do); states from before the reload do
//! not credit the new rules when they end.

use std::net::IpAddr;
use std::sync::Arc;

use crate::counters::{DropReason, FirewallCounters, RuleCounters};
use crate::forward::IcmpRateLimit;
use crate::nat::{Nat, OutboundAction, PortPicker, PortPolicy};
use crate::rules::{self, Action, Ruleset, StateType};
use crate::state::{
    Classified, KeySide, Match, NO_RULE, NewState, PacketKey, PacketMeta, PfDirection, StateDrop,
    StateHandle, StateKey, StateTable, StateTableConfig, TcpSegment, Timeouts, classify_ipv4,
    classify_ipv6, flags, flow::upper_layer, tcp,
};
use crate::time::Instant;
use crate::wire::{Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

/// States removed per [`Firewall::maintain`] call at most.
const EXPIRE_BUDGET: usize = 256;

/// What a reload swaps: the filter rules and the NAT rules, together.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Filter rules.
    pub ruleset: Arc<Ruleset>,
    /// NAT rules.
    pub nat: Arc<Nat>,
}

/// A worker's firewall settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirewallSettings {
    /// States this worker may hold (the node's limit divided among workers).
    pub states: usize,
    /// pfsync creator id of this node.
    pub creatorid: u32,
    /// Start of the state id counter (see [`StateTableConfig::id_seed`]).
    pub id_seed: u64,
    /// Timeouts by class.
    pub timeouts: Timeouts,
    /// State events buffered between two [`Firewall::maintain`] calls (0: none).
    pub event_capacity: usize,
    /// Workers of the node: NAT port ranges are split among them.
    pub workers: usize,
}

/// What the filter needs from a packet, read once and used on both ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterPacket {
    /// The packet's flow, or the flow an ICMP error is about.
    pub class: Classified,
    /// The packet's own source, destination and protocol (for an ICMP error: the error's).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol of the packet itself.
    pub proto: u8,
    /// Its TCP segment, for TCP.
    pub tcp: Option<TcpSegment>,
    /// ICMP type, for ICMP.
    pub icmp_type: u8,
    /// IP total length, as pf counts bytes.
    pub len: u32,
}

impl FilterPacket {
    /// Reads an IPv4 packet whose header passed `Ipv4Packet::new_checked`.
    ///
    /// # Errors
    ///
    /// The [`StateDrop`] of [`classify_ipv4`] (non-first fragment, truncated transport
    /// header, ICMP error not about a packet from its destination), or
    /// [`StateDrop::Truncated`] for a TCP header shorter than it says.
    pub fn ipv4<T: AsRef<[u8]>>(ip: &Ipv4Packet<T>) -> Result<FilterPacket, StateDrop> {
        let class = classify_ipv4(ip)?;
        let proto = ip.next_header();
        let (tcp, icmp_type) = transport(proto, ip.payload(), IpProtocol::ICMP, |l4| {
            Icmpv4Packet::new_checked(l4).map(|i| i.msg_type())
        })?;
        Ok(FilterPacket {
            class,
            src: IpAddr::V4(ip.src_addr()),
            dst: IpAddr::V4(ip.dst_addr()),
            proto: proto.0,
            tcp,
            icmp_type,
            len: u32::from(ip.total_len()),
        })
    }

    /// Reads an IPv6 packet whose header passed `Ipv6Packet::new_checked`; extension headers
    /// are walked to the upper layer.
    ///
    /// # Errors
    ///
    /// As [`FilterPacket::ipv4`], from [`classify_ipv6`].
    pub fn ipv6<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> Result<FilterPacket, StateDrop> {
        let class = classify_ipv6(ip)?;
        let (proto, l4) = upper_layer(ip)?;
        let (tcp, icmp_type) = transport(proto, l4, IpProtocol::IPV6_ICMP, |l4| {
            Icmpv6Packet::new_checked(l4).map(|i| i.msg_type())
        })?;
        Ok(FilterPacket {
            class,
            src: IpAddr::V6(ip.src_addr()),
            dst: IpAddr::V6(ip.dst_addr()),
            proto: proto.0,
            tcp,
            icmp_type,
            len: 40 + u32::from(ip.payload_len()),
        })
    }

    /// The same packet rewritten to flow `to` (for the rules, which see translated packets).
    fn translated(&self, to: &PacketKey) -> FilterPacket {
        let ip = |a: crate::state::Addr| a.to_ip(to.af);
        FilterPacket {
            class: Classified::Flow(*to),
            src: ip(to.src),
            dst: ip(to.dst),
            ..*self
        }
    }

    /// The key the state table knows this packet by.
    pub fn key(&self) -> &PacketKey {
        match &self.class {
            Classified::Flow(key) => key,
            Classified::IcmpError(err) => &err.key,
        }
    }

    /// Ports for the rules: TCP/UDP only.
    fn ports(&self) -> (u16, u16) {
        match &self.class {
            Classified::Flow(k) if k.proto == IpProtocol::TCP || k.proto == IpProtocol::UDP => {
                (k.src_port, k.dst_port)
            }
            _ => (0, 0),
        }
    }
}

/// The TCP segment and ICMP type of a transport header `l4` of protocol `proto`;
/// `icmp_proto` is the family's ICMP, whose type `icmp_type` reads.
fn transport<E>(
    proto: IpProtocol,
    l4: &[u8],
    icmp_proto: IpProtocol,
    icmp_type: impl FnOnce(&[u8]) -> Result<u8, E>,
) -> Result<(Option<TcpSegment>, u8), StateDrop> {
    if proto == IpProtocol::TCP {
        let seg = TcpPacket::new_checked(l4).map_err(|_| StateDrop::Truncated)?;
        return Ok((Some(TcpSegment::from_packet(&seg)), 0));
    }
    if proto == icmp_proto {
        return Ok((None, icmp_type(l4).map_err(|_| StateDrop::Truncated)?));
    }
    Ok((None, 0))
}

/// What the filter decided for a packet on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Let it through; if `translate` is set, rewrite it to that flow first (NAT).
    Pass {
        /// The flow the packet has on the other side of its state's translation.
        translate: Option<PacketKey>,
        /// The state it matched or created (none for `no state` rules and ICMP errors
        /// without one).
        state: Option<StateHandle>,
        /// Whether this packet created that state (pfsync deferral holds such packets).
        created: bool,
    },
    /// Drop it, counted under `reason`; with `reject`, answer the sender (TCP RST, ICMP
    /// unreachable).
    Block {
        /// The drop counter.
        reason: DropReason,
        /// A `reject` rule decided.
        reject: bool,
    },
}

impl Outcome {
    fn drop(reason: impl Into<DropReason>) -> Outcome {
        Outcome::Block {
            reason: reason.into(),
            reject: false,
        }
    }
}

/// One worker's filter: its state shard and the current ruleset.
#[derive(Debug)]
pub struct Firewall {
    table: StateTable,
    ruleset: Arc<Ruleset>,
    ruleset_since: Instant,
    events_drained: u64,
    /// Whether a sync core takes the state events ([`Firewall::attach_sync`]).
    sync_attached: bool,
    sync_stats: SyncApplyStats,
    /// pfsync deferral: new states ask the peer for an INS_ACK.
    defer: bool,
    nat: Arc<Nat>,
    ports: PortPicker,
    worker: usize,
    workers: usize,
    /// At most a few debug lines a second about segments dropped as outside the window (pf
    /// prints such "BAD state" lines at its misc debug level).
    drop_log: IcmpRateLimit,
}

impl Firewall {
    /// A firewall for worker `worker_index` with `ruleset` and an empty state table of
    /// `settings.states` slots (allocated now).
    pub fn new(worker_index: u8, settings: &FirewallSettings, ruleset: Arc<Ruleset>) -> Self {
        let mut config = StateTableConfig::new(settings.states, settings.creatorid, worker_index);
        config.id_seed = settings.id_seed;
        config.timeouts = settings.timeouts;
        config.event_capacity = settings.event_capacity;
        Firewall {
            table: StateTable::with_config(config),
            ruleset,
            ruleset_since: Instant::ZERO,
            events_drained: 0,
            sync_attached: false,
            sync_stats: SyncApplyStats::default(),
            defer: false,
            nat: Arc::new(Nat::default()),
            ports: PortPicker::default(),
            worker: usize::from(worker_index),
            workers: settings.workers.max(1),
            drop_log: IcmpRateLimit::new(5, 5),
        }
    }

    /// The state shard.
    pub fn table(&self) -> &StateTable {
        &self.table
    }

    /// The state shard, mutably (pfsync imports, state kills).
    pub fn table_mut(&mut self) -> &mut StateTable {
        &mut self.table
    }

    /// The ruleset in force.
    pub fn ruleset(&self) -> &Arc<Ruleset> {
        &self.ruleset
    }

    /// The NAT rules in force.
    pub fn nat(&self) -> &Arc<Nat> {
        &self.nat
    }

    /// Swaps in `nat` (with a reload); states keep their translations.
    pub fn set_nat(&mut self, nat: Arc<Nat>) {
        self.nat = nat;
    }

    /// Swaps in `ruleset` at `now`; states are kept. Rule counters restart.
    pub fn set_ruleset(
        &mut self,
        now: Instant,
        ruleset: Arc<Ruleset>,
        counters: &mut FirewallCounters,
    ) {
        self.ruleset = ruleset;
        self.ruleset_since = now;
        counters.rules.clear();
        counters
            .rules
            .resize(self.ruleset.rule_count(), RuleCounters::default());
        counters.ruleset_reloads += 1;
    }

    /// Filters `pkt` crossing `port` in `dir` (see the module doc). `hint` is the state
    /// lookup when the caller did it already for a whole burst ([`StateTable::lookup_burst`]);
    /// a hit whose state has gone since, or a miss (an earlier packet of the burst may have
    /// created the state), is looked up again.
    pub fn filter(
        &mut self,
        now: Instant,
        port: usize,
        dir: PfDirection,
        pkt: &FilterPacket,
        hint: Option<Option<Match>>,
        counters: &mut FirewallCounters,
    ) -> Outcome {
        if let Some(seg) = &pkt.tcp
            && tcp::check_flags(seg.flags).is_err()
        {
            return Outcome::drop(StateDrop::TcpBadFlags);
        }
        let key = pkt.key();
        let found = match hint {
            Some(Some(m)) if self.table.get(m.handle).is_some() => Some(m),
            _ => self.table.lookup(key, dir),
        };
        if let Some(m) = found {
            counters.state_hits += 1;
            let checked = match &pkt.class {
                Classified::Flow(_) => self
                    .table
                    .track(
                        m,
                        now,
                        &PacketMeta {
                            len: pkt.len,
                            tcp: pkt.tcp,
                        },
                    )
                    .map(|_| ()),
                Classified::IcmpError(err) => self.table.check_icmp_error(m, err),
            };
            if let Err(drop) = checked {
                if drop == StateDrop::TcpBadState && self.drop_log.allow(now) {
                    self.log_bad_state(m, pkt);
                }
                return Outcome::drop(drop);
            }
            let translate = self.table.get(m.handle).and_then(|st| {
                if !st.is_translated() {
                    return None;
                }
                let other = match m.side {
                    KeySide::Wire => KeySide::Stack,
                    KeySide::Stack => KeySide::Wire,
                };
                Some(st.packet_key(other, m.direction))
            });
            return Outcome::Pass {
                translate,
                state: Some(m.handle),
                created: false,
            };
        }
        self.evaluate(now, port, dir, pkt, counters)
    }

    /// A debug line about a segment dropped as outside its state's windows: what pf's
    /// "BAD state" message says, for diagnosing legitimate traffic that trips the tracker.
    #[cold]
    fn log_bad_state(&self, m: Match, pkt: &FilterPacket) {
        let Some(st) = self.table.get(m.handle) else {
            return;
        };
        let (sender, receiver) = st.peers(m.direction);
        let seg = pkt.tcp.unwrap_or_default();
        tracing::debug!(
            src = %pkt.src,
            dst = %pkt.dst,
            direction = ?m.direction,
            flags = seg.flags,
            seq = seg.seq,
            ack = seg.ack,
            len = seg.payload_len,
            window = seg.window,
            sender = ?sender,
            receiver = ?receiver,
            "TCP segment outside the state's windows dropped"
        );
    }

    /// A state miss: the rules decide, and a pass may create a state.
    fn evaluate(
        &mut self,
        now: Instant,
        port: usize,
        dir: PfDirection,
        pkt: &FilterPacket,
        counters: &mut FirewallCounters,
    ) -> Outcome {
        let original = *pkt;
        counters.rule_evaluations += 1;
        // NAT first: rules see the translated packet (pf: "translation occurs before
        // filtering"). A port forward rewrites the destination inbound, outbound NAT the
        // source outbound.
        let translation = match self.translate_new(port, dir, pkt) {
            Ok(t) => t,
            Err(reason) => return Outcome::drop(reason),
        };
        let seen = match translation {
            Some(to) => pkt.translated(&to),
            None => *pkt,
        };
        let pkt = &seen;
        let (src_port, dst_port) = pkt.ports();
        let verdict = self.ruleset.evaluate(&rules::PacketMeta {
            port,
            direction: match dir {
                PfDirection::In => rules::Direction::In,
                PfDirection::Out => rules::Direction::Out,
            },
            proto: pkt.proto,
            src: pkt.src,
            dst: pkt.dst,
            src_port,
            dst_port,
            icmp_type: pkt.icmp_type,
            tcp_flags: pkt.tcp.map_or(0, |t| t.flags),
        });
        let rule = verdict.rule.map(|r| r.index as usize);
        if let Some(c) = rule.and_then(|i| counters.rules.get_mut(i)) {
            c.decisions += 1;
        }
        if verdict.action == Action::Block {
            return Outcome::Block {
                reason: match dir {
                    PfDirection::In => DropReason::FilterBlockIn,
                    PfDirection::Out => DropReason::FilterBlockOut,
                },
                reject: verdict.reject,
            };
        }
        let stateless = Outcome::Pass {
            translate: None,
            state: None,
            created: false,
        };
        let Classified::Flow(key) = pkt.class else {
            return stateless;
        };
        // The state's wire key is the packet as on the interface's wire: after outbound NAT,
        // before a port forward; its stack key the other side.
        let (wire, stack) = match (translation, dir) {
            (Some(_), PfDirection::Out) => (key, *original.key()),
            (Some(_), PfDirection::In) => (*original.key(), key),
            (None, _) => (key, key),
        };
        let state_flags = match verdict.state_type {
            StateType::None => return stateless,
            StateType::Sloppy => flags::SLOPPY,
            StateType::Keep | StateType::Synproxy => 0,
        };
        let mut new = NewState::new(wire, dir);
        new.stack = stack;
        new.rule = verdict.rule.map_or(NO_RULE, |r| r.index);
        new.log = u8::from(verdict.log);
        new.state_flags = state_flags;
        new.len = pkt.len;
        new.tcp = pkt.tcp;
        if self.defer {
            // pfsync deferral: the peer acknowledges this state's insert (pf's PFSTATE_ACK).
            new.state_flags |= flags::ACK;
        }
        match self.table.insert(now, new) {
            Ok(handle) => {
                if let Some(c) = rule.and_then(|i| counters.rules.get_mut(i)) {
                    c.states_created += 1;
                }
                Outcome::Pass {
                    translate: translation,
                    state: Some(handle),
                    created: true,
                }
            }
            Err(e) => Outcome::drop(StateDrop::from(e)),
        }
    }

    /// The flow a new packet becomes by NAT on this pass, if any: a port forward inbound,
    /// outbound NAT outbound (with a free source port from this worker's slice). Only flows
    /// are translated when new (an ICMP error follows its state's translation).
    fn translate_new(
        &mut self,
        port: usize,
        dir: PfDirection,
        pkt: &FilterPacket,
    ) -> Result<Option<PacketKey>, DropReason> {
        let Classified::Flow(key) = &pkt.class else {
            return Ok(None);
        };
        if self.nat.is_empty() {
            return Ok(None);
        }
        match dir {
            PfDirection::In => Ok(self.nat.port_forward(port, key)),
            PfDirection::Out => {
                let Some(OutboundAction::Translate { addr, ports }) = self.nat.outbound(port, key)
                else {
                    return Ok(None);
                };
                let mut to = *key;
                to.src = addr.into();
                let range = match ports {
                    PortPolicy::Static => return Ok(Some(to)),
                    PortPolicy::Range(range) => range,
                };
                let has_ports = matches!(key.proto, IpProtocol::TCP | IpProtocol::UDP)
                    || (key.proto == IpProtocol::ICMP && key.src_port == key.dst_port);
                if !has_ports {
                    return Ok(Some(to));
                }
                let echo = key.proto == IpProtocol::ICMP;
                let (table, nat) = (&self.table, &self.nat);
                let picked = self.ports.pick(range, self.worker, self.workers, |p| {
                    let mut candidate = to;
                    candidate.src_port = p;
                    if echo {
                        candidate.dst_port = p;
                    }
                    // A port a forward catches would send the replies elsewhere.
                    nat.redirect_endpoint(key.proto.0, addr, p).is_some()
                        || table.key_in_use(&StateKey::from_packet(&candidate, PfDirection::Out))
                });
                let p = picked.ok_or(DropReason::NatPortsExhausted)?;
                to.src_port = p;
                if echo {
                    to.dst_port = p;
                }
                Ok(Some(to))
            }
        }
    }

    /// Removes the state at `handle` for the operator (`states kill`), as pf's `pfctl -k`:
    /// its packets and bytes go to its rule's counters, as at expiry, and a delete event
    /// tells the pfsync peer. Returns whether there was such a state.
    pub fn kill(&mut self, handle: StateHandle, counters: &mut FirewallCounters) -> bool {
        let Some(st) = self.table.remove(handle) else {
            return false;
        };
        if st.rule != NO_RULE
            && st.creation() >= self.ruleset_since
            && let Some(c) = counters.rules.get_mut(st.rule as usize)
        {
            c.state_packets += st.packets[0] + st.packets[1];
            c.state_bytes += st.bytes[0] + st.bytes[1];
        }
        true
    }

    /// Between bursts: expire what is due (bounded work) and hand the state events on.
    /// Until the sync core consumes them (pfsync), events are counted and dropped.
    pub fn maintain(&mut self, now: Instant, counters: &mut FirewallCounters) {
        let since = self.ruleset_since;
        let rules = &mut counters.rules;
        self.table.expire(now, EXPIRE_BUDGET, |_, st| {
            if st.rule == NO_RULE || st.creation() < since {
                return;
            }
            if let Some(c) = rules.get_mut(st.rule as usize) {
                c.state_packets += st.packets[0] + st.packets[1];
                c.state_bytes += st.bytes[0] + st.bytes[1];
            }
        });
        let events = self.table.events();
        if !self.sync_attached {
            // Nobody consumes them: counted as produced and dropped.
            self.events_drained += events.drain().count() as u64;
            counters.sync_events = self.events_drained + events.dropped();
            counters.sync_events_dropped = counters.sync_events;
        }
        counters.sync_apply = self.sync_stats;
        let stats = self.table.stats();
        counters.states = self.table.len() as u64;
        counters.states_inserted = stats.inserted;
        counters.states_expired = stats.expired;
        counters.states_removed = stats.removed;
        counters.picked_up_loose = stats.picked_up_loose;
    }
}

mod sync;
pub use sync::SyncApplyStats;

#[cfg(test)]
mod tests;

//! Compiled filter rules: what pfSense's `<filter>` rules decide for a packet that has no state.
//!
//! Control resolves a config into [`RuleSpec`]s (interfaces → port indices, aliases and
//! interface names → address lists, port aliases → ranges) and calls [`Ruleset::compile`]; the
//! result is immutable. A worker consults it only on a state miss ([`Ruleset::evaluate`]). A
//! reload builds a new `Ruleset` that the caller swaps in atomically (arc-swap); existing states
//! are untouched. Nothing here knows config types.
//!
//! # Semantics (pf as pfSense generates it)
//!
//! pfSense writes one pf ruleset; pf evaluates it top to bottom, the **last** matching rule wins
//! unless a matching rule is `quick`, which wins at once. In that ruleset:
//!
//! 1. First come the default rules, not quick: `block in all` and `block out all` (logged unless
//!    `<syslog><nologdefaultblock>`), then `pass out all keep state` (pfSense's "let out anything
//!    from the firewall host itself"). So a packet no user rule decides is **blocked inbound**
//!    and **passed outbound**. Like every stateful pass rule, that `pass out` carries pf's
//!    default `flags S/SA`: a TCP packet without state leaving with anything but SYN-without-ACK
//!    falls through to `block out`.
//! 2. Then the **floating** rules, in config order (wherever they sit in `<filter>`), each with
//!    its interfaces (several, or `any` = every port), its direction (`in`, `out` or `any`) and
//!    `quick` only if ticked. The first matching quick floating rule decides; a matching
//!    non-quick one is only remembered (a later one replaces it, and so does any later match).
//! 3. Then the **interface** rules, in config order, each `in` on its one interface and always
//!    `quick`: for a packet entering port P, the first matching rule of P decides, overriding a
//!    remembered non-quick floating match. Interface rules never see outbound packets.
//! 4. Nothing quick matched: the remembered rule decides, else the default of step 1.
//!
//! [`RuleAction::Match`] rules never decide: they are skipped when remembering the last match, and
//! a quick `match` rule ends evaluation with whatever was remembered (pf's behaviour).
//! [`RuleAction::Reject`] is a block with [`Verdict::reject`] set: the caller answers TCP with RST
//! and other protocols with ICMP unreachable. Disabled rules are dropped by [`Ruleset::compile`].
//!
//! Matching a rule means all of: the packet's port is one of the rule's ports; the direction
//! fits; the family is one the rule covers ([`IpFamilies::Both`] is `inet46`); the protocol fits
//! ([`ProtoSpec`]; ICMP types per family); source and destination are in the rule's address
//! lists (or not, when negated); with port ranges, the packet is TCP or UDP and its ports are in
//! them; a TCP packet passes the rule's flags test (pfSense: `S/SA` on stateful pass rules unless
//! "any flags"). An address list exists per family: `None` for a family means the rule never
//! matches that family, negated or not (an IPv4 literal in an `inet46` rule never matches IPv6;
//! an alias is a pf table, so `! <alias>` matches every IPv6 packet when the alias has only IPv4
//! members).
//!
//! Out of scope, as pfSense adds them outside `<filter>`: the anti-lockout rule, block bogons and
//! private networks, the link-local and port-0 blocks, the built-in ICMPv6 neighbour-discovery
//! passes, "block all IPv6" when IPv6 is off, the CARP/pfsync passes, the sshlockout,
//! webConfiguratorlockout and virusprot tables, antispoof, and interface-group rules other than
//! those control expands into ports. Fragments are matched on their header fields like whole
//! packets.
//!
//! # Structure and cost
//!
//! Rules are ordered once (floating first, stable) and numbered by position. For each
//! (port, direction, class) — class = family × {TCP, UDP, ICMP, other} — a **bucket** lists the
//! positions of the rules that can match there at all; identical buckets are shared. Within a
//! bucket, each of up to five dimensions (source address, destination address, source port,
//! destination port / ICMP type / protocol number, TCP flags) cuts its key space into the
//! elementary intervals where every rule's membership is constant, and maps each interval to a
//! bitset of the bucket's rules that accept it (bitsets are deduplicated). Membership is exact,
//! negation included, so the bitwise AND of the looked-up bitsets is exactly the set of rules
//! that match. A dimension where every rule is a wildcard is left out.
//!
//! Evaluating: one table read for the bucket, one binary search per dimension (about
//! log2(2 × distinct prefixes or ranges) steps), then a walk over `ceil(n / 64)` words ANDing
//! the bitsets and masking with the bucket's quick and terminal masks; it stops at the first
//! word with a quick match. No rule is looked at one by one, so the cost barely depends on
//! where the deciding rule sits. On the 1,000-rule benchmark (`benches/benches/rules.rs`) an
//! evaluation takes about 30–60 ns against 3.5–8 µs for the linear scan. Memory per bucket is about
//! `intervals × ceil(n / 64) × 8` bytes per dimension, bounded by the distinct bitsets
//! ([`Ruleset::memory_bytes`]); compiling is `O(n × intervals)` per dimension.
//!
//! [`linear_evaluate`] is a plain scan over the specs with the same semantics: the reference the
//! property tests and benchmarks compare against.
//!
//! # Using it on a state miss
//!
//! pf filters a forwarded packet twice: inbound on the port it arrived on, outbound on the port
//! it leaves by. So: build a [`PacketMeta`] with `direction: In` and the RX port and
//! [`Ruleset::evaluate`]; on [`Action::Block`] drop it (answering when [`Verdict::reject`]); on
//! pass, route it, evaluate again with `direction: Out` and the egress port, and forward only if
//! that passes too. Create the state from the inbound verdict's [`Verdict::state_type`]
//! ([`StateType::None`]: forward without state) and keep [`Verdict::rule`] in it; per-rule
//! counters are the worker's own arrays of [`Ruleset::rule_count`] entries indexed by
//! [`RuleIndex::index`]. Log when [`Verdict::log`]. Packets that hit a state never come here.

mod index;
mod reference;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

use thiserror::Error;

use crate::route::Ipv4Net;

pub use reference::linear_evaluate;

use index::{Bucket, Class, Keys};

/// A rule's identity: its position in the config's `<filter>` (dense, for per-rule counter
/// arrays) and its pfSense tracker (the id in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RuleIndex {
    /// Position among the config's rules, 0-based.
    pub index: u32,
    /// pfSense `<tracker>` (0 when the rule has none).
    pub tracker: u32,
}

/// What a rule does when it decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Let the packet through (and create state per [`StateType`]).
    Pass,
    /// Drop silently.
    Block,
    /// Drop and answer (TCP RST / ICMP unreachable).
    Reject,
    /// Match without deciding.
    Match,
}

/// Which way a packet crosses a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Arriving on the port.
    In,
    /// Leaving through the port.
    Out,
}

/// Which directions a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDirection {
    /// Inbound only (every interface rule).
    In,
    /// Outbound only.
    Out,
    /// Both.
    Any,
}

/// Address families a rule applies to (`inet`, `inet6`, `inet46`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamilies {
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
    /// Both.
    Both,
}

impl IpFamilies {
    fn has(self, v6: bool) -> bool {
        match self {
            IpFamilies::V4 => !v6,
            IpFamilies::V6 => v6,
            IpFamilies::Both => true,
        }
    }
}

/// The ports a rule is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interfaces {
    /// Every port (a floating rule on `any`).
    Any,
    /// These port indices (an empty list matches nothing).
    Ports(Vec<usize>),
}

/// ICMP types a rule accepts for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IcmpMatch {
    /// No ICMP of this family.
    None,
    /// Every type.
    Any,
    /// These types (an empty list matches nothing).
    Types(Vec<u8>),
}

impl IcmpMatch {
    fn accepts(&self, icmp_type: u8) -> bool {
        match self {
            IcmpMatch::None => false,
            IcmpMatch::Any => true,
            IcmpMatch::Types(types) => types.contains(&icmp_type),
        }
    }
}

/// The protocol test of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoSpec {
    /// Every protocol.
    Any,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// TCP or UDP.
    TcpUdp,
    /// ICMP (1) for IPv4 packets, ICMPv6 (58) for IPv6 packets, with types per family.
    Icmp {
        /// IPv4 ICMP types.
        v4: IcmpMatch,
        /// ICMPv6 types.
        v6: IcmpMatch,
    },
    /// Exactly this IP protocol number (any type, any port).
    Number(u8),
}

/// An IPv6 network: address and prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Net {
    network: Ipv6Addr,
    prefix_len: u8,
}

impl Ipv6Net {
    /// The network containing `addr`/`prefix_len` (host bits are cleared).
    ///
    /// # Errors
    /// [`RuleError::BadPrefix`] when `prefix_len` > 128.
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Result<Ipv6Net, RuleError> {
        if prefix_len > 128 {
            return Err(RuleError::BadPrefix(prefix_len));
        }
        Ok(Ipv6Net {
            network: Ipv6Addr::from(u128::from(addr) & mask128(prefix_len)),
            prefix_len,
        })
    }

    /// Network address.
    pub fn network(&self) -> Ipv6Addr {
        self.network
    }

    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `addr` is inside.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & mask128(self.prefix_len) == u128::from(self.network)
    }
}

impl std::fmt::Display for Ipv6Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

pub(crate) const fn mask128(prefix_len: u8) -> u128 {
    if prefix_len == 0 {
        0
    } else {
        u128::MAX << (128 - prefix_len as u32)
    }
}

/// A source or destination address test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrSpec {
    /// Every address.
    Any,
    /// Addresses in (or, negated, not in) these networks. `None` for a family: the rule never
    /// matches packets of that family (negated or not); `Some(empty)` is an empty table.
    Nets {
        /// IPv4 networks.
        v4: Option<Vec<Ipv4Net>>,
        /// IPv6 networks.
        v6: Option<Vec<Ipv6Net>>,
        /// Match addresses outside the lists.
        negate: bool,
    },
}

impl AddrSpec {
    fn accepts(&self, addr: IpAddr) -> bool {
        match (self, addr) {
            (AddrSpec::Any, _) => true,
            (AddrSpec::Nets { v4, negate, .. }, IpAddr::V4(a)) => v4
                .as_ref()
                .is_some_and(|nets| nets.iter().any(|n| n.contains(a)) != *negate),
            (AddrSpec::Nets { v6, negate, .. }, IpAddr::V6(a)) => v6
                .as_ref()
                .is_some_and(|nets| nets.iter().any(|n| n.contains(a)) != *negate),
        }
    }

    /// Whether the spec can match packets of this family at all.
    pub fn allows(&self, v6: bool) -> bool {
        match self {
            AddrSpec::Any => true,
            AddrSpec::Nets { v4, v6: n6, .. } => {
                if v6 {
                    n6.is_some()
                } else {
                    v4.is_some()
                }
            }
        }
    }
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortRange {
    /// First port.
    pub first: u16,
    /// Last port (≥ `first`).
    pub last: u16,
}

impl PortRange {
    /// One port.
    pub fn single(port: u16) -> PortRange {
        PortRange {
            first: port,
            last: port,
        }
    }

    fn contains(&self, port: u16) -> bool {
        (self.first..=self.last).contains(&port)
    }
}

/// TCP flags test: `(flags & mask) == flags`-style, as pf's `flags F/M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlagsMatch {
    /// Bits that must be set among `mask`.
    pub flags: u8,
    /// Bits examined.
    pub mask: u8,
}

impl TcpFlagsMatch {
    /// pf's default for stateful pass rules: `flags S/SA` (SYN set, ACK clear).
    pub const SYN_ONLY: TcpFlagsMatch = TcpFlagsMatch {
        flags: TCP_SYN,
        mask: TCP_SYN | TCP_ACK,
    };

    fn accepts(&self, flags: u8) -> bool {
        flags & self.mask == self.flags
    }
}

/// TCP SYN bit.
pub const TCP_SYN: u8 = 0x02;
/// TCP ACK bit.
pub const TCP_ACK: u8 = 0x10;

/// How a passed packet is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateType {
    /// `keep state`: a state with TCP window tracking.
    Keep,
    /// `keep state (sloppy)`: a state without sequence checks.
    Sloppy,
    /// `synproxy state`: the firewall completes the handshake first.
    Synproxy,
    /// No state (also for blocks).
    None,
}

/// One rule, resolved to ports, networks and ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// Identity, carried in verdicts.
    pub id: RuleIndex,
    /// What it does.
    pub action: RuleAction,
    /// The ports it is on.
    pub interfaces: Interfaces,
    /// Floating rules are evaluated before all others.
    pub floating: bool,
    /// Directions it applies to.
    pub direction: RuleDirection,
    /// First match decides (pfSense: always for interface rules).
    pub quick: bool,
    /// Families it applies to.
    pub families: IpFamilies,
    /// Protocol test.
    pub proto: ProtoSpec,
    /// Source addresses.
    pub src: AddrSpec,
    /// Destination addresses.
    pub dst: AddrSpec,
    /// Source port ranges; empty = any. Non-empty: only TCP and UDP packets match.
    pub src_ports: Vec<PortRange>,
    /// Destination port ranges; empty = any. Non-empty: only TCP and UDP packets match.
    pub dst_ports: Vec<PortRange>,
    /// TCP flags test, applied to TCP packets only.
    pub tcp_flags: Option<TcpFlagsMatch>,
    /// State to create when it passes.
    pub state_type: StateType,
    /// Log packets it decides.
    pub log: bool,
    /// Skipped by [`Ruleset::compile`].
    pub disabled: bool,
}

impl RuleSpec {
    /// A quick inbound rule on `ports` matching everything, for building specs in code.
    pub fn new(id: RuleIndex, action: RuleAction, ports: Vec<usize>) -> RuleSpec {
        RuleSpec {
            id,
            action,
            interfaces: Interfaces::Ports(ports),
            floating: false,
            direction: RuleDirection::In,
            quick: true,
            families: IpFamilies::V4,
            proto: ProtoSpec::Any,
            src: AddrSpec::Any,
            dst: AddrSpec::Any,
            src_ports: Vec::new(),
            dst_ports: Vec::new(),
            tcp_flags: None,
            state_type: if action == RuleAction::Pass {
                StateType::Keep
            } else {
                StateType::None
            },
            log: false,
            disabled: false,
        }
    }
}

/// Ruleset-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RulesetOptions {
    /// Number of ports; rules name ports below this, packets on other ports get the default.
    pub ports: usize,
    /// Log packets blocked by the default deny (pfSense: on unless `nologdefaultblock`).
    pub log_default_block: bool,
    /// Log packets passed by the default pass out (pfSense: `nologdefaultpass`, inverted name).
    pub log_default_pass: bool,
}

impl RulesetOptions {
    /// `ports` ports, pfSense's default logging (default blocks logged, default passes not).
    pub fn new(ports: usize) -> RulesetOptions {
        RulesetOptions {
            ports,
            log_default_block: true,
            log_default_pass: false,
        }
    }
}

/// What a state miss knows about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta {
    /// Port index it arrived on (`In`) or leaves through (`Out`).
    pub port: usize,
    /// Direction.
    pub direction: Direction,
    /// IP protocol number (IPv6: the upper-layer protocol).
    pub proto: u8,
    /// Source address (same family as `dst`).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP/UDP source port, else 0.
    pub src_port: u16,
    /// TCP/UDP destination port, else 0.
    pub dst_port: u16,
    /// ICMP/ICMPv6 type, else 0.
    pub icmp_type: u8,
    /// TCP flags byte, else 0.
    pub tcp_flags: u8,
}

impl PacketMeta {
    /// Whether the packet is IPv6 (by its source address).
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// The decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forward (and create state).
    Pass,
    /// Drop (see [`Verdict::reject`]).
    Block,
}

/// What the ruleset decided for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Pass or block.
    pub action: Action,
    /// A `reject` rule: answer with TCP RST or ICMP unreachable.
    pub reject: bool,
    /// The deciding rule; `None` for the default rules.
    pub rule: Option<RuleIndex>,
    /// State to create ([`StateType::None`] for blocks).
    pub state_type: StateType,
    /// Log the packet.
    pub log: bool,
}

impl Verdict {
    fn of_rule(rule: &RuleSpec) -> Verdict {
        let (action, reject) = match rule.action {
            RuleAction::Pass => (Action::Pass, false),
            RuleAction::Reject => (Action::Block, true),
            RuleAction::Block | RuleAction::Match => (Action::Block, false),
        };
        Verdict {
            action,
            reject,
            rule: Some(rule.id),
            state_type: if action == Action::Pass {
                rule.state_type
            } else {
                StateType::None
            },
            log: rule.log,
        }
    }

    /// The default rules: block in; pass out keep state (flags S/SA), else block out.
    fn default_for(meta: &PacketMeta, options: &RulesetOptions) -> Verdict {
        let block = Verdict {
            action: Action::Block,
            reject: false,
            rule: None,
            state_type: StateType::None,
            log: options.log_default_block,
        };
        let syn_only_ok =
            meta.proto != PROTO_TCP || TcpFlagsMatch::SYN_ONLY.accepts(meta.tcp_flags);
        match meta.direction {
            Direction::Out if syn_only_ok => Verdict {
                action: Action::Pass,
                reject: false,
                rule: None,
                state_type: StateType::Keep,
                log: options.log_default_pass,
            },
            _ => block,
        }
    }
}

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

/// Why a ruleset could not be built.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RuleError {
    /// A rule names a port index the node does not have.
    #[error("rule {index} (tracker {tracker}) is on port {port}, but there are {ports} ports", index = rule.index, tracker = rule.tracker)]
    PortOutOfRange {
        /// The rule.
        rule: RuleIndex,
        /// The port index.
        port: usize,
        /// Number of ports.
        ports: usize,
    },
    /// A port range whose first port is above its last.
    #[error("rule {index} (tracker {tracker}) has port range {first}-{last}", index = rule.index, tracker = rule.tracker)]
    BadPortRange {
        /// The rule.
        rule: RuleIndex,
        /// First port.
        first: u16,
        /// Last port.
        last: u16,
    },
    /// An IPv6 prefix length over 128.
    #[error("prefix length {0} is over 128")]
    BadPrefix(u8),
    /// More rules than positions fit in a `u32`.
    #[error("{0} rules are more than a ruleset holds")]
    TooManyRules(usize),
}

/// Number of (direction, class) slots per port.
const SLOTS_PER_PORT: usize = 2 * Class::COUNT;
const NO_BUCKET: u32 = u32::MAX;

/// An immutable, compiled ruleset (see the module docs for semantics and structure).
#[derive(Debug, Clone)]
pub struct Ruleset {
    options: RulesetOptions,
    /// Enabled rules in evaluation order (floating first).
    rules: Vec<RuleSpec>,
    /// Verdict of each rule, by position.
    verdicts: Vec<Verdict>,
    /// Whether each rule is a `match` rule, by position.
    is_match: Vec<bool>,
    /// `port * SLOTS_PER_PORT + direction * Class::COUNT + class` → bucket, or `NO_BUCKET`.
    slots: Vec<u32>,
    buckets: Vec<Bucket>,
    rule_count: usize,
}

impl Ruleset {
    /// Compiles `rules` (in config order) for a node with `options.ports` ports. Disabled rules
    /// are dropped; floating rules are moved before the others, keeping their order.
    ///
    /// # Errors
    /// [`RuleError::PortOutOfRange`] for a port index ≥ `options.ports`,
    /// [`RuleError::BadPortRange`] for a range with `first > last`,
    /// [`RuleError::TooManyRules`] past `u32::MAX` rules.
    pub fn compile(rules: Vec<RuleSpec>, options: &RulesetOptions) -> Result<Ruleset, RuleError> {
        let (floating, others): (Vec<RuleSpec>, Vec<RuleSpec>) = rules
            .into_iter()
            .filter(|r| !r.disabled)
            .partition(|r| r.floating);
        let rules: Vec<RuleSpec> = floating.into_iter().chain(others).collect();
        if u32::try_from(rules.len()).is_err() {
            return Err(RuleError::TooManyRules(rules.len()));
        }
        for r in &rules {
            if let Interfaces::Ports(ports) = &r.interfaces
                && let Some(&port) = ports.iter().find(|&&p| p >= options.ports)
            {
                return Err(RuleError::PortOutOfRange {
                    rule: r.id,
                    port,
                    ports: options.ports,
                });
            }
            if let Some(bad) = r
                .src_ports
                .iter()
                .chain(&r.dst_ports)
                .find(|p| p.first > p.last)
            {
                return Err(RuleError::BadPortRange {
                    rule: r.id,
                    first: bad.first,
                    last: bad.last,
                });
            }
        }

        let mut slots = vec![NO_BUCKET; options.ports * SLOTS_PER_PORT];
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut seen: HashMap<(Class, Vec<u32>), u32> = HashMap::new();
        for port in 0..options.ports {
            for (d, direction) in [Direction::In, Direction::Out].into_iter().enumerate() {
                for class in Class::ALL {
                    let members: Vec<u32> = rules
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| index::applies(r, port, direction, class))
                        .filter_map(|(pos, _)| u32::try_from(pos).ok())
                        .collect();
                    if members.is_empty() {
                        continue;
                    }
                    let id = match seen.get(&(class, members.clone())) {
                        Some(&id) => id,
                        None => {
                            let id = u32::try_from(buckets.len())
                                .map_err(|_| RuleError::TooManyRules(buckets.len()))?;
                            buckets.push(Bucket::build(&rules, &members, class));
                            seen.insert((class, members), id);
                            id
                        }
                    };
                    let slot = port * SLOTS_PER_PORT + d * Class::COUNT + class as usize;
                    if let Some(s) = slots.get_mut(slot) {
                        *s = id;
                    }
                }
            }
        }
        let verdicts = rules.iter().map(Verdict::of_rule).collect();
        let is_match = rules
            .iter()
            .map(|r| r.action == RuleAction::Match)
            .collect();
        let rule_count = rules
            .iter()
            .map(|r| r.id.index as usize + 1)
            .max()
            .unwrap_or(0);
        Ok(Ruleset {
            options: *options,
            rules,
            verdicts,
            is_match,
            slots,
            buckets,
            rule_count,
        })
    }

    /// A ruleset with no rules: only the defaults (block in, pass out).
    pub fn empty(options: &RulesetOptions) -> Ruleset {
        Ruleset {
            options: *options,
            rules: Vec::new(),
            verdicts: Vec::new(),
            is_match: Vec::new(),
            slots: vec![NO_BUCKET; options.ports * SLOTS_PER_PORT],
            buckets: Vec::new(),
            rule_count: 0,
        }
    }

    /// The verdict for a packet without state.
    pub fn evaluate(&self, meta: &PacketMeta) -> Verdict {
        let default = || Verdict::default_for(meta, &self.options);
        let Some(keys) = Keys::of(meta) else {
            return default();
        };
        let d = match meta.direction {
            Direction::In => 0,
            Direction::Out => 1,
        };
        let slot = meta
            .port
            .checked_mul(SLOTS_PER_PORT)
            .map(|s| s + d * Class::COUNT + keys.class as usize);
        let Some(bucket) = slot
            .and_then(|s| self.slots.get(s))
            .and_then(|&b| self.buckets.get(b as usize))
        else {
            return default();
        };
        let (quick, last) = bucket.scan(&keys);
        let position = |pos: usize| bucket.rule_at(pos);
        let decided = match quick.and_then(position) {
            Some(q) if !self.is_match.get(q).copied().unwrap_or(true) => Some(q),
            _ => last.and_then(position),
        };
        decided
            .and_then(|p| self.verdicts.get(p).copied())
            .unwrap_or_else(default)
    }

    /// The enabled rules in evaluation order (floating first).
    pub fn rules(&self) -> &[RuleSpec] {
        &self.rules
    }

    /// Number of enabled rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no enabled rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// One more than the highest [`RuleIndex::index`]: the size of a per-rule counter array.
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// The options it was compiled with.
    pub fn options(&self) -> &RulesetOptions {
        &self.options
    }

    /// Number of distinct buckets built.
    pub fn buckets(&self) -> usize {
        self.buckets.len()
    }

    /// Approximate heap size of the index, in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * 4 + self.buckets.iter().map(Bucket::memory_bytes).sum::<usize>()
    }
}

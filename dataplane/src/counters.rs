//! Per-worker counters: plain integers owned by one worker, summed when read. Every packet the
//! node does not pass on is counted under a named reason.

use crate::state::StateDrop;

/// Why a packet was not forwarded or answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    EthernetMalformed,
    /// Unicast to a MAC that is not the port's.
    NotOurMac,
    /// 802.1Q/802.1ad tagged frame: VLAN interfaces are not supported yet.
    VlanUnsupported,
    /// An ethertype the node does not handle.
    UnknownEthertype,
    /// Truncated ARP packet.
    ArpMalformed,
    /// ARP for a hardware or protocol type other than Ethernet/IPv4.
    ArpUnsupported,
    /// ARP about an address that is not ours (seen, learnt from where useful, then dropped).
    ArpNotForUs,
    /// ARP from another node claiming one of our VIPs (the CARP peer's gratuitous ARP):
    /// never answered, whatever our role, since the reply would carry the VIP's virtual MAC
    /// and pull the switch's entry for it back to this port.
    ArpVipClaimed,
    /// IPv4 header inconsistent with itself or the frame.
    Ipv4Malformed,
    /// IPv4 header checksum wrong.
    Ipv4BadChecksum,
    /// IPv4 to a broadcast or multicast address, IPv6 to a multicast address (the node
    /// forwards no multicast), from a multicast or unspecified source, or IP in an L2
    /// broadcast/multicast frame.
    NotRoutable,
    /// To one of our addresses, but no local service takes it.
    LocalUnhandled,
    /// ICMP or ICMPv6 to us that is truncated or fails its checksum.
    IcmpMalformed,
    /// TTL or hop limit would reach zero (an ICMP time-exceeded is sent where allowed).
    TtlExceeded,
    /// No route to the destination (an ICMP unreachable is sent where allowed).
    NoRoute,
    /// Larger than the egress MTU: IPv4 with DF set (ICMP fragmentation-needed is sent), or
    /// IPv6, which routers never fragment (ICMPv6 packet-too-big is sent).
    MtuExceeded,
    /// Larger than the egress MTU without DF: the node does not fragment.
    FragmentationUnsupported,
    /// The next hop did not answer ARP or neighbour solicitation in time.
    NeighbourUnresolved,
    /// Too many packets already wait for neighbour resolution.
    NeighbourQueueFull,
    /// The neighbour table is full.
    NeighbourTableFull,
    /// Multi-segment mbuf (jumbo frame over small buffers).
    MultiSegment,
    /// The driver's TX ring stayed full.
    TxFull,
    /// The ring to the worker that owns the flow was full.
    HandoffFull,
    /// IPv6 header inconsistent with itself or the frame.
    Ipv6Malformed,
    /// IPv6 with a link-local source or destination that is not ours: such packets never
    /// leave their link (RFC 4291 §2.5.6).
    Ipv6LinkLocal,
    /// Neighbour discovery failing RFC 4861 §7.1 validation (hop limit not 255, checksum,
    /// code, length, multicast target, bad option, address rules).
    NdpInvalid,
    /// A valid neighbour solicitation or advertisement about an address that is not ours.
    NdpNotForUs,
    /// Router solicitations and advertisements and redirects: the node does not send or use
    /// them.
    NdpUnsupported,
    /// Blocked by a filter rule or the default deny, inbound.
    FilterBlockIn,
    /// Blocked by a filter rule or the default, outbound.
    FilterBlockOut,
    /// No room for a new state ([`StateDrop::TableFull`]).
    StateTableFull,
    /// A new state's key is taken ([`StateDrop::StateExists`]).
    StateExists,
    /// TCP segment outside the tracked windows ([`StateDrop::TcpBadState`]).
    TcpBadState,
    /// Impossible TCP flag combination ([`StateDrop::TcpBadFlags`]).
    TcpBadFlags,
    /// SYN on a closed TCP state, which was removed ([`StateDrop::TcpReuse`]).
    TcpStateReuse,
    /// ICMP error not addressed to the quoted packet's source.
    IcmpErrorMismatch,
    /// ICMP error quoting a TCP sequence number outside the window.
    IcmpErrorBadSeq,
    /// A packet that needs a state and has none.
    NoState,
    /// A non-first fragment: no ports to filter on (no reassembly yet).
    Fragment,
    /// A transport header too short for its ports.
    L4Truncated,
    /// A packet that does not fit its state (internal inconsistency; should stay 0).
    StateInvalid,
    /// Outbound NAT found no free source port in this worker's slice.
    NatPortsExhausted,
    /// A translated packet could not be rewritten (truncated transport header).
    NatRewriteFailed,
}

impl From<StateDrop> for DropReason {
    fn from(d: StateDrop) -> DropReason {
        match d {
            StateDrop::TableFull => DropReason::StateTableFull,
            StateDrop::StateExists => DropReason::StateExists,
            StateDrop::TcpBadState => DropReason::TcpBadState,
            StateDrop::TcpBadFlags => DropReason::TcpBadFlags,
            StateDrop::TcpReuse => DropReason::TcpStateReuse,
            StateDrop::IcmpErrorMismatch => DropReason::IcmpErrorMismatch,
            StateDrop::IcmpErrorBadSeq => DropReason::IcmpErrorBadSeq,
            StateDrop::NoState => DropReason::NoState,
            StateDrop::Fragment => DropReason::Fragment,
            StateDrop::Truncated => DropReason::L4Truncated,
            StateDrop::Invalid => DropReason::StateInvalid,
        }
    }
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 43] = [
        DropReason::EthernetMalformed,
        DropReason::NotOurMac,
        DropReason::VlanUnsupported,
        DropReason::UnknownEthertype,
        DropReason::ArpMalformed,
        DropReason::ArpUnsupported,
        DropReason::ArpNotForUs,
        DropReason::ArpVipClaimed,
        DropReason::Ipv4Malformed,
        DropReason::Ipv4BadChecksum,
        DropReason::NotRoutable,
        DropReason::LocalUnhandled,
        DropReason::IcmpMalformed,
        DropReason::TtlExceeded,
        DropReason::NoRoute,
        DropReason::MtuExceeded,
        DropReason::FragmentationUnsupported,
        DropReason::NeighbourUnresolved,
        DropReason::NeighbourQueueFull,
        DropReason::NeighbourTableFull,
        DropReason::MultiSegment,
        DropReason::TxFull,
        DropReason::HandoffFull,
        DropReason::Ipv6Malformed,
        DropReason::Ipv6LinkLocal,
        DropReason::NdpInvalid,
        DropReason::NdpNotForUs,
        DropReason::NdpUnsupported,
        DropReason::FilterBlockIn,
        DropReason::FilterBlockOut,
        DropReason::StateTableFull,
        DropReason::StateExists,
        DropReason::TcpBadState,
        DropReason::TcpBadFlags,
        DropReason::TcpStateReuse,
        DropReason::IcmpErrorMismatch,
        DropReason::IcmpErrorBadSeq,
        DropReason::NoState,
        DropReason::Fragment,
        DropReason::L4Truncated,
        DropReason::StateInvalid,
        DropReason::NatPortsExhausted,
        DropReason::NatRewriteFailed,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Self::ALL.len();

    /// The counter's name, as metrics and status print it.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::EthernetMalformed => "ethernet_malformed",
            DropReason::NotOurMac => "not_our_mac",
            DropReason::VlanUnsupported => "vlan_unsupported",
            DropReason::UnknownEthertype => "unknown_ethertype",
            DropReason::ArpMalformed => "arp_malformed",
            DropReason::ArpUnsupported => "arp_unsupported",
            DropReason::ArpNotForUs => "arp_not_for_us",
            DropReason::ArpVipClaimed => "arp_vip_claimed",
            DropReason::Ipv4Malformed => "ipv4_malformed",
            DropReason::Ipv4BadChecksum => "ipv4_bad_checksum",
            DropReason::NotRoutable => "not_routable",
            DropReason::LocalUnhandled => "local_unhandled",
            DropReason::IcmpMalformed => "icmp_malformed",
            DropReason::TtlExceeded => "ttl_exceeded",
            DropReason::NoRoute => "no_route",
            DropReason::MtuExceeded => "mtu_exceeded",
            DropReason::FragmentationUnsupported => "fragmentation_unsupported",
            DropReason::NeighbourUnresolved => "neighbour_unresolved",
            DropReason::NeighbourQueueFull => "neighbour_queue_full",
            DropReason::NeighbourTableFull => "neighbour_table_full",
            DropReason::MultiSegment => "multi_segment",
            DropReason::TxFull => "tx_full",
            DropReason::HandoffFull => "handoff_full",
            DropReason::Ipv6Malformed => "ipv6_malformed",
            DropReason::Ipv6LinkLocal => "ipv6_link_local",
            DropReason::NdpInvalid => "ndp_invalid",
            DropReason::NdpNotForUs => "ndp_not_for_us",
            DropReason::NdpUnsupported => "ndp_unsupported",
            DropReason::FilterBlockIn => "filter_block_in",
            DropReason::FilterBlockOut => "filter_block_out",
            DropReason::StateTableFull => "state_table_full",
            DropReason::StateExists => "state_exists",
            DropReason::TcpBadState => "tcp_bad_state",
            DropReason::TcpBadFlags => "tcp_bad_flags",
            DropReason::TcpStateReuse => "tcp_state_reuse",
            DropReason::IcmpErrorMismatch => "icmp_error_mismatch",
            DropReason::IcmpErrorBadSeq => "icmp_error_bad_seq",
            DropReason::NoState => "no_state",
            DropReason::Fragment => "fragment",
            DropReason::L4Truncated => "l4_truncated",
            DropReason::StateInvalid => "state_invalid",
            DropReason::NatPortsExhausted => "nat_ports_exhausted",
            DropReason::NatRewriteFailed => "nat_rewrite_failed",
        }
    }
}

/// Counters of one port as seen by one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames the driver accepted for sending.
    pub tx_packets: u64,
    /// Bytes handed to the driver.
    pub tx_bytes: u64,
}

/// What one worker did. Owned by the worker; copied out for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Per port, by port index.
    pub ports: Vec<PortCounters>,
    /// IPv4 and IPv6 packets forwarded between ports.
    pub forwarded: u64,
    /// ICMP and ICMPv6 echo replies sent for our own addresses.
    pub echo_replies: u64,
    /// ARP replies sent for our own addresses.
    pub arp_replies_sent: u64,
    /// ARP requests sent to resolve next hops.
    pub arp_requests_sent: u64,
    /// ARP replies received for our requests (or unsolicited, about known neighbours).
    pub arp_replies_received: u64,
    /// Neighbour solicitations sent to resolve IPv6 next hops.
    pub ndp_solicits_sent: u64,
    /// Neighbour advertisements sent for our own addresses.
    pub ndp_adverts_sent: u64,
    /// Neighbour advertisements received (answers to our solicitations, or unsolicited).
    pub ndp_adverts_received: u64,
    /// ICMP and ICMPv6 errors sent (time exceeded, unreachable, fragmentation needed, packet
    /// too big).
    pub icmp_errors_sent: u64,
    /// ICMP errors not sent because of the rate limit or no way back.
    pub icmp_errors_suppressed: u64,
    /// Frames the node wanted to generate but could not (no mbuf, scratch full).
    pub generate_failed: u64,
    /// CARP packets handed to the control thread.
    pub carp_punted: u64,
    /// CARP packets lost because the control thread's ring was full.
    pub carp_punt_dropped: u64,
    /// Frames from the control thread (adverts, gratuitous ARP) sent by this worker.
    pub control_sent: u64,
    /// Packets held for pfsync deferral.
    pub deferred: u64,
    /// Held packets released by the peer's INS_ACK.
    pub deferred_acked: u64,
    /// Held packets released when their wait ran out (no INS_ACK in time).
    pub deferred_timeout: u64,
    /// Held packets released early because too many waited.
    pub deferred_overflow: u64,
    /// Drops, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
    /// Packets handed to the worker that owns their flow.
    pub handoff_out: u64,
    /// Packets received from other workers (their flows are ours).
    pub handoff_in: u64,
    /// ARP and NDP frames copied to the other workers so that every neighbour table learns.
    pub arp_copies: u64,
    /// Bursts that returned at least one packet.
    pub busy_polls: u64,
    /// Bursts that returned nothing.
    pub idle_polls: u64,
    /// TSC cycles of the loops that received packets, from before the first RX burst to after
    /// the last TX burst (testpmd's `--record-core-cycles`): divided by [`Self::busy_packets`]
    /// it is the cost of a packet whatever the offered load.
    pub busy_cycles: u64,
    /// Packets received by those loops (from ports and from other workers).
    pub busy_packets: u64,
    /// The firewall's counters (zero when the node runs without one).
    pub firewall: FirewallCounters,
}

/// What one worker's firewall did: states and rule decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallCounters {
    /// States held now (a gauge; summed over workers it is the node's count).
    pub states: u64,
    /// States created by packets.
    pub states_inserted: u64,
    /// States removed by expiry.
    pub states_expired: u64,
    /// States removed otherwise (TCP reuse, replaced, killed).
    pub states_removed: u64,
    /// Packets that matched a state.
    pub state_hits: u64,
    /// TCP segments of states learned from the pfsync peer that failed the windows and passed
    /// as loose matches: a takeover picking up streams the copy lagged behind.
    pub picked_up_loose: u64,
    /// Packets that had no state and went to the rules.
    pub rule_evaluations: u64,
    /// TCP RSTs sent for `reject` rules.
    pub rejects_rst: u64,
    /// ICMP unreachables queued for `reject` rules (subject to the ICMP rate limit).
    pub rejects_icmp: u64,
    /// State events (insert, update, delete) produced for the sync core.
    pub sync_events: u64,
    /// State events dropped: no sync core consumes them yet, or its ring was full.
    pub sync_events_dropped: u64,
    /// Rulesets swapped in by a reload.
    pub ruleset_reloads: u64,
    /// What the pfsync peer's messages did to this worker's states.
    pub sync_apply: crate::firewall::SyncApplyStats,
    /// What this worker's rings to the sync core carried.
    pub sync_link: crate::sync_link::LinkCounters,
    /// Per rule, by [`RuleIndex::index`](crate::rules::RuleIndex): what it decided.
    pub rules: Vec<RuleCounters>,
}

/// One rule's counters in one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounters {
    /// Packets the rule decided (state misses only: packets of its states are not rules'
    /// work).
    pub decisions: u64,
    /// States it created.
    pub states_created: u64,
    /// Packets of its states, added when each state ends (pf's rule counters count them
    /// live; adding at the end keeps the per-packet path off the rule table).
    pub state_packets: u64,
    /// Bytes of its states, added when each state ends.
    pub state_bytes: u64,
}

impl FirewallCounters {
    /// Add `other` into `self`.
    pub fn merge(&mut self, other: &FirewallCounters) {
        self.states += other.states;
        self.states_inserted += other.states_inserted;
        self.states_expired += other.states_expired;
        self.states_removed += other.states_removed;
        self.state_hits += other.state_hits;
        self.picked_up_loose += other.picked_up_loose;
        self.rule_evaluations += other.rule_evaluations;
        self.rejects_rst += other.rejects_rst;
        self.rejects_icmp += other.rejects_icmp;
        self.sync_events += other.sync_events;
        self.sync_events_dropped += other.sync_events_dropped;
        self.ruleset_reloads = self.ruleset_reloads.max(other.ruleset_reloads);
        self.sync_apply.merge(&other.sync_apply);
        self.sync_link.merge(&other.sync_link);
        if self.rules.len() < other.rules.len() {
            self.rules
                .resize(other.rules.len(), RuleCounters::default());
        }
        for (mine, theirs) in self.rules.iter_mut().zip(&other.rules) {
            mine.decisions += theirs.decisions;
            mine.states_created += theirs.states_created;
            mine.state_packets += theirs.state_packets;
            mine.state_bytes += theirs.state_bytes;
        }
    }
}

impl WorkerCounters {
    /// Zeroed counters for `ports` ports.
    pub fn new(ports: usize) -> Self {
        WorkerCounters {
            ports: vec![PortCounters::default(); ports],
            forwarded: 0,
            echo_replies: 0,
            arp_replies_sent: 0,
            arp_requests_sent: 0,
            arp_replies_received: 0,
            ndp_solicits_sent: 0,
            ndp_adverts_sent: 0,
            ndp_adverts_received: 0,
            icmp_errors_sent: 0,
            icmp_errors_suppressed: 0,
            generate_failed: 0,
            carp_punted: 0,
            carp_punt_dropped: 0,
            control_sent: 0,
            deferred: 0,
            deferred_acked: 0,
            deferred_timeout: 0,
            deferred_overflow: 0,
            handoff_out: 0,
            handoff_in: 0,
            arp_copies: 0,
            drops: [0; DropReason::COUNT],
            busy_polls: 0,
            idle_polls: 0,
            busy_cycles: 0,
            busy_packets: 0,
            firewall: FirewallCounters::default(),
        }
    }

    /// Count one drop.
    #[inline]
    pub fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Drops under `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Add `other` into `self` (summing workers).
    pub fn merge(&mut self, other: &WorkerCounters) {
        if self.ports.len() < other.ports.len() {
            self.ports
                .resize(other.ports.len(), PortCounters::default());
        }
        for (mine, theirs) in self.ports.iter_mut().zip(&other.ports) {
            mine.rx_packets += theirs.rx_packets;
            mine.rx_bytes += theirs.rx_bytes;
            mine.tx_packets += theirs.tx_packets;
            mine.tx_bytes += theirs.tx_bytes;
        }
        self.forwarded += other.forwarded;
        self.echo_replies += other.echo_replies;
        self.arp_replies_sent += other.arp_replies_sent;
        self.arp_requests_sent += other.arp_requests_sent;
        self.arp_replies_received += other.arp_replies_received;
        self.ndp_solicits_sent += other.ndp_solicits_sent;
        self.ndp_adverts_sent += other.ndp_adverts_sent;
        self.ndp_adverts_received += other.ndp_adverts_received;
        self.icmp_errors_sent += other.icmp_errors_sent;
        self.icmp_errors_suppressed += other.icmp_errors_suppressed;
        self.generate_failed += other.generate_failed;
        self.carp_punted += other.carp_punted;
        self.carp_punt_dropped += other.carp_punt_dropped;
        self.control_sent += other.control_sent;
        self.deferred += other.deferred;
        self.deferred_acked += other.deferred_acked;
        self.deferred_timeout += other.deferred_timeout;
        self.deferred_overflow += other.deferred_overflow;
        self.handoff_out += other.handoff_out;
        self.handoff_in += other.handoff_in;
        self.arp_copies += other.arp_copies;
        for (mine, theirs) in self.drops.iter_mut().zip(&other.drops) {
            *mine += theirs;
        }
        self.busy_polls += other.busy_polls;
        self.idle_polls += other.idle_polls;
        self.busy_cycles += other.busy_cycles;
        self.busy_packets += other.busy_packets;
        self.firewall.merge(&other.firewall);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot_and_name() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn merge_sums() {
        let mut a = WorkerCounters::new(2);
        let mut b = WorkerCounters::new(2);
        a.drop(DropReason::NoRoute);
        b.drop(DropReason::NoRoute);
        b.ports[1].tx_packets = 3;
        b.forwarded = 5;
        a.merge(&b);
        assert_eq!(a.dropped(DropReason::NoRoute), 2);
        assert_eq!(a.ports[1].tx_packets, 3);
        assert_eq!(a.forwarded, 5);
        assert_eq!(a.total_drops(), 2);
    }
}

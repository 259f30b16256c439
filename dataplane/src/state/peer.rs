//! One side of a connection as pf tracks it (`struct pf_state_peer`), pf's per-protocol peer
//! states, and the tracking of UDP, ICMP and other protocols (`pf_test_state`'s non-TCP arms).

use super::timeout::Timeout;

/// pf's TCP peer states (`TCPS_*` from `netinet/tcp_fsm.h`, pfsync.md appendix).
pub mod tcps {
    /// Nothing seen from this side.
    pub const CLOSED: u8 = 0;
    /// Listening (never set by pf's tracker; kept for the numbering).
    pub const LISTEN: u8 = 1;
    /// This side has sent a SYN (or its first packet).
    pub const SYN_SENT: u8 = 2;
    /// Never set by pf's tracker; kept for the numbering.
    pub const SYN_RECEIVED: u8 = 3;
    /// This side's SYN has been acknowledged.
    pub const ESTABLISHED: u8 = 4;
    /// Never set by pf's tracker.
    pub const CLOSE_WAIT: u8 = 5;
    /// Never set by pf's tracker.
    pub const FIN_WAIT_1: u8 = 6;
    /// This side has sent a FIN.
    pub const CLOSING: u8 = 7;
    /// Never set by pf's tracker.
    pub const LAST_ACK: u8 = 8;
    /// This side's FIN has been acknowledged.
    pub const FIN_WAIT_2: u8 = 9;
    /// A RST was seen (pf moves both sides here).
    pub const TIME_WAIT: u8 = 10;
    /// synproxy: handshake with the client in progress (not implemented here; carried by pfsync).
    pub const PROXY_SRC: u8 = 11;
    /// synproxy: handshake with the server in progress (not implemented here; carried by pfsync).
    pub const PROXY_DST: u8 = 12;
    /// Highest value pfsync accepts.
    pub const MAX: u8 = PROXY_DST;
}

/// pf's UDP peer states (`PFUDPS_*`); pf uses the same numbers for other protocols
/// (`PFOTHERS_*`).
pub mod udps {
    /// Nothing sent by this side.
    pub const NO_TRAFFIC: u8 = 0;
    /// This side has sent.
    pub const SINGLE: u8 = 1;
    /// Both sides have sent (set on the side that sent first, when the other answers).
    pub const MULTIPLE: u8 = 2;
}

/// Bit in [`Peer::wscale`]: the SYN carried a window-scale option (pf's `PF_WSCALE_FLAG`).
pub const WSCALE_FLAG: u8 = 0x80;
/// Shift bits of [`Peer::wscale`] (pf's `PF_WSCALE_MASK`).
pub const WSCALE_MASK: u8 = 0x0f;
/// Largest shift RFC 7323 allows (`TCP_MAX_WINSHIFT`); larger options are clamped to it.
pub const MAX_WINSHIFT: u8 = 14;

/// One endpoint of a connection: what pf keeps per side (`struct pf_state_peer`), and what a
/// pfsync peer record carries (pfsync.md §3.1) apart from the scrub block, which rampart does
/// not use (it is sent as zeroes).
///
/// For TCP the fields follow pf exactly: `seqlo` is the highest sequence number this side has
/// sent (plus SYN/FIN), `seqhi` the highest it may send (what the other side acknowledged
/// plus its window), `max_win` the largest window it advertised (unscaled), `wscale` its
/// window-scale option (with [`WSCALE_FLAG`]). For UDP and other protocols only `state`
/// ([`udps`]) is used; for ICMP nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Highest sequence number sent (TCP).
    pub seqlo: u32,
    /// Highest sequence number the other side's window allows (TCP).
    pub seqhi: u32,
    /// Sequence-number modulation offset (`modulate state`). rampart never modulates; it is
    /// carried so that states synced from pf keep it, and it is 0 for states made here.
    pub seqdiff: u32,
    /// Largest window advertised, before scaling (TCP).
    pub max_win: u16,
    /// MSS from this side's SYN, 0 if none was seen (informational; pf sets it for synproxy).
    pub mss: u16,
    /// Peer state: [`tcps`] for TCP, [`udps`] for UDP and other protocols, 0 for ICMP.
    pub state: u8,
    /// Window scale: [`WSCALE_FLAG`] if the SYN carried the option, shift in [`WSCALE_MASK`].
    pub wscale: u8,
}

impl Peer {
    /// All zero: nothing known.
    pub const ZERO: Peer = Peer {
        seqlo: 0,
        seqhi: 0,
        seqdiff: 0,
        max_win: 0,
        mss: 0,
        state: 0,
        wscale: 0,
    };
}

/// The protocol families pf tracks differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtoClass {
    /// TCP: sequence tracking.
    Tcp,
    /// UDP: single/multiple.
    Udp,
    /// ICMP and ICMPv6 (echo states).
    Icmp,
    /// Anything else: single/multiple with the `other.*` timeouts.
    Other,
}

impl ProtoClass {
    /// The class of IP protocol `proto`.
    pub const fn of(proto: u8) -> ProtoClass {
        match proto {
            6 => ProtoClass::Tcp,
            17 => ProtoClass::Udp,
            1 | 58 => ProtoClass::Icmp,
            _ => ProtoClass::Other,
        }
    }

    /// The class a state of this protocol starts in (`pf_create_state`).
    pub const fn first_timeout(self) -> Timeout {
        match self {
            ProtoClass::Tcp => Timeout::TcpFirst,
            ProtoClass::Udp => Timeout::UdpFirst,
            ProtoClass::Icmp => Timeout::IcmpFirst,
            ProtoClass::Other => Timeout::OtherFirst,
        }
    }
}

/// Peers of a new non-TCP state (`pf_create_state`): the creating side SINGLE, the other
/// NO_TRAFFIC; ICMP peers stay zero. TCP peers come from
/// [`tcp::initial_peers`](super::tcp::initial_peers).
pub const fn initial_peers(class: ProtoClass) -> (Peer, Peer) {
    let mut src = Peer::ZERO;
    let dst = src;
    if !matches!(class, ProtoClass::Icmp) {
        src.state = udps::SINGLE;
    }
    (src, dst)
}

/// A UDP or other-protocol packet matched a state: `sender` sent it, `receiver` is the other
/// side. pf: the sender becomes at least SINGLE; if the receiver was SINGLE it becomes
/// MULTIPLE; the class is `*.multiple` once both are MULTIPLE, else `*.single`.
///
/// Note pf's asymmetry, kept here: the first reply makes the *creator* MULTIPLE and the
/// replier SINGLE, so a state reaches `multiple` only on the creator's second packet.
pub fn track_single_multiple(sender: &mut Peer, receiver: &mut Peer, class: ProtoClass) -> Timeout {
    if sender.state < udps::SINGLE {
        sender.state = udps::SINGLE;
    }
    if receiver.state == udps::SINGLE {
        receiver.state = udps::MULTIPLE;
    }
    let both = sender.state == udps::MULTIPLE && receiver.state == udps::MULTIPLE;
    match (class, both) {
        (ProtoClass::Udp, true) => Timeout::UdpMultiple,
        (ProtoClass::Udp, false) => Timeout::UdpSingle,
        (_, true) => Timeout::OtherMultiple,
        (_, false) => Timeout::OtherSingle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_goes_single_then_multiple() {
        let (mut a, mut b) = initial_peers(ProtoClass::Udp);
        assert_eq!((a.state, b.state), (udps::SINGLE, udps::NO_TRAFFIC));
        // Reply: b -> a.
        assert_eq!(
            track_single_multiple(&mut b, &mut a, ProtoClass::Udp),
            Timeout::UdpSingle
        );
        assert_eq!((a.state, b.state), (udps::MULTIPLE, udps::SINGLE));
        // Creator again: a -> b makes b MULTIPLE too.
        assert_eq!(
            track_single_multiple(&mut a, &mut b, ProtoClass::Udp),
            Timeout::UdpMultiple
        );
        assert_eq!((a.state, b.state), (udps::MULTIPLE, udps::MULTIPLE));
    }

    #[test]
    fn other_uses_other_classes() {
        let (mut a, mut b) = initial_peers(ProtoClass::Other);
        assert_eq!(
            track_single_multiple(&mut a, &mut b, ProtoClass::Other),
            Timeout::OtherSingle
        );
        track_single_multiple(&mut b, &mut a, ProtoClass::Other);
        assert_eq!(
            track_single_multiple(&mut a, &mut b, ProtoClass::Other),
            Timeout::OtherMultiple
        );
    }

    #[test]
    fn classes() {
        assert_eq!(ProtoClass::of(6), ProtoClass::Tcp);
        assert_eq!(ProtoClass::of(17), ProtoClass::Udp);
        assert_eq!(ProtoClass::of(1), ProtoClass::Icmp);
        assert_eq!(ProtoClass::of(58), ProtoClass::Icmp);
        assert_eq!(ProtoClass::of(47), ProtoClass::Other);
        let (s, d) = initial_peers(ProtoClass::Icmp);
        assert_eq!((s.state, d.state), (0, 0));
    }
}

//! Timeout classes (pf's `PFTM_*`) and their lengths.
//!
//! A state's expiry is `last activity + timeouts[class]`, as pf computes it in
//! `pf_state_expires()` without adaptive scaling. The class is carried over pfsync as the
//! `timeout` byte, so the discriminants are pf's indices.

use std::time::Duration;

/// Which timeout applies to a state: pf's `PFTM_*` index (pfsync.md appendix). Only the
/// classes a state can be in are listed; `frag`, `interval`, `adaptive.*`, `src.track` and
/// `tcp.tsdiff` (14–19) are settings, not state classes, and SCTP (20–24) is not tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Timeout {
    /// `tcp.first`: after the first packet (PFTM_TCP_FIRST_PACKET = 0).
    TcpFirst = 0,
    /// `tcp.opening`: either side not yet ESTABLISHED.
    TcpOpening = 1,
    /// `tcp.established`: both sides ESTABLISHED.
    TcpEstablished = 2,
    /// `tcp.closing`: one side has sent a FIN.
    TcpClosing = 3,
    /// `tcp.finwait`: both sides have sent a FIN.
    TcpFinWait = 4,
    /// `tcp.closed`: both sides at FIN_WAIT_2 or later (both FINs acknowledged, or a RST).
    TcpClosed = 5,
    /// `udp.first`: after the first packet.
    UdpFirst = 6,
    /// `udp.single`: only the creating side has sent.
    UdpSingle = 7,
    /// `udp.multiple`: both sides have sent.
    UdpMultiple = 8,
    /// `icmp.first`: after the first packet.
    IcmpFirst = 9,
    /// `icmp.error`: after a reply (pf's PFTM_ICMP_ERROR_REPLY).
    IcmpError = 10,
    /// `other.first`: after the first packet (protocols other than TCP/UDP/ICMP).
    OtherFirst = 11,
    /// `other.single`: only the creating side has sent.
    OtherSingle = 12,
    /// `other.multiple`: both sides have sent.
    OtherMultiple = 13,
}

impl Timeout {
    /// Every class, by index.
    pub const ALL: [Timeout; 14] = [
        Timeout::TcpFirst,
        Timeout::TcpOpening,
        Timeout::TcpEstablished,
        Timeout::TcpClosing,
        Timeout::TcpFinWait,
        Timeout::TcpClosed,
        Timeout::UdpFirst,
        Timeout::UdpSingle,
        Timeout::UdpMultiple,
        Timeout::IcmpFirst,
        Timeout::IcmpError,
        Timeout::OtherFirst,
        Timeout::OtherSingle,
        Timeout::OtherMultiple,
    ];

    /// Number of classes.
    pub const COUNT: usize = Self::ALL.len();

    /// pf's `PFTM_*` index, as pfsync carries it.
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The class with pf index `index`, if it is a state class.
    pub fn from_index(index: u8) -> Option<Timeout> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// The pf.conf name (`set timeout tcp.first 120`).
    pub const fn name(self) -> &'static str {
        match self {
            Timeout::TcpFirst => "tcp.first",
            Timeout::TcpOpening => "tcp.opening",
            Timeout::TcpEstablished => "tcp.established",
            Timeout::TcpClosing => "tcp.closing",
            Timeout::TcpFinWait => "tcp.finwait",
            Timeout::TcpClosed => "tcp.closed",
            Timeout::UdpFirst => "udp.first",
            Timeout::UdpSingle => "udp.single",
            Timeout::UdpMultiple => "udp.multiple",
            Timeout::IcmpFirst => "icmp.first",
            Timeout::IcmpError => "icmp.error",
            Timeout::OtherFirst => "other.first",
            Timeout::OtherSingle => "other.single",
            Timeout::OtherMultiple => "other.multiple",
        }
    }
}

/// Length of each timeout class, in whole seconds (pf.conf `set timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    secs: [u32; Timeout::COUNT],
}

impl Timeouts {
    /// pf's defaults: the `PFTM_*_VAL` constants of FreeBSD's `sys/netpfil/pf/pf.h` (identical
    /// in OpenBSD's `pfvar.h`), which pf.conf(5) documents as the `set timeout` defaults.
    pub const PF_DEFAULTS: Timeouts = Timeouts {
        secs: [
            120,    // tcp.first       PFTM_TCP_FIRST_PACKET_VAL
            30,     // tcp.opening     PFTM_TCP_OPENING_VAL
            86_400, // tcp.established PFTM_TCP_ESTABLISHED_VAL (24 h)
            900,    // tcp.closing     PFTM_TCP_CLOSING_VAL (15 min)
            45,     // tcp.finwait     PFTM_TCP_FIN_WAIT_VAL
            90,     // tcp.closed      PFTM_TCP_CLOSED_VAL
            60,     // udp.first       PFTM_UDP_FIRST_PACKET_VAL
            30,     // udp.single      PFTM_UDP_SINGLE_VAL
            60,     // udp.multiple    PFTM_UDP_MULTIPLE_VAL
            20,     // icmp.first      PFTM_ICMP_FIRST_PACKET_VAL
            10,     // icmp.error      PFTM_ICMP_ERROR_REPLY_VAL
            60,     // other.first     PFTM_OTHER_FIRST_PACKET_VAL
            30,     // other.single    PFTM_OTHER_SINGLE_VAL
            60,     // other.multiple  PFTM_OTHER_MULTIPLE_VAL
        ],
    };

    /// Seconds for `class`.
    #[inline]
    pub fn secs(&self, class: Timeout) -> u32 {
        self.secs.get(class as usize).copied().unwrap_or(0)
    }

    /// The length of `class`.
    pub fn get(&self, class: Timeout) -> Duration {
        Duration::from_secs(u64::from(self.secs(class)))
    }

    /// Microseconds for `class` (what the table adds to an [`Instant`](crate::time::Instant)).
    #[inline]
    pub(crate) fn micros(&self, class: Timeout) -> u64 {
        u64::from(self.secs(class)) * 1_000_000
    }

    /// Sets `class` to `secs` seconds.
    pub fn set(&mut self, class: Timeout, secs: u32) {
        if let Some(s) = self.secs.get_mut(class as usize) {
            *s = secs;
        }
    }
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::PF_DEFAULTS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_pfs() {
        for (i, t) in Timeout::ALL.iter().enumerate() {
            assert_eq!(usize::from(t.index()), i);
            assert_eq!(Timeout::from_index(i as u8), Some(*t));
        }
        assert_eq!(Timeout::from_index(14), None);
        assert_eq!(Timeout::UdpMultiple.index(), 8);
        assert_eq!(Timeout::OtherMultiple.index(), 13);
    }

    #[test]
    fn defaults_match_pf() {
        let t = Timeouts::default();
        assert_eq!(t.secs(Timeout::TcpFirst), 120);
        assert_eq!(t.secs(Timeout::TcpOpening), 30);
        assert_eq!(t.secs(Timeout::TcpEstablished), 86_400);
        assert_eq!(t.secs(Timeout::TcpClosing), 900);
        assert_eq!(t.secs(Timeout::TcpFinWait), 45);
        assert_eq!(t.secs(Timeout::TcpClosed), 90);
        assert_eq!(t.secs(Timeout::UdpFirst), 60);
        assert_eq!(t.secs(Timeout::UdpSingle), 30);
        assert_eq!(t.secs(Timeout::UdpMultiple), 60);
        assert_eq!(t.secs(Timeout::IcmpFirst), 20);
        assert_eq!(t.secs(Timeout::IcmpError), 10);
        assert_eq!(t.secs(Timeout::OtherFirst), 60);
        assert_eq!(t.secs(Timeout::OtherSingle), 30);
        assert_eq!(t.secs(Timeout::OtherMultiple), 60);
        let mut u = t;
        u.set(Timeout::UdpSingle, 5);
        assert_eq!(u.get(Timeout::UdpSingle), Duration::from_secs(5));
        assert_eq!(u.micros(Timeout::UdpSingle), 5_000_000);
    }
}

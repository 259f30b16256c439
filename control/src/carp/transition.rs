//! States, the reasons a vhid changes state, and the record of each change (for logs,
//! counters and status).

use std::fmt;

use rampart_dataplane::time::Instant;

/// A vhid's state (carp.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running: link down, not started yet, or stopped.
    Init,
    /// Listening; silent for the VIPs.
    Backup,
    /// Owns the VIPs and advertises.
    Master,
}

impl State {
    /// Upper-case name, as carp(4) and pfSense print it.
    pub const fn name(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a vhid changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// INIT → BACKUP: the port's link is up (or the machine started).
    LinkUp,
    /// → INIT: the port's link went down.
    LinkDown,
    /// → INIT: graceful stop (a master sends a bow-out first).
    Shutdown,
    /// BACKUP → MASTER: no advert for 3 × advbase + advskew/256.
    MasterDownTimer,
    /// BACKUP → MASTER: we preempted a master that advertises slower than us.
    Preempted,
    /// BACKUP → MASTER: the master's interval exceeds 3 × our advbase, it would time out.
    MasterWillTimeOut,
    /// BACKUP → MASTER: the master bowed out (advbase 255, advskew 255).
    BowOutReceived,
    /// MASTER → BACKUP: a master that advertises faster than us.
    HigherPrioritySeen,
    /// MASTER → BACKUP: a master with our interval; both step down (FreeBSD), and the
    /// first master-down timer to fire wins.
    EqualPrioritySeen,
    /// MASTER → BACKUP: we lost only because of our demotion.
    Demoted,
    /// MASTER → BACKUP: we lost only because of maintenance mode.
    Maintenance,
}

impl Reason {
    /// Every reason (indexes [`TransitionCounts`]).
    pub const ALL: [Reason; 11] = [
        Reason::LinkUp,
        Reason::LinkDown,
        Reason::Shutdown,
        Reason::MasterDownTimer,
        Reason::Preempted,
        Reason::MasterWillTimeOut,
        Reason::BowOutReceived,
        Reason::HigherPrioritySeen,
        Reason::EqualPrioritySeen,
        Reason::Demoted,
        Reason::Maintenance,
    ];

    /// Stable counter name.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::LinkUp => "link_up",
            Reason::LinkDown => "link_down",
            Reason::Shutdown => "shutdown",
            Reason::MasterDownTimer => "master_down_timer",
            Reason::Preempted => "preempted",
            Reason::MasterWillTimeOut => "master_will_time_out",
            Reason::BowOutReceived => "bow_out_received",
            Reason::HigherPrioritySeen => "higher_priority_seen",
            Reason::EqualPrioritySeen => "equal_priority_seen",
            Reason::Demoted => "demoted",
            Reason::Maintenance => "maintenance",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The vhid.
    pub vhid: u8,
    /// State before.
    pub from: State,
    /// State after.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at: Instant,
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vhid {}: {} -> {} ({})",
            self.vhid, self.from, self.to, self.reason
        )
    }
}

/// Transitions counted by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransitionCounts([u64; Reason::ALL.len()]);

impl TransitionCounts {
    /// Counts one transition.
    pub fn add(&mut self, reason: Reason) {
        if let Some(n) = self.0.get_mut(reason.index()) {
            *n += 1;
        }
    }

    /// Transitions for one reason.
    pub fn get(&self, reason: Reason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }

    /// `(counter name, value)` for every reason.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Reason::ALL.iter().map(|&r| (r.name(), self.get(r)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_all_in_index_order() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let t = Transition {
            vhid: 7,
            from: State::Backup,
            to: State::Master,
            reason: Reason::BowOutReceived,
            at: Instant::ZERO,
        };
        assert_eq!(t.to_string(), "vhid 7: BACKUP -> MASTER (bow_out_received)");
    }
}

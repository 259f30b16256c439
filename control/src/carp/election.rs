//! The decision on a valid advert (carp.md §3.3, FreeBSD / pfSense rules), as pure
//! functions of the two intervals. Intervals are compared, not skews: the shorter wins.
//!
//! As BACKUP, in this order:
//! 1. a bow-out (255/255) slower than 3 × our advbase → take over (`bow_out_received`);
//! 2. preemption on and the master slower than us → take over (`preempted`);
//! 3. the master slower than 3 × our advbase → take over (`master_will_time_out`);
//! 4. otherwise restart the master-down timer.
//!
//! As MASTER: a sender with an interval ≤ ours makes us step down, a tie included (both
//! step down and the first master-down timer wins; ucarp's byte-swapped address tie-break
//! is not copied, it can leave two masters with a BSD peer). A slower sender changes
//! nothing; the caller re-announces the VIPs, since that sender may have just taken them
//! with its own ARP (ucarp, §3.3).
//!
//! The OpenBSD demote byte is read but not used (FreeBSD semantics; pfSense peers send 0).

use super::interval::Interval;
use super::transition::Reason;
use super::wire::Advert;

/// What a backup does with a valid advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupDecision {
    /// Become master now, for this reason.
    TakeOver(Reason),
    /// Keep waiting: restart the master-down timer.
    Wait,
}

/// What a master does with a valid advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterDecision {
    /// Become backup, for this reason.
    StepDown(Reason),
    /// Stay master; the sender is slower (re-announce the VIPs).
    Stay,
}

/// How our side of the comparison is made up, for attributing a lost election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ours {
    /// Our advbase.
    pub advbase: u8,
    /// What we advertise and compare with: demotion and maintenance included, clamped.
    pub interval: Interval,
    /// Our interval without maintenance mode (demotion included).
    pub without_maintenance: Interval,
    /// Our interval without maintenance mode and without demotion.
    pub undemoted: Interval,
    /// Whether we preempt slower masters.
    pub preempt: bool,
}

/// The backup rules.
pub fn as_backup(ours: &Ours, advert: &Advert) -> BackupDecision {
    let theirs = advert.interval();
    let timeout_bound = Interval::timeout_bound(ours.advbase);
    if advert.is_bow_out() && theirs > timeout_bound {
        BackupDecision::TakeOver(Reason::BowOutReceived)
    } else if ours.preempt && theirs > ours.interval {
        BackupDecision::TakeOver(Reason::Preempted)
    } else if theirs > timeout_bound {
        BackupDecision::TakeOver(Reason::MasterWillTimeOut)
    } else {
        BackupDecision::Wait
    }
}

/// The master rules, with the reason naming what made us lose.
pub fn as_master(ours: &Ours, advert: &Advert) -> MasterDecision {
    let theirs = advert.interval();
    if theirs > ours.interval {
        return MasterDecision::Stay;
    }
    let reason = if theirs > ours.without_maintenance {
        Reason::Maintenance
    } else if theirs > ours.undemoted {
        Reason::Demoted
    } else if theirs == ours.interval {
        Reason::EqualPrioritySeen
    } else {
        Reason::HigherPrioritySeen
    };
    MasterDecision::StepDown(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(advskew: u8, preempt: bool) -> Ours {
        let interval = Interval::advert(1, advskew);
        Ours {
            advbase: 1,
            interval,
            without_maintenance: interval,
            undemoted: interval,
            preempt,
        }
    }

    fn advert(advbase: u8, advskew: u8) -> Advert {
        Advert {
            vhid: 1,
            advbase,
            advskew,
            demote: 0,
            counter: 0,
        }
    }

    #[test]
    fn test_backup_rules() {
        use BackupDecision::*;
        let o = ours(100, true);
        assert_eq!(as_backup(&o, &advert(1, 0)), Wait);
        assert_eq!(as_backup(&o, &advert(1, 100)), Wait); // tie: no preemption
        assert_eq!(as_backup(&o, &advert(1, 101)), TakeOver(Reason::Preempted));
        assert_eq!(as_backup(&ours(100, false), &advert(1, 200)), Wait);
        assert_eq!(
            as_backup(&ours(100, false), &advert(3, 1)),
            TakeOver(Reason::MasterWillTimeOut)
        );
        assert_eq!(as_backup(&ours(100, false), &advert(3, 0)), Wait);
        assert_eq!(
            as_backup(&ours(100, false), &advert(255, 255)),
            TakeOver(Reason::BowOutReceived)
        );
        // advbase 1 skew 200 beats advbase 2 skew 0.
        assert_eq!(
            as_backup(&ours(200, true), &advert(2, 0)),
            TakeOver(Reason::Preempted)
        );
    }

    #[test]
    fn test_master_rules() {
        use MasterDecision::*;
        let o = ours(100, true);
        assert_eq!(as_master(&o, &advert(1, 101)), Stay);
        assert_eq!(
            as_master(&o, &advert(1, 100)),
            StepDown(Reason::EqualPrioritySeen)
        );
        assert_eq!(
            as_master(&o, &advert(1, 0)),
            StepDown(Reason::HigherPrioritySeen)
        );

        // Maintenance (254 → 240 on the wire) against a peer at 100.
        let m = Ours {
            interval: Interval::advert(1, 240),
            without_maintenance: Interval::advert(1, 0),
            undemoted: Interval::advert(1, 0),
            ..ours(0, true)
        };
        assert_eq!(
            as_master(&m, &advert(1, 100)),
            StepDown(Reason::Maintenance)
        );
        // Demoted by 240 from 0 against a peer at 100.
        let d = Ours {
            without_maintenance: Interval::advert(1, 240),
            ..m
        };
        assert_eq!(as_master(&d, &advert(1, 100)), StepDown(Reason::Demoted));
    }
}

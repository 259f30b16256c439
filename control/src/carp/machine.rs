//! One vhid's CARP state machine, sans-IO: the caller passes the time with every input and
//! carries out the actions it takes out. No clock, no sockets, no randomness of its own
//! (the caller gives a seed).
//!
//! # Driving it
//!
//! * [`Machine::handle`]`(now, event)` for everything that happens: a verified advert,
//!   a timer tick, link up/down, a new node demotion, maintenance on/off, shutdown.
//! * [`Machine::receive`]`(now, &incoming)` for a received packet: the checks of `rx`,
//!   then the replay check and the election; a failure is counted and returned.
//! * [`Machine::poll_action`] until `None` after each input, carrying the actions out in
//!   order; [`Machine::poll_timeout`] says when to send [`Event::Tick`] next.
//!
//! # Behaviour (FreeBSD / pfSense, carp.md §3)
//!
//! * Starts in INIT; [`Event::LinkUp`] moves it to BACKUP and starts the master-down timer,
//!   3 × advbase + advskew/256 (the configured skew, maintenance included, demotion not).
//! * A backup that hears nothing before the timer fires becomes MASTER: it advertises at
//!   once, claims the VIPs ([`Action::BecomeMaster`]), and advertises every
//!   advbase + skew/256, where skew is advskew + demotion clamped to 0..=240. Two
//!   adverts after taking over it announces the VIPs again ([`Action::Announce`]), as
//!   OpenBSD and ucarp do for switches that missed the first ARP.
//! * Valid adverts are judged by `election`. Preemption is on by default
//!   ([`Config::preempt`]).
//! * A change of the advertised skew (demotion, maintenance) makes a master advertise at
//!   once, so a preempting peer reacts within one round trip.
//! * [`Event::Shutdown`] makes a master send a bow-out (advbase 255, advskew 255), on which
//!   a backup takes over at once; the machine then stays in INIT.
//! * Counter: random at start (from the seed), +1 per advert sent, and the value of every
//!   accepted advert is adopted, as FreeBSD does. A counter accepted recently is refused
//!   (`replay`).
//! * A master that steps down on a tie waits up to one extra second (random) before its
//!   master-down timer fires, so two identical nodes that step down together do not rise
//!   together again forever; FreeBSD relies on its timers' natural jitter for this.

use std::collections::VecDeque;
use std::net::IpAddr;

use rampart_dataplane::time::Instant;

use super::auth::Auth;
use super::demotion::effective_skew;
use super::election::{self, BackupDecision, MasterDecision, Ours};
use super::interval::Interval;
use super::maintenance::MaintenanceRecord;
use super::replay::RecentCounters;
use super::rx::{DropCounts, DropReason, Incoming, Verifier};
use super::transition::{Reason, State, Transition, TransitionCounts};
use super::wire::{Advert, HEADER_LEN};

/// pfSense's maintenance-mode advskew.
pub const MAINTENANCE_ADVSKEW: u8 = 254;
/// Largest configurable advskew (FreeBSD rejects 255).
pub const MAX_ADVSKEW: u8 = 254;

/// A vhid's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Virtual host id, 1..=255.
    pub vhid: u8,
    /// Base advertisement interval in seconds, 1..=255 (pfSense default 1).
    pub advbase: u8,
    /// Skew, 0..=254 (pfSense: 0 on the primary, +100 on the secondary).
    pub advskew: u8,
    /// Shared password (at most 19 bytes are used, as the BSDs do).
    pub password: Vec<u8>,
    /// Every address of the vhid: the CARP VIPs and the IP aliases stacked on them. All of
    /// them are authenticated, so both nodes must list the same set.
    pub addrs: Vec<IpAddr>,
    /// Take over from a master that advertises slower than us (default on).
    pub preempt: bool,
    /// Refuse adverts whose counter was accepted recently (default on; turn off for
    /// OpenBSD peers, whose counter never changes).
    pub replay_check: bool,
    /// Require TTL 255 (default on; FreeBSD skips it in unicast mode).
    pub check_ttl: bool,
    /// Our own addresses on the link, which our adverts carry as source; adverts from
    /// them are loops and dropped.
    pub local: Vec<IpAddr>,
}

impl Config {
    /// A vhid with pfSense's defaults: advbase 1, advskew 0, preemption, replay and TTL
    /// checks on.
    pub fn new(vhid: u8, password: impl Into<Vec<u8>>, addrs: Vec<IpAddr>) -> Config {
        Config {
            vhid,
            advbase: 1,
            advskew: 0,
            password: password.into(),
            addrs,
            preempt: true,
            replay_check: true,
            check_ttl: true,
            local: Vec::new(),
        }
    }

    /// Checks the ranges carp(4) accepts.
    ///
    /// # Errors
    /// The first value out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vhid == 0 {
            return Err(ConfigError::VhidZero);
        }
        if self.advbase == 0 {
            return Err(ConfigError::AdvbaseZero);
        }
        if self.advskew > MAX_ADVSKEW {
            return Err(ConfigError::AdvskewTooLarge(self.advskew));
        }
        if self.addrs.is_empty() {
            return Err(ConfigError::NoAddresses);
        }
        Ok(())
    }
}

/// A configuration the machine refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// vhid 0 is not configurable.
    #[error("vhid must be 1 to 255")]
    VhidZero,
    /// advbase 0 (OpenBSD's sub-second mode) is not supported.
    #[error("advbase must be 1 to 255 seconds")]
    AdvbaseZero,
    /// advskew 255 is reserved for the bow-out.
    #[error("advskew must be 0 to 254, not {0}")]
    AdvskewTooLarge(u8),
    /// A vhid without addresses has nothing to fail over.
    #[error("the vhid has no addresses")]
    NoAddresses,
}

/// Address family of an advert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4, to 224.0.0.18 (or the unicast peer).
    V4,
    /// IPv6, to ff02::12 (or the unicast peer).
    V6,
}

/// An advert to send: one per address family the vhid has, each with its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// Which family to send it over.
    pub family: Family,
    /// Its fields.
    pub advert: Advert,
    /// The encoded header (HMAC and checksum filled in), the IP payload with TTL 255.
    pub bytes: [u8; HEADER_LEN],
}

/// What happened to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A received advert that passed [`Verifier::check`] (use [`Machine::receive`] for raw
    /// packets).
    Advert(Advert),
    /// The time returned by [`Machine::poll_timeout`] has come.
    Tick,
    /// The vhid's port has link (or the node has started).
    LinkUp,
    /// The vhid's port lost its link.
    LinkDown,
    /// The node's demotion total changed (see `demotion`).
    Demotion(i32),
    /// Maintenance mode on or off.
    Maintenance(bool),
    /// Graceful stop.
    Shutdown,
}

/// What the caller must do, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The state changed: log it, count it, publish it.
    Transition(Transition),
    /// Send this advert.
    SendAdvert(Outgoing),
    /// Claim the VIPs: answer ARP / ND for them with the virtual MAC 00:00:5e:00:01:vhid,
    /// accept frames to that MAC, and announce them now (a gratuitous ARP per IPv4
    /// address, an unsolicited NA per IPv6 address).
    BecomeMaster,
    /// Announce the VIPs again (gratuitous ARP / unsolicited NA), still master.
    Announce,
    /// No longer master: stop answering for the VIPs and stop accepting the virtual MAC.
    StopAnswering,
}

/// Counters (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Adverts sent (one per family), bow-outs included.
    pub adverts_sent: u64,
    /// Bow-out adverts sent.
    pub bow_outs_sent: u64,
    /// Valid adverts accepted.
    pub adverts_received: u64,
    /// Adverts dropped, by reason.
    pub drops: DropCounts,
    /// State changes, by reason.
    pub transitions: TransitionCounts,
}

/// SplitMix64: a tiny deterministic generator for the counter start and the tie jitter.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Adverts after taking over at which the VIPs are announced again (OpenBSD, ucarp).
const DELAYED_ANNOUNCE: u8 = 2;

/// One vhid's state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    config: Config,
    verifier: Verifier,
    /// The families the vhid has addresses in (IPv4 first), one advert each.
    families: [Option<Family>; 2],
    state: State,
    stopped: bool,
    maintenance: bool,
    demotion: i32,
    counter: u64,
    rng: SplitMix,
    recent: RecentCounters,
    master_down_at: Option<Instant>,
    advert_at: Option<Instant>,
    announce_in: Option<u8>,
    actions: VecDeque<Action>,
    stats: Stats,
}

impl Machine {
    /// A machine in INIT. `seed` should be random per start (it picks the first counter).
    ///
    /// # Errors
    /// [`ConfigError`] if the configuration is out of range.
    pub fn new(config: Config, seed: u64) -> Result<Machine, ConfigError> {
        config.validate()?;
        let families = [
            config
                .addrs
                .iter()
                .any(IpAddr::is_ipv4)
                .then_some(Family::V4),
            config
                .addrs
                .iter()
                .any(IpAddr::is_ipv6)
                .then_some(Family::V6),
        ];
        let verifier = Verifier {
            vhid: config.vhid,
            auth: Auth::new(&config.password, config.vhid, &config.addrs),
            check_ttl: config.check_ttl,
            local: config.local.clone(),
        };
        let mut rng = SplitMix(seed);
        let counter = rng.next();
        Ok(Machine {
            config,
            verifier,
            families,
            state: State::Init,
            stopped: false,
            maintenance: false,
            demotion: 0,
            counter,
            rng,
            recent: RecentCounters::default(),
            master_down_at: None,
            advert_at: None,
            announce_in: None,
            actions: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// The vhid.
    pub fn vhid(&self) -> u8 {
        self.config.vhid
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The receive checks for this vhid (for callers that verify elsewhere).
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether maintenance mode is on.
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// The record to persist for maintenance mode (see `maintenance`).
    pub fn maintenance_record(&self) -> MaintenanceRecord {
        MaintenanceRecord {
            enabled: self.maintenance,
        }
    }

    /// The node demotion this machine applies.
    pub fn demotion(&self) -> i32 {
        self.demotion
    }

    /// The advskew in force: the configured one, or 254 in maintenance mode.
    pub fn advskew(&self) -> u8 {
        if self.maintenance {
            MAINTENANCE_ADVSKEW
        } else {
            self.config.advskew
        }
    }

    /// The skew advertised and compared with: advskew + demotion, clamped to 0..=240.
    pub fn advertised_skew(&self) -> u8 {
        effective_skew(self.advskew(), self.demotion)
    }

    /// Our advertisement interval.
    pub fn interval(&self) -> Interval {
        Interval::advert(self.config.advbase, self.advertised_skew())
    }

    /// The next action to carry out.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to send [`Event::Tick`] next; `None` when no timer runs (INIT). Changes after
    /// any [`Machine::handle`] or [`Machine::receive`].
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Init => None,
            State::Backup => self.master_down_at,
            State::Master => self.advert_at,
        }
    }

    /// Checks a received packet (carp.md §1.4, then replay) and, if it passes, runs the
    /// election on it.
    ///
    /// # Errors
    /// The reason it was dropped (already counted in [`Stats::drops`]).
    pub fn receive(&mut self, now: Instant, incoming: &Incoming<'_>) -> Result<(), DropReason> {
        match self.verifier.check(incoming) {
            Ok(advert) => self.on_advert(now, advert),
            Err(reason) => {
                self.stats.drops.add(reason);
                Err(reason)
            }
        }
    }

    /// Feeds one event.
    pub fn handle(&mut self, now: Instant, event: Event) {
        match event {
            // Drops are counted inside; nothing more to tell here.
            Event::Advert(advert) => {
                let _ = self.on_advert(now, advert);
            }
            Event::Tick => self.on_tick(now),
            Event::LinkUp => {
                if self.state == State::Init && !self.stopped {
                    self.set_state(now, State::Backup, Reason::LinkUp);
                    self.arm_master_down(now, Interval(0));
                }
            }
            Event::LinkDown => self.enter_init(now, Reason::LinkDown),
            Event::Demotion(total) => {
                let before = self.advertised_skew();
                self.demotion = total;
                self.readvertise_if_changed(now, before);
            }
            Event::Maintenance(on) => {
                let before = self.advertised_skew();
                self.maintenance = on;
                self.readvertise_if_changed(now, before);
            }
            Event::Shutdown => {
                if self.state == State::Master {
                    for family in self.families.into_iter().flatten() {
                        let advert = Advert::bow_out(self.config.vhid, self.next_counter());
                        self.push_advert(family, advert);
                        self.stats.bow_outs_sent += 1;
                    }
                }
                self.enter_init(now, Reason::Shutdown);
                self.stopped = true;
            }
        }
    }

    fn on_advert(&mut self, now: Instant, advert: Advert) -> Result<(), DropReason> {
        if self.state == State::Init {
            self.stats.drops.add(DropReason::Inactive);
            return Err(DropReason::Inactive);
        }
        if self.config.replay_check && !self.recent.accept(advert.counter) {
            self.stats.drops.add(DropReason::Replay);
            return Err(DropReason::Replay);
        }
        self.stats.adverts_received += 1;
        // FreeBSD adopts the counter of every valid advert, so the pair counts together.
        self.counter = advert.counter;
        let ours = self.ours();
        match self.state {
            State::Backup => match election::as_backup(&ours, &advert) {
                BackupDecision::TakeOver(reason) => self.become_master(now, reason),
                BackupDecision::Wait => self.arm_master_down(now, Interval(0)),
            },
            State::Master => match election::as_master(&ours, &advert) {
                MasterDecision::StepDown(reason) => self.step_down(now, reason),
                MasterDecision::Stay => self.actions.push_back(Action::Announce),
            },
            State::Init => {}
        }
        Ok(())
    }

    fn on_tick(&mut self, now: Instant) {
        match self.state {
            State::Init => {}
            State::Backup => {
                if self.master_down_at.is_some_and(|t| t <= now) {
                    self.become_master(now, Reason::MasterDownTimer);
                }
            }
            State::Master => {
                if self.advert_at.is_some_and(|t| t <= now) {
                    self.advertise(now);
                    if let Some(n) = self.announce_in {
                        if n <= 1 {
                            self.announce_in = None;
                            self.actions.push_back(Action::Announce);
                        } else {
                            self.announce_in = Some(n - 1);
                        }
                    }
                }
            }
        }
    }

    /// Our side of an election.
    fn ours(&self) -> Ours {
        let advbase = self.config.advbase;
        let cfg = self.config.advskew;
        Ours {
            advbase,
            interval: self.interval(),
            without_maintenance: Interval::advert(advbase, effective_skew(cfg, self.demotion)),
            undemoted: Interval::advert(advbase, effective_skew(cfg, 0)),
            preempt: self.config.preempt,
        }
    }

    fn set_state(&mut self, now: Instant, to: State, reason: Reason) {
        let transition = Transition {
            vhid: self.config.vhid,
            from: self.state,
            to,
            reason,
            at: now,
        };
        self.state = to;
        self.stats.transitions.add(reason);
        self.actions.push_back(Action::Transition(transition));
    }

    fn become_master(&mut self, now: Instant, reason: Reason) {
        self.set_state(now, State::Master, reason);
        self.master_down_at = None;
        // As FreeBSD: the advert first, then the ARP announcements.
        self.advertise(now);
        self.actions.push_back(Action::BecomeMaster);
        self.announce_in = Some(DELAYED_ANNOUNCE);
    }

    fn step_down(&mut self, now: Instant, reason: Reason) {
        self.set_state(now, State::Backup, reason);
        self.advert_at = None;
        self.announce_in = None;
        self.actions.push_back(Action::StopAnswering);
        let jitter = if reason == Reason::EqualPrioritySeen {
            Interval(u32::try_from(self.rng.next() % 256).unwrap_or(0))
        } else {
            Interval(0)
        };
        self.arm_master_down(now, jitter);
    }

    fn enter_init(&mut self, now: Instant, reason: Reason) {
        let was = self.state;
        if was == State::Init {
            return;
        }
        self.set_state(now, State::Init, reason);
        self.master_down_at = None;
        self.advert_at = None;
        self.announce_in = None;
        if was == State::Master {
            self.actions.push_back(Action::StopAnswering);
        }
    }

    fn arm_master_down(&mut self, now: Instant, extra: Interval) {
        let wait = Interval::master_down(self.config.advbase, self.advskew());
        self.master_down_at = Some(now + wait.duration() + extra.duration());
    }

    /// Sends an advert per family now and schedules the next one.
    fn advertise(&mut self, now: Instant) {
        let advskew = self.advertised_skew();
        for family in self.families.into_iter().flatten() {
            let advert = Advert {
                vhid: self.config.vhid,
                advbase: self.config.advbase,
                advskew,
                demote: 0,
                counter: self.next_counter(),
            };
            self.push_advert(family, advert);
        }
        self.advert_at = Some(now + self.interval().duration());
    }

    fn readvertise_if_changed(&mut self, now: Instant, before: u8) {
        if self.state == State::Master && self.advertised_skew() != before {
            self.advertise(now);
        }
    }

    fn next_counter(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    fn push_advert(&mut self, family: Family, advert: Advert) {
        let bytes = advert.to_bytes(&self.verifier.auth);
        self.stats.adverts_sent += 1;
        self.actions.push_back(Action::SendAdvert(Outgoing {
            family,
            advert,
            bytes,
        }));
    }
}

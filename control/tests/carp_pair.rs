//! CARP pair tests: two vhid machines on a fake clock, joined by an in-memory link that
//! carries one's adverts to the other (encoded, checksummed, HMAC'd: the full receive path
//! runs) with a fixed latency and optional loss.

// Test glue: helpers outside #[test] fns may panic on broken fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::IpAddr;
use std::time::Duration;

use rampart_control::carp::{
    Action, Config, Demotion, DropReason, Event, Incoming, Instant, Machine, MaintenanceRecord,
    Reason, State, Transition, maintenance,
};

const VIP: &str = "192.0.2.100";
const PASS: &str = "s3cretpass";
const VHID: u8 = 7;
const ADDRS: [&str; 2] = ["192.0.2.1", "192.0.2.2"];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn config(advskew: u8) -> Config {
    let mut c = Config::new(VHID, PASS, vec![ip(VIP)]);
    c.advskew = advskew;
    c
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// An advert on the wire.
#[derive(Debug, Clone, Copy)]
struct Frame {
    at: Instant,
    to: usize,
    src: IpAddr,
    ttl: u8,
    bytes: [u8; 36],
}

struct Node {
    machine: Machine,
    alive: bool,
    transitions: Vec<Transition>,
    /// Adverts sent: (when, bytes).
    sent: Vec<(Instant, [u8; 36])>,
    /// Gratuitous ARP rounds: (when, first after taking over).
    announced: Vec<(Instant, bool)>,
    stopped_answering: Vec<Instant>,
}

impl Node {
    fn new(config: Config, seed: u64) -> Node {
        Node {
            machine: Machine::new(config, seed).unwrap(),
            alive: true,
            transitions: Vec::new(),
            sent: Vec::new(),
            announced: Vec::new(),
            stopped_answering: Vec::new(),
        }
    }

    fn state(&self) -> State {
        self.machine.state()
    }

    fn last_transition(&self) -> Transition {
        *self.transitions.last().unwrap()
    }
}

type Loss = Box<dyn FnMut(usize, &[u8; 36]) -> bool>;

struct Pair {
    nodes: [Node; 2],
    now: Instant,
    latency: Duration,
    in_flight: Vec<Frame>,
    /// Returns true to lose a frame from node `from`.
    loss: Loss,
    /// Every frame that went on the wire, for replay attacks.
    wire: Vec<Frame>,
    /// Moments with two masters.
    dual_master: Vec<Instant>,
}

impl Pair {
    fn new(a: Config, b: Config) -> Pair {
        Pair {
            nodes: [Node::new(a, 11), Node::new(b, 22)],
            now: Instant::from_secs(1),
            latency: Duration::from_millis(2),
            in_flight: Vec::new(),
            loss: Box::new(|_, _| false),
            wire: Vec::new(),
            dual_master: Vec::new(),
        }
    }

    /// The two usual nodes: A preferred (advskew 0), B secondary (advskew 100, pfSense).
    fn primary_secondary() -> Pair {
        Pair::new(config(0), config(100))
    }

    fn event(&mut self, i: usize, event: Event) {
        let now = self.now;
        self.nodes[i].machine.handle(now, event);
        self.drain(i);
    }

    fn start(&mut self, i: usize) {
        self.event(i, Event::LinkUp);
    }

    fn start_both(&mut self) {
        self.start(0);
        self.start(1);
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.in_flight.retain(|f| f.to != i);
    }

    /// A fresh process on node `i`: a new machine in INIT, events fed before link up.
    fn restart(&mut self, i: usize, config: Config, before_start: &[Event]) {
        self.nodes[i] = Node::new(config, 33 + self.now.0);
        for &e in before_start {
            self.event(i, e);
        }
        self.start(i);
    }

    fn drain(&mut self, i: usize) {
        let now = self.now;
        while let Some(action) = self.nodes[i].machine.poll_action() {
            let node = &mut self.nodes[i];
            match action {
                Action::Transition(t) => node.transitions.push(t),
                Action::SendAdvert(out) => {
                    node.sent.push((now, out.bytes));
                    let frame = Frame {
                        at: now + self.latency,
                        to: 1 - i,
                        src: ip(ADDRS[i]),
                        ttl: 255,
                        bytes: out.bytes,
                    };
                    self.wire.push(frame);
                    if !(self.loss)(i, &out.bytes) {
                        self.in_flight.push(frame);
                    }
                }
                Action::BecomeMaster => node.announced.push((now, true)),
                Action::Announce => node.announced.push((now, false)),
                Action::StopAnswering => node.stopped_answering.push(now),
            }
        }
        let masters = self
            .nodes
            .iter()
            .filter(|n| n.alive && n.state() == State::Master)
            .count();
        if masters > 1 {
            self.dual_master.push(now);
        }
    }

    fn deliver(&mut self, frame: Frame) -> Result<(), DropReason> {
        let i = frame.to;
        if !self.nodes[i].alive {
            return Ok(());
        }
        let incoming = Incoming {
            src: frame.src,
            ttl: frame.ttl,
            bytes: &frame.bytes,
        };
        let now = self.now;
        let result = self.nodes[i].machine.receive(now, &incoming);
        self.drain(i);
        result
    }

    /// Injects a frame into node `to` now (an attacker, or a duplicating switch).
    fn inject(&mut self, to: usize, src: IpAddr, bytes: [u8; 36]) -> Result<(), DropReason> {
        self.deliver(Frame {
            at: self.now,
            to,
            src,
            ttl: 255,
            bytes,
        })
    }

    fn next_event(&self) -> Option<Instant> {
        let timers = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.machine.poll_timeout());
        let frames = self.in_flight.iter().map(|f| f.at);
        timers.chain(frames).min()
    }

    /// Runs every event up to and including `until`, then sets the clock there.
    fn run_until(&mut self, until: Instant) {
        while let Some(at) = self.next_event().filter(|&t| t <= until) {
            self.now = at;
            let (due, later): (Vec<Frame>, Vec<Frame>) =
                self.in_flight.iter().partition(|f| f.at <= at);
            self.in_flight = later;
            for frame in due {
                let _ = self.deliver(frame);
            }
            for i in 0..2 {
                let node = &self.nodes[i];
                if node.alive && node.machine.poll_timeout().is_some_and(|t| t <= at) {
                    self.event(i, Event::Tick);
                }
            }
        }
        self.now = until;
    }

    fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs until node `i` is MASTER (at most `limit`); returns when it became so.
    fn run_until_master(&mut self, i: usize, limit: Duration) -> Option<Instant> {
        let end = self.now + limit;
        while self.nodes[i].state() != State::Master {
            let at = self.next_event().filter(|&t| t <= end)?;
            self.run_until(at);
        }
        Some(self.now)
    }

    fn states(&self) -> [State; 2] {
        [self.nodes[0].state(), self.nodes[1].state()]
    }

    /// A and B converged with A master.
    fn steady(&mut self) {
        self.start_both();
        self.run_for(secs(10.0));
        assert_eq!(self.states(), [State::Master, State::Backup]);
    }
}

#[test]
fn election_primary_wins_and_backup_stays_silent() {
    let mut p = Pair::primary_secondary();
    p.start_both();
    let t0 = p.now;
    p.run_for(secs(30.0));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    // A: INIT → BACKUP (link_up) → MASTER (master_down_timer) after exactly 3 s.
    let a = &p.nodes[0];
    assert_eq!(a.transitions.len(), 2);
    assert_eq!(a.transitions[0].reason, Reason::LinkUp);
    assert_eq!(a.last_transition().reason, Reason::MasterDownTimer);
    assert_eq!(a.last_transition().at, t0 + secs(3.0));
    assert_eq!(a.announced.first(), Some(&(t0 + secs(3.0), true)));
    // The delayed gratuitous ARP two adverts later.
    assert_eq!(a.announced.get(1), Some(&(t0 + secs(5.0), false)));
    // A advertises every second; B never spoke and never was master.
    assert_eq!(a.sent.len(), 28);
    assert!(a.sent.windows(2).all(|w| w[1].0 - w[0].0 == secs(1.0)));
    let b = &p.nodes[1];
    assert!(b.sent.is_empty());
    assert_eq!(b.transitions.len(), 1);
    assert!(p.dual_master.is_empty());
    // All heard but the last, still on the wire.
    assert_eq!(b.machine.stats().adverts_received, 27);
    assert_eq!(b.machine.stats().drops.total(), 0);
}

#[test]
fn election_shorter_interval_wins_even_if_it_starts_last() {
    let mut p = Pair::primary_secondary();
    p.start(1);
    p.run_for(secs(5.0)); // B alone: master after 3.39 s
    assert_eq!(p.states(), [State::Init, State::Master]);
    p.start(0); // A (faster) preempts on B's first advert
    let started = p.now;
    let at = p.run_until_master(0, secs(5.0)).unwrap();
    assert!(at - started <= secs(1.0 + 100.0 / 256.0) + p.latency);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::Preempted);
    p.run_for(secs(1.0));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    assert_eq!(
        p.nodes[1].last_transition().reason,
        Reason::HigherPrioritySeen
    );
}

#[test]
fn master_death_takeover_within_master_down_interval() {
    let mut p = Pair::primary_secondary();
    p.steady();
    p.run_for(secs(0.5));
    let last_advert = p.nodes[0].sent.last().unwrap().0;
    p.kill(0);
    let killed = p.now;
    let at = p.run_until_master(1, secs(10.0)).unwrap();
    // 3 × advbase + advskew/256 after the last advert B heard.
    let bound = secs(3.0 + 100.0 / 256.0);
    assert_eq!(at, last_advert + p.latency + bound);
    assert!(at - killed <= bound);
    let b = &p.nodes[1];
    assert_eq!(b.last_transition().reason, Reason::MasterDownTimer);
    // Takeover: first advert and gratuitous ARP at once.
    assert_eq!(b.sent.first().unwrap().0, at);
    assert_eq!(b.announced.first(), Some(&(at, true)));
    p.run_for(secs(5.0));
    assert_eq!(p.nodes[1].state(), State::Master);
}

#[test]
fn preemption_back_after_restart() {
    let mut p = Pair::primary_secondary();
    p.steady();
    p.kill(0);
    p.run_until_master(1, secs(10.0)).unwrap();
    p.run_for(secs(2.0));

    p.restart(0, config(0), &[]);
    let restarted = p.now;
    let at = p.run_until_master(0, secs(5.0)).unwrap();
    // On B's next advert (every 1 + 100/256 s), not after a master-down timeout.
    assert!(at - restarted <= secs(1.0 + 100.0 / 256.0) + p.latency);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::Preempted);
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    assert_eq!(
        p.nodes[1].last_transition().reason,
        Reason::HigherPrioritySeen
    );
    assert_eq!(p.nodes[1].stopped_answering.len(), 1);
}

#[test]
fn no_preemption_when_disabled() {
    let mut p = Pair::primary_secondary();
    p.steady();
    p.kill(0);
    p.run_until_master(1, secs(10.0)).unwrap();
    let mut a = config(0);
    a.preempt = false;
    p.restart(0, a, &[]);
    p.run_for(secs(30.0));
    assert_eq!(p.states(), [State::Backup, State::Master]);
}

#[test]
fn maintenance_mode_moves_the_vip_and_survives_a_restart() {
    let mut p = Pair::primary_secondary();
    p.steady();

    // Enter maintenance on the master: it advertises 254 (240 on the wire) at once, the
    // secondary preempts on that advert and the primary steps down on the secondary's.
    let entered = p.now;
    p.event(0, Event::Maintenance(true));
    let (_, bytes) = *p.nodes[0].sent.last().unwrap();
    assert_eq!(bytes[2], 240, "advskew on the wire");
    let at = p.run_until_master(1, secs(5.0)).unwrap();
    assert_eq!(at - entered, p.latency);
    assert_eq!(p.nodes[1].last_transition().reason, Reason::Preempted);
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Backup, State::Master]);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::Maintenance);
    assert!(p.dual_master.iter().all(|&t| t - entered <= p.latency * 2));

    // Persisted, reloaded at start: the primary stays backup across a restart.
    let record = p.nodes[0].machine.maintenance_record();
    assert_eq!(record, MaintenanceRecord { enabled: true });
    let dir = std::env::temp_dir().join(format!("rampart-carp-pair-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("carp-maintenance");
    maintenance::store(&path, &record).unwrap();
    p.kill(0);
    p.run_for(secs(1.0));
    let loaded = maintenance::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    p.restart(0, config(0), &[Event::Maintenance(loaded.enabled)]);
    p.run_for(secs(30.0));
    assert_eq!(p.states(), [State::Backup, State::Master]);
    assert!(p.nodes[0].sent.is_empty());

    // Leaving maintenance: the primary preempts back on the secondary's next advert.
    let left = p.now;
    p.event(0, Event::Maintenance(false));
    let at = p.run_until_master(0, secs(5.0)).unwrap();
    assert!(at - left <= secs(1.0 + 100.0 / 256.0) + p.latency);
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Master, State::Backup]);
}

#[test]
fn demotion_while_bulk_update_is_pending() {
    let mut p = Pair::primary_secondary();
    p.steady();
    p.kill(0);
    p.run_until_master(1, secs(10.0)).unwrap();

    // The primary restarts; until its pfsync bulk update completes it is demoted by 240,
    // so it does not take the VIPs before it knows the connections.
    let mut demotion = Demotion::default();
    demotion.set_bulk_pending(true);
    assert_eq!(demotion.total(), 240);
    p.restart(0, config(0), &[Event::Demotion(demotion.total())]);
    p.run_for(secs(20.0));
    assert_eq!(p.states(), [State::Backup, State::Master]);

    demotion.set_bulk_pending(false);
    let done = p.now;
    p.event(0, Event::Demotion(demotion.total()));
    let at = p.run_until_master(0, secs(5.0)).unwrap();
    assert!(at - done <= secs(1.0 + 100.0 / 256.0) + p.latency);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::Preempted);
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Master, State::Backup]);
}

#[test]
fn demoted_master_gives_way() {
    let mut p = Pair::primary_secondary();
    p.steady();
    let mut demotion = Demotion::default();
    demotion.set_link_down(1, 9, true); // another vhid's port died
    let demoted = p.now;
    p.event(0, Event::Demotion(demotion.total()));
    let at = p.run_until_master(1, secs(5.0)).unwrap();
    assert_eq!(at - demoted, p.latency);
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Backup, State::Master]);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::Demoted);
}

#[test]
fn bow_out_hands_over_well_under_a_second() {
    for preempt in [true, false] {
        let mut b = config(100);
        b.preempt = preempt;
        let mut p = Pair::new(config(0), b);
        p.steady();
        p.run_for(secs(0.3));
        let stop = p.now;
        p.event(0, Event::Shutdown);
        let a = &p.nodes[0];
        assert_eq!(a.state(), State::Init);
        assert_eq!(a.last_transition().reason, Reason::Shutdown);
        assert_eq!(a.stopped_answering, vec![stop]);
        let (_, bytes) = *a.sent.last().unwrap();
        assert_eq!((bytes[5], bytes[2]), (255, 255), "advbase, advskew");
        assert_eq!(a.machine.stats().bow_outs_sent, 1);

        let at = p.run_until_master(1, secs(5.0)).unwrap();
        assert_eq!(at - stop, p.latency);
        assert!(at - stop < secs(1.0));
        assert_eq!(p.nodes[1].last_transition().reason, Reason::BowOutReceived);
        // The stopped node stays quiet and down.
        p.run_for(secs(10.0));
        assert_eq!(p.states(), [State::Init, State::Master]);
        assert_eq!(p.nodes[0].machine.poll_timeout(), None);
        p.event(0, Event::LinkUp);
        assert_eq!(p.nodes[0].state(), State::Init);
    }
}

/// Rewrites a captured advert's timers (not covered by the HMAC) and its checksum.
fn forge(mut bytes: [u8; 36], advbase: u8, advskew: u8) -> [u8; 36] {
    bytes[5] = advbase;
    bytes[2] = advskew;
    bytes[6] = 0;
    bytes[7] = 0;
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    bytes[6..8].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    bytes
}

#[test]
fn replayed_bow_out_is_refused() {
    let mut p = Pair::primary_secondary();
    p.steady();
    p.run_for(secs(0.5));
    // An attacker turns the master's last advert into a bow-out: HMAC and checksum hold.
    let captured = p.wire.iter().rev().find(|f| f.to == 1).unwrap().bytes;
    let forged = forge(captured, 255, 255);
    assert_eq!(p.inject(1, ip(ADDRS[0]), forged), Err(DropReason::Replay));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    // A plain duplicate of a delivered frame is refused too.
    assert_eq!(p.inject(1, ip(ADDRS[0]), captured), Err(DropReason::Replay));
    p.run_for(secs(10.0));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    assert_eq!(p.nodes[1].machine.stats().drops.get(DropReason::Replay), 2);
    assert!(p.dual_master.is_empty());

    // Without the check the same forgery moves the VIP: what the check prevents.
    let mut b = config(100);
    b.replay_check = false;
    let mut p = Pair::new(config(0), b);
    p.steady();
    let captured = p.wire.iter().rev().find(|f| f.to == 1).unwrap().bytes;
    assert_eq!(p.inject(1, ip(ADDRS[0]), forge(captured, 255, 255)), Ok(()));
    assert_eq!(p.nodes[1].state(), State::Master);
}

#[test]
fn replays_do_not_keep_a_dead_master_alive() {
    let mut p = Pair::primary_secondary();
    p.steady();
    let old: Vec<[u8; 36]> = p
        .wire
        .iter()
        .filter(|f| f.to == 1)
        .map(|f| f.bytes)
        .collect();
    let last_advert = p.nodes[0].sent.last().unwrap().0;
    p.kill(0);
    // Someone plays the dead master's adverts back, one every 500 ms.
    for bytes in old.iter().rev().take(6) {
        p.run_for(secs(0.5));
        assert_eq!(p.inject(1, ip(ADDRS[0]), *bytes), Err(DropReason::Replay));
    }
    let at = p.run_until_master(1, secs(10.0)).unwrap();
    assert_eq!(at, last_advert + p.latency + secs(3.0 + 100.0 / 256.0));
}

#[test]
fn equal_advskew_first_node_up_wins() {
    let mut p = Pair::new(config(50), config(50));
    p.start(0);
    p.run_for(secs(0.4));
    p.start(1);
    p.run_for(secs(30.0));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    assert!(p.dual_master.is_empty());
    // B heard adverts with its own interval: a tie neither preempts nor times out.
    assert_eq!(p.nodes[1].transitions.len(), 1);
}

#[test]
fn equal_advskew_dual_master_converges() {
    // Both start at the same instant behind a partition, so both become master at the
    // same moment; when the link heals both step down on the tie (as FreeBSD), and the
    // random tie wait makes one of them rise first.
    let mut p = Pair::new(config(0), config(0));
    p.loss = Box::new(|_, _| true);
    p.start_both();
    p.run_for(secs(5.0));
    assert_eq!(p.states(), [State::Master, State::Master]);
    p.loss = Box::new(|_, _| false);
    p.run_for(secs(20.0));
    let masters = p.states().iter().filter(|&&s| s == State::Master).count();
    assert_eq!(masters, 1, "{:?}", p.states());
    for n in &p.nodes {
        assert!(
            n.transitions
                .iter()
                .any(|t| t.reason == Reason::EqualPrioritySeen)
        );
    }
    // And it stays converged.
    let before = [p.nodes[0].transitions.len(), p.nodes[1].transitions.len()];
    p.run_for(secs(60.0));
    let after = [p.nodes[0].transitions.len(), p.nodes[1].transitions.len()];
    assert_eq!(before, after);
}

#[test]
fn lossy_link_keeps_one_master() {
    // Once converged, two of every three of the master's adverts are lost: the backup
    // still hears one every 3 s, inside its master-down time of 3 + 100/256 s.
    let mut p = Pair::primary_secondary();
    p.steady();
    let mut n = 0u32;
    p.loss = Box::new(move |from, _| {
        n += 1;
        from == 0 && !n.is_multiple_of(3)
    });
    p.run_for(secs(60.0));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    assert_eq!(p.nodes[1].transitions.len(), 1);
}

#[test]
fn wrong_password_is_dropped_and_both_become_master() {
    let mut p = Pair::new(config(0), Config::new(VHID, "other", vec![ip(VIP)]));
    p.start_both();
    p.run_for(secs(10.0));
    assert_eq!(p.states(), [State::Master, State::Master]);
    assert!(p.nodes[0].machine.stats().drops.get(DropReason::BadHmac) > 0);
    assert_eq!(p.nodes[0].machine.stats().adverts_received, 0);
}

#[test]
fn link_down_goes_to_init_and_the_peer_takes_over() {
    let mut p = Pair::primary_secondary();
    p.steady();
    let down = p.now;
    p.event(0, Event::LinkDown);
    assert_eq!(p.nodes[0].state(), State::Init);
    assert_eq!(p.nodes[0].last_transition().reason, Reason::LinkDown);
    assert_eq!(p.nodes[0].stopped_answering, vec![down]);
    p.run_until_master(1, secs(5.0)).unwrap();
    // Back up: BACKUP at once, then preempts on the secondary's next advert.
    p.event(0, Event::LinkUp);
    assert_eq!(p.nodes[0].state(), State::Backup);
    p.run_until_master(0, secs(2.0)).unwrap();
    p.run_for(secs(0.1));
    assert_eq!(p.states(), [State::Master, State::Backup]);
    let stats = p.nodes[0].machine.stats();
    assert_eq!(stats.transitions.get(Reason::LinkDown), 1);
    assert_eq!(stats.transitions.get(Reason::Preempted), 1);
}

#[test]
fn dual_stack_vhid_sends_one_advert_per_family_with_its_own_counter() {
    let dual = |advskew| {
        let mut c = Config::new(
            VHID,
            PASS,
            vec![ip(VIP), ip("2001:db8::64"), ip("fe80::64")],
        );
        c.advskew = advskew;
        c
    };
    let mut p = Pair::new(dual(0), dual(100));
    p.steady();
    let sent = &p.nodes[0].sent;
    assert_eq!(sent.len() % 2, 0);
    // Two adverts per round, consecutive counters, so the peer's replay check keeps both.
    let counter = |b: &[u8; 36]| u64::from_be_bytes(b[8..16].try_into().unwrap());
    for pair in sent.chunks(2) {
        assert_eq!(pair[0].0, pair[1].0);
        assert_eq!(counter(&pair[1].1), counter(&pair[0].1) + 1);
    }
    let stats = p.nodes[1].machine.stats();
    assert_eq!(stats.drops.total(), 0);
    assert_eq!(stats.adverts_received as usize, sent.len() - 2); // last round on the wire
}

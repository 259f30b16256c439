//! Two nodes, each with real worker shards and rings, joined by an in-memory link that
//! carries the engines' frames (as messages: the codec is tested on its own), on a fake
//! clock.

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::*;
use rampart_dataplane::firewall::{Firewall, FirewallSettings};
use rampart_dataplane::rules::{Ruleset, RulesetOptions};
use rampart_dataplane::state::StateEvent;
use rampart_dataplane::state::{
    NewState, PacketKey, PacketMeta, PfDirection, TcpSegment, Timeouts, peer::tcps,
};
use rampart_dataplane::sync_link::{CoreLink, ToSync, WorkerLink, links};
use rampart_dataplane::wire::IpProtocol;
use rampart_dataplane::wire::tcp::flag::{ACK, SYN};

const STATE_1400: usize = 277;

struct Node {
    engine: Engine,
    workers: Vec<(Firewall, WorkerLink)>,
    core: CoreLink,
}

impl Node {
    fn new(creatorid: u32, workers: usize) -> Node {
        let (worker_links, core) = links(workers, 4096);
        let settings = FirewallSettings {
            states: 4096,
            creatorid,
            id_seed: 1,
            timeouts: Timeouts::default(),
            event_capacity: 4096,
            workers,
        };
        let rules = Arc::new(Ruleset::compile(Vec::new(), &RulesetOptions::new(2)).unwrap());
        let workers = worker_links
            .into_iter()
            .enumerate()
            .map(|(i, link)| {
                let mut fw = Firewall::new(i as u8, &settings, Arc::clone(&rules));
                fw.attach_sync();
                (fw, link)
            })
            .collect::<Vec<_>>();
        let config = EngineConfig::new(creatorid, workers.len(), 1500, STATE_1400);
        Node {
            engine: Engine::new(config).unwrap(),
            workers,
            core,
        }
    }

    /// One round of the sync core and the workers: commands down, worker service, messages
    /// up, timers. Returns the frames produced.
    fn step(&mut self, now: Instant) -> Vec<OutFrame> {
        for (w, (fw, link)) in self.workers.iter_mut().enumerate() {
            if let Some(q) = self.engine.commands_for(w) {
                while let Some(cmd) = q.front().copied() {
                    if self.core.send(w, cmd).is_err() {
                        break;
                    }
                    q.pop_front();
                }
            }
            link.service(now, fw);
        }
        let engine = &mut self.engine;
        self.core
            .drain(usize::MAX, |w, msg| engine.on_worker(now, w, msg));
        self.engine.on_timeout(now);
        std::iter::from_fn(|| self.engine.poll_frame()).collect()
    }

    /// A TCP connection from client port `port`, opened by a SYN on the worker that owns it.
    fn open(&mut self, now: Instant, port: u16) -> (usize, u64) {
        let key = key(port);
        let w = owner_of_key(
            &rampart_dataplane::state::StateKey::from_packet(&key, PfDirection::In),
            self.workers.len(),
            &Nat::EMPTY,
        );
        let mut new = NewState::new(key, PfDirection::In);
        new.tcp = Some(TcpSegment {
            flags: SYN,
            seq: 1000,
            window: 64000,
            ..TcpSegment::default()
        });
        let fw = &mut self.workers[w].0;
        let h = fw.table_mut().insert(now, new).unwrap();
        (w, fw.table().get(h).unwrap().id())
    }

    fn states(&self) -> usize {
        self.workers.iter().map(|(fw, _)| fw.table().len()).sum()
    }

    fn find(&self, creatorid: u32, id: u64) -> Option<StateSnapshot> {
        self.workers.iter().find_map(|(fw, _)| {
            fw.table()
                .by_id(creatorid, id)
                .and_then(|h| fw.table().snapshot(h))
        })
    }
}

fn key(port: u16) -> PacketKey {
    PacketKey::v4(
        Ipv4Addr::new(10, 0, 1, 10),
        port,
        Ipv4Addr::new(10, 0, 2, 20),
        80,
        IpProtocol::TCP,
    )
}

/// Runs both nodes from `from` to `from + ms` (inclusive) in 10 ms steps, delivering every
/// frame to the other node in the step it was sent (its workers apply it in the next step);
/// returns the frames A sent.
fn run(a: &mut Node, b: &mut Node, from: Instant, ms: u64) -> Vec<OutFrame> {
    let mut sent_by_a = Vec::new();
    for step in 0..=ms / 10 {
        let now = from + Duration::from_millis(step * 10);
        let from_a = a.step(now);
        let from_b = b.step(now);
        for f in &from_a {
            b.engine.on_received(now, f.messages.iter().copied());
        }
        for f in &from_b {
            a.engine.on_received(now, f.messages.iter().copied());
        }
        sent_by_a.extend(from_a);
    }
    sent_by_a
}

#[test]
fn test_new_states_reach_the_peer_within_a_flush_interval_and_deletes_follow() {
    let (mut a, mut b) = (Node::new(1, 2), Node::new(2, 2));
    let t0 = Instant::from_secs(10);
    let ids: Vec<_> = (0..1000).map(|i| a.open(t0, 20000 + i)).collect();
    // One flush interval, and one 10 ms step for B's workers to apply the last frame.
    let frames = run(&mut a, &mut b, t0, 1010);
    assert_eq!(b.states(), 1000);
    for &(w, id) in &ids {
        let mine = a.workers[w].0.table();
        let theirs = b.find(1, id).expect("synced");
        let local = mine.snapshot(mine.by_id(1, id).unwrap()).unwrap();
        assert_eq!((theirs.wire, theirs.stack), (local.wire, local.stack));
        assert_eq!((theirs.src, theirs.dst), (local.src, local.dst));
    }
    // Full frames are at least 90 % of the limit, and none is over it.
    let limit = a.engine.config().frame_limit;
    assert!(frames.iter().all(|f| f.bytes <= limit));
    let full: Vec<_> = frames.iter().filter(|f| f.messages.len() > 1).collect();
    assert!(full.len() > 100);
    let fill = full.iter().map(|f| f.bytes).sum::<usize>() as f64 / (full.len() * limit) as f64;
    assert!(fill >= 0.9, "fill {fill}");

    // Closing: A removes them; B follows.
    let t1 = t0 + Duration::from_secs(2);
    for &(w, id) in &ids {
        let fw = &mut a.workers[w].0;
        let h = fw.table().by_id(1, id).unwrap();
        fw.table_mut().remove(h);
    }
    run(&mut a, &mut b, t1, 2000);
    assert_eq!(b.states(), 0);
    assert_eq!(b.engine.known_states(), 0);
}

#[test]
fn test_a_state_waits_in_one_message() {
    let mut a = Node::new(1, 1);
    let t0 = Instant::from_secs(1);
    let (_, id) = a.open(t0, 30000);
    let (_, gone) = a.open(t0, 30001);
    // The answer from the server: an update of the first state before the frame leaves.
    let fw = &mut a.workers[0].0;
    let m = fw
        .table()
        .lookup(&key(30000).reversed(), PfDirection::Out)
        .unwrap();
    fw.table_mut()
        .track(
            m,
            t0,
            &PacketMeta {
                len: 60,
                tcp: Some(TcpSegment {
                    flags: SYN | ACK,
                    seq: 7000,
                    ack: 1001,
                    window: 64000,
                    ..TcpSegment::default()
                }),
            },
        )
        .unwrap();
    let h = fw.table().by_id(1, gone).unwrap();
    fw.table_mut().remove(h);
    let mut frames = Vec::new();
    for ms in 0..1100 {
        frames.extend(a.step(t0 + Duration::from_millis(ms)));
    }
    let msgs: Vec<_> = frames.iter().flat_map(|f| f.messages.clone()).collect();
    // One INS with the latest peers; the state removed before sending was never announced.
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    let Message::Insert(s) = msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(s.id, id);
    assert_eq!(s.dst.state, tcps::SYN_SENT);
    // It left one flush interval after it was queued, not before.
    assert_eq!(a.engine.stats().frames_sent, 1);
}

#[test]
fn test_bulk_update_fills_a_restarted_peer_and_undemotes_it() {
    let (mut a, mut b) = (Node::new(1, 2), Node::new(2, 2));
    let t0 = Instant::from_secs(100);
    for i in 0..1000 {
        a.open(t0, 10000 + i);
    }
    // A's inserts go nowhere (B is down): drain them.
    for ms in 0..1100 {
        a.step(t0 + Duration::from_millis(ms));
    }
    let t1 = t0 + Duration::from_secs(5);
    b.engine.request_bulk(t1);
    assert!(b.engine.demoted());
    run(&mut a, &mut b, t1, 2000);
    assert_eq!(b.states(), 1000);
    assert!(!b.engine.demoted());
    assert!(matches!(
        b.engine.bulk_state(),
        BulkState::Done { states: 1000, .. }
    ));
    assert_eq!(a.engine.stats().bulk_states_sent, 1000);
    assert!(!a.engine.responding());

    // The operator's resync fetches the table again without demoting B.
    let t2 = t1 + Duration::from_secs(5);
    b.engine.request_resync(t2);
    assert!(b.engine.bulk_state().pending());
    assert!(!b.engine.demoted());
    run(&mut a, &mut b, t2, 2000);
    assert!(matches!(
        b.engine.bulk_state(),
        BulkState::Done { states: 1000, .. }
    ));
    assert_eq!(a.engine.stats().bulk_states_sent, 2000);
}

#[test]
fn test_a_resync_during_the_start_up_request_still_demotes() {
    let mut b = Node::new(2, 1);
    let t0 = Instant::from_secs(1);
    b.engine.request_bulk(t0);
    b.engine.request_resync(t0 + Duration::from_secs(1));
    assert!(b.engine.demoted());
}

#[test]
fn test_bulk_request_retries_then_gives_up() {
    let mut b = Node::new(2, 1);
    let t0 = Instant::from_secs(1);
    b.engine.request_bulk(t0);
    let mut requests = 0;
    for s in 0..70 {
        let now = t0 + Duration::from_secs(s);
        for f in b.step(now) {
            requests += f
                .messages
                .iter()
                .filter(|m| {
                    matches!(
                        m,
                        Message::Request {
                            creatorid: 0,
                            id: 0
                        }
                    )
                })
                .count();
        }
        if s < 55 {
            assert!(b.engine.demoted(), "still waiting at {s} s");
        }
    }
    assert_eq!(requests, 12);
    assert_eq!(b.engine.bulk_state(), BulkState::Failed { tries: 12 });
    assert!(!b.engine.demoted());
}

#[test]
fn test_unknown_compressed_update_is_requested_and_repaired() {
    let (mut a, mut b) = (Node::new(1, 1), Node::new(2, 1));
    let t0 = Instant::from_secs(1);
    let (_, id) = a.open(t0, 40000);
    // B missed the insert.
    for ms in 0..1100 {
        a.step(t0 + Duration::from_millis(ms));
    }
    let snap = a.find(1, id).unwrap();
    b.engine
        .on_received(t0, [Message::Compressed(compress(&snap))]);
    assert_eq!(b.engine.stats().unknown_updates, 1);
    run(&mut b, &mut a, t0 + Duration::from_secs(2), 1000);
    assert_eq!(b.find(1, id).map(|s| s.wire), Some(snap.wire));
}

#[test]
fn test_clear_removes_only_that_creator() {
    let (mut a, mut b) = (Node::new(1, 2), Node::new(2, 2));
    let t0 = Instant::from_secs(1);
    for i in 0..50 {
        a.open(t0, 1000 + i);
        b.open(t0, 5000 + i);
    }
    run(&mut a, &mut b, t0, 2000);
    assert_eq!((a.states(), b.states()), (100, 100));
    b.engine.on_received(
        t0 + Duration::from_secs(3),
        [Message::Clear { creatorid: 1 }],
    );
    run(&mut a, &mut b, t0 + Duration::from_secs(3), 1000);
    assert_eq!(b.states(), 50);
    assert!(b.workers.iter().all(|(fw, _)| {
        let mut only_own = true;
        fw.table()
            .for_each_from(0, usize::MAX, |_, st| only_own &= st.creatorid() == 2);
        only_own
    }));
}

#[test]
fn test_a_moving_tcp_window_is_pushed_at_once() {
    let mut a = Node::new(1, 1);
    let t0 = Instant::from_secs(1);
    let (_, id) = a.open(t0, 30000);
    // The insert goes out with the flush interval.
    for ms in 0..1100 {
        a.step(t0 + Duration::from_millis(ms));
    }
    let mut s = a.find(1, id).unwrap();
    // A small change waits for the next flush; 32 KiB of stream does not.
    s.src.seqlo = s.src.seqlo.wrapping_add(1000);
    a.engine
        .on_worker(t0, 0, ToSync::Event(StateEvent::Update(s)));
    assert!(a.engine.poll_frame().is_none());
    s.src.seqlo = s.src.seqlo.wrapping_add(WINDOW_PUSH as u32);
    a.engine
        .on_worker(t0, 0, ToSync::Event(StateEvent::Update(s)));
    let frame = a.engine.poll_frame().expect("pushed at once");
    assert!(
        matches!(frame.messages.as_slice(), [Message::Compressed(c)] if c.src.seqlo == s.src.seqlo)
    );
    assert_eq!(a.engine.stats().window_pushes, 1);
}

#[test]
fn test_frames_too_small_for_a_state_are_refused() {
    assert!(matches!(
        Engine::new(EngineConfig::new(1, 1, 300, STATE_1400)),
        Err(EngineError::FrameTooSmall { .. })
    ));
    assert!(matches!(
        Engine::new(EngineConfig::new(1, 0, 1500, STATE_1400)),
        Err(EngineError::NoWorkers)
    ));
}

mod properties {
    use proptest::prelude::*;

    use super::*;
    use rampart_dataplane::state::StateEvent;

    /// A snapshot of state `id` as a real shard would report it.
    fn snapshot(id: u64) -> StateSnapshot {
        let mut a = Node::new(1, 1);
        let (_, real) = a.open(Instant::ZERO, 1000);
        let mut s = a.find(1, real).unwrap();
        s.id = id;
        s
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Update(u64),
        Delete(u64),
        Wait(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..40).prop_map(Op::Insert),
            (0u64..40).prop_map(Op::Update),
            (0u64..40).prop_map(Op::Delete),
            (0u64..1500).prop_map(Op::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn frames_fit_and_hold_one_message_per_state(ops in proptest::collection::vec(op(), 1..300), mtu in 330usize..1500) {
            let template = snapshot(0);
            let mut engine = Engine::new(EngineConfig::new(1, 1, mtu, STATE_1400)).unwrap();
            let mut now = Instant::from_secs(1);
            let mut frames = Vec::new();
            for op in ops {
                let msg = match op {
                    Op::Insert(id) => ToSync::Event(StateEvent::Insert(StateSnapshot { id, ..template })),
                    Op::Update(id) => ToSync::Event(StateEvent::Update(StateSnapshot { id, ..template })),
                    Op::Delete(id) => ToSync::Event(StateEvent::Delete { creatorid: 1, id }),
                    Op::Wait(ms) => {
                        now = now + Duration::from_millis(ms);
                        engine.on_timeout(now);
                        continue;
                    }
                };
                engine.on_worker(now, 0, msg);
                frames.extend(std::iter::from_fn(|| engine.poll_frame()));
            }
            engine.on_timeout(now + Duration::from_secs(1));
            frames.extend(std::iter::from_fn(|| engine.poll_frame()));
            prop_assert_eq!(engine.pending(), 0);
            let limit = engine.config().frame_limit;
            for f in &frames {
                prop_assert!(f.bytes <= limit, "{} > {}", f.bytes, limit);
                let mut seen = std::collections::HashSet::new();
                for m in &f.messages {
                    if let Some(id) = m.state() {
                        prop_assert!(seen.insert(id), "two messages for {:?}", id);
                    }
                }
                let kinds: Vec<_> = f.messages.iter().map(Message::kind).collect();
                prop_assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "regions out of order");
                prop_assert_eq!(f.bytes, engine.config().sizes.frame(&{
                    let mut c = [0; 8];
                    for k in &kinds { c[*k as usize] += 1; }
                    c
                }));
            }
        }
    }
}

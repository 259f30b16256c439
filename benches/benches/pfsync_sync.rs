//! pfsync end to end without DPDK: two nodes, each with two workers' real state shards,
//! their rings to the sync core, the sync engine and the codec; frames go from one node to
//! the other in memory (a "ring pair"), encoded and decoded as on the wire.
//!
//! Printed, median of 3 runs each:
//! - **bulk update**: node B, empty, asks node A (1,000,000 states) for its table; the time
//!   from the request until B's workers hold every state and B saw BUS END.
//! - **frame fill under load** and **bytes per new connection**: 100,000 TCP connections
//!   open through node A (pf's two states each, their handshake updates in the same flush
//!   window) at a steady 200,000 states/s; the frames A sends, their average fill of the
//!   frame limit, and the pfsync bytes per connection (IP and Ethernet headers included).
//!
//! `PFSYNC_BULK_STATES` overrides the bulk size.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)] // bench code

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use rampart_dataplane::firewall::{Firewall, FirewallSettings};
use rampart_dataplane::nat::Nat;
use rampart_dataplane::rules::{Ruleset, RulesetOptions};
use rampart_dataplane::state::{
    NewState, PacketKey, PacketMeta, PfDirection, StateKey, TcpSegment, Timeouts,
};
use rampart_dataplane::steer::owner_of_key;
use rampart_dataplane::sync_link::{CoreLink, LINK_SLOTS, WorkerLink, links};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::IpProtocol;
use rampart_dataplane::wire::tcp::flag::{ACK, SYN};
use rampart_sync::engine::{BulkState, Engine, EngineConfig};
use rampart_sync::frames::{self, Context, FrameDrops, StateFormat};
use rampart_sync::wire::InterfaceMap;

const WORKERS: usize = 2;
const MTU: usize = 1500;
/// Ethernet + IPv4 around every pfsync frame.
const ENVELOPE: usize = 14 + 20;

struct Node {
    engine: Engine,
    workers: Vec<(Firewall, WorkerLink)>,
    core: CoreLink,
    ctx: Context,
    buf: Vec<u8>,
    drops: FrameDrops,
}

impl Node {
    fn new(creatorid: u32, states: usize) -> Node {
        let (worker_links, core) = links(WORKERS, LINK_SLOTS);
        let settings = FirewallSettings {
            states: states / WORKERS + 1024,
            creatorid,
            id_seed: 1,
            timeouts: Timeouts::default(),
            event_capacity: 1 << 20,
            workers: WORKERS,
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
            .collect();
        let format = StateFormat::V1400;
        let config = EngineConfig::new(creatorid, WORKERS, MTU, format.record_len());
        Node {
            engine: Engine::new(config).unwrap(),
            workers,
            core,
            ctx: Context {
                creatorid,
                format,
                timeouts: Timeouts::default(),
                interfaces: InterfaceMap::new(),
            },
            buf: Vec::with_capacity(MTU),
            drops: FrameDrops::default(),
        }
    }

    /// One turn of the workers and the sync core; the encoded frames sent.
    fn step(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
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
            .drain(4096, |w, msg| engine.on_worker(now, w, msg));
        self.engine.on_timeout(now);
        while let Some(frame) = self.engine.poll_frame() {
            frames::encode(&frame, &self.ctx, now, &mut self.buf, &mut self.drops);
            out.push(self.buf.clone());
        }
    }

    fn receive(&mut self, now: Instant, frame: &[u8]) {
        let mut msgs = Vec::new();
        frames::decode(frame, &self.ctx, now, &mut msgs, &mut self.drops);
        self.engine.on_received(now, msgs);
    }

    fn states(&self) -> usize {
        self.workers.iter().map(|(fw, _)| fw.table().len()).sum()
    }

    fn open(&mut self, now: Instant, i: u32) {
        let (key, w) = connection(i);
        let fw = &mut self.workers[w].0;
        for dir in [PfDirection::In, PfDirection::Out] {
            let mut new = NewState::new(key, dir);
            new.tcp = Some(TcpSegment {
                flags: SYN,
                seq: 1000,
                window: 64000,
                ..TcpSegment::default()
            });
            let _ = fw.table_mut().insert(now, new);
        }
    }

    /// The server's SYN|ACK and the client's ACK through both states of connection `i`.
    fn establish(&mut self, now: Instant, i: u32) {
        let (key, w) = connection(i);
        let table = self.workers[w].0.table_mut();
        let syn_ack = TcpSegment {
            flags: SYN | ACK,
            seq: 9000,
            ack: 1001,
            window: 64000,
            ..TcpSegment::default()
        };
        let ack = TcpSegment {
            flags: ACK,
            seq: 1001,
            ack: 9001,
            window: 64000,
            ..TcpSegment::default()
        };
        for (pkt, seg) in [(key.reversed(), syn_ack), (key, ack)] {
            for dir in [PfDirection::In, PfDirection::Out] {
                // The reply crosses the states the other way.
                let d = if pkt == key { dir } else { opposite(dir) };
                if let Some(m) = table.lookup(&pkt, d) {
                    let _ = table.track(
                        m,
                        now,
                        &PacketMeta {
                            len: 60,
                            tcp: Some(seg),
                        },
                    );
                }
            }
        }
    }
}

/// Connection `i`'s client-to-server flow and the worker that owns it.
fn connection(i: u32) -> (PacketKey, usize) {
    let key = PacketKey::v4(
        Ipv4Addr::from(0x0a00_0000 | (i >> 14)),
        1024 + (i & 0x3fff) as u16,
        Ipv4Addr::new(198, 51, 100, 80),
        443,
        IpProtocol::TCP,
    );
    let owner = owner_of_key(
        &StateKey::from_packet(&key, PfDirection::In),
        WORKERS,
        &Nat::EMPTY,
    );
    (key, owner)
}

fn opposite(d: PfDirection) -> PfDirection {
    match d {
        PfDirection::In => PfDirection::Out,
        PfDirection::Out => PfDirection::In,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds from B's request to B holding every state of A and BUS END seen.
fn bulk_once(a: &mut Node, states: usize) -> f64 {
    let mut b = Node::new(2, states);
    let start = WallInstant::now();
    let mut now = Instant::from_secs(100);
    b.engine.request_bulk(now);
    let (mut from_a, mut from_b) = (Vec::new(), Vec::new());
    let deadline = start + Duration::from_secs(120);
    loop {
        now = now + Duration::from_micros(100);
        a.step(now, &mut from_a);
        b.step(now, &mut from_b);
        for f in from_a.drain(..) {
            b.receive(now, &f);
        }
        for f in from_b.drain(..) {
            a.receive(now, &f);
        }
        if matches!(b.engine.bulk_state(), BulkState::Done { .. }) && b.states() >= states {
            break;
        }
        assert!(
            WallInstant::now() < deadline,
            "bulk stalled: B holds {}",
            b.states()
        );
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let states: usize = std::env::var("PFSYNC_BULK_STATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut a = Node::new(1, states);
    for i in 0..(states / 2) as u32 {
        a.open(Instant::from_secs(50), i);
    }
    // A's own inserts went nowhere (no peer yet): drop them.
    for (fw, _) in &mut a.workers {
        fw.table_mut().events().drain().for_each(drop);
    }
    assert_eq!(a.states(), states);
    let runs: Vec<f64> = (0..3).map(|_| bulk_once(&mut a, states)).collect();
    println!(
        "pfsync bulk update of {states} states over a ring pair: {:.2} s median (runs {:?})",
        median(runs.clone()),
        runs.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>()
    );

    let mut fills = Vec::new();
    let mut per_conn = Vec::new();
    for _ in 0..3 {
        const CONNECTIONS: u32 = 100_000;
        let mut a = Node::new(1, 2 * CONNECTIONS as usize);
        let mut sent = Vec::new();
        let mut now = Instant::from_secs(10);
        // 1,000 connections per 10 ms step: 200,000 states/s.
        for batch in 0..CONNECTIONS / 1000 {
            for i in batch * 1000..(batch + 1) * 1000 {
                a.open(now, i);
                a.establish(now, i);
            }
            a.step(now, &mut sent);
            now = now + Duration::from_millis(10);
        }
        for _ in 0..200 {
            a.step(now, &mut sent);
            now = now + Duration::from_millis(10);
        }
        let limit = a.engine.config().frame_limit;
        let bytes: usize = sent.iter().map(Vec::len).sum();
        fills.push(bytes as f64 / (sent.len() * limit) as f64);
        per_conn.push((bytes + sent.len() * ENVELOPE) as f64 / f64::from(CONNECTIONS));
        assert_eq!(a.drops.total(), 0);
    }
    println!(
        "pfsync frame fill under load (100,000 connections at 200,000 states/s): {:.1} % median (runs {:?})",
        median(fills.clone()) * 100.0,
        fills
            .iter()
            .map(|f| format!("{:.1}", f * 100.0))
            .collect::<Vec<_>>()
    );
    println!(
        "pfsync bytes on the sync link per new TCP connection (two states, INS with the handshake folded in): {:.0} B median",
        median(per_conn)
    );
}

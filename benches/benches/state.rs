//! State table figures with one million states loaded: lookup hits (random keys, in pf's
//! inbound direction), lookup + pf TCP tracking of established connections, lookup misses followed by
//! an insert, and the memory the table takes (counted by a global allocator, printed).
//! Criterion reports throughput in lookups; ns/op = 1e9 / (ops per second).
// Test code: failures should panic. The counting allocator is the one unsafe impl here; it
// only forwards to the system allocator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unsafe_code
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::state::{
    BURST, NewState, PacketKey, PacketMeta, PfDirection, StateHandle, StateTable, TcpSegment,
};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::IpProtocol;
use rampart_dataplane::wire::tcp::flag::{ACK, SYN};

/// Counts bytes currently allocated.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// caller's obligations carry over; the counter is only arithmetic on an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is (see the impl).
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is (see the impl).
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const STATES: usize = 1_000_000;
/// Lookups per measured iteration.
const BATCH: usize = 1024;

/// xorshift64*: a repeatable stream of keys without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn key(&mut self, proto: IpProtocol) -> PacketKey {
        let r = self.next();
        let s = self.next();
        PacketKey::v4(
            Ipv4Addr::from(0x0a00_0000 | (r as u32 & 0x00ff_ffff)),
            (r >> 32) as u16 | 1024,
            Ipv4Addr::from(0xc612_0000 | (s as u32 & 0xffff)),
            [53, 80, 123, 443][(s >> 32) as usize % 4],
            proto,
        )
    }
}

fn seg(flags: u8, seq: u32, ack: u32) -> TcpSegment {
    TcpSegment {
        flags,
        seq,
        ack,
        window: 65_000,
        payload_len: 0,
        wscale: None,
        mss: None,
    }
}

/// A table of `STATES` UDP states (plus `headroom` free slots) and their keys.
fn udp_table(headroom: usize) -> (StateTable, Vec<PacketKey>) {
    let mut t = StateTable::new(STATES + headroom, 1, 0);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut keys = Vec::with_capacity(STATES);
    while keys.len() < STATES {
        let k = rng.key(IpProtocol::UDP);
        if t.insert(Instant::ZERO, NewState::new(k, PfDirection::In))
            .is_ok()
        {
            keys.push(k);
        }
    }
    (t, keys)
}

/// Shuffled probe order over `keys`. Probes go the way of the creating packet: a reply is
/// looked up with the other pf direction and costs the same.
fn probes(keys: &[PacketKey]) -> Vec<PacketKey> {
    let mut rng = Rng(42);
    let mut out: Vec<_> = keys.to_vec();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.next() as usize % (i + 1));
    }
    out
}

fn memory_report() {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let (t, keys) = udp_table(0);
    let with_keys = ALLOCATED.load(Ordering::Relaxed) - before;
    let table_bytes = with_keys - keys.capacity() * std::mem::size_of::<PacketKey>();
    println!(
        "state/memory: {} states, {:.1} MB allocated by the table ({} bytes/state; \
         memory_bytes() says {})",
        t.len(),
        table_bytes as f64 / 1e6,
        table_bytes / t.len(),
        t.memory_bytes(),
    );
    assert!(table_bytes <= 400_000_000);
}

fn bench_state(c: &mut Criterion) {
    memory_report();

    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.measurement_time(Duration::from_secs(8));

    // Hits: random existing keys, half of them in the reply direction.
    {
        let (t, keys) = udp_table(0);
        let probes = probes(&keys);
        let mut at = 0;
        group.bench_function("hit_1M", |b| {
            b.iter(|| {
                let mut found = 0;
                for k in &probes[at..at + BATCH] {
                    found += usize::from(t.lookup(black_box(k), PfDirection::In).is_some());
                }
                at = (at + BATCH) % (probes.len() - BATCH);
                assert_eq!(found, BATCH);
                found
            })
        });
    }

    // The same hits through the burst API, 32 keys at a time.
    {
        let (t, keys) = udp_table(0);
        let probes = probes(&keys);
        let mut out = vec![None; BATCH];
        let mut at = 0;
        group.bench_function("hit_1M_burst32", |b| {
            b.iter(|| {
                t.lookup_burst(
                    black_box(&probes[at..at + BATCH]),
                    PfDirection::In,
                    &mut out,
                );
                at = (at + BATCH) % (probes.len() - BATCH);
                assert!(out.iter().all(Option::is_some));
            })
        });
    }

    // NAT: outbound states whose wire and stack keys differ; probes on either side, either way.
    {
        let mut t = StateTable::new(STATES, 1, 0);
        let mut rng = Rng(11);
        let mut keys = Vec::with_capacity(STATES);
        while keys.len() < STATES {
            let stack = rng.key(IpProtocol::UDP);
            let mut wire = stack;
            wire.src = Ipv4Addr::new(192, 0, 2, (rng.next() % 250) as u8 + 1).into();
            wire.src_port = (rng.next() as u16) | 1024;
            let mut new = NewState::new(wire, PfDirection::Out);
            new.stack = stack;
            if t.insert(Instant::ZERO, new).is_ok() {
                keys.push(stack);
            }
        }
        let probes = probes(&keys);
        let mut out = vec![None; BATCH];
        let mut at = 0;
        group.bench_function("hit_1M_nat_burst32", |b| {
            b.iter(|| {
                t.lookup_burst(
                    black_box(&probes[at..at + BATCH]),
                    PfDirection::Out,
                    &mut out,
                );
                at = (at + BATCH) % (probes.len() - BATCH);
                assert!(out.iter().all(Option::is_some));
            })
        });
    }

    // Compute cost alone: the same burst path on a table small enough to stay in cache.
    {
        let mut t = StateTable::new(8192, 1, 0);
        let mut rng = Rng(3);
        let mut keys = Vec::new();
        while keys.len() < 4096 {
            let k = rng.key(IpProtocol::UDP);
            if t.insert(Instant::ZERO, NewState::new(k, PfDirection::In))
                .is_ok()
            {
                keys.push(k);
            }
        }
        let probes = probes(&keys);
        let mut out = vec![None; BATCH];
        let mut at = 0;
        group.bench_function("hit_4k_burst32_cached", |b| {
            b.iter(|| {
                t.lookup_burst(
                    black_box(&probes[at..at + BATCH]),
                    PfDirection::In,
                    &mut out,
                );
                at = (at + BATCH) % (probes.len() - BATCH);
            })
        });
        let mut at = 0;
        group.bench_function("hit_4k_cached", |b| {
            b.iter(|| {
                let mut found = 0;
                for k in &probes[at..at + BATCH] {
                    found += usize::from(t.lookup(black_box(k), PfDirection::In).is_some());
                }
                at = (at + BATCH) % (probes.len() - BATCH);
                found
            })
        });
    }

    // Lookup + pf TCP tracking of a pure ACK on established connections.
    {
        let mut t = StateTable::new(STATES, 1, 0);
        let mut rng = Rng(7);
        let mut conns: Vec<(StateHandle, PacketKey)> = Vec::with_capacity(STATES);
        while conns.len() < STATES {
            let k = rng.key(IpProtocol::TCP);
            let mut new = NewState::new(k, PfDirection::In);
            new.tcp = Some(seg(SYN, 1000, 0));
            let Ok(h) = t.insert(Instant::ZERO, new) else {
                continue;
            };
            let rev = t.lookup(&k.reversed(), PfDirection::Out).unwrap();
            let fwd = t.lookup(&k, PfDirection::In).unwrap();
            let meta = |s| PacketMeta {
                len: 40,
                tcp: Some(s),
            };
            t.track(rev, Instant::ZERO, &meta(seg(SYN | ACK, 5000, 1001)))
                .unwrap();
            t.track(fwd, Instant::ZERO, &meta(seg(ACK, 1001, 5001)))
                .unwrap();
            conns.push((h, k));
        }
        let order = probes(&conns.iter().map(|c| c.1).collect::<Vec<_>>());
        let mut at = 0;
        group.bench_function("hit_track_tcp_ack_1M", |b| {
            b.iter(|| {
                for k in &order[at..at + BATCH] {
                    let m = t.lookup(black_box(k), PfDirection::In).unwrap();
                    // Client and server each ack what the other has sent: always in window.
                    let s = match m.direction {
                        rampart_dataplane::state::Direction::Forward => seg(ACK, 1001, 5001),
                        rampart_dataplane::state::Direction::Reverse => seg(ACK, 5001, 1001),
                    };
                    let meta = PacketMeta {
                        len: 40,
                        tcp: Some(s),
                    };
                    black_box(t.track(m, Instant::from_secs(1), &meta).unwrap());
                }
                at = (at + BATCH) % (order.len() - BATCH);
            })
        });
        let mut out = vec![None; BURST];
        let mut at = 0;
        group.bench_function("hit_burst32_track_tcp_ack_1M", |b| {
            b.iter(|| {
                for burst in order[at..at + BATCH].chunks(BURST) {
                    t.lookup_burst(black_box(burst), PfDirection::In, &mut out);
                    for m in &out {
                        let m = m.unwrap();
                        let s = match m.direction {
                            rampart_dataplane::state::Direction::Forward => seg(ACK, 1001, 5001),
                            rampart_dataplane::state::Direction::Reverse => seg(ACK, 5001, 1001),
                        };
                        let meta = PacketMeta {
                            len: 40,
                            tcp: Some(s),
                        };
                        black_box(t.track(m, Instant::from_secs(1), &meta).unwrap());
                    }
                }
                at = (at + BATCH) % (order.len() - BATCH);
            })
        });
    }

    // Miss + insert: new random keys into a table holding 1M states. Only the inserts are
    // timed; each batch is removed again untimed so the table stays at 1M.
    {
        let (mut t, _keys) = udp_table(BATCH);
        let mut rng = Rng(0xfeed_f00d);
        group.bench_function("miss_insert_1M", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut handles = Vec::with_capacity(BATCH);
                for _ in 0..iters {
                    let fresh: Vec<_> = (0..BATCH).map(|_| rng.key(IpProtocol::UDP)).collect();
                    let start = std::time::Instant::now();
                    for k in &fresh {
                        if t.lookup(black_box(k), PfDirection::In).is_none()
                            && let Ok(h) =
                                t.insert(Instant::ZERO, NewState::new(*k, PfDirection::In))
                        {
                            handles.push(h);
                        }
                    }
                    total += start.elapsed();
                    for h in handles.drain(..) {
                        t.remove(h);
                    }
                }
                total
            })
        });
    }
    // The forwarder's order: a burst of 32 new flows looked up together, then inserted.
    {
        let (mut t, _keys) = udp_table(BATCH);
        let mut rng = Rng(0xdead_beef);
        let mut out = vec![None; BURST];
        group.bench_function("miss_burst32_then_insert_1M", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut handles = Vec::with_capacity(BATCH);
                for _ in 0..iters {
                    let fresh: Vec<_> = (0..BATCH).map(|_| rng.key(IpProtocol::UDP)).collect();
                    let start = std::time::Instant::now();
                    for burst in fresh.chunks(BURST) {
                        t.lookup_burst(black_box(burst), PfDirection::In, &mut out);
                        for (k, m) in burst.iter().zip(&out) {
                            if m.is_none()
                                && let Ok(h) =
                                    t.insert(Instant::ZERO, NewState::new(*k, PfDirection::In))
                            {
                                handles.push(h);
                            }
                        }
                    }
                    total += start.elapsed();
                    for h in handles.drain(..) {
                        t.remove(h);
                    }
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_state);
criterion_main!(benches);

//! pfsync codec figures: full-state INS messages encoded from dataplane snapshots into
//! frames for a 1500-byte MTU (the frame limit is 1480: the IPv4 header is not pfsync's), in
//! each format, and the same frames decoded back into snapshots. Criterion reports
//! throughput in messages; the frame fill (pfsync bytes over the limit, and IP bytes over
//! the MTU) is printed once per format.
// Test code: failures should panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_dataplane::state::PacketKey;
use rampart_dataplane::state::{
    Peer, PfDirection, StateKey, StateSnapshot, Timeout, Timeouts, peer::tcps,
};
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::IpProtocol;
use rampart_sync::wire::{
    Frame, FrameBuilder, FullState, IfName, InterfaceMap, Message, PushError, StateFormat,
};

const MTU: usize = 1500;
const LIMIT: usize = MTU - 20;
const STATES: usize = 4096;
const NOW: Instant = Instant::from_secs(100_000);

fn snapshots() -> Vec<StateSnapshot> {
    (0..STATES)
        .map(|i| {
            let i16 = u16::try_from(i % 60_000).unwrap();
            let client = Ipv4Addr::from(0x0a00_0000 | u32::try_from(i).unwrap());
            let key = PacketKey::v4(
                client,
                10_000 + i16,
                Ipv4Addr::new(192, 0, 2, 80),
                443,
                IpProtocol::TCP,
            );
            let wire = StateKey::from_packet(&key, PfDirection::In);
            let peer = |seq: u32| Peer {
                seqlo: seq,
                seqhi: seq.wrapping_add(65_535),
                seqdiff: 0,
                max_win: 65_535,
                mss: 1460,
                state: tcps::ESTABLISHED,
                wscale: 0x87,
            };
            StateSnapshot {
                id: 0x6553_f1a2_0000_0000 | i as u64,
                creatorid: 1,
                wire,
                stack: wire,
                src: peer(1000 * i as u32),
                dst: peer(7 * i as u32),
                rule: 3,
                creation: Instant::from_secs(99_000),
                last_activity: Instant::from_secs(99_990),
                expires_at: Instant::from_secs(99_990 + 86_400),
                timeout: Timeout::TcpEstablished,
                direction: PfDirection::In,
                interface: Some(0),
                packets: [10, 12],
                bytes: [1_000, 120_000],
                log: 0,
                state_flags: 0,
            }
        })
        .collect()
}

fn interfaces() -> InterfaceMap {
    let mut m = InterfaceMap::new();
    m.insert(0, IfName::new("igb0").unwrap());
    m
}

/// Encodes every snapshot as an INS of `format` into frames of [`LIMIT`] in `buf`; returns
/// (frames, pfsync bytes).
fn encode(
    snaps: &[StateSnapshot],
    format: StateFormat,
    ifs: &InterfaceMap,
    buf: &mut [u8],
    mut sink: impl FnMut(&[u8]),
) -> (usize, usize) {
    let (mut frames, mut bytes) = (0, 0);
    let mut b = FrameBuilder::new(buf, LIMIT).unwrap();
    for s in snaps {
        let msg = Message::Ins {
            format,
            state: FullState::from_snapshot(s, NOW, ifs).unwrap(),
        };
        if let Err(PushError::Full) = b.push(&msg) {
            let n = b.finish();
            sink(&buf[..n]);
            frames += 1;
            bytes += n;
            b = FrameBuilder::new(buf, LIMIT).unwrap();
            b.push(&msg).unwrap();
        }
    }
    let n = b.finish();
    sink(&buf[..n]);
    (frames + 1, bytes + n)
}

fn bench_pfsync(c: &mut Criterion) {
    let snaps = snapshots();
    let ifs = interfaces();
    let timeouts = Timeouts::default();
    let mut buf = vec![0u8; LIMIT];

    let mut g = c.benchmark_group("pfsync");
    g.throughput(Throughput::Elements(STATES as u64));
    g.measurement_time(Duration::from_secs(3));
    g.warm_up_time(Duration::from_secs(1));
    for format in StateFormat::ALL {
        let v = format.version();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let (n, bytes) = encode(&snaps, format, &ifs, &mut buf, |f| frames.push(f.to_vec()));
        // Every frame but the last is full; the fill of those is what a loaded link sees.
        let full = &frames[..frames.len() - 1];
        let full_bytes: usize = full.iter().map(Vec::len).sum();
        let per_frame = Frame::parse(&frames[0]).unwrap().messages().count();
        println!(
            "pfsync {v}: {per_frame} messages/frame, {n} frames, fill {:.1}% of the {LIMIT}-byte \
             limit ({:.1}% of the {MTU}-byte MTU with the IPv4 header; {:.1}% over all {bytes} \
             bytes)",
            100.0 * full_bytes as f64 / (full.len() * LIMIT) as f64,
            100.0 * (full_bytes + 20 * full.len()) as f64 / (full.len() * MTU) as f64,
            100.0 * bytes as f64 / (n * LIMIT) as f64,
        );

        g.bench_function(format!("encode_ins_{v}"), |bch| {
            bch.iter(|| {
                encode(black_box(&snaps), format, &ifs, &mut buf, |f| {
                    black_box(f);
                })
            })
        });
        g.bench_function(format!("decode_ins_{v}"), |bch| {
            bch.iter(|| {
                let mut ok = 0usize;
                for f in &frames {
                    for m in Frame::parse(black_box(f)).unwrap().messages() {
                        if let Ok(Message::Ins { state, .. }) = m {
                            let snap = state.to_snapshot(NOW, &timeouts, &ifs).unwrap();
                            black_box(&snap);
                            ok += 1;
                        }
                    }
                }
                assert_eq!(ok, STATES);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_pfsync);
criterion_main!(benches);

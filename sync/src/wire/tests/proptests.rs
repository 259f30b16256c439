//! Property tests: every message round-trips, the builder's frames decode to what was put in
//! and never pass the limit, the dataplane conversions round-trip, and no input panics the
//! decoder.

use proptest::collection::vec;
use proptest::prelude::*;
use rampart_dataplane::state::{
    Addr, Af, Peer, PfDirection, StateKey, StateSnapshot, Timeout, Timeouts,
};
use rampart_dataplane::sync_link::CompressedUpdate;
use rampart_dataplane::time::Instant;
use rampart_dataplane::wire::IpProtocol;

use crate::engine::{Kind, WireSizes};
use crate::wire::{
    AF_INET, AF_INET6, Bus, BusStatus, Clr, FullState, HEADER_LEN, IfName, InterfaceMap,
    Interfaces, KeyRecord, Message, PFTM_MAX, PeerRecord, PushError, Scrub, StateActions,
    StateFormat, StateRef, UpdC,
};
use crate::wire::{DropCounts, Frame, FrameBuilder};

fn ifname() -> impl Strategy<Value = IfName> {
    prop_oneof![
        Just(IfName::ALL),
        "[a-z]{1,6}[0-9]{1,3}".prop_map(|s| IfName::new(&s).unwrap()),
    ]
}

fn peer() -> impl Strategy<Value = PeerRecord> {
    (
        (any::<u16>(), any::<u8>(), any::<u8>(), any::<u32>()),
        any::<[u32; 3]>(),
        any::<[u16; 2]>(),
        0..=12u8,
        any::<u8>(),
    )
        .prop_map(
            |(
                (flags, ttl, valid, ts_mod),
                [seqlo, seqhi, seqdiff],
                [max_win, mss],
                state,
                wscale,
            )| {
                PeerRecord {
                    scrub: Scrub {
                        flags,
                        ttl,
                        valid,
                        ts_mod,
                    },
                    seqlo,
                    seqhi,
                    seqdiff,
                    max_win,
                    mss,
                    state,
                    wscale,
                }
            },
        )
}

fn addr(af: u8) -> impl Strategy<Value = [u8; 16]> {
    any::<[u8; 16]>().prop_map(move |mut a| {
        if af == AF_INET {
            a[4..].fill(0);
        }
        a
    })
}

fn key(af: u8) -> impl Strategy<Value = KeyRecord> {
    (addr(af), addr(af), any::<[u16; 2]>())
        .prop_map(|(a, b, port)| KeyRecord { addr: [a, b], port })
}

fn actions() -> impl Strategy<Value = StateActions> {
    (
        any::<[u16; 4]>(),
        any::<i32>(),
        any::<(u8, u8, u16, [u8; 2], u8, u8)>(),
        ifname(),
    )
        .prop_map(
            |(
                [qid, pqid, dnpipe, dnrpipe],
                rtableid,
                (min_ttl, set_tos, max_mss, set_prio, rt, rt_af),
                rt_ifname,
            )| {
                StateActions {
                    qid,
                    pqid,
                    dnpipe,
                    dnrpipe,
                    rtableid,
                    min_ttl,
                    set_tos,
                    max_mss,
                    set_prio,
                    rt,
                    rt_af,
                    rt_ifname,
                }
            },
        )
}

fn af() -> impl Strategy<Value = u8> {
    prop_oneof![Just(AF_INET), Just(AF_INET6)]
}

/// A full state that passes [`FullState::check`], as `format` carries it.
fn full_state(format: StateFormat) -> impl Strategy<Value = FullState> {
    let keys =
        (af(), af(), any::<u8>(), any::<u8>()).prop_flat_map(move |(af, stack_af, p, sp)| {
            // Only 1500 gives each key its own family; within one family, one protocol (pf's
            // keys differ in it only under af-to).
            let stack_af = if format == StateFormat::V1500 {
                stack_af
            } else {
                af
            };
            let sp = if af == stack_af { p } else { sp };
            (Just((af, stack_af, p, sp)), key(af), key(stack_af))
        });
    (
        (
            any::<u64>(),
            ifname(),
            keys,
            peer(),
            peer(),
            any::<[u8; 16]>(),
        ),
        (any::<[u32; 5]>(), any::<[u64; 4]>(), 1..=u32::MAX),
        (
            0..=2u8,
            any::<u8>(),
            any::<u16>(),
            0..PFTM_MAX,
            any::<[u8; 2]>(),
        ),
        (actions(), any::<[u8; 64]>(), ifname()),
    )
        .prop_map(
            move |(
                (id, ifname, ((af, stack_af, proto, stack_proto), k0, k1), src, dst, rt_addr),
                ([rule, anchor, nat_rule, creation, expire], [p0, p1, b0, b1], creatorid),
                (direction, log, state_flags, timeout, [sync_flags, updates]),
                (act, tagname, orig_ifname),
            )| {
                FullState {
                    id,
                    ifname,
                    key: [k0, k1],
                    src,
                    dst,
                    rt_addr,
                    rule,
                    anchor,
                    nat_rule,
                    creation,
                    expire,
                    packets: [p0, p1],
                    bytes: [b0, b1],
                    creatorid,
                    af,
                    proto,
                    stack_af,
                    stack_proto,
                    direction,
                    log,
                    state_flags,
                    timeout,
                    sync_flags,
                    updates,
                    act,
                    tagname,
                    orig_ifname,
                }
                .normalized(format)
            },
        )
}

fn format() -> impl Strategy<Value = StateFormat> {
    prop_oneof![
        Just(StateFormat::V1301),
        Just(StateFormat::V1400),
        Just(StateFormat::V1500)
    ]
}

fn state_ref() -> impl Strategy<Value = StateRef> {
    (any::<u64>(), any::<u32>()).prop_map(|(id, creatorid)| StateRef { id, creatorid })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (prop_oneof![Just(IfName::EMPTY), ifname()], any::<u32>())
            .prop_map(|(ifname, creatorid)| Message::Clr(Clr { ifname, creatorid })),
        format().prop_flat_map(
            |f| full_state(f).prop_map(move |state| Message::Ins { format: f, state })
        ),
        format().prop_flat_map(
            |f| full_state(f).prop_map(move |state| Message::Upd { format: f, state })
        ),
        state_ref().prop_map(Message::InsAck),
        (
            any::<u64>(),
            peer(),
            peer(),
            any::<u32>(),
            any::<u32>(),
            0..PFTM_MAX
        )
            .prop_map(
                |(id, src, dst, creatorid, expire, timeout)| Message::UpdC(UpdC {
                    id,
                    src,
                    dst,
                    creatorid,
                    expire,
                    timeout
                })
            ),
        state_ref().prop_map(Message::UpdReq),
        state_ref().prop_map(Message::DelC),
        (any::<u32>(), any::<u32>(), any::<bool>()).prop_map(|(creatorid, endtime, end)| {
            Message::Bus(Bus {
                creatorid,
                endtime,
                status: if end {
                    BusStatus::End
                } else {
                    BusStatus::Start
                },
            })
        }),
    ]
}

/// Builds frames of `limit` from `msgs`, as a sender would: a full frame goes out and the
/// message starts the next one.
fn build_frames(msgs: &[Message], limit: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut buf = vec![0u8; limit];
    let mut b = FrameBuilder::new(&mut buf, limit).unwrap();
    for m in msgs {
        match b.push(m) {
            Ok(()) => {}
            Err(PushError::Full) => {
                let n = b.finish();
                frames.push(buf[..n].to_vec());
                b = FrameBuilder::new(&mut buf, limit).unwrap();
                b.push(m).unwrap();
            }
            Err(PushError::TooLarge) => panic!("{} bytes in {limit}", m.wire_len()),
        }
    }
    let n = b.finish();
    frames.push(buf[..n].to_vec());
    frames
}

fn decode_all(frame: &[u8]) -> (Vec<Message>, DropCounts) {
    let mut msgs = Vec::new();
    let mut drops = DropCounts::default();
    match Frame::parse(frame) {
        Ok(f) => {
            for item in f.messages() {
                match item {
                    Ok(m) => msgs.push(m),
                    Err(r) => drops.add(r.reason),
                }
            }
        }
        Err(reason) => drops.add(reason),
    }
    (msgs, drops)
}

fn interfaces() -> InterfaceMap {
    let mut m = InterfaceMap::new();
    for (port, name) in [(0, "igb0"), (1, "igb1"), (2, "vtnet0")] {
        m.insert(port, IfName::new(name).unwrap());
    }
    m
}

fn snapshot() -> impl Strategy<Value = StateSnapshot> {
    let af = prop_oneof![Just(Af::Inet), Just(Af::Inet6)];
    let key = move |af: Af, proto: u8| {
        (addr(af_code(af)), addr(af_code(af)), any::<[u16; 2]>()).prop_map(move |(a, b, port)| {
            StateKey {
                addr: [Addr(a), Addr(b)],
                port,
                af,
                proto: IpProtocol(proto),
            }
        })
    };
    let dp_peer = || peer().prop_map(Peer::from);
    (
        (af, any::<u8>()).prop_flat_map(move |(af, proto)| (key(af, proto), key(af, proto))),
        (
            any::<u64>(),
            1..=u32::MAX,
            dp_peer(),
            dp_peer(),
            any::<u32>(),
        ),
        // Whole seconds: the wire carries seconds. `now` is 10^6 s; ages up to that.
        (
            0..1_000_000u64,
            1..100_000u64,
            0..Timeout::COUNT,
            any::<bool>(),
        ),
        (
            prop_oneof![Just(None), (0..3u16).prop_map(Some)],
            any::<[u64; 4]>(),
            any::<u8>(),
            any::<u16>(),
        ),
    )
        .prop_map(
            |(
                (wire, stack),
                (id, creatorid, src, dst, rule),
                (age, left, class, inbound),
                (interface, [p0, p1, b0, b1], log, state_flags),
            )| {
                let now = NOW.micros();
                let timeout = Timeout::ALL[class];
                let expires_at = Instant(now + left * 1_000_000);
                let len = u64::from(Timeouts::default().secs(timeout)) * 1_000_000;
                StateSnapshot {
                    id,
                    creatorid,
                    wire,
                    stack,
                    src,
                    dst,
                    rule,
                    creation: Instant(now - age * 1_000_000),
                    last_activity: Instant(expires_at.micros().saturating_sub(len)),
                    expires_at,
                    timeout,
                    direction: if inbound {
                        PfDirection::In
                    } else {
                        PfDirection::Out
                    },
                    interface,
                    packets: [p0, p1],
                    bytes: [b0, b1],
                    log,
                    state_flags,
                }
            },
        )
}

const NOW: Instant = Instant::from_secs(1_000_000);

fn af_code(af: Af) -> u8 {
    match af {
        Af::Inet => AF_INET,
        Af::Inet6 => AF_INET6,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_message_round_trip(msg in message()) {
        let mut rec = vec![0xa5u8; msg.wire_len()];
        msg.emit(&mut rec);
        prop_assert_eq!(Message::parse(msg.action(), &rec), Ok(msg));
        let frames = build_frames(&[msg], 1500);
        prop_assert_eq!(frames.len(), 1);
        let (got, drops) = decode_all(&frames[0]);
        prop_assert_eq!(got, vec![msg]);
        prop_assert_eq!(drops.total(), 0);
    }

    #[test]
    fn prop_full_state_formats(state in full_state(StateFormat::V1500), f in format()) {
        // Any state survives any format as `normalized` says, save af-to (1500 only).
        prop_assume!(f == StateFormat::V1500 || state.af == state.stack_af);
        let mut rec = vec![0u8; f.record_len()];
        state.emit(f, &mut rec);
        prop_assert_eq!(FullState::parse(&rec, f), Ok(state.normalized(f)));
    }

    #[test]
    fn prop_builder_frames(msgs in vec(message(), 0..40), limit in 400usize..9000) {
        let frames = build_frames(&msgs, limit);
        let mut got = Vec::new();
        for f in &frames {
            prop_assert!(f.len() <= limit);
            prop_assert_eq!(usize::from(u16::from_be_bytes([f[2], f[3]])), f.len());
            prop_assert_eq!(&f[f.len() - 4..], &[12, 0, 0, 1]);
            let (m, drops) = decode_all(f);
            prop_assert_eq!(drops.total(), 0);
            got.extend(m);
        }
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn prop_arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..2000)) {
        let _ = decode_all(&data);
        // The same bytes behind a header that passes, so the region walk sees them.
        let mut f = vec![5u8, 0, 0, 0];
        f.extend([0; 16]);
        f.extend(&data);
        let len = u16::try_from(f.len()).unwrap();
        f[2..4].copy_from_slice(&len.to_be_bytes());
        let (msgs, _) = decode_all(&f);
        let timeouts = Timeouts::default();
        for m in msgs {
            // What decodes re-encodes to itself.
            let mut rec = vec![0u8; m.wire_len()];
            m.emit(&mut rec);
            prop_assert_eq!(Message::parse(m.action(), &rec), Ok(m));
            if let Message::Ins { state, .. } | Message::Upd { state, .. } = m {
                let _ = state.to_snapshot(NOW, &timeouts, &interfaces());
            }
        }
    }

    #[test]
    fn prop_regions_never_panic(
        regions in vec((0u8..20, 0u16..6, vec(any::<u8>(), 0..400)), 0..6),
        tail in vec(any::<u8>(), 0..8),
    ) {
        // Plausible subheaders with random bodies reach the record parsers more often.
        let mut f = vec![5u8, 0, 0, 0];
        f.extend([0; 16]);
        for (action, count, body) in regions {
            f.extend([action, 0]);
            f.extend(count.to_be_bytes());
            f.extend(body);
        }
        f.extend(tail);
        if let Ok(len) = u16::try_from(f.len()) {
            f[2..4].copy_from_slice(&len.to_be_bytes());
            let _ = decode_all(&f);
        }
    }

    #[test]
    fn prop_record_parsers_any_length(data in vec(any::<u8>(), 0..400), code in 0u8..=16) {
        if let Some(action) = crate::wire::Action::from_code(code) {
            let _ = Message::parse(action, &data);
        }
        for f in StateFormat::ALL {
            let _ = FullState::parse(&data, f);
        }
        let _ = UpdC::parse(&data);
        let _ = Bus::parse(&data);
        let _ = Clr::parse(&data);
        let _ = crate::wire::Header::parse(&data);
    }

    #[test]
    fn prop_snapshot_round_trip(snap in snapshot(), f in format()) {
        let ifs = interfaces();
        let state = FullState::from_snapshot(&snap, NOW, &ifs).unwrap();
        prop_assert_eq!(state.check(), Ok(()));
        let mut rec = vec![0u8; f.record_len()];
        state.emit(f, &mut rec);
        let back = FullState::parse(&rec, f).unwrap();
        let mut expected = snap;
        if f == StateFormat::V1301 {
            expected.state_flags &= 0xff;
        }
        prop_assert_eq!(back.to_snapshot(NOW, &Timeouts::default(), &ifs), Ok(expected));
    }

    #[test]
    fn prop_wire_state_to_dataplane_and_back(
        mut state in full_state(StateFormat::V1400),
        port in prop_oneof![Just(None), (0..3u16).prop_map(Some)],
    ) {
        // Records the dataplane can hold come back with the fields it keeps.
        let ifs = interfaces();
        state.timeout %= Timeout::COUNT as u8;
        state.direction = 1 + state.direction % 2;
        state.ifname = port.and_then(|p| ifs.name(p)).unwrap_or(IfName::ALL);
        let snap = state.to_snapshot(NOW, &Timeouts::default(), &ifs).unwrap();
        let back = FullState::from_snapshot(&snap, NOW, &ifs).unwrap();
        prop_assert_eq!(back.key, state.key);
        prop_assert_eq!((back.id, back.creatorid, back.rule), (state.id, state.creatorid, state.rule));
        prop_assert_eq!(back.creation, state.creation.min(1_000_000));
        if state.expire != 0 {
            prop_assert_eq!(back.expire, state.expire);
        }
        prop_assert_eq!(Peer::from(back.src), Peer::from(state.src));
        prop_assert_eq!((back.state_flags, back.timeout, back.direction), (state.state_flags, state.timeout, state.direction));
    }

    #[test]
    fn prop_compressed_round_trip(
        id in any::<u64>(), creatorid in any::<u32>(), class in 0..Timeout::COUNT,
        src in peer(), dst in peer(),
    ) {
        let c = CompressedUpdate {
            creatorid,
            id,
            src: src.into(),
            dst: dst.into(),
            timeout: Timeout::ALL[class],
        };
        let u = UpdC::from_compressed(&c);
        let mut rec = [0u8; 84];
        u.emit(&mut rec);
        prop_assert_eq!(UpdC::parse(&rec).and_then(|u| u.to_compressed().map_err(|e| e.reason())), Ok(c));
    }
}

#[test]
fn test_engine_sizes_agree() {
    // The engine sizes frames on its own; it must count as the codec writes.
    for f in StateFormat::ALL {
        let sizes = WireSizes {
            state: f.record_len(),
        };
        let state = FullState::default();
        let r = StateRef::default();
        let by_kind = [
            (Kind::Insert, Message::Ins { format: f, state }),
            (Kind::Update, Message::Upd { format: f, state }),
            (Kind::Compressed, Message::UpdC(UpdC::default())),
            (Kind::InsAck, Message::InsAck(r)),
            (Kind::Request, Message::UpdReq(r)),
            (Kind::Delete, Message::DelC(r)),
            (Kind::Clear, Message::Clr(Clr::default())),
            (
                Kind::Bus,
                Message::Bus(Bus {
                    creatorid: 1,
                    endtime: 0,
                    status: BusStatus::Start,
                }),
            ),
        ];
        for (kind, msg) in by_kind {
            assert_eq!(sizes.message(kind), msg.wire_len(), "{kind:?}");
        }
        assert_eq!(crate::engine::message::HEADER, HEADER_LEN);
    }
}

#[test]
fn test_conversion_errors() {
    let ifs = interfaces();
    let t = Timeouts::default();
    let mut s = FullState {
        creatorid: 1,
        direction: 1,
        timeout: 2,
        proto: 6,
        stack_proto: 6,
        ..FullState::default()
    };
    assert!(s.to_snapshot(NOW, &t, &ifs).is_ok());
    let with = |f: &dyn Fn(&mut FullState)| {
        let mut x = s;
        f(&mut x);
        x.to_snapshot(NOW, &t, &ifs)
            .err()
            .map(|e| e.reason().name())
    };
    assert_eq!(with(&|x| x.timeout = 20), Some("unsupported_timeout"));
    assert_eq!(with(&|x| x.direction = 0), Some("unsupported_direction"));
    assert_eq!(with(&|x| x.stack_af = AF_INET6), Some("mixed_families"));
    assert_eq!(with(&|x| x.stack_proto = 17), Some("mixed_families"));
    assert_eq!(with(&|x| x.af = 24), Some("bad_af"));
    assert_eq!(
        with(&|x| x.ifname = IfName::new("em9").unwrap()),
        Some("unknown_interface")
    );
    s.ifname = IfName::new("igb1").unwrap();
    assert_eq!(s.to_snapshot(NOW, &t, &ifs).unwrap().interface, Some(1));

    // Times: age and seconds left on our clock; 0 left counts the whole class from now.
    s.creation = 30;
    s.expire = 0;
    let snap = s.to_snapshot(NOW, &t, &ifs).unwrap();
    assert_eq!(snap.creation, Instant::from_secs(1_000_000 - 30));
    assert_eq!(snap.last_activity, NOW);
    assert_eq!(snap.expires_at, Instant::from_secs(1_000_000 + 86_400));
    s.expire = 100;
    let snap = s.to_snapshot(NOW, &t, &ifs).unwrap();
    assert_eq!(snap.expires_at, Instant::from_secs(1_000_100));
    assert_eq!(snap.last_activity, Instant::from_secs(1_000_100 - 86_400));
    // A sender with longer timeouts than ours: its expiry wins, as in pf.
    s.timeout = Timeout::TcpFinWait.index();
    let snap = s.to_snapshot(NOW, &t, &ifs).unwrap();
    assert_eq!(snap.last_activity, Instant::from_secs(1_000_100 - 45));

    // Going out: a port without a name cannot be described; a fraction of a second left is
    // rounded up, never sent as "now".
    let mut snap = snap;
    snap.interface = Some(7);
    assert!(FullState::from_snapshot(&snap, NOW, &ifs).is_err());
    snap.interface = None;
    snap.expires_at = Instant(NOW.micros() + 1);
    let out = FullState::from_snapshot(&snap, NOW, &ifs).unwrap();
    assert_eq!(
        (out.expire, out.ifname, out.orig_ifname),
        (1, IfName::ALL, IfName::ALL)
    );
    assert_eq!((out.anchor, out.act.rtableid), (u32::MAX, -1));
}

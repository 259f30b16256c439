//! Records laid out by hand from the offset tables of pfsync.md §3 (not through the codec's
//! own field tables), then decoded and checked field by field; and frames with faults, to
//! check what the decoder skips and where it stops.

use crate::wire::{
    Action, DropReason, Frame, FrameBuilder, FullState, IfName, Message, Rejected, StateFormat,
    StateRef,
};

fn at(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

fn peer(b: &mut [u8], off: usize, seqlo: u32, seqhi: u32, max_win: u16, wscale: u8) {
    at(b, off, &[0x00, 0x01, 64, 1, 0x11, 0x22, 0x33, 0x44]); // scrub
    at(b, off + 8, &seqlo.to_be_bytes());
    at(b, off + 12, &seqhi.to_be_bytes());
    at(b, off + 16, &7u32.to_be_bytes()); // seqdiff
    at(b, off + 20, &max_win.to_be_bytes());
    at(b, off + 22, &1460u16.to_be_bytes());
    at(b, off + 24, &[4, wscale]);
}

/// A record of `format`, every field a distinct value, laid from the reference's tables.
fn lay(format: StateFormat) -> Vec<u8> {
    let mut b = vec![0u8; format.record_len()];
    at(&mut b, 0, &[0x65, 0x53, 0xf1, 0xa2, 0, 0, 0, 9]); // id
    at(&mut b, 8, b"igb0");
    // key[0] wire: 10.0.0.1:1234 -> 192.0.2.1:80
    at(&mut b, 24, &[10, 0, 0, 1]);
    at(&mut b, 40, &[192, 0, 2, 1]);
    at(&mut b, 56, &[0x04, 0xd2, 0x00, 0x50]);
    // key[1] stack: 198.51.100.7:40000 -> 192.0.2.1:80
    at(&mut b, 60, &[198, 51, 100, 7]);
    at(&mut b, 76, &[192, 0, 2, 1]);
    at(&mut b, 92, &[0x9c, 0x40, 0x00, 0x50]);
    peer(&mut b, 96, 0x1000, 0x2000, 0xffff, 0x87);
    peer(&mut b, 128, 0x3000, 0x4000, 512, 0x07);
    at(&mut b, 160, &[10, 9, 9, 1]); // rt_addr
    at(&mut b, 176, &5u32.to_be_bytes()); // rule
    at(&mut b, 180, &[0xff; 4]); // anchor
    at(&mut b, 184, &[0xff; 4]); // nat_rule
    at(&mut b, 188, &100u32.to_be_bytes()); // creation (age)
    at(&mut b, 192, &86_300u32.to_be_bytes()); // expire (left)
    at(&mut b, 196, &[0, 0, 0, 1, 0, 0, 0, 2]); // packets[0]: hi 1, lo 2
    at(&mut b, 204, &[0, 0, 0, 0, 0, 0, 0, 20]);
    at(&mut b, 212, &[0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
    at(&mut b, 220, &[0, 0, 0, 2, 0, 0, 0, 0]);
    at(&mut b, 228, &[0, 0, 0, 0x0a]); // creatorid
    match format {
        StateFormat::V1301 => {
            at(&mut b, 232, &[2, 6, 1]); // af, proto, direction
            at(&mut b, 237, &[1, 0x10, 2, 0x04, 0]); // log, flags, timeout, sync, updates
        }
        StateFormat::V1400 => {
            at(&mut b, 232, &[2, 6, 1]);
            at(&mut b, 235, &[0x01, 0x10]); // state_flags BE
            at(&mut b, 237, &[1, 0, 2, 0x04, 0]); // log, spare, timeout, sync, updates
            at(&mut b, 242, &[0, 3, 0, 4, 0, 5, 0, 6]); // qid, pqid, dnpipe, dnrpipe
            at(&mut b, 250, &[0xff; 4]); // rtableid -1
            at(&mut b, 254, &[7, 8, 0x05, 0x78, 1, 2, 2]); // ttl, tos, mss, prio, rt
            at(&mut b, 261, b"igb1");
        }
        StateFormat::V1500 => {
            at(&mut b, 232, b"mytag");
            at(&mut b, 296, b"igb1"); // rt_ifname
            at(&mut b, 312, b"igb0"); // orig_ifname
            at(&mut b, 328, &[0xff; 4]);
            at(
                &mut b,
                332,
                &[0x01, 0x10, 0, 3, 0, 4, 0, 5, 0, 6, 0x05, 0x78],
            );
            // wire_af, stack_af, rt_af, wire_proto, stack_proto, log, timeout, direction, rt,
            // min_ttl, set_tos, set_prio
            at(&mut b, 344, &[2, 2, 2, 6, 6, 1, 2, 1, 2, 7, 8, 1, 2]);
        }
    }
    b
}

#[test]
fn test_deconstruct_full_states() {
    for format in StateFormat::ALL {
        let b = lay(format);
        let s = FullState::parse(&b, format).unwrap();
        assert_eq!(s.id, 0x6553_f1a2_0000_0009);
        assert_eq!(s.ifname, IfName::new("igb0").unwrap());
        assert_eq!(s.key[0].addr[0][..4], [10, 0, 0, 1]);
        assert_eq!(s.key[0].addr[1][..4], [192, 0, 2, 1]);
        assert_eq!(s.key[0].port, [1234, 80]);
        assert_eq!(s.key[1].addr[0][..4], [198, 51, 100, 7]);
        assert_eq!(s.key[1].port, [40000, 80]);
        assert_eq!(
            (s.src.seqlo, s.src.seqhi, s.src.seqdiff),
            (0x1000, 0x2000, 7)
        );
        assert_eq!(
            (s.src.max_win, s.src.mss, s.src.state, s.src.wscale),
            (0xffff, 1460, 4, 0x87)
        );
        assert_eq!(
            (s.src.scrub.flags, s.src.scrub.ttl, s.src.scrub.valid),
            (1, 64, 1)
        );
        assert_eq!(s.src.scrub.ts_mod, 0x1122_3344);
        assert_eq!((s.dst.seqlo, s.dst.max_win, s.dst.wscale), (0x3000, 512, 7));
        assert_eq!(s.rt_addr[..4], [10, 9, 9, 1]);
        assert_eq!((s.rule, s.anchor, s.nat_rule), (5, u32::MAX, u32::MAX));
        assert_eq!((s.creation, s.expire), (100, 86_300));
        assert_eq!(s.packets, [(1 << 32) | 2, 20]);
        assert_eq!(s.bytes, [1000, 2 << 32]);
        assert_eq!(s.creatorid, 10);
        assert_eq!((s.af, s.proto, s.stack_af, s.stack_proto), (2, 6, 2, 6));
        assert_eq!((s.direction, s.log, s.timeout), (1, 1, 2));
        match format {
            StateFormat::V1301 => {
                assert_eq!((s.state_flags, s.sync_flags), (0x10, 0x04));
                assert_eq!(s.act, Default::default());
            }
            StateFormat::V1400 | StateFormat::V1500 => {
                assert_eq!(s.state_flags, 0x0110);
                let a = s.act;
                assert_eq!((a.qid, a.pqid, a.dnpipe, a.dnrpipe), (3, 4, 5, 6));
                assert_eq!(
                    (a.rtableid, a.min_ttl, a.set_tos, a.max_mss),
                    (-1, 7, 8, 1400)
                );
                assert_eq!((a.set_prio, a.rt), ([1, 2], 2));
                assert_eq!(a.rt_ifname, IfName::new("igb1").unwrap());
            }
        }
        if format == StateFormat::V1400 {
            assert_eq!(s.sync_flags, 0x04);
        }
        if format == StateFormat::V1500 {
            assert_eq!(&s.tagname[..6], b"mytag\0");
            assert_eq!(s.orig_ifname, IfName::new("igb0").unwrap());
            assert_eq!(s.act.rt_af, 2);
        }
        let mut out = vec![0xa5; b.len()];
        s.emit(format, &mut out);
        assert_eq!(out, b, "{format:?} re-encodes to the same bytes");
    }
}

/// A frame of `records` (each a whole record of `action`) in one region, and EOF.
fn frame(action: Action, records: &[Vec<u8>]) -> Vec<u8> {
    let mut f = vec![5, 0, 0, 0];
    f.extend([0; 16]);
    f.extend([action.code(), 0]);
    f.extend(u16::try_from(records.len()).unwrap().to_be_bytes());
    for r in records {
        f.extend(r);
    }
    f.extend([12, 0, 0, 1]);
    let len = u16::try_from(f.len()).unwrap().to_be_bytes();
    f[2..4].copy_from_slice(&len);
    f
}

fn reasons(f: &[u8]) -> Vec<Result<u64, DropReason>> {
    Frame::parse(f)
        .unwrap()
        .messages()
        .map(|m| match m {
            Ok(Message::Ins { state, .. } | Message::Upd { state, .. }) => Ok(state.id),
            Ok(Message::DelC(r)) => Ok(r.id),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(Rejected { reason, .. }) => Err(reason),
        })
        .collect()
}

#[test]
fn test_bad_records_skipped() {
    let good = lay(StateFormat::V1400);
    let id = FullState::parse(&good, StateFormat::V1400).unwrap().id;
    let with = |off: usize, v: &[u8]| {
        let mut r = good.clone();
        at(&mut r, off, v);
        r
    };
    let cases = [
        (with(232, &[7]), DropReason::BadAf),
        (with(239, &[25]), DropReason::BadTimeout),
        (with(96 + 24, &[13]), DropReason::BadPeerState),
        (with(128 + 24, &[200]), DropReason::BadPeerState),
        (with(234, &[3]), DropReason::BadDirection),
        (with(228, &[0; 4]), DropReason::BadCreatorid),
        (with(8, &[b'x'; 16]), DropReason::BadIfname),
        (with(24 + 15, &[1]), DropReason::BadKey),
    ];
    for (bad, reason) in cases {
        let f = frame(Action::Ins1400, &[good.clone(), bad, good.clone()]);
        assert_eq!(reasons(&f), [Ok(id), Err(reason), Ok(id)], "{reason:?}");
    }
    // Timeouts up to FreeBSD 14's PFTM_MAX are the codec's to accept (the dataplane refuses
    // 14–24 later, as an import error).
    let f = frame(Action::Ins1400, &[with(239, &[24])]);
    assert_eq!(reasons(&f), [Ok(id)]);
}

#[test]
fn test_frame_faults() {
    let del = |id: u64| {
        let mut r = vec![0u8; 12];
        StateRef { id, creatorid: 1 }.emit(&mut r);
        r
    };
    let good = frame(Action::DelC, &[del(1), del(2)]);
    assert_eq!(reasons(&good), [Ok(1), Ok(2)]);

    // A region claiming more than the frame holds ends the frame.
    let mut truncated = good.clone();
    truncated[20 + 3] = 3;
    assert_eq!(reasons(&truncated), [Err(DropReason::Truncated)]);

    // An action without a known size ends the frame where it starts.
    for code in [8u8, 9, 17, 200] {
        let mut f = frame(Action::DelC, &[del(1)]);
        let eof = f.len() - 4;
        f.splice(eof..eof, [code, 0, 0, 1]);
        f.splice(eof..eof, del(2));
        f.splice(eof..eof, [7, 0, 0, 1]);
        let len = u16::try_from(f.len()).unwrap();
        f[2..4].copy_from_slice(&len.to_be_bytes());
        assert_eq!(reasons(&f), [Ok(1), Ok(2), Err(DropReason::UnknownAction)]);
    }

    // TDB and the full-state DEL have a known size: skipped record by record, then on.
    let mut f = frame(Action::Tdb, &[vec![0; 48], vec![0; 48]]);
    let eof = f.len() - 4;
    f.splice(eof..eof, [6, 0, 0, 1]);
    let del_pos = eof + 4;
    f.splice(del_pos..del_pos, lay(StateFormat::V1301));
    let dc = del_pos + 242;
    f.splice(dc..dc, [7, 0, 0, 1]);
    f.splice(dc + 4..dc + 4, del(3));
    let len = u16::try_from(f.len()).unwrap();
    f[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        reasons(&f),
        [
            Err(DropReason::IgnoredAction),
            Err(DropReason::IgnoredAction),
            Err(DropReason::IgnoredAction),
            Ok(3)
        ]
    );

    // Bytes after EOF are reported after everything before it applied.
    let mut f = good.clone();
    f.extend([0, 0]);
    let len = u16::try_from(f.len()).unwrap();
    f[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(reasons(&f), [Ok(1), Ok(2), Err(DropReason::TrailingBytes)]);

    // Without EOF the frame ends with its length, as in pf; empty regions are fine.
    let mut f = good.clone();
    f.truncate(f.len() - 4);
    f.extend([4, 0, 0, 0]);
    let len = u16::try_from(f.len()).unwrap();
    f[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(reasons(&f), [Ok(1), Ok(2)]);

    // Bytes past the header's length are not the frame's.
    let mut f = good.clone();
    f.extend([0xff; 7]);
    assert_eq!(reasons(&f), [Ok(1), Ok(2)]);
}

#[test]
fn test_builder_groups_and_fills() {
    let mut buf = [0u8; 100];
    let mut b = FrameBuilder::new(&mut buf, 100).unwrap();
    let r = |id| StateRef { id, creatorid: 1 };
    // 20 + (4 + 12 + 12) + (4 + 12) + (4 + 12) + 4 EOF = 84.
    for m in [
        Message::DelC(r(1)),
        Message::DelC(r(2)),
        Message::UpdReq(r(3)),
        Message::DelC(r(4)),
    ] {
        b.push(&m).unwrap();
    }
    assert_eq!(b.len(), 84);
    assert!(b.push(&Message::DelC(r(5))).is_ok()); // joins the open region: 96
    assert_eq!(
        b.push(&Message::UpdReq(r(6))),
        Err(crate::wire::PushError::Full)
    );
    assert!((b.fill() - 0.96).abs() < 1e-9);
    let n = b.finish();
    assert_eq!(n, 96);
    let f = &buf[..n];
    assert_eq!(f[20..24], [7, 0, 0, 2]);
    assert_eq!(f[48..52], [5, 0, 0, 1]);
    assert_eq!(f[64..68], [7, 0, 0, 2]);
    assert_eq!(f[92..96], [12, 0, 0, 1]);
    let got: Vec<_> = Frame::parse(f).unwrap().messages().collect();
    let want = [
        Message::DelC(r(1)),
        Message::DelC(r(2)),
        Message::UpdReq(r(3)),
        Message::DelC(r(4)),
        Message::DelC(r(5)),
    ];
    assert_eq!(got, want.map(Ok));

    let mut tiny = [0u8; 30];
    assert!(FrameBuilder::new(&mut tiny, 23).is_err());
    let mut b = FrameBuilder::new(&mut tiny, 30).unwrap();
    assert_eq!(
        b.push(&Message::DelC(r(1))),
        Err(crate::wire::PushError::TooLarge)
    );
    assert!(b.is_empty());
    assert_eq!(b.finish(), 24);
}

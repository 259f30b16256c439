//! pfsync frames (the IP payload of protocol 240): the envelope, every record, and the
//! conversion of full states and compressed updates to the dataplane's values.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use rampart_dataplane::state::Timeouts;
use rampart_dataplane::time::Instant;
use rampart_sync::wire::{
    DropCounts, Frame, FrameBuilder, FullState, IfName, InterfaceMap, Message, PushError,
};

/// Decodes `frame`: its messages and what was dropped.
fn decode(frame: &[u8]) -> (Vec<Message>, DropCounts) {
    let mut msgs = Vec::new();
    let mut drops = DropCounts::default();
    match Frame::parse(frame) {
        Ok(f) => {
            black_box(f.header());
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

/// Encodes `msgs` into as many frames of `limit` as they need.
fn encode(msgs: &[Message], limit: usize) -> Vec<Vec<u8>> {
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
            Err(PushError::TooLarge) => unreachable!("every message fits 1480 bytes"),
        }
    }
    let n = b.finish();
    assert!(n <= limit);
    frames.push(buf[..n].to_vec());
    frames
}

fn check(frame: &[u8]) {
    let (msgs, _) = decode(frame);
    // What decodes re-encodes (in MTU-sized frames) and decodes to the same messages.
    let again: Vec<Message> = encode(&msgs, 1480)
        .iter()
        .flat_map(|f| {
            let (m, drops) = decode(f);
            assert_eq!(drops.total(), 0);
            m
        })
        .collect();
    assert_eq!(again, msgs);

    let mut ifs = InterfaceMap::new();
    ifs.insert(0, IfName::new("igb0").unwrap());
    let now = Instant::from_secs(1 << 20);
    for m in &msgs {
        match m {
            Message::Ins { state, .. } | Message::Upd { state, .. } => {
                if let Ok(snap) = state.to_snapshot(now, &Timeouts::default(), &ifs) {
                    let back = FullState::from_snapshot(&snap, now, &ifs).unwrap();
                    assert_eq!(back.key, state.key);
                    assert_eq!((back.id, back.creatorid), (state.id, state.creatorid));
                }
            }
            Message::UpdC(u) => {
                let _ = black_box(u.to_compressed());
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    // The same bytes behind a valid header, so that mutations explore the regions.
    if data.len() <= 65_000 {
        let mut f = Vec::with_capacity(data.len() + 20);
        f.extend([5, 0]);
        f.extend(u16::try_from(data.len() + 20).unwrap().to_be_bytes());
        f.extend([0; 16]);
        f.extend(data);
        check(&f);
    }
});

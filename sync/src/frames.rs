//! Between the engine's messages and the codec's bytes: a frame the engine decided on is
//! encoded with the codec's [`FrameBuilder`], and a received frame is decoded into engine
//! messages, every record that cannot be used counted under its reason.

use rampart_dataplane::state::Timeouts;
use rampart_dataplane::time::Instant;

use crate::engine::{self, BusStatus, Message, OutFrame};
use crate::wire::{
    self, Bus, Clr, DropReason, Frame, FrameBuilder, FullState, IfName, InterfaceMap, StateRef,
    UpdC,
};

pub use crate::wire::{DropCounts as FrameDrops, StateFormat};

/// What encoding and decoding need to know about this node.
#[derive(Debug, Clone)]
pub struct Context {
    /// This node's hostid.
    pub creatorid: u32,
    /// Full-state format sent.
    pub format: StateFormat,
    /// Timeouts: a received state's seconds left become a last-activity time with them.
    pub timeouts: Timeouts,
    /// Port names for interface-bound states (empty: every state is floating).
    pub interfaces: InterfaceMap,
}

/// Writes `frame` into `out` (cleared first). Messages that cannot be described to the peer
/// (a state bound to an unnamed port) are left out and counted in `drops`.
pub fn encode(
    frame: &OutFrame,
    ctx: &Context,
    now: Instant,
    out: &mut Vec<u8>,
    drops: &mut FrameDrops,
) {
    out.clear();
    out.resize(frame.bytes.max(wire::MIN_FRAME), 0);
    let Ok(mut builder) = FrameBuilder::new(out, frame.bytes.max(wire::MIN_FRAME)) else {
        return;
    };
    for msg in &frame.messages {
        let Some(wire_msg) = to_wire(msg, ctx, now) else {
            drops.add(DropReason::UnknownInterface);
            continue;
        };
        // The engine sized the frame with the same rules; a refusal would be a bug, counted.
        if builder.push(&wire_msg).is_err() {
            drops.add(DropReason::BadLength);
        }
    }
    let len = builder.finish();
    out.truncate(len);
}

fn to_wire(msg: &Message, ctx: &Context, now: Instant) -> Option<wire::Message> {
    let full = |s| FullState::from_snapshot(s, now, &ctx.interfaces).ok();
    Some(match msg {
        Message::Insert(s) => wire::Message::Ins {
            format: ctx.format,
            state: full(s)?,
        },
        Message::Update(s) => wire::Message::Upd {
            format: ctx.format,
            state: full(s)?,
        },
        Message::Compressed(c) => wire::Message::UpdC(UpdC::from_compressed(c)),
        Message::InsAck { creatorid, id } => wire::Message::InsAck(StateRef {
            id: *id,
            creatorid: *creatorid,
        }),
        Message::Request { creatorid, id } => wire::Message::UpdReq(StateRef {
            id: *id,
            creatorid: *creatorid,
        }),
        Message::Delete { creatorid, id } => wire::Message::DelC(StateRef {
            id: *id,
            creatorid: *creatorid,
        }),
        Message::Clear { creatorid } => wire::Message::Clr(Clr {
            ifname: IfName::default(),
            creatorid: *creatorid,
        }),
        Message::Bus {
            creatorid,
            endtime,
            status,
        } => wire::Message::Bus(Bus {
            creatorid: *creatorid,
            endtime: *endtime,
            status: match status {
                BusStatus::Start => wire::BusStatus::Start,
                BusStatus::End => wire::BusStatus::End,
            },
        }),
    })
}

/// Decodes `bytes` (a pfsync frame, any trailer already removed) into `msgs`; what cannot be
/// used is counted in `drops` (a bad record is skipped, the rest of the frame still applies).
pub fn decode(
    bytes: &[u8],
    ctx: &Context,
    now: Instant,
    msgs: &mut Vec<Message>,
    drops: &mut FrameDrops,
) {
    let frame = match Frame::parse(bytes) {
        Ok(frame) => frame,
        Err(reason) => {
            drops.add(reason);
            return;
        }
    };
    for item in frame.messages() {
        let msg = match item {
            Ok(m) => m,
            Err(rejected) => {
                drops.add(rejected.reason);
                continue;
            }
        };
        match from_wire(&msg, ctx, now) {
            Ok(m) => msgs.push(m),
            Err(reason) => drops.add(reason),
        }
    }
}

fn from_wire(msg: &wire::Message, ctx: &Context, now: Instant) -> Result<Message, DropReason> {
    let snapshot = |s: &FullState| {
        s.to_snapshot(now, &ctx.timeouts, &ctx.interfaces)
            .map_err(|e| e.reason())
    };
    Ok(match msg {
        wire::Message::Ins { state, .. } => Message::Insert(snapshot(state)?),
        wire::Message::Upd { state, .. } => Message::Update(snapshot(state)?),
        wire::Message::UpdC(u) => Message::Compressed(u.to_compressed().map_err(|e| e.reason())?),
        wire::Message::InsAck(r) => Message::InsAck {
            creatorid: r.creatorid,
            id: r.id,
        },
        wire::Message::UpdReq(r) => Message::Request {
            creatorid: r.creatorid,
            id: r.id,
        },
        wire::Message::DelC(r) => Message::Delete {
            creatorid: r.creatorid,
            id: r.id,
        },
        // A CLR for one interface removes more than pf would: refuse it rather than guess.
        wire::Message::Clr(c) if !c.ifname.is_empty() => return Err(DropReason::UnknownInterface),
        wire::Message::Clr(c) => Message::Clear {
            creatorid: c.creatorid,
        },
        wire::Message::Bus(b) => Message::Bus {
            creatorid: b.creatorid,
            endtime: b.endtime,
            status: match b.status {
                wire::BusStatus::Start => BusStatus::Start,
                wire::BusStatus::End => BusStatus::End,
            },
        },
    })
}

/// The engine's sizes for `format`.
pub fn sizes(format: StateFormat) -> engine::WireSizes {
    engine::WireSizes {
        state: format.record_len(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use rampart_dataplane::firewall::{Firewall, FirewallSettings};
    use rampart_dataplane::rules::{Ruleset, RulesetOptions};
    use rampart_dataplane::state::{
        NewState, PacketKey, PfDirection, StateEvent, StateSnapshot, TcpSegment,
    };
    use rampart_dataplane::sync_link::ToSync;
    use rampart_dataplane::wire::IpProtocol;
    use rampart_dataplane::wire::tcp::flag::SYN;

    fn snapshots(n: u16) -> Vec<StateSnapshot> {
        let settings = FirewallSettings {
            states: 64,
            creatorid: 9,
            id_seed: 1,
            timeouts: Timeouts::default(),
            event_capacity: 64,
            workers: 1,
        };
        let rules = Ruleset::compile(Vec::new(), &RulesetOptions::new(1)).unwrap();
        let mut fw = Firewall::new(0, &settings, Arc::new(rules));
        for port in 0..n {
            let key = PacketKey::v4(
                Ipv4Addr::new(10, 0, 0, 1),
                1000 + port,
                Ipv4Addr::new(10, 0, 0, 2),
                80,
                IpProtocol::TCP,
            );
            let mut new = NewState::new(key, PfDirection::In);
            new.tcp = Some(TcpSegment {
                flags: SYN,
                seq: 77,
                window: 1000,
                ..TcpSegment::default()
            });
            fw.table_mut().insert(Instant::from_secs(5), new).unwrap();
        }
        fw.table_mut()
            .events()
            .drain()
            .filter_map(|e| match e {
                StateEvent::Insert(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn test_engine_frames_decode_to_what_was_sent() {
        for format in [StateFormat::V1301, StateFormat::V1400] {
            let ctx = Context {
                creatorid: 9,
                format,
                timeouts: Timeouts::default(),
                interfaces: InterfaceMap::new(),
            };
            let config = EngineConfig::new(9, 1, 1500, format.record_len());
            let mut engine = Engine::new(config).unwrap();
            let now = Instant::from_secs(6);
            let states = snapshots(12);
            for s in &states {
                engine.on_worker(now, 0, ToSync::Event(StateEvent::Insert(*s)));
            }
            engine.on_worker(
                now,
                0,
                ToSync::Event(StateEvent::Delete {
                    creatorid: 9,
                    id: 1,
                }),
            );
            engine.on_worker(
                now,
                0,
                ToSync::Unknown {
                    creatorid: 3,
                    id: 4,
                },
            );
            engine.on_timeout(now + std::time::Duration::from_secs(1));
            let mut sent = Vec::new();
            let mut received = Vec::new();
            let mut drops = FrameDrops::default();
            let mut buf = Vec::new();
            while let Some(frame) = engine.poll_frame() {
                encode(&frame, &ctx, now, &mut buf, &mut drops);
                // The engine's size is the codec's, to the byte.
                assert_eq!(buf.len(), frame.bytes, "{format:?}");
                decode(&buf, &ctx, now, &mut received, &mut drops);
                sent.extend(frame.messages);
            }
            assert_eq!(
                drops.total(),
                0,
                "{:?}",
                drops.nonzero().collect::<Vec<_>>()
            );
            assert_eq!(sent.len(), received.len());
            for (a, b) in sent.iter().zip(&received) {
                match (a, b) {
                    (Message::Insert(x), Message::Insert(y)) => {
                        assert_eq!(
                            (x.id, x.creatorid, x.wire, x.stack),
                            (y.id, y.creatorid, y.wire, y.stack)
                        );
                        assert_eq!(
                            (x.src, x.dst, x.timeout, x.direction),
                            (y.src, y.dst, y.timeout, y.direction)
                        );
                        // Times travel in whole seconds.
                        assert_eq!(
                            x.creation.micros() / 1_000_000,
                            y.creation.micros() / 1_000_000
                        );
                    }
                    (x, y) => assert_eq!(x, y),
                }
            }
        }
    }

    #[test]
    fn test_garbage_is_counted_not_applied() {
        let ctx = Context {
            creatorid: 9,
            format: StateFormat::V1400,
            timeouts: Timeouts::default(),
            interfaces: InterfaceMap::new(),
        };
        let mut msgs = Vec::new();
        let mut drops = FrameDrops::default();
        decode(
            &[6, 0, 0, 24, 1, 2, 3],
            &ctx,
            Instant::ZERO,
            &mut msgs,
            &mut drops,
        );
        assert!(msgs.is_empty());
        assert_eq!(drops.total(), 1);
    }
}

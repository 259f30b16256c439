use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::state::flow::{Classified, classify_ipv4};
use crate::state::peer::udps;
use crate::wire::tcp::flag::{ACK, FIN, PSH, RST, SYN};
use crate::wire::{IpProtocol, Ipv4Packet};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn secs(s: u64) -> Instant {
    Instant::from_secs(s)
}

fn seg(flags: u8, seq: u32, ack: u32, window: u16, len: u32) -> TcpSegment {
    TcpSegment {
        flags,
        seq,
        ack,
        window,
        payload_len: len,
        wscale: None,
        mss: None,
    }
}

fn tcp_meta(s: TcpSegment) -> PacketMeta {
    PacketMeta {
        len: 40 + s.payload_len,
        tcp: Some(s),
    }
}

fn client_key() -> PacketKey {
    PacketKey::v4(CLIENT, 40000, SERVER, 443, IpProtocol::TCP)
}

fn udp_key(port: u16) -> PacketKey {
    PacketKey::v4(CLIENT, port, SERVER, 53, IpProtocol::UDP)
}

fn new_udp(port: u16) -> NewState {
    NewState::new(udp_key(port), PfDirection::In)
}

fn table(capacity: usize) -> StateTable {
    let mut cfg = StateTableConfig::new(capacity, 0x0000_0a0b, 0);
    cfg.event_capacity = 1024;
    StateTable::with_config(cfg)
}

#[test]
fn test_tcp_lifecycle_through_the_table() {
    let mut t = table(16);
    let syn = seg(SYN, 1000, 0, 64_240, 0);
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(syn);
    new.len = 60;
    let h = t.insert(secs(1), new).unwrap();
    assert_eq!(t.get(h).unwrap().timeout(), Timeout::TcpFirst);
    assert_eq!(t.expires_at(h), Some(secs(121)));

    // The SYN|ACK is found from the other direction.
    let reply = client_key().reversed();
    let m = t.lookup(&reply, PfDirection::Out).unwrap();
    assert_eq!(
        (m.handle, m.direction, m.side),
        (h, Direction::Reverse, KeySide::Wire)
    );
    let r = t
        .track(m, secs(2), &tcp_meta(seg(SYN | ACK, 9000, 1001, 65_160, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpOpening);
    assert!(r.refreshed);

    let fwd = t.lookup(&client_key(), PfDirection::In).unwrap();
    assert_eq!(fwd.direction, Direction::Forward);
    let r = t
        .track(fwd, secs(3), &tcp_meta(seg(ACK, 1001, 9001, 502, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpEstablished);
    assert_eq!(t.expires_at(h), Some(secs(3 + 86_400)));

    // Data both ways.
    t.track(
        fwd,
        secs(4),
        &tcp_meta(seg(ACK | PSH, 1001, 9001, 502, 100)),
    )
    .unwrap();
    t.track(m, secs(4), &tcp_meta(seg(ACK | PSH, 9001, 1101, 509, 1000)))
        .unwrap();
    let st = t.get(h).unwrap();
    assert_eq!(st.packets, [3, 2]);
    assert_eq!(st.bytes, [60 + 40 + 140, 40 + 1040]);

    // A forged segment far outside the window is refused and changes nothing.
    let before = *t.get(h).unwrap();
    assert_eq!(
        t.track(fwd, secs(5), &tcp_meta(seg(ACK, 50_000_000, 9001, 502, 10))),
        Err(StateDrop::TcpBadState)
    );
    assert_eq!(t.get(h), Some(&before));

    // FIN, ACK, FIN, ACK.
    let r = t
        .track(
            fwd,
            secs(6),
            &tcp_meta(seg(ACK | FIN, 1101, 10_001, 502, 0)),
        )
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpClosing);
    assert_eq!(t.expires_at(h), Some(secs(6 + 900)));
    let r = t
        .track(m, secs(7), &tcp_meta(seg(ACK, 10_001, 1102, 509, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpClosing);
    let r = t
        .track(m, secs(8), &tcp_meta(seg(ACK | FIN, 10_001, 1102, 509, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpFinWait);
    let r = t
        .track(fwd, secs(9), &tcp_meta(seg(ACK, 1102, 10_002, 502, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpClosed);
    let st = t.get(h).unwrap();
    assert_eq!(
        (st.src.state, st.dst.state),
        (tcps::FIN_WAIT_2, tcps::FIN_WAIT_2)
    );
    // The shorter timeout moved the state on the wheel: it goes 90 s later, not a day later.
    assert_eq!(t.expire(secs(98), 100, |_, _| {}), 0);
    assert_eq!(t.expire(secs(99), 100, |_, _| {}), 1);
    assert!(t.is_empty());
}

#[test]
fn test_rst_in_window_then_reuse() {
    let mut t = table(4);
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(seg(SYN, 1000, 0, 1000, 0));
    let h = t.insert(secs(0), new).unwrap();
    let rev = t
        .lookup(&client_key().reversed(), PfDirection::Out)
        .unwrap();
    let fwd = t.lookup(&client_key(), PfDirection::In).unwrap();
    t.track(rev, secs(1), &tcp_meta(seg(SYN | ACK, 5000, 1001, 1000, 0)))
        .unwrap();
    t.track(fwd, secs(1), &tcp_meta(seg(ACK, 1001, 5001, 1000, 0)))
        .unwrap();
    // RST from the server, in window.
    let r = t
        .track(rev, secs(2), &tcp_meta(seg(RST, 5001, 0, 0, 0)))
        .unwrap();
    assert_eq!(r.timeout, Timeout::TcpClosed);
    let st = t.get(h).unwrap();
    assert_eq!(
        (st.src.state, st.dst.state),
        (tcps::TIME_WAIT, tcps::TIME_WAIT)
    );
    // A new SYN on the same ports: pf's state reuse removes the old state.
    assert_eq!(
        t.track(fwd, secs(3), &tcp_meta(seg(SYN, 77_000, 0, 1000, 0))),
        Err(StateDrop::TcpReuse)
    );
    assert!(t.get(h).is_none());
    assert!(t.lookup(&client_key(), PfDirection::In).is_none());
}

#[test]
fn test_insert_over_closed_tcp_state_replaces_it() {
    let mut t = table(4);
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(seg(SYN, 1000, 0, 1000, 0));
    let old = t.insert(secs(0), new).unwrap();
    assert_eq!(t.insert(secs(0), new), Err(StateError::Exists));
    let st = t.get_mut(old).unwrap();
    st.src.state = tcps::TIME_WAIT;
    st.dst.state = tcps::FIN_WAIT_2;
    let newer = t.insert(secs(1), new).unwrap();
    assert_ne!(old, newer);
    assert!(t.get(old).is_none());
    assert_eq!(
        t.lookup(&client_key(), PfDirection::In).unwrap().handle,
        newer
    );
    assert_eq!(t.len(), 1);
}

#[test]
fn test_nat_state_found_from_both_sides() {
    let mut t = table(8);
    // Outbound NAT on the WAN interface: the client's packet leaves translated to PUBLIC:61000.
    let stack = PacketKey::v4(CLIENT, 40000, SERVER, 443, IpProtocol::UDP);
    let wire = PacketKey::v4(PUBLIC, 61000, SERVER, 443, IpProtocol::UDP);
    let mut new = NewState::new(wire, PfDirection::Out);
    new.stack = stack;
    new.interface = Some(1);
    let h = t.insert(secs(0), new).unwrap();
    let st = t.get(h).unwrap();
    assert!(st.is_translated());
    // pf layout for an outbound state: index 1 = the packet's source.
    assert_eq!(st.wire().port, [443, 61000]);
    assert_eq!(st.stack().port, [443, 40000]);

    // pf: the client's packet leaving matches the stack key, the server's reply arriving the
    // wire key; the other two ways match nothing.
    assert!(t.lookup(&wire, PfDirection::Out).is_none());
    assert!(t.lookup(&stack.reversed(), PfDirection::In).is_none());
    assert!(t.lookup(&stack, PfDirection::In).is_none());
    for (key, pf_dir, dir, side) in [
        (stack, PfDirection::Out, Direction::Forward, KeySide::Stack),
        (
            wire.reversed(),
            PfDirection::In,
            Direction::Reverse,
            KeySide::Wire,
        ),
    ] {
        let m = t.lookup(&key, pf_dir).unwrap();
        assert_eq!((m.handle, m.direction, m.side), (h, dir, side), "{key:?}");
        // What the packet looks like on the other side: the translation to apply.
        let other = match side {
            KeySide::Wire => KeySide::Stack,
            KeySide::Stack => KeySide::Wire,
        };
        let translated = t.get(h).unwrap().packet_key(other, dir);
        assert_eq!(
            translated,
            if side == KeySide::Wire {
                if dir == Direction::Forward {
                    stack
                } else {
                    stack.reversed()
                }
            } else if dir == Direction::Forward {
                wire
            } else {
                wire.reversed()
            }
        );
    }
    // Another client taking the same public port collides on the wire key.
    let mut clash = NewState::new(wire, PfDirection::Out);
    clash.stack = PacketKey::v4(
        Ipv4Addr::new(10, 0, 1, 11),
        40000,
        SERVER,
        443,
        IpProtocol::UDP,
    );
    assert_eq!(t.insert(secs(0), clash), Err(StateError::Exists));
    // Removing frees both keys.
    t.remove(h).unwrap();
    assert!(t.lookup(&wire.reversed(), PfDirection::In).is_none());
    assert!(t.lookup(&stack, PfDirection::Out).is_none());
    assert!(t.insert(secs(0), clash).is_ok());
}

#[test]
fn test_ipv6_state() {
    let mut t = table(4);
    let a: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let b: Ipv6Addr = "2001:db8::2".parse().unwrap();
    let key = PacketKey::v6(a, 5000, b, 53, IpProtocol::UDP);
    let h = t
        .insert(secs(0), NewState::new(key, PfDirection::In))
        .unwrap();
    assert_eq!(
        t.lookup(&key.reversed(), PfDirection::Out).unwrap().handle,
        h
    );
    // Same ports and the IPv4-mapped bytes do not collide with an IPv4 key.
    assert!(
        t.lookup(
            &PacketKey::v4(CLIENT, 5000, SERVER, 53, IpProtocol::UDP),
            PfDirection::In
        )
        .is_none()
    );
}

#[test]
fn test_udp_single_multiple_and_timeouts() {
    let mut t = table(4);
    let h = t.insert(secs(0), new_udp(1)).unwrap();
    assert_eq!(t.get(h).unwrap().timeout(), Timeout::UdpFirst);
    let rev = t.lookup(&udp_key(1).reversed(), PfDirection::Out).unwrap();
    let fwd = t.lookup(&udp_key(1), PfDirection::In).unwrap();
    let meta = PacketMeta { len: 50, tcp: None };
    assert_eq!(
        t.track(rev, secs(1), &meta).unwrap().timeout,
        Timeout::UdpSingle
    );
    assert_eq!(
        t.track(fwd, secs(2), &meta).unwrap().timeout,
        Timeout::UdpMultiple
    );
    let st = t.get(h).unwrap();
    assert_eq!(
        (st.src.state, st.dst.state),
        (udps::MULTIPLE, udps::MULTIPLE)
    );
    assert_eq!(t.expires_at(h), Some(secs(62)));
}

#[test]
fn test_icmp_echo_state() {
    let mut t = table(4);
    let req = PacketKey::v4(CLIENT, 0x77, SERVER, 0x77, IpProtocol::ICMP);
    let h = t
        .insert(secs(0), NewState::new(req, PfDirection::In))
        .unwrap();
    assert_eq!(t.get(h).unwrap().timeout(), Timeout::IcmpFirst);
    let m = t.lookup(&req.reversed(), PfDirection::Out).unwrap();
    assert_eq!(m.direction, Direction::Reverse);
    let r = t.track(m, secs(1), &PacketMeta::default()).unwrap();
    assert_eq!(r.timeout, Timeout::IcmpError);
    assert_eq!(t.expires_at(h), Some(secs(11)));
    // Another echo id is another flow.
    let other = PacketKey::v4(SERVER, 0x78, CLIENT, 0x78, IpProtocol::ICMP);
    assert!(t.lookup(&other, PfDirection::Out).is_none());
}

#[test]
fn test_icmp_error_finds_its_flow() {
    let mut t = table(4);
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(seg(SYN, 1000, 0, 1000, 0));
    let h = t.insert(secs(0), new).unwrap();

    // A router between us and the server answers the client's SYN with an unreachable.
    let mut quoted = vec![0x45u8, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0];
    quoted.extend_from_slice(&CLIENT.octets());
    quoted.extend_from_slice(&SERVER.octets());
    quoted.extend_from_slice(&40000u16.to_be_bytes());
    quoted.extend_from_slice(&443u16.to_be_bytes());
    quoted.extend_from_slice(&1000u32.to_be_bytes());
    let mut icmp = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let mut ip = vec![0x45u8, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&Ipv4Addr::new(192, 0, 2, 254).octets());
    ip.extend_from_slice(&CLIENT.octets());
    ip.extend_from_slice(&icmp);
    let pkt = Ipv4Packet::new_checked(&ip[..]).unwrap();
    let Ok(Classified::IcmpError(err)) = classify_ipv4(&pkt) else {
        panic!()
    };
    let m = t.lookup(&err.key, PfDirection::Out).unwrap();
    assert_eq!(m.handle, h);
    // It travels towards the client, like a reply.
    assert_eq!(m.direction, Direction::Reverse);
    assert_eq!(t.check_icmp_error(m, &err), Ok(()));
    // A quoted sequence number the client never sent is refused.
    let forged = IcmpErrorFlow {
        tcp_seq: Some(900_000_000),
        ..err
    };
    assert_eq!(
        t.check_icmp_error(m, &forged),
        Err(StateDrop::IcmpErrorBadSeq)
    );
}

#[test]
fn test_capacity_full() {
    let mut t = table(3);
    for p in 0..3 {
        t.insert(secs(0), new_udp(p)).unwrap();
    }
    assert_eq!(t.insert(secs(0), new_udp(9)), Err(StateError::Full));
    assert_eq!(StateDrop::from(StateError::Full), StateDrop::TableFull);
    assert_eq!(t.stats().full, 1);
    assert_eq!(t.len(), 3);
    // A removal makes room, and the slot is reused without growing the slab.
    let h = t.lookup(&udp_key(1), PfDirection::In).unwrap().handle;
    t.remove(h).unwrap();
    let cap = t.slots.capacity();
    let h2 = t.insert(secs(0), new_udp(9)).unwrap();
    assert_eq!(h2.slot, h.slot);
    assert_ne!(h2, h);
    assert!(
        t.get(h).is_none(),
        "stale handle must not reach the new state"
    );
    assert_eq!(t.slots.capacity(), cap);
    // A zero-capacity table refuses everything.
    assert_eq!(table(0).insert(secs(0), new_udp(1)), Err(StateError::Full));
}

#[test]
fn test_expire_in_order_and_budget() {
    let mut t = table(64);
    // udp.first = 60 s: states made at 0..10 s expire at 60..70 s.
    for p in 0..10u16 {
        t.insert(secs(u64::from(p)), new_udp(p)).unwrap();
    }
    let mut gone = Vec::new();
    assert_eq!(
        t.expire(secs(59), 100, |_, st| gone.push(st.wire().port[0])),
        0
    );
    assert_eq!(
        t.expire(secs(64), 100, |_, st| gone.push(st.wire().port[0])),
        5
    );
    assert_eq!(gone, [0, 1, 2, 3, 4]);
    // Budget: one at a time.
    assert_eq!(
        t.expire(secs(100), 1, |_, st| gone.push(st.wire().port[0])),
        1
    );
    assert_eq!(
        t.expire(secs(100), 2, |_, st| gone.push(st.wire().port[0])),
        2
    );
    assert_eq!(
        t.expire(secs(100), 100, |_, st| gone.push(st.wire().port[0])),
        2
    );
    assert_eq!(gone, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired, 10);
}

#[test]
fn test_refreshed_state_does_not_expire_early() {
    let mut t = table(8);
    let h = t.insert(secs(0), new_udp(1)).unwrap();
    let other = t.insert(secs(0), new_udp(2)).unwrap();
    let fwd = t.lookup(&udp_key(1), PfDirection::In).unwrap();
    // Refreshed at 50 s: udp.single is 30 s, so it lives to 80 s while the other goes at 60.
    t.track(fwd, secs(50), &PacketMeta::default()).unwrap();
    assert_eq!(t.expires_at(h), Some(secs(80)));
    let mut gone = Vec::new();
    assert_eq!(t.expire(secs(61), 100, |h, _| gone.push(h)), 1);
    assert_eq!(gone, [other]);
    assert_eq!(t.expire(secs(79), 100, |_, _| {}), 0);
    assert!(t.get(h).is_some());
    assert_eq!(t.expire(secs(80), 100, |_, _| {}), 1);
    assert!(t.get(h).is_none());
}

#[test]
fn test_long_timeouts_go_round_the_wheel() {
    let mut t = table(4);
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(seg(SYN, 1000, 0, 1000, 0));
    let h = t.insert(secs(0), new).unwrap();
    t.touch(h, secs(0), Timeout::TcpEstablished);
    // Expire steadily for a while past several laps of the wheel: nothing goes early.
    let mut now = 0;
    while now < 86_399 {
        now += 97;
        assert_eq!(t.expire(secs(now.min(86_399)), 1000, |_, _| {}), 0);
    }
    assert!(t.get(h).is_some());
    assert_eq!(t.expire(secs(86_400), 1000, |_, _| {}), 1);
}

#[test]
fn test_ids_unique_across_workers() {
    let mut a = StateTable::new(100, 7, 0);
    let mut b = StateTable::new(100, 7, 1);
    let mut ids = std::collections::HashSet::new();
    for p in 0..100 {
        let ha = a.insert(secs(0), new_udp(p)).unwrap();
        let hb = b.insert(secs(0), new_udp(p)).unwrap();
        for (t, h) in [(&a, ha), (&b, hb)] {
            let st = t.get(h).unwrap();
            assert_eq!(st.creatorid(), 7);
            assert!(ids.insert(st.id()), "duplicate id {:#x}", st.id());
            assert_eq!(t.by_id(7, st.id()), Some(h));
        }
    }
    assert_eq!(a.by_id(8, 1), None);
    assert_eq!(
        b.get(b.by_id(7, (1 << 56) | 1).unwrap()).unwrap().id() >> 56,
        1
    );
}

#[test]
fn test_events() {
    let mut t = table(8);
    let h = t.insert(secs(0), new_udp(1)).unwrap();
    let id = t.get(h).unwrap().id();
    let evs: Vec<_> = t.events().drain().collect();
    assert!(
        matches!(evs.as_slice(), [StateEvent::Insert(s)] if s.id == id && s.creatorid == 0x0a0b)
    );
    // The reply changes the peer states: significant.
    let rev = t.lookup(&udp_key(1).reversed(), PfDirection::Out).unwrap();
    assert!(
        t.track(rev, secs(0), &PacketMeta::default())
            .unwrap()
            .synced
    );
    // The same again within a second: nothing new to say.
    assert!(
        !t.track(rev, secs(0), &PacketMeta::default())
            .unwrap()
            .synced
    );
    // A second later: refresh.
    assert!(
        t.track(rev, secs(1), &PacketMeta::default())
            .unwrap()
            .synced
    );
    let evs: Vec<_> = t.events().drain().collect();
    assert_eq!(evs.len(), 2);
    assert!(
        evs.iter()
            .all(|e| matches!(e, StateEvent::Update(s) if s.id == id))
    );
    t.remove(h);
    assert_eq!(
        t.events().drain().collect::<Vec<_>>(),
        [StateEvent::Delete {
            creatorid: 0x0a0b,
            id
        }]
    );
    // No-sync states are silent; expiry reports deletes.
    let mut quiet = new_udp(2);
    quiet.state_flags = flags::NO_SYNC;
    t.insert(secs(0), quiet).unwrap();
    t.insert(secs(0), new_udp(3)).unwrap();
    t.events().drain().for_each(drop);
    assert_eq!(t.expire(secs(1000), 100, |_, _| {}), 2);
    let evs: Vec<_> = t.events().drain().collect();
    assert_eq!(evs.len(), 1);
    assert!(matches!(evs[0], StateEvent::Delete { .. }));
}

#[test]
fn test_tcp_window_advance_is_significant() {
    let mut t = table(4);
    let (fwd, rev) = establish(&mut t);
    t.events().drain().for_each(drop);
    let mut seq = 1001u32;
    let mut synced = 0;
    for _ in 0..40 {
        let r = t
            .track(fwd, secs(0), &tcp_meta(seg(ACK, seq, 5001, 65_000, 1000)))
            .unwrap();
        synced += usize::from(r.synced);
        seq += 1000;
        // The server acks as it goes so the window keeps sliding.
        t.track(rev, secs(0), &tcp_meta(seg(ACK, 5001, seq, 65_000, 0)))
            .unwrap();
    }
    // 40 kB in the same second: one update once 32 KiB had gone by.
    assert_eq!(synced, 1);
}

#[test]
fn test_import_and_quiet_remove() {
    let mut t = table(4);
    let mut snap = {
        let mut other = table(4);
        let h = other.insert(secs(5), new_udp(1)).unwrap();
        other.snapshot(h).unwrap()
    };
    snap.creatorid = 0x99;
    let h = t.import(secs(6), &snap).unwrap();
    assert_eq!(t.events().len(), 0, "imports are not echoed");
    assert_eq!(t.import(secs(6), &snap), Err(StateError::DuplicateId));
    assert_eq!(t.by_id(0x99, snap.id), Some(h));
    assert_eq!(t.lookup(&udp_key(1), PfDirection::In).unwrap().handle, h);
    assert_eq!(t.expires_at(h), Some(secs(65)));
    t.remove_quiet(h).unwrap();
    assert_eq!(t.events().len(), 0);
    assert!(t.by_id(0x99, snap.id).is_none());
}

#[test]
fn test_for_each_from_walks_in_chunks() {
    let mut t = table(32);
    for p in 0..20 {
        t.insert(secs(0), new_udp(p)).unwrap();
    }
    t.remove(t.lookup(&udp_key(5), PfDirection::In).unwrap().handle);
    let mut seen = Vec::new();
    let mut from = Some(0);
    while let Some(f) = from {
        from = t.for_each_from(f, 7, |_, st| seen.push(st.wire().port[0]));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..20).filter(|&p| p != 5).collect::<Vec<_>>());
}

#[test]
fn test_lookup_burst_agrees_with_lookup() {
    let mut t = table(256);
    let mut keys = Vec::new();
    for p in 0..200u16 {
        let k = PacketKey::v4(CLIENT, p, SERVER, 53, IpProtocol::UDP);
        if p % 3 != 0 {
            t.insert(secs(0), NewState::new(k, PfDirection::In))
                .unwrap();
        }
        keys.push(if p % 2 == 0 { k } else { k.reversed() });
    }
    // Inserted inbound: even ports' keys (forward) are found inbound, odd ones' (replies)
    // outbound.
    for (dir, found) in [(PfDirection::In, 66), (PfDirection::Out, 67)] {
        let mut out = vec![None; keys.len() + 5];
        t.lookup_burst(&keys, dir, &mut out);
        for (k, got) in keys.iter().zip(&out) {
            assert_eq!(*got, t.lookup(k, dir));
        }
        assert_eq!(out.iter().filter(|m| m.is_some()).count(), found);
        assert!(out[keys.len()..].iter().all(Option::is_none));
    }
}

#[test]
fn test_memory_budget_for_a_million_states() {
    let t = StateTable::new(1_000_000, 1, 0);
    let bytes = t.memory_bytes();
    println!(
        "state: {} bytes/slot, {} bytes/state with indexes",
        std::mem::size_of::<Slot>(),
        bytes / 1_000_000
    );
    assert!(bytes <= 400_000_000, "{bytes} bytes for 1M states");
}

#[test]
fn test_slot_layout() {
    use std::mem::{align_of, offset_of, size_of};
    assert_eq!(size_of::<State>(), 216);
    assert_eq!(size_of::<Slot>(), 256);
    assert_eq!(align_of::<Slot>(), 64);
    let base = offset_of!(Slot, state);
    // Line 0: what a lookup reads.
    assert!(offset_of!(Slot, generation) < 64);
    assert!(base + offset_of!(State, wire) + size_of::<StateKey>() <= 64);
    // Line 1: what tracking writes.
    for (off, len) in [
        (offset_of!(State, src), size_of::<Peer>()),
        (offset_of!(State, dst), size_of::<Peer>()),
        (offset_of!(State, packets), 16),
        (offset_of!(State, last_activity), 8),
    ] {
        assert!(base + off >= 64 && base + off + len <= 128, "{off}");
    }
    // Line 3: the stack key, whole.
    let stack = base + offset_of!(State, stack);
    assert!(stack >= 192 && stack + size_of::<StateKey>() <= 256);
}

/// Opens the client's TCP connection through `t`: its forward and reverse matches.
fn establish(t: &mut StateTable) -> (Match, Match) {
    let mut new = NewState::new(client_key(), PfDirection::In);
    new.tcp = Some(seg(SYN, 1000, 0, 65_000, 0));
    t.insert(secs(0), new).unwrap();
    let rev = t
        .lookup(&client_key().reversed(), PfDirection::Out)
        .unwrap();
    let fwd = t.lookup(&client_key(), PfDirection::In).unwrap();
    t.track(
        rev,
        secs(0),
        &tcp_meta(seg(SYN | ACK, 5000, 1001, 65_000, 0)),
    )
    .unwrap();
    t.track(fwd, secs(0), &tcp_meta(seg(ACK, 1001, 5001, 65_000, 0)))
        .unwrap();
    (fwd, rev)
}

#[test]
fn test_picked_up_state_has_a_grace_after_its_first_packet_here() {
    // The master: 10 kB of the client's data, acked; the backup imports that state.
    let mut a = table(4);
    let (fwd, rev) = establish(&mut a);
    let mut seq = 1001u32;
    while seq < 11_001 {
        a.track(fwd, secs(0), &tcp_meta(seg(ACK, seq, 5001, 65_000, 1000)))
            .unwrap();
        seq += 1000;
        a.track(rev, secs(0), &tcp_meta(seg(ACK, 5001, seq, 65_000, 0)))
            .unwrap();
    }
    let mut snap = a.snapshot(fwd.handle).unwrap();
    snap.creatorid = 0x99;
    let mut b = table(4);
    b.import(secs(1), &snap).unwrap();
    // The master forwarded 200 kB more before it died, so the server's first ACK through the
    // backup is far beyond what the copy knows was sent (more than MAXACKWINDOW).
    let rev = b
        .lookup(&client_key().reversed(), PfDirection::Out)
        .unwrap();
    let far = seq + 200_000;
    b.track(rev, secs(1), &tcp_meta(seg(ACK, 5001, far, 65_000, 0)))
        .unwrap();
    assert_eq!(b.stats().picked_up_loose, 1);
    // Within the grace (from the first packet here), the same again passes.
    b.track(
        rev,
        secs(10),
        &tcp_meta(seg(ACK, 5001, far + 1000, 65_000, 0)),
    )
    .unwrap();
    assert_eq!(b.stats().picked_up_loose, 2);
    // After it, the windows are strict again: an ACK as far ahead is dropped.
    assert_eq!(
        b.track(
            rev,
            secs(12),
            &tcp_meta(seg(ACK, 5001, far + 201_000, 65_000, 0))
        )
        .map(|_| ()),
        Err(StateDrop::TcpBadState)
    );
}

#[test]
fn test_local_state_keeps_strict_windows() {
    // On the master's own state, the same ACK is out of the windows.
    let mut a = table(4);
    let (_, rev) = establish(&mut a);
    assert_eq!(
        a.track(rev, secs(0), &tcp_meta(seg(ACK, 5001, 201_001, 65_000, 0)))
            .map(|_| ()),
        Err(StateDrop::TcpBadState)
    );
    assert_eq!(a.stats().picked_up_loose, 0);
}

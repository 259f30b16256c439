//! The table against a model: random insert / lookup / track / remove / expire sequences over
//! a small space of UDP flows (so keys collide), with and without NAT, must agree with a
//! `HashMap` that does the same thing the slow way.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::peer::udps;
use super::*;
use crate::time::Instant;
use crate::wire::IpProtocol;

#[derive(Debug, Clone)]
enum Op {
    Insert {
        client: u8,
        port: u8,
        server: u8,
        nat: Option<u8>,
        dir_out: bool,
    },
    Lookup {
        client: u8,
        port: u8,
        server: u8,
        reversed: bool,
        public: bool,
        out: bool,
    },
    Track {
        pick: usize,
        reverse: bool,
    },
    Remove {
        pick: usize,
    },
    Advance {
        secs: u8,
        budget: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 0u8..4, 0u8..3, proptest::option::of(0u8..6), any::<bool>()).prop_map(
            |(client, port, server, nat, dir_out)| Op::Insert { client, port, server, nat, dir_out }
        ),
        3 => (0u8..4, 0u8..6, 0u8..3, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
            |(client, port, server, reversed, public, out)| Op::Lookup { client, port, server, reversed, public, out }
        ),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(pick, reverse)| Op::Track { pick, reverse }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        2 => (0u8..80, 0u8..6).prop_map(|(secs, budget)| Op::Advance { secs, budget }),
    ]
}

const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

fn private_key(client: u8, port: u8, server: u8) -> PacketKey {
    PacketKey::v4(
        Ipv4Addr::new(10, 0, 0, client),
        1000 + u16::from(port),
        Ipv4Addr::new(198, 18, 0, server),
        53,
        IpProtocol::UDP,
    )
}

fn public_key(port: u8, server: u8) -> PacketKey {
    PacketKey::v4(
        PUBLIC,
        6000 + u16::from(port),
        Ipv4Addr::new(198, 18, 0, server),
        53,
        IpProtocol::UDP,
    )
}

#[derive(Debug, Clone)]
struct Model {
    /// The creating packet on each side, and which way it went.
    wire: PacketKey,
    stack: PacketKey,
    dir: PfDirection,
    src: u8,
    dst: u8,
    deadline: u64,
}

impl Model {
    fn translated(&self) -> bool {
        self.wire != self.stack
    }

    /// The match of a packet `key` crossing `dir`, pf's way, spelled out: the packet is the
    /// creating one or a reply, seen on the wire side (inbound, or outbound without NAT) or
    /// the stack side (outbound).
    fn matches(&self, key: &PacketKey, dir: PfDirection) -> Option<(Direction, KeySide)> {
        let way = if dir == self.dir {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        let creating = |k: PacketKey| {
            if way == Direction::Forward {
                k
            } else {
                k.reversed()
            }
        };
        let wire_ok = dir == PfDirection::In || !self.translated();
        if wire_ok && *key == creating(self.wire) {
            return Some((way, KeySide::Wire));
        }
        if self.translated() && dir == PfDirection::Out && *key == creating(self.stack) {
            return Some((way, KeySide::Stack));
        }
        None
    }

    /// The keys it holds, in pf's layout.
    fn keys(&self) -> Vec<StateKey> {
        let mut keys = vec![StateKey::from_packet(&self.wire, self.dir)];
        if self.translated() {
            keys.push(StateKey::from_packet(&self.stack, self.dir));
        }
        keys
    }
}

const CAPACITY: usize = 12;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn table_agrees_with_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut cfg = StateTableConfig::new(CAPACITY, 1, 3);
        cfg.event_capacity = 4096;
        let mut t = StateTable::with_config(cfg);
        let mut model: HashMap<StateHandle, Model> = HashMap::new();
        let mut now = 0u64;
        let timeouts = Timeouts::default();

        for op in ops {
            match op {
                Op::Insert { client, port, server, nat, dir_out } => {
                    let stack = private_key(client, port, server);
                    let wire = nat.map_or(stack, |p| public_key(p, server));
                    let dir = if dir_out { PfDirection::Out } else { PfDirection::In };
                    let mut new = NewState::new(wire, dir);
                    new.stack = stack;
                    let candidate = Model { wire, stack, dir, src: 0, dst: 0, deadline: 0 };
                    let taken = model.values().any(|m| {
                        m.keys().iter().any(|k| candidate.keys().contains(k))
                    });
                    let res = t.insert(Instant::from_secs(now), new);
                    if model.len() == CAPACITY {
                        prop_assert_eq!(res, Err(StateError::Full));
                    } else if taken {
                        prop_assert_eq!(res, Err(StateError::Exists));
                    } else {
                        let h = res.unwrap();
                        prop_assert!(!model.contains_key(&h));
                        model.insert(h, Model {
                            wire,
                            stack,
                            dir,
                            src: udps::SINGLE,
                            dst: udps::NO_TRAFFIC,
                            deadline: now + u64::from(timeouts.secs(Timeout::UdpFirst)),
                        });
                    }
                }
                Op::Lookup { client, port, server, reversed, public, out } => {
                    let mut key = if public { public_key(port, server) } else { private_key(client, port, server) };
                    if reversed {
                        key = key.reversed();
                    }
                    let dir = if out { PfDirection::Out } else { PfDirection::In };
                    let expected: Vec<_> = model
                        .iter()
                        .filter_map(|(h, m)| m.matches(&key, dir).map(|(d, s)| (*h, d, s)))
                        .collect();
                    prop_assert!(expected.len() <= 1, "model has a duplicate key");
                    let got = t.lookup(&key, dir).map(|m| (m.handle, m.direction, m.side));
                    prop_assert_eq!(got, expected.first().copied());
                    // The burst path agrees, wherever the key sits in the burst.
                    let burst = [key.reversed(), key, key.reversed()];
                    let mut found = [None; 3];
                    t.lookup_burst(&burst, dir, &mut found);
                    prop_assert_eq!(found[1], t.lookup(&key, dir));
                    prop_assert_eq!(found[0], t.lookup(&key.reversed(), dir));
                }
                Op::Track { pick, reverse } => {
                    if model.is_empty() {
                        continue;
                    }
                    let mut handles: Vec<_> = model.keys().copied().collect();
                    handles.sort_unstable_by_key(|h| format!("{h:?}"));
                    let h = handles[pick % handles.len()];
                    let m = model.get_mut(&h).unwrap();
                    // The creating packet again, or a reply, on the side pf would see it.
                    let (key, dir) = match (reverse, m.dir) {
                        (false, PfDirection::In) => (m.wire, PfDirection::In),
                        (false, PfDirection::Out) => (m.stack, PfDirection::Out),
                        (true, PfDirection::In) => (m.stack.reversed(), PfDirection::Out),
                        (true, PfDirection::Out) => (m.wire.reversed(), PfDirection::In),
                    };
                    let found = t.lookup(&key, dir).unwrap();
                    prop_assert_eq!(found.handle, h);
                    let r = t.track(found, Instant::from_secs(now), &PacketMeta::default()).unwrap();
                    let (sender, receiver) = if reverse { (&mut m.dst, &mut m.src) } else { (&mut m.src, &mut m.dst) };
                    *sender = (*sender).max(udps::SINGLE);
                    if *receiver == udps::SINGLE {
                        *receiver = udps::MULTIPLE;
                    }
                    let class = if m.src == udps::MULTIPLE && m.dst == udps::MULTIPLE {
                        Timeout::UdpMultiple
                    } else {
                        Timeout::UdpSingle
                    };
                    prop_assert_eq!(r.timeout, class);
                    m.deadline = now + u64::from(timeouts.secs(class));
                    prop_assert_eq!(t.expires_at(h), Some(Instant::from_secs(m.deadline)));
                }
                Op::Remove { pick } => {
                    if model.is_empty() {
                        continue;
                    }
                    let mut handles: Vec<_> = model.keys().copied().collect();
                    handles.sort_unstable_by_key(|h| format!("{h:?}"));
                    let h = handles[pick % handles.len()];
                    model.remove(&h);
                    prop_assert!(t.remove(h).is_some());
                    prop_assert!(t.remove(h).is_none());
                }
                Op::Advance { secs, budget } => {
                    now += u64::from(secs);
                    let budget = usize::from(budget);
                    let mut removed = Vec::new();
                    // Call often enough that the wheel keeps up with the clock.
                    let n = t.expire(Instant::from_secs(now), budget, |h, _| removed.push(h));
                    prop_assert!(n <= budget);
                    prop_assert_eq!(n, removed.len());
                    for h in removed {
                        let m = model.remove(&h).unwrap();
                        prop_assert!(m.deadline <= now, "expired early: {} > {}", m.deadline, now);
                    }
                    // With enough budget everything due goes, and nothing else.
                    t.expire(Instant::from_secs(now), usize::MAX, |h, _| {
                        let m = model.remove(&h).unwrap();
                        assert!(m.deadline <= now);
                    });
                    prop_assert!(model.values().all(|m| m.deadline > now));
                }
            }
            prop_assert_eq!(t.len(), model.len());
            for (h, m) in &model {
                let st = t.get(*h).unwrap();
                prop_assert_eq!((st.src.state, st.dst.state), (m.src, m.dst));
                prop_assert_eq!(t.by_id(1, st.id()), Some(*h));
            }
        }
        // Every state is accounted for in the events: inserts minus deletes = live states.
        let mut live = 0i64;
        for e in t.events().drain() {
            match e {
                StateEvent::Insert(_) => live += 1,
                StateEvent::Delete { .. } => live -= 1,
                StateEvent::Update(_) => {}
            }
        }
        prop_assert_eq!(live, model.len() as i64);
    }
}

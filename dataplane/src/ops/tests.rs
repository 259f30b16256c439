#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;

use super::*;
use crate::firewall::FirewallSettings;
use crate::rules::{Ruleset, RulesetOptions};
use crate::state::{NewState, PacketKey, PfDirection, Timeouts};
use crate::time::Instant;
use crate::wire::IpProtocol;

fn firewall(states: usize) -> Firewall {
    let settings = FirewallSettings {
        states,
        creatorid: 7,
        id_seed: 1,
        timeouts: Timeouts::default(),
        event_capacity: 10_000,
        workers: 1,
    };
    let ruleset = Arc::new(Ruleset::empty(&RulesetOptions::new(2)));
    Firewall::new(0, &settings, ruleset)
}

/// `n` UDP states 10.0.0.1:(1000+i) → 10.0.1.1:53 (rule 1 for even i, 2 for odd).
fn fill(fw: &mut Firewall, n: u16) {
    for i in 0..n {
        let key = PacketKey::v4(
            Ipv4Addr::new(10, 0, 0, 1),
            1000 + i,
            Ipv4Addr::new(10, 0, 1, 1),
            53,
            IpProtocol::UDP,
        );
        let mut new = NewState::new(key, PfDirection::In);
        new.rule = 1 + u32::from(i % 2);
        fw.table_mut().insert(Instant::ZERO, new).unwrap();
    }
}

/// Runs `kind` on one worker, servicing it on this thread until it answers.
fn run(fw: &mut Firewall, kind: OpKind, filter: StateFilter) -> OpAnswer {
    let (mut workers, mut client) = links(1);
    let mut worker = workers.pop().unwrap();
    let mut counters = FirewallCounters::default();
    let answer = std::thread::scope(|s| {
        let asked = s.spawn(move || client.run(kind, filter, Duration::from_secs(5)));
        while !asked.is_finished() {
            worker.service(Some((&mut *fw, &mut counters)));
            std::thread::yield_now();
        }
        asked.join().unwrap()
    });
    answer.unwrap()
}

#[test]
fn test_list_count_tally_and_kill() {
    let mut fw = firewall(20_000);
    fill(&mut fw, 10_000);
    let all = run(&mut fw, OpKind::Count, StateFilter::default());
    assert_eq!((all.total, all.matched), (10_000, 10_000));

    let port = StateFilter {
        port: Some(1003),
        ..StateFilter::default()
    };
    let listed = run(&mut fw, OpKind::List { limit: 10 }, port.clone());
    assert_eq!(listed.matched, 1);
    assert_eq!(listed.states[0].1.wire.port[0], 1003);

    let limited = run(&mut fw, OpKind::List { limit: 5 }, StateFilter::default());
    assert_eq!((limited.matched, limited.states.len()), (10_000, 5));
    assert!(limited.states.windows(2).all(|w| w[0].1.id < w[1].1.id));

    let tally = run(&mut fw, OpKind::Tally, StateFilter::default());
    assert_eq!(tally.tally[1].states, 5000);
    assert_eq!(tally.tally[2].states, 5000);

    let rule2 = StateFilter {
        rules: Some(vec![2]),
        net: Some(("10.0.1.0".parse().unwrap(), 24)),
        proto: Some(17),
        ..StateFilter::default()
    };
    let _ = fw.table_mut().events().drain().count();
    let killed = run(&mut fw, OpKind::Kill, rule2);
    assert_eq!(killed.matched, 5000);
    assert_eq!(fw.table().len(), 5000);
    // The peer hears of every kill.
    let deletes = fw.table_mut().events().drain();
    assert_eq!(
        deletes
            .filter(|e| matches!(e, crate::state::StateEvent::Delete { .. }))
            .count(),
        5000
    );
    let none = StateFilter {
        net: Some(("10.9.0.0".parse().unwrap(), 16)),
        ..StateFilter::default()
    };
    assert_eq!(run(&mut fw, OpKind::Kill, none).matched, 0);
}

#[test]
fn test_a_node_without_firewall_answers_nothing() {
    let (mut workers, mut client) = links(2);
    let answer = std::thread::scope(|s| {
        let asked = s.spawn(move || {
            client.run(
                OpKind::Count,
                StateFilter::default(),
                Duration::from_secs(5),
            )
        });
        while !asked.is_finished() {
            for w in &mut workers {
                w.service(None);
            }
        }
        asked.join().unwrap()
    })
    .unwrap();
    assert_eq!((answer.total, answer.matched), (0, 0));
}

#[test]
fn test_timeout_and_busy() {
    let (_workers, mut client) = links(1);
    let err = client
        .run(
            OpKind::Count,
            StateFilter::default(),
            Duration::from_millis(20),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        OpsError::Timeout {
            answered: 0,
            workers: 1,
            ..
        }
    ));
    for _ in 0..4 {
        let _ = client.run(OpKind::Count, StateFilter::default(), Duration::ZERO);
    }
    assert_eq!(
        client
            .run(OpKind::Count, StateFilter::default(), Duration::ZERO)
            .unwrap_err(),
        OpsError::Busy
    );
}

#[test]
fn test_in_net() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(in_net(ip("10.1.2.3"), ip("10.0.0.0"), 8));
    assert!(!in_net(ip("11.1.2.3"), ip("10.0.0.0"), 8));
    assert!(in_net(ip("11.1.2.3"), ip("0.0.0.0"), 0));
    assert!(in_net(ip("10.1.2.3"), ip("10.1.2.3"), 32));
    assert!(in_net(ip("2001:db8::1"), ip("2001:db8::"), 32));
    assert!(!in_net(ip("2001:db9::1"), ip("2001:db8::"), 32));
    assert!(!in_net(ip("10.1.2.3"), ip("::"), 0));
}

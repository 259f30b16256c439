//! The product's promise (issue 8): 200 long-lived connections with outbound NAT to the WAN
//! VIP run through the HA pair while the master is SIGKILLed, stopped gracefully, or killed
//! and brought back; every connection must complete with every byte verified. The scenario
//! lives in `rampart_tests::failover` (the demo runs it too); each test prints its report
//! and timeline. Needs root and a built `rampart` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use rampart_tests::failover::{self, Loss, Outcome, Scenario};
use rampart_tests::node::{counter, rampart_binary};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// CARP's master-down time with advbase 1 and the backup's advskew 100 (3 × advbase +
/// 100/256 s), plus 100 ms: the goal for the gap after a SIGKILL.
const KILL_GAP_GOAL_MS: f64 = 3_000.0 + 390.0 + 100.0;
/// TCP's retransmission backoff: the first frame through the new master waits for it.
const TCP_BACKOFF_MS: f64 = 2_000.0;

/// 200 connections paced at 64 KiB/s each (about 100 Mbit/s in all, which the debug build
/// forwards on two cores), long enough to span the loss.
fn two_hundred(loss: Loss, seconds: u64) -> Scenario {
    let rate = 64 << 10;
    Scenario {
        streams: 200,
        bytes_per_stream: rate * seconds,
        rate_per_stream: Some(rate),
        nat: true,
        loss,
        rampartctl: None,
    }
}

fn run(scenario: &Scenario) -> Outcome {
    // One failover at a time: two labs of two nodes each on a 2-core machine would measure
    // the machine, not the failover.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let binary = rampart_binary().unwrap();
    let outcome = failover::run(&binary, scenario, &mut |step| eprintln!("==> {step}")).unwrap();
    eprintln!("{outcome}");
    assert!(
        outcome.all_survived(),
        "{:?}\nfw2:\n{}\nfw1 (returned):\n{}",
        outcome.streams.errors,
        outcome.fw2_report,
        outcome
            .fw1_returned_report
            .as_deref()
            .unwrap_or("(not restarted)")
    );
    outcome
}

#[test]
fn two_hundred_natted_connections_survive_a_sigkill_of_the_master() {
    let outcome = run(&two_hundred(Loss::Kill, 16));
    let gap = outcome
        .gap_ms
        .expect("no frame through fw2 after fw1's last");
    assert!(gap < KILL_GAP_GOAL_MS + TCP_BACKOFF_MS, "gap {gap} ms");
    assert_eq!(outcome.roles_after.1, "MASTER");
    assert_eq!(outcome.states_before.1, 400, "fw2 held every state");
}

#[test]
fn two_hundred_natted_connections_survive_a_graceful_stop_of_the_master() {
    let outcome = run(&two_hundred(Loss::Stop, 14));
    let gap = outcome
        .gap_ms
        .expect("no frame through fw2 after fw1's last");
    assert!(gap < 1_000.0, "gap {gap} ms after a bow-out");
    assert_eq!(outcome.roles_after.1, "MASTER");
}

#[test]
fn two_hundred_natted_connections_survive_the_master_coming_back() {
    let outcome = run(&two_hundred(Loss::KillAndReturn, 28));
    let back = outcome.fw1_returned_report.as_deref().unwrap();
    assert!(back.contains("bulk done"), "{back}");
    assert!(counter(back, "states_imported") >= 400, "{back}");
    assert_eq!(
        outcome.roles_after,
        (Some("MASTER".to_string()), "BACKUP".to_string()),
        "fw1 preempted back"
    );
}

/// Unpaced streams move their windows faster than a pfsync batch: the returned master's copy
/// lags the old one's by up to a window push when it preempts (see the window push in
/// `rampart_sync::engine` and `track_picked_up` in the dataplane).
#[test]
fn fast_natted_streams_survive_the_master_coming_back() {
    let outcome = run(&Scenario {
        streams: 20,
        bytes_per_stream: 32 << 20,
        rate_per_stream: None,
        nat: true,
        loss: Loss::KillAndReturn,
        rampartctl: None,
    });
    assert_eq!(outcome.roles_after.0.as_deref(), Some("MASTER"));
}

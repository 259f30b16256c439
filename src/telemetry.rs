//! The node's counters as the control socket and the metrics endpoint read them: the main
//! thread publishes a [`Telemetry`] every [`PUBLISH`] (the workers' counters, the ports'
//! driver counters, and per-worker rates over the last second or so); readers load it
//! without touching a worker.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rampart_dataplane::NodeReport;

/// How often the main thread publishes.
pub const PUBLISH: Duration = Duration::from_millis(250);
/// Rates are taken over at least this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// One worker's rates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WorkerRates {
    /// Packets received per second (all ports).
    pub rx_pps: f64,
    /// Packets sent per second.
    pub tx_pps: f64,
    /// Drops per second.
    pub drops_per_sec: f64,
    /// States created per second.
    pub inserts_per_sec: f64,
    /// Share of polls that found packets, percent.
    pub busy_percent: f64,
}

/// What the main thread publishes.
#[derive(Debug, Clone)]
pub struct Telemetry {
    /// When.
    pub at: Instant,
    /// The node's counters.
    pub report: NodeReport,
    /// Per worker, over [`Telemetry::interval`] (empty until a second report).
    pub rates: Vec<WorkerRates>,
    /// What the rates are over.
    pub interval: Duration,
}

/// Keeps the last second of reports to compute rates from.
#[derive(Debug, Default)]
pub struct RateKeeper {
    history: VecDeque<(Instant, NodeReport)>,
}

impl RateKeeper {
    /// The telemetry for `report`, taken `at`.
    pub fn next(&mut self, at: Instant, report: NodeReport) -> Telemetry {
        // Keep the newest report at least RATE_WINDOW old, and everything after it.
        while self
            .history
            .get(1)
            .is_some_and(|(t, _)| at.duration_since(*t) >= RATE_WINDOW)
        {
            self.history.pop_front();
        }
        let (interval, rates) = match self.history.front() {
            Some((t, old)) => {
                let interval = at.duration_since(*t);
                (interval, rates(old, &report, interval))
            }
            None => (Duration::ZERO, Vec::new()),
        };
        self.history.push_back((at, report.clone()));
        Telemetry {
            at,
            report,
            rates,
            interval,
        }
    }
}

fn rates(old: &NodeReport, new: &NodeReport, interval: Duration) -> Vec<WorkerRates> {
    let secs = interval.as_secs_f64();
    if secs <= 0.0 {
        return Vec::new();
    }
    let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 / secs;
    new.workers
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let Some(o) = old.workers.get(i) else {
                return WorkerRates::default();
            };
            let rx = |c: &rampart_dataplane::WorkerCounters| {
                c.ports.iter().map(|p| p.rx_packets).sum::<u64>()
            };
            let tx = |c: &rampart_dataplane::WorkerCounters| {
                c.ports.iter().map(|p| p.tx_packets).sum::<u64>()
            };
            let busy = w.busy_polls.saturating_sub(o.busy_polls);
            let idle = w.idle_polls.saturating_sub(o.idle_polls);
            WorkerRates {
                rx_pps: per_sec(rx(o), rx(w)),
                tx_pps: per_sec(tx(o), tx(w)),
                drops_per_sec: per_sec(o.total_drops(), w.total_drops()),
                inserts_per_sec: per_sec(o.firewall.states_inserted, w.firewall.states_inserted),
                busy_percent: if busy + idle == 0 {
                    0.0
                } else {
                    busy as f64 * 100.0 / (busy + idle) as f64
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use rampart_dataplane::WorkerCounters;

    fn report(rx: u64, inserted: u64) -> NodeReport {
        let mut w = WorkerCounters::new(1);
        w.ports[0].rx_packets = rx;
        w.firewall.states_inserted = inserted;
        w.busy_polls = rx;
        w.idle_polls = rx;
        NodeReport {
            counters: w.clone(),
            workers: vec![w],
            ports: Vec::new(),
        }
    }

    #[test]
    fn rates_over_the_last_second() {
        let mut keeper = RateKeeper::default();
        let t0 = Instant::now();
        assert!(keeper.next(t0, report(0, 0)).rates.is_empty());
        let mut last = None;
        for i in 1..=8u64 {
            let t = keeper.next(t0 + PUBLISH * i as u32, report(i * 250, i * 25));
            last = Some(t);
        }
        let t = last.unwrap();
        assert_eq!(t.interval, RATE_WINDOW);
        let r = t.rates[0];
        assert!((r.rx_pps - 1000.0).abs() < 1e-6, "{r:?}");
        assert!((r.inserts_per_sec - 100.0).abs() < 1e-6, "{r:?}");
        assert!((r.busy_percent - 50.0).abs() < 1e-6, "{r:?}");
    }
}

//! The node's Prometheus metrics, rendered at each scrape from what the node publishes (the
//! same [`Sources`] the control socket reads): per-worker packets and drops by reason, states,
//! CARP roles and transitions per vhid, pfsync counters, lag and bulk progress, and the
//! XMLRPC configuration sync's outcome, last success and failures.

use std::sync::atomic::Ordering;

use rampart_control::metrics::{Exposition, MetricType};
use rampart_dataplane::DropReason;

use crate::ctl::{Sources, carp_running, sync_report, xmlrpc_report};

/// A metric read from one item (a worker, a port, a vhid): name, type, help, getter.
type Getter<T> = (&'static str, MetricType, &'static str, fn(&T) -> u64);

const CARP_ROLES: [&str; 3] = ["INIT", "BACKUP", "MASTER"];
const BULK_STATES: [&str; 5] = ["idle", "requested", "receiving", "done", "failed"];
const XMLRPC_OUTCOMES: [&str; 5] = ["off", "never", "running", "ok", "failed"];

/// The exposition text.
pub fn render(s: &Sources) -> String {
    let mut e = Exposition::new();
    e.family(
        "rampart_info",
        MetricType::Gauge,
        "Build of the running node.",
    )
    .int(&[("version", crate::VERSION)], 1);
    e.family(
        "rampart_uptime_seconds",
        MetricType::Gauge,
        "Seconds since the node started.",
    )
    .sample(&[], s.started.elapsed().as_secs_f64());
    workers(&mut e, s);
    carp(&mut e, s);
    sync(&mut e, s);
    xmlrpc(&mut e, s);
    e.finish()
}

fn workers(e: &mut Exposition, s: &Sources) {
    let t = s.telemetry.load();
    let report = &t.report;
    let names: Vec<String> = report.ports.iter().map(|p| p.name.clone()).collect();
    let port = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
    let per_port = [
        (
            "rampart_rx_packets_total",
            "Packets received, per worker and port.",
            0,
        ),
        (
            "rampart_tx_packets_total",
            "Packets sent, per worker and port.",
            1,
        ),
        (
            "rampart_rx_bytes_total",
            "Bytes received, per worker and port.",
            2,
        ),
        (
            "rampart_tx_bytes_total",
            "Bytes sent, per worker and port.",
            3,
        ),
    ];
    for (name, help, which) in per_port {
        let mut f = e.family(name, MetricType::Counter, help);
        for (w, c) in report.workers.iter().enumerate() {
            let worker = w.to_string();
            for (i, p) in c.ports.iter().enumerate() {
                let v = [p.rx_packets, p.tx_packets, p.rx_bytes, p.tx_bytes];
                let value = v.get(which).copied().unwrap_or(0);
                f.int(&[("worker", &worker), ("port", &port(i))], value);
            }
        }
    }
    let mut f = e.family(
        "rampart_drops_total",
        MetricType::Counter,
        "Packets dropped, per worker and reason.",
    );
    for (w, c) in report.workers.iter().enumerate() {
        let worker = w.to_string();
        for r in DropReason::ALL {
            f.int(&[("worker", &worker), ("reason", r.name())], c.dropped(r));
        }
    }
    let per_worker: [Getter<rampart_dataplane::WorkerCounters>; 7] = [
        (
            "rampart_states",
            MetricType::Gauge,
            "States held, per worker.",
            |c| c.firewall.states,
        ),
        (
            "rampart_state_inserts_total",
            MetricType::Counter,
            "States created by packets.",
            |c| c.firewall.states_inserted,
        ),
        (
            "rampart_state_expired_total",
            MetricType::Counter,
            "States removed by expiry.",
            |c| c.firewall.states_expired,
        ),
        (
            "rampart_state_removed_total",
            MetricType::Counter,
            "States removed otherwise (reuse, killed, peer's delete).",
            |c| c.firewall.states_removed,
        ),
        (
            "rampart_states_imported_total",
            MetricType::Counter,
            "States imported from the pfsync peer.",
            |c| c.firewall.sync_apply.imported,
        ),
        (
            "rampart_picked_up_loose_total",
            MetricType::Counter,
            "TCP segments of states learned from the pfsync peer passed as loose matches \
             (a takeover picking up streams its copy lagged behind).",
            |c| c.firewall.picked_up_loose,
        ),
        (
            "rampart_forwarded_total",
            MetricType::Counter,
            "Packets forwarded.",
            |c| c.forwarded,
        ),
    ];
    for (name, kind, help, get) in per_worker {
        let mut f = e.family(name, kind, help);
        for (w, c) in report.workers.iter().enumerate() {
            f.int(&[("worker", &w.to_string())], get(c));
        }
    }
    let driver: [Getter<rampart_dataplane::dpdk::PortStats>; 3] = [
        (
            "rampart_port_rx_missed_total",
            MetricType::Counter,
            "Packets the NIC dropped (RX queue full).",
            |p| p.rx_missed,
        ),
        (
            "rampart_port_rx_errors_total",
            MetricType::Counter,
            "Receive errors reported by the driver.",
            |p| p.rx_errors,
        ),
        (
            "rampart_port_tx_errors_total",
            MetricType::Counter,
            "Transmit errors reported by the driver.",
            |p| p.tx_errors,
        ),
    ];
    for (name, kind, help, get) in driver {
        let mut f = e.family(name, kind, help);
        for p in &report.ports {
            f.int(&[("port", &p.name)], get(&p.stats));
        }
    }
    let mut f = e.family(
        "rampart_port_up",
        MetricType::Gauge,
        "Link state per port (1 up).",
    );
    for p in &report.ports {
        f.int(&[("port", &p.name)], u64::from(p.link_up));
    }
}

fn carp(e: &mut Exposition, s: &Sources) {
    let Some(carp) = carp_running(s) else {
        return;
    };
    let st = carp.status.load();
    let mut f = e.family(
        "rampart_carp_role",
        MetricType::Gauge,
        "1 for the role each vhid is in, 0 for the others.",
    );
    for v in &st.vhids {
        let (vhid, state) = (v.vhid.to_string(), v.state.to_string());
        for role in CARP_ROLES {
            let labels = [
                ("vhid", vhid.as_str()),
                ("interface", v.interface.as_str()),
                ("role", role),
            ];
            f.int(&labels, u64::from(state == role));
        }
    }
    let per_vhid: [Getter<crate::carp::VhidStatus>; 4] = [
        (
            "rampart_carp_transitions_total",
            MetricType::Counter,
            "State changes per vhid.",
            |v| v.transitions,
        ),
        (
            "rampart_carp_adverts_sent_total",
            MetricType::Counter,
            "Adverts sent per vhid.",
            |v| v.adverts_sent,
        ),
        (
            "rampart_carp_adverts_received_total",
            MetricType::Counter,
            "Adverts received per vhid.",
            |v| v.adverts_received,
        ),
        (
            "rampart_carp_advskew",
            MetricType::Gauge,
            "Skew advertised per vhid.",
            |v| u64::from(v.advskew),
        ),
    ];
    for (name, kind, help, get) in per_vhid {
        let mut f = e.family(name, kind, help);
        for v in &st.vhids {
            let vhid = v.vhid.to_string();
            f.int(&[("vhid", &vhid), ("interface", &v.interface)], get(v));
        }
    }
    e.family(
        "rampart_carp_demotion",
        MetricType::Gauge,
        "The node's CARP demotion.",
    )
    .sample(&[], f64::from(st.demotion));
    e.family(
        "rampart_carp_maintenance",
        MetricType::Gauge,
        "1 in maintenance mode.",
    )
    .int(&[], u64::from(carp.maintenance.load(Ordering::Relaxed)));
}

fn sync(e: &mut Exposition, s: &Sources) {
    let Some(r) = sync_report(s) else {
        return;
    };
    e.family(
        "rampart_pfsync_up",
        MetricType::Gauge,
        "1 while the sync core runs.",
    )
    .int(&[], u64::from(r.error.is_none()));
    let totals = [
        (
            "rampart_pfsync_frames_sent_total",
            "pfsync frames sent.",
            r.frames_sent,
        ),
        (
            "rampart_pfsync_frames_received_total",
            "pfsync frames received.",
            r.frames_received,
        ),
        (
            "rampart_pfsync_bytes_sent_total",
            "pfsync bytes sent.",
            r.bytes_sent,
        ),
        (
            "rampart_pfsync_bytes_received_total",
            "pfsync bytes received.",
            r.bytes_received,
        ),
        (
            "rampart_pfsync_tx_failed_total",
            "pfsync frames that could not be sent.",
            r.tx_failed,
        ),
        (
            "rampart_pfsync_resyncs_total",
            "Bulk updates the operator asked for.",
            r.resyncs,
        ),
    ];
    for (name, help, v) in totals {
        e.family(name, MetricType::Counter, help).int(&[], v);
    }
    for (name, help, map) in [
        (
            "rampart_pfsync_messages_sent_total",
            "pfsync messages sent, by type.",
            &r.sent,
        ),
        (
            "rampart_pfsync_messages_received_total",
            "pfsync messages received, by type.",
            &r.received,
        ),
        (
            "rampart_pfsync_drops_total",
            "pfsync records and frames dropped, by reason.",
            &r.drops,
        ),
    ] {
        let mut f = e.family(name, MetricType::Counter, help);
        for (k, v) in map {
            let label = if name.contains("drops") {
                "reason"
            } else {
                "type"
            };
            f.int(&[(label, k)], *v);
        }
    }
    let gauges = [
        (
            "rampart_pfsync_pending",
            "Messages waiting for a frame.",
            r.pending as f64,
        ),
        (
            "rampart_pfsync_lag_seconds",
            "Age of the oldest waiting message.",
            r.lag_ms as f64 / 1000.0,
        ),
        (
            "rampart_pfsync_known_states",
            "States the sync core knows an owner for.",
            r.known_states as f64,
        ),
        (
            "rampart_pfsync_bulk_states",
            "States received by the current or last bulk update.",
            r.bulk.states as f64,
        ),
        (
            "rampart_pfsync_peer_resolved",
            "1 when the unicast peer's MAC is known.",
            f64::from(u8::from(r.peer_resolved)),
        ),
    ];
    for (name, help, v) in gauges {
        e.family(name, MetricType::Gauge, help).sample(&[], v);
    }
    let mut f = e.family(
        "rampart_pfsync_bulk_state",
        MetricType::Gauge,
        "1 for where the node's bulk update request stands.",
    );
    for state in BULK_STATES {
        f.int(&[("state", state)], u64::from(r.bulk.state == state));
    }
}

fn xmlrpc(e: &mut Exposition, s: &Sources) {
    let Some(r) = xmlrpc_report(s) else {
        return;
    };
    // `never` when this node is a primary that has not pushed yet.
    let outcome = match (r.state.as_str(), &r.last) {
        ("off", _) => "off",
        ("running", _) => "running",
        (_, None) => "never",
        (_, Some(p)) if p.ok => "ok",
        _ => "failed",
    };
    let mut f = e.family(
        "rampart_xmlrpc_sync_outcome",
        MetricType::Gauge,
        "1 for where the XMLRPC config push to the secondary stands (off: not a primary).",
    );
    for o in XMLRPC_OUTCOMES {
        f.int(&[("outcome", o)], u64::from(outcome == o));
    }
    e.family(
        "rampart_xmlrpc_sync_last_success_timestamp_seconds",
        MetricType::Gauge,
        "Unix time of the last successful XMLRPC push (0: none).",
    )
    .int(&[], r.last_success_unix.unwrap_or(0));
    e.family(
        "rampart_xmlrpc_sync_last_attempts",
        MetricType::Gauge,
        "Attempts the last XMLRPC push's final call took.",
    )
    .int(&[], r.last.as_ref().map_or(0, |p| u64::from(p.attempts)));
    e.family(
        "rampart_xmlrpc_sync_pushes_total",
        MetricType::Counter,
        "XMLRPC pushes to the secondary that ended.",
    )
    .int(&[], r.pushes_total);
    e.family(
        "rampart_xmlrpc_sync_failures_total",
        MetricType::Counter,
        "XMLRPC pushes to the secondary that failed.",
    )
    .int(&[], r.failures_total);
    e.family(
        "rampart_xmlrpc_sync_received_total",
        MetricType::Counter,
        "Configs pushed to this node over XMLRPC and applied.",
    )
    .int(&[], r.received_total);
}

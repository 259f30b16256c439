//! The node's counters as an operator reads them.

use std::fmt::Write;

use rampart_dataplane::{DropReason, NodeReport};

/// A plain-text table of what the node did: per port, totals, and every non-zero drop reason.
pub fn format_report(report: &NodeReport) -> String {
    let c = &report.counters;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<18} {:<17} {:>5} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "port", "device", "mac", "link", "rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "rx_missed"
    );
    for (i, port) in report.ports.iter().enumerate() {
        let pc = c.ports.get(i).copied().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:<18} {:<17} {:>5} {:>10} {:>10} {:>10} {:>10} {:>9}",
            port.name,
            port.device,
            port.mac.to_string(),
            if port.link_up { "up" } else { "down" },
            pc.rx_packets,
            pc.rx_bytes,
            pc.tx_packets,
            pc.tx_bytes,
            // Dropped by the device or the kernel's ring before a worker saw them.
            port.stats.rx_missed
        );
    }
    let _ = writeln!(
        out,
        "forwarded {}  echo_replies {}  arp_replies_sent {}  arp_requests_sent {}  arp_replies_received {}",
        c.forwarded,
        c.echo_replies,
        c.arp_replies_sent,
        c.arp_requests_sent,
        c.arp_replies_received
    );
    let _ = writeln!(
        out,
        "ndp_solicits_sent {}  ndp_adverts_sent {}  ndp_adverts_received {}",
        c.ndp_solicits_sent, c.ndp_adverts_sent, c.ndp_adverts_received
    );
    let _ = writeln!(
        out,
        "handoff_out {}  handoff_in {}  arp_copies {}",
        c.handoff_out, c.handoff_in, c.arp_copies
    );
    let _ = writeln!(
        out,
        "deferred {}  deferred_acked {}  deferred_timeout {}  deferred_overflow {}  \
         carp_punted {}  carp_punt_dropped {}  control_sent {}",
        c.deferred,
        c.deferred_acked,
        c.deferred_timeout,
        c.deferred_overflow,
        c.carp_punted,
        c.carp_punt_dropped,
        c.control_sent
    );
    let _ = writeln!(
        out,
        "icmp_errors_sent {}  icmp_errors_suppressed {}  generate_failed {}  polls busy {} idle {}",
        c.icmp_errors_sent, c.icmp_errors_suppressed, c.generate_failed, c.busy_polls, c.idle_polls
    );
    let fw = &c.firewall;
    let _ = writeln!(
        out,
        "states {}  inserted {}  expired {}  removed {}  state_hits {}  rule_evaluations {}  \
         rejects_rst {}  rejects_icmp {}  ruleset_reloads {}",
        fw.states,
        fw.states_inserted,
        fw.states_expired,
        fw.states_removed,
        fw.state_hits,
        fw.rule_evaluations,
        fw.rejects_rst,
        fw.rejects_icmp,
        fw.ruleset_reloads
    );
    let _ = writeln!(
        out,
        "sync_events {}  sync_events_dropped {}  sync_replies_dropped {}  sync_bulk_sent {}",
        fw.sync_events,
        fw.sync_events_dropped,
        fw.sync_link.replies_dropped,
        fw.sync_link.bulk_sent
    );
    let a = &fw.sync_apply;
    let _ = writeln!(
        out,
        "states_imported {}  import_full {}  import_exists {}  import_invalid {}  sync_merged {}  \
         sync_stale {}  sync_unknown {}  sync_deleted {}  sync_delete_unknown {}  sync_cleared {}  \
         picked_up_loose {}",
        a.imported,
        a.import_full,
        a.import_exists,
        a.import_invalid,
        a.merged,
        a.stale,
        a.unknown,
        a.deleted,
        a.delete_unknown,
        a.cleared,
        fw.picked_up_loose
    );
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| c.dropped(**r) > 0)
        .map(|r| format!("{} {}", r.name(), c.dropped(*r)))
        .collect();
    if drops.is_empty() {
        let _ = writeln!(out, "drops: none");
    } else {
        let _ = writeln!(out, "drops: {}", drops.join("  "));
    }
    out
}

//! `rampartctl`'s human output: each reply as an aligned table or a few `name value` lines.

use std::fmt::Write;

use rampart_control::ctl::Reply;
use rampart_control::ctl::reply::{
    CarpReport, ConfigOutcome, NodeStatus, RuleList, StateCount, StateList, Stats, SyncDiffReport,
    SyncReport, XmlrpcReport,
};

/// The reply as the operator reads it.
pub fn render(reply: &Reply) -> String {
    match reply {
        Reply::Status(s) => status(s),
        Reply::Carp(c) => carp(c),
        Reply::States(s) => states(s),
        Reply::Count(c) => format!("{} of {} states match\n", c.matched, c.total),
        Reply::Killed(StateCount { total, matched }) => {
            format!("killed {matched} of {total} states\n")
        }
        Reply::Sync(s) => sync(s),
        Reply::Resync(r) => format!("resync {} taken: bulk {}\n", r.resyncs, bulk_line(&r.sync)),
        Reply::SyncDiff(d) => sync_diff(d),
        Reply::Rules(r) => rules(r),
        Reply::Stats(s) => stats(s),
        Reply::Config(c) => c.xml.clone(),
        Reply::ConfigOutcome(o) => outcome(o),
    }
}

/// A table: columns padded to their widest cell, the last one left ragged.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
    out
}

/// `1h02m`, `3m05s`, `42s`.
pub fn duration(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `950`, `12.3K`, `4.5M`, `1.2G`.
pub fn count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1}G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn status(s: &NodeStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "node      {} (pid {}, up {})",
        s.hostname,
        s.pid,
        duration(s.uptime_secs)
    );
    let _ = writeln!(out, "version   {}", s.version);
    let c = &s.config;
    let _ = writeln!(
        out,
        "config    {} (version {}{}, sha256 {}, {} filter rules, by {})",
        c.path,
        c.version,
        c.revision
            .as_ref()
            .map_or(String::new(), |r| format!(", revision {r}")),
        c.sha256.get(..12).unwrap_or(&c.sha256),
        c.filter_rules,
        c.how
    );
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.name,
                p.device,
                if p.link_up { "up" } else { "DOWN" }
            )
        })
        .collect();
    let _ = writeln!(out, "ports     {}", ports.join(", "));
    let _ = writeln!(out, "workers   {}  states {}", s.workers, s.states);
    match &s.carp {
        Some(c) => {
            let vhids: Vec<String> = c
                .vhids
                .iter()
                .map(|v| format!("vhid {} on {} {}", v.vhid, v.interface, v.state))
                .collect();
            let _ = writeln!(
                out,
                "carp      {} (demotion {}, maintenance {})",
                vhids.join(", "),
                c.demotion,
                on_off(c.maintenance)
            );
        }
        None => {
            let _ = writeln!(out, "carp      none");
        }
    }
    match &s.sync {
        Some(y) => {
            let _ = writeln!(out, "sync      {}", sync_line(y));
        }
        None => {
            let _ = writeln!(out, "sync      off");
        }
    }
    if let Some(x) = &s.xmlrpc {
        let _ = writeln!(out, "xmlrpc    {}", xmlrpc_line(x));
    }
    out
}

/// XMLRPC config sync in one line: what the node pushes and how the last push went, and
/// what it serves.
pub fn xmlrpc_line(x: &XmlrpcReport) -> String {
    let mut parts = Vec::new();
    if let Some(peer) = &x.peer {
        parts.push(format!("push to {peer}: {}", push_outcome(x)));
    } else if x.state != "off" {
        parts.push(format!("push: {}", push_outcome(x)));
    }
    if let Some(url) = &x.serving {
        parts.push(format!(
            "serving {url} ({} configs received)",
            x.received_total
        ));
    }
    if parts.is_empty() {
        "off".to_owned()
    } else {
        parts.join("; ")
    }
}

/// `ok at <time> (sections)`, `FAILED at <time> after N attempts: why`, `running`, …
fn push_outcome(x: &XmlrpcReport) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let at = |unix: u64| format!("{} ago (unix {unix})", duration(now.saturating_sub(unix)));
    match (&x.last, x.state.as_str()) {
        (_, "running") => "running".to_owned(),
        (Some(p), _) if p.ok => format!(
            "ok {} (trigger {}, {} attempt(s), sections {})",
            at(p.finished_unix),
            p.trigger,
            p.attempts,
            p.sections.join(",")
        ),
        (Some(p), _) => format!(
            "FAILED {} (trigger {}, {} attempt(s)): {}; last success {}",
            at(p.finished_unix),
            p.trigger,
            p.attempts,
            p.error.as_deref().unwrap_or("unknown"),
            x.last_success_unix.map_or("never".to_owned(), at)
        ),
        (None, "off") => "off".to_owned(),
        (None, _) => "none yet".to_owned(),
    }
}

fn sync_diff(d: &SyncDiffReport) -> String {
    let mut out = format!(
        "dry run against {}: {}\n",
        d.peer,
        if d.noop {
            "nothing would change"
        } else {
            "would change"
        }
    );
    for s in &d.sections {
        let _ = writeln!(out, "  {}", s.detail);
    }
    if !d.ignored.is_empty() {
        let _ = writeln!(
            out,
            "  ignored by the secondary (node-local): {}",
            d.ignored.join(", ")
        );
    }
    out
}

fn sync_line(y: &SyncReport) -> String {
    if let Some(err) = &y.error {
        return format!("not running: {err}");
    }
    format!(
        "{} -> {}  bulk {}  lag {} ms  pending {}",
        y.interface,
        y.peer,
        bulk_line(y),
        y.lag_ms,
        y.pending
    )
}

/// Where the bulk update stands, in words.
pub fn bulk_line(y: &SyncReport) -> String {
    let b = &y.bulk;
    match b.state.as_str() {
        "done" => format!("done: {} states in {} ms", b.states, b.took_ms.unwrap_or(0)),
        "receiving" => format!("receiving: {} states so far", b.states),
        "requested" => format!("requested (try {})", b.tries),
        "failed" => format!("failed: no answer to {} requests", b.tries),
        other => other.to_owned(),
    }
}

fn carp(c: &CarpReport) -> String {
    let rows: Vec<Vec<String>> = c
        .vhids
        .iter()
        .map(|v| {
            vec![
                v.vhid.to_string(),
                v.interface.clone(),
                v.state.clone(),
                v.advskew.to_string(),
                v.transitions.to_string(),
                format!("{}/{}", v.adverts_sent, v.adverts_received),
                v.last_transition.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "VHID",
            "IFACE",
            "STATE",
            "SKEW",
            "TRANSITIONS",
            "ADVERTS OUT/IN",
            "LAST",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "demotion {}  maintenance {}  unknown_vhid {}  malformed {}  send_failed {}",
        c.demotion,
        on_off(c.maintenance),
        c.unknown_vhid,
        c.malformed,
        c.send_failed
    );
    out
}

fn sync(y: &SyncReport) -> String {
    let mut out = pfsync(y);
    if let Some(x) = &y.xmlrpc {
        let _ = writeln!(out, "xmlrpc     {}", xmlrpc_line(x));
    }
    out
}

fn pfsync(y: &SyncReport) -> String {
    if let Some(err) = &y.error {
        return format!("pfsync not running: {err}\n");
    }
    let kinds = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "interface  {} -> {}{}  format {}  authenticated {}",
        y.interface,
        y.peer,
        if y.peer_resolved { "" } else { " (unresolved)" },
        y.format,
        if y.authenticated { "yes" } else { "no" }
    );
    let _ = writeln!(
        out,
        "frames     sent {} ({} bytes)  received {} ({} bytes)  tx_failed {}  fill {:.1}%",
        y.frames_sent,
        y.bytes_sent,
        y.frames_received,
        y.bytes_received,
        y.tx_failed,
        y.fill_percent
    );
    let _ = writeln!(out, "sent       {}", kinds(&y.sent));
    let _ = writeln!(out, "received   {}", kinds(&y.received));
    let _ = writeln!(
        out,
        "queue      pending {}  lag {} ms  known states {}",
        y.pending, y.lag_ms, y.known_states
    );
    let _ = writeln!(
        out,
        "bulk       {}  resyncs {}  responding {}",
        bulk_line(y),
        y.resyncs,
        if y.responding { "yes" } else { "no" }
    );
    let drops = if y.drops.is_empty() {
        "none".to_string()
    } else {
        kinds(&y.drops)
    };
    let _ = writeln!(out, "drops      {drops}");
    out
}

fn states(s: &StateList) -> String {
    let rows: Vec<Vec<String>> = s
        .states
        .iter()
        .map(|e| {
            vec![
                e.proto.clone(),
                e.direction.clone(),
                format!("{} -> {}", e.src, e.dst),
                e.nat.clone().unwrap_or_else(|| "-".into()),
                e.state.clone(),
                duration(e.age_secs),
                duration(e.expires_secs),
                format!("{}/{}", count(e.packets[0]), count(e.packets[1])),
                format!("{}/{}", count(e.bytes[0]), count(e.bytes[1])),
                e.rule.map_or("-".into(), |r| r.to_string()),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "PROTO", "DIR", "FLOW", "NAT", "STATE", "AGE", "EXPIRES", "PKTS", "BYTES", "RULE",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "{} states, {} match, {} shown",
        s.total,
        s.matched,
        s.states.len()
    );
    out
}

fn rules(r: &RuleList) -> String {
    let rows: Vec<Vec<String>> = r
        .rules
        .iter()
        .map(|e| {
            vec![
                e.index.to_string(),
                e.tracker.clone(),
                format!("{}{}", e.action, if e.disabled { " (off)" } else { "" }),
                e.interface.clone(),
                e.evaluations.to_string(),
                format!("{}/{}", e.states, e.states_created),
                count(e.packets),
                count(e.bytes),
                e.descr.clone(),
            ]
        })
        .collect();
    table(
        &[
            "#",
            "TRACKER",
            "ACTION",
            "IFACE",
            "EVALS",
            "STATES NOW/ALL",
            "PACKETS",
            "BYTES",
            "DESCRIPTION",
        ],
        &rows,
    )
}

fn stats(s: &Stats) -> String {
    let rows: Vec<Vec<String>> = s
        .workers
        .iter()
        .map(|w| {
            vec![
                w.worker.to_string(),
                format!("{:.0}", w.rx_pps),
                format!("{:.0}", w.tx_pps),
                format!("{:.0}", w.drops_per_sec),
                format!("{:.0}", w.inserts_per_sec),
                format!("{:.1}", w.busy_percent),
                w.rx_packets.to_string(),
                w.tx_packets.to_string(),
                w.drops.to_string(),
                w.states.to_string(),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "WORKER",
            "RX/s",
            "TX/s",
            "DROPS/s",
            "INSERTS/s",
            "BUSY%",
            "RX",
            "TX",
            "DROPS",
            "STATES",
        ],
        &rows,
    );
    let _ = writeln!(out, "(rates over the last {} ms)", s.interval_ms);
    let drops: Vec<String> = s.drops.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        out,
        "drops: {}",
        if drops.is_empty() {
            "none".into()
        } else {
            drops.join("  ")
        }
    );
    for p in &s.ports {
        let _ = writeln!(
            out,
            "port {}: rx {} tx {} rx_missed {} rx_errors {} tx_errors {}",
            p.name, p.rx_packets, p.tx_packets, p.rx_missed, p.rx_errors, p.tx_errors
        );
    }
    out
}

fn outcome(o: &ConfigOutcome) -> String {
    let mut out = format!(
        "{}: {} filter rules, {} outbound NAT rules, {} port forwards (sha256 {})\n",
        if o.applied { "applied" } else { "valid" },
        o.filter_rules,
        o.outbound_nat,
        o.port_forwards,
        o.sha256.get(..12).unwrap_or(&o.sha256)
    );
    for s in &o.skipped {
        let _ = writeln!(out, "  skipped {s}");
    }
    if !o.restart_needed.is_empty() {
        let _ = writeln!(
            out,
            "  changed sections that take effect at the next restart: {}",
            o.restart_needed.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(
            &["A", "BB", "C"],
            &[vec!["xxx".into(), "y".into(), "z z".into()]],
        );
        assert_eq!(t, "A    BB  C\nxxx  y   z z\n");
        assert_eq!(duration(3725), "1h02m");
        assert_eq!(count(12_345), "12.3K");
    }
}

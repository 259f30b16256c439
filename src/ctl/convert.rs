//! From the node's own types to the control protocol's plain replies, and from the
//! operator's state selector to the workers' filter.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rampart_control::config::Config;
use rampart_control::ctl::reply::{BulkReport, CarpReport, StateEntry, SyncReport, VhidReport};
use rampart_control::ctl::{CtlError, ErrorKind, StateSelector};
use rampart_dataplane::ops::StateFilter;
use rampart_dataplane::state::peer::tcps;
use rampart_dataplane::state::{Af, Peer, PfDirection, StateKey, StateSnapshot};
use rampart_dataplane::time::Instant;
use rampart_sync::engine::{BulkState, Kind};
use rampart_sync::status::SyncStatus;

use crate::carp::CarpStatus;

/// CARP's published status as a reply.
pub fn carp_report(s: &CarpStatus) -> CarpReport {
    CarpReport {
        demotion: s.demotion,
        maintenance: s.maintenance,
        vhids: s
            .vhids
            .iter()
            .map(|v| VhidReport {
                interface: v.interface.clone(),
                vhid: v.vhid,
                state: v.state.to_string(),
                advskew: v.advskew,
                transitions: v.transitions,
                last_transition: v.last_transition.clone(),
                adverts_sent: v.adverts_sent,
                adverts_received: v.adverts_received,
                drops: v.drops.iter().cloned().collect(),
            })
            .collect(),
        unknown_vhid: s.unknown_vhid,
        malformed: s.malformed,
        send_failed: s.send_failed,
    }
}

/// The sync core's published status as a reply.
pub fn sync_report(s: &SyncStatus) -> SyncReport {
    let kinds = |counts: &[u64; 8]| -> BTreeMap<String, u64> {
        Kind::ALL
            .iter()
            .zip(counts)
            .map(|(k, n)| (k.name().to_owned(), *n))
            .collect()
    };
    let (state, states, tries, took_ms) = match s.bulk {
        BulkState::Idle => ("idle", 0, 0, None),
        BulkState::Requested { tries, .. } => ("requested", 0, tries, None),
        BulkState::Receiving { tries, states, .. } => ("receiving", states, tries, None),
        BulkState::Done { states, took } => (
            "done",
            states,
            0,
            Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX)),
        ),
        BulkState::Failed { tries } => ("failed", 0, tries, None),
    };
    SyncReport {
        error: s.error.clone(),
        interface: s.port.clone(),
        peer: s.destination.to_string(),
        peer_resolved: s.peer_resolved,
        authenticated: s.authenticated,
        format: u32::from(s.format.version()),
        frames_sent: s.frames_sent_wire,
        bytes_sent: s.bytes_sent_wire,
        frames_received: s.frames_received,
        bytes_received: s.bytes_received,
        tx_failed: s.tx_failed,
        pending: s.pending,
        lag_ms: s.lag_ms,
        known_states: s.known_states,
        bulk: BulkReport {
            state: state.to_owned(),
            states,
            tries,
            took_ms,
            demoting: s.demoting,
        },
        responding: s.responding,
        resyncs: s.resyncs,
        sent: kinds(&s.engine.sent),
        received: kinds(&s.engine.received),
        drops: s.drops().into_iter().collect(),
        fill_percent: (s.fill() * 1000.0).round() / 10.0,
        xmlrpc: None,
    }
}

/// A pfsync report for a node without pfsync: `error` says why.
pub fn sync_off(why: &str) -> SyncReport {
    SyncReport {
        error: Some(why.to_owned()),
        interface: String::new(),
        peer: String::new(),
        peer_resolved: false,
        authenticated: false,
        format: 0,
        frames_sent: 0,
        bytes_sent: 0,
        frames_received: 0,
        bytes_received: 0,
        tx_failed: 0,
        pending: 0,
        lag_ms: 0,
        known_states: 0,
        bulk: BulkReport {
            state: "idle".to_owned(),
            states: 0,
            tries: 0,
            took_ms: None,
            demoting: false,
        },
        responding: false,
        resyncs: 0,
        sent: BTreeMap::new(),
        received: BTreeMap::new(),
        drops: BTreeMap::new(),
        fill_percent: 0.0,
        xmlrpc: None,
    }
}

/// The workers' filter for `sel`; interface names become the rules on that interface.
///
/// # Errors
/// [`ErrorKind::BadArguments`] for an unknown protocol, interface or a bad address.
pub fn state_filter(sel: &StateSelector, config: &Config) -> Result<StateFilter, CtlError> {
    let bad = |m: String| CtlError::new(ErrorKind::BadArguments, m);
    let proto = match sel.proto.as_deref() {
        None => None,
        Some(p) => Some(proto_number(p).ok_or_else(|| {
            bad(format!(
                "unknown protocol {p:?} (tcp, udp, icmp, icmp6 or a number)"
            ))
        })?),
    };
    let net = match sel.addr.as_deref() {
        None => None,
        Some(a) => Some(
            parse_net(a)
                .ok_or_else(|| bad(format!("{a:?} is not an address or address/prefix")))?,
        ),
    };
    let rules = match sel.iface.as_deref() {
        None => None,
        Some(iface) => {
            let known = config.interfaces.iter().any(|i| i.key == iface);
            if !known {
                let keys: Vec<&str> = config.interfaces.iter().map(|i| i.key.as_str()).collect();
                return Err(bad(format!(
                    "no interface {iface:?} (the config has {})",
                    keys.join(", ")
                )));
            }
            let mut rules: Vec<u32> = config
                .filter
                .iter()
                .filter(|r| r.interfaces.iter().any(|i| i == iface))
                .filter_map(|r| u32::try_from(r.index).ok())
                .collect();
            rules.sort_unstable();
            Some(rules)
        }
    };
    Ok(StateFilter {
        proto,
        net,
        port: sel.port,
        rules,
    })
}

fn proto_number(p: &str) -> Option<u8> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "icmp6" | "ipv6-icmp" => Some(58),
        other => other.parse().ok(),
    }
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmp6".into(),
        other => other.to_string(),
    }
}

fn parse_net(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

/// One state as the operator reads it; `now` is on the node's clock.
pub fn state_entry(worker: usize, s: &StateSnapshot, now: Instant) -> StateEntry {
    let (src, dst) = ends(&s.wire, s.direction);
    let nat = (s.stack != s.wire).then(|| {
        let (a, b) = ends(&s.stack, s.direction);
        format!("{a} -> {b}")
    });
    let tcp = s.wire.proto.0 == 6;
    StateEntry {
        worker,
        creatorid: format!("{:08x}", s.creatorid),
        id: format!("{:016x}", s.id),
        proto: proto_name(s.wire.proto.0),
        direction: match s.direction {
            PfDirection::In => "in".into(),
            PfDirection::Out => "out".into(),
        },
        src,
        dst,
        nat,
        state: format!("{}:{}", peer_state(&s.src, tcp), peer_state(&s.dst, tcp)),
        age_secs: now.since(s.creation).as_secs(),
        expires_secs: s.expires_at.since(now).as_secs(),
        packets: s.packets,
        bytes: s.bytes,
        rule: (s.rule != rampart_dataplane::state::NO_RULE).then_some(s.rule),
    }
}

/// The creating packet's source and destination in `key`.
fn ends(key: &StateKey, dir: PfDirection) -> (String, String) {
    let i = dir.src_index();
    let end = |j: usize| {
        let addr = key.addr.get(j).map(|a| a.to_ip(key.af));
        let port = key.port.get(j).copied().unwrap_or(0);
        match (addr, key.af) {
            (Some(a), Af::Inet6) => format!("[{a}]:{port}"),
            (Some(a), Af::Inet) => format!("{a}:{port}"),
            (None, _) => "?".into(),
        }
    };
    (end(i), end(1 - i))
}

fn peer_state(p: &Peer, tcp: bool) -> &'static str {
    if tcp {
        match p.state {
            tcps::CLOSED => "CLOSED",
            tcps::LISTEN => "LISTEN",
            tcps::SYN_SENT => "SYN_SENT",
            tcps::SYN_RECEIVED => "SYN_RECEIVED",
            tcps::ESTABLISHED => "ESTABLISHED",
            tcps::CLOSE_WAIT => "CLOSE_WAIT",
            tcps::FIN_WAIT_1 => "FIN_WAIT_1",
            tcps::CLOSING => "CLOSING",
            tcps::LAST_ACK => "LAST_ACK",
            tcps::FIN_WAIT_2 => "FIN_WAIT_2",
            tcps::TIME_WAIT => "TIME_WAIT",
            _ => "PROXY",
        }
    } else {
        match p.state {
            0 => "NO_TRAFFIC",
            1 => "SINGLE",
            _ => "MULTIPLE",
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn nets_and_protocols() {
        assert_eq!(
            parse_net("10.0.0.0/8"),
            Some(("10.0.0.0".parse().unwrap(), 8))
        );
        assert_eq!(parse_net("::1"), Some(("::1".parse().unwrap(), 128)));
        assert_eq!(parse_net("10.0.0.1/33"), None);
        assert_eq!(parse_net("lan"), None);
        assert_eq!(proto_number("TCP"), Some(6));
        assert_eq!(proto_number("47"), Some(47));
        assert_eq!(proto_number("gre"), None);
    }
}

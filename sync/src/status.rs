//! What the sync core reports: frames and bytes each way, drops by reason at every layer
//! (transport, authentication, codec), the engine's counters, pending messages, the sync
//! lag and the bulk update's progress.

use std::fmt::Write;
use std::net::Ipv4Addr;

use rampart_dataplane::SyncPortSpec;
use rampart_dataplane::time::Instant;

use crate::auth::AuthError;
use crate::engine::{BulkState, Engine, EngineStats, Kind};
use crate::frames::{FrameDrops, StateFormat};
use crate::transport::TransportDrop;

const TRANSPORT_DROPS: [TransportDrop; 6] = [
    TransportDrop::BadIp,
    TransportDrop::BadTtl,
    TransportDrop::Fragment,
    TransportDrop::NotForUs,
    TransportDrop::OwnFrame,
    TransportDrop::WrongPeer,
];
const AUTH_DROPS: [AuthError; 5] = [
    AuthError::Truncated,
    AuthError::Missing,
    AuthError::Unexpected,
    AuthError::BadTag,
    AuthError::Replay,
];

/// The sync core's status (a snapshot; published every few hundred milliseconds).
#[derive(Debug, Clone)]
pub struct SyncStatus {
    /// Why the sync core is not running, if it is not.
    pub error: Option<String>,
    /// Sync port name.
    pub port: String,
    /// Where frames go (the group or the unicast peer).
    pub destination: Ipv4Addr,
    /// Whether frames carry the authentication trailer.
    pub authenticated: bool,
    /// Full-state format sent.
    pub format: StateFormat,
    /// pfsync frames received (before any check but the transport's).
    pub frames_received: u64,
    /// Their bytes (IP payload).
    pub bytes_received: u64,
    /// Frames handed to the port.
    pub frames_sent_wire: u64,
    /// Their bytes (Ethernet).
    pub bytes_sent_wire: u64,
    /// Frames (and ARP) that could not be sent: no mbuf, or the port's queue was full.
    pub tx_failed: u64,
    /// Frames dropped while the unicast peer's MAC was unknown.
    pub frames_unresolved_dropped: u64,
    /// Frames waiting for the peer's MAC.
    pub frames_held: usize,
    /// Whether the unicast peer's MAC is known (always true for multicast).
    pub peer_resolved: bool,
    /// Transport drops, by [`TransportDrop`] in declaration order.
    pub transport_drops: [u64; 6],
    /// Authentication drops, by [`AuthError`] in declaration order.
    pub auth_drops: [u64; 5],
    /// Records dropped decoding received frames, by reason.
    pub decode: FrameDrops,
    /// Messages left out of sent frames, by reason (a state the peer cannot be told of).
    pub encode: FrameDrops,
    /// Sum of frame sizes sent, for the fill ratio.
    pub fill_bytes: u64,
    /// Sum of the frame limit over the frames sent.
    pub fill_limit: u64,
    /// Engine counters.
    pub engine: EngineStats,
    /// Messages waiting for a frame.
    pub pending: usize,
    /// Age of the oldest waiting message, in milliseconds (the sync lag).
    pub lag_ms: u64,
    /// Our bulk request.
    pub bulk: BulkState,
    /// Whether we are sending a bulk update.
    pub responding: bool,
    /// States the sync core knows an owner for.
    pub known_states: usize,
    /// Whether the pending bulk request keeps CARP demoted (the start-up one does, an
    /// operator's does not).
    pub demoting: bool,
    /// Bulk updates the operator asked for.
    pub resyncs: u64,
}

impl SyncStatus {
    /// The status of a sync core about to start.
    pub fn new(spec: &SyncPortSpec, authenticated: bool, format: StateFormat) -> SyncStatus {
        SyncStatus {
            error: None,
            port: spec.name.clone(),
            destination: spec.peer.unwrap_or(crate::transport::GROUP),
            authenticated,
            format,
            frames_received: 0,
            bytes_received: 0,
            frames_sent_wire: 0,
            bytes_sent_wire: 0,
            tx_failed: 0,
            frames_unresolved_dropped: 0,
            frames_held: 0,
            peer_resolved: false,
            transport_drops: [0; 6],
            auth_drops: [0; 5],
            decode: FrameDrops::default(),
            encode: FrameDrops::default(),
            fill_bytes: 0,
            fill_limit: 0,
            engine: EngineStats::default(),
            pending: 0,
            lag_ms: 0,
            bulk: BulkState::Idle,
            responding: false,
            known_states: 0,
            demoting: false,
            resyncs: 0,
        }
    }

    /// The status of a sync core that could not start.
    pub fn failed(error: String) -> SyncStatus {
        let spec = SyncPortSpec {
            name: String::new(),
            devargs: String::new(),
            addr: Ipv4Addr::UNSPECIFIED,
            peer: None,
            mtu: 0,
        };
        SyncStatus {
            error: Some(error),
            ..SyncStatus::new(&spec, false, StateFormat::V1400)
        }
    }

    pub(crate) fn count_transport(&mut self, reason: TransportDrop) {
        if let Some(i) = TRANSPORT_DROPS.iter().position(|r| *r == reason) {
            self.transport_drops[i] += 1;
        }
    }

    pub(crate) fn count_auth(&mut self, reason: AuthError) {
        if let Some(i) = AUTH_DROPS.iter().position(|r| *r == reason) {
            self.auth_drops[i] += 1;
        }
    }

    /// Copies what the engine knows now.
    pub(crate) fn update(&mut self, engine: &Engine, now: Instant, resolved: bool, held: usize) {
        self.engine = *engine.stats();
        self.pending = engine.pending();
        self.lag_ms = u64::try_from(engine.lag(now).as_millis()).unwrap_or(u64::MAX);
        self.bulk = engine.bulk_state();
        self.responding = engine.responding();
        self.known_states = engine.known_states();
        self.demoting = engine.demoted();
        self.peer_resolved = resolved;
        self.frames_held = held;
    }

    /// Whether CARP should stay demoted (our bulk update is pending).
    pub fn demoted(&self) -> bool {
        self.demoting
    }

    /// Average frame fill, 0–1.
    pub fn fill(&self) -> f64 {
        if self.fill_limit == 0 {
            0.0
        } else {
            self.fill_bytes as f64 / self.fill_limit as f64
        }
    }

    /// Every non-zero drop counter by name: transport, authentication, decoding, encoding
    /// (`encode_` prefix) and the engine's.
    pub fn drops(&self) -> Vec<(String, u64)> {
        let e = &self.engine;
        let mut drops: Vec<(String, u64)> = Vec::new();
        for (r, n) in TRANSPORT_DROPS.iter().zip(self.transport_drops) {
            drops.push((r.name().to_string(), n));
        }
        for (r, n) in AUTH_DROPS.iter().zip(self.auth_drops) {
            drops.push((r.name().to_string(), n));
        }
        drops.extend(self.decode.nonzero().map(|(name, n)| (name.to_string(), n)));
        drops.extend(
            self.encode
                .nonzero()
                .map(|(name, n)| (format!("encode_{name}"), n)),
        );
        for (name, n) in [
            ("unknown_updates", e.unknown_updates),
            ("unknown_deletes", e.unknown_deletes),
            ("unknown_requests", e.unknown_requests),
            ("bad_creatorid", e.bad_creatorid),
            ("backlog_full", e.backlog_full),
            ("bus_end_ignored", e.bus_end_ignored),
            ("ins_acks_ignored", e.ins_acks_ignored),
        ] {
            drops.push((name.to_string(), n));
        }
        drops.retain(|(_, n)| *n > 0);
        drops
    }

    /// Plain text, `name value` pairs, as the node's report prints it.
    pub fn format(&self) -> String {
        let mut out = String::new();
        if let Some(err) = &self.error {
            let _ = writeln!(out, "pfsync: not running: {err}");
            return out;
        }
        let e = &self.engine;
        let _ = writeln!(
            out,
            "pfsync interface {}  to {}  authenticated {}  format {}  peer_resolved {}",
            self.port,
            self.destination,
            self.authenticated,
            self.format.version(),
            self.peer_resolved
        );
        let _ = writeln!(
            out,
            "pfsync frames_sent {}  bytes_sent {}  frames_received {}  bytes_received {}  \
             tx_failed {}  frames_held {}  frames_unresolved_dropped {}  fill_percent {:.1}",
            self.frames_sent_wire,
            self.bytes_sent_wire,
            self.frames_received,
            self.bytes_received,
            self.tx_failed,
            self.frames_held,
            self.frames_unresolved_dropped,
            self.fill() * 100.0
        );
        let kinds = |counts: &[u64; 8]| {
            Kind::ALL
                .iter()
                .zip(counts)
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(out, "pfsync sent: {}", kinds(&e.sent));
        let _ = writeln!(out, "pfsync received: {}", kinds(&e.received));
        let _ = writeln!(
            out,
            "pfsync pending {}  lag_ms {}  known_states {}  bulk {}  bulk_states {}  responding {}  \
             bulk_requests {}  bulk_states_sent {}  window_pushes {}",
            self.pending,
            self.lag_ms,
            self.known_states,
            self.bulk.name(),
            match self.bulk {
                BulkState::Receiving { states, .. } | BulkState::Done { states, .. } => states,
                _ => 0,
            },
            self.responding,
            e.bulk_requests,
            e.bulk_states_sent,
            e.window_pushes
        );
        let drops: Vec<String> = self
            .drops()
            .into_iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        if drops.is_empty() {
            let _ = writeln!(out, "pfsync drops: none");
        } else {
            let _ = writeln!(out, "pfsync drops: {}", drops.join("  "));
        }
        out
    }
}

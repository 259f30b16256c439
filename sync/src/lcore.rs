//! The sync core's loop: the only code here that touches DPDK queues and the clock. Each
//! turn it receives from the sync port (ARP, pfsync frames: transport checks, then the
//! authentication trailer, then the codec), drains the workers' rings into the [`Engine`],
//! runs its timers, hands the engine's commands to the workers and sends its frames.
//! Status is published for other threads every [`PUBLISH`].

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use rampart_dataplane::SyncEnds;
use rampart_dataplane::dpdk::{Mbuf, RxBatch};
use rampart_dataplane::time::Instant;

use crate::auth::{AuthError, Signer, SyncKey, Verifier};
use crate::engine::{BulkState, Engine, EngineConfig, Message};
use crate::frames::{self, FrameDrops, StateFormat};
use crate::status::SyncStatus;
use crate::transport::{Inbound, SyncTransport};

/// Status is published this often.
pub const PUBLISH: Duration = Duration::from_millis(250);
/// Frames held while a unicast peer's MAC is unknown; older ones are dropped and counted.
const HELD_FRAMES: usize = 1024;
/// Worker messages taken per turn, per worker.
const DRAIN_BUDGET: usize = 4096;
/// A refused frame's reason is logged at most this often per sender.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// Longest sleep when idle.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);

/// What the sync core is told by the config.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Key for authenticated frames; `None` sends plain pfsync.
    pub key: Option<SyncKey>,
    /// Full-state format sent.
    pub format: StateFormat,
    /// Unix seconds at start: the high half of the authentication counter.
    pub epoch: u32,
    /// Set by the operator (SIGUSR2): write every state to `list_path`.
    pub list_request: Arc<AtomicBool>,
    /// Where the state listing goes.
    pub list_path: std::path::PathBuf,
    /// Set by the operator (`rampartctl sync resync`): ask the peer for a bulk update.
    pub resync_request: Arc<AtomicBool>,
}

/// Runs the sync core until `stop` is set, publishing its status in `status`.
pub fn run(
    mut ends: SyncEnds,
    settings: SyncSettings,
    stop: Arc<AtomicBool>,
    status: Arc<ArcSwap<SyncStatus>>,
) {
    let mtu = usize::from(ends.spec.mtu);
    let auth_room = if settings.key.is_some() {
        crate::auth::TRAILER_LEN
    } else {
        0
    };
    let mut config = EngineConfig::new(
        ends.creatorid,
        ends.workers,
        mtu.saturating_sub(auth_room),
        settings.format.record_len(),
    );
    config.frame_limit = config.frame_limit.max(1);
    let mut engine = match Engine::new(config) {
        Ok(engine) => engine,
        Err(err) => {
            tracing::error!(%err, "pfsync cannot run; states are not synced");
            status.store(Arc::new(SyncStatus::failed(err.to_string())));
            return;
        }
    };
    let mut transport = SyncTransport::new(ends.mac, ends.spec.addr, ends.spec.peer);
    let mut verifier = Verifier::new(settings.key.clone());
    let mut signer = settings.key.clone().map(|k| Signer::new(k, settings.epoch));
    let mut st = SyncStatus::new(&ends.spec, settings.key.is_some(), settings.format);
    let ctx = frames::Context {
        creatorid: ends.creatorid,
        format: settings.format,
        timeouts: ends.timeouts,
        // rampart's states are floating (pfSense's default), sent and accepted as `all`.
        interfaces: crate::wire::InterfaceMap::new(),
    };
    let now = ends.clock.now();
    engine.request_bulk(now);
    tracing::info!(
        port = %ends.spec.name,
        peer = %transport.destination(),
        authenticated = settings.key.is_some(),
        "pfsync started; asking the peer for its states"
    );

    let mut batch = RxBatch::default();
    let mut received: Vec<Message> = Vec::with_capacity(64);
    let mut encoded: Vec<u8> = Vec::with_capacity(mtu);
    let mut held: VecDeque<Vec<u8>> = VecDeque::new();
    let mut out: Vec<Mbuf> = Vec::with_capacity(32);
    let mut last_publish = Instant::ZERO;
    let mut idle_sleep = Duration::ZERO;
    let mut nat_seen = None;
    let mut auth_logged: HashMap<(AuthError, Ipv4Addr), Option<Instant>> = HashMap::new();
    let mut bulk_seen = engine.bulk_state();
    while !stop.load(Ordering::Relaxed) {
        let now = ends.clock.now();
        let mut work = 0;

        work += ends.rx.recv(&mut batch);
        for mbuf in batch.by_ref() {
            match transport.on_frame(mbuf.data()) {
                Inbound::Pfsync { src, payload } => {
                    st.frames_received += 1;
                    st.bytes_received += payload.len() as u64;
                    match verifier.open(u32::from(src), payload) {
                        Ok(frame) => {
                            received.clear();
                            let mut drops = FrameDrops::default();
                            frames::decode(frame, &ctx, now, &mut received, &mut drops);
                            st.decode.merge(&drops);
                            engine.on_received(now, received.drain(..));
                        }
                        Err(err) => {
                            st.count_auth(err);
                            // One line per reason and sender every LOG_EVERY: says why
                            // without flooding the log under a flood of bad frames.
                            let last = auth_logged.entry((err, src)).or_insert(None);
                            if last.is_none_or(|t: Instant| now.since(t) >= LOG_EVERY) {
                                *last = Some(now);
                                tracing::warn!(from = %src, reason = err.name(), "pfsync frame refused: {err}");
                            }
                        }
                    }
                }
                Inbound::ArpReply(frame) => push_frame(&ends, &mut out, &frame, &mut st),
                Inbound::Drop(reason) => st.count_transport(reason),
                Inbound::Ignored => {}
            }
        }

        work += ends.core.drain(DRAIN_BUDGET, |worker, msg| {
            engine.on_worker(now, worker, msg)
        });
        if engine.next_deadline().is_some_and(|d| d <= now) {
            engine.on_timeout(now);
        }
        for worker in 0..ends.core.workers() {
            if let Some(queue) = engine.commands_for(worker) {
                while let Some(cmd) = queue.front().copied() {
                    if ends.core.send(worker, cmd).is_err() {
                        break;
                    }
                    queue.pop_front();
                    work += 1;
                }
            }
        }
        while let Some(frame) = engine.poll_frame() {
            work += 1;
            encoded.clear();
            frames::encode(&frame, &ctx, now, &mut encoded, &mut st.encode);
            st.fill_bytes += frame.bytes as u64;
            st.fill_limit += engine.config().frame_limit as u64;
            if let Some(signer) = signer.as_mut() {
                signer.seal(&mut encoded);
            }
            held.push_back(encoded.clone());
            if held.len() > HELD_FRAMES {
                held.pop_front();
                st.frames_unresolved_dropped += 1;
            }
        }
        while let Some(payload) = held.front() {
            let Ok(frame) = transport.wrap(payload) else {
                break;
            };
            held.pop_front();
            push_frame(&ends, &mut out, &frame, &mut st);
        }
        if let Some(arp) = transport.poll_arp(now) {
            push_frame(&ends, &mut out, &arp, &mut st);
        }
        flush(&mut ends, &mut out, &mut st);

        if settings.resync_request.swap(false, Ordering::Relaxed) {
            engine.request_resync(now);
            st.resyncs += 1;
            tracing::info!("bulk update requested by the operator");
            // Published at once: the operator's client waits for this count.
            last_publish = Instant::ZERO;
        }
        if settings.list_request.swap(false, Ordering::Relaxed) {
            engine.request_listing();
        }
        if let Some(mut states) = engine.take_listing() {
            let text = crate::listing::format(&mut states);
            match crate::listing::write_atomically(&settings.list_path, &text) {
                Ok(()) => tracing::info!(
                    states = states.len(),
                    path = %settings.list_path.display(),
                    "states written"
                ),
                Err(err) => {
                    tracing::error!(%err, path = %settings.list_path.display(), "writing the states failed")
                }
            }
        }
        let bulk = engine.bulk_state();
        if bulk.name() != bulk_seen.name() {
            log_bulk(&bulk);
            bulk_seen = bulk;
        }
        if now.since(last_publish) >= PUBLISH {
            if let Some(policies) = &ends.policies {
                let current = policies.load();
                if nat_seen
                    .as_ref()
                    .is_none_or(|n| !Arc::ptr_eq(n, &current.nat))
                {
                    engine.set_nat(Arc::clone(&current.nat));
                    nat_seen = Some(Arc::clone(&current.nat));
                }
            }
            st.update(&engine, now, transport.resolved(), held.len());
            status.store(Arc::new(st.clone()));
            last_publish = now;
        }
        if work == 0 {
            idle_sleep = (idle_sleep * 2)
                .max(Duration::from_micros(20))
                .min(MAX_IDLE_SLEEP);
            std::thread::sleep(idle_sleep);
        } else {
            idle_sleep = Duration::ZERO;
        }
    }
    let now = ends.clock.now();
    st.update(&engine, now, transport.resolved(), held.len());
    status.store(Arc::new(st));
}

/// Copies `frame` into an mbuf for the next transmit burst.
fn push_frame(ends: &SyncEnds, out: &mut Vec<Mbuf>, frame: &[u8], st: &mut SyncStatus) {
    let mbuf = ends.pool.alloc().and_then(|mut mbuf| {
        let room = mbuf.append(u16::try_from(frame.len()).ok()?)?;
        room.copy_from_slice(frame);
        Some(mbuf)
    });
    match mbuf {
        Some(m) => out.push(m),
        None => st.tx_failed += 1,
    }
}

fn flush(ends: &mut SyncEnds, out: &mut Vec<Mbuf>, st: &mut SyncStatus) {
    if out.is_empty() {
        return;
    }
    let wanted = out.len();
    let (sent, bytes) = ends.tx.send(out);
    st.frames_sent_wire += sent as u64;
    st.bytes_sent_wire += bytes;
    st.tx_failed += (wanted - sent) as u64;
    out.clear();
}

/// One line when this node's own bulk update ends: what CARP's demotion waited for.
fn log_bulk(bulk: &BulkState) {
    match *bulk {
        BulkState::Done { states, took } => tracing::info!(
            states,
            took_ms = took.as_millis() as u64,
            "pfsync bulk update done"
        ),
        BulkState::Failed { tries } => tracing::warn!(
            tries,
            "pfsync bulk update failed: no answer from the peer; undemoting anyway"
        ),
        BulkState::Idle | BulkState::Requested { .. } | BulkState::Receiving { .. } => {}
    }
}

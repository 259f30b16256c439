//! What the pfsync peer's messages do to this worker's shard (pfsync.md §4–§5): full states
//! are imported or merged, compressed updates merged (or asked for in full when unknown),
//! deletes and requests resolved by `(creatorid, id)`.

use super::Firewall;
use crate::state::{StateError, flags};
use crate::sync_link::{ToSync, ToWorker};
use crate::time::Instant;

/// What this worker did with the peer's messages (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncApplyStats {
    /// States imported from the peer.
    pub imported: u64,
    /// Imports refused: the table is full.
    pub import_full: u64,
    /// Imports refused: another state holds the key (both nodes saw the first packet).
    pub import_exists: u64,
    /// Imports refused: inconsistent keys.
    pub import_invalid: u64,
    /// Updates merged into a known state.
    pub merged: u64,
    /// Merged updates that were behind ours (answered with our view).
    pub stale: u64,
    /// Compressed updates for states we do not hold (answered with a request).
    pub unknown: u64,
    /// States deleted by the peer.
    pub deleted: u64,
    /// Deletes for states we do not hold.
    pub delete_unknown: u64,
    /// States removed by the peer's clear.
    pub cleared: u64,
    /// Requests for states we do not hold.
    pub request_unknown: u64,
}

impl SyncApplyStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &SyncApplyStats) {
        self.imported += other.imported;
        self.import_full += other.import_full;
        self.import_exists += other.import_exists;
        self.import_invalid += other.import_invalid;
        self.merged += other.merged;
        self.stale += other.stale;
        self.unknown += other.unknown;
        self.deleted += other.deleted;
        self.delete_unknown += other.delete_unknown;
        self.cleared += other.cleared;
        self.request_unknown += other.request_unknown;
    }
}

impl Firewall {
    /// Applies one message from the sync core; answers go to `reply`. A bulk walk and a
    /// clear span several calls and are driven by the [`WorkerLink`](crate::sync_link::WorkerLink).
    pub fn apply_sync(&mut self, now: Instant, msg: ToWorker, mut reply: impl FnMut(ToSync)) {
        match msg {
            ToWorker::Full { snap, ack } => match self.table.by_id(snap.creatorid, snap.id) {
                None => match self.table.import(now, &snap) {
                    Ok(_) => {
                        self.sync_stats.imported += 1;
                        if ack {
                            reply(ToSync::InsAck {
                                creatorid: snap.creatorid,
                                id: snap.id,
                            });
                        }
                    }
                    Err(StateError::Full) => self.sync_stats.import_full += 1,
                    Err(StateError::Exists | StateError::DuplicateId) => {
                        self.sync_stats.import_exists += 1;
                    }
                    Err(StateError::Invalid) => self.sync_stats.import_invalid += 1,
                },
                Some(handle) => {
                    self.merge(now, handle, &snap.src, &snap.dst, snap.timeout, &mut reply);
                }
            },
            ToWorker::Compressed(up) => match self.table.by_id(up.creatorid, up.id) {
                Some(handle) => self.merge(now, handle, &up.src, &up.dst, up.timeout, &mut reply),
                None => {
                    self.sync_stats.unknown += 1;
                    reply(ToSync::Unknown {
                        creatorid: up.creatorid,
                        id: up.id,
                    });
                }
            },
            ToWorker::Delete { creatorid, id } => match self.table.by_id(creatorid, id) {
                Some(handle) => {
                    self.table.remove_quiet(handle);
                    self.sync_stats.deleted += 1;
                }
                None => self.sync_stats.delete_unknown += 1,
            },
            ToWorker::Request { creatorid, id } => {
                let snap = self
                    .table
                    .by_id(creatorid, id)
                    .and_then(|h| self.table.snapshot(h))
                    .filter(|s| s.state_flags & flags::NO_SYNC == 0);
                match snap {
                    Some(snap) => reply(ToSync::Full(snap)),
                    None => self.sync_stats.request_unknown += 1,
                }
            }
            // Spread over several calls by the link; nothing to do here.
            ToWorker::Clear { .. } | ToWorker::Bulk | ToWorker::List | ToWorker::InsAck { .. } => {}
        }
    }

    fn merge(
        &mut self,
        now: Instant,
        handle: crate::state::StateHandle,
        src: &crate::state::Peer,
        dst: &crate::state::Peer,
        timeout: crate::state::Timeout,
        reply: &mut impl FnMut(ToSync),
    ) {
        let Some(merged) = self.table.merge(handle, now, src, dst, timeout) else {
            return;
        };
        self.sync_stats.merged += 1;
        if merged.stale() {
            self.sync_stats.stale += 1;
            if let Some(snap) = self.table.snapshot(handle) {
                reply(ToSync::Stale(snap));
            }
        }
    }

    /// Counts states removed by a clear from the peer.
    pub fn count_cleared(&mut self, removed: usize) {
        self.sync_stats.cleared += removed as u64;
    }

    /// What this worker did with the peer's messages.
    pub fn sync_stats(&self) -> &SyncApplyStats {
        &self.sync_stats
    }

    /// pfsync deferral on or off: with it, new states carry pf's ACK flag so that the peer
    /// acknowledges their insert, and the forwarder holds their first packet until then.
    pub fn set_defer(&mut self, on: bool) {
        self.defer = on;
    }

    /// Whether new states are deferred.
    pub fn defers(&self) -> bool {
        self.defer
    }

    /// A sync core takes the state events from now on: [`maintain`](Self::maintain) leaves
    /// them queued for [`WorkerLink::service`](crate::sync_link::WorkerLink::service).
    pub fn attach_sync(&mut self) {
        self.sync_attached = true;
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::firewall::FirewallSettings;
    use crate::rules::{Ruleset, RulesetOptions};
    use crate::state::{
        NewState, PacketKey, PacketMeta, PfDirection, StateEvent, StateSnapshot, TcpSegment,
        Timeouts, peer::tcps,
    };
    use crate::sync_link::{CompressedUpdate, links};
    use crate::wire::IpProtocol;
    use crate::wire::tcp::flag::{ACK, SYN};

    fn firewall(creatorid: u32) -> Firewall {
        let settings = FirewallSettings {
            states: 64,
            creatorid,
            id_seed: 1,
            timeouts: Timeouts::default(),
            event_capacity: 64,
            workers: 1,
        };
        let rules = Ruleset::compile(Vec::new(), &RulesetOptions::new(2)).unwrap();
        Firewall::new(0, &settings, Arc::new(rules))
    }

    fn key() -> PacketKey {
        let (c, s) = (Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(10, 0, 2, 20));
        PacketKey::v4(c, 40000, s, 80, IpProtocol::TCP)
    }

    /// A TCP state made on `fw` by a SYN, and its snapshot (the insert event).
    fn open(fw: &mut Firewall) -> StateSnapshot {
        open_port(fw, key().src_port)
    }

    fn open_port(fw: &mut Firewall, src_port: u16) -> StateSnapshot {
        let mut k = key();
        k.src_port = src_port;
        let mut new = NewState::new(k, PfDirection::In);
        new.tcp = Some(TcpSegment {
            flags: SYN,
            seq: 1000,
            window: 64000,
            ..TcpSegment::default()
        });
        fw.table_mut().insert(Instant::ZERO, new).unwrap();
        match fw.table_mut().events().drain().next() {
            Some(StateEvent::Insert(snap)) => snap,
            other => panic!("expected an insert, got {other:?}"),
        }
    }

    fn apply(fw: &mut Firewall, msg: ToWorker) -> Vec<ToSync> {
        let mut replies = Vec::new();
        fw.apply_sync(Instant::from_secs(1), msg, |r| replies.push(r));
        replies
    }

    #[test]
    fn test_full_state_is_imported_then_merged() {
        let (mut a, mut b) = (firewall(1), firewall(2));
        let snap = open(&mut a);
        assert_eq!(
            apply(&mut b, ToWorker::Full { snap, ack: true }),
            vec![ToSync::InsAck {
                creatorid: 1,
                id: snap.id
            }]
        );
        let h = b.table().by_id(1, snap.id).unwrap();
        assert_eq!(b.table().snapshot(h).unwrap().wire, snap.wire);
        // No insert is echoed back to the peer.
        assert!(b.table_mut().events().is_empty());
        // The same state again is a merge, not a second import.
        assert!(apply(&mut b, ToWorker::Full { snap, ack: false }).is_empty());
        assert_eq!(b.sync_stats().imported, 1);
        assert_eq!(b.sync_stats().merged, 1);
    }

    #[test]
    fn test_stale_update_is_answered_with_our_view() {
        let (mut a, mut b) = (firewall(1), firewall(2));
        let snap = open(&mut a);
        apply(&mut b, ToWorker::Full { snap, ack: false });
        // B saw the handshake finish; A's old view arrives afterwards.
        let h = b.table().by_id(1, snap.id).unwrap();
        let syn_ack = TcpSegment {
            flags: SYN | ACK,
            seq: 5000,
            ack: 1001,
            window: 64000,
            ..TcpSegment::default()
        };
        let m = b
            .table()
            .lookup(&key().reversed(), PfDirection::Out)
            .unwrap();
        assert_eq!(m.handle, h);
        b.table_mut()
            .track(
                m,
                Instant::from_secs(1),
                &PacketMeta {
                    len: 60,
                    tcp: Some(syn_ack),
                },
            )
            .unwrap();
        let ours = b.table().snapshot(h).unwrap();
        let up = CompressedUpdate {
            creatorid: 1,
            id: snap.id,
            src: snap.src,
            dst: snap.dst,
            timeout: snap.timeout,
        };
        let replies = apply(&mut b, ToWorker::Compressed(up));
        assert_eq!(replies.len(), 1);
        let ToSync::Stale(view) = replies[0] else {
            panic!("expected our view back, got {replies:?}");
        };
        // The responder's side is not rolled back to "nothing seen".
        assert_eq!(view.dst, ours.dst);
        assert!(view.dst.state >= tcps::SYN_SENT);
        assert_eq!(b.sync_stats().stale, 1);
    }

    #[test]
    fn test_unknown_ids_are_asked_for_and_counted() {
        let mut b = firewall(2);
        let up = CompressedUpdate {
            creatorid: 1,
            id: 99,
            src: Default::default(),
            dst: Default::default(),
            timeout: crate::state::Timeout::TcpEstablished,
        };
        assert_eq!(
            apply(&mut b, ToWorker::Compressed(up)),
            vec![ToSync::Unknown {
                creatorid: 1,
                id: 99
            }]
        );
        assert!(
            apply(
                &mut b,
                ToWorker::Delete {
                    creatorid: 1,
                    id: 99
                }
            )
            .is_empty()
        );
        assert!(
            apply(
                &mut b,
                ToWorker::Request {
                    creatorid: 1,
                    id: 99
                }
            )
            .is_empty()
        );
        let s = b.sync_stats();
        assert_eq!((s.unknown, s.delete_unknown, s.request_unknown), (1, 1, 1));
    }

    #[test]
    fn test_request_and_delete_by_id() {
        let mut a = firewall(1);
        let snap = open(&mut a);
        let replies = apply(
            &mut a,
            ToWorker::Request {
                creatorid: 1,
                id: snap.id,
            },
        );
        assert!(matches!(replies.as_slice(), [ToSync::Full(s)] if s.id == snap.id));
        apply(
            &mut a,
            ToWorker::Delete {
                creatorid: 1,
                id: snap.id,
            },
        );
        assert!(a.table().is_empty());
        // A delete from the peer is not reported back to it.
        assert!(a.table_mut().events().is_empty());
    }

    #[test]
    fn test_link_carries_events_clear_and_bulk() {
        let (mut workers, core) = links(1, 8);
        let mut link = workers.pop().unwrap();
        let (mut a, mut b) = (firewall(1), firewall(2));
        let snap = open(&mut a);
        // Put the event back for the link to carry.
        a.attach_sync();
        let h = a.table().by_id(1, snap.id).unwrap();
        a.table_mut().remove(h);
        link.service(Instant::ZERO, &mut a);
        let mut got = Vec::new();
        core.drain(16, |w, m| got.push((w, m)));
        assert_eq!(
            got,
            vec![(
                0,
                ToSync::Event(StateEvent::Delete {
                    creatorid: 1,
                    id: snap.id
                })
            )]
        );

        // B holds the peer's state and one of its own; a clear of creator 1 keeps its own.
        b.attach_sync();
        apply(&mut b, ToWorker::Full { snap, ack: false });
        let own = open_port(&mut b, 40001);
        core.send(0, ToWorker::Clear { creatorid: 1 }).unwrap();
        link.service(Instant::ZERO, &mut b);
        assert_eq!(b.table().len(), 1);
        assert!(b.table().by_id(2, own.id).is_some());
        assert_eq!(b.sync_stats().cleared, 1);

        core.send(0, ToWorker::Bulk).unwrap();
        link.service(Instant::ZERO, &mut b);
        let mut got = Vec::new();
        core.drain(16, |_, m| got.push(m));
        assert!(matches!(got.as_slice(), [ToSync::Bulk(s), ToSync::BulkDone] if s.id == own.id));
        assert!(!link.bulk_in_progress());

        // A listing shows every state, no-sync ones too.
        let h = b.table().by_id(2, own.id).unwrap();
        if let Some(st) = b.table_mut().get_mut(h) {
            st.state_flags |= flags::NO_SYNC;
        }
        core.send(0, ToWorker::Bulk).unwrap();
        core.send(0, ToWorker::List).unwrap();
        link.service(Instant::ZERO, &mut b);
        let mut got = Vec::new();
        core.drain(16, |_, m| got.push(m));
        assert!(
            matches!(got.as_slice(), [ToSync::BulkDone, ToSync::Listed(s), ToSync::ListDone] if s.id == own.id),
            "{got:?}"
        );
    }

    #[test]
    fn test_full_ring_counts_instead_of_blocking() {
        let (mut workers, core) = links(1, 2);
        let mut link = workers.pop().unwrap();
        let mut a = firewall(1);
        a.attach_sync();
        for port in 0..5u16 {
            let mut k = key();
            k.src_port = 1000 + port;
            let mut new = NewState::new(k, PfDirection::In);
            new.tcp = Some(TcpSegment {
                flags: SYN,
                seq: 1,
                ..TcpSegment::default()
            });
            a.table_mut().insert(Instant::ZERO, new).unwrap();
        }
        link.service(Instant::ZERO, &mut a);
        let c = *link.counters();
        assert_eq!((c.events_sent, c.events_dropped), (2, 3));
        assert_eq!(core.drain(16, |_, _| {}), 2);
    }
}

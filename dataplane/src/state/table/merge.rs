//! Merging a state update from the pfsync peer into a local state (pfsync.md §5.3).
//!
//! Each peer (`src`, `dst`) is compared on its own: the local copy is kept when it is further
//! along than the received one — a higher protocol state, or for TCP the same state with a
//! later `seqlo` — and the received one is copied otherwise. So the side with the more
//! advanced window wins, and a stale update never moves a window back. Both peers follow
//! OpenBSD's rule; FreeBSD's merge copies the received `dst` peer a second time after the
//! check, which rolls windows back (opnsense/src#327) and is deliberately not reproduced.
//!
//! When fewer than two peers were kept local, the state takes the received timeout class and
//! its expiry restarts now (pf). When any peer was kept local the update was stale: the caller
//! sends its own view back at once so the peer catches up.

use super::{
    GRACE_STARTED, PICKED_UP_DST, PICKED_UP_SRC, Peer, ProtoClass, StateHandle, StateTable,
    Timeout, tcps, tick_of,
};
use crate::time::Instant;

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Peers (0–2) whose local copy was ahead of the received one and was kept.
    pub kept_local: u8,
}

impl Merged {
    /// Whether the peer's update was behind ours (pf counts it as `stale` and answers with
    /// its own view).
    pub fn stale(self) -> bool {
        self.kept_local > 0
    }
}

/// Whether the local copy of one TCP peer is further along than the received one. A local
/// synproxy state does not count as ahead of a received non-synproxy one (pf).
fn tcp_local_ahead(local: &Peer, received: &Peer) -> bool {
    let local_proxy = local.state >= tcps::PROXY_SRC;
    let received_proxy_done = received.state >= tcps::PROXY_DST;
    (local.state > received.state && (!local_proxy || received_proxy_done))
        || (local.state == received.state && seq_gt(local.seqlo, received.seqlo))
}

#[inline]
fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The merged pair of peers for a state of `class`, and how many local peers were kept.
pub fn merge_peers(
    class: ProtoClass,
    local: (&Peer, &Peer),
    received: (&Peer, &Peer),
) -> (Peer, Peer, u8) {
    let ahead = |l: &Peer, r: &Peer| match class {
        ProtoClass::Tcp => tcp_local_ahead(l, r),
        _ => l.state > r.state,
    };
    let mut kept = 0;
    let mut pick = |l: &Peer, r: &Peer| {
        if ahead(l, r) {
            kept += 1;
            *l
        } else {
            *r
        }
    };
    let src = pick(local.0, received.0);
    let dst = pick(local.1, received.1);
    (src, dst, kept)
}

impl StateTable {
    /// Merges the peer's view of the state behind `handle`: its `src` and `dst` peers and
    /// its timeout class (see the module doc). No event is queued: the caller answers a
    /// stale update itself. Returns `None` if `handle` is stale.
    pub fn merge(
        &mut self,
        handle: StateHandle,
        now: Instant,
        src: &Peer,
        dst: &Peer,
        timeout: Timeout,
    ) -> Option<Merged> {
        let timeouts = self.timeouts;
        let st = self.slot_mut(handle)?;
        let class = ProtoClass::of(st.proto());
        let (new_src, new_dst, kept_local) = merge_peers(class, (&st.src, &st.dst), (src, dst));
        if new_src != st.src {
            st.local |= PICKED_UP_SRC;
        }
        if new_dst != st.dst {
            st.local |= PICKED_UP_DST;
        }
        if new_src != st.src || new_dst != st.dst {
            // The peer's view again: the next takeover gets a fresh grace.
            st.local &= !GRACE_STARTED;
        }
        st.src = new_src;
        st.dst = new_dst;
        // The peer knows these values now: do not report them back as local progress.
        st.synced_seqlo = [new_src.seqlo, new_dst.seqlo];
        st.last_event = now;
        if kept_local < 2 {
            st.timeout = timeout;
            st.last_activity = now;
            let deadline = st.deadline(&timeouts);
            self.wheel
                .refile_if_earlier(&mut self.slots, handle.slot, tick_of(deadline));
        }
        self.stats.merged += 1;
        if kept_local > 0 {
            self.stats.stale += 1;
        }
        Some(Merged { kept_local })
    }

    /// Removes every state created by `creatorid` among up to `max` slots from slot `from`,
    /// without events (pfsync CLR from the peer). Returns the states removed and where to
    /// continue, or `None` at the end; callers spread a whole-table clear over several calls.
    pub fn clear_creator(
        &mut self,
        creatorid: u32,
        from: usize,
        max: usize,
    ) -> (usize, Option<usize>) {
        let mut doomed = Vec::new();
        let next = self.for_each_from(from, max, |handle, st| {
            if st.creatorid == creatorid {
                doomed.push(handle);
            }
        });
        let removed = doomed
            .into_iter()
            .filter(|&h| self.remove_quiet(h).is_some())
            .count();
        (removed, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp_peer(state: u8, seqlo: u32) -> Peer {
        Peer {
            seqlo,
            seqhi: seqlo.wrapping_add(65535),
            max_win: 65535,
            state,
            ..Peer::ZERO
        }
    }

    #[test]
    fn test_received_ahead_is_copied() {
        let local = (
            tcp_peer(tcps::ESTABLISHED, 100),
            tcp_peer(tcps::ESTABLISHED, 500),
        );
        let recv = (
            tcp_peer(tcps::ESTABLISHED, 200),
            tcp_peer(tcps::ESTABLISHED, 600),
        );
        let (s, d, kept) = merge_peers(ProtoClass::Tcp, (&local.0, &local.1), (&recv.0, &recv.1));
        assert_eq!((s, d, kept), (recv.0, recv.1, 0));
    }

    #[test]
    fn test_stale_dst_never_rolls_back() {
        // The FreeBSD bug: a received dst peer behind ours must not replace it.
        let local = (
            tcp_peer(tcps::ESTABLISHED, 100),
            tcp_peer(tcps::ESTABLISHED, 900),
        );
        let recv = (
            tcp_peer(tcps::ESTABLISHED, 200),
            tcp_peer(tcps::ESTABLISHED, 600),
        );
        let (s, d, kept) = merge_peers(ProtoClass::Tcp, (&local.0, &local.1), (&recv.0, &recv.1));
        assert_eq!(s, recv.0);
        assert_eq!(d, local.1);
        assert_eq!(kept, 1);
    }

    #[test]
    fn test_sequence_comparison_wraps() {
        let local = tcp_peer(tcps::ESTABLISHED, 5);
        let recv = tcp_peer(tcps::ESTABLISHED, u32::MAX - 5);
        assert!(tcp_local_ahead(&local, &recv));
        assert!(!tcp_local_ahead(&recv, &local));
    }

    #[test]
    fn test_higher_tcp_state_wins() {
        let local = tcp_peer(tcps::FIN_WAIT_2, 10);
        let recv = tcp_peer(tcps::ESTABLISHED, 5000);
        assert!(tcp_local_ahead(&local, &recv));
        // A local synproxy state is not "ahead" of a peer that has not finished proxying.
        let proxy = tcp_peer(tcps::PROXY_SRC, 10);
        assert!(!tcp_local_ahead(&proxy, &recv));
    }

    #[test]
    fn test_udp_keeps_higher_state() {
        let single = Peer {
            state: 1,
            ..Peer::ZERO
        };
        let multiple = Peer {
            state: 2,
            ..Peer::ZERO
        };
        let (s, d, kept) = merge_peers(ProtoClass::Udp, (&multiple, &single), (&single, &multiple));
        assert_eq!((s, d, kept), (multiple, multiple, 1));
    }
}

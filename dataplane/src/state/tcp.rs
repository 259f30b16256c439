//! pf-style TCP tracking: a pure function of a state's two [`Peer`]s and one segment.
//!
//! The facts follow FreeBSD's `sys/netpfil/pf/pf.c` (`pf_create_state`, `pf_tcp_track_full`,
//! `pf_tcp_track_sloppy`, `pf_test_state`), which implements Guido van Rooij's "Real Stateful
//! TCP Packet Filtering in IP Filter". In words, for a segment sent by `src` to `dst`:
//!
//! * **Window scaling** applies only when both SYNs carried the option: each peer keeps its
//!   shift with [`WSCALE_FLAG`]; a SYN's window is never scaled. When the answering SYN has
//!   no option, the first side's `max_win` is un-scaled (capped at 65535) and its scale
//!   forgotten.
//! * **First packet from a side** (`seqlo == 0`): it sets that side's `seqlo`, raises it to
//!   SYN_SENT and opens `seqhi` to `end + max(1, dst.max_win << dws)`.
//! * **The four window checks** (on `seq`, `end` = seq + len + SYN + FIN, and `data_end` = end
//!   without the FIN; a segment with no data and no SYN/FIN is moved to `src.seqlo`):
//!   1. `data_end ≤ src.seqhi` — the last byte is inside the other side's window;
//!   2. `seq ≥ src.seqlo − (dst.max_win << dws)` — a retransmission at most one window back;
//!   3. `ack ≥ dst.seqlo − MAXACKWINDOW` — acking at most one reassembled fragment backwards;
//!   4. `ack ≤ dst.seqlo + (MAXACKWINDOW << sws)` — acking at most one window forward;
//!
//!   plus, for a RST, `seq ∈ {seqlo − 1, seqlo, seqlo + 1}`. Without ACK (or for an ACK|RST
//!   with ack 0, or while `dst` has sent nothing) the ack checks are skipped.
//!   `MAXACKWINDOW` is 65535 + 1500. Comparisons are modulo 2³² (`SEQ_GEQ`).
//! * **On success**: `max_win`, `src.seqlo` (only forwards) and `dst.seqhi = ack + window` (only
//!   forwards) are updated; SYN → src ≥ SYN_SENT; FIN → src ≥ CLOSING; ACK → dst SYN_SENT
//!   becomes ESTABLISHED, dst CLOSING becomes FIN_WAIT_2; RST → both TIME_WAIT. The timeout
//!   class follows from the pair ([`timeout_for`]).
//! * **Loose match** (pf's second branch): when the checks fail but `dst` has sent nothing yet,
//!   or either side is at FIN_WAIT_2 or later, a segment within `MAXACKWINDOW` of the window
//!   still passes (SYN shotguns, connections picked up mid-stream, stray packets after close).
//!   The windows and FIN/RST states are updated, but **not** the expiry or the class (pf does
//!   not refresh on these, to blunt floods): [`TcpUpdate::timeout`] is `None`.
//! * **Otherwise** the segment is dropped ([`TcpDrop::BadState`], pf's `PFRES_BADSTATE`). If both
//!   sides are still SYN_SENT, pf resets the sender's tracking (so its next SYN starts afresh)
//!   and answers a non-RST with a RST: the reject carries those peers and
//!   [`TcpReject::send_rst`].
//!
//! Not done (pf features rampart does not have): sequence-number modulation (`seqdiff` is
//! carried for pfsync but never applied), synproxy, scrub's timestamp and TTL normalisation,
//! source-node connection limits, and SYN cookies.
//!
//! [`check_flags`] is pf scrub's flag sanity check (`pf_normalize_tcp`), run before the state
//! lookup; pfSense scrubs by default.

use super::peer::{MAX_WINSHIFT, Peer, WSCALE_FLAG, WSCALE_MASK, tcps};
use super::timeout::Timeout;
use crate::wire::tcp::flag;
use crate::wire::{TcpOption, TcpPacket};

/// pf's `MAXACKWINDOW`: how far an ack may lag behind what was sent (one 64 KiB window plus
/// an arbitrary 1500-byte fudge).
pub const MAXACKWINDOW: u32 = 0xffff + 1500;

/// Largest unscaled TCP window (`TCP_MAXWIN`).
const TCP_MAXWIN: u32 = 0xffff;

/// `a > b` in sequence space (`SEQ_GT`).
#[inline]
pub fn seq_gt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// `a ≥ b` in sequence space (`SEQ_GEQ`).
#[inline]
pub fn seq_geq(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) >= 0
}

/// What the tracker needs from a TCP segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpSegment {
    /// Flag bits ([`crate::wire::tcp::flag`]).
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Window field as sent (unscaled).
    pub window: u16,
    /// Payload length in bytes (pf's `p_len`: IP payload minus the TCP header).
    pub payload_len: u32,
    /// Window-scale option, on a SYN only (raw shift; clamped to 14 when used).
    pub wscale: Option<u8>,
    /// MSS option, on a SYN only.
    pub mss: Option<u16>,
}

impl TcpSegment {
    /// Reads a segment. `tcp` must span exactly the IP payload (as [`Ipv4Packet::payload`] and
    /// [`Ipv6Packet::payload`] give it), or the payload length counts link padding. Options
    /// are parsed only on SYNs, as pf does.
    ///
    /// [`Ipv4Packet::payload`]: crate::wire::Ipv4Packet::payload
    /// [`Ipv6Packet::payload`]: crate::wire::Ipv6Packet::payload
    pub fn from_packet<T: AsRef<[u8]>>(tcp: &TcpPacket<T>) -> TcpSegment {
        let flags = tcp.flags();
        let mut seg = TcpSegment {
            flags,
            seq: tcp.seq_number(),
            ack: tcp.ack_number(),
            window: tcp.window_len(),
            payload_len: u32::try_from(tcp.payload().len()).unwrap_or(u32::MAX),
            wscale: None,
            mss: None,
        };
        if flags & flag::SYN != 0 {
            for option in tcp.options_iter() {
                match option {
                    Ok(TcpOption::WindowScale(shift)) => seg.wscale = Some(shift),
                    Ok(TcpOption::MaxSegmentSize(mss)) => seg.mss = Some(mss),
                    Ok(TcpOption::EndOfList) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        seg
    }

    #[inline]
    fn has(&self, bits: u8) -> bool {
        self.flags & bits != 0
    }

    /// pf's `pf_get_wscale`: the option with [`WSCALE_FLAG`], shift clamped to 14; 0 if absent
    /// or not a SYN.
    fn wscale_field(&self) -> u8 {
        match self.wscale {
            Some(shift) if self.has(flag::SYN) => shift.min(MAX_WINSHIFT) | WSCALE_FLAG,
            _ => 0,
        }
    }
}

/// Why a segment was not accepted. The caller counts it under a named drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpDrop {
    /// Outside the tracked windows (pf `PFRES_BADSTATE`, "BAD state").
    BadState,
    /// Impossible flag combination (pf scrub `pf_normalize_tcp`: SYN with RST or FIN, no
    /// SYN/ACK/RST at all, FIN/PSH/URG without ACK).
    BadFlags,
}

/// An accepted segment's effect: the new peers and, unless the match was loose, the timeout
/// class the state moves to (and so a refreshed expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpUpdate {
    /// New sender peer.
    pub src: Peer,
    /// New receiver peer.
    pub dst: Peer,
    /// The class after this segment; `None` for pf's loose match, which leaves the class and
    /// the expiry as they were.
    pub timeout: Option<Timeout>,
}

/// A rejected segment. pf changes the peers even when it drops (the first packet of a side
/// initialises it before the checks; a handshake mismatch resets the sender), so the reject
/// carries the peers to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpReject {
    /// Sender peer to store.
    pub src: Peer,
    /// Receiver peer to store.
    pub dst: Peer,
    /// Why.
    pub reason: TcpDrop,
    /// pf would answer with a RST (seq = the segment's ack) to resynchronise a handshake.
    pub send_rst: bool,
}

/// Peers of a state created by `seg` (`pf_create_state`): the sender's window opened by
/// `len + 1` (+1 for SYN, +1 for FIN), its window scale and MSS from a SYN, its `max_win`
/// un-scaled; the receiver unknown (`seqhi = 1`, `max_win = 1`). Sender SYN_SENT, receiver
/// CLOSED; the class is `tcp.first`.
pub fn initial_peers(seg: &TcpSegment) -> (Peer, Peer) {
    let mut src = Peer {
        seqlo: seg.seq,
        seqhi: seg.seq.wrapping_add(seg.payload_len).wrapping_add(1),
        state: tcps::SYN_SENT,
        ..Peer::default()
    };
    if seg.has(flag::SYN) {
        src.seqhi = src.seqhi.wrapping_add(1);
        src.wscale = seg.wscale_field();
        src.mss = seg.mss.unwrap_or(0);
    }
    src.max_win = seg.window.max(1);
    let shift = src.wscale & WSCALE_MASK;
    if shift != 0 {
        let win = u32::from(src.max_win) + (1u32 << shift);
        src.max_win = u16::try_from((win - 1) >> shift).unwrap_or(u16::MAX);
    }
    if seg.has(flag::FIN) {
        src.seqhi = src.seqhi.wrapping_add(1);
    }
    let dst = Peer {
        seqhi: 1,
        max_win: 1,
        state: tcps::CLOSED,
        ..Peer::default()
    };
    (src, dst)
}

/// The timeout class of a TCP state whose peers are in `a` and `b` (pf's rule, symmetric):
/// both ≥ FIN_WAIT_2 → `tcp.closed`; both ≥ CLOSING → `tcp.finwait`; either < ESTABLISHED →
/// `tcp.opening`; either ≥ CLOSING → `tcp.closing`; else `tcp.established`.
pub fn timeout_for(a: u8, b: u8) -> Timeout {
    if a >= tcps::FIN_WAIT_2 && b >= tcps::FIN_WAIT_2 {
        Timeout::TcpClosed
    } else if a >= tcps::CLOSING && b >= tcps::CLOSING {
        Timeout::TcpFinWait
    } else if a < tcps::ESTABLISHED || b < tcps::ESTABLISHED {
        Timeout::TcpOpening
    } else if a >= tcps::CLOSING || b >= tcps::CLOSING {
        Timeout::TcpClosing
    } else {
        Timeout::TcpEstablished
    }
}

/// pf scrub's flag check (`pf_normalize_tcp`), applied before any state lookup. FreeBSD strips
/// FIN from a SYN|FIN and passes it; rampart does not rewrite and drops it instead.
///
/// # Errors
///
/// [`TcpDrop::BadFlags`] for SYN with RST or FIN, none of SYN/ACK/RST, or FIN/PSH/URG without
/// ACK.
pub fn check_flags(flags: u8) -> Result<(), TcpDrop> {
    let has = |bits: u8| flags & bits != 0;
    let bad = if has(flag::SYN) {
        has(flag::RST) || has(flag::FIN)
    } else {
        !has(flag::ACK | flag::RST)
    };
    if bad || (!has(flag::ACK) && has(flag::FIN | flag::PSH | flag::URG)) {
        return Err(TcpDrop::BadFlags);
    }
    Ok(())
}

/// Whether a state whose peers are both at FIN_WAIT_2 or later should be recycled by this
/// segment: a pure SYN (SYN without ACK) on a closed connection means the port pair is being
/// reused (pf's "state reuse" in `pf_test_state`). pf then removes the state and drops the
/// segment, so that the client's retransmitted SYN creates a fresh state.
pub fn is_reuse(src: &Peer, dst: &Peer, seg: &TcpSegment) -> bool {
    src.state >= tcps::FIN_WAIT_2
        && dst.state >= tcps::FIN_WAIT_2
        && seg.flags & (flag::SYN | flag::ACK) == flag::SYN
}

/// pf's `pf_tcp_track_full`: checks `seg`, sent by `src` to `dst`, against the windows and
/// returns the peers after it (see the module doc for the rules).
///
/// # Errors
///
/// [`TcpReject`] with [`TcpDrop::BadState`] when the segment is outside the windows and not a
/// loose match. The reject carries the peers to store anyway.
pub fn track_full(src: Peer, dst: Peer, seg: &TcpSegment) -> Result<TcpUpdate, TcpReject> {
    track(src, dst, seg, false)
}

/// [`track_full`] for a state whose peers this node learned from its pfsync peer and has not
/// yet seen pass the window checks: a segment that fails them may still pass as a loose
/// match, whatever the peers' states.
///
/// Why: the copy lags the master's by up to one window push plus the sync link's latency,
/// so after a takeover the receiver's first ACK can acknowledge more than the copy knows was
/// sent (check 3 fails). Strictly, that ACK and every retransmission's answer are dropped
/// and the connection stalls. pf lets the same loose match pick up streams it did not see
/// begin. The bounds widen from one `MAXACKWINDOW` to the largest window the receiver can
/// advertise (65535 shifted by its scale) around the windows: the copy's `max_win` may predate
/// the window the sender last saw.
///
/// # Errors
///
/// As [`track_full`], when even the loose bounds fail.
pub fn track_picked_up(src: Peer, dst: Peer, seg: &TcpSegment) -> Result<TcpUpdate, TcpReject> {
    track(src, dst, seg, true)
}

fn track(src: Peer, dst: Peer, seg: &TcpSegment, picked_up: bool) -> Result<TcpUpdate, TcpReject> {
    let (mut src, mut dst) = (src, dst);
    let syn = seg.has(flag::SYN);
    let fin = seg.has(flag::FIN);
    let rst = seg.has(flag::RST);
    let ack_flag = seg.has(flag::ACK);
    let mut win = u32::from(seg.window);

    let (mut sws, mut dws) = if src.wscale != 0 && dst.wscale != 0 && !syn {
        (src.wscale & WSCALE_MASK, dst.wscale & WSCALE_MASK)
    } else {
        (0, 0)
    };

    let orig_seq = seg.seq;
    let mut seq = seg.seq;
    let mut end = seq.wrapping_add(seg.payload_len);
    if syn {
        end = end.wrapping_add(1);
    }
    if src.seqlo == 0 {
        // First packet from this side: learn its window scale and initial sequence number.
        if syn {
            if let Some(mss) = seg.mss {
                src.mss = mss;
            }
            if dst.wscale & WSCALE_FLAG != 0 {
                src.wscale = seg.wscale_field();
                if src.wscale & WSCALE_FLAG != 0 {
                    // Both SYNs scale: remove the scale factor from this initial window.
                    sws = src.wscale & WSCALE_MASK;
                    win = (win + (1u32 << sws) - 1) >> sws;
                    dws = dst.wscale & WSCALE_MASK;
                } else {
                    // The answer does not scale: neither side does. Un-scale the other
                    // side's window (also handles a retransmitted SYN|ACK).
                    let unscaled = u32::from(dst.max_win) << (dst.wscale & WSCALE_MASK);
                    dst.max_win = u16::try_from(unscaled.min(TCP_MAXWIN)).unwrap_or(u16::MAX);
                    dst.wscale = 0;
                }
            }
        }
        let end_first = if fin { end.wrapping_add(1) } else { end };
        src.seqlo = seq;
        if src.state < tcps::SYN_SENT {
            src.state = tcps::SYN_SENT;
        }
        // Slide the window: seqhi may have been guessed (picked up mid-stream) or be the
        // placeholder 1.
        let room = (u32::from(dst.max_win) << dws).max(1);
        if src.seqhi == 1 || seq_geq(end_first.wrapping_add(room), src.seqhi) {
            src.seqhi = end_first.wrapping_add(room);
        }
        if win > u32::from(src.max_win) {
            src.max_win = u16::try_from(win).unwrap_or(u16::MAX);
        }
    }
    let mut data_end = end;
    if fin {
        end = end.wrapping_add(1);
    }

    let ack = if !ack_flag || (seg.ack == 0 && rst) || dst.state < tcps::SYN_SENT {
        // No ack to check (or a stack that does not set one): pass the ack checks.
        dst.seqlo
    } else {
        seg.ack
    };

    if seq == end {
        // No data, SYN or FIN: ease the sequence checks.
        seq = src.seqlo;
        data_end = seq;
        end = seq;
    }

    let ackskew = i64::from(dst.seqlo.wrapping_sub(ack) as i32);
    let max_ack = i64::from(MAXACKWINDOW);
    let dst_window = u32::from(dst.max_win) << dws;
    let rst_ok = !rst
        || orig_seq == src.seqlo
        || orig_seq == src.seqlo.wrapping_add(1)
        || orig_seq.wrapping_add(1) == src.seqlo;

    let in_window = seq_geq(src.seqhi, data_end)
        && seq_geq(seq, src.seqlo.wrapping_sub(dst_window))
        && ackskew >= -max_ack
        && ackskew <= (max_ack << sws)
        && rst_ok;

    // A picked-up copy's windows may lag the real ones by more than MAXACKWINDOW: the
    // receiver's window may have grown since, up to the largest it can ever advertise.
    let slack = if picked_up {
        MAXACKWINDOW.max(TCP_MAXWIN << dws)
    } else {
        MAXACKWINDOW
    };
    let loose = !in_window
        && (picked_up
            || dst.state < tcps::SYN_SENT
            || dst.state >= tcps::FIN_WAIT_2
            || src.state >= tcps::FIN_WAIT_2)
        && seq_geq(src.seqhi.wrapping_add(slack), data_end)
        && seq_geq(seq, src.seqlo.wrapping_sub(slack));

    if !in_window && !loose {
        let mut send_rst = false;
        if dst.state == tcps::SYN_SENT && src.state == tcps::SYN_SENT {
            // Handshake mismatch: forget the sender so its next SYN starts over.
            send_rst = !rst;
            src.seqlo = 0;
            src.seqhi = 1;
            src.max_win = 1;
        }
        return Err(TcpReject {
            src,
            dst,
            reason: TcpDrop::BadState,
            send_rst,
        });
    }

    // Both branches: grow max_win, move seqlo and the other side's seqhi forwards.
    if u32::from(src.max_win) < win {
        src.max_win = u16::try_from(win).unwrap_or(u16::MAX);
    }
    if seq_gt(end, src.seqlo) {
        src.seqlo = end;
    }
    let scaled = win << sws;
    // Without an ACK, `ack` is dst's seqlo; while dst has sent nothing that is 0, and pf's
    // `dst.seqhi = 0 + win` then stands in dst's first-packet check, which rejects about 1 in
    // 500 SYN|ACKs after a retransmitted SYN (their ISN within `max_win << scale` below
    // 2^31 + win). Leave the placeholder for dst's first packet to set.
    let ack_known = ack_flag || dst.seqlo != 0;
    if ack_known && seq_geq(ack.wrapping_add(scaled), dst.seqhi) {
        dst.seqhi = ack.wrapping_add(scaled.max(1));
    }

    if in_window {
        if syn && src.state < tcps::SYN_SENT {
            src.state = tcps::SYN_SENT;
        }
        if fin && src.state < tcps::CLOSING {
            src.state = tcps::CLOSING;
        }
        if ack_flag {
            if dst.state == tcps::SYN_SENT {
                dst.state = tcps::ESTABLISHED;
            } else if dst.state == tcps::CLOSING {
                dst.state = tcps::FIN_WAIT_2;
            }
        }
        if rst {
            src.state = tcps::TIME_WAIT;
            dst.state = tcps::TIME_WAIT;
        }
        Ok(TcpUpdate {
            src,
            dst,
            timeout: Some(timeout_for(src.state, dst.state)),
        })
    } else {
        // Loose match: FIN and RST still count, the expiry is not refreshed.
        if fin && src.state < tcps::CLOSING {
            src.state = tcps::CLOSING;
        }
        if rst {
            src.state = tcps::TIME_WAIT;
            dst.state = tcps::TIME_WAIT;
        }
        Ok(TcpUpdate {
            src,
            dst,
            timeout: None,
        })
    }
}

/// pf's `pf_tcp_track_sloppy` (`keep state (sloppy)`): flags only, no sequence checks, for
/// asymmetric routing where one direction is never seen. Never rejects.
pub fn track_sloppy(src: Peer, dst: Peer, seg: &TcpSegment) -> TcpUpdate {
    let (mut src, mut dst) = (src, dst);
    if seg.has(flag::SYN) && src.state < tcps::SYN_SENT {
        src.state = tcps::SYN_SENT;
    }
    if seg.has(flag::FIN) && src.state < tcps::CLOSING {
        src.state = tcps::CLOSING;
    }
    if seg.has(flag::ACK) {
        if dst.state == tcps::SYN_SENT {
            dst.state = tcps::ESTABLISHED;
        } else if dst.state == tcps::CLOSING {
            dst.state = tcps::FIN_WAIT_2;
        } else if src.state == tcps::SYN_SENT && dst.state < tcps::SYN_SENT {
            // Only one half of the connection is visible: an ACK after the SYN establishes.
            src.state = tcps::ESTABLISHED;
            dst.state = tcps::ESTABLISHED;
        } else if src.state == tcps::CLOSING && dst.state == tcps::ESTABLISHED && dst.seqlo == 0 {
            // Half-visible close.
            dst.state = tcps::CLOSING;
        }
    }
    if seg.has(flag::RST) {
        src.state = tcps::TIME_WAIT;
        dst.state = tcps::TIME_WAIT;
    }
    TcpUpdate {
        src,
        dst,
        timeout: Some(timeout_for(src.state, dst.state)),
    }
}

/// The check pf applies to a TCP header quoted in an ICMP error (`pf_test_state_icmp`): the
/// quoted sequence number must lie in the window of the side that sent the quoted segment
/// (`sender`; `receiver` is the other side). Only the first 8 bytes of the quoted header are
/// guaranteed, so there is no ack check. Sloppy states skip it.
pub fn icmp_error_seq_ok(sender: &Peer, receiver: &Peer, seq: u32) -> bool {
    let dws = if sender.wscale != 0 && receiver.wscale != 0 {
        receiver.wscale & WSCALE_MASK
    } else {
        0
    };
    seq_geq(sender.seqhi, seq)
        && seq_geq(
            seq,
            sender
                .seqlo
                .wrapping_sub(u32::from(receiver.max_win) << dws),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::flag::{ACK, FIN, PSH, RST, SYN, URG};
    use proptest::prelude::*;

    fn seg(flags: u8, seq: u32, ack: u32, window: u16, len: u32) -> TcpSegment {
        TcpSegment {
            flags,
            seq,
            ack,
            window,
            payload_len: len,
            wscale: None,
            mss: None,
        }
    }

    /// A connection tracked from the client's SYN: (client, server) peers.
    struct Conn {
        c: Peer,
        s: Peer,
    }

    impl Conn {
        fn open(syn: &TcpSegment) -> Conn {
            let (c, s) = initial_peers(syn);
            Conn { c, s }
        }
        /// Client → server.
        fn cs(&mut self, seg: &TcpSegment) -> Result<Option<Timeout>, TcpReject> {
            let up = track_full(self.c, self.s, seg)?;
            self.c = up.src;
            self.s = up.dst;
            Ok(up.timeout)
        }
        /// Server → client.
        fn sc(&mut self, seg: &TcpSegment) -> Result<Option<Timeout>, TcpReject> {
            let up = track_full(self.s, self.c, seg)?;
            self.s = up.src;
            self.c = up.dst;
            Ok(up.timeout)
        }
    }

    const CISN: u32 = 1_000;
    const SISN: u32 = 5_000_000;

    fn handshake() -> Conn {
        let mut conn = Conn::open(&seg(SYN, CISN, 0, 64_240, 0));
        assert_eq!((conn.c.state, conn.s.state), (tcps::SYN_SENT, tcps::CLOSED));
        assert_eq!(conn.c.seqhi, CISN + 2);
        // SYN|ACK.
        let t = conn.sc(&seg(SYN | ACK, SISN, CISN + 1, 65_160, 0)).unwrap();
        assert_eq!(t, Some(Timeout::TcpOpening));
        assert_eq!(
            (conn.c.state, conn.s.state),
            (tcps::ESTABLISHED, tcps::SYN_SENT)
        );
        // ACK.
        let t = conn.cs(&seg(ACK, CISN + 1, SISN + 1, 502, 0)).unwrap();
        assert_eq!(t, Some(Timeout::TcpEstablished));
        assert_eq!(
            (conn.c.state, conn.s.state),
            (tcps::ESTABLISHED, tcps::ESTABLISHED)
        );
        conn
    }

    #[test]
    fn test_handshake_data_fin_fin() {
        let mut conn = handshake();
        // Data both ways.
        let t = conn
            .cs(&seg(ACK | PSH, CISN + 1, SISN + 1, 502, 100))
            .unwrap();
        assert_eq!(t, Some(Timeout::TcpEstablished));
        assert_eq!(conn.c.seqlo, CISN + 101);
        let t = conn
            .sc(&seg(ACK | PSH, SISN + 1, CISN + 101, 509, 1000))
            .unwrap();
        assert_eq!(t, Some(Timeout::TcpEstablished));
        assert_eq!(conn.s.seqlo, SISN + 1001);
        // Client FIN.
        let t = conn
            .cs(&seg(ACK | FIN, CISN + 101, SISN + 1001, 502, 0))
            .unwrap();
        assert_eq!(t, Some(Timeout::TcpClosing));
        assert_eq!(conn.c.state, tcps::CLOSING);
        // Server acks it and sends its own FIN.
        let t = conn.sc(&seg(ACK, SISN + 1001, CISN + 102, 509, 0)).unwrap();
        assert_eq!(t, Some(Timeout::TcpClosing));
        assert_eq!(conn.c.state, tcps::FIN_WAIT_2);
        let t = conn
            .sc(&seg(ACK | FIN, SISN + 1001, CISN + 102, 509, 0))
            .unwrap();
        assert_eq!(t, Some(Timeout::TcpFinWait));
        assert_eq!(conn.s.state, tcps::CLOSING);
        // Last ACK: both FIN_WAIT_2, the state is closed (pf then uses tcp.closed).
        let t = conn.cs(&seg(ACK, CISN + 102, SISN + 1002, 502, 0)).unwrap();
        assert_eq!(t, Some(Timeout::TcpClosed));
        assert_eq!(
            (conn.c.state, conn.s.state),
            (tcps::FIN_WAIT_2, tcps::FIN_WAIT_2)
        );
        // A stray retransmitted ACK after close is a loose match at worst, never a drop.
        assert!(conn.cs(&seg(ACK, CISN + 102, SISN + 1002, 502, 0)).is_ok());
        // A new SYN on the closed pair is a reuse.
        assert!(is_reuse(&conn.c, &conn.s, &seg(SYN, 77, 0, 1000, 0)));
        assert!(!is_reuse(&conn.c, &conn.s, &seg(SYN | ACK, 77, 0, 1000, 0)));
    }

    #[test]
    fn test_synack_passes_after_a_retransmitted_syn_whatever_its_isn() {
        // The first SYN made the state but was lost (a full neighbour queue, say); its
        // retransmission must not plant a window guess that rejects the answer.
        let syn = TcpSegment {
            wscale: Some(7),
            mss: Some(1460),
            ..seg(SYN, 4_099_077_307, 0, 64_240, 0)
        };
        let (c, s) = initial_peers(&syn);
        let up = track_full(c, s, &syn).unwrap();
        let (c, s) = (up.src, up.dst);
        // 2_139_361_844 was rejected before the fix; the sweep covers the whole space.
        for sisn in (0..4096u32)
            .map(|i| i << 20 ^ 0x1234)
            .chain([2_139_361_844])
        {
            let synack = TcpSegment {
                wscale: Some(7),
                mss: Some(1460),
                ..seg(SYN | ACK, sisn, 4_099_077_308, 65_160, 0)
            };
            assert!(track_full(s, c, &synack).is_ok(), "SYN|ACK with ISN {sisn}");
        }
    }

    #[test]
    fn test_rst_moves_both_to_time_wait() {
        let mut conn = handshake();
        let t = conn.sc(&seg(RST, SISN + 1, 0, 0, 0)).unwrap();
        assert_eq!(t, Some(Timeout::TcpClosed));
        assert_eq!(
            (conn.c.state, conn.s.state),
            (tcps::TIME_WAIT, tcps::TIME_WAIT)
        );
    }

    #[test]
    fn test_rst_needs_exact_sequence() {
        let mut conn = handshake();
        // In window but not at seqlo ± 1: rejected.
        let err = conn.sc(&seg(RST, SISN + 500, 0, 0, 0)).unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
        assert_eq!(conn.s.state, tcps::ESTABLISHED);
        // seqlo + 1 and seqlo - 1 are accepted.
        let mut c2 = handshake();
        assert!(c2.sc(&seg(RST | ACK, SISN + 2, CISN + 1, 0, 0)).is_ok());
        let mut c3 = handshake();
        assert!(c3.sc(&seg(RST, SISN, 0, 0, 0)).is_ok());
    }

    #[test]
    fn test_forged_out_of_window_rejected() {
        let mut conn = handshake();
        let before = (conn.c, conn.s);
        // Far beyond the server's window.
        let err = conn
            .cs(&seg(ACK | PSH, CISN + 10_000_000, SISN + 1, 502, 100))
            .unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
        assert!(!err.send_rst);
        assert_eq!((err.src, err.dst), before);
        // Acking data never sent (more than one window forward).
        let err = conn
            .cs(&seg(ACK, CISN + 1, SISN + 1 + 200_000, 502, 0))
            .unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
        // A blind data segment more than a window back.
        let err = conn
            .sc(&seg(ACK, SISN.wrapping_sub(300_000), CISN + 1, 509, 10))
            .unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
    }

    #[test]
    fn test_window_scaling_only_when_both_syns_carry_it() {
        let mut syn = seg(SYN, CISN, 0, 64_240, 0);
        syn.wscale = Some(7);
        let mut conn = Conn::open(&syn);
        assert_eq!(conn.c.wscale, WSCALE_FLAG | 7);
        // 64240 >> 7 rounded up.
        assert_eq!(conn.c.max_win, 502);
        let mut synack = seg(SYN | ACK, SISN, CISN + 1, 65_160, 0);
        synack.wscale = Some(9);
        conn.sc(&synack).unwrap();
        assert_eq!(conn.s.wscale, WSCALE_FLAG | 9);
        assert_eq!(conn.s.max_win, 128); // 65160 >> 9, rounded up
        conn.cs(&seg(ACK, CISN + 1, SISN + 1, 502, 0)).unwrap();
        // Server may send up to the client's scaled window: 502 << 7 = 64256 bytes.
        assert_eq!(conn.s.seqhi, SISN + 1 + (502 << 7));
        assert!(conn.sc(&seg(ACK, SISN + 1, CISN + 1, 128, 64_000)).is_ok());
        // Beyond it: rejected.
        let err = conn
            .sc(&seg(ACK, SISN + 64_001, CISN + 1, 128, 2_000))
            .unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
        // The client opens a bigger window (scaled): now it fits.
        conn.cs(&seg(ACK, CISN + 1, SISN + 64_001, 2_000, 0))
            .unwrap();
        assert_eq!(conn.s.seqhi, SISN + 64_001 + (2_000 << 7));
        assert!(
            conn.sc(&seg(ACK, SISN + 64_001, CISN + 1, 128, 2_000))
                .is_ok()
        );
    }

    #[test]
    fn test_no_scaling_when_answer_lacks_option() {
        let mut syn = seg(SYN, CISN, 0, 64_240, 0);
        syn.wscale = Some(7);
        let mut conn = Conn::open(&syn);
        // SYN|ACK without the option: the client's window is un-scaled again, scale dropped.
        conn.sc(&seg(SYN | ACK, SISN, CISN + 1, 65_160, 0)).unwrap();
        assert_eq!(conn.c.wscale, 0);
        assert_eq!(conn.s.wscale, 0);
        assert_eq!(conn.c.max_win, 64_256);
        conn.cs(&seg(ACK, CISN + 1, SISN + 1, 502, 0)).unwrap();
        // Unscaled: the window the SYN opened (64256 bytes) stands, a 502-byte ack window
        // does not shrink it, and nothing is scaled up.
        assert_eq!(conn.s.seqhi, SISN + 1 + 64_256);
        assert!(
            conn.sc(&seg(ACK, SISN + 1, CISN + 1, 65_160, 64_256))
                .is_ok()
        );
        let err = conn
            .sc(&seg(ACK, SISN + 1, CISN + 1, 65_160, 64_300))
            .unwrap_err();
        assert_eq!(err.reason, TcpDrop::BadState);
    }

    #[test]
    fn test_simultaneous_syn_mismatch_resets_sender() {
        // Both sides SYN_SENT (simultaneous open, or a SYN|ACK whose ACK was lost).
        let mut c = Conn::open(&seg(SYN, CISN, 0, 1000, 0));
        c.s.state = tcps::SYN_SENT;
        c.s.seqlo = SISN;
        c.s.seqhi = SISN + 2;
        let err = c
            .sc(&seg(ACK, SISN + 900_000, CISN + 1, 1000, 10))
            .unwrap_err();
        assert!(err.send_rst);
        assert_eq!((err.src.seqlo, err.src.seqhi, err.src.max_win), (0, 1, 1));
    }

    #[test]
    fn test_loose_match_does_not_refresh() {
        // Picked up mid-stream: a state made from a plain ACK (pf `flags any`).
        let mut conn = Conn::open(&seg(ACK, CISN, SISN, 1000, 100));
        // The server has sent nothing: anything within MAXACKWINDOW passes loosely.
        let t = conn
            .cs(&seg(ACK, CISN + 100 + 40_000, SISN, 1000, 100))
            .unwrap();
        assert_eq!(t, None);
    }

    #[test]
    fn test_sloppy() {
        let (c, s) = initial_peers(&seg(SYN, 1, 0, 100, 0));
        // Only the client side is visible: SYN, then ACK establishes both.
        let up = track_sloppy(c, s, &seg(ACK, 2, 12345, 100, 0));
        assert_eq!(
            (up.src.state, up.dst.state),
            (tcps::ESTABLISHED, tcps::ESTABLISHED)
        );
        assert_eq!(up.timeout, Some(Timeout::TcpEstablished));
        // Half-visible close: a FIN|ACK while the invisible side never sent moves it to
        // CLOSING too; the next ACK acknowledges it.
        let up = track_sloppy(up.src, up.dst, &seg(ACK | FIN, 2, 12345, 100, 0));
        assert_eq!((up.src.state, up.dst.state), (tcps::CLOSING, tcps::CLOSING));
        assert_eq!(up.timeout, Some(Timeout::TcpFinWait));
        let up = track_sloppy(up.src, up.dst, &seg(ACK, 3, 12346, 100, 0));
        assert_eq!(up.dst.state, tcps::FIN_WAIT_2);
        // Wildly out-of-window data still passes.
        assert!(
            track_sloppy(up.src, up.dst, &seg(ACK, 999_999_999, 1, 1, 1))
                .timeout
                .is_some()
        );
    }

    #[test]
    fn test_timeout_classes() {
        use tcps::*;
        assert_eq!(timeout_for(SYN_SENT, CLOSED), Timeout::TcpOpening);
        assert_eq!(timeout_for(ESTABLISHED, SYN_SENT), Timeout::TcpOpening);
        assert_eq!(
            timeout_for(ESTABLISHED, ESTABLISHED),
            Timeout::TcpEstablished
        );
        assert_eq!(timeout_for(CLOSING, ESTABLISHED), Timeout::TcpClosing);
        assert_eq!(timeout_for(ESTABLISHED, FIN_WAIT_2), Timeout::TcpClosing);
        assert_eq!(timeout_for(CLOSING, CLOSING), Timeout::TcpFinWait);
        assert_eq!(timeout_for(FIN_WAIT_2, CLOSING), Timeout::TcpFinWait);
        assert_eq!(timeout_for(FIN_WAIT_2, FIN_WAIT_2), Timeout::TcpClosed);
        assert_eq!(timeout_for(TIME_WAIT, TIME_WAIT), Timeout::TcpClosed);
    }

    #[test]
    fn test_flags() {
        assert!(check_flags(SYN).is_ok());
        assert!(check_flags(SYN | ACK).is_ok());
        assert!(check_flags(ACK).is_ok());
        assert!(check_flags(RST).is_ok());
        assert!(check_flags(ACK | FIN | PSH | URG).is_ok());
        assert_eq!(check_flags(SYN | RST), Err(TcpDrop::BadFlags));
        assert_eq!(check_flags(SYN | FIN), Err(TcpDrop::BadFlags));
        assert_eq!(check_flags(0), Err(TcpDrop::BadFlags));
        assert_eq!(check_flags(FIN), Err(TcpDrop::BadFlags));
        assert_eq!(check_flags(RST | PSH), Err(TcpDrop::BadFlags));
        assert_eq!(check_flags(FIN | PSH | URG), Err(TcpDrop::BadFlags));
    }

    #[test]
    fn test_segment_from_packet() {
        use crate::wire::TcpRepr;
        let repr = TcpRepr {
            src_port: 1,
            dst_port: 2,
            seq_number: 7,
            ack_number: 0,
            flags: SYN,
            window_len: 1000,
            max_seg_size: Some(1460),
            window_scale: Some(20),
            payload_len: 5,
        };
        let mut buf = vec![0u8; repr.buffer_len() + 5];
        repr.emit(&mut TcpPacket::new_unchecked(&mut buf[..]));
        let s = TcpSegment::from_packet(&TcpPacket::new_unchecked(&buf[..]));
        assert_eq!((s.seq, s.window, s.payload_len), (7, 1000, 5));
        assert_eq!((s.wscale, s.mss), (Some(20), Some(1460)));
        // Clamped to 14 when used.
        assert_eq!(initial_peers(&s).0.wscale, WSCALE_FLAG | 14);
    }

    #[test]
    fn test_icmp_error_seq() {
        let conn = handshake();
        assert!(icmp_error_seq_ok(&conn.c, &conn.s, CISN + 1));
        assert!(!icmp_error_seq_ok(&conn.c, &conn.s, CISN + 5_000_000));
    }

    fn arb_peer() -> impl Strategy<Value = Peer> {
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            0u8..=tcps::TIME_WAIT,
            prop_oneof![Just(0u8), (0u8..=15).prop_map(|s| s | WSCALE_FLAG)],
        )
            .prop_map(|(seqlo, seqhi, max_win, state, wscale)| Peer {
                seqlo,
                seqhi,
                max_win,
                state,
                wscale,
                ..Peer::default()
            })
    }

    fn arb_segment() -> impl Strategy<Value = TcpSegment> {
        (
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            0u32..70_000,
            proptest::option::of(any::<u8>()),
        )
            .prop_map(
                |(flags, seq, ack, window, payload_len, wscale)| TcpSegment {
                    flags,
                    seq,
                    ack,
                    window,
                    payload_len,
                    wscale,
                    mss: None,
                },
            )
    }

    proptest! {
        #[test]
        fn tracker_never_panics_nor_moves_seqlo_back(
            src in arb_peer(), dst in arb_peer(), seg in arb_segment()
        ) {
            let _ = track_sloppy(src, dst, &seg);
            let _ = initial_peers(&seg);
            let _ = check_flags(seg.flags);
            match track_full(src, dst, &seg) {
                Ok(up) => {
                    if src.seqlo != 0 {
                        prop_assert!(seq_geq(up.src.seqlo, src.seqlo));
                    }
                    // The receiver's seqlo is never touched; its seqhi only moves forward.
                    prop_assert_eq!(up.dst.seqlo, dst.seqlo);
                    // Peer states only move forward.
                    prop_assert!(up.src.state >= src.state && up.dst.state >= dst.state);
                }
                Err(rej) => {
                    prop_assert_eq!(rej.dst.seqlo, dst.seqlo);
                    if src.seqlo != 0 {
                        // Unchanged, or pf's documented handshake reset.
                        prop_assert!(rej.src.seqlo == src.seqlo
                            || (rej.src.seqlo == 0 && rej.src.state == tcps::SYN_SENT));
                    }
                }
            }
        }

        #[test]
        fn tracked_connection_keeps_seqlo_monotonic(
            steps in proptest::collection::vec((any::<bool>(), arb_segment()), 1..40)
        ) {
            let mut conn = Conn::open(&seg(SYN, 1_000, 0, 1000, 0));
            for (from_client, s) in steps {
                let (before_c, before_s) = (conn.c.seqlo, conn.s.seqlo);
                let res = if from_client { conn.cs(&s) } else { conn.sc(&s) };
                if res.is_ok() {
                    if before_c != 0 { prop_assert!(seq_geq(conn.c.seqlo, before_c)); }
                    if before_s != 0 { prop_assert!(seq_geq(conn.s.seqlo, before_s)); }
                }
            }
        }
    }
}

//! Authenticated pfsync frames: what pf lacks (anyone on the sync segment can insert or
//! delete states, pfsync.md §1). With a key set in `<rampart>`, every frame carries a
//! trailer after the pfsync frame; without one, frames are plain pfsync for pf peers.
//!
//! # Format
//!
//! ```text
//! IPv4 (proto 240) | pfsync frame (header.len bytes) | trailer (44 bytes)
//!
//! trailer   offset size
//!   magic      0    4   "RPS1"
//!   counter    4    8   big-endian; high 32 bits: the sender's epoch (Unix seconds when it
//!                       started), low 32 bits: frame sequence from 1
//!   tag       12   32   HMAC-SHA256(key, pfsync frame ‖ magic ‖ counter)
//! ```
//!
//! The pfsync header's `len` does not count the trailer, so the frame itself is unchanged;
//! the IP total length does.
//!
//! # Replay
//!
//! The receiver keeps, per sender address, the newest epoch and a 64-frame window below the
//! highest sequence seen (as IPsec does). A frame is accepted once: a newer epoch (the
//! sender restarted) resets the window, an older epoch or a sequence already seen or below
//! the window is a replay. A sender whose clock went back across a restart is refused until
//! its epoch passes the old one; the counter says so.
//!
//! # Both sides say why
//!
//! A node with a key drops frames without a trailer (`auth_missing`); a node without a key
//! drops frames that carry one (`auth_unexpected`) rather than trusting what it cannot check.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Trailer magic.
pub const MAGIC: [u8; 4] = *b"RPS1";
/// Trailer bytes.
pub const TRAILER_LEN: usize = 4 + 8 + 32;
/// Frames below the highest sequence seen that may still arrive (reordering).
const WINDOW: u32 = 64;
/// Shortest key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 16;

/// Why an incoming frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AuthError {
    /// Shorter than its pfsync header says.
    #[error("frame shorter than its pfsync header says")]
    Truncated,
    /// We have a key and the frame carries no trailer.
    #[error("unauthenticated frame (the peer has no sync key, or another one)")]
    Missing,
    /// We have no key and the frame carries a trailer.
    #[error("authenticated frame but no sync key is set here")]
    Unexpected,
    /// The tag does not match: wrong key or altered frame.
    #[error("bad authentication tag (wrong key or forged frame)")]
    BadTag,
    /// The counter was seen before or is too old.
    #[error("replayed frame")]
    Replay,
}

impl AuthError {
    /// Stable counter name.
    pub fn name(self) -> &'static str {
        match self {
            AuthError::Truncated => "auth_truncated",
            AuthError::Missing => "auth_missing",
            AuthError::Unexpected => "auth_unexpected",
            AuthError::BadTag => "auth_bad_tag",
            AuthError::Replay => "auth_replay",
        }
    }
}

/// A key that is too short to be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sync key must be at least {MIN_KEY_LEN} bytes")]
pub struct KeyTooShort;

/// A shared sync key, kept as the HMAC state after the key (cloned for each frame).
#[derive(Clone)]
pub struct SyncKey(HmacSha256);

impl std::fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SyncKey(..)")
    }
}

impl SyncKey {
    /// A key from its bytes.
    ///
    /// # Errors
    /// [`KeyTooShort`] below [`MIN_KEY_LEN`] bytes.
    pub fn new(bytes: &[u8]) -> Result<SyncKey, KeyTooShort> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(KeyTooShort);
        }
        // HMAC takes keys of any length; the error cannot happen.
        HmacSha256::new_from_slice(bytes)
            .map(SyncKey)
            .map_err(|_| KeyTooShort)
    }

    fn mac(&self) -> HmacSha256 {
        self.0.clone()
    }
}

/// The pfsync frame's length from its header, if the packet holds that much.
fn frame_len(packet: &[u8]) -> Result<usize, AuthError> {
    let len = packet
        .get(2..4)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(AuthError::Truncated)?;
    if len > packet.len() {
        return Err(AuthError::Truncated);
    }
    Ok(len)
}

/// Appends trailers to outgoing frames.
#[derive(Debug)]
pub struct Signer {
    key: SyncKey,
    epoch: u32,
    seq: u32,
}

impl Signer {
    /// A signer for a node that started at `epoch` (Unix seconds).
    pub fn new(key: SyncKey, epoch: u32) -> Signer {
        Signer { key, epoch, seq: 0 }
    }

    /// Appends the trailer to `frame` (a whole pfsync frame, nothing after it).
    pub fn seal(&mut self, frame: &mut Vec<u8>) {
        self.seq = self.seq.wrapping_add(1);
        if self.seq == 0 {
            // 2^32 frames in one run: move to the next epoch rather than repeat a counter.
            self.epoch = self.epoch.wrapping_add(1);
            self.seq = 1;
        }
        let counter = (u64::from(self.epoch) << 32) | u64::from(self.seq);
        let mut mac = self.key.mac();
        mac.update(frame);
        mac.update(&MAGIC);
        mac.update(&counter.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        frame.extend_from_slice(&MAGIC);
        frame.extend_from_slice(&counter.to_be_bytes());
        frame.extend_from_slice(&tag);
    }
}

/// Replay state of one sender.
#[derive(Debug, Clone, Copy)]
struct Window {
    epoch: u32,
    highest: u32,
    /// Bit `i`: sequence `highest - i` was seen.
    seen: u64,
}

/// Checks incoming frames.
#[derive(Debug)]
pub struct Verifier {
    key: Option<SyncKey>,
    senders: HashMap<u32, Window>,
}

impl Verifier {
    /// A verifier with `key`, or one that only accepts plain frames.
    pub fn new(key: Option<SyncKey>) -> Verifier {
        Verifier {
            key,
            senders: HashMap::new(),
        }
    }

    /// Checks `packet` (the IP payload) from `sender` (its IPv4 address) and returns the
    /// pfsync frame in it.
    ///
    /// # Errors
    /// [`AuthError`] says why the frame must be dropped.
    pub fn open<'a>(&mut self, sender: u32, packet: &'a [u8]) -> Result<&'a [u8], AuthError> {
        let len = frame_len(packet)?;
        let (frame, rest) = packet.split_at(len);
        let trailer = rest.get(..TRAILER_LEN).filter(|t| t.starts_with(&MAGIC));
        let Some(key) = &self.key else {
            return match trailer {
                Some(_) => Err(AuthError::Unexpected),
                None => Ok(frame),
            };
        };
        let trailer = trailer.ok_or(AuthError::Missing)?;
        let (counter_bytes, tag) = trailer.get(4..).ok_or(AuthError::Missing)?.split_at(8);
        let mut mac = key.mac();
        mac.update(frame);
        mac.update(&MAGIC);
        mac.update(counter_bytes);
        mac.verify_slice(tag).map_err(|_| AuthError::BadTag)?;
        let mut c = [0u8; 8];
        c.copy_from_slice(counter_bytes);
        let counter = u64::from_be_bytes(c);
        self.accept(sender, (counter >> 32) as u32, counter as u32)?;
        Ok(frame)
    }

    /// The replay check, after the tag is good (so a forger cannot move the window).
    fn accept(&mut self, sender: u32, epoch: u32, seq: u32) -> Result<(), AuthError> {
        let fresh = Window {
            epoch,
            highest: seq,
            seen: 1,
        };
        let w = self
            .senders
            .entry(sender)
            .or_insert(Window { seen: 0, ..fresh });
        if epoch > w.epoch || w.seen == 0 {
            *w = fresh;
            return Ok(());
        }
        if epoch < w.epoch {
            return Err(AuthError::Replay);
        }
        if seq > w.highest {
            let shift = seq - w.highest;
            w.seen = if shift >= 64 { 0 } else { w.seen << shift };
            w.seen |= 1;
            w.highest = seq;
            return Ok(());
        }
        let behind = w.highest - seq;
        if behind >= WINDOW {
            return Err(AuthError::Replay);
        }
        let bit = 1u64 << behind;
        if w.seen & bit != 0 {
            return Err(AuthError::Replay);
        }
        w.seen |= bit;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SyncKey {
        SyncKey::new(&[b; 32]).unwrap()
    }

    /// A minimal pfsync frame: header (len 24) and an EOF subheader.
    fn frame() -> Vec<u8> {
        let mut f = vec![5, 0, 0, 24];
        f.extend_from_slice(&[0; 16]);
        f.extend_from_slice(&[12, 0, 0, 1]);
        f
    }

    #[test]
    fn test_sealed_frames_open_once() {
        let mut signer = Signer::new(key(1), 1000);
        let mut verifier = Verifier::new(Some(key(1)));
        let mut f = frame();
        signer.seal(&mut f);
        assert_eq!(f.len(), 24 + TRAILER_LEN);
        assert_eq!(verifier.open(7, &f), Ok(&frame()[..]));
        assert_eq!(verifier.open(7, &f), Err(AuthError::Replay));
        // Another sender's window is its own.
        assert!(verifier.open(8, &f).is_ok());
    }

    #[test]
    fn test_wrong_key_forgery_and_missing_trailer_are_refused() {
        let mut f = frame();
        Signer::new(key(2), 1).seal(&mut f);
        assert_eq!(
            Verifier::new(Some(key(1))).open(1, &f),
            Err(AuthError::BadTag)
        );
        let mut g = frame();
        Signer::new(key(1), 1).seal(&mut g);
        g[10] ^= 1; // inside the checksum field of the header
        assert_eq!(
            Verifier::new(Some(key(1))).open(1, &g),
            Err(AuthError::BadTag)
        );
        assert_eq!(
            Verifier::new(Some(key(1))).open(1, &frame()),
            Err(AuthError::Missing)
        );
        assert_eq!(Verifier::new(None).open(1, &f), Err(AuthError::Unexpected));
        assert_eq!(Verifier::new(None).open(1, &frame()), Ok(&frame()[..]));
        assert_eq!(
            Verifier::new(None).open(1, &frame()[..10]),
            Err(AuthError::Truncated)
        );
    }

    #[test]
    fn test_reordering_within_the_window_and_restarts() {
        let mut signer = Signer::new(key(1), 50);
        let frames: Vec<_> = (0..100)
            .map(|_| {
                let mut f = frame();
                signer.seal(&mut f);
                f
            })
            .collect();
        let mut v = Verifier::new(Some(key(1)));
        assert!(v.open(1, &frames[90]).is_ok());
        assert!(
            v.open(1, &frames[40]).is_ok(),
            "50 behind: inside the window"
        );
        assert_eq!(v.open(1, &frames[10]), Err(AuthError::Replay), "too old");
        assert_eq!(v.open(1, &frames[40]), Err(AuthError::Replay));
        assert!(v.open(1, &frames[99]).is_ok());
        // The sender restarts with a later epoch: its sequence starts again.
        let mut restarted = Signer::new(key(1), 60);
        let mut f = frame();
        restarted.seal(&mut f);
        assert!(v.open(1, &f).is_ok());
        // Frames of the old run are now replays.
        assert_eq!(v.open(1, &frames[98]), Err(AuthError::Replay));
    }

    #[test]
    fn test_short_keys_are_refused() {
        assert!(matches!(SyncKey::new(b"short"), Err(KeyTooShort)));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_packets_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = Verifier::new(Some(key(1))).open(1, &bytes);
            let _ = Verifier::new(None).open(1, &bytes);
        }
    }
}

//! Writing frames: messages packed into a caller's buffer up to a size limit, consecutive
//! messages of one action under one subheader, an EOF region at the end, the header last
//! (FreeBSD's `pfsync_sendout`, pfsync.md §2).
//!
//! ```text
//! let mut b = FrameBuilder::new(&mut buf, mtu - 20)?;  // the IPv4 header is not ours
//! while let Some(msg) = queue.front() {
//!     match b.push(msg) {
//!         Ok(()) => { queue.pop_front(); }
//!         Err(PushError::Full) => break,             // send this frame, start another
//!         Err(PushError::TooLarge) => { queue.pop_front(); } // fits no frame: drop, count
//!     }
//! }
//! let len = b.finish();                               // &buf[..len] is the frame
//! ```
//!
//! The limit is the frame's pfsync bytes: the sync port's MTU less the IP header (and less
//! any authentication trailer). FreeBSD 14+ reserves 40 bytes of IP header even for IPv4,
//! so its own frames stop 20 bytes short of what it accepts. Pushing never allocates.

use thiserror::Error;

use super::header::{Action, HEADER_LEN, Header, SUBHEADER_LEN, Subheader};
use super::message::Message;

/// Smallest useful limit: a header and the EOF region.
pub const MIN_FRAME: usize = HEADER_LEN + SUBHEADER_LEN;

/// The buffer or limit cannot hold even an empty frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a pfsync frame needs at least {MIN_FRAME} bytes")]
pub struct LimitTooSmall;

/// Why a message was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PushError {
    /// No room left in this frame: finish it and push the message into the next.
    #[error("frame full")]
    Full,
    /// The message does not fit even an empty frame of this limit.
    #[error("message larger than any frame of this limit")]
    TooLarge,
}

#[derive(Debug, Clone, Copy)]
struct Region {
    action: Action,
    /// Offset of its subheader.
    at: usize,
    count: u16,
}

/// Builds one frame in a caller's buffer.
#[derive(Debug)]
pub struct FrameBuilder<'b> {
    buf: &'b mut [u8],
    limit: usize,
    /// Bytes written so far, header included, EOF not.
    len: usize,
    region: Option<Region>,
    checksum: [u8; 16],
}

impl<'b> FrameBuilder<'b> {
    /// A builder for a frame of at most `limit` bytes (and at most `buf.len()` and 65535, the
    /// header length field's range) in `buf`.
    ///
    /// # Errors
    ///
    /// [`LimitTooSmall`] if that leaves less than [`MIN_FRAME`] bytes.
    pub fn new(buf: &'b mut [u8], limit: usize) -> Result<Self, LimitTooSmall> {
        let limit = limit.min(buf.len()).min(usize::from(u16::MAX));
        if limit < MIN_FRAME {
            return Err(LimitTooSmall);
        }
        Ok(FrameBuilder {
            buf,
            limit,
            len: HEADER_LEN,
            region: None,
            checksum: [0; 16],
        })
    }

    /// Sets the header's ruleset checksum (zeros by default, which is what pfsync.md §5.6
    /// recommends for a node without a pf ruleset).
    pub fn set_checksum(&mut self, checksum: [u8; 16]) {
        self.checksum = checksum;
    }

    /// Bytes the frame would have if finished now (EOF included).
    pub fn len(&self) -> usize {
        self.len + SUBHEADER_LEN
    }

    /// Whether no message has been added.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// The frame's size limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How full the frame is: [`len`](Self::len) over [`limit`](Self::limit), 0 to 1.
    pub fn fill(&self) -> f64 {
        self.len() as f64 / self.limit as f64
    }

    /// Bytes `msg` would add (its subheader too when it starts a region).
    pub fn cost(&self, msg: &Message) -> usize {
        let sub = if self.joins(msg.action()) {
            0
        } else {
            SUBHEADER_LEN
        };
        msg.wire_len() + sub
    }

    /// Whether a message of `action` goes into the current region.
    fn joins(&self, action: Action) -> bool {
        self.region
            .is_some_and(|r| r.action == action && r.count < u16::MAX)
    }

    /// Adds `msg`, after the previous message's region if it has the same action.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] if it does not fit what is left (nothing is written);
    /// [`PushError::TooLarge`] if it would not fit an empty frame either.
    pub fn push(&mut self, msg: &Message) -> Result<(), PushError> {
        let cost = self.cost(msg);
        if self.len + cost + SUBHEADER_LEN > self.limit {
            return Err(if MIN_FRAME + SUBHEADER_LEN + msg.wire_len() > self.limit {
                PushError::TooLarge
            } else {
                PushError::Full
            });
        }
        let action = msg.action();
        let region = match self.region {
            Some(r) if self.joins(action) => r,
            _ => {
                self.close_region();
                let r = Region {
                    action,
                    at: self.len,
                    count: 0,
                };
                self.len += SUBHEADER_LEN;
                r
            }
        };
        let end = self.len + msg.wire_len();
        if let Some(out) = self.buf.get_mut(self.len..end) {
            msg.emit(out);
        }
        self.len = end;
        self.region = Some(Region {
            count: region.count + 1,
            ..region
        });
        Ok(())
    }

    /// Ends the frame (EOF region, then the header) and returns its length: the frame is the
    /// first that many bytes of the buffer.
    pub fn finish(mut self) -> usize {
        self.close_region();
        let eof = Subheader {
            action: Action::Eof.code(),
            count: 1,
        };
        if let Some(out) = self.buf.get_mut(self.len..) {
            eof.emit(out);
        }
        self.len += SUBHEADER_LEN;
        let header = Header {
            // `new` capped the limit at u16::MAX and `len` never passes it.
            len: u16::try_from(self.len).unwrap_or(u16::MAX),
            checksum: self.checksum,
        };
        header.emit(self.buf);
        self.len
    }

    fn close_region(&mut self) {
        if let Some(r) = self.region.take() {
            let sub = Subheader {
                action: r.action.code(),
                count: r.count,
            };
            if let Some(out) = self.buf.get_mut(r.at..) {
                sub.emit(out);
            }
        }
    }
}

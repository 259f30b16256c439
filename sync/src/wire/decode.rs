//! Reading a frame: the envelope first, then its messages one by one.
//!
//! ```text
//! let frame = Frame::parse(payload)?;        // version, length: or the whole frame goes
//! for item in frame.messages() {
//!     match item {
//!         Ok(msg) => apply(msg),
//!         Err(rej) => counts.add(rej.reason), // a record skipped, or the end of the frame
//!     }
//! }
//! ```
//!
//! As pf reads it (pfsync.md §4): regions follow each other until the header length is used
//! up or an EOF region ends the frame. A region whose messages would run past the header
//! length ends the frame ([`DropReason::Truncated`]); so does an action whose message size is
//! unknown ([`DropReason::UnknownAction`]), since nothing after it can be found. A record that
//! fails its checks is skipped and the next one read. Records of actions that rampart does
//! not apply but whose size is known (TDB; the full-state DEL that FreeBSD 13 accepted) are
//! skipped one by one as [`DropReason::IgnoredAction`]. Nothing here panics or allocates.

use super::header::{Action, HEADER_LEN, Header, SUBHEADER_LEN, Subheader};
use super::message::Message;
use super::reason::DropReason;

/// A frame whose envelope checked out.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    header: Header,
    body: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Checks the header of `payload` (the IP payload, starting at the pfsync header);
    /// bytes beyond the header's length are not part of the frame.
    ///
    /// # Errors
    ///
    /// [`DropReason::ShortFrame`], [`DropReason::BadVersion`], [`DropReason::BadLength`].
    pub fn parse(payload: &'a [u8]) -> Result<Frame<'a>, DropReason> {
        let header = Header::parse(payload)?;
        let body = payload
            .get(HEADER_LEN..usize::from(header.len))
            .ok_or(DropReason::BadLength)?;
        Ok(Frame { header, body })
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The messages, in frame order, with the records and faults the decoder dropped.
    pub fn messages(&self) -> Messages<'a> {
        Messages {
            rest: self.body,
            region: None,
            done: false,
        }
    }
}

/// Something the decoder did not yield as a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    /// Why.
    pub reason: DropReason,
    /// The action code of the region it happened in (0 where none had started).
    pub action: u8,
}

#[derive(Debug, Clone, Copy)]
struct Region {
    action: Action,
    len: usize,
    left: u16,
}

/// The messages of a [`Frame`]: `Ok` for each message that checked out, `Err` for each
/// record skipped and, last, for the fault that ended the frame early, if any.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    region: Option<Region>,
    done: bool,
}

impl Messages<'_> {
    fn stop(&mut self, reason: DropReason, action: u8) -> Option<Result<Message, Rejected>> {
        self.done = true;
        Some(Err(Rejected { reason, action }))
    }

    /// Reads the next subheader and sets up its region; `Some` when the frame ends there.
    fn next_region(&mut self) -> Option<Option<Result<Message, Rejected>>> {
        if self.rest.is_empty() {
            self.done = true;
            return Some(None);
        }
        let Some((sub, rest)) = self.rest.split_at_checked(SUBHEADER_LEN) else {
            return Some(self.stop(DropReason::TrailingBytes, 0));
        };
        let sub = Subheader::parse(sub);
        self.rest = rest;
        let action = match Action::from_code(sub.action) {
            Some(Action::Eof) => {
                // pf stops at EOF and counts anything after it as a length error.
                if self.rest.is_empty() {
                    self.done = true;
                    return Some(None);
                }
                return Some(self.stop(DropReason::TrailingBytes, sub.action));
            }
            Some(a) => a,
            None => return Some(self.stop(DropReason::UnknownAction, sub.action)),
        };
        let Some(len) = action.message_len() else {
            return Some(self.stop(DropReason::UnknownAction, sub.action));
        };
        if len * usize::from(sub.count) > self.rest.len() {
            return Some(self.stop(DropReason::Truncated, sub.action));
        }
        self.region = Some(Region {
            action,
            len,
            left: sub.count,
        });
        None
    }
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, Rejected>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            match self.region {
                Some(Region {
                    action,
                    len,
                    left: left @ 1..,
                }) => {
                    let code = action.code();
                    // The region was checked to fit, so this split always succeeds.
                    let Some((record, rest)) = self.rest.split_at_checked(len) else {
                        return self.stop(DropReason::Truncated, code);
                    };
                    self.rest = rest;
                    self.region = Some(Region {
                        action,
                        len,
                        left: left - 1,
                    });
                    return Some(Message::parse(action, record).map_err(|reason| Rejected {
                        reason,
                        action: code,
                    }));
                }
                _ => {
                    self.region = None;
                    if let Some(end) = self.next_region() {
                        return end;
                    }
                }
            }
        }
    }
}

//! TCP options (RFC 9293 §3.1, RFC 7323, RFC 2018).

use super::super::WireError;
use super::super::bytes;

mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0); what follows is padding.
    EndOfList,
    /// Padding between options (kind 1).
    NoOp,
    /// Maximum segment size (kind 2), SYN only.
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3), SYN only. Raw value: RFC 7323 says to treat
    /// anything above 14 as 14, which is the state tracker's call.
    WindowScale(u8),
    /// SACK permitted (kind 4), SYN only.
    SackPermitted,
    /// SACK blocks (kind 5) as `(left, right)` edges; a rare fourth block is dropped.
    SackRange([Option<(u32, u32)>; 3]),
    /// Timestamps (kind 8).
    Timestamp {
        /// Sender's timestamp value.
        tsval: u32,
        /// Echoed timestamp.
        tsecr: u32,
    },
    /// Any other option, with its data (after kind and length).
    Unknown {
        /// Option kind.
        kind: u8,
        /// Option data.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// Bytes this option takes when emitted.
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOp => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::SackRange(blocks) => 2 + 8 * blocks.iter().flatten().count(),
            TcpOption::Timestamp { .. } => 10,
            TcpOption::Unknown { data, .. } => (2 + data.len()).min(255),
        }
    }

    /// Writes the option at the start of `buffer` and returns its length. Writes nothing and
    /// returns 0 if it does not fit. Unknown options with over 253 data bytes are cut short.
    pub fn emit(&self, buffer: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let Some(out) = buffer.get_mut(..len) else {
            return 0;
        };
        let (kind, body_at) = match *self {
            TcpOption::EndOfList => (kind::END, 1),
            TcpOption::NoOp => (kind::NOP, 1),
            TcpOption::MaxSegmentSize(mss) => {
                bytes::set_u16(out, 2..4, mss);
                (kind::MSS, 2)
            }
            TcpOption::WindowScale(shift) => {
                bytes::set_u8(out, 2, shift);
                (kind::WINDOW_SCALE, 2)
            }
            TcpOption::SackPermitted => (kind::SACK_PERMITTED, 2),
            TcpOption::SackRange(blocks) => {
                for (i, (left, right)) in blocks.iter().flatten().enumerate() {
                    let at = 2 + 8 * i;
                    bytes::set_u32(out, at..at + 4, *left);
                    bytes::set_u32(out, at + 4..at + 8, *right);
                }
                (kind::SACK, 2)
            }
            TcpOption::Timestamp { tsval, tsecr } => {
                bytes::set_u32(out, 2..6, tsval);
                bytes::set_u32(out, 6..10, tsecr);
                (kind::TIMESTAMP, 2)
            }
            TcpOption::Unknown { kind, data } => {
                bytes::set_bytes(out, 2..len, bytes::slice(data, 0..len - 2));
                (kind, 2)
            }
        };
        bytes::set_u8(out, 0, kind);
        if body_at == 2 {
            bytes::set_u8(out, 1, len as u8);
        }
        len
    }
}

/// Iterator over the options area of a TCP header.
///
/// Yields `Err` once for an option that overruns the area or has the wrong length for its
/// kind, then stops: nothing after a malformed option can be trusted. Stops after
/// [`TcpOption::EndOfList`].
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Iterates over `options` (the bytes between the fixed header and the payload).
    pub const fn new(options: &'a [u8]) -> Self {
        TcpOptions { rest: options }
    }

    fn fail(&mut self, error: WireError) -> Option<Result<TcpOption<'a>, WireError>> {
        self.rest = &[];
        Some(Err(error))
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&kind, after_kind) = self.rest.split_first()?;
        match kind {
            kind::END => {
                self.rest = &[];
                return Some(Ok(TcpOption::EndOfList));
            }
            kind::NOP => {
                self.rest = after_kind;
                return Some(Ok(TcpOption::NoOp));
            }
            _ => {}
        }
        let Some(&len) = after_kind.first() else {
            return self.fail(WireError::Truncated);
        };
        let len = usize::from(len);
        if len < 2 {
            return self.fail(WireError::Malformed);
        }
        let Some((option, rest)) = self.rest.split_at_checked(len) else {
            return self.fail(WireError::Truncated);
        };
        let data = bytes::tail(option, 2);
        let parsed = match (kind, data.len()) {
            (kind::MSS, 2) => TcpOption::MaxSegmentSize(bytes::u16_at(data, 0..2)),
            (kind::WINDOW_SCALE, 1) => TcpOption::WindowScale(bytes::u8_at(data, 0)),
            (kind::SACK_PERMITTED, 0) => TcpOption::SackPermitted,
            (kind::SACK, n) if n > 0 && n % 8 == 0 && n <= 32 => {
                let mut blocks = [None; 3];
                for (slot, block) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    *slot = Some((bytes::u32_at(block, 0..4), bytes::u32_at(block, 4..8)));
                }
                TcpOption::SackRange(blocks)
            }
            (kind::TIMESTAMP, 8) => TcpOption::Timestamp {
                tsval: bytes::u32_at(data, 0..4),
                tsecr: bytes::u32_at(data, 4..8),
            },
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMP,
                _,
            ) => return self.fail(WireError::Malformed),
            (other, _) => TcpOption::Unknown { kind: other, data },
        };
        self.rest = rest;
        Some(Ok(parsed))
    }
}

impl core::iter::FusedIterator for TcpOptions<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, WireError>> {
        TcpOptions::new(bytes).collect()
    }

    #[test]
    fn test_deconstruct() {
        // Linux SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
        let opts = [
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x09, 0xcd, 0x2e, 0x00, 0x00,
            0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
        ];
        assert_eq!(
            collect(&opts),
            vec![
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamp {
                    tsval: 0x0009cd2e,
                    tsecr: 0
                }),
                Ok(TcpOption::NoOp),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
    }

    #[test]
    fn test_construct() {
        let options = [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamp {
                tsval: 0x0009cd2e,
                tsecr: 0,
            },
            TcpOption::NoOp,
            TcpOption::WindowScale(7),
            TcpOption::SackRange([Some((1, 2)), Some((3, 4)), None]),
            TcpOption::Unknown {
                kind: 30,
                data: &[1, 2, 3],
            },
            TcpOption::EndOfList,
        ];
        let mut buf = [0u8; 64];
        let mut at = 0;
        for option in &options {
            let n = option.emit(&mut buf[at..]);
            assert_eq!(n, option.buffer_len());
            at += n;
        }
        let parsed: Vec<_> = TcpOptions::new(&buf[..at]).map(Result::unwrap).collect();
        assert_eq!(parsed, options);
        assert_eq!(
            TcpOption::Timestamp { tsval: 1, tsecr: 2 }.emit(&mut buf[..9]),
            0
        );
    }

    #[test]
    fn test_sack() {
        let mut opts = vec![0x05, 0x22];
        for i in 1..=8u32 {
            opts.extend_from_slice(&i.to_be_bytes());
        }
        assert_eq!(
            collect(&opts),
            vec![Ok(TcpOption::SackRange([
                Some((1, 2)),
                Some((3, 4)),
                Some((5, 6))
            ]))]
        );
    }

    #[test]
    fn test_end_of_list_stops() {
        assert_eq!(
            collect(&[0x01, 0x00, 0x02]),
            vec![Ok(TcpOption::NoOp), Ok(TcpOption::EndOfList)]
        );
    }

    #[test]
    fn test_malformed() {
        for bad in [
            &[0x02][..],               // no length byte
            &[0x02, 0x04, 0x05],       // overruns the area
            &[0x1e, 0x01, 0x00],       // length below 2
            &[0x02, 0x03, 0x05],       // MSS of the wrong length
            &[0x03, 0x04, 0x05, 0x06], // window scale of the wrong length
            &[0x05, 0x06, 0, 0, 0, 0], // SACK not a multiple of 8
            &[0x08, 0x02],             // empty timestamp
        ] {
            let items = collect(bad);
            assert_eq!(items.len(), 1, "{bad:?}");
            assert!(items[0].is_err(), "{bad:?}");
        }
        // The error ends the iteration even if more bytes follow.
        assert_eq!(collect(&[0x01, 0x1e, 0x00, 0x01, 0x01]).len(), 2);
    }
}

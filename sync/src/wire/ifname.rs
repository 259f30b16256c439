//! Interface names as pf carries them: 16 bytes (`IFNAMSIZ`), NUL-terminated.

use std::fmt;

use thiserror::Error;

/// Bytes of an interface name field, terminating NUL included.
pub const IFNAMSIZ: usize = 16;

/// An interface name field, kept as received. A name pf accepts has a NUL within its 16 bytes
/// ([`is_terminated`](Self::is_terminated)); the name is what precedes it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IfName(pub [u8; IFNAMSIZ]);

/// A name longer than 15 bytes or holding a NUL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("interface name must be 1 to 15 bytes without NUL")]
pub struct BadIfName;

impl IfName {
    /// The empty name (CLR: every interface).
    pub const EMPTY: IfName = IfName([0; IFNAMSIZ]);
    /// `all`: pf's name for floating states (not bound to an interface).
    pub const ALL: IfName = IfName(*b"all\0\0\0\0\0\0\0\0\0\0\0\0\0");

    /// The field for `name`, NUL-padded.
    ///
    /// # Errors
    ///
    /// [`BadIfName`] if `name` is empty, longer than 15 bytes or holds a NUL.
    pub fn new(name: &str) -> Result<IfName, BadIfName> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() >= IFNAMSIZ || b.contains(&0) {
            return Err(BadIfName);
        }
        let mut out = [0u8; IFNAMSIZ];
        for (o, i) in out.iter_mut().zip(b) {
            *o = *i;
        }
        Ok(IfName(out))
    }

    /// Whether a NUL ends the name within the field (FreeBSD 14+ refuses states otherwise).
    pub fn is_terminated(&self) -> bool {
        self.0.contains(&0)
    }

    /// The name's bytes, up to the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().position(|b| *b == 0).unwrap_or(IFNAMSIZ);
        self.0.get(..end).unwrap_or(&[])
    }

    /// Whether the name is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// Whether two fields name the same interface (bytes after the NUL do not count).
    pub fn same_name(&self, other: &IfName) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Display for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for IfName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IfName({:?})", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_names() {
        let n = IfName::new("igb0").unwrap();
        assert_eq!(n.as_bytes(), b"igb0");
        assert!(n.is_terminated());
        assert_eq!(n.to_string(), "igb0");
        assert_eq!(IfName::new("all").unwrap(), IfName::ALL);
        assert!(IfName::new("").is_err());
        assert!(IfName::new("a23456789012345").is_ok());
        assert!(IfName::new("a234567890123456").is_err());
        assert!(!IfName([b'x'; 16]).is_terminated());
        assert_eq!(IfName([b'x'; 16]).as_bytes().len(), 16);
        let mut junk = IfName::ALL;
        junk.0[10] = 7;
        assert!(junk.same_name(&IfName::ALL));
        assert!(IfName::EMPTY.is_empty());
    }
}

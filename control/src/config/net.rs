//! Small address types used by the typed model: IPv4/IPv6 networks in CIDR
//! form and Ethernet MAC addresses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a CIDR or MAC string did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NetParseError {
    /// The address part is not a valid address.
    #[error("invalid address")]
    Address,
    /// The `/prefix` part is missing.
    #[error("missing /prefix")]
    MissingPrefix,
    /// The prefix is not a number in range.
    #[error("invalid prefix length")]
    Prefix,
    /// Not six colon- or dash-separated hex octets.
    #[error("invalid MAC address")]
    Mac,
}

/// Parses a decimal number made only of ASCII digits (no sign, no spaces).
pub(crate) fn parse_decimal<T: FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a prefix length `0..=max`.
pub(crate) fn parse_prefix(s: &str, max: u8) -> Option<u8> {
    parse_decimal::<u8>(s).filter(|&p| p <= max)
}

/// An IPv4 address with a prefix length, e.g. an interface address
/// `10.0.0.2/24` (host bits may be set) or a network `192.168.50.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    /// The address as written.
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix_len: u8,
}

impl Ipv4Cidr {
    /// Builds a CIDR, checking `prefix_len <= 32`.
    ///
    /// # Errors
    /// [`NetParseError::Prefix`] if the prefix is longer than 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, NetParseError> {
        if prefix_len > 32 {
            return Err(NetParseError::Prefix);
        }
        Ok(Self { addr, prefix_len })
    }

    /// The netmask, e.g. `255.255.255.0` for /24.
    #[must_use]
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.mask_bits())
    }

    fn mask_bits(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0)
    }

    /// The network address (host bits cleared).
    #[must_use]
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask_bits())
    }

    /// This CIDR with the host bits cleared.
    #[must_use]
    pub fn trunc(&self) -> Self {
        Self {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }

    /// Whether `ip` lies in this network.
    #[must_use]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask_bits() == u32::from(self.network())
    }
}

impl FromStr for Ipv4Cidr {
    type Err = NetParseError;

    /// Parses `a.b.c.d/n`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or(NetParseError::MissingPrefix)?;
        let addr = addr.parse().map_err(|_| NetParseError::Address)?;
        let prefix = parse_prefix(prefix, 32).ok_or(NetParseError::Prefix)?;
        Self::new(addr, prefix)
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// An IPv6 address with a prefix length (0–128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    /// The address as written.
    pub addr: Ipv6Addr,
    /// Prefix length, 0–128.
    pub prefix_len: u8,
}

impl Ipv6Cidr {
    /// Builds a CIDR, checking `prefix_len <= 128`.
    ///
    /// # Errors
    /// [`NetParseError::Prefix`] if the prefix is longer than 128.
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Result<Self, NetParseError> {
        if prefix_len > 128 {
            return Err(NetParseError::Prefix);
        }
        Ok(Self { addr, prefix_len })
    }

    fn mask_bits(&self) -> u128 {
        u128::MAX
            .checked_shl(128 - u32::from(self.prefix_len.min(128)))
            .unwrap_or(0)
    }

    /// The network address (host bits cleared).
    #[must_use]
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & self.mask_bits())
    }

    /// Whether `ip` lies in this network.
    #[must_use]
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        u128::from(ip) & self.mask_bits() == u128::from(self.network())
    }
}

impl FromStr for Ipv6Cidr {
    type Err = NetParseError;

    /// Parses `addr/n`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = s.split_once('/').ok_or(NetParseError::MissingPrefix)?;
        let addr = addr.parse().map_err(|_| NetParseError::Address)?;
        let prefix = parse_prefix(prefix, 128).ok_or(NetParseError::Prefix)?;
        Self::new(addr, prefix)
    }
}

impl fmt::Display for Ipv6Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = NetParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` (or with `-` separators); case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for slot in &mut out {
            let part = parts.next().ok_or(NetParseError::Mac)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(NetParseError::Mac);
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| NetParseError::Mac)?;
        }
        if parts.next().is_some() {
            return Err(NetParseError::Mac);
        }
        Ok(Self(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ipv4_cidr() {
        let c: Ipv4Cidr = "10.0.0.2/24".parse().unwrap();
        assert_eq!(c.network(), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert!(c.contains(Ipv4Addr::new(10, 0, 0, 200)));
        assert!(!c.contains(Ipv4Addr::new(10, 0, 1, 1)));
        assert_eq!(c.to_string(), "10.0.0.2/24");
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert_eq!(all.netmask(), Ipv4Addr::UNSPECIFIED);
        let host: Ipv4Cidr = "1.2.3.4/32".parse().unwrap();
        assert!(host.contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!host.contains(Ipv4Addr::new(1, 2, 3, 5)));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/+8",
            "10.0.0.0/",
            "x/8",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn test_ipv6_cidr() {
        let c: Ipv6Cidr = "2001:db8::1/64".parse().unwrap();
        assert_eq!(c.network(), "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert!(c.contains("2001:db8::ffff".parse().unwrap()));
        assert!(
            "::/0"
                .parse::<Ipv6Cidr>()
                .unwrap()
                .contains(Ipv6Addr::LOCALHOST)
        );
        assert!("::1/129".parse::<Ipv6Cidr>().is_err());
    }

    #[test]
    fn test_mac() {
        let m: MacAddr = "00:11:22:AA:bb:cc".parse().unwrap();
        assert_eq!(m.0, [0, 0x11, 0x22, 0xaa, 0xbb, 0xcc]);
        assert_eq!(m.to_string(), "00:11:22:aa:bb:cc");
        assert_eq!("00-11-22-aa-bb-cc".parse::<MacAddr>().unwrap(), m);
        for bad in [
            "",
            "00:11:22:aa:bb",
            "00:11:22:aa:bb:cc:dd",
            "0:11:22:aa:bb:cc",
            "+0:11:22:aa:bb:cc",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }
}

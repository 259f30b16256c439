//! Things shared by IPv4 and IPv6.

use std::fmt;

/// An IP protocol number: the IPv4 protocol field or the IPv6 next header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 hop-by-hop options extension header.
    pub const HOPOPTS: IpProtocol = IpProtocol(0);
    /// Internet Control Message Protocol.
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// Internet Group Management Protocol.
    pub const IGMP: IpProtocol = IpProtocol(2);
    /// Transmission Control Protocol.
    pub const TCP: IpProtocol = IpProtocol(6);
    /// User Datagram Protocol.
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 routing extension header.
    pub const IPV6_ROUTE: IpProtocol = IpProtocol(43);
    /// IPv6 fragment extension header.
    pub const IPV6_FRAG: IpProtocol = IpProtocol(44);
    /// Generic Routing Encapsulation.
    pub const GRE: IpProtocol = IpProtocol(47);
    /// IPsec Encapsulating Security Payload.
    pub const ESP: IpProtocol = IpProtocol(50);
    /// IPsec Authentication Header.
    pub const AH: IpProtocol = IpProtocol(51);
    /// ICMP for IPv6.
    pub const IPV6_ICMP: IpProtocol = IpProtocol(58);
    /// IPv6 "no next header".
    pub const IPV6_NONXT: IpProtocol = IpProtocol(59);
    /// IPv6 destination options extension header.
    pub const IPV6_OPTS: IpProtocol = IpProtocol(60);
    /// Common Address Redundancy Protocol (shares VRRP's number).
    pub const CARP: IpProtocol = IpProtocol(112);
    /// pf state synchronisation (OpenBSD's number).
    pub const PFSYNC: IpProtocol = IpProtocol(240);
}

impl From<u8> for IpProtocol {
    fn from(value: u8) -> Self {
        IpProtocol(value)
    }
}

impl From<IpProtocol> for u8 {
    fn from(value: IpProtocol) -> Self {
        value.0
    }
}

/// Lower-case names as pf prints them (`tcp`, `udp`, `icmp`, ...), the number otherwise.
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            IpProtocol::ICMP => "icmp",
            IpProtocol::IGMP => "igmp",
            IpProtocol::TCP => "tcp",
            IpProtocol::UDP => "udp",
            IpProtocol::GRE => "gre",
            IpProtocol::ESP => "esp",
            IpProtocol::AH => "ah",
            IpProtocol::IPV6_ICMP => "ipv6-icmp",
            IpProtocol::CARP => "carp",
            IpProtocol::PFSYNC => "pfsync",
            IpProtocol(n) => return write!(f, "{n}"),
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_display() {
        assert_eq!(IpProtocol::TCP.to_string(), "tcp");
        assert_eq!(IpProtocol::IPV6_ICMP.to_string(), "ipv6-icmp");
        assert_eq!(IpProtocol(99).to_string(), "99");
        assert_eq!(u8::from(IpProtocol::PFSYNC), 240);
    }
}

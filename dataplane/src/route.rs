//! The IPv4 routing table: connected networks of the ports plus static routes, longest prefix
//! wins. Built by control from config, then read-only on the packet path.

use std::net::Ipv4Addr;

use thiserror::Error;

use crate::lpm::Lpm;

/// An IPv4 network: address and prefix length, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl Ipv4Net {
    /// The network containing `addr`/`prefix_len` (host bits are cleared).
    ///
    /// # Errors
    /// [`RouteError::BadPrefix`] when `prefix_len` > 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Ipv4Net, RouteError> {
        if prefix_len > 32 {
            return Err(RouteError::BadPrefix(prefix_len));
        }
        Ok(Ipv4Net {
            network: Ipv4Addr::from(u32::from(addr) & mask(prefix_len)),
            prefix_len,
        })
    }

    /// Network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// Prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `addr` is inside.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.prefix_len) == u32::from(self.network)
    }

    /// The directed broadcast address (none for /31 and /32).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31)
            .then(|| Ipv4Addr::from(u32::from(self.network) | !mask(self.prefix_len)))
    }
}

impl std::fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

const fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - prefix_len as u32)
    }
}

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop {
    /// Egress port index.
    pub port: usize,
    /// The gateway to hand the packet to; `None` for a connected network (deliver directly).
    pub gateway: Option<Ipv4Addr>,
}

/// Why a routing table could not be built.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RouteError {
    /// Prefix length over 32.
    #[error("prefix length {0} is over 32")]
    BadPrefix(u8),
    /// A gateway that is on none of the ports' connected networks.
    #[error("gateway {gateway} for {network} is not on any connected network")]
    GatewayUnreachable {
        /// The route.
        network: Ipv4Net,
        /// Its gateway.
        gateway: Ipv4Addr,
    },
    /// The same network twice.
    #[error("duplicate route for {0}")]
    Duplicate(Ipv4Net),
}

/// Longest-prefix-match table: the route list, and a [`Lpm`] built from it (at most three
/// table reads per lookup, whatever the number of routes). Adding a route rebuilds the table,
/// which is control-plane work.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<(Ipv4Net, NextHop)>,
    connected: Vec<(Ipv4Net, usize)>,
    lpm: Lpm,
}

impl RouteTable {
    /// A table with the ports' connected networks: `(network, port index)`.
    ///
    /// # Errors
    /// [`RouteError::Duplicate`] if two ports share a network.
    pub fn with_connected(connected: &[(Ipv4Net, usize)]) -> Result<RouteTable, RouteError> {
        let mut table = RouteTable::default();
        for &(net, port) in connected {
            table.insert(
                net,
                NextHop {
                    port,
                    gateway: None,
                },
            )?;
        }
        table.connected = connected.to_vec();
        table.rebuild();
        Ok(table)
    }

    /// Add a route via `gateway`, which must be on a connected network (its port is the egress).
    ///
    /// # Errors
    /// [`RouteError::GatewayUnreachable`] or [`RouteError::Duplicate`].
    pub fn add_via(&mut self, network: Ipv4Net, gateway: Ipv4Addr) -> Result<(), RouteError> {
        let port = self
            .connected
            .iter()
            .filter(|(net, _)| net.contains(gateway))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|&(_, port)| port)
            .ok_or(RouteError::GatewayUnreachable { network, gateway })?;
        self.insert(
            network,
            NextHop {
                port,
                gateway: Some(gateway),
            },
        )?;
        self.rebuild();
        Ok(())
    }

    fn insert(&mut self, net: Ipv4Net, hop: NextHop) -> Result<(), RouteError> {
        if self.routes.iter().any(|(n, _)| *n == net) {
            return Err(RouteError::Duplicate(net));
        }
        self.routes.push((net, hop));
        Ok(())
    }

    fn rebuild(&mut self) {
        let entries: Vec<(u32, u8, u32)> = self
            .routes
            .iter()
            .enumerate()
            .filter_map(|(i, (net, _))| {
                Some((
                    u32::from(net.network()),
                    net.prefix_len(),
                    u32::try_from(i).ok()?,
                ))
            })
            .collect();
        self.lpm = Lpm::build(&entries);
    }

    /// The most specific route to `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        let index = self.lpm.lookup(u32::from(dst))?;
        self.routes.get(index as usize).map(|(_, hop)| *hop)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str, len: u8) -> Ipv4Net {
        Ipv4Net::new(s.parse().unwrap(), len).unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t =
            RouteTable::with_connected(&[(net("10.0.1.0", 24), 0), (net("10.0.2.0", 24), 1)])
                .unwrap();
        t.add_via(net("0.0.0.0", 0), "10.0.2.254".parse().unwrap())
            .unwrap();
        t.add_via(net("192.168.5.0", 24), "10.0.1.254".parse().unwrap())
            .unwrap();
        t.add_via(net("192.168.5.128", 25), "10.0.2.9".parse().unwrap())
            .unwrap();
        let hop = |a: &str| t.lookup(a.parse().unwrap()).unwrap();
        assert_eq!(
            hop("10.0.1.7"),
            NextHop {
                port: 0,
                gateway: None
            }
        );
        assert_eq!(hop("8.8.8.8").gateway, Some("10.0.2.254".parse().unwrap()));
        assert_eq!(hop("192.168.5.1").port, 0);
        assert_eq!(hop("192.168.5.200").port, 1);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn no_default_means_no_route() {
        let t = RouteTable::with_connected(&[(net("10.0.1.0", 24), 0)]).unwrap();
        assert_eq!(t.lookup("10.0.2.1".parse().unwrap()), None);
    }

    #[test]
    fn gateway_must_be_connected_and_routes_unique() {
        let mut t = RouteTable::with_connected(&[(net("10.0.1.0", 24), 0)]).unwrap();
        assert!(matches!(
            t.add_via(net("0.0.0.0", 0), "10.9.9.9".parse().unwrap()),
            Err(RouteError::GatewayUnreachable { .. })
        ));
        assert_eq!(
            t.add_via(net("10.0.1.0", 24), "10.0.1.5".parse().unwrap()),
            Err(RouteError::Duplicate(net("10.0.1.0", 24)))
        );
    }

    #[test]
    fn net_helpers() {
        let n = net("10.1.2.3", 24);
        assert_eq!(n.network(), "10.1.2.0".parse::<Ipv4Addr>().unwrap());
        assert_eq!(n.broadcast(), Some("10.1.2.255".parse().unwrap()));
        assert_eq!(net("10.0.0.1", 32).broadcast(), None);
        assert!(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 33).is_err());
        assert_eq!(n.to_string(), "10.1.2.0/24");
    }
}

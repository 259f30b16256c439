//! The IPv6 routing table: connected prefixes of the ports plus static routes, longest prefix
//! wins. Built by control from config, then read-only on the packet path.
//!
//! Structure: one hash map keyed by (prefix length, masked address), and the list of prefix
//! lengths present, longest first. A lookup probes the map once per length present until one
//! matches, so its cost is one hash probe per distinct prefix length (typically a handful:
//! /128, /64, /48, /0), whatever the number of routes. Adding a route is control-plane work.

use std::net::Ipv6Addr;

use hashbrown::HashMap;
use thiserror::Error;

use crate::wire::ndp::is_link_local;

/// IPv6 networks are the filter rules' type: one definition for both.
pub use crate::rules::Ipv6Net;
use crate::rules::mask128;

/// Where an IPv6 route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHop6 {
    /// Egress port index.
    pub port: usize,
    /// The gateway to hand the packet to; `None` for a connected prefix (deliver directly).
    pub gateway: Option<Ipv6Addr>,
}

/// Why an IPv6 routing table could not be built.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Route6Error {
    /// Prefix length over 128.
    #[error("IPv6 prefix length {0} is over 128")]
    BadPrefix(u8),
    /// A gateway that is on none of the ports' connected prefixes.
    #[error("gateway {gateway} for {network} is not on any connected IPv6 prefix")]
    GatewayUnreachable {
        /// The route.
        network: Ipv6Net,
        /// Its gateway.
        gateway: Ipv6Addr,
    },
    /// A link-local gateway without the port it is on: every port has `fe80::/64`.
    #[error("gateway {gateway} for {network} is link-local and needs its port")]
    LinkLocalGateway {
        /// The route.
        network: Ipv6Net,
        /// Its gateway.
        gateway: Ipv6Addr,
    },
    /// The same prefix twice.
    #[error("duplicate IPv6 route for {0}")]
    Duplicate(Ipv6Net),
}

/// Longest-prefix-match table for IPv6; see the module doc for its cost.
#[derive(Debug, Clone, Default)]
pub struct Route6Table {
    routes: HashMap<(u8, u128), NextHop6>,
    /// Prefix lengths present, longest first.
    lengths: Vec<u8>,
    connected: Vec<(Ipv6Net, usize)>,
}

impl Route6Table {
    /// A table with the ports' connected prefixes: `(prefix, port index)`.
    ///
    /// # Errors
    /// [`Route6Error::Duplicate`] if two ports share a prefix.
    pub fn with_connected(connected: &[(Ipv6Net, usize)]) -> Result<Route6Table, Route6Error> {
        let mut table = Route6Table::default();
        for &(net, port) in connected {
            table.insert(
                net,
                NextHop6 {
                    port,
                    gateway: None,
                },
            )?;
        }
        table.connected = connected.to_vec();
        Ok(table)
    }

    /// Add a route via `gateway`, which must be a global address on a connected prefix (its
    /// port is the egress).
    ///
    /// # Errors
    /// [`Route6Error::LinkLocalGateway`] (use [`Route6Table::add_via_port`]),
    /// [`Route6Error::GatewayUnreachable`] or [`Route6Error::Duplicate`].
    pub fn add_via(&mut self, network: Ipv6Net, gateway: Ipv6Addr) -> Result<(), Route6Error> {
        if is_link_local(gateway) {
            return Err(Route6Error::LinkLocalGateway { network, gateway });
        }
        let port = self
            .connected
            .iter()
            .filter(|(net, _)| net.contains(gateway))
            .max_by_key(|(net, _)| net.prefix_len())
            .map(|&(_, port)| port)
            .ok_or(Route6Error::GatewayUnreachable { network, gateway })?;
        self.add_via_port(network, gateway, port)
    }

    /// Add a route via `gateway` out of `port`, for gateways (link-local ones) whose port
    /// cannot be told from the connected prefixes.
    ///
    /// # Errors
    /// [`Route6Error::Duplicate`].
    pub fn add_via_port(
        &mut self,
        network: Ipv6Net,
        gateway: Ipv6Addr,
        port: usize,
    ) -> Result<(), Route6Error> {
        self.insert(
            network,
            NextHop6 {
                port,
                gateway: Some(gateway),
            },
        )
    }

    fn insert(&mut self, net: Ipv6Net, hop: NextHop6) -> Result<(), Route6Error> {
        let key = (net.prefix_len(), u128::from(net.network()));
        if self.routes.contains_key(&key) {
            return Err(Route6Error::Duplicate(net));
        }
        self.routes.insert(key, hop);
        if !self.lengths.contains(&net.prefix_len()) {
            self.lengths.push(net.prefix_len());
            self.lengths.sort_unstable_by(|a, b| b.cmp(a));
        }
        Ok(())
    }

    /// The most specific route to `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv6Addr) -> Option<NextHop6> {
        let addr = u128::from(dst);
        self.lengths
            .iter()
            .find_map(|&len| self.routes.get(&(len, addr & mask128(len))).copied())
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when there are no routes.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn net(s: &str, len: u8) -> Ipv6Net {
        Ipv6Net::new(s.parse().unwrap(), len).unwrap()
    }

    fn table() -> Route6Table {
        Route6Table::with_connected(&[(net("2001:db8:1::", 64), 0), (net("2001:db8:2::", 64), 1)])
            .unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let mut t = table();
        t.add_via(net("::", 0), "2001:db8:2::fe".parse().unwrap())
            .unwrap();
        t.add_via(net("2001:db8:100::", 48), "2001:db8:1::fe".parse().unwrap())
            .unwrap();
        t.add_via(
            net("2001:db8:100:8000::", 49),
            "2001:db8:2::9".parse().unwrap(),
        )
        .unwrap();
        let hop = |a: &str| t.lookup(a.parse().unwrap()).unwrap();
        assert_eq!(
            hop("2001:db8:1::7"),
            NextHop6 {
                port: 0,
                gateway: None
            }
        );
        assert_eq!(
            hop("2a00::1").gateway,
            Some("2001:db8:2::fe".parse().unwrap())
        );
        assert_eq!(hop("2001:db8:100:1::1").port, 0);
        assert_eq!(hop("2001:db8:100:8001::1").port, 1);
        assert_eq!(t.len(), 5);
    }

    #[test]
    fn no_default_means_no_route() {
        let t = table();
        assert_eq!(t.lookup("2001:db8:3::1".parse().unwrap()), None);
        assert!(Route6Table::default().lookup(Ipv6Addr::LOCALHOST).is_none());
    }

    #[test]
    fn gateways_are_checked() {
        let mut t = table();
        assert!(matches!(
            t.add_via(net("::", 0), "2001:db8:9::1".parse().unwrap()),
            Err(Route6Error::GatewayUnreachable { .. })
        ));
        assert!(matches!(
            t.add_via(net("::", 0), "fe80::1".parse().unwrap()),
            Err(Route6Error::LinkLocalGateway { .. })
        ));
        t.add_via_port(net("::", 0), "fe80::1".parse().unwrap(), 1)
            .unwrap();
        assert_eq!(
            t.lookup("2a00::1".parse().unwrap()),
            Some(NextHop6 {
                port: 1,
                gateway: Some("fe80::1".parse().unwrap())
            })
        );
        assert_eq!(
            t.add_via(net("2001:db8:1::5", 64), "2001:db8:1::5".parse().unwrap()),
            Err(Route6Error::Duplicate(net("2001:db8:1::", 64)))
        );
        assert!(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 129).is_err());
        assert_eq!(net("2001:db8::1", 32).to_string(), "2001:db8::/32");
    }

    proptest! {
        /// Agrees with the definition: the matching route with the longest prefix.
        #[test]
        fn agrees_with_the_definition(
            routes in proptest::collection::vec((any::<u128>(), 0u8..=128), 0..24),
            probes in proptest::collection::vec(any::<u128>(), 32),
        ) {
            let mut t = Route6Table::default();
            let mut kept = Vec::new();
            for (i, &(addr, len)) in routes.iter().enumerate() {
                let n = Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap();
                if t.add_via_port(n, Ipv6Addr::LOCALHOST, i).is_ok() {
                    kept.push((n, i));
                }
            }
            let edges = kept.iter().map(|(n, _)| u128::from(n.network()));
            for addr in probes.into_iter().chain(edges) {
                let addr = Ipv6Addr::from(addr);
                let want = kept
                    .iter()
                    .filter(|(n, _)| n.contains(addr))
                    .max_by_key(|(n, _)| n.prefix_len())
                    .map(|&(_, port)| port);
                prop_assert_eq!(t.lookup(addr).map(|h| h.port), want);
            }
        }
    }
}

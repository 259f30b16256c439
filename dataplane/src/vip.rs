//! CARP virtual IPs as the packet path sees them: which addresses this node answers for on
//! which port, and with which virtual MAC. The control thread's CARP machines decide
//! (MASTER answers, BACKUP stays silent) and publish a new [`VipTable`]; workers pick it up
//! between bursts.
//!
//! As MASTER of a vhid the node answers ARP for its VIPs with the virtual MAC
//! 00:00:5e:00:01:vhid, accepts frames sent to that MAC, and treats the VIPs as its own
//! addresses (ICMP echo). As BACKUP it does none of these, so the segment's hosts reach the
//! master only.

use std::net::Ipv4Addr;

use crate::wire::MacAddr;

/// The virtual MAC of `vhid` (RFC 5798's IPv4 VRRP prefix, which CARP uses).
pub const fn virtual_mac(vhid: u8) -> MacAddr {
    MacAddr([0x00, 0x00, 0x5e, 0x00, 0x01, vhid])
}

/// One VIP on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vip {
    /// Port index.
    pub port: usize,
    /// The address.
    pub addr: Ipv4Addr,
    /// Its CARP vhid.
    pub vhid: u8,
    /// Whether this node is MASTER of the vhid now.
    pub master: bool,
}

/// Every VIP of the node (a handful: a linear scan beats any index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VipTable {
    vips: Vec<Vip>,
}

impl VipTable {
    /// A table of `vips`.
    pub fn new(vips: Vec<Vip>) -> VipTable {
        VipTable { vips }
    }

    /// No VIPs at all (most nodes without CARP).
    pub fn is_empty(&self) -> bool {
        self.vips.is_empty()
    }

    /// Every VIP.
    pub fn vips(&self) -> &[Vip] {
        &self.vips
    }

    /// The same table with `vhid` MASTER (`true`) or BACKUP.
    #[must_use]
    pub fn with_master(&self, vhid: u8, master: bool) -> VipTable {
        let mut t = self.clone();
        for v in t.vips.iter_mut().filter(|v| v.vhid == vhid) {
            v.master = master;
        }
        t
    }

    /// The vhid whose VIP `addr` this node answers for on `port`, if MASTER.
    pub fn answering(&self, port: usize, addr: Ipv4Addr) -> Option<u8> {
        self.vips
            .iter()
            .find(|v| v.master && v.port == port && v.addr == addr)
            .map(|v| v.vhid)
    }

    /// Whether `addr` is a VIP on `port`, whatever this node's role for it.
    pub fn is_vip_on(&self, port: usize, addr: Ipv4Addr) -> bool {
        self.vips.iter().any(|v| v.port == port && v.addr == addr)
    }

    /// Whether `addr` is a VIP of a vhid this node is MASTER of (on any port).
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.vips.iter().any(|v| v.master && v.addr == addr)
    }

    /// Whether frames to `mac` on `port` are ours: the virtual MAC of a vhid we are MASTER of.
    pub fn accepts(&self, port: usize, mac: MacAddr) -> bool {
        let [a, b, c, d, e, vhid] = mac.0;
        [a, b, c, d, e] == [0x00, 0x00, 0x5e, 0x00, 0x01]
            && self
                .vips
                .iter()
                .any(|v| v.master && v.port == port && v.vhid == vhid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_only_a_master_answers() {
        let vip = Ipv4Addr::new(10, 0, 1, 100);
        let backup = VipTable::new(vec![Vip {
            port: 0,
            addr: vip,
            vhid: 7,
            master: false,
        }]);
        assert_eq!(backup.answering(0, vip), None);
        assert!(!backup.is_local(vip));
        assert!(!backup.accepts(0, virtual_mac(7)));
        let master = backup.with_master(7, true);
        assert_eq!(master.answering(0, vip), Some(7));
        assert_eq!(master.answering(1, vip), None, "only on its port");
        assert!(master.is_local(vip));
        assert!(master.accepts(0, virtual_mac(7)));
        assert!(!master.accepts(0, virtual_mac(8)));
        assert_eq!(virtual_mac(7).to_string(), "00:00:5e:00:01:07");
    }
}
